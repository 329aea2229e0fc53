"""Hostile and careless values that reach the reports (issue 18): numbers at the edges, long
text, a delmål a revised plan dropped, and next year's template handed back unchanged."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from pipeline import combine as k
from pipeline import contract as c
from pipeline import store
from pipeline.combine import (
    ACTION_TABLE_COLUMNS,
    DROPPED_GOALS,
    TOTAL,
    Consolidated,
    DepartmentStatus,
    combine,
)
from pipeline.config import Settings
from pipeline.plan import Plan, parse_plan
from pipeline.read import read_workbook
from pipeline.report import write_reports
from pipeline.report.summary import summary_context
from pipeline.report.workbooks import CELL_LIMIT, CUT_MARKER, NOT_SUMMABLE
from pipeline.template import carried_over, write_template
from pipeline.validate import validate_workbook

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)


def _action(goal: str, text: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(c.ACTION_COLUMNS)
    row.update(
        {
            c.GOAL: goal,
            c.ACTION: text,
            c.OWNER: "Enhetschef",
            c.START: dt.date(2027, 1, 1),
            c.DONE: dt.date(2027, 12, 31),
            c.COST: 1000.0,
            c.FUNDING: c.FUNDING_SOURCES[0],
            c.INDICATOR: "Antal deltagare",
            c.STATUS: c.IN_PROGRESS,
        }
    )
    row.update(extra)
    return row


def _combine(plan: Plan, by_department: dict[str, list[dict[str, Any]]]) -> Consolidated:
    """Returns the consolidated plan of these actions per förvaltning, as clean data gives them."""
    tables = {
        code: (
            [{name: a.get(name) for name in c.ACTION_COLUMNS} for a in actions],
            [(g.id, None) for g in plan.goals],
        )
        for code, actions in by_department.items()
    }
    statuses = [
        DepartmentStatus(d.code, d.name, d.code in tables, f"{d.code}.xlsx", "2027-02-01T08:00:00+00:00")
        for d in plan.departments
    ]
    return combine(plan, YEAR, AS_OF, tables, statuses)


def _values(ws: Any) -> list[Any]:
    return [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]


# Numbers: xlsxwriter refuses NaN and inf; no cost may crash the report.


def test_costs_at_infinity_or_whose_sum_overflows_still_give_every_report(plan: Plan, tmp_path: Path) -> None:
    actions = [
        _action("1.1", "Oändlig", **{c.COST: math.inf}),
        _action("1.1", "Minus oändlig", **{c.COST: -math.inf}),
        _action("1.2", "Störst", **{c.COST: 1e308}),
        _action("1.2", "Lika stor", **{c.COST: 1e308}),
        _action("2.1", "Vanlig", **{c.COST: 1234.56}),
    ]
    result = _combine(plan, {"SOC": actions})
    paths = write_reports(result, Settings(outbox=tmp_path))
    assert all(p.is_file() for p in paths)
    costs = dict(zip(result.actions[c.ACTION], result.actions[c.COST], strict=True))
    assert math.isnan(costs["Oändlig"]) and math.isnan(costs["Minus oändlig"])  # missing, like an empty cell
    table = list(openpyxl.load_workbook(paths[0])["Åtgärder"].iter_rows(values_only=True))
    cost_col = ACTION_TABLE_COLUMNS.index(c.COST)
    assert [r[cost_col] for r in table[1:]] == [None, None, 1e308, 1e308, 1234.56]
    ekonomi = {
        r[0]: r for r in openpyxl.load_workbook(paths[1])["Ekonomi"].iter_rows(values_only=True) if r[0]
    }
    assert ekonomi[TOTAL][-1] == NOT_SUMMABLE  # 2e308 is no float
    assert ekonomi[plan.area(2).label][-1] == 1234.56
    overview = {r[0]: r[1] for r in openpyxl.load_workbook(paths[1])["Översikt"].iter_rows(values_only=True)}
    assert overview["Total kostnad (kr)"] == NOT_SUMMABLE
    html = paths[2].read_text(encoding="utf-8")
    assert "Åtgärdernas totala kostnad kan inte summeras: beloppen är för stora." in html
    assert not re.search(r"\b(inf|nan)\b", paths[3].read_text(encoding="utf-8"), re.IGNORECASE)


def test_infinite_costs_count_as_missing_and_the_rest_add_up_exactly(plan: Plan, tmp_path: Path) -> None:
    amounts = [0.1] * 10 + [math.inf, 1e15]
    result = _combine(
        plan, {"UTB": [_action("3.1", f"Åtgärd {i}", **{c.COST: a}) for i, a in enumerate(amounts)]}
    )
    expected = math.fsum([0.1] * 10 + [1e15])
    assert k.figures(result).total_cost == expected
    assert k.cost_by_area_and_funding(result).loc[TOTAL, TOTAL] == expected
    paths = write_reports(result, Settings(outbox=tmp_path))
    overview = {r[0]: r[1] for r in openpyxl.load_workbook(paths[1])["Översikt"].iter_rows(values_only=True)}
    assert overview["Total kostnad (kr)"] == expected


def test_cost_sum_leaves_out_what_is_not_a_finite_amount() -> None:
    assert k.cost_sum([1.5, math.nan, math.inf, -math.inf, None, "12", 2]) == 3.5
    assert math.isnan(k.cost_sum([1e308, 1e308]))
    assert k.cost_sum([]) == 0.0


# Text longer than a cell holds.


def test_a_text_longer_than_a_cell_is_cut_with_a_visible_marker(plan: Plan, tmp_path: Path) -> None:
    long = "ord " * 10_000  # 40 000 characters
    result = _combine(plan, {"SOC": [_action("1.1", long, **{c.COMMENT: "x" * CELL_LIMIT})]})
    paths = write_reports(result, Settings(outbox=tmp_path))
    for path in paths[:2]:
        ws = openpyxl.load_workbook(path)["Åtgärder"]
        row = next(ws.iter_rows(min_row=2, max_row=2, values_only=True))
        action, comment = (
            row[ACTION_TABLE_COLUMNS.index(c.ACTION)],
            row[ACTION_TABLE_COLUMNS.index(c.COMMENT)],
        )
        assert (
            len(action) == CELL_LIMIT
            and action.endswith(CUT_MARKER)
            and long.startswith(action[: -len(CUT_MARKER)])
        )
        assert comment == "x" * CELL_LIMIT  # at the limit: whole
    plan_sheet = _values(openpyxl.load_workbook(paths[0])["Handlingsplan"])
    assert any(isinstance(v, str) and v.endswith(CUT_MARKER) for v in plan_sheet)


# Characters that change what a reader sees: shown as escapes, never raw.

HIDDEN = "\u202e\u2066\u2069\u200b\u200f\ufeff\x07\x1b\u2028"
"""A right-to-left override, an isolate and its end, a zero-width space, a right-to-left mark,
a byte order mark, a bell, an escape and a line separator."""


def test_bidi_and_zero_width_characters_are_shown_visibly_in_every_output(plan: Plan, tmp_path: Path) -> None:
    forged = "Godkänd \u202eexcel.exe\u202c av KS"
    actions = [
        _action(
            "1.1",
            forged,
            **{c.DONE: dt.date(2027, 2, 1), c.OWNER: "Chef\u200bAnna", c.COMMENT: "rad 1\nrad\u20662"},
        ),
        _action("1.2", f"Allt{HIDDEN}på en gång", **{c.INDICATOR: "\x07larm"}),
    ]
    rejected = k.Rejection(
        "faktura\u202excod.xlsx", "KS", "2027-02-02T09:00:00+00:00", 1, ("Fel\u200b i cell",)
    )
    result = replace(_combine(plan, {"SOC": actions}), rejections=(rejected,))
    paths = write_reports(result, Settings(outbox=tmp_path))
    html, markdown = (path.read_text(encoding="utf-8") for path in paths[2:4])
    for text in (html, markdown):
        assert not set(HIDDEN + "\u202c") & set(text)
    escape = r"Godkänd \u202eexcel.exe\u202c av KS"
    assert escape in html  # the overdue action, as its escapes read
    assert escape.replace("\\", "\\\\") in markdown  # Markdown doubles a backslash to show it
    strings = [
        value
        for path in paths[:2]
        for ws in openpyxl.load_workbook(path).worksheets
        for value in _values(ws)
        if isinstance(value, str)
    ]
    assert not [v for v in strings if set(HIDDEN + "\u202c") & set(v)]
    assert "Godkänd \\u202eexcel.exe\\u202c av KS" in strings and "Chef\\u200bAnna" in strings
    assert "rad 1\nrad\\u20662" in strings  # line breaks kept in a cell
    assert "\\x07larm" in strings
    assert "faktura\\u202excod.xlsx" in strings and r"faktura\u202excod.xlsx" in html


# A revised plan that drops a delmål an accepted action still names.


@pytest.fixture(scope="module")
def without_goal(plan: Plan) -> Plan:
    """The plan as revised: delmål 1.3 and 2.5 dropped."""
    data = yaml.safe_load(yaml.safe_dump(dict(plan.source), allow_unicode=True))
    for area in data["malomraden"]:
        area["delmal"] = [g for g in area["delmal"] if str(g["id"]) not in ("1.3", "2.5")]
    revised = parse_plan(yaml.safe_dump(data, allow_unicode=True), source="reviderad.yaml")
    assert "1.3" not in {g.id for g in revised.goals} and len(revised.goals) == len(plan.goals) - 2
    return revised


@pytest.fixture(scope="module")
def dropped_result(without_goal: Plan) -> Consolidated:
    return _combine(
        without_goal,
        {
            "SOC": [
                _action("1.1", "Språkcafé", **{c.COST: 5000.0}),
                _action("1.3", "Kvinnors svenska", **{c.COST: 20000.0, c.STATUS: c.DELAYED}),
                _action("2.5", "Föreningsguide", **{c.COST: None, c.DONE: dt.date(2027, 2, 1)}),
            ],
            "UTB": [
                _action("1.3", "Studiecirkel", **{c.COST: 7000.5, c.FUNDING: None, c.STATUS: c.COMPLETED}),
                _action("3.1", "Läxhjälp", **{c.COST: 3000.0}),
            ],
        },
    )


@pytest.fixture(scope="module")
def dropped_paths(dropped_result: Consolidated, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    return write_reports(dropped_result, Settings(outbox=tmp_path_factory.mktemp("ut")))


WARNING = (
    "Varning: 3 åtgärder hör till delmål som inte längre finns i planen (1.3 och 2.5). De visas här "
    "och räknas med i alla summor; förvaltningen behöver välja ett delmål ur den gällande planen nästa gång."
)


def test_actions_of_a_dropped_goal_stay_visible_with_a_warning(dropped_paths: tuple[Path, ...]) -> None:
    action_plan, follow_up, html, markdown, _pdf = dropped_paths
    shown = _values(openpyxl.load_workbook(action_plan)["Handlingsplan"])
    assert DROPPED_GOALS in shown and WARNING in shown
    assert {"Kvinnors svenska", "Studiecirkel", "Föreningsguide"} <= set(shown)
    assert (
        shown.index(DROPPED_GOALS)
        < shown.index("1.3 Finns inte längre i planen.")
        < shown.index("Studiecirkel")
    )
    deviations = _values(openpyxl.load_workbook(follow_up)["Avvikelser"])
    assert DROPPED_GOALS in deviations and WARNING in deviations
    assert {"SOC-2027-002", "UTB-2027-001", "SOC-2027-003"} <= set(deviations)
    for text in (html.read_text(encoding="utf-8"), markdown.read_text(encoding="utf-8")):
        assert DROPPED_GOALS in text and WARNING in text
        assert "Kvinnors svenska" in text and "Studiecirkel" in text and "Föreningsguide" in text


def _count(cell: Any) -> int:
    """Returns the number of actions in an Ansvarsmatris cell ("Ja · 2", "– · 1", "Nej", None)."""
    match = re.search(r"· (\d+)$", str(cell or ""))
    return int(match.group(1)) if match else 0


def _table_below(rows: list[tuple[Any, ...]], first_header: str, start: int = 0) -> list[tuple[Any, ...]]:
    """Returns the rows of the table whose header row starts with `first_header`, to its Totalt row."""
    top = next(i for i, r in enumerate(rows) if i >= start and r[0] == first_header)
    end = next(i for i, r in enumerate(rows) if i > top and r[0] == TOTAL)
    return rows[top : end + 1]


def _assert_adds_up(table: list[tuple[Any, ...]], width: int, exact: bool = True) -> None:
    """Asserts every Totalt column cell is its row's sum and the Totalt row each column's sum."""
    header, body, total = table[0], table[1:-1], table[-1]
    last = list(header).index(TOTAL)
    same = (lambda a, b: a == b) if exact else (lambda a, b: math.isclose(a, b, rel_tol=1e-12))
    for row in [*body, total]:
        assert same(row[last], math.fsum(row[1:last])), row
    for col in range(1, last + 1):
        assert same(total[col], math.fsum(r[col] for r in body)), header[col]
    assert width == last


def test_every_table_adds_up_to_its_totals(
    dropped_result: Consolidated, dropped_paths: tuple[Path, ...]
) -> None:
    actions = len(dropped_result.actions)
    assert actions == 5
    follow_up = openpyxl.load_workbook(dropped_paths[1])
    status = [r for r in follow_up["Status"].iter_rows(values_only=True)]
    by_area = _table_below(status, k.AREA)
    _assert_adds_up(by_area, len(c.STATUSES) + 1)
    assert [r[0] for r in by_area][-2] == DROPPED_GOALS and by_area[-2][len(c.STATUSES) + 1] == 3
    by_department = _table_below(status, c.DEPARTMENT)
    _assert_adds_up(by_department, len(c.STATUSES) + 1)
    assert by_area[-1][len(c.STATUSES) + 1] == by_department[-1][len(c.STATUSES) + 1] == actions

    costs = _table_below(list(follow_up["Ekonomi"].iter_rows(values_only=True)), k.AREA)
    _assert_adds_up(costs, len(c.FUNDING_SOURCES) + 2, exact=False)
    assert costs[-1][-1] == 35000.5 == k.figures(dropped_result).total_cost
    overview = {r[0]: r[1] for r in follow_up["Översikt"].iter_rows(values_only=True)}
    assert overview["Åtgärder"] == actions and overview["Total kostnad (kr)"] == 35000.5

    matrix = list(openpyxl.load_workbook(dropped_paths[0])["Ansvarsmatris"].iter_rows(values_only=True))
    header = next(r for r in matrix if r[0] == c.GOAL_ID)
    goals = [r for r in matrix if r[0] not in (None, TOTAL, c.GOAL_ID) and r[1] is not None]
    totals = next(r for r in matrix if r[0] == TOTAL)
    codes = range(2, len(header) - 1)
    for row in goals:
        assert row[-1] == sum(_count(row[col]) for col in codes), row
    for col in codes:
        assert totals[col] == sum(_count(r[col]) for r in goals), header[col]
    assert totals[-1] == sum(r[-1] for r in goals) == actions
    assert {r[0]: r[-1] for r in goals}["1.3"] == 2


def test_the_summary_adds_up_to_its_totals(dropped_result: Consolidated) -> None:
    context = summary_context(dropped_result)
    rows = context["status_rows"]
    assert isinstance(rows, list)
    for _, counts, total in rows:
        assert sum(counts) == total
    *body, (label, column_totals, grand) = rows
    assert label == TOTAL and [sum(r[1][i] for r in body) for i in range(len(c.STATUSES))] == column_totals
    assert body[-1][0] == DROPPED_GOALS
    assert dict(context["key_figures"])["Åtgärder"] == str(grand) == "5"
    areas = sum(a.actions for a in context["areas"])
    assert areas + len(context["dropped"].actions) == grand
    matrix = k.responsibility_matrix(dropped_result)
    assert sum(n for column in matrix.columns for _, n in matrix[column]) == grand
    assert "1.3" in dict(context["matrix_rows"])


# Next year's template takes back exactly what this year's outputs put in it.

EXTREMES = [
    _action(
        "1.1",
        "Å" * 32_000,
        **{c.ACTION_ID: "SOC-2027-1000", c.START: dt.date(1900, 1, 1), c.DONE: dt.date(2200, 12, 31)},
    ),
    _action(
        "1.2", "Decimaler", **{c.COST: 1234.56, c.START: dt.date(1900, 3, 1), c.DONE: dt.date(2199, 1, 1)}
    ),
    _action("1.3", "Lång kommentar", **{c.COMMENT: "k" * 32_767, c.OWNER: "ä" * 5_000, c.COST: 0.5}),
    _action("2.1", "Ny utan id"),
]


def test_next_years_template_takes_back_this_years_extremes(plan: Plan, tmp_path: Path) -> None:
    settings = Settings(outbox=tmp_path / "ut")
    result = _combine(plan, {"SOC": EXTREMES})
    assert list(result.actions[c.ACTION_ID]) == [
        "SOC-2027-1000",
        "SOC-2027-1001",
        "SOC-2027-1002",
        "SOC-2027-1003",
    ]
    write_reports(result, settings)
    kept = store.previous_plan(settings, YEAR + 1, ACTION_TABLE_COLUMNS)
    assert kept is not None
    options = carried_over(plan, YEAR + 1, kept.actions, kept.concerns)
    assert len(options["SOC"].carried_actions) == len(EXTREMES)
    path = write_template(plan, plan.department("SOC"), options["SOC"], tmp_path / "SOC.xlsx")
    raw = read_workbook(path, path.name)
    assert not raw.problems
    checked = validate_workbook(raw, plan, "SOC", path.name, dt.date(YEAR + 1, 3, 1))
    errors = [(p.cell, p.code, p.message) for p in checked.problems if p.kind == "error"]
    assert errors == [], "\n".join(map(str, errors))
    back = checked.actions
    assert list(back[c.ACTION_ID]) == list(result.actions[c.ACTION_ID])
    assert list(back[c.START]) == list(result.actions[c.START])
    assert list(back[c.DONE]) == list(result.actions[c.DONE])
    assert [float(v) for v in back[c.COST]] == [1000.0, 1234.56, 0.5, 1000.0]
    assert list(back[c.ACTION]) == list(result.actions[c.ACTION])
    assert list(back[c.COMMENT])[2] == "k" * 32_767
