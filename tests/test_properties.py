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
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from pipeline import contract as c
from pipeline import store
from pipeline.check import Plans, check_submission
from pipeline.combine import combine_submissions
from pipeline.config import Cycle, Settings
from pipeline.flows import handle_batch
from pipeline.plan import Plan
from pipeline.records import Pending
from pipeline.validate import parse_text
from tests.corpus import AS_OF, OLD, YEAR
from tests.workbooks import make_template

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
    found = {name: parse_text(action[name]) for name in (c.ACTION, c.OWNER, *OPTIONAL_TEXT_COLUMNS)}
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
