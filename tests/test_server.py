"""Prefect's embedded server started before Prefect is imported (pipeline.server)."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import server
from pipeline.__main__ import FLOW_COMMANDS, runs_a_flow
from pipeline.errors import ServerStartError

SCRIPT = """
import os, sys, urllib.request
from pipeline import server
from pipeline.errors import ServerStartError
from pipeline.config import configure_prefect
configure_prefect()
embedded = server.prepare()
serving = embedded is not None
print("serving" if serving else "not serving", os.environ.get("PREFECT_API_URL", "-"), flush=True)
if serving:
    embedded.wait_until_ready()
    import json
    with urllib.request.urlopen(embedded.api_url + "/admin/settings") as response:
        served = json.load(response)
    print("triggers", served["server"]["services"]["triggers"]["enabled"],
          "stream-out", served["server"]["events"]["stream_out_enabled"], flush=True)
    from prefect import flow
    from prefect.settings import get_current_settings

    @flow
    def answer() -> str:
        return f"42 heartbeat-every-{get_current_settings().flows.heartbeat_frequency}"

    with embedded.flow_settings():
        print(answer(), embedded.process.pid, flush=True)
    print(answer(), flush=True)
"""


def _run(tmp_path: Path, **env: str) -> list[str]:
    environment = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), **env}
    environment.pop("PREFECT_API_URL", None)
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return done.stdout.split()


def test_not_started_once_prefect_is_imported() -> None:
    import prefect  # noqa: F401  (as in the tests' own Prefect harness)

    assert server.start() is None


@pytest.mark.slow
def test_serves_the_flow_and_stops_with_the_command(tmp_path: Path) -> None:
    words = _run(tmp_path, PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED="true")
    assert words[0] == "serving" and words[1].startswith("http://127.0.0.1:")
    # Automations are off in the embedded server; a service the user turns on stays on.
    assert words[2:6] == ["triggers", "False", "stream-out", "True"]
    # The command's flows send no heartbeats to a server that ends with it; others keep theirs.
    assert words[6:8] == ["42", "heartbeat-every-None"]
    assert words[9:] == ["42", "heartbeat-every-180"]
    pid = int(words[8])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped when the command ended


def test_a_configured_server_is_left_to_prefect(tmp_path: Path) -> None:
    words = _run(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert words == ["not", "serving", "http://127.0.0.1:9/api"]


def test_the_warm_up_before_the_server_is_used_leaves_prefect_unimported() -> None:
    # The CLI warms the stages up before pointing Prefect at the server; had that imported
    # Prefect, its settings would be fixed without the server's address.
    check = (
        "import sys; from pipeline import collect, report; collect.warm_up(); report.warm_up(); "
        "print('prefect' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


def test_a_server_that_exits_while_starting_stops_the_command_with_a_swedish_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # restored afterwards
    crashing = subprocess.Popen(
        [sys.executable, "-c", "print('serving', flush=True); raise SystemExit(7)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    embedded = server.EmbeddedServer(crashing, port=9)
    assert embedded.use()
    with pytest.raises(ServerStartError, match="avslutades när den startade \\(kod 7\\)"):
        embedded.wait_until_ready()


def test_the_modules_imported_while_the_server_starts_exist_in_this_prefect() -> None:
    # The CLI imports what Prefect would import on the first flow call, skipping a missing
    # one silently; a Prefect that moved one would quietly cost every command that time.
    assert [name for name in server.FIRST_CALL_MODULES if importlib.util.find_spec(name) is None] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--year", "2027"], True),
        (["demo"], True),
        (["templates", "--year", "2027", "--help"], False),  # help runs no flow
        (["serve"], False),  # against a configured server
        (["--help"], False),
        ([], False),
    ],
)
def test_only_commands_that_run_a_flow_start_the_server_first(args: list[str], expected: bool) -> None:
    assert runs_a_flow(args) is expected


def test_the_entry_point_knows_every_command_that_runs_a_flow() -> None:
    # A command added to the CLI that runs a flow but is missing here would still work, only
    # without the early start: a tenth of a second lost on every run, unnoticed.
    from pipeline.cli import app

    running = {
        command.name or command.callback.__name__
        for command in app.registered_commands
        if command.callback is not None and "_flows(ctx)" in inspect.getsource(command.callback)
    }
    assert running == FLOW_COMMANDS


# The command as installed, noting each server start and whether the command line had
# loaded by then; printed after every exit handler but the last, so after the server stopped.
ENTRY_SCRIPT = """
import atexit, sys
from pipeline import server
started = []
original = server.start
def noted():
    started.append("after the command line" if "pipeline.cli" in sys.modules else "first")
    return original()
server.start = noted
atexit.register(lambda: print("servers started:", *started, flush=True))
sys.argv = ["handlingsplan", *sys.argv[1:]]
from pipeline.__main__ import main
main()
"""


def _command(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Runs the command in a process of its own; returns it and the servers it left running."""
    environment = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    environment.pop("PREFECT_API_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY_SCRIPT, *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    out, err = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), _servers_of(process.pid)


def _servers_of(parent: int) -> list[int]:
    """Returns the embedded servers still running for the command with process id `parent`."""
    servers = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "pipeline.server" in args and str(parent) in args:
            servers.append(int(entry.name))
    return servers


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads processes from /proc")
@pytest.mark.slow
def test_the_command_uses_the_server_it_started_first_and_stops_it(tmp_path: Path) -> None:
    done, left = _command(tmp_path, "demo", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "outbox" / "2027" / "sammanfattning_2027.html").is_file()
    assert "servers started: first\n" in done.stdout  # before anything else, and only one
    assert "Error logging to API" not in done.stderr  # the last logs reached it before it stopped
    assert left == []


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads processes from /proc")
def test_a_command_refused_before_its_flow_stops_the_server_it_started(tmp_path: Path) -> None:
    done, left = _command(tmp_path, "run", "--year", "tjugo")
    assert done.returncode == 2
    assert "servers started: first\n" in done.stdout
    assert "--year" in done.stderr
    assert left == []
