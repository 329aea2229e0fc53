"""The `handlingsplan` command as a coordinator uses it."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from pipeline import contract as c
from pipeline.cli import app
from pipeline.config import default_plan_file

runner = CliRunner()


def test_help_lists_commands_with_an_example() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "templates" in result.output
    sub = runner.invoke(app, ["templates", "--help"])
    assert "Exempel: handlingsplan templates --year 2027" in sub.output


@pytest.mark.flow
def test_templates_command_writes_one_template_per_department(tmp_path: Path, prefect_harness: None) -> None:
    result = runner.invoke(
        app, ["templates", "--year", "2027", "--deadline", "2027-03-31", "--outbox", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "2027" / "mallar"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"handlingsplan_2027_{k}.xlsx" for k in ("FoK", "KS", "SBF", "SOC", "UTB")
    ]
    assert "5 mallar skrivna för 2027" in result.output
    wb = openpyxl.load_workbook(folder / "handlingsplan_2027_UTB.xlsx")
    assert {p.name: p.value for p in wb.custom_doc_props.props}[c.ID_DEPARTMENT] == "UTB"


@pytest.mark.flow
def test_templates_follow_a_revised_plan(tmp_path: Path, prefect_harness: None) -> None:
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["forvaltningar"].append({"kod": "MBN", "namn": "Miljö- och byggförvaltningen"})
    revised = tmp_path / "reviderad.yaml"
    revised.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(
        app, ["templates", "--year", "2028", "--plan", str(revised), "--outbox", str(tmp_path / "ut")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ut" / "2028" / "mallar" / "handlingsplan_2028_MBN.xlsx").is_file()


def test_broken_plan_gives_one_line_and_exit_code_2(tmp_path: Path) -> None:
    broken = tmp_path / "trasig.yaml"
    broken.write_text("plan: {namn: x}\nforvaltningar: []\n", encoding="utf-8")
    result = runner.invoke(
        app, ["templates", "--year", "2027", "--plan", str(broken), "--outbox", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "Fel: Planfilen" in result.output and "Traceback" not in result.output


def test_bad_deadline_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["templates", "--year", "2027", "--deadline", "31/3", "--outbox", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "ÅÅÅÅ-MM-DD" in result.output


def test_every_command_has_help_with_an_example() -> None:
    import typer.main

    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"templates", "collect", "report", "run", "demo", "serve"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Exempel: " in result.output and "handlingsplan" in result.output.split("Exempel: ")[1], name
