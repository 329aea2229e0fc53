"""Prefect flows and tasks: the only wiring, and the one place that decides where work runs.

Stages are plain functions over one file or one batch (check, feedback, store, combine,
template, report). The flows read what the store holds at their edge, hand it to the pure
parts, and spread batches over an `Executor`: in this process, a local process pool, or a
Dask cluster, all through Prefect's task runners. Each flow holds the outbox's lock while
it writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from pipeline import check, intake, isolate, store
from pipeline import template as template_stage
from pipeline.combine import ACTION_TABLE_COLUMNS, Consolidated, combine_submissions
from pipeline.config import RETURN_TO_DEFAULT, Cycle, Settings, check_safe_xml
from pipeline.errors import HandlingsplanError, NothingToReportError
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.files import outbox_lock
from pipeline.plan import Plan, archive_plan, load_plan
from pipeline.problems import ERROR, problem
from pipeline.records import STATE_LABEL, CleanData, FileReport, LedgerRecord, Pending, State
from pipeline.report import write_action_plan, write_follow_up, write_reports, write_summary
from pipeline.text import count_phrase

log = logging.getLogger(__name__)

BATCH_SIZE = 50
"""Submissions checked together: validation's cost is mostly per call, not per row."""
FILES_PER_PROCESS = 200
"""A local process is worth starting (a few seconds: it imports Prefect and pandas) only
for about this many workbooks; below it the work stays in the flow's process."""
ACTIONS_PER_WRITER_PROCESS = 20_000
"""From this many actions the three report writers run side by side."""
ARCHIVE_THREADS = 4
"""Archiving waits mostly on the disk (two syncs a file): a few threads overlap the waits."""


# --- where work runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Executor:
    """Where a flow's batches run.

    Attributes:
        workers: local processes; None lets the amount of work and the machine decide.
        dask: run the batches on a Dask cluster: the one at DASK_SCHEDULER_ADDRESS, else a
            local one of `workers` (or the machine's) processes (needs the extra
            `pip install -e ".[dask]"`).
    """

    workers: int | None = None
    dask: bool = False

    def processes(self, jobs: int, jobs_per_process: int) -> int:
        """Returns how many local processes `jobs` batches of work should use."""
        if self.workers is not None:
            return max(1, self.workers)
        wanted = math.ceil(jobs / jobs_per_process) if jobs >= jobs_per_process else 1
        return max(1, min(os.cpu_count() or 1, wanted))

    def runner(self, processes: int) -> TaskRunner[Any]:
        """Returns the Prefect task runner for this much parallel work."""
        if self.dask:
            from prefect_dask import DaskTaskRunner

            address = os.environ.get("DASK_SCHEDULER_ADDRESS")
            if address:
                return DaskTaskRunner(address=address)
            return DaskTaskRunner(
                cluster_kwargs={"n_workers": processes, "threads_per_worker": 1, "processes": True}
            )
        if processes > 1:
            return ProcessPoolTaskRunner(max_workers=processes)
        return ThreadPoolTaskRunner(max_workers=1)


class Workforce:
    """The task runners a flow's stages share: each opened on first use, closed with the flow.

    One pool serves every stage of the annual run, so its processes (each imports Prefect
    and pandas before its first batch) start once, not once per stage.
    """

    def __init__(self, executor: Executor, stack: contextlib.ExitStack[Any]) -> None:
        self.executor = executor
        self._stack = stack
        self._runners: dict[int, TaskRunner[Any]] = {}
        self._same_api = False

    def runner(self, processes: int) -> TaskRunner[Any]:
        """Returns the open runner for this much parallel work (Dask: one cluster for all)."""
        key = 0 if self.executor.dask else processes
        if key not in self._runners:
            runner = self.executor.runner(processes)
            if not isinstance(runner, ThreadPoolTaskRunner) and not self._same_api:
                # Work that leaves this process reports to the flow's own Prefect API (the
                # embedded server's address, which other processes could not know otherwise).
                self._stack.enter_context(_same_api())
                self._same_api = True
            self._runners[key] = self._stack.enter_context(runner)
        return self._runners[key]


