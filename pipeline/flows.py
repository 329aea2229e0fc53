"""Prefect flows and tasks: wiring only. The work is done by the stage modules.

Tasks are few and coarse, never one per file: a task costs the flow a few milliseconds
and the embedded server about a tenth of a second of CPU (a flow call about a second). Each flow holds the outbox's lock while it writes.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from pipeline import template as template_stage
from pipeline.collect import (
    DEFAULT_BATCH_SIZE,
    STATE_LABEL,
    CollectResult,
    Intake,
    Pending,
    Processed,
    collect,
    finish,
    make_batches,
    process_batch,
    record_batch,
    take_in,
)
from pipeline.combine import (
    Consolidated,
    consolidate_year,
    previous_plan_path,
    read_previous_actions,
    read_previous_concerns,
)
from pipeline.config import RETURN_TO_DEFAULT, Settings
from pipeline.errors import HandlingsplanError
from pipeline.files import outbox_lock
from pipeline.plan import Plan, archive_plan, load_plan
from pipeline.report import write_reports


@dataclass(frozen=True)
class ReportResult:
    """The year's report outputs and the figures they were built from."""

    year: int
    paths: tuple[Path, ...]
    consolidated: Consolidated


@dataclass(frozen=True)
class RunResult:
    """The annual run: what collect did and what report wrote."""

    collect: CollectResult
    report: ReportResult
    next_templates: tuple[Path, ...] = ()


def _settings(**overrides: object) -> Settings:
    return Settings().with_overrides(
        **{k: Path(v) if k in ("inbox", "outbox") and v else v for k, v in overrides.items()}
    )


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass by itself: file-system errors such as a locked share."""
    try:
        state.result()
    except HandlingsplanError:
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False


# Every task writes files, so a cached result would skip work that must happen; not hashing
# the inputs also saves Prefect walking large ones.
UNCACHED = {"cache_policy": NO_CACHE}
RETRIES = {**UNCACHED, "retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _transient}


@task(name="Skriv mallar", **RETRIES)
def write_templates_task(
    plan: Plan, options: dict[str, template_stage.TemplateOptions], folder: Path, workers: int = 1
) -> list[Path]:
    """Writes one template per förvaltning (on `workers` processes when there are many)."""
    return template_stage.write_templates(plan, options, folder, workers)


@task(name="Ta emot filer", **RETRIES)
def take_in_task(settings: Settings, year: int) -> Intake:
    """Sorts the inbox and archives every new file untouched."""
    return take_in(settings, year)


@task(name="Kontrollera inlämningar", **RETRIES)
def process_batch_task(
    batch: list[Pending], plan: Plan, year: int, as_of: dt.date, settings: Settings
) -> list[Processed]:
    """Checks one batch of submissions and writes their feedback."""
    return process_batch(batch, plan, year, as_of, settings)


@task(name="Samla in", **RETRIES)
def collect_task(
    settings: Settings, plan: Plan, year: int, as_of: dt.date, batch_size: int, workers: int
) -> CollectResult:
    """Takes in the inbox and checks the new submissions in batches on `workers` local
    processes, recording each batch as it finishes. A retry finds what was recorded
    before it as already handled."""
    return collect(settings, plan, year, as_of=as_of, workers=workers, batch_size=batch_size)


def _plan(settings: Settings) -> Plan:
    """Loads and checks the plan and keeps a copy of its version in the outbox.

    Not a task: it is quick, and each task costs the embedded server about a tenth of a
    second of CPU while the stages need the cores. A bad plan fails the flow with the same
    message.
    """
    plan = load_plan(settings.plan_file)
    archive_plan(plan, settings.plans_dir)
    return plan


def _collect(
    settings: Settings, plan: Plan, year: int, as_of: dt.date, batch_size: int, workers: int = 1
) -> CollectResult:
    """Intake, then the batches, then the ledger.

    With `workers` > 1 all of it is one task, the batches on a local process pool (the
    processes need no Prefect); otherwise intake is a task and each batch another, for the
    flow's task runner, which is what a Dask task runner spreads over a cluster.
    """
    if workers > 1:
        result = collect_task(settings, quote(plan), year, as_of, batch_size, workers)
    else:
        intake = take_in_task(settings, year)
        batches = make_batches(intake.pending, batch_size)
        # Not quoted: Dask's task runner would hand the batch tasks the wrapper, not the plan.
        futures = [process_batch_task.submit(batch, plan, year, as_of, settings) for batch in batches]
        processed: list[Processed] = []
        for future in futures:
            processed.extend(record_batch(settings, future.result()))
        result = finish(settings, year, intake, processed)
    _publish_collect(result)
    return result


def task_runner(workers: int = 1, dask: bool = False) -> Any:
    """Returns the task runner for collect's batch tasks: one thread, or Dask.

    With `dask=True` each batch task runs on a local Dask cluster of `workers` processes
    (needs the optional extra: pip install -e ".[dask]"), or on the cluster at
    DASK_SCHEDULER_ADDRESS. Without Dask, parallel work uses the flows' `workers` parameter.
    """
    if dask:
        from prefect_dask import DaskTaskRunner

        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": max(1, workers), "threads_per_worker": 1, "processes": True}
        )
    return ThreadPoolTaskRunner(max_workers=1)


@task(name="Skriv rapporter", **RETRIES)
def report_task(settings: Settings, plan: Plan, year: int, as_of: dt.date, workers: int = 1) -> ReportResult:
    """Merges the submissions in force into one handlingsplan with its figures; writes the
    handlingsplan and follow-up workbooks and the summary."""
    consolidated = consolidate_year(settings, plan, year, as_of)
    paths = write_reports(consolidated, settings.year_dir(year), workers)
    return ReportResult(year=year, paths=paths, consolidated=consolidated)


@flow(name="mallar", log_prints=False)
def templates_flow(
    year: int | None = None,
    deadline: dt.date | None = None,
    plan_file: Path | None = None,
    outbox: Path = Path("outbox"),
    return_to: str = RETURN_TO_DEFAULT,
    workers: int = 1,
) -> list[Path]:
    """Writes the year's templates, one per förvaltning in the plan, to outbox/<år>/mallar.

    When last year's consolidated handlingsplan exists, each template is pre-filled with the
    förvaltning's unfinished actions and its Berör oss answers. Year defaults to next year.
    """
    year = year or dt.date.today().year + 1
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = _plan(settings)
        previous = previous_plan_path(settings.outbox, year)
        base = template_stage.TemplateOptions(
            year=year, deadline=deadline, return_to=return_to, prepared_rows=settings.prepared_rows
        )
        options = template_stage.carried_over(
            plan, year, read_previous_actions(previous), read_previous_concerns(previous), base
        )
        return _write_templates(settings, plan, year, options, workers)


def _write_templates(
    settings: Settings,
    plan: Plan,
    year: int,
    options: dict[str, template_stage.TemplateOptions],
    workers: int = 1,
) -> list[Path]:
    paths = write_templates_task(quote(plan), quote(options), settings.templates_dir(year), workers)
    get_run_logger().info("Skrev %d mallar till %s", len(paths), settings.templates_dir(year))
    return paths


@flow(name="insamling", log_prints=False)
def collect_flow(
    year: int,
    inbox: Path = Path("inbox"),
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    quiet_seconds: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
) -> CollectResult:
    """Takes in the förvaltningar's workbooks for `year` and gives each feedback."""
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = _plan(settings)
        return _collect(settings, plan, year, as_of or dt.date.today(), batch_size, workers)


