"""Templates filled in LibreOffice Calc itself, typed in a Swedish locale, through collect and report.

A headless LibreOffice (tests/libreoffice.py) types into the real templates as a person
does: "75 %" in Målvärde, "1 500" in Utfall, "31/3" in Klart, "15 000 kr" in Kostnad, a
status and a funding source typed instead of picked from the list. One förvaltning saves
as .xlsx, one as .ods and one as .xls; the files go through the real collect and report.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.flows import CollectResult, ReportResult
from pipeline.plan import Plan
from pipeline.records import FileReport
from tests import running
from tests.libreoffice import Document, Entry, Shown, type_in_libreoffice, unavailable
from tests.workbooks import header_columns, make_template

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"LibreOffice cannot be driven: {REASON}")

TODAY = dt.date.today()
# LibreOffice completes "31/3" with the year of the day it is typed, so the plan year is
# the next one: the typed date always lies before it, whatever year the tests run in.
YEAR = TODAY.year + 1
TYPED_DONE = dt.date(TODAY.year, 3, 31)
FORMATS = {".xlsx": "UTB", ".ods": "SOC", ".xls": "FoK"}
"""Each format saved by its own förvaltning, so all three are in force in one report."""

TYPED = {
    c.GOAL: "1.3",
    c.ACTION: "Språkcafé för kvinnor",
    c.OWNER: "Enhetschef",
    c.DONE: "31/3",
    c.COST: "15 000 kr",
    c.FUNDING: "Statlig ersättning",
    c.INDICATOR: "Andel godkända kurser",
    c.TARGET: "75 %",
    c.STATUS: "Pågår",
    c.OUTCOME: "1 500",
    c.COMMENT: "Startar i mars",
}
"""Åtgärder row 2 as typed on the keyboard; the rest of the row is left empty."""
CONTACT = {c.CONTACT_LABEL: "Anna Andersson", c.EMAIL_LABEL: "anna.andersson@kalix.se"}


def _entries(template: Path) -> list[Entry]:
    """Returns what a person types into the template: contact, Berör oss for 1.3, one action."""
    wb = openpyxl.load_workbook(template)
    entries = [
        Entry(c.SHEET_INSTRUCTIONS, cell.offset(column=1).coordinate, CONTACT[cell.value])
        for row in wb[c.SHEET_INSTRUCTIONS].iter_rows()
        for cell in row
        if cell.value in CONTACT
    ]
    goals = wb[c.SHEET_GOALS]
    goal_columns = header_columns(goals)
    goal_row = next(
        r for r in range(2, goals.max_row + 1) if goals.cell(r, goal_columns[c.GOAL_ID]).value == "1.3"
    )
    entries.append(Entry(c.SHEET_GOALS, goals.cell(goal_row, goal_columns[c.CONCERNS_US]).coordinate, c.YES))
    actions = wb[c.SHEET_ACTIONS]
    columns = header_columns(actions)
    entries += [
        Entry(c.SHEET_ACTIONS, actions.cell(2, columns[name]).coordinate, text)
        for name, text in TYPED.items()
    ]
    return entries


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("libreoffice")
    return Settings(inbox=folder / "inbox", outbox=folder / "outbox", quiet_seconds=0)


@pytest.fixture(scope="module")
def typed(plan: Plan, settings: Settings) -> dict[str, list[Shown]]:
    """Types each förvaltning's template in one LibreOffice and saves it into the inbox.

    Returns, per format, what the typed cells showed in Calc before saving.
    """
    templates = settings.outbox.parent / "mallar"
    documents = [
        Document(
            template=(template := make_template(plan, code, YEAR, templates)),
            entries=_entries(template),
            outputs=[settings.inbox / f"{code} handlingsplan {YEAR}{suffix}"],
        )
        for suffix, code in FORMATS.items()
    ]
    return dict(zip(FORMATS, type_in_libreoffice(documents), strict=True))


@pytest.fixture(scope="module")
def collected(typed: dict[str, list[Shown]], settings: Settings) -> CollectResult:
    return running.collect(settings, YEAR, TODAY)


@pytest.fixture(scope="module")
def reported(collected: CollectResult, settings: Settings) -> ReportResult:
    return running.report(settings, YEAR, TODAY)


@pytest.fixture(scope="module")
def action_plan(reported: ReportResult, settings: Settings) -> dict[str, dict[str, Any]]:
    """Returns the consolidated handlingsplan's Åtgärder rows by förvaltning, header -> cell value."""
    ws = openpyxl.load_workbook(settings.action_plan_file(YEAR))[c.SHEET_ACTIONS]
    rows = [[cell.value for cell in row] for row in ws.iter_rows()]
    header = next(row for row in rows if c.ACTION_ID in row and c.TARGET in row)
    found = [dict(zip(header, row, strict=True)) for row in rows[rows.index(header) + 1 :]]
    return {row[c.DEPARTMENT]: row for row in found if row.get(c.DEPARTMENT) in FORMATS.values()}


