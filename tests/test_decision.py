"""The nämnd's decision in the template: Beslutsdatum and Paragraf, read, validated and kept.

A submission with both cells filled (and valid) is "beslutad i nämnd", one with both empty a
"förslag". The workbooks are the real template, typed into as a person would: openpyxl for
Excel, and a headless Swedish LibreOffice for .xlsx, .ods and .xls.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from pipeline import contract as c
from pipeline.check import Checked, Plans, arrival_day, check_submission, clean_data
from pipeline.config import Settings
from pipeline.plan import Plan
from pipeline.read import read_workbook
from pipeline.records import CleanData, board_decision_label
from pipeline.store import read_clean_data, write_clean_data
from pipeline.template import TemplateOptions, carried_over, write_template
from pipeline.validate import decision_earliest
from tests import libreoffice, running
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
RECEIVED = dt.date(2027, 3, 20)
"""The day the directly checked submissions came in."""
DECIDED = dt.date(2027, 3, 15)
PAST_DECISION = dt.date(2026, 11, 18)
"""A decision before any day these tests run (so before any arrival), within 18 months of 2027."""
OLD = 1_790_000_000  # 2026-09-21: an inbox file's modification time, long before the run
DATE_CELL, PARAGRAPH_CELL = "B10", "B11"


def flat(checked: Checked) -> list[tuple[str, str, str, str]]:
    return [(p.sheet, p.cell, p.kind, p.code) for p in checked.problems]


def decision_cells(ws: Any) -> dict[str, Any]:
    """Returns the Instruktioner input cells right of the decision labels: label -> cell."""
    labels = (c.DECISION_DATE_LABEL, c.DECISION_PARAGRAPH_LABEL)
    return {
        cell.value: ws.cell(cell.row, cell.column + 1)
        for row in ws.iter_rows()
        for cell in row
        if cell.value in labels
    }


def submission(
    plan: Plan,
    folder: Path,
    date: Any = None,
    paragraph: Any = None,
    *,
    name: str = "SOC handlingsplan.xlsx",
    number_format: str | None = None,
    epoch_1904: bool = False,
) -> Path:
    """Returns SOC's template filled with one good action, the decision typed as given.

    `date` and `paragraph` are typed into the cells beside their labels (None leaves a cell
    empty); `number_format` is given the date cell, as a person who changed it would.
    """
    filled = fill_workbook(
        make_template(plan, "SOC", YEAR, folder / "mallar"),
        folder / "ifyllda" / name,
        actions=[GOOD_ACTION],
        concerns={"1.3": "Ja"},
    )
    wb = openpyxl.load_workbook(filled)
    if epoch_1904:
        wb.epoch = CALENDAR_MAC_1904
    cells = decision_cells(wb[c.SHEET_INSTRUCTIONS])
    cells[c.DECISION_DATE_LABEL].value = date
    cells[c.DECISION_PARAGRAPH_LABEL].value = paragraph
    if number_format is not None:
        cells[c.DECISION_DATE_LABEL].number_format = number_format
    wb.save(filled)
    return filled


def check(plan: Plan, path: Path, received: dt.date | None = RECEIVED) -> Checked:
    return check_submission(path, path.name, Plans(plan, path.parent / "planer"), YEAR, AS_OF, received)


# --- the template ----------------------------------------------------------------------------


def test_template_has_empty_date_and_paragraph_cells_beside_the_contact(plan: Plan, tmp_path: Path) -> None:
    ws = openpyxl.load_workbook(make_template(plan, "SOC", YEAR, tmp_path))[c.SHEET_INSTRUCTIONS]
    labels = [cell.value for row in ws.iter_rows() for cell in row]
    assert [labels.count(label) for label in c.INSTRUCTION_INPUT_LABELS] == [1, 1, 1, 1]
    assert [ws[f"A{row}"].value for row in range(8, 12)] == list(c.INSTRUCTION_INPUT_LABELS)
    date, paragraph = ws[DATE_CELL], ws[PARAGRAPH_CELL]
    assert (date.value, date.number_format, date.protection.locked) == (None, "yyyy-mm-dd", False)
    assert (paragraph.value, paragraph.number_format, paragraph.protection.locked) == (None, "@", False)
    rules = {str(rule.sqref): rule for rule in ws.data_validations.dataValidation}
    rule = rules[DATE_CELL]
    # Between Excel's serials of 1900-01-01 and 2200-12-31 ("between" is the default operator):
    # the window Start and Klart have.
    assert (rule.type, rule.operator, rule.formula1, rule.formula2) == ("date", None, "1", "109939")
    assert rule.promptTitle == c.DECISION_DATE_LABEL and "2027-03-15" in (rule.prompt or "")
    assert rules[PARAGRAPH_CELL].promptTitle == c.DECISION_PARAGRAPH_LABEL and "§ 14" in (
        rules[PARAGRAPH_CELL].prompt or ""
    )
    below = ws["B12"].value  # the sentence right under the two cells
    assert "när nämnden har beslutat" in below and "förslag" in below and "tomma" in below
    step = next(row[1].value for row in ws.iter_rows() if row[0].value == "1. Instruktioner")
    assert "Beslutsdatum och Paragraf" in step and "förslag" in step


def test_next_years_template_starts_with_the_decision_empty(plan: Plan, tmp_path: Path) -> None:
    filled = submission(plan, tmp_path, DECIDED, "§ 14")
    checked = check(plan, filled)
    assert checked.accepted and clean_data(checked).board_decided
    options = carried_over(
        plan, YEAR + 1, None, None, TemplateOptions(year=YEAR + 1), contacts={"SOC": ("Anna Andersson", "")}
    )
    path = write_template(plan, plan.department("SOC"), options["SOC"], tmp_path / "2028" / "SOC.xlsx")
    raw = read_workbook(path, path.name)
    assert (raw.contact, raw.decision_date_raw, raw.decision_paragraph) == ("Anna Andersson", None, "")
    assert (raw.decision_date_cell, raw.decision_paragraph_cell) == (DATE_CELL, PARAGRAPH_CELL)


# --- reading and validating --------------------------------------------------------------------


def test_a_decided_proposal_is_accepted_with_its_date_and_paragraph(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, dt.datetime(2027, 3, 15), "§ 14"))
    assert flat(checked) == []
    data = clean_data(checked)
    assert (data.decision_date, data.decision_paragraph) == (DECIDED, "§ 14")
    assert data.board_decision == "beslutad i nämnd 2027-03-15 § 14"


def test_a_draft_is_accepted_as_a_proposal(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path))
    assert checked.accepted and flat(checked) == []
    data = clean_data(checked)
    assert (data.decision_date, data.decision_paragraph, data.board_decision) == (None, None, "förslag")


def test_a_date_without_a_paragraph_is_rejected_at_the_paragraph_cell(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, dt.datetime(2027, 3, 15), "  "))
    assert flat(checked) == [(c.SHEET_INSTRUCTIONS, PARAGRAPH_CELL, "error", "decision_paragraph_missing")]
    found = checked.problems[0]
    assert (found.where, found.row, found.column) == ("Instruktioner!B11", 11, c.DECISION_PARAGRAPH_LABEL)
    assert found.message == (
        "Beslutsdatum är ifyllt (2027-03-15) men Paragraf saknas. "
        "Fyll i båda när nämnden har beslutat om handlingsplanen, annars ingen av dem."
    )
    assert found.hint == (
        "Skriv paragrafen i nämndens protokoll, t.ex. § 14. Är handlingsplanen ett förslag: töm Beslutsdatum."
    )


def test_a_paragraph_without_a_date_is_rejected_at_the_date_cell(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, None, "§ 14"))
    assert flat(checked) == [(c.SHEET_INSTRUCTIONS, DATE_CELL, "error", "decision_date_missing")]
    assert checked.problems[0].text == (
        "Instruktioner!B10: Paragraf är ifylld (§ 14) men Beslutsdatum saknas. "
        "Fyll i båda när nämnden har beslutat om handlingsplanen, annars ingen av dem."
    )


def test_a_decision_after_the_submission_was_received_is_rejected(plan: Plan, tmp_path: Path) -> None:
    path = submission(plan, tmp_path, dt.datetime(2027, 3, 21), "§ 14")
    checked = check(plan, path)
    assert flat(checked) == [(c.SHEET_INSTRUCTIONS, DATE_CELL, "error", "decision_after_received")]
    assert checked.problems[0].message == (
        "Beslutsdatum 2027-03-21 är senare än den dag handlingsplanen lämnades in (2027-03-20). "
        "Nämnden kan inte ha beslutat om den efter inlämningen."
    )
    # The day it came in is the last day a decision may have: the same day is accepted.
    assert check(plan, path, received=dt.date(2027, 3, 21)).accepted
    # Without a known day (a file checked again) the as-of date stands in.
    assert flat(check(plan, path, received=None)) == flat(checked)


def test_a_decision_long_before_the_plan_year_is_accepted_with_a_warning(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, dt.datetime(2025, 3, 15), "§ 7"))
    assert flat(checked) == [(c.SHEET_INSTRUCTIONS, DATE_CELL, "warning", "decision_long_before_plan_year")]
    assert checked.accepted and clean_data(checked).board_decision == "beslutad i nämnd 2025-03-15 § 7"
    assert checked.problems[0].message == (
        "Beslutsdatum 2025-03-15 ligger mer än 18 månader före planåret 2027. "
        "Gäller beslutet verkligen handlingsplanen för 2027?"
    )


def test_eighteen_months_before_the_plan_year_is_the_limit(plan: Plan, tmp_path: Path) -> None:
    assert decision_earliest(YEAR) == dt.date(2025, 7, 1)
    assert decision_earliest(2028) == dt.date(2026, 7, 1)
    on_time = check(plan, submission(plan, tmp_path / "a", dt.datetime(2025, 7, 1), "§ 7"))
    late = check(plan, submission(plan, tmp_path / "b", dt.datetime(2025, 6, 30), "§ 7"))
    assert (flat(on_time), [p.code for p in late.problems]) == ([], ["decision_long_before_plan_year"])


def test_a_date_typed_as_text_is_accepted(plan: Plan, tmp_path: Path) -> None:
    path = submission(plan, tmp_path, " 2027-03-15 ", "§ 14")
    assert openpyxl.load_workbook(path)[c.SHEET_INSTRUCTIONS][DATE_CELL].data_type == "s"
    checked = check(plan, path)
    assert flat(checked) == [] and clean_data(checked).decision_date == DECIDED


@pytest.mark.parametrize(
    ("value", "epoch_1904"),
    [(46461, False), (44999, True)],
    ids=["1900-serial", "1904-serial"],
)
def test_a_date_serial_in_a_general_cell_is_the_date(
    plan: Plan, tmp_path: Path, value: int, epoch_1904: bool
) -> None:
    # What is left of a typed date when someone set the cell's format to General.
    path = submission(plan, tmp_path, value, "§ 14", number_format="General", epoch_1904=epoch_1904)
    checked = check(plan, path)
    assert flat(checked) == [] and clean_data(checked).decision_date == DECIDED


def test_a_date_in_a_1904_workbook_is_the_date(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, dt.datetime(2027, 3, 15), "§ 14", epoch_1904=True))
    assert flat(checked) == [] and clean_data(checked).decision_date == DECIDED


@pytest.mark.parametrize("typed", ["15/3", "15 mars 2027", "2027-02-30", "snart"])
def test_an_unreadable_date_is_rejected(plan: Plan, tmp_path: Path, typed: str) -> None:
    checked = check(plan, submission(plan, tmp_path, typed, "§ 14"))
    assert flat(checked) == [(c.SHEET_INSTRUCTIONS, DATE_CELL, "error", "decision_date_invalid")]
    assert checked.problems[0].message == (
        f'"{typed}" är inget giltigt datum. Skriv nämndens beslutsdatum som ÅÅÅÅ-MM-DD, t.ex. 2027-03-15.'
    )
    assert "töm Beslutsdatum och Paragraf" in checked.problems[0].hint


def test_an_unreadable_date_without_a_paragraph_gives_both_errors(plan: Plan, tmp_path: Path) -> None:
    checked = check(plan, submission(plan, tmp_path, "snart", None))
    assert flat(checked) == [
        (c.SHEET_INSTRUCTIONS, DATE_CELL, "error", "decision_date_invalid"),
        (c.SHEET_INSTRUCTIONS, PARAGRAPH_CELL, "error", "decision_paragraph_missing"),
    ]


# --- the day received ------------------------------------------------------------------------


def test_the_day_received_is_the_arrival_in_swedish_time() -> None:
    # 23:30 UTC on 14 March is 00:30 on 15 March in Stockholm.
    assert arrival_day("2027-03-14T23:30:00.000000+00:00", "2027-03-01T08:00:00+00:00") == DECIDED
    assert arrival_day(None, "2027-03-14T08:00:00+00:00") == dt.date(2027, 3, 14)
    assert arrival_day(None, None) is None
    assert arrival_day("inte en tid") is None


# --- kept: the clean data ----------------------------------------------------------------------


def test_clean_data_keeps_the_decision_and_old_files_read_as_proposals(tmp_path: Path) -> None:
    decided = CleanData("Anna", "anna@kalix.se", 0, [], [("1.3", "Ja")], DECIDED, "§ 14")
    path = write_clean_data(tmp_path / "decided.json", decided)
    assert json.loads(path.read_text(encoding="utf-8"))["decision_date"] == "2027-03-15"
    assert read_clean_data(path) == decided
    old = tmp_path / "old.json"
    old.write_text(
        json.dumps({"contact": "Anna", "email": "", "warnings": 0, "actions": [], "goals": [["1.3", "Ja"]]}),
        encoding="utf-8",
    )
    read = read_clean_data(old)
    assert read is not None and (read.decision_date, read.decision_paragraph, read.board_decision) == (
        None,
        None,
        "förslag",
    )


@pytest.mark.parametrize(
    ("date", "paragraph", "label"),
    [
        (DECIDED, "§ 14", "beslutad i nämnd 2027-03-15 § 14"),
        (DECIDED, "14", "beslutad i nämnd 2027-03-15 § 14"),
        (DECIDED, " §  14 ", "beslutad i nämnd 2027-03-15 § 14"),
        (DECIDED, None, "förslag"),
        (None, "§ 14", "förslag"),
        (None, None, "förslag"),
    ],
)
def test_board_decision_label(date: dt.date | None, paragraph: str | None, label: str) -> None:
    assert board_decision_label(date, paragraph) == label


# --- through the real collect ------------------------------------------------------------------


def _settings(tmp_path: Path) -> Settings:
    return Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox")


def _drop(path: Path, inbox: Path) -> Path:
    target = inbox / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())
    os.utime(target, (OLD, OLD))
    return target


def test_collect_keeps_the_decision_and_next_years_template_leaves_it_empty(
    plan: Plan, tmp_path: Path
) -> None:
    from pipeline.flows import templates_flow

    settings = _settings(tmp_path)
    _drop(submission(plan, tmp_path / "soc", dt.datetime(2026, 11, 18), "§ 14"), settings.inbox)
    # Only the date: rejected, and the feedback names the cell to fill in.
    half = fill_workbook(
        make_template(plan, "KS", YEAR, tmp_path / "mallar"),
        tmp_path / "KS handlingsplan.xlsx",
        actions=[GOOD_ACTION],
    )
    wb = openpyxl.load_workbook(half)
    decision_cells(wb[c.SHEET_INSTRUCTIONS])[c.DECISION_DATE_LABEL].value = dt.datetime(2026, 11, 18)
    wb.save(half)
    _drop(half, settings.inbox)
    # The as-of date lies before the decision: what counts is the day the file arrived (today).
    result = running.collect(settings, YEAR, dt.date(2026, 9, 1))
    states = {f.name: (f.state, f.department) for f in result.files}
    assert states == {
        "SOC handlingsplan.xlsx": ("accepted", "SOC"),
        "KS handlingsplan.xlsx": ("rejected", "KS"),
    }
    soc = next(f for f in result.files if f.department == "SOC")
    assert soc.digest is not None
    data = read_clean_data(settings.clean_data_file(YEAR, soc.digest))
    assert data is not None and data.board_decision == f"beslutad i nämnd {PAST_DECISION.isoformat()} § 14"
    ks = next(f for f in result.files if f.department == "KS")
    assert ks.feedback is not None
    feedback = ks.feedback.with_suffix(".md").read_text(encoding="utf-8")
    assert "Beslutsdatum är ifyllt (2026-11-18) men Paragraf saknas." in feedback
    assert f"| {PARAGRAPH_CELL} | {c.DECISION_PARAGRAPH_LABEL} |" in feedback

    templates_flow(year=YEAR + 1, outbox=settings.outbox, deadline=None)
    ws = openpyxl.load_workbook(settings.template_file(YEAR + 1, "SOC"))[c.SHEET_INSTRUCTIONS]
    assert ws["B8"].value == "Anna Andersson"  # the contact is carried, the decision never
    assert (ws[DATE_CELL].value, ws[PARAGRAPH_CELL].value) == (None, None)


# --- typed in a Swedish LibreOffice ------------------------------------------------------------

LIBREOFFICE = libreoffice.unavailable()


@pytest.mark.skipif(LIBREOFFICE is not None, reason=f"LibreOffice cannot be driven: {LIBREOFFICE}")
def test_a_date_typed_in_swedish_libreoffice_is_read_from_xlsx_ods_and_xls(
    plan: Plan, tmp_path: Path
) -> None:
    filled = fill_workbook(
        make_template(plan, "SOC", YEAR, tmp_path / "mallar"),
        tmp_path / "ifylld.xlsx",
        actions=[GOOD_ACTION],
        concerns={"1.3": "Ja"},
    )
    outputs = [tmp_path / "sparad" / f"SOC{suffix}" for suffix in (".xlsx", ".ods", ".xls")]
    entries = [
        libreoffice.Entry(c.SHEET_INSTRUCTIONS, DATE_CELL, "2027-03-15"),
        libreoffice.Entry(c.SHEET_INSTRUCTIONS, PARAGRAPH_CELL, "§ 14"),
    ]
    [shown] = libreoffice.type_in_libreoffice([libreoffice.Document(filled, entries, outputs)])
    assert [(s.cell, s.kind, s.shown) for s in shown] == [
        (DATE_CELL, "VALUE", "2027-03-15"),
        (PARAGRAPH_CELL, "TEXT", "§ 14"),
    ]
    for path in outputs:
        checked = check(plan, path)
        assert flat(checked) == [], path.suffix
        data = clean_data(checked)
        assert (data.decision_date, data.decision_paragraph) == (DECIDED, "§ 14"), path.suffix
