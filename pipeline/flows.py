"""Prefect flows and tasks: the only wiring, and the one place that decides where work runs.

Stages are plain functions over one file or one batch (check, feedback, store, combine,
template, report). The flows read what the store holds at their edge, hand it to the pure
parts, and spread batches over an `Executor`: in this process, a local process pool, or a
Dask cluster, all through Prefect's task runners. Each flow holds the outbox's lock while
it writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_UI_URL,
    temporary_settings,
)
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from pipeline import check, intake, isolate, store
from pipeline import template as template_stage
from pipeline.adoption import (
    AdoptedDepartment,
    Adoption,
    Decision,
    department_state,
    keep_as_history,
    read_manifest,
    sha256_of,
    write_manifest,
)
from pipeline.combine import ACTION_TABLE_COLUMNS, AdoptedActions, Consolidated, combine_submissions
from pipeline.config import (
    CONTACTS_FILE_NAME,
    RETURN_TO_DEFAULT,
    SMTP_PASSWORD_BLOCK,
    Cycle,
    MailSettings,
    Settings,
    check_safe_xml,
    today,
)
from pipeline.contacts import ContactBook, parse_address, read_contacts, write_contacts
from pipeline.errors import HandlingsplanError, InvalidInputError, MissingInputError, NothingToReportError
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.files import outbox_lock
from pipeline.letters import (
    DAYS_AFTER,
    DAYS_BEFORE,
    Addressee,
    FeedbackFiles,
    failure_letter,
    feedback_letter,
    reminder_letters,
    reminder_occasion,
    run_failed_letter,
    summary_letter,
    template_letters,
)
from pipeline.letters import Year as LetterYear
from pipeline.mailing import (
    DRY_RUN_SENDER,
    KIND_LABEL,
    SEND_STATUS_LABEL,
    Attachment,
    Kind,
    Letter,
    Outcome,
    Sender,
    SendReport,
    deliver,
)
from pipeline.plan import Plan, archive_plan, load_plan
from pipeline.problems import ERROR, problem
from pipeline.records import (
    STATE_LABEL,
    CleanData,
    FileReport,
    LedgerRecord,
    Pending,
    State,
    board_decision_text,
)
from pipeline.report import (
    pdf_unavailable,
    write_action_plan,
    write_follow_up,
    write_reports,
    write_summary_files,
)
from pipeline.smtp import Mailer
from pipeline.text import count_phrase, display_time, visible

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
    contact_changes: tuple[str, ...] = ()
    """Newly accepted submissions naming another contact than kontakter.xlsx."""
    mailing: SendReport | None = None
    """The feedback sent right after checking (collect --send-feedback)."""

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
    days = [check.arrival_day(p.arrived, p.received) for p in batch]
    whole = isolate.run_isolated(check.check_batch, files, plans, cycle.year, cycle.as_of, days)
    _log_again(whole)
    if whole.value is not None:
        return whole.value
    log.warning("En omgång om %d filer stoppade kontrollen (%s); var fil för sig", len(files), whole.crashed)
    results = []
    for (path, name), day in zip(files, days, strict=True):
        alone = isolate.run_isolated(check.check_batch, [(path, name)], plans, cycle.year, cycle.as_of, [day])
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
        if k in ("inbox", "outbox", "plan_file", "contacts_file") and v is not None
    }
    others = {k: v for k, v in overrides.items() if k not in paths}
    settings = Settings().with_overrides(**paths, **others)
    if overrides.get("contacts_file") is None:
        # kontakter.xlsx lives in the working folder, beside inbox/ and outbox/.
        settings = settings.with_overrides(contacts_file=settings.outbox.parent / CONTACTS_FILE_NAME)
    return settings


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
    changes = contact_changes(settings, plans.current, [p.record for p in processed])
    _tell(changes)
    reports = sorted([*taken.reports, *(p.report for p in processed)], key=lambda r: r.name)
    result = CollectResult(
        year=cycle.year,
        files=tuple(reports),
        in_force=after.in_force,
        notes=after.notes,
        contact_changes=tuple(changes),
    )
    _publish_collect(result)
    return result


def contact_changes(settings: Settings, plan: Plan, records: Sequence[LedgerRecord]) -> list[str]:
    """Returns a line for each accepted submission whose own contact (Kontaktperson, E-post)
    is not the one kontakter.xlsx names for its förvaltning; none without kontakter.xlsx."""
    accepted = [r for r in records if r.verdict == "accepted" and r.department]
    if not accepted or not settings.contacts_file.is_file():
        return []
    found, _ = addressees(settings, plan)
    lines = []
    for record in accepted:
        known = found.get(record.department or "")
        own_email = parse_address(record.email or "") or (record.email or "")
        if known is None or (
            own_email.lower() == (known.email or "").lower()
            and (record.contact or "").strip().casefold() == known.name.strip().casefold()
        ):
            continue
        stated = ", ".join(filter(None, (record.contact, record.email))) or "ingen kontakt"
        listed = ", ".join(filter(None, (known.name, known.email))) or "ingen kontakt"
        lines.append(
            visible(
                f"{record.department}: inlämningen {record.original_name} anger {stated} som kontakt, "
                f"men {settings.contacts_file.name} anger {listed}. Återkopplingen går till inlämningens "
                f"kontakt; uppdatera {settings.contacts_file.name} om förvaltningen har fått en ny representant."
            )
        )
    return lines


def consolidate(settings: Settings, plans: check.Plans, cycle: Cycle) -> Consolidated:
    """Returns the consolidated plan from what the store holds as in force for the year."""
    year_view = store.received(settings, cycle.year, plans.current.department_codes)
    kept = _kept_in_force(settings, plans, cycle, year_view)
    # Last year as KS adopted it, where it did; else last year's handlingsplan as last written.
    last_adoption = read_manifest(settings.adopted_manifest(cycle.year - 1))
    previous = store.adopted_plan(settings, cycle.year - 1, ACTION_TABLE_COLUMNS) if last_adoption else None
    if previous is None:
        last_adoption = None
        previous = store.previous_plan(settings, cycle.year, ACTION_TABLE_COLUMNS)
    return combine_submissions(
        plans.current,
        cycle.year,
        cycle.as_of,
        kept,
        year_view.open_rejections,
        previous.actions if previous is not None else None,
        history=year_view.records,
        adopted=_adopted_actions(settings, cycle.year),
        previous_adopted=last_adoption.decision.text if last_adoption is not None else None,
    )


def _adopted_actions(settings: Settings, year: int) -> AdoptedActions | None:
    """Returns the actions KS adopted for the year and the decision, when it has adopted."""
    adoption = read_manifest(settings.adopted_manifest(year))
    if adoption is None:
        return None
    kept = store.adopted_plan(settings, year, ACTION_TABLE_COLUMNS)
    if kept is None:
        log.warning(
            "Den antagna handlingsplanen %s saknas; avvikelserna kan inte visas", settings.adopted_file(year)
        )
        return None
    return AdoptedActions(kept.actions, adoption.decision.text, adoption.decision.since)


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
    received = check.arrival_day(record.arrived, record.received)
    checked = check.check_submission(archived, record.original_name, plans, cycle.year, cycle.as_of, received)
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
                "writer": write_summary_files,
                "targets": tuple(settings.summary_file(year, suffix) for suffix in (".html", ".md", ".pdf")),
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
    missing_pdf = pdf_unavailable()  # the summary's PDF needs WeasyPrint and Pango: say what to install
    if missing_pdf is not None:
        notes = (*notes, missing_pdf)
    result = ReportResult(year=cycle.year, paths=tuple(paths), consolidated=consolidated, notes=notes)
    _publish_report(result)
    return result


def _templates(
    settings: Settings, plan: Plan, cycle: Cycle, workers: Workforce, return_to: str
) -> list[Path]:
    """Writes the year's templates, pre-filled from last year's handlingsplan where it exists."""
    previous = store.previous_plan(settings, cycle.year, ACTION_TABLE_COLUMNS)
    last_adoption = read_manifest(settings.adopted_manifest(cycle.year - 1))
    carried_from = f"handlingsplanen {cycle.year - 1}"
    if last_adoption is not None:
        # The carried actions are last year's plan as last followed up; readers know it by its adoption.
        carried_from += f" (antagen {last_adoption.decision.text}, med status från uppföljningen)"
    base = template_stage.TemplateOptions(
        year=cycle.year,
        deadline=cycle.deadline,
        return_to=return_to,
        prepared_rows=settings.prepared_rows,
        carried_from=carried_from,
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
    if jobs:
        template_stage.write_issued(settings.templates_manifest(cycle.year), jobs)
    get_run_logger().info("Skrev %d mallar till %s", len(paths), settings.templates_dir(cycle.year))
    return paths


def _last_years_contacts(settings: Settings, plan: Plan, year: int) -> dict[str, tuple[str, str]]:
    """Returns each förvaltning's contact person and e-mail from its submission in force last year."""
    last_year = store.received(settings, year - 1, plan.department_codes)
    kept = store.clean_data_in_force(settings, last_year)
    return {code: (data.contact, data.email) for code, data in kept.items() if data is not None}


