"""Tests for pipeline.intake: scanning the inbox, archiving by hash, the ledger."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pipeline import intake
from pipeline.intake import (
    REASON_COPYING,
    REASON_EXCEL_LOCK,
    REASON_HIDDEN_FOLDER,
    REASON_LIBREOFFICE_LOCK,
    REASON_RECENT,
    REASON_SYMLINK,
    FileChangedDuringCopyError,
    archive_submission,
    scan_inbox,
    sha256_file,
)
from pipeline.plan import Plan
from tests.workbooks import make_template

NOW = 1_800_000_000.0
LONG_AGO = NOW - 86_400


def drop(inbox: Path, relative: str, data: bytes = b"data", mtime: float = LONG_AGO) -> Path:
    """Writes a file into the inbox with the given modification time and returns its path."""
    path = inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def states(inbox: Path, quiet_seconds: float = 60.0) -> list[tuple[str, str]]:
    """Returns (relative path, state) for each inbox entry, in scan order."""
    return [
        (entry.relative, entry.state) for entry in scan_inbox(inbox, now=NOW, quiet_seconds=quiet_seconds)
    ]


@pytest.fixture(scope="module")
def workbook_bytes(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Returns the bytes of the real SOC template."""
    return make_template(plan, "SOC", 2027, tmp_path_factory.mktemp("mall")).read_bytes()


# --- scan_inbox --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "~$SOC 2027.xlsx",
        ".~lock.SOC 2027.xlsx#",
        ".gömd.xlsx",
        ".gitkeep",
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        "~WRL0001.tmp",
        "4F3A2B10.tmp",
        "SOC 2027.xlsx.crdownload",
        "SOC 2027.xlsx.part",
        "SOC 2027.xlsx~",
    ],
)
def test_lock_hidden_and_temporary_files_are_ignored(tmp_path: Path, name: str) -> None:
    drop(tmp_path, name)
    [entry] = scan_inbox(tmp_path, now=NOW)
    assert (entry.relative, entry.state) == (name, "ignored")
    assert entry.reason


def test_lock_files_say_which_program_made_them(tmp_path: Path) -> None:
    drop(tmp_path, "~$plan.xlsx")
    drop(tmp_path, ".~lock.plan.xlsx#")
    reasons = {entry.relative: entry.reason for entry in scan_inbox(tmp_path, now=NOW)}
    assert reasons == {"~$plan.xlsx": REASON_EXCEL_LOCK, ".~lock.plan.xlsx#": REASON_LIBREOFFICE_LOCK}


def test_hidden_folder_is_ignored_whole(tmp_path: Path) -> None:
    drop(tmp_path, ".arkiv/SOC 2027.xlsx")
    entries = scan_inbox(tmp_path, now=NOW)
    assert [(e.relative, e.state, e.reason) for e in entries] == [(".arkiv", "ignored", REASON_HIDDEN_FOLDER)]


def test_recent_file_waits_and_old_file_is_candidate(tmp_path: Path) -> None:
    drop(tmp_path, "ny.xlsx", mtime=NOW - 10)
    drop(tmp_path, "gammal.xlsx", mtime=NOW - 61)
    entries = {e.relative: e for e in scan_inbox(tmp_path, now=NOW, quiet_seconds=60)}
    # NOW is 09.00 in Stockholm: untouched for 60 s from 08.59.50 means 09.00.50, shown as 09.01.
    ready = REASON_RECENT.format(quiet="60 s", ready="09.01")
    assert (entries["ny.xlsx"].state, entries["ny.xlsx"].reason) == ("waiting", ready)
    assert "orörd i 60 s, tidigast kl. 09.01" in ready
    assert (entries["gammal.xlsx"].state, entries["gammal.xlsx"].reason) == ("candidate", "")


