"""Tests for pipeline.intake: scanning the inbox, archiving by hash, the ledger."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import intake
from pipeline.intake import (
    REASON_COPYING,
    REASON_EXCEL_LOCK,
    REASON_HIDDEN_FOLDER,
    REASON_LIBREOFFICE_LOCK,
    REASON_RECENT,
    REASON_SYMLINK,
    FileChangedDuringCopyError,
    LedgerRecord,
    append_ledger,
    archive_submission,
    in_force,
    known_digests,
    read_ledger,
    scan_inbox,
    sha256_file,
    utc_iso,
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
    assert (entries["ny.xlsx"].state, entries["ny.xlsx"].reason) == ("waiting", REASON_RECENT)
    assert (entries["gammal.xlsx"].state, entries["gammal.xlsx"].reason) == ("candidate", "")


def test_half_copied_workbook_waits_while_recent(tmp_path: Path, workbook_bytes: bytes) -> None:
    half = workbook_bytes[: len(workbook_bytes) // 2]
    drop(tmp_path, "kopieras.xlsx", half, mtime=NOW - 120)
    drop(tmp_path, "hel.xlsx", workbook_bytes, mtime=NOW - 120)
    entries = {e.relative: e for e in scan_inbox(tmp_path, now=NOW, quiet_seconds=60)}
    assert (entries["kopieras.xlsx"].state, entries["kopieras.xlsx"].reason) == ("waiting", REASON_COPYING)
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


# --- the ledger --------------------------------------------------------------------------


def record(**changes: object) -> LedgerRecord:
    """Returns an accepted SOC 2027 record, with any fields changed."""
    base = LedgerRecord(
        digest="a" * 64,
        original_name="SOC/Handlingsplan SOC 2027.xlsx",
        size=12_345,
        received="2027-02-01T08:00:00+00:00",
        processed="2027-02-01T09:00:00+00:00",
        department="SOC",
        year=2027,
        outcome="accepted",
        errors=0,
        warnings=2,
        plan_version="2015-02-09",
        feedback="2027/aterkoppling/SOC.xlsx",
        archived="arkiv/aa/" + "a" * 64 + ".xlsx",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_ledger_round_trip(tmp_path: Path) -> None:
    ledger = tmp_path / "utkorg" / "inlamningar.jsonl"
    records = [
        record(),
        record(
            digest="b" * 64,
            outcome="rejected",
            department=None,
            year=None,
            plan_version=None,
            feedback=None,
            reasons=("Filen är skadad eller ofullständig.",),
        ),
    ]
    for item in records:
        append_ledger(ledger, item)
    assert read_ledger(ledger) == records
    assert ledger.read_text(encoding="utf-8").count("\n") == 2


def test_missing_ledger_is_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "inlamningar.jsonl") == []


def test_torn_last_line_is_skipped_and_closed_off(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    append_ledger(ledger, record())
    with ledger.open("ab") as handle:
        handle.write(b'{"digest": "bbbb", "original_na')
    assert read_ledger(ledger) == [record()]
    append_ledger(ledger, record(digest="c" * 64))
    assert read_ledger(ledger) == [record(), record(digest="c" * 64)]


def test_lines_that_are_not_records_are_skipped(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    append_ledger(ledger, record())
    with ledger.open("ab") as handle:
        handle.write(b"inte json\n[1, 2]\n" + b'{"digest": "x"}\n' + b"\xff\xfe\n\n")
    append_ledger(ledger, record(digest="d" * 64))
    assert [r.digest for r in read_ledger(ledger)] == ["a" * 64, "d" * 64]


@given(name=st.text(), department=st.none() | st.text(max_size=5))
def test_ledger_round_trips_any_text(
    tmp_path_factory: pytest.TempPathFactory, name: str, department: str | None
) -> None:
    ledger = tmp_path_factory.mktemp("ledger") / "inlamningar.jsonl"
    item = record(original_name=name, department=department)
    append_ledger(ledger, item)
    assert read_ledger(ledger) == [item]


def test_known_digests() -> None:
    records = [record(), record(digest="b" * 64, outcome="rejected"), record()]
    assert known_digests(records) == {"a" * 64, "b" * 64}


def test_utc_iso_is_seconds_in_utc() -> None:
    assert utc_iso(1_800_000_000.75) == "2027-01-15T08:00:00+00:00"


# --- in_force ----------------------------------------------------------------------------


def test_in_force_picks_the_last_received() -> None:
    older = record(digest="1" * 64, received="2027-02-01T08:00:00+00:00")
    newer = record(digest="2" * 64, received="2027-03-01T08:00:00+00:00")
    rejected_newest = record(digest="3" * 64, received="2027-04-01T08:00:00+00:00", outcome="rejected")
    other_year = record(digest="4" * 64, received="2027-05-01T08:00:00+00:00", year=2026)
    utb = record(digest="5" * 64, department="UTB")
    chosen = in_force([newer, utb, rejected_newest, older, other_year], 2027)
    assert chosen == {"SOC": newer, "UTB": utb}


def test_in_force_compares_times_not_text() -> None:
    utc = record(digest="1" * 64, received="2027-03-01T08:30:00+00:00")
    stockholm = record(digest="2" * 64, received="2027-03-01T09:00:00+01:00")
    assert in_force([stockholm, utc], 2027)["SOC"] == utc


SOC_RECORDS = st.lists(
    st.builds(
        record,
        digest=st.sampled_from(["1" * 64, "2" * 64, "3" * 64]),
        received=st.sampled_from(["2027-02-01T08:00:00+00:00", "2027-03-01T08:00:00+00:00"]),
        outcome=st.sampled_from(["accepted", "rejected"]),
    ),
    max_size=8,
)


@given(records=SOC_RECORDS, data=st.data())
def test_in_force_does_not_depend_on_order(records: list[LedgerRecord], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(records))
    assert in_force(shuffled, 2027) == in_force(records, 2027)
