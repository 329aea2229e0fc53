"""The values the stages hand each other: a handled submission's ledger record, an accepted
submission's clean tables, and what a run did with each file in the inbox.

Plain frozen data, no I/O: check makes them, store keeps them, combine and the writers read
them, so none of those needs to import another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["accepted", "rejected", "ignored"]
State = Literal["accepted", "rejected", "ignored", "waiting", "duplicate", "unchanged"]

STATE_LABEL: dict[State, str] = {
    "accepted": "godkänd",
    "rejected": "avvisad",
    "ignored": "ignorerad",
    "waiting": "väntar",
    "duplicate": "dubblett",
    "unchanged": "redan behandlad",
}

Records = list[dict[str, Any]]
"""Action rows as column → value; dates as `datetime.date`, empty cells as None."""
GoalAnswers = list[tuple[Any, Any]]
"""(Delmål, Berör oss) pairs in the plan's order."""


@dataclass(frozen=True)
class LedgerRecord:
    """One handled submission, as a line in the ledger.

    Attributes:
        digest: SHA-256 of the submitted bytes.
        original_name: the file's path inside the inbox.
        size: number of bytes.
        received: when the förvaltning saved the file (its mtime), ISO 8601 UTC, seconds: shown
            to readers, never used to order submissions (a file's clock is the submitter's word).
        processed: when the pipeline handled it, ISO 8601 UTC, seconds.
        department: förvaltning code from the workbook, if it could be read.
        year: the year of the handlingsplan: the template's own year when it could be read
            (a file for another year is recorded under that year), else the run's year;
            None for an ignored file, which belongs to no year.
        verdict: "accepted", "rejected", or "ignored" for a file that is no submission at all
            (a text file, a picture): remembered so it is not looked at again, never counted
            for a year (ledgers written before it was named call it "outcome").
        errors: number of errors found.
        warnings: number of warnings found.
        plan_version: the plan version the template was made from, if known.
        feedback: path of the feedback report, relative to the outbox, if one was written.
        archived: path of the archived copy, relative to the outbox.
        reasons: for a rejected submission, its first errors as told in the feedback.
        details: what went wrong inside the program, when a check failed on an exception
            (type and message): for the coordinator, never shown to the förvaltning.
        arrived: when this system took the bytes in (its own clock at the intake pass), ISO
            8601 UTC with microseconds: what decides which submission was handed in last.
            None in ledgers written before it was kept; `processed` stands in for it there.
        contact, email: the Kontaktperson and E-post the submission itself names (also a
            rejected one's, as read): feedback on it goes there. None when absent or in
            ledgers written before they were kept.
    """

    digest: str
    original_name: str
    size: int
    received: str
    processed: str
    department: str | None
    year: int | None
    verdict: Verdict
    errors: int
    warnings: int
    plan_version: str | None
    feedback: str | None
    archived: str
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    arrived: str | None = None
    contact: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class CleanData:
    """An accepted submission's clean tables, contact and nämnd decision, as kept beside the ledger.

    `decision_date` and `decision_paragraph` are the nämnd's decision (Beslutsdatum and
    Paragraf), both set for a handlingsplan beslutad i nämnd and both None for a förslag
    (and in clean data written before they were kept).
    """

    contact: str
    email: str
    warnings: int
    actions: Records
    goals: GoalAnswers
    decision_date: dt.date | None = None
    decision_paragraph: str | None = None

    @property
    def board_decided(self) -> bool:
        """Returns True when the nämnd has decided the handlingsplan (date and paragraph given)."""
        return self.decision_date is not None and bool((self.decision_paragraph or "").strip())

    @property
    def board_decision(self) -> str:
        """Returns the submission's state in words: "beslutad i nämnd 2027-03-15 § 14" or "förslag"."""
        return board_decision_label(self.decision_date, self.decision_paragraph)


NOT_SUBMITTED = "ej inlämnad"
"""A förvaltning's state when it has no accepted submission for the year."""
PROPOSAL = "förslag"
"""An accepted submission its nämnd has not decided (Beslutsdatum and Paragraf empty)."""
BOARD_DECIDED = "beslutad i nämnd"
"""An accepted submission its nämnd has decided; `board_decision_label` adds date and §."""


def board_decision_label(date: dt.date | None, paragraph: str | None) -> str:
    """Returns a submission's state in the words users see: "beslutad i nämnd 2027-03-15 § 14".

    "förslag" when either is missing. A paragraph typed without its sign ("14") gets "§ ".
    A förvaltning with no accepted submission is NOT_SUBMITTED (the caller knows that).
    """
    decision = board_decision_text(date, paragraph)
    return f"{BOARD_DECIDED} {decision}" if decision else PROPOSAL


def board_decision_text(date: dt.date | None, paragraph: str | None) -> str | None:
    """Returns the nämnd's decision as cited, "2027-03-15 § 14"; None for a draft."""
    text = " ".join((paragraph or "").split())
    if date is None or not text:
        return None
    if "§" not in text:
        text = f"§ {text}"
    return f"{date.isoformat()} {text}"


@dataclass(frozen=True)
class Pending:
    """A new submission, archived, waiting to be checked.

    `received` is the file's own modification time (shown to readers); `arrived` is when this
    system took the bytes in (see LedgerRecord.arrived).
    """

    name: str
    digest: str
    archived: Path
    size: int
    received: str
    arrived: str | None = None


@dataclass(frozen=True)
class FileReport:
    """What a run did with one file in the inbox."""

    name: str
    state: State
    department: str | None = None
    digest: str | None = None
    errors: int = 0
    warnings: int = 0
    feedback: Path | None = None
    message: str = ""
    details: tuple[str, ...] = ()
    """What went wrong inside the program while checking it: for the coordinator."""
    year: int | None = None
    """The year the file was handled for, when it differs from the run's year."""


def utc_iso(timestamp: float) -> str:
    """Returns a POSIX timestamp as ISO 8601 in UTC to the second, e.g. 2027-03-01T08:15:00+00:00."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).replace(microsecond=0).isoformat()


def utc_iso_precise(timestamp: float) -> str:
    """Returns a POSIX timestamp as ISO 8601 in UTC to the microsecond: two runs in one second differ."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="microseconds")


def parse_utc(text: str) -> dt.datetime:
    """Returns an ISO 8601 timestamp as an aware datetime; one without offset is taken as UTC."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