@flow(name="rapport", log_prints=False)
def report_flow(
    year: int,
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    workers: int = 1,
) -> ReportResult:
    """Writes the consolidated handlingsplan, the follow-up and the summary for `year`."""
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = _plan(settings)
        result = _report(settings, plan, year, as_of or dt.date.today(), workers)
    return result


def _report(settings: Settings, plan: Plan, year: int, as_of: dt.date, workers: int = 1) -> ReportResult:
    result = report_task(settings, quote(plan), year, as_of, workers)
    _publish_report(result)
    return result


@flow(name="arlig-korning", log_prints=False)
def run_flow(
    year: int | None = None,
    inbox: Path = Path("inbox"),
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    quiet_seconds: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
) -> RunResult:
    """The annual run: collect the year's submissions, write the reports and next year's templates.

    Year defaults to the current year, as-of to today: the follow-up before mål- och budget.
    """
    as_of = as_of or dt.date.today()
    year = year or as_of.year
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = _plan(settings)
        collected = _collect(settings, plan, year, as_of, batch_size, workers)
        report = _report(settings, plan, year, as_of, workers)
        consolidated = report.consolidated
        options = template_stage.carried_over(plan, year + 1, consolidated.actions, consolidated.concerns)
        next_templates = _write_templates(settings, plan, year + 1, options, workers)
    return RunResult(collect=collected, report=report, next_templates=tuple(next_templates))


def _publish_collect(result: CollectResult) -> None:
    rows = [
        {
            "Fil": f.name,
            "Förvaltning": f.department or "",
            "Utfall": STATE_LABEL[f.state],
            "Fel": f.errors,
            "Varningar": f.warnings,
            "Återkoppling": str(f.feedback or ""),
        }
        for f in result.files
    ]
    create_table_artifact(
        key=f"insamling-{result.year}", table=rows, description=f"Inlämningar {result.year}"
    )
    get_run_logger().info(
        "Insamling %d: %d nya, %d godkända, %d avvisade, %d väntar",
        result.year,
        result.new_submissions,
        result.count("accepted"),
        result.count("rejected"),
        result.count("waiting"),
    )


def _publish_report(result: ReportResult) -> None:
    # One artifact: the summary with the written files under it (each artifact is a round trip).
    summary = next((p for p in result.paths if p.suffix == ".md"), None)
    text = summary.read_text(encoding="utf-8") if summary is not None else ""
    files = "\n".join(f"- `{path}`" for path in result.paths)
    create_markdown_artifact(
        key=f"sammanfattning-{result.year}",
        markdown=f"{text.rstrip()}\n\n## Filer\n\n{files}\n",
        description=f"Sammanfattning och rapporter {result.year}",
    )
    get_run_logger().info(
        "Rapporter för %d skrivna: %s", result.year, ", ".join(p.name for p in result.paths)
    )
