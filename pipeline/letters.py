"""What each utskick says and to whom: templates, reminders, feedback, the summary.

Plain functions from what the outbox holds (the templates, the ledger's records, the
feedback files, the reports) and who the förvaltningar's representatives are, to
`mailing.Letter`s. Nothing here sends or writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.contacts import parse_address
from pipeline.mailing import Attachment, Letter, render_letter
from pipeline.plan import Plan
from pipeline.records import LedgerRecord
from pipeline.text import department_label, display_time, visible

NO_DEADLINE = "enligt Kommunstyrelsens anvisning"
DAYS_BEFORE = (14, 3)
"""Reminders by default: 14 and 3 days before the deadline."""
DAYS_AFTER = (7,)
"""… and a note 7 days after it."""


@dataclass(frozen=True)
class Addressee:
    """Where a förvaltning's letters go: its representative's name, address and copies."""

    name: str
    email: str | None
    copies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Year:
    """What every letter of a year's cycle says: the deadline, where to hand in, whom to ask."""

    year: int
    deadline: dt.date | None
    return_to: str
    coordinator: str | None

    def context(self) -> dict[str, object]:
        return {
            "year": self.year,
            "deadline": self.deadline.isoformat() if self.deadline else NO_DEADLINE,
            "return_to": self.return_to,
            "coordinator_address": self.coordinator or "",
        }


