"""Background processes for the engine tests: free ports, a clean environment, start, wait, stop.

Every process is started in its own session with its output in a log file. Stopping one
stops everything it started, also what left its process group (Prefect's worker starts each
flow run in a new session): terminate, wait, then kill what is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
"""The project checkout: its code runs in every child process."""

BIN = Path(sys.executable).parent
"""The environment's scripts: dask, prefect."""

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def clean_env(**variables: str | os.PathLike[str]) -> dict[str, str]:
    """Returns an environment for a child: this one without Prefect's, Dask's or the project's
    own settings (the test session's Prefect harness must not leak), the checkout's code first
    on the path, and `variables` on top."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "DASK_", "HANDLINGSPLAN_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env["DO_NOT_TRACK"] = "1"
    return env_with(env, **variables)


def env_with(base: Mapping[str, str], **variables: str | os.PathLike[str]) -> dict[str, str]:
    """Returns `base` with `variables` on top."""
    return {**base, **{key: str(value) for key, value in variables.items()}}


def http_ok(url: str) -> bool:
    """Whether `url` answers a GET with 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class Background:
    """One started command and everything it starts; its output goes to `log`."""

    def __init__(self, name: str, args: Sequence[str | os.PathLike[str]], log: Path, **popen: Any) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [str(a) for a in args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen,
            )
        self._seen: dict[int, psutil.Process] = {}
        self._remember()

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, last: int = 4000) -> str:
        """Returns the end of the log."""
        try:
            return self.log.read_bytes()[-last:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait(self, timeout: float) -> int:
        """Waits for the command to end; on timeout stops it and fails with its log."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"{self.name} did not finish within {timeout:.0f} s:\n{self.output()}"
            ) from None

    def check_running(self) -> None:
        """Fails with the log if the command has ended."""
        self._remember()
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} ended with code {self.process.returncode}:\n{self.output()}")

    def _remember(self) -> None:
        # Children are noted while they live, so that one started in a new session is
        # still found when its parent has already been stopped.
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(self.pid)
            for proc in (leader, *leader.children(recursive=True)):
                self._seen.setdefault(proc.pid, proc)
        for proc in _in_group(self.pid):
            self._seen.setdefault(proc.pid, proc)

    def terminate(self) -> None:
        """Asks the command and all it started to end (SIGTERM)."""
        if self.process.poll() is None:
            self._remember()
        for proc in self._seen.values():
            if _alive(proc):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGTERM)

    def reap(self, timeout: float = 10) -> list[str]:
        """Waits `timeout` for the command and all it started to end, then kills what is
        left. Returns a description of any process still alive after that (none, normally)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        family = [p for p in self._seen.values() if _alive(p)]
        _, alive = psutil.wait_procs(family, timeout=max(0.1, deadline - time.monotonic()))
        alive = [p for p in alive if _alive(p)]
        alive += [p for p in _in_group(self.pid) if p not in alive]
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        return [f"{self.name}: pid {p.pid} {_cmdline(p)}" for p in alive if _alive(p)]

    def stop(self, timeout: float = 10) -> list[str]:
        """Terminates the command and all it started; kills what is left after `timeout`.

        Returns a description of any process still alive after that (none, normally).
        """
        self.terminate()
        return self.reap(timeout)


class Processes:
    """The background processes of one test, stopped in reverse order by `stop_all`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Background] = []

    def start(self, name: str, args: Sequence[str | os.PathLike[str]], **popen: Any) -> Background:
        """Starts `args` in the background; `popen` goes to subprocess.Popen (env, cwd)."""
        background = Background(name, args, self.log_dir / f"{name}.log", **popen)
        self.started.append(background)
        return background

    def run(
        self, name: str, args: Sequence[str | os.PathLike[str]], timeout: float, **popen: Any
    ) -> Background:
        """Runs `args` to its end (stopped and failed after `timeout`); fails with its log unless it exits 0."""
        background = self.start(name, args, **popen)
        code = background.wait(timeout)
        assert code == 0, f"{name} exited with code {code}:\n{background.output()}"
        return background

    def stop_all(self, timeout: float = 10) -> list[str]:
        """Stops every process, last started first, each before the next (a Prefect worker
        reports its end to the server); returns what survived (none, normally)."""
        survivors: list[str] = []
        for background in reversed(self.started):
            survivors.extend(background.stop(timeout))
        return survivors


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    watch: Sequence[Background] = (),
    interval: float = 0.1,
) -> None:
    """Polls `condition` until it is true; fails after `timeout` or as soon as a watched process ends."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        for background in watch:
            background.check_running()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {b.name}:\n{b.output()}" for b in watch)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(interval)


def _in_group(pgid: int) -> list[psutil.Process]:
    found = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError, psutil.Error):
            if pid != os.getpid() and os.getpgid(pid) == pgid:
                found.append(psutil.Process(pid))
    return found


def _alive(proc: psutil.Process) -> bool:
    # A zombie has ended; only its parent (or init) has not collected it yet.
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())
    return "?"
