"""Property-based tests: random but plausible fillings of the real template.

Whatever a person types (any Unicode, text starting with = + - @, very long text, numbers,
dates, empty rows anywhere down to row 400): checking and feedback never crash, every
problem names a cell that exists, a rejected workbook gets its marked copy, and
everything accepted reaches the consolidated table unchanged through the store's clean
data (text after `parse_text`, the pipeline's documented normalisation).

The stages are called as the collect and report flows call them, without Prefect: the
flows themselves run in tests/test_corpus.py and tests/test_cycle.py.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from pipeline import contract as c
from pipeline import store
from pipeline.check import Plans, check_submission, clean_data, ledger_record
from pipeline.combine import TOTAL, combine_submissions, cost_by_area_and_funding, figures
from pipeline.config import MAX_COST, Cycle, Settings
from pipeline.flows import handle_batch
from pipeline.plan import Plan
from pipeline.problems import CATALOGUE
from pipeline.records import Pending
from pipeline.validate import parse_text
from tests.corpus import AS_OF, OLD, YEAR, sheet_part
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

EXCEL_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
"""Excel's own escape for control characters in XML; a cell cannot hold it literally via openpyxl."""

_characters = st.characters(exclude_categories=("Cs", "Cc", "Cn"))
_plain = st.text(st.one_of(_characters, st.sampled_from("\t\n =+-@|<>&\"'")), max_size=60)
_prefixed = st.builds(
    lambda p, t: p + t, st.sampled_from(["=", "+", "-", "@", "\t", " ", "=HYPERLINK("]), _plain
)
_long = st.builds(
    lambda t, n: (t or "x") * n, st.text(_characters, min_size=1, max_size=20), st.integers(100, 400)
)
_numeric_text = st.builds(str, st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False)))
TEXT = st.one_of(_plain, _prefixed, _long, _numeric_text).filter(
    lambda t: "\r" not in t and not EXCEL_ESCAPE.search(t) and len(t) <= 32_000
)
REQUIRED_TEXT = TEXT.filter(lambda t: bool(t.strip()))
DATE = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).map(lambda d: dt.datetime(d.year, d.month, d.day))
COST = st.one_of(st.none(), st.integers(0, 10**12), st.integers(0, 10**11).map(lambda ore: ore / 100))
"""Kronor, whole or with öre (Excel keeps 15 significant digits, so no wilder floats)."""
OPTIONAL_TEXT_COLUMNS = (c.PARTNERS, c.INDICATOR, c.TARGET, c.OUTCOME, c.COMMENT)


@st.composite
def actions(draw: st.DrawFn, goal_ids: list[str]) -> dict[int, dict[str, Any]]:
    """Returns Excel row → a plausible action, on random rows between 2 and 400."""
    rows = draw(st.lists(st.integers(2, 400), min_size=1, max_size=6, unique=True))
    found = {}
    for row in sorted(rows):
        start = draw(st.one_of(st.none(), DATE))
        done = draw(st.one_of(st.none(), DATE))
        if start and done and done < start:
            start, done = done, start
        action: dict[str, Any] = {
            c.GOAL: draw(st.sampled_from(goal_ids)),
            c.ACTION: draw(REQUIRED_TEXT),
            c.OWNER: draw(REQUIRED_TEXT),
            c.STATUS: draw(st.sampled_from(c.STATUSES)),
            c.START: start,
            c.DONE: done,
            c.COST: draw(COST),
            c.FUNDING: draw(st.one_of(st.none(), st.sampled_from(c.FUNDING_SOURCES))),
        }
        for name in OPTIONAL_TEXT_COLUMNS:
            action[name] = draw(st.one_of(st.none(), TEXT))
        found[row] = action
    return found


def write_submission(template: Path, target: Path, filled: dict[int, dict[str, Any]]) -> Path:
    """Fills the template cell by cell; text is stored as text even when it starts with '='."""
    wb = openpyxl.load_workbook(template)
    ws = wb[c.SHEET_ACTIONS]
    columns = {cell.value: cell.column for cell in ws[1] if cell.value}
    for row, action in filled.items():
        for name, value in action.items():
            cell = ws.cell(row, columns[name])
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    os.utime(target, (OLD, OLD))
    return target


