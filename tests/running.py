"""Running the real flows from tests, the way the CLI and the deployments do.

Every test that runs one gets Prefect's session-wide test harness (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipeline.config import Settings


def collect(settings: Settings, year: int, as_of: dt.date, **options: Any) -> Any:
    """Returns what the collect flow did with `settings.inbox` for `year`."""
    from pipeline.flows import collect_flow

    return collect_flow(
        year=year,
        inbox=settings.inbox,
        outbox=settings.outbox,
        plan_file=settings.plan_file,
        as_of=as_of,
        quiet_seconds=settings.quiet_seconds,
        **options,
    )


def report(settings: Settings, year: int, as_of: dt.date, **options: Any) -> Any:
    """Returns what the report flow wrote for `year` (paths and the Consolidated)."""
    from pipeline.flows import report_flow

    return report_flow(
        year=year, outbox=settings.outbox, plan_file=settings.plan_file, as_of=as_of, **options
    )