@contextlib.contextmanager
def workforce(executor: Executor) -> Iterator[Workforce]:
    """Yields the flow's shared task runners; they stop when the block ends."""
    with contextlib.ExitStack() as stack:
        yield Workforce(executor, stack)


def spread(
    workers: Workforce, work: Any, calls: Sequence[Mapping[str, Any]], processes: int
) -> Iterator[Any]:
    """Yields the results of running task `work` once per parameter set, in order."""
    if not calls:
        return
    runner = workers.runner(processes)
    # Quoted, Prefect does not walk large arguments looking for futures; Dask's runner would
    # hand the task the quote itself, so there they go as they are.
    wrap = (lambda value: value) if workers.executor.dask else quote
    futures = [runner.submit(work, {k: wrap(v) for k, v in parameters.items()}) for parameters in calls]
    for future in futures:
        yield future.result()


@contextlib.contextmanager
def _same_api() -> Iterator[None]:
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings({PREFECT_API_URL: url}):
        yield


def _batches(items: Sequence[Any], size: int, processes: int) -> list[list[Any]]:
    """Returns the items in batches of at most `size`, cut finer so `processes` all have work."""
    if processes > 1:
        size = min(size, max(1, math.ceil(len(items) / (processes * 4))))
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@contextlib.contextmanager
def command_settings() -> Iterator[None]:
    """Prefect settings for flows run by a command: no heartbeats against an embedded server.

    A heartbeat lets a lasting server mark a run as crashed when its process dies. Prefect's
    embedded server ends with the command, so nothing reads them, and Prefect waits for the
    heartbeat thread (which sleeps in whole seconds) at the end of every flow. Against a
    configured server (PREFECT_API_URL), runs keep their heartbeats.
    """
    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectResult:
    """One collect run: a report per file and the submission in force per förvaltning."""

    year: int
    files: tuple[FileReport, ...]
    in_force: dict[str, LedgerRecord] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What is wrong with what the outbox keeps (store.Received.notes), told at every run."""

    @property
    def new_submissions(self) -> int:
        """Returns how many files were handled for the year for the first time in this run."""
        return sum(1 for f in self.files if f.state in ("accepted", "rejected") and f.year is None)

    def count(self, state: State) -> int:
        """Returns how many files ended in `state` (files handled for another year aside)."""
        return sum(1 for f in self.files if f.state == state and f.year is None)

    @property
    def other_years(self) -> int:
        """Returns how many files were handled in this run for another year, their template's."""
        return sum(1 for f in self.files if f.state in ("accepted", "rejected") and f.year is not None)


@dataclass(frozen=True)
class ReportResult:
    """The year's report outputs and the figures they were built from."""

    year: int
    paths: tuple[Path, ...]
    consolidated: Consolidated
    notes: tuple[str, ...] = ()
    """What is wrong with what the outbox keeps (store.Received.notes), told at every run."""


@dataclass(frozen=True)
class RunResult:
    """The annual run: what collect did, what report wrote, and next year's templates."""

    collect: CollectResult
    report: ReportResult | None
    """None when no förvaltning had an accepted submission and empty reports were not asked for."""
    next_templates: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Processed:
    """A checked submission: its ledger record and what the run reports about it."""

    record: LedgerRecord
    report: FileReport


# --- tasks -------------------------------------------------------------------------------