@pytest.fixture(scope="module")
def template(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(plan, "SOC", YEAR, tmp_path_factory.mktemp("mall"))


def _assert_cells_exist(path: Path, problems: Any) -> None:
    wb = openpyxl.load_workbook(path)
    for problem in problems:
        if not problem.sheet:
            assert not problem.cell, problem
            continue
        assert problem.sheet in wb.sheetnames, problem
        if not problem.cell:
            continue
        letters, row = coordinate_from_string(problem.cell)
        ws = wb[problem.sheet]
        assert 1 <= row <= ws.max_row, problem
        assert 1 <= column_index_from_string(letters) <= ws.max_column, problem
        assert problem.row == row, problem


def _same(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return bool(expected == actual)


def _expected(action: dict[str, Any]) -> dict[str, Any]:
    """Returns what the consolidated table must hold for an action as written."""
    # Text is kept in NFC, whatever form it was typed in (macOS writes NFD).
    found = {
        name: unicodedata.normalize("NFC", text)
        if isinstance(text := parse_text(action[name]), str)
        else text
        for name in (c.ACTION, c.OWNER, *OPTIONAL_TEXT_COLUMNS)
    }
    found[c.GOAL] = action[c.GOAL]
    found[c.STATUS] = action[c.STATUS]
    found[c.FUNDING] = action[c.FUNDING]
    found[c.COST] = None if action[c.COST] is None else float(action[c.COST])
    for name in (c.START, c.DONE):
        found[name] = action[name].date() if action[name] else None
    return found


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_fillings_never_crash_and_round_trip(template: Path, plan: Plan, data: st.DataObject) -> None:
    filled = data.draw(actions([g.id for g in plan.goals]), label="actions")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(inbox=root / "inbox", outbox=root / "outbox")
        path = write_submission(template, settings.inbox / "plan.xlsx", filled)
        item = Pending("plan.xlsx", "ab" * 32, path, path.stat().st_size, "2027-02-27T08:00:00+00:00")

        plans = Plans(plan, settings.plans_dir)
        (handled,) = handle_batch([item], plans, Cycle(YEAR, AS_OF), settings)
        checked = check_submission(path, item.name, plans, YEAR, AS_OF)  # what the batch found
        written = settings.feedback_paths(YEAR, checked.department, item.digest)

        assert written.html.is_file() and written.markdown.is_file()
        assert written.marked.is_file() != checked.accepted
        assert handled.record.verdict == ("accepted" if checked.accepted else "rejected")
        _assert_cells_exist(path, checked.problems)
        event(
            "accepted"
            if checked.accepted
            else "rejected: " + ", ".join(sorted({p.code for p in checked.problems}))
        )
        if not checked.accepted:
            return
        kept = store.read_clean_data(settings.clean_data_file(YEAR, item.digest))
        assert kept is not None
        record = handled.record
        table = combine_submissions(plan, YEAR, AS_OF, {"SOC": (record, kept)}).actions
        assert len(table) == len(filled)
        for (row, action), (_, got) in zip(filled.items(), table.iterrows(), strict=True):
            for name, value in _expected(action).items():
                assert _same(value, got[name]), (row, name, value, got[name])
            assert got[c.DEPARTMENT] == "SOC"
            assert re.fullmatch(rf"SOC-{YEAR}-\d{{3}}", got[c.ACTION_ID])
        assert isinstance(table[c.COST].dtype, type(pd.Series([1.0]).dtype))


# --- issue 18: the Unicode and number classes ----------------------------------------------------

ROUND_TWO_EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES_ROUND_TWO", "8"))
"""Examples per workbook property below: each writes and checks one workbook (about a second)."""

INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space, non-joiner, joiner, word joiner, BOM
    "\u200e\u200f\u061c"  # left-to-right and right-to-left marks, Arabic letter mark
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
"""Characters that change how text looks or reads without showing themselves."""

NO_SHRINKING = (Phase.explicit, Phase.reuse, Phase.generate)
"""Each example writes a workbook: shrinking a failure would take minutes, the example is shown as found."""

BIDI_AND_CONTROLS = frozenset(INVISIBLE) | {chr(n) for n in (*range(0x20), *range(0x7F, 0xA0))}


@st.composite
def normal_forms(draw: st.DrawFn, text: str) -> str:
    """Returns `text` with each character in NFC or NFD, chosen independently."""
    return "".join(
        unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), ch)
        for ch in unicodedata.normalize("NFC", text)
    )


@st.composite
def with_invisible(draw: st.DrawFn, text: str) -> str:
    """Returns `text` with one to three invisible characters inserted anywhere."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(INVISIBLE)) + text[at:]
    return text


def _check_filled(
    template: Path,
    plan: Plan,
    rows: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    costs: list[float] | None = None,
) -> Any:
    """Returns check_submission's result for the template filled with `rows` from row 2,
    the Åtgärder headers renamed by `headers`, Delmål 1.3 marked Ja (as a person fills it);
    `costs` are then written as raw numbers into Kostnad's cells (see `_raw_costs`)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        target = root / "plan.xlsx"
        fill_workbook(template, target, actions=rows, concerns={"1.3": c.YES})
        if headers:
            wb = openpyxl.load_workbook(target)
            ws = wb[c.SHEET_ACTIONS]
            for cell in ws[1]:
                if cell.value in headers:
                    cell.value = headers[cell.value]
            wb.save(target)
        if costs is not None:
            _raw_costs(target, costs)
        plans = Plans(plan, root / "planer")
        return check_submission(target, "plan.xlsx", plans, YEAR, AS_OF)


