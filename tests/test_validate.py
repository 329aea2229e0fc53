"""Validation rules, one test per rule, on workbooks filled from the real template."""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import contract as c
from pipeline.config import FIRST_DATE_YEAR, LAST_DATE_YEAR, MAX_COST
from pipeline.plan import Plan
from pipeline.read import INVISIBLE, bare, read_workbook
from pipeline.validate import (
    Validated,
    parse_amount,
    parse_choice,
    parse_date,
    parse_goal_id,
    validate_workbook,
)
from tests.workbooks import fill_workbook, make_template

AS_OF = dt.date(2027, 3, 1)
GOOD = {
    c.GOAL: "1.3 Kvinnors situation måste särskilt uppmärksammas",
    c.ACTION: "Språkcafé för kvinnor",
    c.OWNER: "Enhetschef IAE",
    c.START: dt.datetime(2027, 2, 1),
    c.DONE: dt.datetime(2027, 12, 31),
    c.COST: 25000,
    c.FUNDING: "Statlig ersättning",
    c.INDICATOR: "Antal deltagare",
    c.TARGET: "40",
    c.STATUS: "Pågår",
}


@pytest.fixture(scope="module")
def template(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(plan, "SOC", 2027, tmp_path_factory.mktemp("mall"))


def check(
    plan: Plan,
    template: Path,
    tmp_path: Path,
    actions: list[dict[str, Any]],
    concerns: dict[str, str] | None = None,
) -> Validated:
    path = fill_workbook(
        template,
        tmp_path / "ifylld.xlsx",
        actions=actions,
        concerns={"1.3": "Ja"} if concerns is None else concerns,
    )
    return validate_workbook(read_workbook(path, "ifylld.xlsx"), plan, "SOC", "ifylld.xlsx", AS_OF)


def flat(result: Validated) -> list[tuple[str, str, str, str]]:
    return [(p.sheet, p.cell, p.kind, p.code) for p in result.problems]


def test_a_well_filled_workbook_has_no_problems(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(plan, template, tmp_path, [GOOD])
    assert flat(result) == []
    row = result.actions.loc[2]
    assert (row[c.GOAL], row[c.STATUS], row[c.START], row[c.COST]) == (
        "1.3",
        "Pågår",
        dt.date(2027, 2, 1),
        25000.0,
    )


@pytest.mark.parametrize("column", [c.GOAL, c.ACTION, c.OWNER, c.STATUS])
def test_required_columns(plan: Plan, template: Path, tmp_path: Path, column: str) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, column: None}])
    letter = {c.GOAL: "B", c.ACTION: "C", c.OWNER: "D", c.STATUS: "L"}[column]
    assert ("Åtgärder", f"{letter}2", "error", "required_missing") in flat(result)


@pytest.mark.parametrize("value", ["1.3 Kvinnors situation", "1.3", 1.3, " 1.3 "])
def test_goal_accepts_label_bare_id_and_number(
    plan: Plan, template: Path, tmp_path: Path, value: Any
) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.GOAL: value}])
    assert flat(result) == [] and result.actions.loc[2, c.GOAL] == "1.3"


def test_goal_must_exist_in_the_plan(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(
        plan, template, tmp_path, [{**GOOD, c.GOAL: "9.9"}, {**GOOD, c.GOAL: "Kvinnor"}], concerns={}
    )
    assert flat(result) == [
        ("Åtgärder", "B2", "error", "goal_unknown"),
        ("Åtgärder", "B3", "error", "goal_unknown"),
    ]


def test_status_and_funding_ignore_case_and_spaces(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(
        plan, template, tmp_path, [{**GOOD, c.STATUS: "  pågår ", c.FUNDING: "STATLIG ERSÄTTNING"}]
    )
    assert flat(result) == []
    assert (result.actions.loc[2, c.STATUS], result.actions.loc[2, c.FUNDING]) == (
        "Pågår",
        "Statlig ersättning",
    )


def test_invalid_status_names_the_cell_and_the_choices(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(plan, template, tmp_path, [GOOD, GOOD, GOOD, GOOD, GOOD, {**GOOD, c.STATUS: "Klar"}])
    (problem,) = result.problems
    assert (
        problem.text
        == 'Åtgärder!L7: "Klar" är inte en giltig status. Välj Ej påbörjad, Pågår, Genomförd, Försenad eller Avbruten.'
    )


def test_invalid_funding(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.FUNDING: "Kommunen"}])
    assert flat(result) == [("Åtgärder", "H2", "error", "funding_invalid")]


@pytest.mark.parametrize("value", ["2027-02-01", dt.datetime(2027, 2, 1), 46419])
def test_dates_as_excel_dates_iso_text_or_serial(
    plan: Plan, template: Path, tmp_path: Path, value: Any
) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.START: value}])
    assert flat(result) == [] and result.actions.loc[2, c.START] == dt.date(2027, 2, 1)