TRANSIENT_ERRNOS = frozenset(
    {errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, errno.EIO, errno.ESTALE, errno.EINTR, errno.ECONNRESET}
)
"""File-system errors that may pass by themselves (a busy share, a network hiccup)."""
WINDOWS_SHARING_ERRORS = frozenset({32, 33})
"""A file open in another program on Windows (sharing and lock violations)."""


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass by itself: a locked file or a busy share, not a full disk,
    a missing folder or a lacking permission, which only the user can mend."""
    error = state.result(raise_on_failure=False)
    if not isinstance(error, OSError) or isinstance(error, HandlingsplanError):
        return False
    return error.errno in TRANSIENT_ERRNOS or getattr(error, "winerror", None) in WINDOWS_SHARING_ERRORS


# Every task writes files, so a cached result would skip work that must happen.
RETRIES: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": _transient,
}


@task(name="Ta emot filer", **RETRIES)
def take_in_task(settings: Settings, known: Mapping[str, int | None], year: int) -> intake.Intake:
    """Sorts the inbox and archives every new file untouched."""
    entries = intake.scan(
        settings.inbox,
        quiet_seconds=settings.quiet_seconds,
        observations=settings.outbox / intake.OBSERVATIONS_FILE,
    )
    candidates = [entry for entry in entries if entry.state == "candidate"]
    with ThreadPoolExecutor(max_workers=ARCHIVE_THREADS) as pool:
        copies = pool.map(lambda entry: intake.archive_entry(entry, settings.archive_dir), candidates)
        archived = dict(zip((entry.relative for entry in candidates), copies, strict=True))
    return intake.sort_intake(entries, archived, known, year)


@task(name="Kontrollera inlämningar", **RETRIES)
def check_batch_task(
    batch: list[Pending], plans: check.Plans, cycle: Cycle, settings: Settings
) -> list[Processed]:
    """Checks one batch of submissions, writes their feedback and keeps accepted ones' tables."""
    return handle_batch(batch, plans, cycle, settings)


@task(name="Skriv mallar", **RETRIES)
def write_templates_task(plan: Plan, jobs: list[template_stage.TemplateJob]) -> list[Path]:
    """Writes one batch of templates."""
    return template_stage.write_templates(plan, jobs)


@task(name="Skriv rapport", **RETRIES)
def write_report_task(
    writer: Callable[..., Any], consolidated: Consolidated, targets: tuple[Path, ...]
) -> Any:
    """Writes one of the year's reports."""
    return writer(consolidated, *targets)


@task(name="Skriv rapporter", **RETRIES)
def write_reports_task(consolidated: Consolidated, settings: Settings) -> tuple[Path, ...]:
    """Writes the handlingsplan, the follow-up and the summary, one after the other."""
    return write_reports(consolidated, settings)


# --- the work of one batch ---------------------------------------------------------------


def handle_batch(
    batch: Sequence[Pending], plans: check.Plans, cycle: Cycle, settings: Settings
) -> list[Processed]:
    """Returns each submission of the batch checked, with its feedback and clean tables written."""
    checked = _check_in_child(batch, plans, cycle)
    return [
        _conclude(item, result, cycle.year, settings) for item, result in zip(batch, checked, strict=True)
    ]


def _check_in_child(batch: Sequence[Pending], plans: check.Plans, cycle: Cycle) -> list[check.Checked]:
    """Returns the batch checked in a child process with a memory ceiling.

    A file that makes a reader abort or ask for more memory than the ceiling kills only the
    child: the batch is then checked again one file per child, and the file whose child
    dies is rejected as unreadable, so the run goes on with the others.
    """
    files = [(p.archived, p.name) for p in batch]
    whole = isolate.run_isolated(check.check_batch, files, plans, cycle.year, cycle.as_of)
    _log_again(whole)
    if whole.value is not None:
        return whole.value
    log.warning("En omgång om %d filer stoppade kontrollen (%s); var fil för sig", len(files), whole.crashed)
    results = []
    for path, name in files:
        alone = isolate.run_isolated(check.check_batch, [(path, name)], plans, cycle.year, cycle.as_of)
        _log_again(alone)
        results.append(alone.value[0] if alone.value is not None else _crashed(name, alone.crashed, cycle))
    return results


