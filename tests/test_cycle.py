"""The annual cycle end to end: demo, run, determinism, carry-over, deployments, locking."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from pipeline import contract as c
from pipeline.cli import DEMO_MARKER, app
from pipeline.combine import Consolidated, figures
from pipeline.config import Settings
from pipeline.demo import example_submissions, prepare_demo
from pipeline.deployments import load_specs
from pipeline.errors import OutboxLockedError
from pipeline.files import outbox_lock
from pipeline.plan import Plan
from pipeline.read import read_workbook
from tests import running
from tests.workbooks import fill_workbook

YEAR = 2027
AS_OF = dt.date(YEAR, 3, 1)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def demo_outbox(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A demo year collected: the example submissions in an outbox."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    inbox, outbox = prepare_demo(folder, YEAR, DEMO_MARKER)
    settings = Settings(inbox=inbox, outbox=outbox, quiet_seconds=0)
    running.collect(settings, YEAR, AS_OF)
    return settings


def _report(
    settings: Settings, plan: Plan, year: int = YEAR, as_of: dt.date = AS_OF
) -> tuple[Consolidated, tuple[Path, ...]]:
    result = running.report(settings, year, as_of)
    return result.consolidated, result.paths


def test_report_is_byte_identical_for_same_submissions_and_date(demo_outbox: Settings, plan: Plan) -> None:
    _report(demo_outbox, plan)
    first = _digests(demo_outbox.year_dir(YEAR))
    _report(demo_outbox, plan)
    assert _digests(demo_outbox.year_dir(YEAR)) == first
    assert {
        "handlingsplan_2027.xlsx",
        "uppfoljning_2027.xlsx",
        "sammanfattning_2027.html",
        "sammanfattning_2027.md",
    } <= set(first)


def test_figures_match_the_example_submissions(demo_outbox: Settings, plan: Plan) -> None:
    examples = example_submissions(YEAR)
    accepted = ["SOC", "UTB", "FoK"]  # KS's example has mistakes; SBF has not answered
    result, _ = _report(demo_outbox, plan)
    fig = figures(result)
    assert (fig.departments_submitted, fig.departments_total) == (3, 5)
    assert fig.actions == sum(len(examples[k]["actions"]) for k in accepted)
    assert fig.completed == sum(a[c.STATUS] == c.COMPLETED for k in accepted for a in examples[k]["actions"])
    assert sorted(result.actions[c.ACTION_ID])[:3] == ["FoK-2027-001", "FoK-2027-002", "FoK-2027-003"]


def test_carry_over_round_trip_into_next_year(demo_outbox: Settings, plan: Plan, tmp_path: Path) -> None:
    from pipeline.flows import templates_flow

    _report(demo_outbox, plan)
    paths = templates_flow(year=YEAR + 1, outbox=demo_outbox.outbox)
    soc_template = next(p for p in paths if p.name.endswith("_SOC.xlsx"))
    # Last year's contact comes with the template; KS's was rejected, so its stays empty.
    carried = read_workbook(soc_template, soc_template.name)
    assert (carried.contact, carried.email) == example_submissions(YEAR)["SOC"]["contact"]
    ks_template = next(p for p in paths if p.name.endswith("_KS.xlsx"))
    assert read_workbook(ks_template, ks_template.name).contact == ""
    soc = openpyxl.load_workbook(soc_template)
    ids = [row[0].value for row in soc[c.SHEET_ACTIONS].iter_rows(min_row=2) if row[0].value]
    open_examples = [
        a for a in example_submissions(YEAR)["SOC"]["actions"] if a[c.STATUS] not in c.CLOSED_STATUSES
    ]
    assert len(ids) == len(open_examples) and ids[0] == "SOC-2027-001"
    assert soc[c.SHEET_GOALS]["D4"].value == "Ja"  # 1.3 was marked Ja last year
    # The förvaltning updates a carried action and adds a new one; year 2028 is collected.
    ws = soc[c.SHEET_ACTIONS]
    status_col = [cell.value for cell in ws[1]].index(c.STATUS) + 1
    ws.cell(2, status_col).value = c.COMPLETED
    filled = tmp_path / "soc2028.xlsx"
    soc.save(filled)
    new_action = {
        c.GOAL: "1.3",
        c.ACTION: "Ny åtgärd",
        c.OWNER: "Chef",
        c.STATUS: c.NOT_STARTED,
        c.INDICATOR: "x",
    }
    fill_workbook(filled, demo_outbox.inbox / "soc2028.xlsx", actions=[new_action], first_row=2 + len(ids))
    os.utime(demo_outbox.inbox / "soc2028.xlsx", (1_790_000_000, 1_790_000_000))
    collected = running.collect(demo_outbox, YEAR + 1, dt.date(YEAR + 1, 3, 1))
    assert [f.state for f in collected.files if f.name == "soc2028.xlsx"] == ["accepted"]
    result, paths = _report(demo_outbox, plan, YEAR + 1, dt.date(YEAR + 1, 3, 1))
    assert result.changes is not None
    changed = result.changes.status_changes
    assert list(zip(changed[c.ACTION_ID], changed["Status före"], changed["Status nu"], strict=True)) == [
        ("SOC-2027-001", "Pågår", "Genomförd")
    ]
    assert list(result.changes.new[c.ACTION_ID]) == ["SOC-2028-001"]
    follow_up = openpyxl.load_workbook(paths[1])
    assert "Förändringar" in follow_up.sheetnames
    texts = [cell.value for row in follow_up["Förändringar"].iter_rows() for cell in row]
    assert "SOC-2027-001" in texts


def test_deployments_load_from_prefect_yaml() -> None:
    specs = {spec.name: spec for spec in load_specs()}
    assert set(specs) == {
        "arlig-korning",
        "mallar",
        "insamling",
        "rapport",
        "paminnelser",
        "utskick-mallar",
        "utskick-aterkoppling",
        "utskick-sammanfattning",
    }
    annual = specs["arlig-korning"]
    assert annual.schedules == ({"cron": "0 6 15 9 *", "timezone": "Europe/Stockholm", "active": True},)
    assert annual.concurrency_limit == 1 and all(s.concurrency_limit == 1 for s in specs.values())
    assert annual.parameters == {"inbox": "inbox", "outbox": "outbox"}
    for spec in specs.values():
        flow = spec.flow()
        assert set(spec.parameters) <= set(flow.parameters.properties), spec.name


def test_deployments_become_runner_deployments_with_the_schedule() -> None:
    from pipeline.deployments import to_runner_deployments

    deployments = {d.name: d for d in to_runner_deployments(load_specs())}
    (schedule,) = deployments["arlig-korning"].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 15 9 *", "Europe/Stockholm")
    assert deployments["arlig-korning"].concurrency_limit == 1
    (daily,) = deployments["paminnelser"].schedules
    assert (daily.schedule.cron, daily.schedule.timezone) == ("0 8 * * *", "Europe/Stockholm")
    assert deployments["paminnelser"].parameters["scheduled"] is True
    assert deployments["paminnelser"].parameters["days_before"] == [14, 3]


def test_second_run_waits_then_refuses_with_a_clear_message(tmp_path: Path) -> None:
    with (
        outbox_lock(tmp_path, timeout=1),
        pytest.raises(OutboxLockedError, match="En annan körning skriver redan"),
        outbox_lock(tmp_path, timeout=0.2),
    ):
        pass
    released = threading.Event()

    def hold() -> None:
        with outbox_lock(tmp_path, timeout=1):
            released.wait(0.5)

    thread = threading.Thread(target=hold)
    thread.start()
    with outbox_lock(tmp_path, timeout=5):  # waits for the first run, then proceeds
        pass
    thread.join()


KILL_SCRIPT = """
import datetime as dt, os, sys
from pathlib import Path
from pipeline.config import Cycle, Settings
from pipeline.flows import consolidate, plans_for
from pipeline.report import write_reports
settings = Settings(inbox=Path(sys.argv[1]), outbox=Path(sys.argv[2]))
plans = plans_for(settings)
while sys.stdin.readline():  # a line: fork a writer and say its pid
    writer = os.fork()
    if writer == 0:
        try:
            while True:
                write_reports(consolidate(settings, plans, Cycle.build(2027, dt.date(2027, 3, 1))), settings)
        finally:
            os._exit(1)
    print(writer, flush=True)
    sys.stdin.readline()  # the next line: the writer has been killed
    _, status = os.waitpid(writer, 0)
    print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
