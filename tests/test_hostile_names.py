"""File and folder names that are not what they seem: bytes that are not UTF-8, bidi overrides,
controls, Rich markup, a folder tree deeper than the recursion limit, an outbox inside the inbox."""

from __future__ import annotations

import inspect
import json
import os
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline import intake
from pipeline.cli import app
from pipeline.errors import InvalidInputError
from pipeline.intake import (
    MAX_DEPTH,
    REASON_NAME_CLASH,
    REASON_TOO_DEEP,
    archive_submission,
    check_folders,
    scan_inbox,
    sort_intake,
)
from pipeline.records import LedgerRecord
from pipeline.store import append_ledger, read_ledger
from pipeline.text import visible

NOW = 1_800_000_000.0
LONG_AGO = NOW - 86_400
RLO = "\u202e"
INVISIBLE = ("Cc", "Cf", "Cs", "Zl", "Zp")
posix_bytes = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="a file name that is not UTF-8 needs a POSIX file system"
)


def drop(folder: Path, name: str | bytes, data: bytes = b"data") -> Path:
    """Writes a file by its raw name (bytes where it is not UTF-8) and returns its path."""
    raw = os.path.join(os.fsencode(folder), name if isinstance(name, bytes) else os.fsencode(name))
    with open(raw, "wb") as handle:
        handle.write(data)
    os.utime(raw, (LONG_AGO, LONG_AGO))
    return Path(os.fsdecode(raw))