def _crashed(name: str, crash: str, cycle: Cycle) -> check.Checked:
    log.warning("%s stoppade kontrollen (%s) och avvisas", name, crash)
    detail = f"Läsaren avbröts (för mycket minne eller ett fel i läsaren): {crash}"
    unreadable = problem("unreadable", file=name, detail=detail)
    return check.Checked(None, None, None, (unreadable,), cycle.year, markable=False)


def _log_again(outcome: isolate.Outcome[Any]) -> None:
    for level, text in outcome.logged:
        log.log(level, "%s", text)


def _conclude(item: Pending, checked: check.Checked, run_year: int, settings: Settings) -> Processed:
    if not checked.submission:
        return _ignored(item, checked, settings)
    year = checked.year
    paths = settings.feedback_paths(year, checked.department, item.digest)
    written = write_feedback(
        FeedbackInput(
            display_name=item.name,
            digest=item.digest,
            department_code=checked.department,
            department_name=checked.department_name,
            year=year,
            accepted=checked.accepted,
            received=item.received,
            problems=checked.problems,
            workbook=item.archived if checked.markable else None,
            plan_version=checked.plan_version,
        ),
        paths,
    )
    if checked.accepted:
        store.write_clean_data(settings.clean_data_file(year, item.digest), check.clean_data(checked))
    record = check.ledger_record(
        item,
        checked,
        feedback=_relative(written.html, settings.outbox),
        archived=_relative(item.archived, settings.outbox),
        processed=time.time(),
    )
    first_error = next((p.text for p in checked.problems if p.kind == ERROR), "")
    elsewhere = year != run_year
    if elsewhere:
        verdict = "godkänd" if checked.accepted else "avvisad"
        first_error = f"Mallen gäller {year}: {verdict} för {year}, räknas inte för {run_year}. {first_error}"
    report = FileReport(
        item.name,
        record.verdict,
        department=checked.department,
        digest=item.digest,
        errors=record.errors,
        warnings=record.warnings,
        feedback=written.html,
        message=first_error.strip(),
        details=record.details,
        year=year if elsewhere else None,
    )
    return Processed(record, report)


def _ignored(item: Pending, checked: check.Checked, settings: Settings) -> Processed:
    """Returns a file that is no workbook at all: remembered, never counted, no feedback."""
    record = check.ledger_record(
        item,
        checked,
        feedback=None,
        archived=_relative(item.archived, settings.outbox),
        processed=time.time(),
    )
    what = checked.problems[0].message if checked.problems else ""
    message = f"{what} Den räknas inte som inlämning och hoppas över.".strip()
    return Processed(record, FileReport(item.name, "ignored", digest=item.digest, message=message))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# --- the stages as the flows run them ----------------------------------------------------


def _settings(**overrides: Any) -> Settings:
    # Absolute: a batch may run in another process or on a Dask worker in another folder.
    paths = {
        k: Path(v).absolute()
        for k, v in overrides.items()
        if k in ("inbox", "outbox", "plan_file") and v is not None
    }
    others = {k: v for k, v in overrides.items() if k not in paths}
    return Settings().with_overrides(**paths, **others)


def plans_for(settings: Settings) -> check.Plans:
    """Loads and checks the plan and keeps a copy of its version in the outbox.

    Not a task: it is quick. A bad plan fails the flow with the same Swedish message.
    """
    plan = load_plan(settings.plan_file)
    archive_plan(plan, settings.plans_dir)
    return check.Plans(plan, settings.plans_dir)


