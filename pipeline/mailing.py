"""Utskick: the letters the system sends, the send log, and sending each letter once.

A `Letter` is what one message is about (kind, year, förvaltning, `about`) and what it says.
Its key is derived from what it is about, never from when it was made, so a letter made
again from the same outbox is the same letter. The send log (outbox/utskick.jsonl, one JSON
line per attempt) records which addresses each key has reached: `deliver` sends a letter
only to those it has not reached (all of them again with `resend`), and a letter that
failed is tried again on the next run. A dry run writes each message as an .eml file
instead, the same bytes as would be sent but for the Date header.

Composing is pure (`compose`); `deliver` does the I/O, through a `Transport`.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Literal, Protocol

import jinja2

from pipeline.config import jinja_templates_dir
from pipeline.files import append_lines, write_bytes_atomic
from pipeline.text import count_phrase

log = logging.getLogger(__name__)

Kind = Literal["templates", "reminder", "feedback", "summary", "failures", "run_failed"]
KIND_LABEL: dict[Kind, str] = {
    "templates": "mallar",
    "reminder": "påminnelser",
    "feedback": "återkoppling",
    "summary": "sammanfattning",
    "failures": "felrapport",
    "run_failed": "körningsfel",
}
Result = Literal["sent", "partial", "failed", "dry_run"]

NO_ADDRESS = "ingen e-postadress i kontaktlistan"
SENDER_NAME = "Handlingsplan för integrationsplanen"
"""The display name of the From header; the address is HANDLINGSPLAN_MAIL_FROM."""
DRY_RUN_SENDER = "handlingsplan@example.invalid"
"""The From address of a dry run made without HANDLINGSPLAN_MAIL_FROM (never sent)."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Attachment:
    """A file attached to a letter: its name as the recipient sees it, bytes and MIME type."""

    filename: str
    data: bytes
    mime: str = XLSX


@dataclass(frozen=True)
class Letter:
    """One message to send, and what it is about.

    Attributes:
        kind: templates, reminder, feedback, summary or failures.
        year: the year of the handlingsplan it concerns.
        department: the förvaltning's code; None for the summary (and an unattributed submission).
        about: what, within kind, year and förvaltning, the letter is about (a template's or a
            submission's SHA-256, a reminder's occasion): the basis of its key.
        to, cc: the recipients' addresses.
        subject, text: the subject and the plain-text body; `html` an HTML alternative.
        attachments: files attached.
    """

    kind: Kind
    year: int
    department: str | None
    about: str
    to: tuple[str, ...]
    subject: str
    text: str
    cc: tuple[str, ...] = ()
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    names: tuple[tuple[str, str], ...] = ()
    """(address, display name) for recipients whose name the To and Cc headers show."""

    @property
    def key(self) -> str:
        """Returns the letter's identity in the send log: the same for the same kind, year,
        förvaltning and subject matter, whenever and however often it is made."""
        basis = "\x1f".join((self.kind, str(self.year), self.department or "", self.about))
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]

    @property
    def recipients(self) -> tuple[str, ...]:
        """Returns every address the letter is for, each once, To before Cc."""
        return tuple(dict.fromkeys((*self.to, *self.cc)))

    @property
    def label(self) -> str:
        """Returns how the console names the letter: the förvaltning's code or the recipients."""
        return self.department or ", ".join(self.to)


@dataclass(frozen=True)
class Sender:
    """Who a message is from and where replies go."""

    address: str
    reply_to: str | None = None


# --- composing ------------------------------------------------------------------------------


def message_id(letter: Letter, sequence: int, sender: Sender) -> str:
    """Returns the Message-ID of a letter's `sequence`th sending (1 for the first).

    Derived, not random, so a dry run's .eml carries the id the real sending will use.
    """
    domain = sender.address.rpartition("@")[2] or "handlingsplan.invalid"
    return f"<{letter.key}.{sequence}@{domain}>"


def compose(letter: Letter, sender: Sender, sequence: int, now: dt.datetime) -> EmailMessage:
    """Returns the letter as a MIME message: text (and HTML) body, attachments, UTF-8 headers.

    Everything but the Date header follows from the letter, the sender and `sequence`:
    the MIME boundaries are derived from the key instead of drawn at random.
    """
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = formataddr((SENDER_NAME, sender.address))
    names = dict(letter.names)
    message["To"] = tuple(_named(address, names.get(address, "")) for address in letter.to)
    if letter.cc:
        message["Cc"] = tuple(_named(address, names.get(address, "")) for address in letter.cc)
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(letter, sequence, sender)
    # Sent by a program: out-of-office replies should not answer it (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Handlingsplan-Key"] = letter.key
    message.set_content(letter.text, charset="utf-8")
    if letter.html is not None:
        message.add_alternative(letter.html, subtype="html", charset="utf-8")
    for attachment in letter.attachments:
        maintype, _, subtype = attachment.mime.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            # "=_" cannot occur in base64 or quoted-printable text, so this never collides.
            part.set_boundary(f"=_handlingsplan_{letter.key[:16]}_{number}")
    return message