def _digest(*parts: bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(hashlib.sha256(part).digest())
    return sha.hexdigest()


def _department(plan: Plan, code: str | None) -> str:
    names = {d.code: d.name for d in plan.departments}
    return department_label(names.get(code or "", ""), code or "") if code else ""


def _names(addressee: Addressee) -> tuple[tuple[str, str], ...]:
    """The representative's name for the To header, when there is both a name and an address."""
    return ((addressee.email, addressee.name),) if addressee.email and addressee.name else ()


# --- templates ------------------------------------------------------------------------------


def template_letters(
    plan: Plan,
    cycle: Year,
    addressees: Mapping[str, Addressee],
    templates: Mapping[str, Path],
    carried: Mapping[str, int] | None = None,
) -> list[Letter]:
    """Returns one letter per förvaltning with a template: the template attached, what it is,
    why, the deadline, how to return it and whom to ask."""
    letters = []
    for code in plan.department_codes:
        path = templates.get(code)
        if path is None:
            continue
        data = path.read_bytes()
        addressee = addressees.get(code, Addressee("", None))
        subject, text = render_letter(
            "mall.txt.j2",
            **cycle.context(),
            department=_department(plan, code),
            name=addressee.name,
            filename=path.name,
            carried=bool((carried or {}).get(code)),
            plan_name=plan.name,
            adopted=plan.adopted,
        )
        letters.append(
            Letter(
                kind="templates",
                year=cycle.year,
                department=code,
                about=_digest(data),
                to=(addressee.email,) if addressee.email else (),
                cc=addressee.copies,
                subject=subject,
                text=text,
                attachments=(Attachment(path.name, data),),
                names=_names(addressee),
            )
        )
    return letters


# --- reminders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occasion:
    """The reminder date a run sends for, and whether the deadline has passed by the run's day."""

    day: dt.date
    passed: bool
    days_left: int


def reminder_occasion(
    deadline: dt.date,
    as_of: dt.date,
    days_before: Sequence[int] = DAYS_BEFORE,
    days_after: Sequence[int] = DAYS_AFTER,
    *,
    scheduled: bool = False,
) -> Occasion | None:
    """Returns the reminder occasion `as_of` falls in: the latest reminder date reached.

    A scheduled run (daily) sends only once a reminder date is reached, so it sends on each
    date (or the first run after it) and never twice for one date. A run by hand before the
    first date sends a reminder for that day.
    """
    dates = sorted(
        {deadline - dt.timedelta(days=d) for d in days_before}
        | {deadline + dt.timedelta(days=d) for d in days_after}
    )
    reached = [day for day in dates if day <= as_of]
    if reached:
        day = reached[-1]
    elif scheduled:
        return None
    else:
        day = as_of
    return Occasion(day, as_of > deadline, (deadline - as_of).days)


def reminder_letters(
    plan: Plan,
    cycle: Year,
    occasion: Occasion,
    addressees: Mapping[str, Addressee],
    submitted: Sequence[str],
    rejected: Mapping[str, LedgerRecord],
) -> list[Letter]:
    """Returns a reminder to each förvaltning without an accepted submission for the year;
    one whose last submission was rejected is told what to fix."""
    letters = []
    for code in plan.department_codes:
        if code in submitted:
            continue
        addressee = addressees.get(code, Addressee("", None))
        record = rejected.get(code)
        subject, text = render_letter(
            "paminnelse.txt.j2",
            **cycle.context(),
            department=_department(plan, code),
            name=addressee.name,
            passed=occasion.passed,
            days_left=occasion.days_left,
            rejected=_rejection(record) if record is not None else None,
        )
        letters.append(
            Letter(
                kind="reminder",
                year=cycle.year,
                department=code,
                about=f"{occasion.day.isoformat()}|{'efter' if occasion.passed else 'före'}",
                to=(addressee.email,) if addressee.email else (),
                cc=addressee.copies,
                subject=subject,
                text=text,
                names=_names(addressee),
            )
        )
    return letters


def _rejection(record: LedgerRecord) -> dict[str, object]:
    reasons = [visible(reason) for reason in record.reasons]
    return {
        "name": visible(record.original_name),
        "received": display_time(record.received),
        "reasons": reasons,
        "more": max(0, record.errors - len(reasons)),
    }


# --- feedback -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackFiles:
    """A submission's feedback as written by collect: the report in HTML and Markdown, and
    for a rejected workbook the copy with the problem cells marked (None when there is none)."""

    html: Path
    markdown: Path
    marked: Path | None


def feedback_recipient(
    record: LedgerRecord, addressee: Addressee | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Returns (to, cc) for feedback on a submission: the submission's own contact when it
    names a valid address, else the representative in kontakter.xlsx; copies always."""
    own = parse_address(record.email or "")
    to = own or (addressee.email if addressee is not None else None)
    copies = addressee.copies if addressee is not None else ()
    return ((to,) if to else ()), tuple(c for c in copies if c != to)


def feedback_letter(
    plan: Plan, record: LedgerRecord, files: FeedbackFiles, addressee: Addressee | None
) -> Letter:
    """Returns the letter with a submission's feedback: the report as the body (HTML, with the
    Markdown as its text part) and, for a rejected workbook, the marked copy attached."""
    html = files.html.read_text(encoding="utf-8")
    text = files.markdown.read_text(encoding="utf-8")
    verdict = "godkänd" if record.verdict == "accepted" else "avvisad"
    name = visible(record.original_name)
    subject, _ = render_letter(
        "aterkoppling.txt.j2",
        year=record.year,
        department=_department(plan, record.department),
        verdict=verdict,
        filename=name,
    )
    attachments: tuple[Attachment, ...] = ()
    if files.marked is not None and files.marked.is_file():
        # Under the name the feedback's text gives it, so the reader finds what it speaks of.
        attachments = (Attachment(files.marked.name, files.marked.read_bytes()),)
    to, cc = feedback_recipient(record, addressee)
    own = parse_address(record.email or "")
    if own is not None and to == (own,):
        names: tuple[tuple[str, str], ...] = ((own, record.contact),) if record.contact else ()
    else:
        names = _names(addressee) if addressee is not None else ()
    return Letter(
        kind="feedback",
        year=record.year or 0,
        department=record.department,
        about=record.digest,
        to=to,
        cc=cc,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        names=names,
    )


# --- the summary and the failures -----------------------------------------------------------


def summary_letter(
    year: int, to: Sequence[str], html: str, markdown: str, attachments: Sequence[Attachment]
) -> Letter:
    """Returns the summary for KS: the HTML as the body (the Markdown as its text part) and
    the follow-up workbook (and whatever else is given) attached."""
    subject, _ = render_letter("sammanfattning.txt.j2", year=year)
    about = _digest(html.encode("utf-8"), *(a.data for a in attachments))
    return Letter(
        kind="summary",
        year=year,
        department=None,
        about=about,
        to=tuple(dict.fromkeys(to)),
        subject=subject,
        text=markdown,
        html=html,
        attachments=tuple(attachments),
    )


def failure_letter(
    coordinator: str,
    what: str,
    year: int,
    failures: Sequence[str],
    contacts_file: Path,
    send_log: Path,
    when: str,
) -> Letter:
    """Returns the coordinator's note of what could not be sent in a run."""
    subject, text = render_letter(
        "felrapport.txt.j2",
        what=what,
        year=year,
        failures=[visible(f) for f in failures],
        contacts_file=contacts_file.name,
        send_log=str(send_log),
        when=when,
    )
    return Letter(
        kind="failures",
        year=year,
        department=None,
        about=_digest(what.encode("utf-8"), *(f.encode("utf-8") for f in failures)),
        to=(coordinator,),
        subject=subject,
        text=text,
    )


def run_failed_letter(
    coordinator: str, flow: str, run: str, run_id: str, when: str, error: str, log_place: str, year: int
) -> Letter:
    """Returns the coordinator's notice that a scheduled run stopped: which flow, when, the
    error line and where the log is. One per run (its key is the run's id)."""
    subject, text = render_letter(
        "korningsfel.txt.j2",
        flow=flow,
        run=run,
        when=when,
        error=visible(error, line_breaks=True),
        log_place=log_place,
        deployment_hint=flow,
    )
    return Letter(
        kind="run_failed",
        year=year,
        department=None,
        about=run_id,
        to=(coordinator,),
        subject=subject,
        text=text,
    )