# --- when a scheduled run fails ------------------------------------------------------------


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_failure hook: a run started by a deployment (its schedule or the UI) that
    fails e-mails the coordinator once: which flow, when, the Swedish error line and where
    the log is. A command's own run is left alone: its error is on the screen.

    Never raises: a notice that cannot be sent is logged, and the run's failure stands.
    """
    if getattr(flow_run, "deployment_id", None) is None:
        return
    try:
        _send_failure_notice(flow, flow_run, state)
    except Exception:
        log.exception("Meddelandet om den stoppade körningen %s kunde inte skickas", flow_run.name)


def _send_failure_notice(flow: Any, flow_run: Any, state: Any) -> None:
    parameters = dict(getattr(flow_run, "parameters", None) or {})
    settings = _settings(outbox=parameters.get("outbox") or Path("outbox"))
    mail = mail_settings(settings.outbox.parent)
    if not mail.coordinator:
        log.warning("HANDLINGSPLAN_COORDINATOR saknas: ingen får veta att %s stoppades", flow_run.name)
        return
    error = state.result(raise_on_failure=False) if state is not None else None
    line = str(error) if isinstance(error, HandlingsplanError) else _error_line(error, state)
    ui = PREFECT_UI_URL.value()
    log_place = f"{ui}/runs/flow-run/{flow_run.id}" if ui else f"prefect flow-run logs {flow_run.id}"
    started = getattr(flow_run, "start_time", None) or dt.datetime.now(dt.UTC)
    year = int(parameters.get("year") or today().year)
    letter = run_failed_letter(
        mail.coordinator,
        str(getattr(flow, "name", "")),
        str(flow_run.name),
        str(flow_run.id),
        display_time(started.isoformat()),
        line,
        log_place,
        year,
    )
    _send("run_failed", year, [letter], settings, mail, dry_run=False, resend=False)


def _error_line(error: Any, state: Any) -> str:
    if isinstance(error, BaseException):
        return f"Ett oväntat fel i programmet ({type(error).__name__}: {error}). Loggen visar var."
    return str(getattr(state, "message", "") or "Körningen stoppades av ett okänt fel.")


# --- the flows ---------------------------------------------------------------------------


@flow(name="mallar", log_prints=False, on_failure=[notify_failure])
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


@flow(name="insamling", log_prints=False, on_failure=[notify_failure])
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
    contacts_file: Path | None = None,
    send_feedback: bool = False,
) -> CollectResult:
    """Takes in the förvaltningar's workbooks for the year (default: this year) and gives each
    feedback; with `send_feedback` the feedback is also e-mailed (see send_feedback_flow)."""
    check_safe_xml()
    cycle = Cycle.build(year, as_of)
    settings = _settings(
        inbox=inbox,
        outbox=outbox,
        plan_file=plan_file,
        quiet_seconds=quiet_seconds,
        contacts_file=contacts_file,
    )
    intake.check_folders(settings.inbox, settings.outbox)  # before the lock creates the outbox
    mail = (
        mail_settings(settings.outbox.parent) if send_feedback else None
    )  # a setting that cannot be used stops the run first
    with outbox_lock(settings.outbox, settings.lock_timeout), workforce(Executor(workers, dask)) as shared:
        plans = plans_for(settings)
        result = _collect(settings, plans, cycle, shared, batch_size)
        if mail is None:
            return result
        sent = _send_feedback(settings, plans.current, cycle.year, mail, dry_run=False, resend=False)
        return dataclasses.replace(result, mailing=sent)


@flow(name="rapport", log_prints=False, on_failure=[notify_failure])
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


@flow(name="arlig-korning", log_prints=False, on_failure=[notify_failure])
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


# --- utskick -----------------------------------------------------------------------------


def mail_settings(working_dir: Path | None = None) -> MailSettings:
    """Returns the mail settings: HANDLINGSPLAN_* variables, else a `.env` file in the working
    folder (beside inbox/ and outbox/); the password, when not given so, from the Prefect
    Secret block (see README). The sender's and the coordinator's addresses must be addresses."""
    mail = MailSettings.from_environment(dotenv=(working_dir or Path.cwd()) / ".env")
    checked = {}
    for variable, given in (("MAIL_FROM", mail.mail_from), ("COORDINATOR", mail.coordinator)):
        if given is None:
            continue
        address = parse_address(given)
        if address is None:
            raise InvalidInputError(
                f'HANDLINGSPLAN_{variable}="{visible(given)}" är ingen e-postadress; skriv t.ex. integration@kalix.se.'
            )
        checked[variable] = address
    mail = dataclasses.replace(
        mail, mail_from=checked.get("MAIL_FROM"), coordinator=checked.get("COORDINATOR")
    )
    if mail.host and mail.user and mail.password is None:
        from prefect.blocks.system import Secret

        try:
            secret: Any = Secret.load(SMTP_PASSWORD_BLOCK)  # sync in a sync context
        except ValueError:
            log.info("Inget Prefect-block %s; inget SMTP-lösenord därifrån", SMTP_PASSWORD_BLOCK)
        else:
            mail = dataclasses.replace(mail, password=str(secret.get()))
    return mail


def addressees(settings: Settings, plan: Plan) -> tuple[dict[str, Addressee], ContactBook]:
    """Returns who each förvaltning's letters go to, from kontakter.xlsx, and the book itself."""
    book = read_contacts(settings.contacts_file, plan.department_codes)
    found = {code: Addressee(c.name, c.email, c.copies) for code, c in book.contacts.items()}
    return found, book


