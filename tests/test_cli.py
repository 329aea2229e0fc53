"""The `handlingsplan` command as a coordinator uses it: Swedish on every screen and error."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from pipeline import contract as c
from pipeline import errors
from pipeline.cli import EXIT_CODES, app, latest_ready
from pipeline.cli_text import EXIT_FILE_SYSTEM, EXIT_USAGE, describe_os_error, os_error_in
from pipeline.config import default_plan_file
from tests.prefect_db import seeded_home
from tests.processes import clean_env

runner = CliRunner()

COMMANDS = ("templates", "collect", "report", "run", "demo", "serve", "contacts", "send", "adopt")
SEND_COMMANDS = ("templates", "reminders", "feedback", "summary")

# What Click, Typer and pydantic say in English; none of it may reach the user.
ENGLISH = (
    "Usage",
    "Options",
    "Arguments",
    "Commands",
    "Error",
    "Missing",
    "Invalid",
    "No such",
    "Got unexpected",
    "Show this message",
    "Try '",
    "required",
    "default",
    "[OPTIONS]",
    "COMMAND",
    "Input should",
    "is not",
    "range",
    "<int",
    "<float",
    "<dir>",
    "<file>",
    "<path>",
    "<text>",
    "Traceback",
    "Aborted",
)


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


def test_help_lists_commands_with_an_example() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in COMMANDS)
    assert "Kommandon:" in result.output and "Användning: handlingsplan KOMMANDO" in result.output
    assert not english_in(result.output), result.output


def test_no_command_shows_the_overview_in_swedish() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == EXIT_USAGE
    assert "Kommandon:" in result.output and "Exempel: handlingsplan" in result.output
    assert not english_in(result.output), result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_swedish_help_with_an_example(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Användning: handlingsplan {name}")
    assert "Val:" in result.output and "Visa den här hjälpen." in result.output
    assert "Exempel: " in result.output and "handlingsplan" in result.output.split("Exempel: ")[1]
    assert not english_in(result.output), result.output


@pytest.mark.parametrize("name", SEND_COMMANDS)
def test_every_send_command_has_swedish_help_with_an_example(name: str) -> None:
    result = runner.invoke(app, ["send", name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Användning: handlingsplan send {name}")
    assert "--dry-run" in result.output and "--resend" in result.output
    assert f"Exempel: handlingsplan send {name}" in result.output
    assert not english_in(result.output), result.output


def option_help(command: str, option: str) -> str:
    """The help text of one option on one command's help screen, its wrapped lines joined."""
    output = runner.invoke(app, [command, "--help"]).output
    block = output.split(f"  {option} ", 1)[1].split("\n  -", 1)[0]
    return " ".join(block.split())


def test_shared_options_say_what_they_do_for_each_command() -> None:
    workers = {name: option_help(name, "--workers") for name in ("templates", "collect", "report")}
    assert len(set(workers.values())) == 3, workers
    assert "mallarna" in workers["templates"] and "rapporterna" in workers["report"]
    assert "inlämningarna" in workers["collect"]
    assert all("inlämning" not in workers[name] for name in ("templates", "report"))
    outbox = {name: option_help(name, "--outbox") for name in ("templates", "collect", "report", "run")}
    assert len(set(outbox.values())) == 4, outbox


def test_report_offers_allow_empty() -> None:
    assert "även om ingen förvaltning har lämnat in" in option_help("report", "--allow-empty")


