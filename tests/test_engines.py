"""The engines for real, each started as its own processes on 127.0.0.1 and stopped after.

1. `collect --dask` on a Dask cluster (`dask scheduler` and two `dask worker` processes)
   writes the same bytes as a plain local `collect` of the same inbox, and the cluster's
   workers did the checking.
2. The annual deployment, deployed with `prefect deploy --all` to a `prefect server start`
   and triggered through the API, is run by `prefect worker start` on the process work pool:
   its outputs land in HANDLINGSPLAN_HOME and its artifacts on the server.

The commands run with a clean environment (no setting of the session's Prefect harness) and
the checkout's code first on their path; each Prefect home of theirs is a new one whose
database is a copy of the migrated empty one (tests/prefect_db.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.demo import write_example_inbox
from pipeline.plan import Plan
from tests.prefect_db import seeded_home
from tests.processes import (
    BIN,
    LOCALHOST,
    ROOT,
    Background,
    Processes,
    clean_env,
    env_with,
    free_port,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.flow

YEAR = 2027
AS_OF = "2027-03-01"
RECEIVED = dt.datetime(YEAR - 1, 11, 15, 9, 0, tzinfo=dt.UTC).timestamp()
"""When the förvaltningar saved their files: long before any run, so no file waits."""

POOL = "handlingsplan"  # the work pool prefect.yaml names
ANNUAL = "arlig-korning/arlig-korning"  # flow name / deployment name


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """The test's background processes; all stopped after it, also when it fails."""
    started = Processes(tmp_path / "logs")
    try:
        yield started
    finally:
        survivors = started.stop_all()
    assert survivors == [], "processes left behind"


def fill_inbox(plan: Plan, inbox: Path, templates: Path) -> list[Path]:
    """The förvaltningar's files: the product's real templates filled cell by cell with
    openpyxl (the demo's examples: SOC, UTB and FoK pass, KS's has mistakes and is
    rejected), and a file that is no workbook at all (rejected as unreadable)."""
    files = write_example_inbox(plan, YEAR, inbox, templates, mtime=RECEIVED)
    broken = inbox / "handlingsplan SBF.xlsx"
    broken.write_bytes(b"PK\x03\x04 inte en arbetsbok")
    os.utime(broken, (RECEIVED, RECEIVED))
    return [*files, broken]


# --- Dask ---------------------------------------------------------------------------------

TIMES = re.compile(rb'("(?:received|processed|arrived)"\s*:\s*)"[^"]*"')
"""A ledger line's times: `received` (the file's mtime), `processed` and `arrived` (the clock)."""


def _outputs(outbox: Path) -> dict[str, bytes]:
    """Returns every file of collect's outputs by path: feedback, kept data, archive, and
    the ledger with its times blanked."""
    files = {
        path.relative_to(outbox).as_posix(): path.read_bytes()
        for part in (f"{YEAR}/aterkoppling", f"{YEAR}/data", "arkiv")
        for path in sorted((outbox / part).rglob("*"))
        if path.is_file()
    }
    ledger = (outbox / "inlamningar.jsonl").read_bytes()
    files["inlamningar.jsonl"] = TIMES.sub(rb'\1"-"', ledger)
    return files


def _scheduler_address(scheduler_file: Path) -> str | None:
    try:
        return str(json.loads(scheduler_file.read_text(encoding="utf-8"))["address"])
    except (OSError, ValueError, KeyError):
        return None  # not written yet, or half written