def _contact_notes(book: ContactBook) -> list[str]:
    if not book.exists:
        return [
            f"{book.path.name} finns inte, så ingen förvaltning har någon adress. "
            "Skapa den med: handlingsplan contacts, och fyll i adresserna."
        ]
    return [f"{p.file}, {p.text}" for p in book.problems]


def _send(
    kind: Kind,
    year: int,
    letters: Sequence[Letter],
    settings: Settings,
    mail: MailSettings,
    *,
    dry_run: bool,
    resend: bool,
    notes: Sequence[str] = (),
) -> SendReport:
    """Sends (or with a dry run writes) the letters, then tells the coordinator what failed."""
    dry = dry_run or mail.dry_run
    if not dry and not mail.mail_from:
        raise InvalidInputError(
            "Ange avsändaradressen i HANDLINGSPLAN_MAIL_FROM (t.ex. integration@kalix.se) för att skicka."
        )
    sender = Sender(mail.mail_from or DRY_RUN_SENDER, reply_to=mail.coordinator)
    with contextlib.ExitStack() as stack:
        transport = None if dry else stack.enter_context(Mailer(mail)).send

        def to_deliver(batch: Sequence[Letter], again: bool) -> list[Outcome]:
            return deliver(
                batch,
                sender=sender,
                send_log=settings.send_log_file,
                transport=transport,
                eml_dir=settings.mail_dir(year),
                resend=again,
            )

        outcomes = to_deliver(letters, resend)
        report = SendReport(kind, year, dry, tuple(outcomes), tuple(notes))
        if transport is not None and report.failures and mail.coordinator:
            when = dt.datetime.now(dt.UTC).isoformat()
            about = failure_letter(
                mail.coordinator,
                KIND_LABEL[kind],
                year,
                report.failures,
                settings.contacts_file,
                settings.send_log_file,
                display_time(when),
            )
            to_deliver([about], False)
    for note in notes:
        log.warning("%s", note)
    _publish_send(report)
    return report