"""
"""Writes the reports over and over in processes forked on request, so that the imports (a few
seconds) are paid once and each writer is killed at a chosen moment of its work."""


@pytest.mark.slow
def test_report_killed_half_way_leaves_no_half_written_output(demo_outbox: Settings, plan: Plan) -> None:
    _report(demo_outbox, plan)
    expected = _digests(demo_outbox.year_dir(YEAR))
    writers = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(demo_outbox.inbox), str(demo_outbox.outbox)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert writers.stdin is not None and writers.stdout is not None
    try:
        for delay in (0.3, 0.7, 1.1, 1.6):
            writers.stdin.write("skriv\n")
            writers.stdin.flush()
            writer = int(writers.stdout.readline())
            time.sleep(delay)
            os.kill(writer, signal.SIGKILL)  # a writer that already died is a zombie till reaped
            writers.stdin.write("dödad\n")
            writers.stdin.flush()
            assert writers.stdout.readline().strip() == str(int(signal.SIGKILL))  # it was still writing
            # Every output is either the complete old file or the complete new one: identical bytes.
            assert {
                k: v for k, v in _digests(demo_outbox.year_dir(YEAR)).items() if k in expected
            } == expected
        writers.stdin.close()
        assert writers.wait(timeout=60) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(writers.pid, signal.SIGKILL)  # the writers too, should the test fail
        writers.wait()
    # The next run completes, gives the same result and clears what the killed runs left.
    _report(demo_outbox, plan)
    assert _digests(demo_outbox.year_dir(YEAR)) == expected
    assert [p.name for p in demo_outbox.year_dir(YEAR).glob("*.tmp")] == []


@pytest.mark.flow
def test_demo_command_runs_the_whole_cycle_with_artifacts(tmp_path: Path, prefect_harness: None) -> None:
    from prefect.artifacts import Artifact

    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "4 nya inlämningar: 3 godkända, 1 avvisad." in result.output
    assert "3 av 5 förvaltningar har lämnat in" in result.output
    year_dir = tmp_path / "demo" / "outbox" / "2027"
    assert (year_dir / "uppfoljning_2027.xlsx").is_file() and (
        year_dir / "sammanfattning_2027.html"
    ).is_file()
    assert len(list((tmp_path / "demo" / "outbox" / "2028" / "mallar").glob("*.xlsx"))) == 5
    summary = Artifact.get("sammanfattning-2027")
    assert summary is not None and "3 av 5 förvaltningar har lämnat in" in summary.data
    assert f"- `{year_dir / 'uppfoljning_2027.xlsx'}`" in summary.data  # the files under it
    table = Artifact.get("insamling-2027")
    assert table is not None and "KS handlingsplan 2027.xlsx" in str(table.data)
    again = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert again.exit_code == 0, again.output
    (tmp_path / "annat").mkdir()
    (tmp_path / "annat" / "viktig.txt").write_text("x")
    refused = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "annat")])
    assert refused.exit_code == 2 and (tmp_path / "annat" / "viktig.txt").exists()


CONCURRENT_SCRIPT = """
import datetime as dt, sys
from pathlib import Path
from pipeline.config import configure_prefect
configure_prefect()
from pipeline.flows import collect_flow, command_settings, report_flow
inbox, outbox, as_of = Path(sys.argv[1]), Path(sys.argv[2]), dt.date(2027, 3, 1)
with command_settings():
    collect_flow(year=2027, inbox=inbox, outbox=outbox, as_of=as_of, quiet_seconds=0)
    report_flow(year=2027, outbox=outbox, as_of=as_of)