OPTION_ERRORS = [
    (["collect"], "--year måste anges"),
    (["templates"], "--year måste anges"),
    (["report"], "--year måste anges"),
    (["collect", "--year", "1999"], "ange ett år från 2000 till 2100"),
    (["report", "--year", "2101"], "ange ett år från 2000 till 2100"),
    (["collect", "--year", "abc"], '"abc" är inget årtal'),
    (["collect", "--year", "2027", "--as-of", "2027-13-01"], '"2027-13-01" är inget datum'),
    (["templates", "--year", "2027", "--deadline", "31/3"], "ÅÅÅÅ-MM-DD"),
    (["report", "--year", "2027", "--workers", "0"], "ange ett heltal från 1 till 64"),
    (["collect", "--year", "2027", "--quiet-seconds", "snart"], "ange antal sekunder"),
    (["collect", "--year", "2027", "--bogus"], "har inget val som heter --bogus"),
    (["collect", "--year", "2027", "extra"], '"extra" är inget val'),
    (["collect", "--year", "2027", "--", "extra"], '"extra" är inget val'),
    (["collect", "--year"], "--year behöver ett värde, t.ex. --year 2027"),
    (["collect", "--year", "2027", "--dask=ja"], "--dask tar inget värde"),
    (["colect", "--year", "2027"], 'inget kommando som heter "colect". Menade du collect?'),
    (["--year", "2027"], "--year hör inte till något kommando"),
    (["send", "templates"], "--year måste anges"),
    (["send", "summary", "--year", "2027"], "--to måste anges"),
    (["send", "reminders", "--as-of", "i morgon"], '"i morgon" är inget datum'),
    (["send", "remind"], 'inget kommando som heter "remind". Menade du reminders?'),
    (["adopt", "--year", "2027"], "--decision måste anges"),
]


@pytest.mark.parametrize(("args", "expected"), OPTION_ERRORS, ids=[" ".join(a) for a, _ in OPTION_ERRORS])
def test_option_errors_are_swedish_with_an_example(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Fel"), result.stderr
    assert expected in result.stderr, result.stderr
    assert "Exempel: handlingsplan " in result.stderr
    assert not english_in(result.stderr), result.stderr


@pytest.mark.parametrize(
    "name", [*(n for n in COMMANDS if n != "send"), *(f"send {n}" for n in SEND_COMMANDS)]
)
def test_every_default_passes_its_own_check(name: str) -> None:
    # Typer hands defaults to an option's parser too: a default must be a value the parser takes.
    command: Any = typer.main.get_command(app)
    for part in name.split():
        command = command.commands[part]
    required = (
        ["--year", "2027"] if name in ("templates", "collect", "report") or name.startswith("send") else []
    )
    if name == "send summary":
        required += ["--to", "ks@kalix.se"]
    if name == "adopt":
        required = ["--year", "2027", "--decision", "KS 2027-04-14 § 55"]
    ctx = command.make_context(name, required)
    assert ctx.params.get("year") in (2027, None)
    assert ctx.params.get("workers", None) is None


def test_an_error_gives_the_example_of_the_command_that_failed() -> None:
    result = runner.invoke(app, ["report", "--year", "1999"])
    assert "Exempel: handlingsplan report --year 2027" in result.stderr
    assert "handlingsplan report --help" in result.stderr


def test_exit_codes_cover_every_error_class() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.HandlingsplanError)
    ]
    assert {cls.exit_code for cls in classes} <= set(EXIT_CODES)
    assert errors.NothingToReportError.exit_code not in {
        cls.exit_code for cls in classes if cls is not errors.NothingToReportError
    }
    assert EXIT_FILE_SYSTEM not in {cls.exit_code for cls in classes} | {EXIT_USAGE}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EACCES, "Behörighet saknas för"),
        (errno.EPERM, "Behörighet saknas för"),
        (errno.ENOSPC, "Disken är full"),
        (errno.EROFS, "inte går att skriva"),
        (errno.EBUSY, "används av ett annat program"),
        (errno.ENOENT, "finns inte"),
        (errno.EIO, "läs- eller skrivfel"),
        (errno.ELOOP, "systemets felkod ELOOP"),
    ],
)
def test_an_os_error_is_one_swedish_line_naming_the_path(
    code: int, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "utkorg" / "2027" / "sammanfattning.html"
    line = describe_os_error(OSError(code, os.strerror(code), str(target)), {"--outbox": Path("utkorg")})
    assert "\n" not in line and line.startswith("Fel: ")
    assert expected in line
    assert "utkorg/2027/sammanfattning.html" in line and str(tmp_path) not in line  # shortest form
    assert os.strerror(code) not in line  # the system's English words stay out
    if code in (errno.EACCES, errno.EROFS, errno.ENOENT):
        assert "--outbox" in line


def test_the_os_error_is_found_behind_wrappers() -> None:
    inner = PermissionError(errno.EACCES, "Permission denied", "/srv/utkorg")
    try:
        try:
            raise inner
        except OSError as exc:
            raise RuntimeError("uppgiften misslyckades") from exc
    except RuntimeError as wrapped:
        assert os_error_in(wrapped) is inner
    assert os_error_in(ExceptionGroup("flera", [ValueError("x"), inner])) is inner
    # One the program raises itself with a Swedish message has no errno: its caller handles it.
    assert os_error_in(FileExistsError("Mappen finns redan och är inte en demomapp.")) is None


def test_waiting_files_give_the_latest_time() -> None:
    messages = [
        "Filen ändrades nyss; den behandlas när den varit orörd i 60 s, tidigast kl. 10.02 (kör insamlingen igen då).",
        "Filen verkar inte vara färdigkopierad; tidigast kl. 10.05 (kör insamlingen igen då).",
    ]
    assert latest_ready(messages) == "10.05"
    assert latest_ready(["tidigast kl. 23.59", "tidigast kl. 00.01"]) == "00.01"  # past midnight
    assert latest_ready(["Dold fil; den hoppas över."]) is None


def run_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs `python -m pipeline` as a user would, with its own Prefect home."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=clean_env(PREFECT_HOME=seeded_home(cwd / ".prefect")),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.flow
def test_an_unwritable_outbox_gives_one_swedish_line_and_exit_code_6(tmp_path: Path) -> None:
    (tmp_path / "utkorg").write_text("en fil där en mapp behövs\n", encoding="utf-8")
    result = run_command(["templates", "--year", "2027", "--outbox", "utkorg/ny"], tmp_path)
    assert result.returncode == EXIT_FILE_SYSTEM == 6
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        "Fel: utkorg är en fil, men här behövs en mapp. Flytta filen eller välj en annan mapp med --outbox."
    ], result.stderr


