"""A file that kills its reader costs one child process, not the run."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import zipfile
from pathlib import Path

import pytest

from pipeline import isolate
from pipeline.config import Settings
from pipeline.plan import Plan
from tests import running
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

YEAR = 2027
AS_OF = dt.date(YEAR, 3, 1)

pytestmark = pytest.mark.skipif(not isolate.isolation_available(), reason="ingen fork server på plattformen")


def _aborts() -> None:
    os.abort()


def _allocates(size: int) -> int:
    return len(bytearray(size))


def _answers_and_logs(value: int) -> int:
    logging.getLogger("pipeline.check").warning("kontrollerade %d", value)
    return value * 2


def test_a_native_abort_kills_only_the_child() -> None:
    outcome = isolate.run_isolated(_aborts)
    assert outcome.value is None and outcome.crashed


def test_the_child_cannot_grow_beyond_its_ceiling() -> None:
    with pytest.raises(MemoryError):
        isolate.run_isolated(_allocates, 3 * 1024**3, headroom=256 * 1024**2)
    assert isolate.run_isolated(_allocates, 64 * 1024**2, headroom=256 * 1024**2).value == 64 * 1024**2


def test_the_childs_answer_and_log_lines_come_back() -> None:
    outcome = isolate.run_isolated(_answers_and_logs, 21)
    assert (outcome.value, outcome.crashed) == (42, "")
    assert outcome.logged == ((logging.WARNING, "kontrollerade 21"),)


def _cell_far_away(source: Path, target: Path) -> None:
    """Copies a workbook with one cell at XFD1048576: python-calamine then asks for 512 GB
    for the sheet and the process aborts (a 25 KB file)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for name in original.namelist():
            data = original.read(name)
            if name.startswith("xl/worksheets/sheet"):
                far = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
                data = data.replace(b"</sheetData>", far)
                data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data)
            copy.writestr(name, data)


def test_collect_goes_on_when_a_file_kills_its_reader(plan: Plan, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    soc = fill_workbook(
        make_template(plan, "SOC", YEAR, tmp_path / "mallar"), inbox / "soc.xlsx", actions=[GOOD_ACTION]
    )
    utb = fill_workbook(
        make_template(plan, "UTB", YEAR, tmp_path / "mallar"), tmp_path / "utb.xlsx", actions=[GOOD_ACTION]
    )
    _cell_far_away(utb, inbox / "utb långt bort.xlsx")
    old = 1_780_000_000
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    settings = Settings(inbox=inbox, outbox=tmp_path / "outbox", quiet_seconds=0)

    result = running.collect(settings, YEAR, AS_OF)

    states = {f.name: f.state for f in result.files}
    assert states == {soc.name: "accepted", "utb långt bort.xlsx": "rejected"}
    assert list(result.in_force) == ["SOC"]