def _collect(
    settings: Settings, plans: check.Plans, cycle: Cycle, workers: Workforce, batch_size: int
) -> CollectResult:
    """Intake, then the new submissions checked in batches, then the ledger."""
    ledger = store.load_ledger(settings)
    taken = take_in_task(settings, store.handled_years(ledger), cycle.year)
    processes = workers.executor.processes(len(taken.pending), FILES_PER_PROCESS)
    batches = _batches(taken.pending, batch_size, processes)
    calls = [{"batch": b, "plans": plans, "cycle": cycle, "settings": settings} for b in batches]
    processed: list[Processed] = []
    for done in spread(workers, check_batch_task, calls, processes):
        # Recorded as each batch returns: a retry or a killed run finds it handled.
        store.append_ledger(settings.ledger_file, [p.record for p in done])
        processed.extend(done)
    after = store.received(settings, cycle.year, plans.current.department_codes)
    _tell(after.notes)
    reports = sorted([*taken.reports, *(p.report for p in processed)], key=lambda r: r.name)
    result = CollectResult(year=cycle.year, files=tuple(reports), in_force=after.in_force, notes=after.notes)
    _publish_collect(result)
    return result


def consolidate(settings: Settings, plans: check.Plans, cycle: Cycle) -> Consolidated:
    """Returns the consolidated plan from what the store holds as in force for the year."""
    year_view = store.received(settings, cycle.year, plans.current.department_codes)
    kept = _kept_in_force(settings, plans, cycle, year_view)
    previous = store.previous_plan(settings, cycle.year, ACTION_TABLE_COLUMNS)
    return combine_submissions(
        plans.current,
        cycle.year,
        cycle.as_of,
        kept,
        year_view.open_rejections,
        previous.actions if previous is not None else None,
        history=year_view.records,
    )


def _kept_in_force(
    settings: Settings, plans: check.Plans, cycle: Cycle, year_view: store.Received
) -> dict[str, tuple[LedgerRecord, CleanData]]:
    """Returns each submission in force with its clean tables; tables that went missing are
    rebuilt from the archived copy."""
    kept: dict[str, tuple[LedgerRecord, CleanData]] = {}
    for code, data in store.clean_data_in_force(settings, year_view).items():
        record = year_view.in_force[code]
        if data is None:
            data = _rebuild_clean_data(settings, plans, cycle, record)
        if data is not None:
            kept[code] = (record, data)
    return kept


def _rebuild_clean_data(
    settings: Settings, plans: check.Plans, cycle: Cycle, record: LedgerRecord
) -> CleanData | None:
    archived = settings.outbox / record.archived
    if not archived.is_file():
        log.warning("%s (%s) saknar både rensade data och arkivkopia", record.original_name, record.digest)
        return None
    checked = check.check_submission(archived, record.original_name, plans, cycle.year, cycle.as_of)
    if not checked.accepted:
        log.warning("%s godkänns inte längre när den kontrolleras igen", record.original_name)
        return None
    data = check.clean_data(checked)
    store.write_clean_data(settings.clean_data_file(cycle.year, record.digest), data)
    return data


def _require_submissions(in_force: Mapping[str, Any], year: int) -> None:
    """Stops the report when no förvaltning has an accepted submission: it would be all zeros."""
    if not in_force:
        raise NothingToReportError(
            f"Ingen förvaltning har en godkänd handlingsplan för {year}, så rapporterna skrevs inte. "
            f"Kör insamlingen först (handlingsplan collect --year {year}), "
            "eller lägg till --allow-empty för att ändå skriva tomma rapporter."
        )


def _tell(notes: Sequence[str]) -> None:
    """Logs what is wrong with what the outbox keeps; the command prints the same lines."""
    for note in notes:
        log.warning("%s", note)