NON_FINITE_XML = {math.inf: "1e309", -math.inf: "-1e309"}
"""How a non-finite number is written into a sheet: openpyxl leaves such a cell empty, a
hostile program writes a number too large for a float (or NaN)."""


def _raw_costs(path: Path, costs: list[float]) -> None:
    """Rewrites Kostnad of rows 2.. as the numbers `costs`, straight into the sheet XML."""
    wb = openpyxl.load_workbook(path)
    letter = openpyxl.utils.get_column_letter(
        {cell.value: cell.column for cell in wb[c.SHEET_ACTIONS][1]}[c.COST]
    )
    part = sheet_part(path, c.SHEET_ACTIONS)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    xml = members[part].decode("utf-8")
    for row, cost in enumerate(costs, start=2):
        text = "NaN" if math.isnan(cost) else NON_FINITE_XML.get(cost, repr(cost))
        cell = f"{letter}{row}"
        attributes = re.search(rf'<c r="{cell}"([^>]*?)\s*/?>', xml)
        assert attributes is not None, cell
        kept = attributes.group(1).replace(' t="n"', "")
        replacement = f'<c r="{cell}"{kept} t="n"><v>{text}</v></c>'
        xml, found = re.subn(rf'<c r="{cell}"[^>]*?(?:/>|>.*?</c>)', lambda _, r=replacement: r, xml, count=1)
        assert found == 1, (letter, row)
    members[part] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _codes_of(checked: Any) -> set[str]:
    return {p.code for p in checked.problems}


@pytest.fixture(scope="module")
def baseline(template: Path, plan: Plan) -> Any:
    """The GOOD action, checked: accepted without a problem (what every variant must match)."""
    checked = _check_filled(template, plan, [GOOD_ACTION])
    assert checked.accepted and not checked.problems, [p.text for p in checked.problems]
    return checked


@settings(
    max_examples=ROUND_TWO_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=NO_SHRINKING,
)
@given(data=st.data())
def test_nfc_and_nfd_validate_alike(template: Path, plan: Plan, baseline: Any, data: st.DataObject) -> None:
    """Any mix of NFC and NFD in a Status, a Delmål, a Finansiering and the headers checks as NFC does."""
    status = data.draw(st.sampled_from([s for s in c.STATUSES if s != unicodedata.normalize("NFD", s)]))
    row = {
        **GOOD_ACTION,
        c.STATUS: data.draw(normal_forms(status), label="status"),
        c.OWNER: data.draw(normal_forms("Förvaltningschef på äldreomsorgen"), label="owner"),
        c.FUNDING: data.draw(normal_forms(str(GOOD_ACTION[c.FUNDING])), label="funding"),
    }
    headers = {h: data.draw(normal_forms(h), label=h) for h in (c.ACTION, c.ACTION_ID, c.GOAL, c.COST)}
    checked = _check_filled(template, plan, [row], headers)
    assert checked.accepted, [p.text for p in checked.problems]
    assert _codes_of(checked) == _codes_of(baseline)
    actions = checked.validated.actions
    assert actions.at[2, c.STATUS] == status
    assert actions.at[2, c.OWNER] == "Förvaltningschef på äldreomsorgen"


IDENTIFIER_ERRORS = frozenset({"status_invalid", "action_id_invalid", "goal_unknown", "funding_invalid"})
"""What an identifier or list value with an invisible character may be rejected as, when not stripped."""


@settings(
    max_examples=ROUND_TWO_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=NO_SHRINKING,
)
@given(data=st.data())
def test_invisible_characters_in_identifiers_are_stripped_or_refused(
    template: Path, plan: Plan, data: st.DataObject
) -> None:
    """Bidi and zero-width characters in Åtgärds-ID, Status, Delmål and Finansiering: each value is
    either read without them or refused with a catalogue error for its cell; never a crash."""
    clean = {
        c.ACTION_ID: "SOC-2027-001",
        c.STATUS: c.IN_PROGRESS,
        c.GOAL: "1.3",
        c.FUNDING: GOOD_ACTION[c.FUNDING],
    }
    dirty = {name: data.draw(with_invisible(str(value)), label=name) for name, value in clean.items()}
    checked = _check_filled(template, plan, [{**GOOD_ACTION, **dirty}])
    codes = _codes_of(checked)
    assert "unreadable" not in codes, [p.detail for p in checked.problems]
    assert codes <= IDENTIFIER_ERRORS | {"marked_goal_without_action", "action_on_unmarked_goal"}, codes
    if checked.accepted:
        for name, value in clean.items():
            assert checked.validated.actions.at[2, name] == value, name
    else:
        refused = {p.column for p in checked.problems if p.code in IDENTIFIER_ERRORS}
        assert refused and refused <= set(clean), refused


