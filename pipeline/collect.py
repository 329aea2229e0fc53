"""The collect stage: every file in the inbox → accepted, rejected, ignored or waiting.

For each new file: archive its bytes, sniff it, identify it by its embedded
identification, read and validate it, write feedback and record it in the ledger. One bad
file never stops the run: whatever goes wrong with a file becomes its rejection.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

from pipeline import contract as c
from pipeline.config import READABLE_TEMPLATE_VERSIONS, Settings, check_safe_xml
from pipeline.errors import MissingInputError
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.feedback import load_templates as load_feedback_templates
from pipeline.files import write_text_atomic
from pipeline.intake import (
    ArchivedFile,
    FileChangedDuringCopyError,
    InboxEntry,
    LedgerRecord,
    append_ledger_many,
    archive_submission,
    in_force,
    read_ledger,
    scan_inbox,
    utc_iso,
)
from pipeline.plan import Plan, plan_for_version
from pipeline.problems import ERROR, WARNING, Problem, count, first_reasons
from pipeline.read import RawWorkbook, read_identification, read_workbook
from pipeline.sniff import EXTERNAL_LINKS_NOTE, sniff_workbook
from pipeline.validate import Submission, Validated, load_backends, validate_workbook, validate_workbooks

State = Literal["accepted", "rejected", "ignored", "waiting", "duplicate", "unchanged"]

STATE_LABEL = {
    "accepted": "godkänd",
    "rejected": "avvisad",
    "ignored": "ignorerad",
    "waiting": "väntar",
    "duplicate": "dubblett",
    "unchanged": "redan behandlad",
}


@dataclass(frozen=True)
class FileOutcome:
    """What the run did with one file in the inbox."""

    name: str
    state: State
    department: str | None = None
    digest: str | None = None
    errors: int = 0
    warnings: int = 0
    feedback: Path | None = None
    message: str = ""


@dataclass(frozen=True)
class CollectResult:
    """One collect run: an outcome per file and the submission in force per förvaltning."""

    year: int
    files: tuple[FileOutcome, ...]
    in_force: dict[str, LedgerRecord] = field(default_factory=dict)

    @property
    def new_submissions(self) -> int:
        """Returns how many files were handled for the first time in this run."""
        return sum(1 for f in self.files if f.state in ("accepted", "rejected"))

    def count(self, state: State) -> int:
        """Returns how many files ended in `state`."""
        return sum(1 for f in self.files if f.state == state)


@dataclass(frozen=True)
class Checked:
    """A submission after identification and validation (plain data, for feedback and ledger)."""

    department: str | None
    department_name: str | None
    plan_version: str | None
    problems: tuple[Problem, ...]
    validated: Validated | None = None
    contact: str = ""
    email: str = ""
    markable: bool = True
    """False when the file must not be opened again to mark it up (unsafe, or too large)."""

    @property
    def accepted(self) -> bool:
        """Returns True when nothing in the submission is an error."""
        return self.validated is not None and count(self.problems, ERROR) == 0


@dataclass(frozen=True)
class Pending:
    """A new submission, archived, waiting to be checked."""

    name: str
    digest: str
    archived: Path
    size: int
    received: str


@dataclass(frozen=True)
class Processed:
    """A checked submission: its ledger record and what the run reports about it."""

    record: LedgerRecord
    outcome: FileOutcome


@dataclass(frozen=True)
class Intake:
    """The inbox after the intake pass: final outcomes, and new submissions to check."""

    outcomes: tuple[FileOutcome, ...]
    pending: tuple[Pending, ...]


DEFAULT_BATCH_SIZE = 50
MIN_BATCH_SIZE = 10
BATCHES_PER_WORKER = 4
ARCHIVE_THREADS = 4


def warm_up() -> None:
    """Does now what checking the first file would: pandera's backends, the feedback templates.

    Done before the worker processes fork, they inherit it instead of each paying again
    (a third of a second each); the CLI does it while Prefect's server starts.
    """
    load_backends()
    load_feedback_templates()


def collect(
    settings: Settings,
    plan: Plan,
    year: int,
    *,
    now: float | None = None,
    as_of: dt.date | None = None,
    workers: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> CollectResult:
    """Handles every file in the inbox for `year` and returns what happened to each.

    Intake (scan and archive) runs here; new submissions are checked in batches, on
    `workers` processes when more than one; the ledger is written as batches finish.
    """
    intake = take_in(settings, year, now=now)
    as_of = as_of or dt.date.today()
    batches = make_batches(intake.pending, batch_size, workers)
    processed: list[Processed] = []
    if workers > 1 and len(batches) > 1:
        processed = process_batches_in_parallel(batches, plan, year, as_of, settings, workers)
    else:
        for batch in batches:
            processed.extend(record_batch(settings, process_batch(batch, plan, year, as_of, settings)))
    return finish(settings, year, intake, processed)


def take_in(settings: Settings, year: int, *, now: float | None = None) -> Intake:
    """Returns the inbox sorted: ignored, waiting, duplicate and known files, and new ones archived."""
    check_safe_xml()
    now = time.time() if now is None else now
    if not settings.inbox.is_dir():
        raise MissingInputError(f"Inkorgen {settings.inbox} finns inte. Skapa mappen eller ange --inbox.")
    known = {r.digest for r in read_ledger(settings.ledger_file) if r.year == year}
    entries = scan_inbox(settings.inbox, now=now, quiet_seconds=settings.quiet_seconds)
    candidates = [entry for entry in entries if entry.state == "candidate"]
    # Archiving waits mostly on the disk (two syncs a file), so a few threads overlap it;
    # the files are then sorted in inbox order, as one by one.
    with ThreadPoolExecutor(max_workers=ARCHIVE_THREADS) as pool:
        archived = {
            entry.relative: result
            for entry, result in zip(
                candidates, pool.map(_archive, candidates, repeat(settings)), strict=True
            )
        }
    outcomes: list[FileOutcome] = []
    pending: list[Pending] = []
    seen: dict[str, str] = {}
    for entry in entries:
        item = _take(entry, archived.get(entry.relative), known, seen)
        if isinstance(item, Pending):
            pending.append(item)
        else:
            outcomes.append(item)
    return Intake(tuple(outcomes), tuple(pending))


def make_batches(
    pending: Sequence[Pending], batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1
) -> list[list[Pending]]:
    """Returns the pending submissions in batches of at most `batch_size`, in inbox order.

    For several workers a small inbox is cut finer, into about BATCHES_PER_WORKER batches
    each (of at least MIN_BATCH_SIZE files), so no worker sits idle while another finishes
    the last big batch.
    """
    size = max(1, batch_size)
    if workers > 1:
        share = math.ceil(len(pending) / (workers * BATCHES_PER_WORKER))
        size = min(size, max(MIN_BATCH_SIZE, share))
    return [list(pending[i : i + size]) for i in range(0, len(pending), size)]


def process_batches_in_parallel(
    batches: Sequence[Sequence[Pending]],
    plan: Plan,
    year: int,
    as_of: dt.date,
    settings: Settings,
    workers: int,
) -> list[Processed]:
    """Checks the batches on `workers` local processes; records each in the ledger as it returns."""
    processed: list[Processed] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(process_batch, batch, plan, year, as_of, settings) for batch in batches]
        for future in futures:
            processed.extend(record_batch(settings, future.result()))
    return processed


def record_batch(settings: Settings, processed: Sequence[Processed]) -> Sequence[Processed]:
    """Appends a batch's records to the ledger (one write, synced); returns the batch."""
    append_ledger_many(settings.ledger_file, [p.record for p in processed])
    return processed


