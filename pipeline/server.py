"""Prefect's embedded server, started before Prefect is imported so the two overlap.

Prefect starts its embedded ("ephemeral") server on the first flow call: it imports the
whole server (about 6 s here) in the calling process, and only then starts the server in
a subprocess that imports it all again. For a command that runs one flow that is half its
time. Here the subprocess starts first, while the command imports pandas, pandera and
Prefect's client, and the command points Prefect at it with PREFECT_API_URL.

Whether to start it is Prefect's own decision: the subprocess reads the settings (the
environment, profiles, prefect.toml) and serves only when no server is configured and
embedded mode is on; otherwise it exits and Prefect runs as configured. While it starts,
the command also imports what Prefect would import on its first flow call.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipeline.errors import ServerStartError

SERVING = "serving"
NOT_SERVING = "configured"
HEALTH_POLL_SECONDS = 0.1
# What Prefect sets for its own embedded server process.
SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
# Services of an embedded server that nothing here uses, left out unless the environment
# says otherwise: automations (triggers and their actions) and the stream of events to
# websocket subscribers. The server ends with the command, so no automation could act on
# its runs and nobody subscribes. Each handles every event of a run: about half a second
# of the server's CPU per command, taken from the cores checking and writing files.
UNUSED_SERVICES_OFF = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED": "false",
}


@dataclass
class EmbeddedServer:
    """A Prefect server process started by `start`, until Prefect is told to use it."""

    process: subprocess.Popen[str]
    port: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def use(self) -> bool:
        """Returns whether the server serves; if so, points Prefect at it. Call before importing Prefect."""
        assert self.process.stdout is not None
        decision = self.process.stdout.readline().strip()
        if decision != SERVING:
            self.process.wait()
            return False
        os.environ["PREFECT_API_URL"] = self.api_url
        return True

    def wait_until_ready(self) -> None:
        """Returns once the server answers its health check; raises ServerStartError if it cannot."""
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        timeout = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"Prefects inbyggda server avslutades när den startade (kod {self.process.returncode}). "
                    "Kör kommandot igen; hjälper inte det, se felutskriften ovan."
                )
            if _healthy(f"{self.api_url}/health"):
                return
            time.sleep(HEALTH_POLL_SECONDS)
        self.stop()
        raise ServerStartError(
            f"Prefects inbyggda server svarade inte inom {timeout:.0f} s. "
            "Kör kommandot igen, eller höj PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."
        )

    @contextlib.contextmanager
    def flow_settings(self) -> Iterator[None]:
        """Prefect settings for the command's flow runs against this server: no heartbeats.

        A heartbeat lets a lasting server mark a run as crashed when its process dies. This
        server ends with the command, so nothing reads them, and Prefect joins the heartbeat
        thread, which sleeps in whole seconds, at the end of every flow: up to a second
        each. Runs by a worker against a configured server keep their heartbeats.
        """
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start() -> EmbeddedServer | None:
    """Starts the server process if this process has not imported Prefect yet; else returns None.

    Once Prefect is imported its settings are fixed, so a server started now could not be
    used; Prefect then starts its own on the first flow call, as usual.
    """
    if "prefect" in sys.modules:
        return None
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.server", str(port), str(os.getpid())],
        env={**UNUSED_SERVICES_OFF, **os.environ, **SERVER_ENVIRONMENT},
        stdout=subprocess.PIPE,
        text=True,
    )
    embedded = EmbeddedServer(process, port)
    # Registered before Prefect is imported, so it runs after Prefect's own exit handlers
    # (which send the last logs), and also when the command stops before its flow.
    atexit.register(embedded.stop)
    return embedded


def prepare(
    while_starting: Callable[[], None] = lambda: None, started: EmbeddedServer | None = None
) -> EmbeddedServer | None:
    """Starts the server (or takes one `started` earlier), runs `while_starting` meanwhile,
    and points Prefect at the server.

    Returns the server to wait for once Prefect is imported, or None when Prefect starts or
    finds its own (a server configured, embedded mode off, or Prefect already imported).
    Call before importing Prefect.
    """
    embedded = started or start()
    if embedded is None:
        return None
    while_starting()
    return embedded if embedded.use() else None


# What Prefect imports on the first call of a flow with parameters (fastapi to serialise
# them) or of a task: a quarter of a second.
FIRST_CALL_MODULES = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "fastapi.encoders",
)


def import_first_call_modules() -> None:
    """Imports now what Prefect imports on the first flow call; call it while the server starts."""
    for name in FIRST_CALL_MODULES:
        with contextlib.suppress(ImportError):  # a later Prefect may have moved one
            importlib.import_module(name)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, parent: int) -> None:
    """Says whether it serves, then serves Prefect's API on `port` until stopped or `parent` exits."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        print(NOT_SERVING, flush=True)
        return
    print(SERVING, flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe any more
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    import uvicorn

    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )


def _exit_with(parent: int) -> None:
    """Ends this server when the command that started it is gone, even if it was killed."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