@settings(max_examples=300, deadline=None)
@given(st.text(st.one_of(st.characters(), st.sampled_from(sorted(BIDI_AND_CONTROLS))), max_size=40))
def test_visible_leaves_no_raw_control_or_bidi_character(text: str) -> None:
    """pipeline.text.visible: no control, bidi or zero-width character survives; printable text is kept."""
    from pipeline.text import visible

    shown = visible(text)
    assert not (set(shown) & BIDI_AND_CONTROLS), repr(shown)
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs") for ch in shown), repr(shown)
    assert visible(shown) == shown
    if text.isprintable():
        assert shown == text


def test_visible_escapes_a_name_that_is_not_utf8() -> None:
    from pipeline.text import visible

    assert visible(os.fsdecode(b"\xff\xfe.xlsx")) == "\\xff\\xfe.xlsx"
    assert visible("SOC\u202eslx.xlsx") == "SOC\\u202eslx.xlsx"


COSTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0, 5e-324, 1e15, 10_000_000_000.0]),
    st.integers(-(10**20), 10**20).map(float),
)


@settings(
    max_examples=ROUND_TWO_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=NO_SHRINKING,
)
@given(costs=st.lists(COSTS, min_size=1, max_size=6))
def test_any_float_cost_is_accepted_finite_or_refused(template: Path, plan: Plan, costs: list[float]) -> None:
    """Any float in Kostnad (inf, nan, huge, negative, tiny): each row is accepted with a finite
    amount equal to the one written, or refused with a catalogue error on that row's Kostnad."""
    checked = _check_filled(template, plan, [{**GOOD_ACTION, c.COST: 0} for _ in costs], costs=costs)
    codes = _codes_of(checked)
    assert "unreadable" not in codes, [p.detail for p in checked.problems]
    assert all(code in CATALOGUE for code in codes)
    refused = {p.row for p in checked.problems if p.kind == "error" and p.column == c.COST}
    assert {p.row for p in checked.problems if p.kind == "error"} <= refused, [
        p.text for p in checked.problems
    ]
    for row, cost in enumerate(costs, start=2):
        if not math.isfinite(cost) or cost < 0 or cost > MAX_COST:
            assert row in refused, (row, cost)
    if checked.accepted:
        kept = checked.validated.actions[c.COST]
        for row, cost in enumerate(costs, start=2):
            assert math.isfinite(kept.at[row]) and kept.at[row] == cost, (row, cost, kept.at[row])


@settings(
    max_examples=ROUND_TWO_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=NO_SHRINKING,
)
@given(data=st.data())
def test_cost_totals_equal_the_sum_of_their_rows(template: Path, plan: Plan, data: st.DataObject) -> None:
    """Finite costs, each within the ceiling: every total of the cost table is the sum of its cells,
    and the follow-up's total is the sum of the actions' costs."""
    goals = [g.id for g in plan.goals]
    rows = [
        {
            **GOOD_ACTION,
            c.GOAL: data.draw(st.sampled_from(goals)),
            c.FUNDING: data.draw(st.one_of(st.none(), st.sampled_from(c.FUNDING_SOURCES))),
            c.COST: data.draw(st.one_of(st.none(), st.integers(0, MAX_COST), st.floats(0, MAX_COST))),
        }
        for _ in range(data.draw(st.integers(1, 8)))
    ]
    concerns = {row[c.GOAL]: c.YES for row in rows}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        target = fill_workbook(template, root / "plan.xlsx", actions=rows, concerns=concerns)
        checked = check_submission(target, "plan.xlsx", Plans(plan, root / "planer"), YEAR, AS_OF)
    assert checked.accepted, [p.text for p in checked.problems]
    item = Pending("plan.xlsx", "cd" * 32, target, 1, "2027-02-27T08:00:00+00:00")
    record = ledger_record(item, checked, feedback=None, archived="plan.xlsx", processed=OLD)
    consolidated = combine_submissions(plan, YEAR, AS_OF, {"SOC": (record, clean_data(checked))})
    written = [float(r[c.COST]) for r in rows if r[c.COST] is not None]
    assert figures(consolidated).total_cost == pytest.approx(math.fsum(written), rel=1e-12, abs=1e-6)
    table = cost_by_area_and_funding(consolidated)
    cells = table.drop(index=TOTAL, columns=TOTAL)
    for label, row in cells.iterrows():
        assert table.at[label, TOTAL] == pytest.approx(math.fsum(row), rel=1e-12, abs=1e-6), label
    for name in cells.columns:
        assert table.at[TOTAL, name] == pytest.approx(math.fsum(cells[name]), rel=1e-12, abs=1e-6), name
    assert table.at[TOTAL, TOTAL] == pytest.approx(math.fsum(written), rel=1e-12, abs=1e-6)