@pytest.mark.flow
@pytest.mark.skipif(sys.platform != "linux", reason="/sys is Linux's")
def test_a_folder_the_system_refuses_gives_one_swedish_line(tmp_path: Path) -> None:
    # Tests run as root, who may write almost anywhere; the kernel's /sys refuses even root.
    outbox = Path("/sys/handlingsplan-utkorg")
    try:
        outbox.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover - a system that lets us write there cannot show the refusal
        outbox.rmdir()
        pytest.skip("/sys accepts new folders here")
    result = runner.invoke(app, ["templates", "--year", "2027", "--outbox", str(outbox)])
    assert result.exit_code == EXIT_FILE_SYSTEM, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Fel: ") and str(outbox) in line and "--outbox" in line
    assert not english_in(line)


@pytest.mark.flow
def test_report_without_accepted_submissions_stops_with_exit_code_5(tmp_path: Path) -> None:
    outbox = tmp_path / "utkorg"
    result = runner.invoke(app, ["report", "--year", "2027", "--outbox", str(outbox)])
    assert result.exit_code == errors.NothingToReportError.exit_code == 5, result.output
    assert "Fel: " in result.stderr and "--allow-empty" in result.stderr
    assert not list(outbox.glob("2027/*.xlsx"))
    empty = runner.invoke(app, ["report", "--year", "2027", "--outbox", str(outbox), "--allow-empty"])
    assert empty.exit_code == 0, empty.output
    assert "0 av 5 förvaltningar har lämnat in" in empty.stdout