def _publish_send(report: SendReport) -> None:
    rows = [
        {
            "Mottagare": ", ".join(o.recipients or o.letter.to) or "(ingen adress)",
            "Förvaltning": o.letter.department or "",
            "Ämne": o.letter.subject,
            "Utfall": SEND_STATUS_LABEL[o.status],
            "Fel": "; ".join([*(f"{a}: {r}" for a, r in o.refused.items()), *([o.error] if o.error else [])]),
        }
        for o in report.outcomes
    ]
    create_table_artifact(
        key=f"utskick-{report.kind}-{report.year}",
        table=rows,
        description=f"Utskick {KIND_LABEL[report.kind]} {report.year}",
    )
    get_run_logger().info("%s", report.summary_line())


def _send_templates(
    settings: Settings, plan: Plan, year: int, mail: MailSettings, *, dry_run: bool, resend: bool
) -> SendReport:
    issued = template_stage.read_issued(settings.templates_manifest(year))
    folder = settings.templates_dir(year)
    if issued is not None:
        files = {code: folder / name for code, name in issued.files.items() if (folder / name).is_file()}
    else:
        files = {
            code: p for code in plan.department_codes if (p := settings.template_file(year, code)).is_file()
        }
    if not files:
        raise MissingInputError(
            f"Det finns inga mallar för {year} i {folder}. Skriv dem först: handlingsplan templates --year {year}"
        )
    found, book = addressees(settings, plan)
    cycle = _letter_year(year, issued, mail)
    letters = template_letters(plan, cycle, found, files, issued.carried if issued else None)
    missing = [code for code in plan.department_codes if code not in files]
    notes = [*_contact_notes(book), *(f"Mallen för {code} saknas i {folder}." for code in missing)]
    return _send("templates", year, letters, settings, mail, dry_run=dry_run, resend=resend, notes=notes)