def test_collect_on_a_dask_cluster_writes_the_local_run_s_bytes(
    plan: Plan, tmp_path: Path, processes: Processes
) -> None:
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("prefect_dask")
    local, clustered = tmp_path / "lokal", tmp_path / "dask"
    fill_inbox(plan, local / "inbox", tmp_path / "mallar")
    shutil.copytree(local / "inbox", clustered / "inbox")  # the same files, the same mtimes
    # `python -m pipeline` is the `handlingsplan` command run from this checkout (an installed
    # script names the entry point of the day it was installed).
    handlingsplan = [sys.executable, "-m", "pipeline"]
    collect = [*handlingsplan, "collect", "--year", str(YEAR), "--as-of", AS_OF, "--quiet-seconds", "0"]

    # The plain local run needs no cluster: it runs while the cluster starts.
    plain = processes.start(
        "collect-lokal",
        collect,
        cwd=local,
        env=clean_env(PREFECT_HOME=seeded_home(tmp_path / "prefect-lokal")),
    )
    scheduler_file = tmp_path / "dask-scheduler.json"
    scheduler = processes.start(
        "dask-scheduler",
        [
            *(BIN / "dask", "scheduler", "--host", LOCALHOST, "--port", "0", "--no-dashboard"),
            *("--scheduler-file", scheduler_file, "--idle-timeout", "300"),
        ],
        cwd=tmp_path,
        env=clean_env(),
    )
    wait_until(lambda: _scheduler_address(scheduler_file), 60, "the Dask scheduler's address", [scheduler])
    address = _scheduler_address(scheduler_file)
    assert address is not None and address.startswith(f"tcp://{LOCALHOST}:")
    workers: list[Background] = []
    for n in (1, 2):
        folder = tmp_path / f"dask-worker-{n}"  # its own working folder, as on another machine
        folder.mkdir()
        workers.append(
            processes.start(
                f"dask-worker-{n}",
                [
                    *(BIN / "dask", "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-nanny"),
                    *("--host", LOCALHOST, "--no-dashboard", "--death-timeout", "60"),
                    *("--local-directory", folder),
                ],
                cwd=folder,
                env=clean_env(),
            )
        )

    def executed(dask_worker: Any) -> int:
        return int(dask_worker.state.executed_count)  # tasks this worker has run in its life

    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        assert sum(client.run(executed).values()) == 0
        # The default, relative inbox/ and outbox/: the flow hands the workers (each in a
        # folder of its own, as on another machine) absolute paths.
        on_cluster = processes.start(
            "collect-dask",
            [*collect, "--dask"],
            cwd=clustered,
            env=clean_env(
                PREFECT_HOME=seeded_home(tmp_path / "prefect-dask"), DASK_SCHEDULER_ADDRESS=address
            ),
        )
        code = on_cluster.wait(120)
        assert code == 0, on_cluster.output()
        ran = client.run(executed)
        for background in (scheduler, *workers):
            background.check_running()
    code = plain.wait(120)
    assert code == 0, plain.output()

    # The work went to the cluster's workers, not to threads or processes of the command.
    assert sum(ran.values()) >= 1, f"no task ran on the Dask workers: {ran}"
    ledger = [
        json.loads(line) for line in (local / "outbox" / "inlamningar.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(ledger) == 5
    verdicts = {value for record in ledger for value in record.values() if value in ("accepted", "rejected")}
    assert verdicts == {"accepted", "rejected"}  # both kinds of outcome are compared
    expected, got = _outputs(local / "outbox"), _outputs(clustered / "outbox")
    for part in (f"{YEAR}/aterkoppling/", f"{YEAR}/data/", "arkiv/"):
        assert any(name.startswith(part) for name in expected), part
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []


# --- Prefect ------------------------------------------------------------------------------

TRIGGER = """
import json, pathlib, sys, time
from prefect.deployments import run_deployment

name, year, as_of, timeout, go = sys.argv[1:]
deadline = time.monotonic() + float(timeout)
while not pathlib.Path(go).exists():  # Prefect is imported while the test deploys
    if time.monotonic() > deadline:
        sys.exit("no signal to trigger the deployment")
    time.sleep(0.1)
run = run_deployment(
    name=name,
    parameters={"year": int(year), "as_of": as_of},
    timeout=max(1.0, deadline - time.monotonic()),
    poll_interval=1,
)
print(json.dumps({"id": str(run.id), "state": run.state.type.value if run.state else None}))
"""
"""Triggers a deployment through the API with Prefect's client, once the file `go` exists,
and waits for its run to end."""


def _api(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST `body` as JSON to) the server's REST API; returns the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_annual_deployment_runs_on_a_worker_of_a_prefect_server(
    plan: Plan, tmp_path: Path, processes: Processes
) -> None:
    home = tmp_path / "handlingsplan"  # HANDLINGSPLAN_HOME: the folder with inbox/ and outbox/
    port = free_port()
    api = f"http://{LOCALHOST}:{port}/api"
    env = clean_env(
        PREFECT_HOME=seeded_home(tmp_path / "prefect"),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        HANDLINGSPLAN_HOME=home,
    )
    server = processes.start(
        "prefect-server",
        [BIN / "prefect", "server", "start", "--host", LOCALHOST, "--port", str(port)],
        cwd=tmp_path,
        # No scheduler service: the annual cron schedule must not add runs of its own.
        env=env_with(env, PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false"),
    )
    go = tmp_path / "trigger-now"
    trigger = processes.start(
        "run-deployment",
        [sys.executable, "-c", TRIGGER, ANNUAL, str(YEAR), AS_OF, "240", go],
        cwd=tmp_path,
        env=env,
    )
    fill_inbox(plan, home / "inbox", tmp_path / "mallar")  # while the server starts
    wait_until(lambda: http_ok(f"{api}/health"), 90, "the Prefect server's health check", [server])

    processes.run(
        "work-pool-create",
        [BIN / "prefect", "work-pool", "create", POOL, "--type", "process"],
        60,
        cwd=tmp_path,
        env=env,
    )
    worker = processes.start(
        "prefect-worker",
        [BIN / "prefect", "worker", "start", "--pool", POOL, "--prefetch-seconds", "5"],
        cwd=tmp_path,
        env=env_with(env, PREFECT_WORKER_QUERY_SECONDS="1"),
    )
    processes.run("prefect-deploy", [BIN / "prefect", "deploy", "--all"], 120, cwd=ROOT, env=env)
    deployment = _api(f"{api}/deployments/name/{ANNUAL}")
    assert deployment["work_pool_name"] == POOL

    go.touch()
    wait_until(lambda: trigger.process.poll() is not None, 180, "the annual run", [server, worker])
    assert trigger.process.returncode == 0, trigger.output()
    triggered = json.loads(trigger.output().strip().splitlines()[-1])
    run = _api(f"{api}/flow_runs/{triggered['id']}")
    assert (run["state"]["type"], run["deployment_id"], run["work_pool_name"]) == (
        "COMPLETED",
        deployment["id"],
        POOL,
    ), f"{run['state']}\n--- worker:\n{worker.output()}"

    year_dir = home / "outbox" / str(YEAR)
    for name in (
        f"handlingsplan_{YEAR}.xlsx",
        f"uppfoljning_{YEAR}.xlsx",
        f"sammanfattning_{YEAR}.html",
        f"sammanfattning_{YEAR}.md",
    ):
        assert (year_dir / name).is_file(), name
    assert len(list((year_dir / "aterkoppling").glob("*.html"))) == 5
    assert len(list((home / "outbox" / str(YEAR + 1) / "mallar").glob("*.xlsx"))) == len(
        plan.department_codes
    )

    artifacts = _api(f"{api}/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [triggered["id"]]}}})
    by_key = {a["key"]: a for a in artifacts}
    assert {f"insamling-{YEAR}", f"sammanfattning-{YEAR}"} <= set(by_key)
    assert "3 av 5 förvaltningar har lämnat in" in by_key[f"sammanfattning-{YEAR}"]["data"]
    assert "KS handlingsplan 2027.xlsx" in json.dumps(by_key[f"insamling-{YEAR}"]["data"], ensure_ascii=False)