_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029\"<>]+")


def header_name(name: str) -> str:
    """Returns a display name safe in an address header: no line break, control character,
    quote or angle bracket survives (a name typed as "Anna\r\nBcc: x" cannot add a header)."""
    return " ".join(_UNSAFE_IN_NAME.sub(" ", name).split())


def _named(address: str, name: str) -> Address:
    """Returns "Anna Öberg <anna@kalix.se>" as an address object: the header policy quotes and
    encodes the name as the standard says (RFC 5322, RFC 2047), whatever it holds."""
    return Address(display_name=header_name(name), addr_spec=address)


@functools.cache
def _letters() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(jinja_templates_dir() / "brev"),
        autoescape=False,  # plain-text letters
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_letter(template: str, **context: Any) -> tuple[str, str]:
    """Returns (subject, body) of a letter template: its first line is the subject."""
    text = _letters().get_template(template).render(**context)
    subject, _, body = text.partition("\n")
    return subject.strip(), re.sub(r"\n{3,}", "\n\n", body.strip("\n")) + "\n"


# --- the send log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One attempt to send a letter (or a dry run of it), as a line of the send log.

    Attributes:
        key: the letter's key (Letter.key).
        kind, year, department, subject: what the letter is.
        recipients: the addresses this attempt was for.
        accepted: those the server took.
        refused: address → the server's answer, for those it refused.
        message_id: the Message-ID header of what was sent.
        time: when, ISO 8601 UTC.
        result: sent, partial (some refused), failed or dry_run.
        error: what went wrong with the message as a whole.
        attempts: tries made (transient failures are tried again).
        eml: for a dry run, the .eml file written, relative to the outbox.
    """

    key: str
    kind: str
    year: int
    department: str | None
    subject: str
    recipients: tuple[str, ...]
    accepted: tuple[str, ...]
    refused: dict[str, str]
    message_id: str
    time: str
    result: Result
    error: str | None = None
    attempts: int = 0
    eml: str | None = None


def read_send_log(path: Path) -> list[LogEntry]:
    """Returns the send log's entries; a line that cannot be read is logged and skipped (it is
    then as if that attempt failed: the letter is tried again, never lost)."""
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entries.append(
                LogEntry(
                    **{
                        **data,
                        "recipients": tuple(data["recipients"]),
                        "accepted": tuple(data["accepted"]),
                        "refused": dict(data["refused"]),
                    }
                )
            )
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("Rad %d i %s kunde inte läsas (%s); den räknas som ej skickad.", number, path, exc)
    return entries


def append_send_log(path: Path, entry: LogEntry) -> None:
    """Appends one entry, flushed and synced before the next message goes: a crash right after
    a sending still finds it recorded, so it is not sent twice."""
    append_lines(path, json.dumps(entry.__dict__, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")


@dataclass(frozen=True)
class History:
    """What the send log says about each key: the addresses reached and the sendings made."""

    reached: dict[str, frozenset[str]] = field(default_factory=dict)
    sendings: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[LogEntry]) -> History:
        reached: dict[str, set[str]] = {}
        sendings: dict[str, int] = {}
        for entry in entries:
            if entry.result == "dry_run":
                continue
            sendings[entry.key] = sendings.get(entry.key, 0) + 1
            reached.setdefault(entry.key, set()).update(address.lower() for address in entry.accepted)
        return cls({k: frozenset(v) for k, v in reached.items()}, sendings)

    def outstanding(self, letter: Letter) -> tuple[str, ...]:
        """Returns the letter's addresses that no earlier sending reached."""
        done = self.reached.get(letter.key, frozenset())
        return tuple(a for a in letter.recipients if a.lower() not in done)


# --- delivering -----------------------------------------------------------------------------