def _letter_year(
    year: int, issued: template_stage.Issued | None, mail: MailSettings, deadline: dt.date | None = None
) -> LetterYear:
    return LetterYear(
        year=year,
        deadline=deadline or (issued.deadline if issued else None),
        return_to=issued.return_to if issued else RETURN_TO_DEFAULT,
        coordinator=mail.coordinator,
    )


def _send_feedback(
    settings: Settings, plan: Plan, year: int, mail: MailSettings, *, dry_run: bool, resend: bool
) -> SendReport:
    """Feedback on each submission that still matters: the one in force per förvaltning and
    rejections not yet put right (a superseded submission's feedback would only confuse)."""
    year_view = store.received(settings, year, plan.department_codes)
    found, book = addressees(settings, plan)
    relevant = [*year_view.in_force.values(), *year_view.open_rejections]
    letters = []
    notes = _contact_notes(book) if book.problems or not book.exists else []
    for record in sorted(relevant, key=lambda r: (r.department or "~", r.received, r.digest)):
        files = _feedback_files(settings, record)
        if files is None:
            continue
        letter = feedback_letter(plan, record, files, found.get(record.department or ""))
        if not letter.to and record.department is None:
            # No förvaltning and no address in the file: nobody to write to, and nothing the
            # coordinator can mend in kontakter.xlsx; the feedback is in the outbox.
            notes.append(
                visible(
                    f"{record.original_name}: okänd förvaltning och ingen giltig e-postadress i filen, så "
                    f"återkopplingen kan inte skickas. Den finns i {_feedback_files_shown(settings, files)}."
                )
            )
            continue
        letters.append(letter)
    return _send("feedback", year, letters, settings, mail, dry_run=dry_run, resend=resend, notes=notes)


def _feedback_files_shown(settings: Settings, files: FeedbackFiles) -> str:
    return _relative(files.html, settings.outbox)


def _feedback_files(settings: Settings, record: LedgerRecord) -> FeedbackFiles | None:
    if record.year is None or not record.feedback:
        return None
    paths = settings.feedback_paths(record.year, record.department, record.digest)
    if not (paths.html.is_file() and paths.markdown.is_file()):
        log.warning("Återkopplingen för %s finns inte (%s)", record.original_name, paths.html)
        return None
    marked = paths.marked if record.verdict == "rejected" and paths.marked.is_file() else None
    return FeedbackFiles(paths.html, paths.markdown, marked)