def _report(
    settings: Settings, plans: check.Plans, cycle: Cycle, workers: Workforce, *, allow_empty: bool
) -> ReportResult:
    # Told before consolidating, which rebuilds missing clean data: this run says what it mended.
    notes = store.received(settings, cycle.year, plans.current.department_codes).notes
    _tell(notes)
    consolidated = consolidate(settings, plans, cycle)
    if not any(d.submitted for d in consolidated.departments) and not allow_empty:
        _require_submissions({d.code: d for d in consolidated.departments if d.submitted}, cycle.year)
    processes = workers.executor.processes(len(consolidated.actions), ACTIONS_PER_WRITER_PROCESS)
    if processes > 1 or workers.executor.dask:
        year = cycle.year
        calls = [
            {"writer": write_action_plan, "targets": (settings.action_plan_file(year),)},
            {"writer": write_follow_up, "targets": (settings.follow_up_file(year),)},
            {
                "writer": write_summary,
                "targets": (settings.summary_file(year, ".html"), settings.summary_file(year, ".md")),
            },
        ]
        written = list(
            spread(
                workers, write_report_task, [{**c, "consolidated": consolidated} for c in calls], processes
            )
        )
        paths = (written[0], written[1], *written[2])
    else:
        shared: Any = quote(consolidated)  # Prefect need not walk the tables looking for futures
        paths = write_reports_task(shared, settings)
    result = ReportResult(year=cycle.year, paths=tuple(paths), consolidated=consolidated, notes=notes)
    _publish_report(result)
    return result


def _templates(
    settings: Settings, plan: Plan, cycle: Cycle, workers: Workforce, return_to: str
) -> list[Path]:
    """Writes the year's templates, pre-filled from last year's handlingsplan where it exists."""
    previous = store.previous_plan(settings, cycle.year, ACTION_TABLE_COLUMNS)
    base = template_stage.TemplateOptions(
        year=cycle.year, deadline=cycle.deadline, return_to=return_to, prepared_rows=settings.prepared_rows
    )
    options = template_stage.carried_over(
        plan,
        cycle.year,
        previous.actions if previous is not None else None,
        previous.concerns if previous is not None else None,
        base,
        contacts=_last_years_contacts(settings, plan, cycle.year),
    )
    jobs = [
        template_stage.TemplateJob(code, options[code], settings.template_file(cycle.year, code))
        for code in plan.department_codes
    ]
    processes = workers.executor.processes(len(jobs), FILES_PER_PROCESS)
    calls = [{"plan": plan, "jobs": batch} for batch in _batches(jobs, BATCH_SIZE, processes)]
    paths = [path for done in spread(workers, write_templates_task, calls, processes) for path in done]
    get_run_logger().info("Skrev %d mallar till %s", len(paths), settings.templates_dir(cycle.year))
    return paths


def _last_years_contacts(settings: Settings, plan: Plan, year: int) -> dict[str, tuple[str, str]]:
    """Returns each förvaltning's contact person and e-mail from its submission in force last year."""
    last_year = store.received(settings, year - 1, plan.department_codes)
    kept = store.clean_data_in_force(settings, last_year)
    return {code: (data.contact, data.email) for code, data in kept.items() if data is not None}


# --- the flows ---------------------------------------------------------------------------


@flow(name="mallar", log_prints=False)
def templates_flow(
    year: int | None = None,
    deadline: dt.date | None = None,
    plan_file: Path | None = None,
    outbox: Path = Path("outbox"),
    return_to: str = RETURN_TO_DEFAULT,
    workers: int | None = None,
    dask: bool = False,
) -> list[Path]:
    """Writes the year's templates, one per förvaltning in the plan, to outbox/<år>/mallar.

    Year defaults to next year. When last year's consolidated handlingsplan exists, each
    template is pre-filled with the förvaltning's unfinished actions and Berör oss answers.
    """
    cycle = Cycle.build(year, deadline=deadline, upcoming=True)
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout), workforce(Executor(workers, dask)) as shared:
        plans = plans_for(settings)
        return _templates(settings, plans.current, cycle, shared, return_to)


