"""Shared fixtures: the real plan, real templates, and one Prefect harness per session."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import configure_prefect, default_plan_file
from pipeline.plan import Plan, load_plan
from tests import prefect_db

_PREPARING: list[threading.Thread] = []


def _session_home(config: pytest.Config) -> Path:
    return Path(config.rootpath) / ".pytest_cache" / "prefect-home"


def pytest_configure(config: pytest.Config) -> None:
    # Keep the tests' Prefect database away from the user's, before Prefect is imported.
    os.environ.setdefault("PREFECT_HOME", str(_session_home(config)))
    configure_prefect()
    if not hasattr(config, "workerinput"):  # the main process: xdist's workers start meanwhile
        _PREPARING.append(prefect_db.prepare_in_background())


def pytest_unconfigure(config: pytest.Config) -> None:
    for thread in _PREPARING:
        thread.join(timeout=300)


@pytest.fixture(scope="session")
def plan() -> Plan:
    """The plan shipped with the package (Kalix kommun's)."""
    return load_plan(default_plan_file())


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(pytestconfig: pytest.Config) -> Iterator[None]:
    """A temporary Prefect database and server: tests run the real flows (tests/running.py).

    The harness's database starts as a copy of the migrated one (tests/prefect_db.py); so does
    the session's Prefect home, which the commands the tests run as subprocesses share.
    """
    import prefect.testing.utilities
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    if Path(os.environ["PREFECT_HOME"]) == _session_home(pytestconfig):
        prefect_db.seeded_home(_session_home(pytestconfig))

    def seeded_folder() -> str:
        # The harness keeps its database as prefect-test.db in a folder of its own.
        folder = tempfile.mkdtemp(prefix="prefect-harness-")
        prefect_db.copy_to(Path(folder) / "prefect-test.db")
        return folder

    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            # The harness makes that folder with tempfile.mkdtemp; should a later Prefect
            # not, this patch does nothing and the harness migrates an empty database.
            patch.setattr(prefect.testing.utilities, "mkdtemp", seeded_folder, raising=False)
            stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        # As a command runs them (pipeline.flows.command_settings): the harness's server ends
        # with the session, so no heartbeats, which cost each flow up to a second at its end.
        stack.enter_context(temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        yield
