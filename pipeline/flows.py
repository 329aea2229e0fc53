"""Prefect flows and tasks: wiring only. The work is done by the stage modules.

Tasks are few and coarse (a task costs a few milliseconds, a flow call about a second),
never one per file. Each flow holds the outbox's lock while it writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline import template as template_stage
from pipeline.collect import STATE_LABEL, CollectResult, collect
from pipeline.config import RETURN_TO_DEFAULT, Settings
from pipeline.consolidate import (
    Consolidated,
    consolidate_year,
    previous_plan_path,
    read_previous_actions,
    read_previous_concerns,
)
from pipeline.files import outbox_lock
from pipeline.plan import Plan, archive_plan, load_plan
from pipeline.report.summary import write_summary
from pipeline.report.workbooks import write_workbooks


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


@task(name="Läs planen")
def load_plan_task(plan_file: Path, plans_dir: Path) -> Plan:
    """Loads and checks the plan, and keeps a copy of its version in the outbox."""
    plan = load_plan(plan_file)
    archive_plan(plan, plans_dir)
    return plan


@task(name="Skriv mallar")
def write_templates_task(
    plan: Plan, options: dict[str, template_stage.TemplateOptions], folder: Path
) -> list[Path]:
    """Writes one template per förvaltning."""
    return template_stage.write_templates(plan, options, folder)


@task(name="Samla in")
def collect_task(settings: Settings, plan: Plan, year: int, as_of: dt.date | None) -> CollectResult:
    """Sorts every file in the inbox: archived, checked, fed back and recorded."""
    return collect(settings, plan, year, as_of=as_of)


@task(name="Sammanställ")
def consolidate_task(settings: Settings, plan: Plan, year: int, as_of: dt.date) -> Consolidated:
    """Merges the submissions in force into one handlingsplan with its figures."""
    return consolidate_year(settings, plan, year, as_of)


@task(name="Skriv rapporter")
def write_reports_task(result: Consolidated, year_dir: Path) -> tuple[Path, ...]:
    """Writes the handlingsplan and follow-up workbooks and the summary."""
    return (*write_workbooks(result, year_dir), *write_summary(result, year_dir))


@flow(name="mallar", log_prints=False)
def templates_flow(
    year: int | None = None,
    deadline: dt.date | None = None,
    plan_file: Path | None = None,
    outbox: Path = Path("outbox"),
    return_to: str = RETURN_TO_DEFAULT,
) -> list[Path]:
    """Writes the year's templates, one per förvaltning in the plan, to outbox/<år>/mallar.

    When last year's consolidated handlingsplan exists, each template is pre-filled with the
    förvaltning's unfinished actions and its Berör oss answers. Year defaults to next year.
    """
    year = year or dt.date.today().year + 1
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = load_plan_task(settings.plan_file, settings.plans_dir)
        previous = previous_plan_path(settings.outbox, year)
        base = template_stage.TemplateOptions(
            year=year, deadline=deadline, return_to=return_to, prepared_rows=settings.prepared_rows
        )
        options = template_stage.carried_over(
            plan, year, read_previous_actions(previous), read_previous_concerns(previous), base
        )
        return _write_templates(settings, plan, year, options)


def _write_templates(
    settings: Settings, plan: Plan, year: int, options: dict[str, template_stage.TemplateOptions]
) -> list[Path]:
    paths = write_templates_task(plan, options, settings.templates_dir(year))
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
) -> CollectResult:
    """Takes in the förvaltningar's workbooks for `year` and gives each feedback."""
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = load_plan_task(settings.plan_file, settings.plans_dir)
        result = collect_task(settings, plan, year, as_of)
    _publish_collect(result)
    return result


@flow(name="rapport", log_prints=False)
def report_flow(
    year: int,
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
) -> ReportResult:
    """Writes the consolidated handlingsplan, the follow-up and the summary for `year`."""
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = load_plan_task(settings.plan_file, settings.plans_dir)
        result = _report(settings, plan, year, as_of or dt.date.today())
    return result


def _report(settings: Settings, plan: Plan, year: int, as_of: dt.date) -> ReportResult:
    consolidated = consolidate_task(settings, plan, year, as_of)
    paths = write_reports_task(consolidated, settings.year_dir(year))
    result = ReportResult(year=year, paths=paths, consolidated=consolidated)
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
) -> RunResult:
    """The annual run: collect the year's submissions, write the reports and next year's templates.

    Year defaults to the current year, as-of to today: the follow-up before mål- och budget.
    """
    as_of = as_of or dt.date.today()
    year = year or as_of.year
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        plan = load_plan_task(settings.plan_file, settings.plans_dir)
        collected = collect_task(settings, plan, year, as_of)
        _publish_collect(collected)
        report = _report(settings, plan, year, as_of)
        consolidated = report.consolidated
        options = template_stage.carried_over(plan, year + 1, consolidated.actions, consolidated.concerns)
        next_templates = _write_templates(settings, plan, year + 1, options)
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
    summary = next((p for p in result.paths if p.suffix == ".md"), None)
    if summary is not None:
        create_markdown_artifact(
            key=f"sammanfattning-{result.year}",
            markdown=summary.read_text(encoding="utf-8"),
            description=f"Sammanfattning {result.year}",
        )
    create_table_artifact(
        key=f"rapporter-{result.year}",
        table=[{"Fil": str(path)} for path in result.paths],
        description=f"Rapporter {result.year}",
    )
    get_run_logger().info(
        "Rapporter för %d skrivna: %s", result.year, ", ".join(p.name for p in result.paths)
    )