@pytest.mark.parametrize("value", ["05/01/2027", "1 mars 2027", "2027-02-30", "snart"])
def test_other_dates_are_errors_never_guessed(plan: Plan, template: Path, tmp_path: Path, value: str) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.START: value}])
    assert flat(result) == [("Åtgärder", "E2", "error", "date_invalid")]


def test_done_not_before_start(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(
        plan,
        template,
        tmp_path,
        [{**GOOD, c.START: dt.datetime(2027, 6, 1), c.DONE: dt.datetime(2027, 5, 1)}],
    )
    assert flat(result) == [("Åtgärder", "F2", "error", "done_before_start")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5000, 5000.0),
        ("5 000", 5000.0),
        ("5 000,50", 5000.5),
        ("5000 kr", 5000.0),
        ("12\u00a0500 kr", 12500.0),
    ],
)
def test_cost_numbers_and_swedish_text(
    plan: Plan, template: Path, tmp_path: Path, value: Any, expected: float
) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.COST: value}])
    assert flat(result) == [] and result.actions.loc[2, c.COST] == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [("ca 5000 kr", "cost_not_number"), ("femtusen", "cost_not_number"), (-100, "cost_negative")],
)
def test_cost_errors(plan: Plan, template: Path, tmp_path: Path, value: Any, code: str) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.COST: value}])
    assert flat(result) == [("Åtgärder", "G2", "error", code)]


def test_action_id_format_and_uniqueness(plan: Plan, template: Path, tmp_path: Path) -> None:
    rows = [
        {**GOOD, c.ACTION_ID: "SOC-2026-001"},
        {**GOOD, c.ACTION_ID: "KS-2026-001"},
        {**GOOD, c.ACTION_ID: "SOC-2026-001"},
        {**GOOD, c.ACTION_ID: "SOC-26-1"},
    ]
    result = check(plan, template, tmp_path, rows)
    assert flat(result) == [
        ("Åtgärder", "A3", "error", "action_id_invalid"),
        ("Åtgärder", "A4", "error", "action_id_duplicate"),
        ("Åtgärder", "A5", "error", "action_id_invalid"),
    ]


def test_concerns_us_yes_no_or_empty(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(plan, template, tmp_path, [GOOD], concerns={"1.3": "ja", "1.4": "Kanske"})
    assert flat(result) == [("Delmål", "D5", "error", "yes_no_invalid")]


def test_warnings_do_not_reject(plan: Plan, template: Path, tmp_path: Path) -> None:
    overdue = {**GOOD, c.GOAL: "2.1", c.DONE: dt.datetime(2027, 2, 15), c.INDICATOR: None}
    result = check(plan, template, tmp_path, [overdue], concerns={"1.3": "Ja"})
    assert flat(result) == [
        ("Delmål", "D4", "warning", "marked_goal_without_action"),
        ("Åtgärder", "B2", "warning", "action_on_unmarked_goal"),
        ("Åtgärder", "F2", "warning", "overdue"),
        ("Åtgärder", "J2", "warning", "indicator_missing"),
    ]


def test_closed_actions_are_not_overdue(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(
        plan, template, tmp_path, [{**GOOD, c.DONE: dt.datetime(2027, 2, 15), c.STATUS: "Genomförd"}]
    )
    assert flat(result) == []


def test_overdue_names_the_computed_fact_not_the_status(plan: Plan, template: Path, tmp_path: Path) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.DONE: dt.datetime(2027, 2, 15)}])
    assert [(p.cell, p.code, p.message) for p in result.problems] == [
        ("F2", "overdue", "Klart-datum passerat, ej avslutad: Klart är 2027-02-15 men status är Pågår.")
    ]
    assert "Försenad" not in result.problems[0].message  # the status's name is kept for the status


