"""What the real command says about storage faults, the folders and the clock (issue 18)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.plan import Plan
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template


@pytest.mark.flow
def test_a_damaged_ledger_line_is_told_by_collect_and_report(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    template = make_template(plan, "SOC", 2027, tmp_path / "mallar")
    fill_workbook(template, tmp_path / "inbox" / "soc.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"})
    runner = CliRunner()
    collect = ["collect", "--year", "2027", "--quiet-seconds", "0"]
    assert runner.invoke(app, collect).exit_code == 0
    ledger = tmp_path / "outbox" / "inlamningar.jsonl"
    record = json.loads(ledger.read_bytes())
    assert record["arrived"] is not None
    ledger.write_bytes(b'{"digest": "' + record["digest"].encode() + b'" \xff\n')
    again = runner.invoke(app, collect)
    assert again.exit_code == 0, again.output
    told = "Obs: Rad 1 i inlamningar.jsonl kunde inte läsas; inlämningen var godkänd och återskapades"
    assert told in again.stderr
    assert "redan behandlad" in again.stdout and "Gäller nu: SOC" in again.stdout
    report = runner.invoke(app, ["report", "--year", "2027", "--as-of", "2027-03-01"])
    assert report.exit_code == 0, report.output
    assert told in report.stderr and "1 av 5 förvaltningar har lämnat in" in report.stdout
    assert (tmp_path / "outbox" / "inkorg.json").is_file()


@pytest.mark.flow
def test_an_outbox_inside_the_inbox_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    args = [
        "collect",
        "--year",
        "2027",
        "--inbox",
        str(tmp_path / "inbox"),
        "--outbox",
        str(tmp_path / "inbox" / "ut"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "ligger i inkorgen" in result.stderr
    assert not (tmp_path / "inbox" / "ut").exists()


@pytest.mark.flow
def test_a_future_time_stamp_waits_one_quiet_period_through_the_command(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    template = make_template(plan, "SOC", 2027, tmp_path / "mallar")
    path = fill_workbook(
        template, tmp_path / "inbox" / "soc.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"}
    )
    future = time.time() + 10 * 365 * 86_400
    os.utime(path, (future, future))
    collect = ["collect", "--year", "2027", "--quiet-seconds", "2"]
    first = CliRunner().invoke(app, collect)
    assert "väntar" in first.stdout and "tidigast kl." in first.stdout
    time.sleep(2.5)
    second = CliRunner().invoke(app, collect)
    assert "godkänd" in second.stdout, second.stdout