def _send_reminders(
    settings: Settings,
    plan: Plan,
    cycle: Cycle,
    mail: MailSettings,
    schedule: Reminders,
    *,
    dry_run: bool,
    resend: bool,
) -> SendReport | None:
    issued = template_stage.read_issued(settings.templates_manifest(cycle.year))
    deadline = cycle.deadline or (issued.deadline if issued else None)
    if deadline is None and schedule.scheduled:
        # The daily run before any templates with a deadline exist: nothing to remind of yet.
        get_run_logger().info("Inga mallar med sista dag för %d; inga påminnelser", cycle.year)
        return None
    if deadline is None:
        raise InvalidInputError(
            f"Ingen sista dag är känd för {cycle.year}: mallarna skrevs utan --deadline. "
            f"Ange den här: handlingsplan send reminders --year {cycle.year} --deadline ÅÅÅÅ-MM-DD"
        )
    occasion = reminder_occasion(
        deadline, cycle.as_of, schedule.days_before, schedule.days_after, scheduled=schedule.scheduled
    )
    if occasion is None:
        get_run_logger().info("Ingen påminnelse i dag (%s); sista dag %s", cycle.as_of, deadline)
        return None
    year_view = store.received(settings, cycle.year, plan.department_codes)
    rejected = {r.department: r for r in year_view.open_rejections if r.department}
    found, book = addressees(settings, plan)
    letters = reminder_letters(
        plan,
        _letter_year(cycle.year, issued, mail, deadline),
        occasion,
        found,
        list(year_view.in_force),
        rejected,
    )
    notes = _contact_notes(book) if book.problems or not book.exists else []
    return _send("reminder", cycle.year, letters, settings, mail, dry_run=dry_run, resend=resend, notes=notes)


@dataclass(frozen=True)
class Reminders:
    """When reminders go: days before and after the deadline; `scheduled` runs (daily, from the
    deployment) send only once such a day is reached."""

    days_before: tuple[int, ...] = DAYS_BEFORE
    days_after: tuple[int, ...] = DAYS_AFTER
    scheduled: bool = False


def _send_summary(
    settings: Settings, year: int, to: Sequence[str], mail: MailSettings, *, dry_run: bool, resend: bool
) -> SendReport:
    html_file, md_file = settings.summary_file(year, ".html"), settings.summary_file(year, ".md")
    follow_up = settings.follow_up_file(year)
    if not (html_file.is_file() and md_file.is_file() and follow_up.is_file()):
        raise MissingInputError(
            f"Rapporterna för {year} finns inte i {settings.year_dir(year)}. "
            f"Skriv dem först: handlingsplan report --year {year}"
        )
    addresses = []
    for given in to:
        address = parse_address(given)
        if address is None:
            raise InvalidInputError(f'"{visible(given)}" är ingen giltig e-postadress (t.ex. ks@kalix.se).')
        addresses.append(address)
    attachments = [Attachment(follow_up.name, follow_up.read_bytes())]
    pdf = settings.summary_file(year, ".pdf")
    if pdf.is_file():
        attachments.append(Attachment(pdf.name, pdf.read_bytes(), "application/pdf"))
    letter = summary_letter(
        year,
        addresses,
        html_file.read_text(encoding="utf-8"),
        md_file.read_text(encoding="utf-8"),
        attachments,
    )
    return _send("summary", year, [letter], settings, mail, dry_run=dry_run, resend=resend)


@contextlib.contextmanager
def _mailing(
    outbox: Path, contacts_file: Path | None, plan_file: Path | None
) -> Iterator[tuple[Settings, Plan, MailSettings]]:
    """Yields what every `send` flow starts from: the paths, the plan and the mail settings
    (read from the working folder, beside the outbox), with the outbox locked while it sends."""
    settings = _settings(outbox=outbox, contacts_file=contacts_file, plan_file=plan_file)
    mail = mail_settings(settings.outbox.parent)  # a setting that cannot be used stops it before the lock
    with outbox_lock(settings.outbox, settings.lock_timeout):
        yield settings, load_plan(settings.plan_file), mail