def test_half_copied_workbook_waits_while_recent(tmp_path: Path, workbook_bytes: bytes) -> None:
    half = workbook_bytes[: len(workbook_bytes) // 2]
    drop(tmp_path, "kopieras.xlsx", half, mtime=NOW - 120)
    drop(tmp_path, "kopieras.ods", half, mtime=NOW - 120)  # LibreOffice's own format is a zip too
    drop(tmp_path, "hel.xlsx", workbook_bytes, mtime=NOW - 120)
    entries = {e.relative: e for e in scan_inbox(tmp_path, now=NOW, quiet_seconds=60)}
    # Copied at 08.58; a half-copied file gets ten quiet periods: 09.08.
    copying = REASON_COPYING.format(ready="09.08")
    assert (entries["kopieras.xlsx"].state, entries["kopieras.xlsx"].reason) == ("waiting", copying)
    assert entries["kopieras.ods"].state == "waiting"
    assert entries["hel.xlsx"].state == "candidate"


def test_old_half_copied_workbook_is_candidate(tmp_path: Path, workbook_bytes: bytes) -> None:
    drop(tmp_path, "avbruten.xlsx", workbook_bytes[:100], mtime=NOW - 601)
    assert states(tmp_path, quiet_seconds=60) == [("avbruten.xlsx", "candidate")]


def test_subfolders_are_scanned_in_order(tmp_path: Path) -> None:
    for relative in ["UTB/plan.xlsx", "SOC/2027/plan.xlsx", "a.xlsx", "SOC/b.xlsx", "SOC-extra.xlsx"]:
        drop(tmp_path, relative)
    assert states(tmp_path) == [
        ("SOC/2027/plan.xlsx", "candidate"),
        ("SOC/b.xlsx", "candidate"),
        ("SOC-extra.xlsx", "candidate"),
        ("UTB/plan.xlsx", "candidate"),
        ("a.xlsx", "candidate"),
    ]


def test_other_file_types_are_candidates(tmp_path: Path) -> None:
    drop(tmp_path, "plan.pdf")
    drop(tmp_path, "plan.docx")
    assert states(tmp_path) == [("plan.docx", "candidate"), ("plan.pdf", "candidate")]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlinks_are_ignored_not_followed(tmp_path: Path) -> None:
    outside = drop(tmp_path, "utanför/hemlig.xlsx")
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    (inbox / "länk.xlsx").symlink_to(outside)
    (inbox / "mapplänk").symlink_to(outside.parent, target_is_directory=True)
    entries = scan_inbox(inbox, now=NOW)
    assert [(e.relative, e.state, e.reason) for e in entries] == [
        ("länk.xlsx", "ignored", REASON_SYMLINK),
        ("mapplänk", "ignored", REASON_SYMLINK),
    ]


def test_scan_never_writes_to_the_inbox(tmp_path: Path, workbook_bytes: bytes) -> None:
    drop(tmp_path, "SOC/plan.xlsx", workbook_bytes, mtime=NOW - 120)
    drop(tmp_path, "~$plan.xlsx")

    def snapshot() -> list[tuple[str, int, int]]:
        return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))

    before = snapshot()
    scan_inbox(tmp_path, now=NOW)
    assert snapshot() == before


def test_missing_inbox_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan_inbox(tmp_path / "finns-inte", now=NOW)


# --- hashing and the archive -------------------------------------------------------------


def test_sha256_file_streams_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "stor.bin"
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=4096) == hashlib.sha256(data).hexdigest()


def test_archive_keeps_exact_bytes(tmp_path: Path, workbook_bytes: bytes) -> None:
    source = drop(tmp_path / "inkorg", "SOC 2027.XLSX", workbook_bytes, mtime=LONG_AGO)
    archived = archive_submission(source, tmp_path / "arkiv")
    digest = hashlib.sha256(workbook_bytes).hexdigest()
    assert archived == intake.ArchivedFile(
        digest=digest,
        archived_path=tmp_path / "arkiv" / digest[:2] / f"{digest}.xlsx",
        size=len(workbook_bytes),
        mtime=LONG_AGO,
        is_new=True,
    )
    assert archived.archived_path.read_bytes() == workbook_bytes
    assert source.read_bytes() == workbook_bytes


def test_same_bytes_under_another_name_are_not_new(tmp_path: Path, workbook_bytes: bytes) -> None:
    first = archive_submission(drop(tmp_path / "inkorg", "SOC.xlsx", workbook_bytes), tmp_path / "arkiv")
    second = archive_submission(
        drop(tmp_path / "inkorg", "kopia/SOC (2).xlsx", workbook_bytes), tmp_path / "arkiv"
    )
    assert (second.digest, second.archived_path, second.is_new) == (first.digest, first.archived_path, False)
    assert [p.name for p in (tmp_path / "arkiv").rglob("*") if p.is_file()] == [first.archived_path.name]


def test_damaged_archive_copy_is_replaced(tmp_path: Path, workbook_bytes: bytes) -> None:
    source = drop(tmp_path / "inkorg", "SOC.xlsx", workbook_bytes)
    first = archive_submission(source, tmp_path / "arkiv")
    first.archived_path.write_bytes(b"skadad")
    again = archive_submission(source, tmp_path / "arkiv")
    assert (again.archived_path, again.is_new) == (first.archived_path, True)
    assert again.archived_path.read_bytes() == workbook_bytes


def test_odd_suffix_is_dropped(tmp_path: Path) -> None:
    archived = archive_submission(drop(tmp_path / "inkorg", "plan.xlsx (kopia)"), tmp_path / "arkiv")
    assert archived.archived_path.name == archived.digest


