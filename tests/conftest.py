"""Shared fixtures: the real plan, real templates, and one Prefect harness per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import configure_prefect, default_plan_file
from pipeline.plan import Plan, load_plan


def pytest_configure(config: pytest.Config) -> None:
    # Keep the tests' Prefect database away from the user's, before Prefect is imported.
    home = Path(config.rootpath) / ".pytest_cache" / "prefect-home"
    os.environ.setdefault("PREFECT_HOME", str(home))
    configure_prefect()


@pytest.fixture(scope="session")
def plan() -> Plan:
    """The plan shipped with the package (Kalix kommun's)."""
    return load_plan(default_plan_file())


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect database and server: tests run the real flows (tests/running.py)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # As a command runs them (pipeline.flows.command_settings): the harness's server ends
    # with the session, so no heartbeats, which cost each flow up to a second at its end.
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
