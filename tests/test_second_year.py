"""The second year in the same working folder: last year's files stay in the inbox.

Nobody empties a shared folder. The files handed in for 2027 must keep to 2027: for 2028
they are listed as "tillhör 2027, redan mottagen", never as rejections, never in 2028's
feedback, summary, follow-up or Förändringar, and 2028's outputs are the same as with them
gone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from pipeline import contract as c
from pipeline.cli import DEMO_MARKER
from pipeline.config import Settings
from pipeline.demo import prepare_demo
from pipeline.plan import Plan
from tests import running
from tests.workbooks import fill_workbook, make_template

FIRST, SECOND = 2027, 2028
FIRST_AS_OF, SECOND_AS_OF = dt.date(FIRST, 3, 1), dt.date(SECOND, 3, 1)
SOC_2028 = "SOC handlingsplan 2028.xlsx"
RECEIVED_2028 = 1_780_000_000  # in the past on any machine running this (2026-05-28)


def _outputs(year_dir: Path) -> dict[str, str]:
    """Returns the SHA-256 of every file a year's report and feedback consist of."""
    return {
        path.relative_to(year_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(year_dir.rglob("*"))
        if path.is_file() and "mallar" not in path.parts
    }


def _texts(year_dir: Path) -> str:
    """Returns everything a reader sees in the year's outputs, as one text."""
    parts = [p.read_text(encoding="utf-8") for p in year_dir.rglob("*") if p.suffix in (".html", ".md")]
    for book in year_dir.glob("*.xlsx"):
        workbook = openpyxl.load_workbook(book, read_only=True)
        parts.extend(
            str(value)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        )
        workbook.close()
    return "\n".join(parts)


@pytest.fixture(scope="module")
def first_year(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo's 2027 handed in, collected and reported; then 2028's templates written."""
    from pipeline.flows import templates_flow

    folder = tmp_path_factory.mktemp("year") / "kommun"
    inbox, outbox = prepare_demo(folder, FIRST, DEMO_MARKER)
    settings = Settings(inbox=inbox, outbox=outbox, quiet_seconds=0)
    running.collect(settings, FIRST, FIRST_AS_OF)
    running.report(settings, FIRST, FIRST_AS_OF)
    templates_flow(year=SECOND, outbox=outbox, deadline=None)
    return settings


def _copy(settings: Settings, target: Path, *, keep_first_year_files: bool) -> Settings:
    shutil.copytree(settings.inbox.parent, target, copy_function=shutil.copy2)
    copied = Settings(inbox=target / "inbox", outbox=target / "outbox", quiet_seconds=0)
    if not keep_first_year_files:
        for path in copied.inbox.iterdir():
            path.unlink()
    return copied


def _hand_in_soc_2028(settings: Settings) -> None:
    template = settings.template_file(SECOND, "SOC")
    action = {
        c.GOAL: "1.3",
        c.ACTION: "Språkcafé på biblioteket",
        c.OWNER: "Enhetschef",
        c.STATUS: c.NOT_STARTED,
        c.INDICATOR: "Antal deltagare",
    }
    rows = sum(
        1 for row in openpyxl.load_workbook(template)[c.SHEET_ACTIONS].iter_rows(min_row=2) if row[0].value
    )
    target = settings.inbox / SOC_2028
    fill_workbook(template, target, actions=[action], first_row=2 + rows)
    os.utime(target, (RECEIVED_2028, RECEIVED_2028))


def test_second_year_ignores_last_years_files_and_matches_an_empty_inbox(
    first_year: Settings, tmp_path: Path
) -> None:
    kept = _copy(first_year, tmp_path / "kvar", keep_first_year_files=True)
    emptied = _copy(first_year, tmp_path / "tomd", keep_first_year_files=False)
    first_year_files = sorted(p.name for p in kept.inbox.iterdir())
    _hand_in_soc_2028(kept)
    # The very same bytes and time: openpyxl stamps the second it saves into the file.
    shutil.copy2(kept.inbox / SOC_2028, emptied.inbox / SOC_2028)

    collected = running.collect(kept, SECOND, SECOND_AS_OF)
    running.collect(emptied, SECOND, SECOND_AS_OF)
    for settings in (kept, emptied):
        running.report(settings, SECOND, SECOND_AS_OF)

    states = {f.name: (f.state, f.message) for f in collected.files}
    assert states.pop(SOC_2028)[0] == "accepted"
    assert sorted(states) == first_year_files
    for name, (state, message) in states.items():
        assert state == "ignored", (name, state, message)
        assert message.startswith(f"Tillhör {FIRST}, redan mottagen"), message
    assert collected.count("rejected") == 0 and collected.new_submissions == 1

    # Same 2028 outputs, byte for byte, with last year's files in the inbox or gone.
    assert _outputs(kept.year_dir(SECOND)) == _outputs(emptied.year_dir(SECOND))
    # And nothing of 2027's files or rejections is told about 2028.
    seen = _texts(kept.year_dir(SECOND))
    for name in first_year_files:
        assert name not in seen
    assert "avvisades" not in seen and "lämna in igen" not in seen
    ledger = [json.loads(line) for line in kept.ledger_file.read_text(encoding="utf-8").splitlines()]
    assert [r["original_name"] for r in ledger if r["year"] == SECOND] == [SOC_2028]


def test_changes_list_only_forvaltningar_that_handed_in(first_year: Settings, tmp_path: Path) -> None:
    settings = _copy(first_year, tmp_path / "kommun", keep_first_year_files=True)
    _hand_in_soc_2028(settings)
    running.collect(settings, SECOND, SECOND_AS_OF)
    result = running.report(settings, SECOND, SECOND_AS_OF)
    assert result.consolidated.changes is not None
    disappeared = result.consolidated.changes.disappeared
    assert set(disappeared[c.DEPARTMENT]) <= {"SOC"}, "only SOC handed in for 2028"


def test_a_late_file_for_last_year_is_handled_for_its_own_year(
    first_year: Settings, plan: Plan, tmp_path: Path
) -> None:
    settings = _copy(first_year, tmp_path / "kommun", keep_first_year_files=False)
    late = settings.inbox / "SBF sen 2027.xlsx"
    action = {c.GOAL: "2.1", c.ACTION: "Praktikplatser", c.OWNER: "Chef", c.STATUS: c.NOT_STARTED}
    fill_workbook(make_template(plan, "SBF", FIRST, tmp_path / "mallar"), late, actions=[action])
    os.utime(late, (RECEIVED_2028, RECEIVED_2028))

    collected = running.collect(settings, SECOND, SECOND_AS_OF)

    (report,) = collected.files
    assert (report.state, report.year, report.department) == ("accepted", FIRST, "SBF")
    assert report.message.startswith(f"Mallen gäller {FIRST}: godkänd för {FIRST}")
    assert collected.new_submissions == 0 and collected.in_force == {}
    assert report.feedback is not None and settings.feedback_dir(FIRST) in report.feedback.parents
    assert not settings.feedback_dir(SECOND).exists()
    again = running.collect(settings, SECOND, SECOND_AS_OF)
    assert [(f.state, f.message) for f in again.files] == [
        ("ignored", f"Tillhör {FIRST}, redan mottagen; den räknas inte för {SECOND}.")
    ]
    # 2027's report, written again, now counts SBF.
    redone = running.report(settings, FIRST, FIRST_AS_OF)
    assert "SBF" in {d.code for d in redone.consolidated.departments if d.submitted}


def test_a_file_that_is_no_workbook_is_ignored_not_rejected(first_year: Settings, tmp_path: Path) -> None:
    settings = _copy(first_year, tmp_path / "kommun", keep_first_year_files=False)
    (settings.inbox / "anteckningar.txt").write_text("Ring SOC om delmål 1.3\n", encoding="utf-8")
    os.utime(settings.inbox / "anteckningar.txt", (RECEIVED_2028, RECEIVED_2028))
    _hand_in_soc_2028(settings)

    first = running.collect(settings, SECOND, SECOND_AS_OF)
    second = running.collect(settings, SECOND, SECOND_AS_OF)
    result = running.report(settings, SECOND, SECOND_AS_OF)

    notes = {f.name: f for f in first.files}["anteckningar.txt"]
    assert notes.state == "ignored" and "räknas inte som inlämning" in notes.message
    assert {f.name: f.state for f in second.files}["anteckningar.txt"] == "ignored"
    assert result.consolidated.rejections == ()
    assert "anteckningar.txt" not in _texts(settings.year_dir(SECOND))


def test_a_rejection_fixed_by_a_later_file_leaves_what_needs_doing(
    first_year: Settings, tmp_path: Path
) -> None:
    settings = _copy(first_year, tmp_path / "kommun", keep_first_year_files=False)
    wrong = settings.inbox / "SOC utkast.xlsx"
    bad = {c.GOAL: "9.9", c.ACTION: "Utkast", c.OWNER: "Chef", c.STATUS: c.NOT_STARTED}
    fill_workbook(settings.template_file(SECOND, "SOC"), wrong, actions=[bad])
    os.utime(wrong, (RECEIVED_2028 - 3600, RECEIVED_2028 - 3600))
    first = running.collect(settings, SECOND, SECOND_AS_OF)
    assert [f.state for f in first.files] == ["rejected"]
    _hand_in_soc_2028(settings)

    running.collect(settings, SECOND, SECOND_AS_OF)
    result = running.report(settings, SECOND, SECOND_AS_OF)

    assert result.consolidated.rejections == ()
    assert [(h.file, h.standing) for h in result.consolidated.history] == [
        ("SOC utkast.xlsx", "avvisad, åtgärdad"),
        (SOC_2028, "gäller"),
    ]
    summary = settings.summary_file(SECOND, ".html").read_text(encoding="utf-8")
    assert "SOC utkast.xlsx" not in summary and "Avvisade inlämningar" not in summary
    follow_up = openpyxl.load_workbook(settings.follow_up_file(SECOND), read_only=True)
    history = [
        row for row in follow_up["Förvaltningar"].iter_rows(values_only=True) if "SOC utkast.xlsx" in row
    ]
    assert len(history) == 1 and "avvisad, åtgärdad" in history[0]