def finish(
    settings: Settings, year: int, intake: Intake, processed: Sequence[Processed] = ()
) -> CollectResult:
    """Returns the run's result: every file's outcome in inbox order and what is in force."""
    outcomes = sorted([*intake.outcomes, *(p.outcome for p in processed)], key=lambda o: o.name)
    return CollectResult(
        year=year, files=tuple(outcomes), in_force=in_force(read_ledger(settings.ledger_file), year)
    )


def _archive(entry: InboxEntry, settings: Settings) -> ArchivedFile | FileOutcome:
    """Returns the entry's archived copy, or its outcome when it cannot be archived now."""
    try:
        return archive_submission(entry.path, settings.archive_dir)
    except FileChangedDuringCopyError:
        return FileOutcome(
            entry.relative,
            "waiting",
            message="Filen ändrades medan den kopierades; den behandlas vid nästa körning.",
        )
    except OSError as exc:
        return FileOutcome(
            entry.relative,
            "waiting",
            message=f"Filen kunde inte läsas ({exc.strerror or exc}); försöker igen nästa körning.",
        )


def _take(
    entry: InboxEntry, archived: ArchivedFile | FileOutcome | None, known: set[str], seen: dict[str, str]
) -> FileOutcome | Pending:
    if entry.state != "candidate" or archived is None:
        return FileOutcome(entry.relative, entry.state, message=entry.reason)
    if isinstance(archived, FileOutcome):
        return archived
    digest = archived.digest
    if digest in seen:
        return FileOutcome(
            entry.relative, "duplicate", digest=digest, message=f"Samma innehåll som {seen[digest]}."
        )
    seen[digest] = entry.relative
    if digest in known:
        return FileOutcome(
            entry.relative, "unchanged", digest=digest, message="Redan behandlad vid en tidigare körning."
        )
    return Pending(entry.relative, digest, archived.archived_path, archived.size, utc_iso(archived.mtime))