@flow(name="insamling", log_prints=False)
def collect_flow(
    year: int | None = None,
    inbox: Path = Path("inbox"),
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    quiet_seconds: float | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    dask: bool = False,
) -> CollectResult:
    """Takes in the förvaltningar's workbooks for the year (default: this year) and gives each feedback."""
    check_safe_xml()
    cycle = Cycle.build(year, as_of)
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    intake.check_folders(settings.inbox, settings.outbox)  # before the lock creates the outbox
    with outbox_lock(settings.outbox, settings.lock_timeout), workforce(Executor(workers, dask)) as shared:
        plans = plans_for(settings)
        return _collect(settings, plans, cycle, shared, batch_size)


@flow(name="rapport", log_prints=False)
def report_flow(
    year: int | None = None,
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    workers: int | None = None,
    dask: bool = False,
    allow_empty: bool = False,
) -> ReportResult:
    """Writes the consolidated handlingsplan, the follow-up and the summary for the year (default: this year).

    With no accepted submission for the year it stops without writing (NothingToReportError),
    unless `allow_empty` asks for empty reports.
    """
    cycle = Cycle.build(year, as_of)
    settings = _settings(outbox=outbox, plan_file=plan_file)
    with outbox_lock(settings.outbox, settings.lock_timeout), workforce(Executor(workers, dask)) as shared:
        if not allow_empty:
            _require_submissions(store.received(settings, cycle.year).in_force, cycle.year)
        plans = plans_for(settings)
        return _report(settings, plans, cycle, shared, allow_empty=allow_empty)


@flow(name="arlig-korning", log_prints=False)
def run_flow(
    year: int | None = None,
    inbox: Path = Path("inbox"),
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    quiet_seconds: float | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    dask: bool = False,
    return_to: str = RETURN_TO_DEFAULT,
    allow_empty: bool = False,
) -> RunResult:
    """The annual run: collect the year's submissions, write the reports and next year's templates.

    Year defaults to the current year, as-of to today: the follow-up before mål- och budget.
    With no accepted submission the reports are left out (unless `allow_empty`); next year's
    templates are written all the same.
    """
    check_safe_xml()
    cycle = Cycle.build(year, as_of)
    settings = _settings(inbox=inbox, outbox=outbox, plan_file=plan_file, quiet_seconds=quiet_seconds)
    intake.check_folders(settings.inbox, settings.outbox)  # before the lock creates the outbox
    with outbox_lock(settings.outbox, settings.lock_timeout), workforce(Executor(workers, dask)) as shared:
        plans = plans_for(settings)
        collected = _collect(settings, plans, cycle, shared, batch_size)
        report: ReportResult | None = None
        try:
            report = _report(settings, plans, cycle, shared, allow_empty=allow_empty)
        except NothingToReportError as exc:
            get_run_logger().warning("%s", exc)
        next_cycle = Cycle.build(cycle.year + 1, cycle.as_of)
        next_templates = _templates(settings, plans.current, next_cycle, shared, return_to)
    return RunResult(collect=collected, report=report, next_templates=tuple(next_templates))


# --- what the coordinator sees in Prefect's UI -------------------------------------------


def _publish_collect(result: CollectResult) -> None:
    rows = [
        {
            "Fil": f.name,
            "Förvaltning": f.department or "",
            "Utfall": STATE_LABEL[f.state],
            "Fel": f.errors,
            "Varningar": f.warnings,
            "Återkoppling": str(f.feedback or ""),
            "Tekniskt fel": "; ".join(f.details),
        }
        for f in result.files
    ]
    create_table_artifact(
        key=f"insamling-{result.year}", table=rows, description=f"Inlämningar {result.year}"
    )
    counts = (
        count_phrase(result.new_submissions, "ny", "nya"),
        count_phrase(result.count("accepted"), "godkänd", "godkända"),
        count_phrase(result.count("rejected"), "avvisad", "avvisade"),
        f"{result.count('waiting')} väntar",
    )
    get_run_logger().info("Insamling %d: %s", result.year, ", ".join(counts))


def _publish_report(result: ReportResult) -> None:
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