@flow(name="utskick-mallar", log_prints=False, on_failure=[notify_failure])
def send_templates_flow(
    year: int,
    outbox: Path = Path("outbox"),
    contacts_file: Path | None = None,
    plan_file: Path | None = None,
    dry_run: bool = False,
    resend: bool = False,
) -> SendReport:
    """Sends each förvaltning its template for the year, with a letter saying what, why, by when and how."""
    with _mailing(outbox, contacts_file, plan_file) as (settings, plan, mail):
        return _send_templates(settings, plan, year, mail, dry_run=dry_run, resend=resend)


@flow(name="paminnelser", log_prints=False, on_failure=[notify_failure])
def send_reminders_flow(
    year: int | None = None,
    outbox: Path = Path("outbox"),
    contacts_file: Path | None = None,
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
    deadline: dt.date | None = None,
    days_before: list[int] | None = None,
    days_after: list[int] | None = None,
    scheduled: bool = False,
    dry_run: bool = False,
    resend: bool = False,
) -> SendReport | None:
    """Reminds each förvaltning without an accepted submission for the year: before the deadline
    that it is coming, after it that it has passed; a rejected one is told what to fix.

    Year defaults to the latest year whose templates were issued with a deadline. A `scheduled`
    run (the daily deployment) sends only on the reminder days and returns None on the others.
    """
    schedule = Reminders(
        tuple(DAYS_BEFORE if days_before is None else days_before),
        tuple(DAYS_AFTER if days_after is None else days_after),
        scheduled,
    )
    as_of = as_of or today()
    with _mailing(outbox, contacts_file, plan_file) as (settings, plan, mail):
        year = year or _latest_issued_year(settings) or as_of.year
        cycle = Cycle(year=year, as_of=as_of, deadline=deadline)
        return _send_reminders(settings, plan, cycle, mail, schedule, dry_run=dry_run, resend=resend)


def _latest_issued_year(settings: Settings) -> int | None:
    """Returns the latest year whose templates were written with a deadline (mallar.json)."""
    years = sorted(
        (int(p.name) for p in settings.outbox.glob("[0-9][0-9][0-9][0-9]") if p.is_dir()), reverse=True
    )
    for year in years:
        issued = template_stage.read_issued(settings.templates_manifest(year))
        if issued is not None and issued.deadline is not None:
            return year
    return None


@flow(name="utskick-aterkoppling", log_prints=False, on_failure=[notify_failure])
def send_feedback_flow(
    year: int,
    outbox: Path = Path("outbox"),
    contacts_file: Path | None = None,
    plan_file: Path | None = None,
    dry_run: bool = False,
    resend: bool = False,
) -> SendReport:
    """Sends each submission's feedback (in force, or rejected and not yet put right) to its contact."""
    with _mailing(outbox, contacts_file, plan_file) as (settings, plan, mail):
        return _send_feedback(settings, plan, year, mail, dry_run=dry_run, resend=resend)


@flow(name="utskick-sammanfattning", log_prints=False, on_failure=[notify_failure])
def send_summary_flow(
    year: int,
    to: list[str],
    outbox: Path = Path("outbox"),
    dry_run: bool = False,
    resend: bool = False,
) -> SendReport:
    """Sends the summary (HTML, with a text part) and the follow-up workbook to the given addresses."""
    with _mailing(outbox, None, None) as (settings, _, mail):
        return _send_summary(settings, year, to, mail, dry_run=dry_run, resend=resend)