class Delivered(Protocol):
    """What a transport says about one message (pipeline.smtp.Delivery has this shape)."""

    @property
    def accepted(self) -> tuple[str, ...]: ...
    @property
    def refused(self) -> dict[str, str]: ...
    @property
    def error(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...


Transport = Callable[[EmailMessage, str, Sequence[str]], Delivered]
"""Sends a message from an envelope sender to envelope recipients (e.g. smtp.Mailer.send)."""

Status = Literal["sent", "partial", "already_sent", "failed", "dry_run", "no_address"]
SEND_STATUS_LABEL: dict[Status, str] = {
    "sent": "skickat",
    "partial": "skickat, ej till alla",
    "already_sent": "redan skickat",
    "failed": "misslyckades",
    "dry_run": "provkörning (.eml)",
    "no_address": "ingen adress",
}


@dataclass(frozen=True)
class Outcome:
    """What became of one letter in a run."""

    letter: Letter
    status: Status
    recipients: tuple[str, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    eml: Path | None = None


@dataclass(frozen=True)
class SendReport:
    """One `send` run: each letter's outcome, and the förvaltningar no letter could go to."""

    kind: Kind
    year: int
    dry_run: bool
    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()
    """What the coordinator should know beyond the letters (contacts without an address, …)."""

    def count(self, *statuses: Status) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def failures(self) -> list[str]:
        """Returns each failure as "address: answer", or "SOC: ingen e-postadress" for a letter
        that had nobody to go to."""
        found: list[str] = []
        for outcome in self.outcomes:
            found.extend(f"{address}: {answer}" for address, answer in outcome.refused.items())
            if outcome.error:
                found.append(f"{', '.join(outcome.recipients) or outcome.letter.label}: {outcome.error}")
            if outcome.status == "no_address":
                found.append(f"{outcome.letter.label}: {NO_ADDRESS}")
        return found

    def summary_line(self) -> str:
        """Returns the run in one Swedish line: sent / already sent / failed."""
        what = f"Utskick {KIND_LABEL[self.kind]} {self.year}"
        if self.dry_run:
            written = count_phrase(self.count("dry_run"), "meddelande skrivet", "meddelanden skrivna")
            return f"{what} (provkörning, inget skickat): {written} som .eml."
        partial = self.count("partial")
        sent = count_phrase(self.count("sent", "partial"), "skickat", "skickade")
        if partial:
            sent += f" ({partial} av dem inte till alla mottagare)"
        already = count_phrase(self.count("already_sent"), "redan skickat", "redan skickade")
        failed = count_phrase(self.count("failed", "no_address"), "misslyckat", "misslyckade")
        return f"{what}: {sent}, {already}, {failed}."

    @property
    def needs_attention(self) -> bool:
        """True when something could not be delivered (in a dry run: nothing is sent, nothing failed)."""
        if self.dry_run:
            return False
        return bool(self.count("failed", "partial", "no_address"))


def deliver(
    letters: Sequence[Letter],
    *,
    sender: Sender,
    send_log: Path,
    transport: Transport | None,
    eml_dir: Path,
    resend: bool = False,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[Outcome]:
    """Sends each letter to the addresses it has not reached yet; returns each one's outcome.

    With `transport` None (a dry run) each message is written to `eml_dir` as
    <kind>_<förvaltning>_<key>.eml and nothing is sent. Every attempt is appended to the send
    log at once. A letter without recipients is "no_address"; a failure never stops the others.
    """
    history = History.of(read_send_log(send_log))
    outcomes = []
    for letter in letters:
        if not letter.to:
            outcomes.append(Outcome(letter, "no_address"))
            continue
        wanted = letter.recipients if resend else history.outstanding(letter)
        if not wanted:
            outcomes.append(Outcome(letter, "already_sent", letter.recipients))
            continue
        sequence = history.sendings.get(letter.key, 0) + 1
        message = compose(letter, sender, sequence, now())
        if transport is None:
            outcomes.append(_dry_run(letter, message, wanted, send_log, eml_dir))
        else:
            outcomes.append(_send(letter, message, wanted, sender, send_log, transport))
    return outcomes


def _dry_run(
    letter: Letter, message: EmailMessage, wanted: tuple[str, ...], send_log: Path, eml_dir: Path
) -> Outcome:
    target = eml_dir / f"{letter.kind}_{letter.department or 'alla'}_{letter.key}.eml"
    write_bytes_atomic(target, message.as_bytes())
    entry = _entry(letter, message, wanted, (), {}, "dry_run", None, 0)
    append_send_log(send_log, _with_eml(entry, target, send_log.parent))
    return Outcome(letter, "dry_run", wanted, eml=target)


def _with_eml(entry: LogEntry, target: Path, outbox: Path) -> LogEntry:
    try:
        shown = target.resolve().relative_to(outbox.resolve()).as_posix()
    except ValueError:
        shown = str(target)
    return LogEntry(**{**entry.__dict__, "eml": shown})


def _send(
    letter: Letter,
    message: EmailMessage,
    wanted: tuple[str, ...],
    sender: Sender,
    send_log: Path,
    transport: Transport,
) -> Outcome:
    delivery = transport(message, sender.address, wanted)
    refused = dict(delivery.refused)
    result: Result
    if delivery.error is not None or not delivery.accepted:
        result = "failed"
    elif refused:
        result = "partial"
    else:
        result = "sent"
    entry = _entry(
        letter, message, wanted, delivery.accepted, refused, result, delivery.error, delivery.attempts
    )
    append_send_log(send_log, entry)
    if result != "sent":
        log.warning("Utskick %s till %s: %s", letter.subject, ", ".join(wanted), delivery.error or refused)
    status: Status = result  # sent, partial or failed
    return Outcome(letter, status, wanted, refused, delivery.error)


def _entry(
    letter: Letter,
    message: EmailMessage,
    wanted: tuple[str, ...],
    accepted: Sequence[str],
    refused: Mapping[str, str],
    result: Result,
    error: str | None,
    attempts: int,
) -> LogEntry:
    return LogEntry(
        key=letter.key,
        kind=letter.kind,
        year=letter.year,
        department=letter.department,
        subject=letter.subject,
        recipients=wanted,
        accepted=tuple(accepted),
        refused=dict(refused),
        message_id=str(message["Message-ID"]),
        time=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        result=result,
        error=error,
        attempts=attempts,
    )
