"""Writers of the year's outputs: the handlingsplan and follow-up workbooks and the summary."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from pipeline.combine import Consolidated

T = TypeVar("T")

PARALLEL_FROM_ACTIONS = 1_000
"""Below this many actions the writers take well under a second: not worth starting processes."""


def warm_up() -> None:
    """Does now what the first report would: import the workbook writers and compile the
    summary templates (the CLI does it while Prefect's server starts)."""
    import pipeline.report.workbooks  # noqa: F401
    from pipeline.report.summary import load_templates

    load_templates()


def write_reports(result: Consolidated, year_dir: Path, workers: int = 1) -> tuple[Path, ...]:
    """Returns the paths of the handlingsplan, follow-up and summary written for the year.

    With `workers` > 1 and a large plan the three writers run on separate processes.
    """
    from pipeline.report.summary import write_summary
    from pipeline.report.workbooks import (
        action_plan_filename,
        follow_up_filename,
        write_action_plan,
        write_follow_up,
        write_workbooks,
    )

    jobs = [
        (write_action_plan, year_dir / action_plan_filename(result.year)),
        (write_follow_up, year_dir / follow_up_filename(result.year)),
    ]
    if workers > 1 and len(result.actions) >= PARALLEL_FROM_ACTIONS:
        # Pickled once for the three writers, not once per writer (a third of a second each
        # at 50,000 actions, and a copy in memory each while they wait to be sent).
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        with ProcessPoolExecutor(max_workers=min(workers, 3)) as pool:
            workbooks = [pool.submit(_unpickled, writer, payload, target) for writer, target in jobs]
            summary = pool.submit(_unpickled, write_summary, payload, year_dir)
            return (*(w.result() for w in workbooks), *summary.result())
    return (*write_workbooks(result, year_dir), *write_summary(result, year_dir))


def _unpickled(writer: Callable[[Consolidated, Path], T], payload: bytes, target: Path) -> T:
    """Returns what `writer` returns for the pickled result: one of write_reports' jobs."""
    return writer(pickle.loads(payload), target)