def _file(collected: CollectResult, suffix: str) -> FileReport:
    return next(f for f in collected.files if f.name == f"{FORMATS[suffix]} handlingsplan {YEAR}{suffix}")


def _feedback(report: FileReport) -> str:
    assert report.feedback is not None, f"{report.name}: no feedback ({report.state}: {report.message})"
    return report.feedback.with_suffix(".md").read_text(encoding="utf-8")


def _shown(typed: dict[str, list[Shown]], suffix: str, column: str) -> Shown:
    return next(s for s in typed[suffix] if s.sheet == c.SHEET_ACTIONS and s.typed == TYPED[column])


by_format = pytest.mark.parametrize("suffix", list(FORMATS), ids=[s.lstrip(".") for s in FORMATS])


@by_format
def test_calc_reads_the_typing_as_a_swedish_user_sees_it(typed: dict[str, list[Shown]], suffix: str) -> None:
    # The template's free-text columns are text cells, so Calc keeps them as typed; a date
    # and an amount are recognised in the Swedish way.
    seen = {column: _shown(typed, suffix, column) for column in (c.TARGET, c.OUTCOME, c.DONE, c.COST)}
    assert (seen[c.TARGET].kind, seen[c.TARGET].shown) == ("TEXT", "75 %")
    assert (seen[c.OUTCOME].kind, seen[c.OUTCOME].shown) == ("TEXT", "1 500")
    assert (seen[c.DONE].kind, seen[c.DONE].shown) == ("VALUE", TYPED_DONE.isoformat())
    assert (seen[c.COST].kind, seen[c.COST].value) == ("VALUE", 15000.0)


@by_format
def test_saved_file_is_accepted_under_its_own_forvaltning(collected: CollectResult, suffix: str) -> None:
    report = _file(collected, suffix)
    assert (report.state, report.department, report.errors) == ("accepted", FORMATS[suffix], 0), (
        report.message
    )
    assert "okänd förvaltning" not in _feedback(report).lower()
    assert FORMATS[suffix] in collected.in_force


@by_format
def test_text_is_kept_as_libreoffice_showed_it(
    action_plan: dict[str, dict[str, Any]], typed: dict[str, list[Shown]], suffix: str
) -> None:
    row = action_plan[FORMATS[suffix]]
    assert (row[c.TARGET], row[c.OUTCOME]) == ("75 %", "1 500")
    assert (row[c.TARGET], row[c.OUTCOME]) == (
        _shown(typed, suffix, c.TARGET).shown,
        _shown(typed, suffix, c.OUTCOME).shown,
    )
    assert (row[c.ACTION], row[c.OWNER], row[c.INDICATOR], row[c.COMMENT]) == (
        "Språkcafé för kvinnor",
        "Enhetschef",
        "Andel godkända kurser",
        "Startar i mars",
    )


@by_format
def test_day_month_date_is_accepted_with_a_warning_naming_the_year(
    collected: CollectResult, typed: dict[str, list[Shown]], suffix: str
) -> None:
    report = _file(collected, suffix)
    feedback = _feedback(report)
    assert report.state == "accepted" and report.warnings >= 1
    assert f"Klart {TYPED_DONE.isoformat()} ligger före planåret {YEAR}." in feedback
    assert "Skrev du 31/3?" in feedback
    assert f"Ange året: {YEAR}-03-31." in feedback
    # The warning names the cell typed in, on the feedback's table row for it.
    row = next(line for line in feedback.splitlines() if "Skrev du 31/3?" in line)
    assert row.startswith(f"| {_shown(typed, suffix, c.DONE).cell} | {c.DONE} |"), row


@by_format
def test_cost_typed_with_kr_is_the_amount(
    reported: ReportResult, action_plan: dict[str, dict[str, Any]], suffix: str
) -> None:
    actions = reported.consolidated.actions
    assert list(actions.loc[actions[c.DEPARTMENT] == FORMATS[suffix], c.COST]) == [15000.0]
    assert action_plan[FORMATS[suffix]][c.COST] == 15000


@by_format
def test_list_values_typed_by_hand_are_accepted(action_plan: dict[str, dict[str, Any]], suffix: str) -> None:
    row = action_plan[FORMATS[suffix]]
    assert (row[c.STATUS], row[c.FUNDING], str(row[c.GOAL]).split()[0]) == (
        c.IN_PROGRESS,
        "Statlig ersättning",
        "1.3",
    )