# --- text.visible ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SOC 2027.xlsx", "SOC 2027.xlsx"),
        ("räksmörgås [bold]x[/b] :x:", "räksmörgås [bold]x[/b] :x:"),
        (f"faktura{RLO}xslx.exe", "faktura\\u202exslx.exe"),
        ("a\u2066b\u2069\u200e\u200f\u061c", "a\\u2066b\\u2069\\u200e\\u200f\\u061c"),
        ("ring\x07\x1b[31m", "ring\\x07\\x1b[31m"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("noll\u200bbredd\ufeff", "noll\\u200bbredd\\ufeff"),
        ("rad\nbryt\tflik\u2028", "rad\\x0abryt\\x09flik\\u2028"),
        (os.fsdecode(b"r\xe4ksm\xf6rg\xe5s.xlsx"), "r\\xe4ksm\\xf6rg\\xe5s.xlsx"),
        ("\U000e0041tagg", "\\U000e0041tagg"),
    ],
)
def test_visible_escapes_what_would_not_show_as_itself(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_visible_keeps_line_breaks_in_free_text_when_asked() -> None:
    assert visible(f"rad 1\nrad 2\t{RLO}", line_breaks=True) == "rad 1\nrad 2\t\\u202e"


@given(st.text())
def test_visible_leaves_nothing_invisible_and_is_stable(text: str) -> None:
    shown = visible(text)
    assert not [ch for ch in shown if unicodedata.category(ch) in INVISIBLE]
    assert visible(shown) == shown
    shown.encode("utf-8")  # no lone surrogate left: it can be written anywhere


@given(st.text(alphabet=st.characters(exclude_categories=INVISIBLE)))  # type: ignore[arg-type]
def test_visible_leaves_ordinary_text_alone(text: str) -> None:
    assert visible(text) == text


# --- names in the inbox ------------------------------------------------------------------


@posix_bytes
def test_a_name_that_is_not_utf8_is_scanned_archived_and_recorded(tmp_path: Path) -> None:
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    path = drop(inbox, b"Handlingsplan SOC r\xe4tt.xlsx", b"bytes of the workbook")
    [entry] = scan_inbox(inbox, now=NOW)
    assert (entry.relative, entry.state) == ("Handlingsplan SOC r\\xe4tt.xlsx", "candidate")
    assert entry.path == path  # the real name still opens the file
    archived = archive_submission(entry.path, tmp_path / "arkiv")
    assert archived.archived_path.read_bytes() == b"bytes of the workbook"
    [pending] = sort_intake([entry], {entry.relative: archived}, {}, 2027).pending
    assert pending.name == entry.relative
    ledger = tmp_path / "inlamningar.jsonl"
    record = LedgerRecord(
        pending.digest, pending.name, pending.size, pending.received, pending.received, None, 2027,
        "rejected", 1, 0, None, None, "arkiv/x",
    )  # fmt: skip
    append_ledger(ledger, [record])
    assert list(read_ledger(ledger)) == [record]
    ledger.read_bytes().decode("utf-8")  # the ledger stays UTF-8 throughout


def test_a_lone_surrogate_in_a_record_still_makes_a_readable_utf8_line(tmp_path: Path) -> None:
    ledger = tmp_path / "inlamningar.jsonl"
    name = os.fsdecode(b"r\xe4tt.xlsx")
    record = LedgerRecord("a" * 64, name, 1, "2027-02-01T08:00:00+00:00", "2027-02-01T08:00:00+00:00",
                          None, 2027, "rejected", 1, 0, None, None, "arkiv/x")  # fmt: skip
    append_ledger(ledger, [record])
    ledger.read_bytes().decode("utf-8")
    assert list(read_ledger(ledger)) == [record]


def test_bidi_and_control_characters_in_names_are_escaped_in_the_scan(tmp_path: Path) -> None:
    drop(tmp_path, f"SOC{RLO}xslx.exe")
    (tmp_path / "mapp\x1b").mkdir()
    drop(tmp_path / "mapp\x1b", "plan\u2066.xlsx")
    shown = [entry.relative for entry in scan_inbox(tmp_path, now=NOW)]
    assert shown == ["SOC\\u202exslx.exe", "mapp\\x1b/plan\\u2066.xlsx"]


def test_two_names_that_show_alike_are_not_taken_for_one(tmp_path: Path) -> None:
    drop(tmp_path, f"a{RLO}.xlsx", b"first")
    drop(tmp_path, "a\\u202e.xlsx", b"second")  # the escape written out as plain characters
    entries = scan_inbox(tmp_path, now=NOW)
    assert [(e.relative, e.state) for e in entries] == [
        ("a\\u202e.xlsx", "candidate"),
        ("a\\u202e.xlsx", "ignored"),
    ]
    assert entries[1].reason == REASON_NAME_CLASH


def test_a_deep_folder_tree_is_walked_without_recursion_and_bounded(tmp_path: Path) -> None:
    levels = 300
    tmp_path.joinpath(*["d"] * levels).mkdir(parents=True)
    shallow = tmp_path.joinpath(*["d"] * MAX_DEPTH)
    drop(shallow, "plan.xlsx")
    # Below what a walk that recursed per level would need for this tree (and far below what
    # a hostile tree can ask for): the walk must not recurse per level.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        entries = scan_inbox(tmp_path, now=NOW)
    finally:
        sys.setrecursionlimit(limit)
    assert [(e.relative, e.state) for e in entries] == [
        ("/".join(["d"] * (MAX_DEPTH + 1)), "ignored"),
        ("/".join(["d"] * MAX_DEPTH) + "/plan.xlsx", "candidate"),
    ]
    assert entries[0].reason == REASON_TOO_DEEP
    assert str(MAX_DEPTH) in REASON_TOO_DEEP


@pytest.mark.parametrize("where", [".", "utkorg", "a/b/utkorg"])
def test_an_outbox_at_or_under_the_inbox_is_refused(tmp_path: Path, where: str) -> None:
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    with pytest.raises(InvalidInputError, match="ligger i inkorgen") as caught:
        check_folders(inbox, inbox / where)
    assert "--outbox" in str(caught.value)
    assert caught.value.exit_code == 2
    assert not (inbox / where).exists() or where == "."  # refused before anything is created


def test_an_outbox_beside_or_above_the_inbox_is_fine(tmp_path: Path) -> None:
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    check_folders(inbox, tmp_path / "utkorg")
    check_folders(inbox, tmp_path)  # the inbox inside the outbox is no harm: the outbox is not read
    check_folders(inbox, tmp_path / "inkorg-ut")  # a shared prefix is no parent


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_an_outbox_reached_through_a_link_into_the_inbox_is_refused(tmp_path: Path) -> None:
    inbox = tmp_path / "inkorg"
    (inbox / "ut").mkdir(parents=True)
    (tmp_path / "genväg").symlink_to(inbox / "ut", target_is_directory=True)
    with pytest.raises(InvalidInputError):
        check_folders(inbox, tmp_path / "genväg")


# --- the console -------------------------------------------------------------------------


@pytest.mark.flow
def test_hostile_names_print_escaped_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # "[/x].xlsx" is the file "x].xlsx" in the folder "[": Rich would read "[/x]" as a closing tag.
    (inbox / "[").mkdir()
    names: list[str | bytes] = [f"SOC{RLO}xslx.pdf", "[/x].xlsx", "ring\x07.xlsx"]
    if sys.platform not in ("win32", "darwin"):
        names.append(b"r\xe4tt.xlsx")
    for name in names:
        drop(inbox, name, b"inte en arbetsbok " + os.fsencode(name))
    args = ["collect", "--year", "2027", "--quiet-seconds", "0"]
    for attempt in range(2):  # and again: a name must not break the runs after it either
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert RLO not in result.output and "\x07" not in result.output
        assert "SOC\\u202exslx.pdf" in result.stdout and "ring\\x07.xlsx" in result.stdout
        assert "[/x].xlsx" in result.stdout  # markup prints as the text it is
        if len(names) == 4:
            assert "r\\xe4tt.xlsx" in result.stdout
        assert ("redan behandlad" in result.stdout) == (attempt == 1)
    ledger = (tmp_path / "outbox" / "inlamningar.jsonl").read_bytes().decode("utf-8")
    recorded = {json.loads(line)["original_name"] for line in ledger.splitlines()}
    assert "SOC\\u202exslx.pdf" in recorded and RLO not in ledger
    archived = [p for p in (tmp_path / "outbox" / "arkiv").rglob("*") if p.is_file()]
    assert len(archived) == len(names)


def test_observations_key_names_as_shown(tmp_path: Path) -> None:
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    drop(inbox, f"a{RLO}.xlsx")
    observations = tmp_path / "ut" / intake.OBSERVATIONS_FILE
    intake.scan(inbox, quiet_seconds=60, observations=observations)
    assert list(json.loads(observations.read_text(encoding="utf-8"))) == ["a\\u202e.xlsx"]
