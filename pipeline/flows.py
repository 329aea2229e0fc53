"""Prefect flows and tasks: wiring only. The work is done by the stage modules.

Tasks are few and coarse (a task costs a few milliseconds, a flow call about a second),
never one per file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from pipeline import template as template_stage
from pipeline.collect import STATE_LABEL, CollectResult, collect
from pipeline.config import RETURN_TO_DEFAULT, Settings
from pipeline.plan import Plan, archive_plan, load_plan


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


@flow(name="mallar", log_prints=False)
def templates_flow(
    year: int,
    deadline: dt.date | None = None,
    plan_file: Path | None = None,
    outbox: Path = Path("outbox"),
    return_to: str = RETURN_TO_DEFAULT,
) -> list[Path]:
    """Writes next year's templates, one per förvaltning in the plan, to outbox/<år>/mallar."""
    settings = Settings().with_overrides(outbox=Path(outbox), plan_file=plan_file)
    plan = load_plan_task(settings.plan_file, settings.plans_dir)
    options = {
        code: template_stage.TemplateOptions(
            year=year, deadline=deadline, return_to=return_to, prepared_rows=settings.prepared_rows
        )
        for code in plan.department_codes
    }
    paths = write_templates_task(plan, options, settings.templates_dir(year))
    get_run_logger().info("Skrev %d mallar till %s", len(paths), settings.templates_dir(year))
    return paths


@task(name="Samla in")
def collect_task(settings: Settings, plan: Plan, year: int, as_of: dt.date | None) -> CollectResult:
    """Sorts every file in the inbox: archived, checked, fed back and recorded."""
    return collect(settings, plan, year, as_of=as_of)


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
    settings = Settings().with_overrides(
        inbox=Path(inbox), outbox=Path(outbox), plan_file=plan_file, quiet_seconds=quiet_seconds
    )
    plan = load_plan_task(settings.plan_file, settings.plans_dir)
    result = collect_task(settings, plan, year, as_of)
    _publish_collect(result)
    return result


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