def test_file_changed_during_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = drop(tmp_path / "inkorg", "SOC.xlsx", b"version 1")
    real_copy = intake._copy_hashing

    def copy_then_user_saves(src, dst):  # type: ignore[no-untyped-def]
        result = real_copy(src, dst)
        with source.open("ab") as handle:
            handle.write(b" och version 2")
        return result

    monkeypatch.setattr(intake, "_copy_hashing", copy_then_user_saves)
    with pytest.raises(FileChangedDuringCopyError):
        archive_submission(source, tmp_path / "arkiv")
    assert [p for p in (tmp_path / "arkiv").rglob("*") if p.is_file()] == []


# --- the system's clock, not the file's ----------------------------------------------------


def test_a_file_stamped_in_the_future_waits_one_quiet_period_not_until_then(tmp_path: Path) -> None:
    drop(tmp_path, "framtid.xlsx", mtime=NOW + 365 * 86_400)  # a submitter's clock a year ahead
    [first] = scan_inbox(tmp_path, now=NOW, quiet_seconds=60)
    # Seen at 09.00 (Stockholm): ready when it has been unchanged for 60 s by this system's clock.
    assert (first.state, first.reason) == ("waiting", REASON_RECENT.format(quiet="60 s", ready="09.01"))
    assert first.sighting is not None and first.sighting.first_seen == NOW
    seen = {first.relative: first.sighting}
    [early] = scan_inbox(tmp_path, now=NOW + 30, quiet_seconds=60, seen=seen)
    assert early.state == "waiting" and early.sighting == first.sighting
    [later] = scan_inbox(tmp_path, now=NOW + 61, quiet_seconds=60, seen=seen)
    assert later.state == "candidate"


def test_a_file_that_changed_since_it_was_seen_waits_again(tmp_path: Path) -> None:
    path = drop(tmp_path, "framtid.xlsx", mtime=NOW + 3600)
    [first] = scan_inbox(tmp_path, now=NOW, quiet_seconds=60)
    assert first.sighting is not None
    path.write_bytes(b"more data, still being saved")
    os.utime(path, (NOW + 3600, NOW + 3600))  # same time stamp, other size
    [again] = scan_inbox(tmp_path, now=NOW + 120, quiet_seconds=60, seen={first.relative: first.sighting})
    assert again.state == "waiting"
    assert again.sighting is not None and again.sighting.first_seen == NOW + 120


def test_observations_are_kept_between_runs_in_the_outbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inkorg"
    drop(inbox, "framtid.xlsx", mtime=time.time() + 86_400)
    drop(inbox, "~$framtid.xlsx")  # ignored files are not watched
    observations = tmp_path / "utkorg" / intake.OBSERVATIONS_FILE
    [waiting, _] = intake.scan(inbox, quiet_seconds=0.5, observations=observations)
    assert waiting.state == "waiting" and "tidigast kl. " in waiting.reason
    kept = intake.read_observations(observations)
    assert list(kept) == ["framtid.xlsx"]
    time.sleep(0.6)
    [ready, _] = intake.scan(inbox, quiet_seconds=0.5, observations=observations)
    assert ready.state == "candidate"
    (inbox / "framtid.xlsx").unlink()
    intake.scan(inbox, quiet_seconds=0.5, observations=observations)
    assert intake.read_observations(observations) == {}  # gone from the inbox, gone from the file


def test_damaged_observations_only_restart_the_wait(tmp_path: Path) -> None:
    observations = tmp_path / intake.OBSERVATIONS_FILE
    observations.write_text('{"a.xlsx": [1, 2, "x"], "b.xlsx": [1, 2, 3.5], "c": null', encoding="utf-8")
    assert intake.read_observations(observations) == {}
    observations.write_text('{"a.xlsx": [1, 2, "x"], "b.xlsx": [1, 2, 3.5]}', encoding="utf-8")
    assert intake.read_observations(observations) == {"b.xlsx": intake.Sighting(1, 2, 3.5)}


def test_new_submissions_arrive_at_the_intake_pass_by_the_systems_clock(tmp_path: Path) -> None:
    drop(tmp_path, "b.xlsx", b"second", mtime=LONG_AGO)
    drop(tmp_path, "a.xlsx", b"first", mtime=NOW - 3600)
    entries = scan_inbox(tmp_path, now=NOW)
    archived = {e.relative: archive_submission(e.path, tmp_path / "arkiv") for e in entries}
    taken = intake.sort_intake(entries, archived, {}, 2027, now=NOW + 0.25)
    assert [(p.name, p.arrived) for p in taken.pending] == [
        ("a.xlsx", "2027-01-15T08:00:00.250000+00:00"),
        ("b.xlsx", "2027-01-15T08:00:00.250000+00:00"),
    ]
    assert taken.pending[1].received == "2027-01-14T08:00:00+00:00"  # the file's own time, for display