def test_a_short_date_typed_the_year_before_is_warned_instead_of_overdue(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    # "31/3" typed in November 2026 becomes 2026-03-31 in the 2027 plan
    result = check(plan, template, tmp_path, [{**GOOD, c.START: None, c.DONE: dt.datetime(2026, 3, 31)}])
    assert [(p.cell, p.kind, p.code, p.message) for p in result.problems] == [
        (
            "F2",
            "warning",
            "date_before_plan_year",
            "Klart 2026-03-31 ligger före planåret 2027. Skrev du 31/3? Ange året: 2027-03-31.",
        )
    ]


@pytest.mark.parametrize(
    ("start", "done", "expected"),
    [
        (
            dt.datetime(2026, 11, 15),
            dt.datetime(2027, 12, 31),
            [("E2", "Start 2026-11-15 ligger före planåret 2027. Skrev du 15/11? Ange året: 2027-11-15.")],
        ),
        (
            None,
            dt.datetime(2024, 2, 29),
            [("F2", "Klart 2024-02-29 ligger före planåret 2027. Skrev du 29/2? Ange året: 2027-02-28.")],
        ),
        (
            dt.datetime(2027, 1, 1),
            dt.datetime(2033, 1, 1),
            [
                (
                    "F2",
                    "Klart 2033-01-01 ligger långt efter planåret 2027, mer än 5 år senare. Kontrollera året.",
                )
            ],
        ),
        (dt.datetime(2027, 1, 1), dt.datetime(2032, 12, 31), []),
    ],
)
def test_dates_outside_the_plan_year(
    plan: Plan, template: Path, tmp_path: Path, start: Any, done: Any, expected: list[tuple[str, str]]
) -> None:
    result = check(plan, template, tmp_path, [{**GOOD, c.START: start, c.DONE: done}])
    assert [(p.cell, p.message) for p in result.problems] == expected
    assert all(p.kind == "warning" for p in result.problems)


def test_an_action_carried_over_keeps_its_own_years(plan: Plan, template: Path, tmp_path: Path) -> None:
    carried = {**GOOD, c.ACTION_ID: "SOC-2025-003", c.START: dt.datetime(2025, 5, 1)}
    too_early = {**carried, c.ACTION_ID: "SOC-2025-004", c.START: dt.datetime(2024, 5, 1)}
    result = check(plan, template, tmp_path, [carried, too_early])
    assert flat(result) == [("Åtgärder", "E3", "warning", "date_before_plan_year")]


def test_formula_with_saved_value_is_read_and_without_is_an_error(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    path = fill_workbook(
        template, tmp_path / "f.xlsx", actions=[{**GOOD, c.COST: "=1000*5"}], concerns={"1.3": "Ja"}
    )
    result = validate_workbook(read_workbook(path, "f.xlsx"), plan, "SOC", "f.xlsx", AS_OF)
    assert flat(result) == [("Åtgärder", "G2", "error", "formula_without_value")]
    assert result.problems[0].message == "Formeln saknar ett sparat värde – skriv in värdet."


def test_columns_found_by_header_rows_below_range_and_empty_rows(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    wb = openpyxl.load_workbook(template)
    ws = wb[c.SHEET_ACTIONS]
    ws.move_range("C1:C400", rows=0, cols=12)  # Åtgärd moved to the far right
    ws.cell(1, 16).value = "Egen kolumn"
    for name, value in GOOD.items():
        col = {cell.value: cell.column for cell in ws[1] if cell.value}[name]
        ws.cell(5, col).value = value
        ws.cell(450, col).value = value
    wb[c.SHEET_GOALS]["D4"] = "Ja"
    path = tmp_path / "flyttad.xlsx"
    wb.save(path)
    result = validate_workbook(read_workbook(path, "flyttad.xlsx"), plan, "SOC", "flyttad.xlsx", AS_OF)
    assert flat(result) == [("Åtgärder", "P1", "warning", "extra_column")]
    assert list(result.actions.index) == [5, 450]
    assert list(result.actions[c.ACTION]) == ["Språkcafé för kvinnor"] * 2


def test_missing_required_column_is_an_error(plan: Plan, template: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(template)
    wb[c.SHEET_ACTIONS]["L1"] = "Läge"
    path = tmp_path / "utan_status.xlsx"
    wb.save(path)
    result = validate_workbook(read_workbook(path, "x.xlsx"), plan, "SOC", "x.xlsx", AS_OF)
    assert ("Åtgärder", "A1", "error", "missing_column") in flat(result)


def test_formula_like_text_stays_text(plan: Plan, template: Path, tmp_path: Path) -> None:
    path = fill_workbook(
        template,
        tmp_path / "t.xlsx",
        actions=[{**GOOD, c.ACTION: '\'=HYPERLINK("x")', c.COMMENT: "+46 70 123"}],
        concerns={"1.3": "Ja"},
    )
    result = validate_workbook(read_workbook(path, "t.xlsx"), plan, "SOC", "t.xlsx", AS_OF)
    assert result.actions.loc[2, c.COMMENT] == "+46 70 123"


def test_parsers_directly() -> None:
    assert parse_goal_id(6.5) == "6.5" and parse_goal_id("6,5 text") == "6.5"
    assert parse_amount("1.500.000 kr") == 1_500_000.0
    assert parse_date("2027-03-01 00:00:00") == dt.date(2027, 3, 1)
    assert parse_date(46419, date1904=True) == dt.date(2031, 2, 2)


# --- properties: Unicode and numbers at the edges ----------------------------------------------

LIST_VALUES = (*c.STATUSES, *c.FUNDING_SOURCES, c.YES, c.NO)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """Returns (a list value, the same value as a careless or hostile program may write it):
    decomposed or composed, another case, spaces around, invisible characters anywhere."""
    value = draw(st.sampled_from(LIST_VALUES))
    text = unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), value)
    text = draw(st.sampled_from([text, text.upper(), text.lower()]))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(sorted(INVISIBLE))) + text[at:]
    return value, draw(st.sampled_from(["", " ", "\u00a0"])) + text + draw(st.sampled_from(["", " "]))


@given(disguised())
def test_a_list_value_matches_however_it_was_written(case: tuple[str, str]) -> None:
    value, written = case
    choices = (
        c.STATUSES
        if value in c.STATUSES
        else c.FUNDING_SOURCES
        if value in c.FUNDING_SOURCES
        else (c.YES, c.NO)
    )
    assert parse_choice(written, choices) == value


@given(st.text())
def test_bare_text_has_no_invisible_characters_and_is_nfc(text: str) -> None:
    result = bare(text)
    assert not INVISIBLE & set(result)
    assert unicodedata.is_normalized("NFC", result)


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.text(alphabet="0123456789 .,-kr", max_size=400),
        st.from_regex(r"[0-9]{1,400}", fullmatch=True),
    )
)
def test_a_cost_is_never_infinite_nan_or_absurd(value: object) -> None:
    amount = parse_amount(value)
    if isinstance(amount, float):
        assert math.isfinite(amount) and amount <= MAX_COST
    if isinstance(value, float) and not math.isfinite(value):
        assert amount is not None  # refused, never taken for an empty cell


@given(
    st.one_of(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        st.dates().map(
            lambda d: d.isoformat() if d.year >= 1000 else f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
        ),
        st.integers(-(10**6), 10**7),
    )
)
def test_a_date_is_always_within_the_window(value: object) -> None:
    found = parse_date(value)
    if isinstance(found, dt.date):
        assert FIRST_DATE_YEAR <= found.year <= LAST_DATE_YEAR