"""


@pytest.mark.slow
def test_two_concurrent_runs_leave_consistent_outputs(plan: Plan, tmp_path: Path) -> None:
    inbox, _ = prepare_demo(tmp_path / "demo", YEAR, DEMO_MARKER)
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    settings = Settings(inbox=inbox, outbox=alone, quiet_seconds=0)
    running.collect(settings, YEAR, AS_OF)
    running.report(settings, YEAR, AS_OF)
    runs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_SCRIPT, str(inbox), str(shared)]) for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in runs] == [0, 0]
    assert _digests(shared / "2027") == _digests(alone / "2027")
    ledger = (shared / "inlamningar.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(ledger) == 4  # each submission recorded once, though two runs saw it


def test_parallel_collect_gives_the_same_outcomes(plan: Plan, tmp_path: Path) -> None:
    inbox, _ = prepare_demo(tmp_path / "demo", YEAR, DEMO_MARKER)
    one = running.collect(Settings(inbox=inbox, outbox=tmp_path / "one", quiet_seconds=0), YEAR, AS_OF)
    two = running.collect(
        Settings(inbox=inbox, outbox=tmp_path / "two", quiet_seconds=0), YEAR, AS_OF, workers=2, batch_size=1
    )
    assert [(f.name, f.state, f.errors, f.warnings) for f in two.files] == [
        (f.name, f.state, f.errors, f.warnings) for f in one.files
    ]
    assert len((tmp_path / "two" / "inlamningar.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    for part in ("aterkoppling", "data"):  # feedback and kept data: the same bytes
        assert _digests(tmp_path / "two" / str(YEAR) / part) == _digests(tmp_path / "one" / str(YEAR) / part)
    assert _digests(tmp_path / "one" / str(YEAR) / "aterkoppling")


@pytest.mark.flow
@pytest.mark.slow
def test_collect_runs_on_a_local_dask_cluster(tmp_path: Path, prefect_harness: None) -> None:
    pytest.importorskip("prefect_dask")
    inbox, _ = prepare_demo(tmp_path / "demo", YEAR, DEMO_MARKER)
    result = CliRunner().invoke(
        app,
        [
            "collect",
            "--year",
            "2027",
            "--inbox",
            str(inbox),
            "--outbox",
            str(tmp_path / "out"),
            "--dask",
            "--workers",
            "2",
            "--as-of",
            "2027-03-01",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 nya inlämningar: 3 godkända, 1 avvisad." in result.output


def test_only_file_system_errors_that_may_pass_are_retried() -> None:
    import errno

    from prefect.states import Completed, Failed

    from pipeline.errors import PlanError
    from pipeline.flows import _transient

    assert _transient(None, None, Failed(data=OSError(errno.EBUSY, "nätverksenheten svarar inte")))
    assert _transient(None, None, Failed(data=OSError(errno.EIO, "läsfel")))
    for lasting in (errno.ENOSPC, errno.EACCES, errno.ENOTDIR, errno.EROFS, errno.ENOENT):
        assert not _transient(None, None, Failed(data=OSError(lasting, "bara användaren kan rätta")))
    assert not _transient(None, None, Failed(data=PlanError("trasig plan")))
    assert not _transient(None, None, Failed(data=ValueError("bugg")))
    assert not _transient(None, None, Completed(data=1))


def test_submission_on_an_older_plan_is_read_against_its_own_plan(plan: Plan, tmp_path: Path) -> None:
    import yaml

    from pipeline.config import default_plan_file
    from pipeline.plan import archive_plan, parse_plan
    from tests.workbooks import make_template

    settings = Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox", quiet_seconds=0)
    archive_plan(plan, settings.plans_dir)  # the templates stage keeps every plan version it used
    old_template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    action = {
        c.GOAL: "1.8",
        c.ACTION: "Företagsrådgivning på flera språk",
        c.OWNER: "Näringslivschef",
        c.STATUS: c.IN_PROGRESS,
        c.INDICATOR: "Antal",
    }
    fill_workbook(old_template, settings.inbox / "soc.xlsx", actions=[action], concerns={"1.8": "Ja"})
    os.utime(settings.inbox / "soc.xlsx", (1_790_000_000, 1_790_000_000))
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["malomraden"][0]["delmal"].pop()  # KS revises the plan: delmål 1.8 is gone
    revised_file = tmp_path / "reviderad.yaml"
    revised_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    revised = parse_plan(revised_file.read_text(encoding="utf-8"))
    settings = Settings(inbox=settings.inbox, outbox=settings.outbox, plan_file=revised_file, quiet_seconds=0)
    result = running.collect(settings, YEAR, AS_OF)
    assert [f.state for f in result.files] == ["accepted"]
    assert result.in_force["SOC"].plan_version == plan.version != revised.version
    consolidated = running.report(settings, YEAR, AS_OF).consolidated
    assert [d.plan_version for d in consolidated.departments if d.code == "SOC"] == [plan.version]


@pytest.mark.flow
def test_a_run_is_a_task_per_stage_and_per_batch(tmp_path: Path, prefect_harness: None) -> None:
    # The flows spread batches, never single files, over the task runner.
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from pipeline.flows import run_flow

    inbox, outbox = prepare_demo(tmp_path / "demo", YEAR, DEMO_MARKER)
    state = run_flow(
        year=YEAR, inbox=inbox, outbox=outbox, as_of=AS_OF, quiet_seconds=0, batch_size=2, return_state=True
    )
    assert state.result().collect.new_submissions == 4
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    names: list[str] = []
    with get_client(sync_client=True) as client:
        for _ in range(50):  # the server records task runs from their events, a moment later
            names = sorted(t.name.rsplit("-", 1)[0] for t in client.read_task_runs(flow_run_filter=runs))
            if len(names) >= 5:
                break
            time.sleep(0.2)
    assert names == [
        "Kontrollera inlämningar",
        "Kontrollera inlämningar",
        "Skriv mallar",
        "Skriv rapporter",
        "Ta emot filer",
    ]


def test_commands_send_no_heartbeats_to_an_embedded_server_only() -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from pipeline.flows import command_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        with command_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
        with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}), command_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == 180


def test_a_deadline_already_past_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from pipeline.config import Cycle
    from pipeline.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"har redan varit.*--deadline 2027-03-31"):
        Cycle.build(2027, dt.date(2026, 11, 20), dt.date(2026, 11, 19), upcoming=True)
    assert Cycle.build(2027, dt.date(2026, 11, 20), dt.date(2026, 11, 20)).deadline == dt.date(2026, 11, 20)