@dataclass(frozen=True)
class PreparedContacts:
    """The contacts file after `handlingsplan contacts`: created now or not, what it says."""

    book: ContactBook
    created: bool
    codes: tuple[str, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        """Returns the plan's förvaltningar with no valid address."""
        return tuple(code for code in self.codes if not (c := self.book.contacts.get(code)) or not c.email)


def prepare_contacts(
    contacts_file: Path | None = None, plan_file: Path | None = None, outbox: Path = Path("outbox")
) -> PreparedContacts:
    """Creates kontakter.xlsx when missing, pre-filled with the plan's förvaltningar (and each
    one's contact from its latest accepted submission), and returns what it says."""
    settings = _settings(contacts_file=contacts_file, plan_file=plan_file, outbox=outbox)
    plan = load_plan(settings.plan_file)
    created = not settings.contacts_file.exists()
    if created:
        known = _latest_contacts(settings, plan) if settings.ledger_file.is_file() else {}
        departments = [(d.code, d.name) for d in plan.departments]
        write_contacts(settings.contacts_file, departments, known)
    book = read_contacts(settings.contacts_file, plan.department_codes)
    return PreparedContacts(book, created, tuple(plan.department_codes))


def _latest_contacts(settings: Settings, plan: Plan) -> dict[str, tuple[str, str]]:
    """Returns each förvaltning's contact as its latest accepted submission (any year) names it."""
    ledger = store.load_ledger(settings)
    latest: dict[str, LedgerRecord] = {}
    for record in ledger.records:
        if record.verdict == "accepted" and record.department in plan.department_codes and record.email:
            current = latest.get(record.department)
            if current is None or store.received_order(record) > store.received_order(current):
                latest[record.department] = record
    return {code: (r.contact or "", r.email or "") for code, r in latest.items()}


# --- antagande ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdoptResult:
    """What `adopt` did: the adoption in force, its files, and whether anything was written."""

    adoption: Adoption
    files: tuple[Path, ...]
    unchanged: bool = False
    """The same decision was already adopted: nothing was written."""
    revised: Adoption | None = None
    """The earlier adoption this one replaced (kept under antagen/historik/)."""


@flow(name="antagande", log_prints=False, on_failure=[notify_failure])
def adopt_flow(
    year: int,
    decision: str,
    outbox: Path = Path("outbox"),
    plan_file: Path | None = None,
    as_of: dt.date | None = None,
) -> AdoptResult:
    """Freezes the handlingsplan in force as KS adopted it: outbox/<år>/antagen/.

    Writes handlingsplan_<år>_antagen.xlsx (the consolidated handlingsplan with the decision
    on its first sheet and in its properties) and antagen.json (the decision and, per
    förvaltning, the submission in force, its sha256 and state). The same decision again
    changes nothing; a new one (a revision) keeps the earlier adoption under antagen/historik/.
    """
    settings = _settings(outbox=outbox, plan_file=plan_file)
    decided = Decision.parse(decision)
    cycle = Cycle.build(year, as_of or decided.date)
    with outbox_lock(settings.outbox, settings.lock_timeout):
        current = read_manifest(settings.adopted_manifest(year))
        if current is not None and current.decision.text == decided.text:
            files = (settings.adopted_file(year), settings.adopted_manifest(year))
            return AdoptResult(current, files, unchanged=True)
        _require_submissions(store.received(settings, year).in_force, year)
        plans = plans_for(settings)
        consolidated = consolidate(settings, plans, cycle)
        history = current.history if current is not None else ()
        if current is not None:
            moved = keep_as_history(
                settings.adopted_dir(year),
                current,
                (settings.adopted_file(year), settings.adopted_manifest(year)),
            )
            history = (*history, moved)
        adoption = _adoption(consolidated, decided, cycle, settings.adopted_file(year).name, history)
        document = write_action_plan(consolidated, settings.adopted_file(year), adoption=adoption)
        adoption = dataclasses.replace(adoption, sha256=sha256_of(document))
        manifest = write_manifest(settings.adopted_manifest(year), adoption)
    get_run_logger().info("Handlingsplanen %d antagen: %s", year, decided.text)
    return AdoptResult(adoption, (document, manifest), revised=current)


def _adoption(
    consolidated: Consolidated, decision: Decision, cycle: Cycle, document: str, history: tuple[Any, ...]
) -> Adoption:
    departments = tuple(
        AdoptedDepartment(
            code=d.code,
            name=d.name,
            state=department_state(d.submitted, d.decision_date, d.decision_paragraph),
            file=d.file,
            sha256=d.digest,
            received=d.received,
            board_decision=board_decision_text(d.decision_date, d.decision_paragraph),
        )
        for d in consolidated.departments
    )
    return Adoption(cycle.year, decision, cycle.as_of, departments, document, "", history)
