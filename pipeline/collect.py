"""The collect stage: every file in the inbox → accepted, rejected, ignored or waiting.

For each new file: archive its bytes, sniff it, identify it by its embedded
identification, read and validate it, write feedback and record it in the ledger. One bad
file never stops the run: whatever goes wrong with a file becomes its rejection.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline import contract as c
from pipeline.config import READABLE_TEMPLATE_VERSIONS, Settings, check_safe_xml
from pipeline.errors import MissingInputError
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.intake import (
    FileChangedDuringCopyError,
    InboxEntry,
    LedgerRecord,
    append_ledger,
    archive_submission,
    in_force,
    read_ledger,
    scan_inbox,
    utc_iso,
)
from pipeline.plan import Plan, plan_for_version
from pipeline.problems import ERROR, WARNING, Problem, count
from pipeline.read import read_identification, read_workbook
from pipeline.sniff import EXTERNAL_LINKS_NOTE, sniff_workbook
from pipeline.validate import Validated, validate_workbook

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


def collect(
    settings: Settings, plan: Plan, year: int, *, now: float | None = None, as_of: dt.date | None = None
) -> CollectResult:
    """Handles every file in the inbox for `year` and returns what happened to each."""
    check_safe_xml()
    now = time.time() if now is None else now
    as_of = as_of or dt.date.today()
    if not settings.inbox.is_dir():
        raise MissingInputError(f"Inkorgen {settings.inbox} finns inte. Skapa mappen eller ange --inbox.")
    ledger = read_ledger(settings.ledger_file)
    known = {r.digest for r in ledger if r.year == year}
    outcomes: list[FileOutcome] = []
    seen: dict[str, str] = {}
    for entry in scan_inbox(settings.inbox, now=now, quiet_seconds=settings.quiet_seconds):
        outcomes.append(_handle(entry, settings, plan, year, as_of, known, seen))
    return CollectResult(
        year=year, files=tuple(outcomes), in_force=in_force(read_ledger(settings.ledger_file), year)
    )


def _handle(
    entry: InboxEntry,
    settings: Settings,
    plan: Plan,
    year: int,
    as_of: dt.date,
    known: set[str],
    seen: dict[str, str],
) -> FileOutcome:
    if entry.state != "candidate":
        return FileOutcome(entry.relative, entry.state, message=entry.reason)
    try:
        archived = archive_submission(entry.path, settings.archive_dir)
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
    checked = check_submission(archived.archived_path, entry.relative, plan, year, as_of, settings.plans_dir)
    received = utc_iso(archived.mtime)
    paths = write_feedback(
        FeedbackInput(
            display_name=entry.relative,
            digest=digest,
            department_code=checked.department,
            department_name=checked.department_name,
            year=year,
            accepted=checked.accepted,
            received=received,
            problems=checked.problems,
            workbook=archived.archived_path if checked.markable else None,
            plan_version=checked.plan_version,
        ),
        settings.feedback_dir(year),
    )
    errors, warnings = count(checked.problems, ERROR), count(checked.problems, WARNING)
    append_ledger(
        settings.ledger_file,
        LedgerRecord(
            digest=digest,
            original_name=entry.relative,
            size=archived.size,
            received=received,
            processed=utc_iso(time.time()),
            department=checked.department,
            year=year,
            outcome="accepted" if checked.accepted else "rejected",
            errors=errors,
            warnings=warnings,
            plan_version=checked.plan_version,
            feedback=_relative(paths.html, settings.outbox),
            archived=_relative(archived.archived_path, settings.outbox),
        ),
    )
    first_error = next((p.text for p in checked.problems if p.kind == ERROR), "")
    return FileOutcome(
        entry.relative,
        "accepted" if checked.accepted else "rejected",
        department=checked.department,
        digest=digest,
        errors=errors,
        warnings=warnings,
        feedback=paths.html,
        message=first_error,
    )


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
    if rejection:
        known = code if code in plan.department_codes else None
        return Checked(
            known, _department_name(plan, known), identification.get(c.ID_PLAN_VERSION), (rejection,)
        )
    assert code is not None
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
        raw = read_workbook(path, name)
        validated = validate_workbook(raw, answered, code, name, as_of)
    except Exception as exc:  # never let one file stop the run
        problem = _file_problem(
            name,
            "unreadable",
            f"Filen kunde inte läsas ({type(exc).__name__}).",
            "Öppna filen i Excel, spara den som .xlsx och lämna in den igen.",
        )
        return Checked(code, _department_name(plan, code), version, (*notes, problem))
    return Checked(
        code,
        _department_name(plan, code),
        version,
        (*notes, *validated.problems),
        validated,
        raw.contact,
        raw.email,
        markable=not any(p.code == "too_many_rows" for p in validated.problems),
    )


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