@pytest.mark.flow
def test_the_annual_run_without_accepted_submissions_says_so_and_exits_5(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    args = ["run", "--year", "2027", "--inbox", str(tmp_path / "inbox"), "--outbox", str(tmp_path / "ut")]
    result = runner.invoke(app, args)
    assert result.exit_code == errors.NothingToReportError.exit_code, result.output
    assert "rapporterna skrevs inte" in result.stderr and "--allow-empty" in result.stderr
    assert len(list((tmp_path / "ut" / "2028" / "mallar").glob("*.xlsx"))) == 5
    assert not english_in(result.output)


@pytest.mark.flow
def test_file_names_print_as_they_are_and_waiting_files_say_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # "[/x].xlsx" is the file "x].xlsx" in the subfolder "[": Rich would read "[/x]" as a closing tag.
    names = ["[bold]a.xlsx", "[/x].xlsx", ":warning: b.xlsx"]
    (inbox / "[").mkdir()
    for name in names:
        (inbox / name).write_bytes(b"inte en arbetsbok")
    now = time.time()
    for name in names:
        os.utime(inbox / name, (now, now))
    result = runner.invoke(app, ["collect", "--year", "2027", "--quiet-seconds", "3600"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in names:
        (line,) = [text for text in lines if name in text]
        assert "väntar" in line and "orörd i 60 min, tidigast kl." in line
    times = re.findall(r"tidigast kl\. (\d{2}\.\d{2})", result.stdout)
    assert f"3 filer väntar; kör collect igen efter kl. {max(times)}." in lines


@pytest.mark.flow
def test_templates_command_writes_one_template_per_department(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["templates", "--year", "2027", "--deadline", "2027-03-31", "--outbox", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "2027" / "mallar"
    codes = ("FoK", "KS", "SBF", "SOC", "UTB")
    assert sorted(p.name for p in folder.glob("*.xlsx")) == [f"handlingsplan_2027_{k}.xlsx" for k in codes]
    # What `send templates` and the reminders need to know: the deadline and the files.
    issued = json.loads((folder / "mallar.json").read_text(encoding="utf-8"))
    assert issued["deadline"] == "2027-03-31" and issued["year"] == 2027
    assert issued["files"] == {k: f"handlingsplan_2027_{k}.xlsx" for k in codes}
    assert "5 mallar skrivna för 2027" in result.output
    wb = openpyxl.load_workbook(folder / "handlingsplan_2027_UTB.xlsx")
    assert {p.name: p.value for p in wb.custom_doc_props.props}[c.ID_DEPARTMENT] == "UTB"


@pytest.mark.flow
def test_templates_follow_a_revised_plan(tmp_path: Path) -> None:
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


def test_storage_notes_are_told_on_every_run_as_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from pipeline.cli import print_collect

    note = "Rad 7 i inlamningar.jsonl kunde inte läsas; inlämningen a\u202eb.xlsx [bold]x behandlas igen."
    collected = SimpleNamespace(
        files=(), year=2027, new_submissions=0, in_force={}, notes=(note,), count=lambda s: 0
    )
    print_collect(collected)
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "Obs: Rad 7 i inlamningar.jsonl kunde inte läsas; inlämningen a\\u202eb.xlsx [bold]x behandlas igen."
    ]
    assert "Inga nya inlämningar för 2027" in captured.out


def test_the_annual_run_tells_each_storage_note_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import pipeline.combine
    from pipeline.cli import print_run

    note = "Rad 7 i inlamningar.jsonl kunde inte läsas och räknas inte."
    collected = SimpleNamespace(
        files=(), year=2027, new_submissions=0, in_force={}, notes=(note,), count=lambda s: 0
    )
    report = SimpleNamespace(paths=(), consolidated=None, notes=(note, "Andra."))
    figures = SimpleNamespace(
        departments_submitted=1, departments_total=5, actions=1, overdue=0, goals_without_action=0
    )
    monkeypatch.setattr(pipeline.combine, "figures", lambda consolidated: figures)
    print_run(SimpleNamespace(collect=collected, report=report, next_templates=()))
    assert capsys.readouterr().err.splitlines() == [f"Obs: {note}", "Obs: Andra."]