def process_batch(
    batch: Sequence[Pending], plan: Plan, year: int, as_of: dt.date, settings: Settings
) -> list[Processed]:
    """Returns each submission of the batch checked, with its feedback and clean data written.

    A plain function over paths (picklable arguments), so a batch can run in another
    process or on a Dask worker.
    """
    checked = check_submissions([(p.archived, p.name) for p in batch], plan, year, as_of, settings.plans_dir)
    return [_conclude(item, result, year, settings) for item, result in zip(batch, checked, strict=True)]


def _conclude(item: Pending, checked: Checked, year: int, settings: Settings) -> Processed:
    paths = write_feedback(
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
        settings.feedback_dir(year),
    )
    if checked.accepted and checked.validated is not None:
        write_clean_data(settings.clean_data_file(year, item.digest), checked)
    errors, warnings = count(checked.problems, ERROR), count(checked.problems, WARNING)
    record = LedgerRecord(
        digest=item.digest,
        original_name=item.name,
        size=item.size,
        received=item.received,
        processed=utc_iso(time.time()),
        department=checked.department,
        year=year,
        outcome="accepted" if checked.accepted else "rejected",
        errors=errors,
        warnings=warnings,
        plan_version=checked.plan_version,
        feedback=_relative(paths.html, settings.outbox),
        archived=_relative(item.archived, settings.outbox),
        reasons=() if checked.accepted else first_reasons(checked.problems),
    )
    first_error = next((p.text for p in checked.problems if p.kind == ERROR), "")
    outcome = FileOutcome(
        item.name,
        record.outcome,
        department=checked.department,
        digest=item.digest,
        errors=errors,
        warnings=warnings,
        feedback=paths.html,
        message=first_error,
    )
    return Processed(record, outcome)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _file_problem(name: str, code: str, message: str, hint: str) -> Problem:
    return Problem(name, "", "", None, "", "", ERROR, code, message, hint)


def _sniff_note(name: str, note: str) -> Problem:
    """Returns a sniffer's note on an acceptable file (e.g. links to other files) as a warning."""
    code = "external_links" if note == EXTERNAL_LINKS_NOTE else "file_note"
    hint = (
        "Ta bort länkarna (Data > Redigera länkar > Bryt länk) nästa gång."
        if code == "external_links"
        else ""
    )
    return Problem(name, "", "", None, "", "", WARNING, code, note, hint)


def check_submission(
    path: Path, name: str, plan: Plan, year: int, as_of: dt.date, plans_dir: Path
) -> Checked:
    """Returns the submission identified and validated; any failure becomes its problem."""
    return check_submissions([(path, name)], plan, year, as_of, plans_dir)[0]


@dataclass(frozen=True)
class _Readable:
    """A submission identified and read, waiting for the batch's validation."""

    code: str
    version: str
    notes: tuple[Problem, ...]
    raw: RawWorkbook
    plan: Plan


def check_submissions(
    files: Sequence[tuple[Path, str]], plan: Plan, year: int, as_of: dt.date, plans_dir: Path
) -> list[Checked]:
    """Returns each (path, display name) identified and validated, in order.

    Sniffing, identification and reading are per file; validation runs once for the batch.
    """
    early: list[Checked | _Readable] = [
        _identify_and_read(path, name, plan, year, plans_dir) for path, name in files
    ]
    readable = [(i, item) for i, item in enumerate(early) if isinstance(item, _Readable)]
    try:
        validated = validate_workbooks(
            [Submission(r.raw, r.plan, r.code, files[i][1]) for i, r in readable], as_of
        )
    except Exception:  # one odd workbook must not stop the batch: validate one by one
        validated = [_validate_alone(r, files[i][1], as_of) for i, r in readable]
    results = list(early)
    for (position, item), outcome in zip(readable, validated, strict=True):
        results[position] = _checked(item, outcome, plan, files[position][1])
    return [r for r in results if isinstance(r, Checked)]


def _validate_alone(item: _Readable, name: str, as_of: dt.date) -> Validated | None:
    try:
        return validate_workbook(item.raw, item.plan, item.code, name, as_of)
    except Exception:
        return None


def _checked(item: _Readable, validated: Validated | None, plan: Plan, name: str) -> Checked:
    if validated is None:
        return Checked(
            item.code, _department_name(plan, item.code), item.version, (*item.notes, _unreadable(name))
        )
    return Checked(
        item.code,
        _department_name(plan, item.code),
        item.version,
        (*item.notes, *validated.problems),
        validated,
        item.raw.contact,
        item.raw.email,
        markable=not any(p.code == "too_many_rows" for p in validated.problems),
    )


def _unreadable(name: str) -> Problem:
    return _file_problem(
        name,
        "unreadable",
        "Filen kunde inte läsas.",
        "Öppna filen i Excel, spara den som .xlsx och lämna in den igen.",
    )


def _identify_and_read(path: Path, name: str, plan: Plan, year: int, plans_dir: Path) -> Checked | _Readable:
    sniffed = sniff_workbook(path)
    if not sniffed.ok:
        problem = _file_problem(name, sniffed.kind, sniffed.message, sniffed.hint)
        return Checked(None, None, None, (problem,), markable=False)
    try:
        identification = read_identification(path)
    except Exception:  # a file that passed sniffing can still be malformed inside
        identification = {}
    rejection = _identification_problem(identification, name, plan, year)
    code = identification.get(c.ID_DEPARTMENT)
    if rejection or code is None:
        known = code if code in plan.department_codes else None
        problems = (rejection,) if rejection else ()
        return Checked(known, _department_name(plan, known), identification.get(c.ID_PLAN_VERSION), problems)
    version = identification[c.ID_PLAN_VERSION]
    notes: list[Problem] = [_sniff_note(name, note) for note in sniffed.notes]
    answered = plan_for_version(version, plans_dir, plan)
    if answered is None:
        answered = plan
        notes.append(
            Problem(
                name,
                "",
                "",
                None,
                "",
                version,
                WARNING,
                "plan_version_unknown",
                f"Mallen gjordes från planversion {version}, som inte finns sparad; den kontrolleras mot gällande plan ({plan.version}).",
                "Använd årets mall nästa gång.",
            )
        )
    try:
        raw = read_workbook(path, name, identification)
    except Exception:  # never let one file stop the run
        return Checked(code, _department_name(plan, code), version, (*notes, _unreadable(name)))
    return _Readable(code, version, tuple(notes), raw, answered)


def _department_name(plan: Plan, code: str | None) -> str | None:
    return plan.department(code).name if code in plan.department_codes else None


def _identification_problem(
    identification: dict[str, str], name: str, plan: Plan, year: int
) -> Problem | None:
    if not identification:
        return _file_problem(
            name,
            "not_a_template",
            "Filen är inte en handlingsplanmall: den saknar mallens identifiering.",
            f"Fyll i den mall ni fick från Kommunstyrelsen (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
        )
    version = identification.get(c.ID_TEMPLATE_VERSION, "")
    if version not in READABLE_TEMPLATE_VERSIONS:
        return _file_problem(
            name,
            "template_version",
            f"Mallen har version {version or 'okänd'}, som den här versionen av systemet inte kan läsa.",
            f"Fyll i årets mall (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
        )
    template_year = identification.get(c.ID_YEAR, "")
    if template_year != str(year):
        return _file_problem(
            name,
            "wrong_year",
            f"Mallen gäller år {template_year or 'okänt'}, men insamlingen gäller {year}.",
            f"Fyll i mallen för {year} (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
        )
    code = identification.get(c.ID_DEPARTMENT, "")
    if code not in plan.department_codes:
        return _file_problem(
            name,
            "unknown_department",
            f'Mallen är gjord för förvaltningen "{code}", som inte finns i planen.',
            "Kontakta Kommunstyrelsen för att få rätt mall.",
        )
    return None


# Accepted submissions' clean tables, kept so the report need not read every workbook again.


def write_clean_data(target: Path, checked: Checked) -> Path:
    """Writes an accepted submission's clean tables and contact as JSON (atomically)."""
    assert checked.validated is not None
    actions = checked.validated.actions
    columns = [[_json_value(v) for v in actions[name].tolist()] for name in actions.columns]
    data = {
        "contact": checked.contact,
        "email": checked.email,
        "warnings": count(checked.problems, WARNING),
        "actions": [dict(zip(actions.columns, row, strict=True)) for row in zip(*columns, strict=True)],
        "goals": [
            [g, a]
            for g, a in zip(
                checked.validated.goals[c.GOAL_ID], checked.validated.goals[c.CONCERNS_US], strict=True
            )
        ],
    }
    # Not synced one by one: if lost (power cut), the report reads the archived workbook again.
    return write_text_atomic(target, json.dumps(data, ensure_ascii=False, sort_keys=True), durable=False)


def read_clean_data(path: Path) -> dict[str, Any] | None:
    """Returns what write_clean_data wrote, or None when absent or unreadable.

    Actions are records (column → value) with dates as `datetime.date`; goals are
    (Delmål, Berör oss) pairs. Plain lists, so a whole year's files make one DataFrame.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        actions = data["actions"]
        for record in actions:
            for name in (c.START, c.DONE):
                value = record.get(name)
                record[name] = dt.date.fromisoformat(value) if isinstance(value, str) else None
        return {
            "contact": str(data["contact"]),
            "email": str(data["email"]),
            "warnings": int(data["warnings"]),
            "actions": actions,
            "goals": [tuple(pair) for pair in data["goals"]],
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value
