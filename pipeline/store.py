"""What the system keeps: the ledger of handled submissions, their clean tables and last
year's handlingsplan. The one answer to "what is received, and what is in force, for year Y".

The ledger is an append-only file of JSON lines (one per handled submission); the archive
of untouched copies is written by intake; clean tables are JSON files per accepted
submission, so the report need not read every workbook again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.files import append_lines, write_text_atomic
from pipeline.records import CleanData, LedgerRecord, parse_utc, utc_iso, utc_iso_precise
from pipeline.text import visible

log = logging.getLogger(__name__)

DEPARTMENT = c.DEPARTMENT


@dataclass(frozen=True)
class Received:
    """Everything handled for one year, and what of it is in force, decided once.

    Attributes:
        year: the plan year.
        records: the year's ledger records in the order they were handled.
        in_force: per förvaltning code (in code order), its accepted submission received last.
        open_rejections: rejected submissions that still need action: no accepted
            submission of the same förvaltning was received after them.
        damaged: the ledger's lines that could not be read (of any year: each is told at
            every run until someone mends the line).
        recovered: the year's accepted submissions whose ledger line was lost, rebuilt from
            their clean data (they are also among `records`).
        missing: submissions in force whose archived copy or clean data is gone.
    """

    year: int
    records: tuple[LedgerRecord, ...]
    in_force: dict[str, LedgerRecord] = field(default_factory=dict)
    open_rejections: tuple[LedgerRecord, ...] = ()
    damaged: tuple[DamagedLine, ...] = ()
    recovered: tuple[LedgerRecord, ...] = ()
    missing: tuple[MissingFiles, ...] = ()

    @property
    def digests(self) -> frozenset[str]:
        """Returns the digests of every submission handled for the year."""
        return frozenset(r.digest for r in self.records)

    @property
    def notes(self) -> tuple[str, ...]:
        """Returns what is wrong with what the store keeps, one Swedish line each, to tell at every run."""
        recovered = {r.digest for r in self.recovered}
        lines = [line.message(line.digest in recovered) for line in self.damaged]
        told = {line.digest for line in self.damaged}
        lines += [_recovered_message(r) for r in self.recovered if r.digest not in told]
        lines += [gap.message for gap in self.missing]
        return tuple(lines)


def received(settings: Settings, year: int, departments: Iterable[str] = ()) -> Received:
    """Returns what the store holds for `year`: every handled submission and what is in force.

    Reads the ledger with what was lost from it recovered (see `load_ledger`), and notes any
    submission in force whose archived copy or clean data is missing.

    `departments` are the plan's förvaltningar: with them, a rejected file whose förvaltning
    could not be told counts as handled once every förvaltning has handed in later.
    """
    ledger = load_ledger(settings)
    view = received_from(ledger, year, departments)
    return Received(
        view.year,
        view.records,
        view.in_force,
        view.open_rejections,
        view.damaged,
        view.recovered,
        missing_files(settings, view.in_force.values()),
    )


def received_from(records: Iterable[LedgerRecord], year: int, departments: Iterable[str] = ()) -> Received:
    """Returns the year's view of ledger records (any years) given in the order they were written.

    Given a `Ledger`, the view also carries its damaged lines and recovered submissions.
    """
    mine = tuple(r for r in records if r.year == year and r.verdict != "ignored")
    winners = in_force(mine, year)
    damaged = records.damaged if isinstance(records, Ledger) else ()
    lost = records.recovered if isinstance(records, Ledger) else ()
    return Received(
        year,
        mine,
        winners,
        open_rejections(mine, winners, departments),
        damaged,
        tuple(r for r in lost if r.year == year),
    )


def handled_years(records: Iterable[LedgerRecord]) -> dict[str, int | None]:
    """Returns, per digest ever handled, the year it was handled for (None: no submission).

    A file is handled once: the same bytes found again, whichever year runs, are known. (A
    damaged ledger line's submission is known when its record could be salvaged or rebuilt,
    see `load_ledger`; otherwise it is handled again when found, which writes its record anew.)
    """
    return {record.digest: record.year for record in records}


def in_force(records: Iterable[LedgerRecord], year: int) -> dict[str, LedgerRecord]:
    """Returns, per förvaltning, its accepted submission for `year` that was received last.

    "Last" is by this system's clock when the bytes were taken in (see `received_order`); ties
    go to the later file time, then the higher digest, so the answer never depends on order.
    The dict is ordered by förvaltning code.
    """
    winners: dict[str, LedgerRecord] = {}
    for record in records:
        if record.verdict != "accepted" or record.year != year or record.department is None:
            continue
        current = winners.get(record.department)
        if current is None or received_order(record) > received_order(current):
            winners[record.department] = record
    return dict(sorted(winners.items()))


def open_rejections(
    records: Iterable[LedgerRecord], winners: dict[str, LedgerRecord], departments: Iterable[str] = ()
) -> tuple[LedgerRecord, ...]:
    """Returns the rejected submissions that still need action, oldest first.

    A rejection is done with when its förvaltning handed in an accepted submission after it.
    One whose förvaltning could not be told is done with when every förvaltning of the plan
    handed in after it: whoever sent it has sent a good file since.
    """
    everyone = tuple(departments)
    still_open: dict[str, LedgerRecord] = {}
    for record in records:
        if record.verdict != "rejected":
            continue
        senders = (record.department,) if record.department else everyone
        if senders and all(_superseded(record, winners.get(code)) for code in senders):
            continue
        still_open[record.digest] = record
    return tuple(sorted(still_open.values(), key=received_order))


def _superseded(rejected: LedgerRecord, winner: LedgerRecord | None) -> bool:
    return winner is not None and received_order(winner) >= received_order(rejected)


def received_order(record: LedgerRecord) -> tuple[dt.datetime, dt.datetime, str]:
    """Returns the sort key for which submission is newer.

    First when this system took the bytes in (`arrived`; ledgers from before it was kept have
    `processed`, the same clock a little later), then the file's own time for files taken in
    together, then the digest, so the answer never depends on order. The file's own time
    never overrules the system's: a submitter's clock can say anything.
    """
    return parse_utc(record.arrived or record.processed), parse_utc(record.received), record.digest


# --- the ledger --------------------------------------------------------------------------

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "digest": (str,),
    "original_name": (str,),
    "size": (int,),
    "received": (str,),
    "processed": (str,),
    "department": (str, type(None)),
    "year": (int, type(None)),
    "verdict": (str,),
    "errors": (int,),
    "warnings": (int,),
    "plan_version": (str, type(None)),
    "feedback": (str, type(None)),
    "archived": (str,),
}
_TEXT_LISTS = ("reasons", "details")
_OPTIONAL_TEXTS = ("arrived", "contact", "email")
"""Fields added to the ledger later: absent (None) in older lines."""


@dataclass(frozen=True)
class DamagedLine:
    """A ledger line that could not be read as a record.

    Attributes:
        number: its line number (from 1).
        digest: the submission's digest, when it could still be found in the line.
        name: the submission's file name as shown, when it could still be found.
        department: the förvaltning's code, when it could still be found.
        salvaged: every field of the record could still be read from the line, so the
            record is among the ledger's records all the same (without its reasons).
        elsewhere: another, readable line records the same submission.
    """

    number: int
    digest: str | None = None
    name: str | None = None
    department: str | None = None
    salvaged: bool = False
    elsewhere: bool = False

    def message(self, rebuilt: bool = False) -> str:
        """Returns the Swedish line told about it at every run; `rebuilt` when its submission
        was recovered from clean data."""
        head = f"Rad {self.number} i {LEDGER_NAME} kunde inte läsas"
        what = f"inlämningen {self.name}" if self.name else "inlämningen"
        if self.salvaged:
            return f"{head} helt; {what} lästes ändå ur raden och räknas."
        if self.elsewhere:
            return f"{head}; {what} finns också på en annan rad och räknas därifrån."
        if rebuilt:
            return f"{head}; {what} var godkänd och återskapades från sina rensade data och arkivet."
        if self.digest is not None:
            return (
                f"{head}; {what} räknas inte, men behandlas igen om filen ligger kvar i inkorgen "
                "(eller läggs tillbaka där)."
            )
        return f"{head} och räknas inte; vilken inlämning raden gällde gick inte att se."


@dataclass(frozen=True)
class Ledger:
    """The ledger as read: its records in the order written, and the lines that could not be read.

    Iterates over its records, so it goes wherever records do.

    Attributes:
        records: every readable record, with those salvaged from damaged lines and (after
            `load_ledger`) those recovered from clean data.
        damaged: the lines that could not be read whole.
        recovered: accepted submissions whose ledger line was lost, rebuilt from their clean
            data (also among `records`).
    """

    records: tuple[LedgerRecord, ...] = ()
    damaged: tuple[DamagedLine, ...] = ()
    recovered: tuple[LedgerRecord, ...] = ()

    def __iter__(self) -> Iterator[LedgerRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def damaged_lines(self) -> tuple[int, ...]:
        """Returns the numbers of the lines that could not be read."""
        return tuple(line.number for line in self.damaged)


LEDGER_NAME = "inlamningar.jsonl"


def read_ledger(path: Path) -> Ledger:
    """Returns the ledger's records in the order they were written, and the lines that could not
    be read; an empty ledger when there is none.

    A line that does not parse as a record (a torn last line, a disk error, a hand edit) is
    kept as a `DamagedLine` with what could still be read from it: its submission's digest
    and name, and the whole record when only a part that is not needed was damaged.
    """
    if not path.exists():
        return Ledger()
    records: list[LedgerRecord] = []
    damaged: list[DamagedLine] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            record = _parse_record(line) if line.endswith(b"\n") else None
            if record is not None:
                records.append(record)
            elif line.strip():
                log.warning("Rad %d i %s kunde inte läsas.", number, path)
                salvaged = _salvage(line)
                if salvaged is not None:
                    records.append(salvaged)
                damaged.append(_damaged_line(number, line, salvaged is not None))
    readable = {record.digest for record in records} - {d.digest for d in damaged if d.salvaged}
    marked = (dataclasses.replace(d, elsewhere=d.digest in readable) for d in damaged)
    return Ledger(tuple(records), tuple(marked))


_SCALAR = rb'"%s"\s*:\s*(null|true|false|-?\d+|"(?:[^"\\\n]|\\.)*")'


def _fields_in(line: bytes) -> dict[str, Any]:
    """Returns the scalar fields still readable in a damaged ledger line: the first of each name."""
    found: dict[str, Any] = {}
    for name in (*_FIELD_TYPES, "outcome", *_OPTIONAL_TEXTS):
        match = re.search(_SCALAR % name.encode(), line)
        if match is None:
            continue
        try:
            found[name] = json.loads(match.group(1).decode("utf-8", errors="replace"))
        except ValueError:
            continue
    return found


def _salvage(line: bytes) -> LedgerRecord | None:
    """Returns the record of a damaged line when every field of it can still be read, else None."""
    return _record_from(_fields_in(line))


def _damaged_line(number: int, line: bytes, salvaged: bool) -> DamagedLine:
    fields = _fields_in(line)
    digest = fields.get("digest")
    if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        found = re.search(rb"\b[0-9a-f]{64}\b", line)
        digest = found.group(0).decode() if found else None
    name = fields.get("original_name")
    department = fields.get("department")
    return DamagedLine(
        number,
        digest,
        visible(name) if isinstance(name, str) else None,
        department if isinstance(department, str) else None,
        salvaged,
    )


_DIGEST = re.compile(r"[0-9a-f]{64}")


def append_ledger(path: Path, records: Iterable[LedgerRecord]) -> None:
    """Appends records as complete JSON lines in one write, flushed and synced to disk.

    A torn last line left by an earlier crash is closed off first, so that it cannot
    swallow these records. Creates the ledger and its folder when missing.
    """
    append_lines(path, b"".join(_line(r) for r in records))


def _line(record: LedgerRecord) -> bytes:
    fields = asdict(record)
    try:
        return json.dumps(fields, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (a file name's byte that is not UTF-8) has no UTF-8 form; as a
        # JSON escape it is still a valid line and reads back as the same text.
        return json.dumps(fields, ensure_ascii=True).encode("ascii") + b"\n"


def _parse_record(line: bytes) -> LedgerRecord | None:
    """Returns the record on one ledger line, or None when the line is not a valid record."""
    try:
        data = json.loads(line.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return _record_from(data)


def _record_from(data: dict[str, Any]) -> LedgerRecord | None:
    """Returns the record these fields make, or None when one is missing or of the wrong type."""
    # Ledgers written before the glossary settled on "verdict" call it "outcome".
    if "verdict" not in data and "outcome" in data:
        data["verdict"] = data.pop("outcome")
    if not _valid_fields(data):
        return None
    lists = {name: data.get(name, []) for name in _TEXT_LISTS}
    if not all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in lists.values()):
        return None
    fields: dict[str, Any] = {name: data[name] for name in _FIELD_TYPES}
    fields.update({name: tuple(texts) for name, texts in lists.items()})
    fields.update({name: data.get(name) for name in _OPTIONAL_TEXTS})
    return LedgerRecord(**fields)


def _valid_fields(data: dict[str, object]) -> bool:
    """Returns True when `data` has every record field with a value of the right type."""
    for name, types in _FIELD_TYPES.items():
        if name not in data or not isinstance(data[name], types):
            return False
    if data["verdict"] not in ("accepted", "rejected", "ignored"):
        return False
    if any(isinstance(data[name], bool) for name in ("size", "year", "errors", "warnings")):
        return False
    if any(data.get(name) is not None and not isinstance(data.get(name), str) for name in _OPTIONAL_TEXTS):
        return False
    arrived = data.get("arrived")
    try:
        for moment in (data["received"], data["processed"], arrived):
            if moment is not None:
                parse_utc(str(moment))
    except ValueError:
        return False
    return True


# --- clean data --------------------------------------------------------------------------


def write_clean_data(target: Path, data: CleanData) -> Path:
    """Writes an accepted submission's clean tables, contact and nämnd decision as JSON (atomically)."""
    payload = {
        "contact": data.contact,
        "email": data.email,
        "warnings": data.warnings,
        "actions": [{k: _json_value(v) for k, v in row.items()} for row in data.actions],
        "goals": [list(pair) for pair in data.goals],
        "decision_date": data.decision_date.isoformat() if data.decision_date else None,
        "decision_paragraph": data.decision_paragraph,
    }
    # Not synced one by one: if lost (power cut), the flow checks the archived copy again.
    return write_text_atomic(target, json.dumps(payload, ensure_ascii=False, sort_keys=True), durable=False)


def read_clean_data(path: Path) -> CleanData | None:
    """Returns what write_clean_data wrote, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        actions = data["actions"]
        for record in actions:
            for name in (c.START, c.DONE):
                value = record.get(name)
                record[name] = dt.date.fromisoformat(value) if isinstance(value, str) else None
        # Absent in clean data written before the nämnd's decision was kept: a förslag.
        decided, paragraph = data.get("decision_date"), data.get("decision_paragraph")
        return CleanData(
            contact=str(data["contact"]),
            email=str(data["email"]),
            warnings=int(data["warnings"]),
            actions=actions,
            goals=[(goal, answer) for goal, answer in data["goals"]],
            decision_date=dt.date.fromisoformat(decided) if decided else None,
            decision_paragraph=str(paragraph) if paragraph else None,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("Rensade data i %s kunde inte läsas (%s: %s).", path, type(exc).__name__, exc)
        return None


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def clean_data_in_force(settings: Settings, year_view: Received) -> dict[str, CleanData | None]:
    """Returns, per förvaltning in force, its kept clean tables (None where they are missing)."""
    return {
        code: read_clean_data(settings.clean_data_file(year_view.year, record.digest))
        for code, record in year_view.in_force.items()
    }


# --- what was lost, and what went missing ------------------------------------------------


def load_ledger(settings: Settings) -> Ledger:
    """Returns the ledger with the accepted submissions whose line was lost recovered.

    An accepted submission leaves its clean data in outbox/<år>/data/<digest>.json. A clean-data
    file whose digest is in no readable record lost its ledger line: it is rebuilt from what
    the store still holds. Its förvaltning comes from what the damaged line still says, else
    from its feedback's file name (<KOD>_<digest>.html); when it was taken in from the
    archived copy's time (the system wrote it then), else the clean data's. It counts like
    any other, and is told about at every run until the line is mended.
    """
    ledger = read_ledger(settings.ledger_file)
    known = {record.digest for record in ledger.records}
    damaged = {line.digest: line for line in ledger.damaged if line.digest is not None}
    lost = []
    for year, data_file in _clean_data_files(settings):
        digest = data_file.stem
        if digest in known:
            continue
        rebuilt = _rebuilt_record(settings, year, data_file, damaged.get(digest))
        lost.append(rebuilt)
        known.add(digest)
    if not lost:
        return ledger
    return Ledger((*ledger.records, *lost), ledger.damaged, tuple(lost))


def _clean_data_files(settings: Settings) -> list[tuple[int, Path]]:
    """Returns every clean-data file in the outbox with its year, in a fixed order."""
    found = []
    for data_file in sorted(settings.outbox.glob("[0-9][0-9][0-9][0-9]/data/*.json")):
        if _DIGEST.fullmatch(data_file.stem) and data_file.is_file():
            found.append((int(data_file.parent.parent.name), data_file))
    return found


def _rebuilt_record(settings: Settings, year: int, data_file: Path, line: DamagedLine | None) -> LedgerRecord:
    """Returns the ledger record of an accepted submission rebuilt from its clean data."""
    digest = data_file.stem
    archived = _archived_copy(settings, digest)
    feedback = _feedback_file(settings, year, digest)
    taken_in = archived if archived is not None else data_file
    arrived = utc_iso_precise(taken_in.stat().st_mtime)
    data = read_clean_data(data_file)
    department = (line.department if line is not None else None) or (
        feedback.name.rsplit("_", 1)[0] if feedback is not None else None
    )
    if department == "okand":
        department = None
    return LedgerRecord(
        digest=digest,
        original_name=(line.name if line is not None and line.name else None)
        or f"(okänt filnamn) {digest[:12]}",
        size=archived.stat().st_size if archived is not None else 0,
        received=utc_iso(taken_in.stat().st_mtime),
        processed=utc_iso(data_file.stat().st_mtime),
        department=department,
        year=year,
        verdict="accepted",
        errors=0,
        warnings=data.warnings if data is not None else 0,
        plan_version=None,
        feedback=feedback.relative_to(settings.outbox).as_posix() if feedback is not None else None,
        archived=archived.relative_to(settings.outbox).as_posix() if archived is not None else "",
        arrived=arrived,
    )


def _archived_copy(settings: Settings, digest: str) -> Path | None:
    """Returns the archived copy of these bytes (any suffix), or None when it is gone."""
    folder = settings.archive_dir / digest[:2]
    return next((p for p in sorted(folder.glob(f"{digest}*")) if p.is_file()), None)


def _feedback_file(settings: Settings, year: int, digest: str) -> Path | None:
    """Returns the HTML feedback written for these bytes, <KOD>_<digest>.html, or None."""
    folder = settings.feedback_dir(year)
    return next((p for p in sorted(folder.glob(f"*_{digest}.html")) if p.is_file()), None)


def _recovered_message(record: LedgerRecord) -> str:
    who = f" ({record.department})" if record.department else ""
    return (
        f"Inlämningen {record.original_name}{who} saknades i {LEDGER_NAME} men var godkänd; "
        "den återskapades från sina rensade data och räknas."
    )


@dataclass(frozen=True)
class MissingFiles:
    """A submission in force whose archived copy or clean data is no longer in the outbox."""

    record: LedgerRecord
    archive: bool
    """The archived copy is missing."""
    clean_data: bool
    """The clean data is missing (the report rebuilds it from the archived copy)."""

    @property
    def message(self) -> str:
        """Returns the Swedish line told about it at every run."""
        who = f"{self.record.original_name} ({self.record.department})"
        if self.archive and self.clean_data:
            return (
                f"Både arkivkopian och de rensade data för {who} saknas i utkorgen, så den kan inte "
                "räknas. Lägg filen i inkorgen igen, eller hämta tillbaka utkorgen från en säkerhetskopia."
            )
        if self.archive:
            return (
                f"Arkivkopian av {who} saknas ({self.record.archived}); den räknas från sina rensade data. "
                "Lägg filen i inkorgen igen så arkiveras den på nytt."
            )
        return f"De rensade data för {who} saknas; de återskapas från arkivkopian."


def missing_files(settings: Settings, records: Iterable[LedgerRecord]) -> tuple[MissingFiles, ...]:
    """Returns the submissions among `records` whose archived copy or clean data is gone."""
    gaps = []
    for record in records:
        archive = not record.archived or not (settings.outbox / record.archived).is_file()
        clean = record.year is not None and not settings.clean_data_file(record.year, record.digest).is_file()
        if archive or clean:
            gaps.append(MissingFiles(record, archive, clean))
    return tuple(gaps)


# --- last year's handlingsplan -----------------------------------------------------------


@dataclass(frozen=True)
class PreviousPlan:
    """Last year's consolidated handlingsplan, as written: its actions and Berör oss answers."""

    year: int
    actions: pd.DataFrame
    concerns: pd.DataFrame | None


def previous_plan(settings: Settings, year: int, columns: Sequence[str]) -> PreviousPlan | None:
    """Returns the handlingsplan written for year - 1 (its Åtgärder with `columns` that exist,
    and Berör oss), or None when there is none."""
    return read_action_plan(settings.action_plan_file(year - 1), year - 1, columns)


def adopted_plan(settings: Settings, year: int, columns: Sequence[str]) -> PreviousPlan | None:
    """Returns the year's handlingsplan as KS adopted it (outbox/<år>/antagen), or None."""
    return read_action_plan(settings.adopted_file(year), year, columns)


def read_action_plan(path: Path, year: int, columns: Sequence[str]) -> PreviousPlan | None:
    """Returns a consolidated handlingsplan's Åtgärder (with `columns` that exist) and Berör oss."""
    if not path.is_file():
        return None
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        sheets = workbook.sheet_names
        actions = _sheet_frame(workbook, c.SHEET_ACTIONS) if c.SHEET_ACTIONS in sheets else None
        concerns = _sheet_frame(workbook, c.SHEET_CONCERNS) if c.SHEET_CONCERNS in sheets else None
    finally:
        workbook.close()
    if actions is None:
        return None
    for name in (c.START, c.DONE):
        if name in actions:
            actions[name] = [v.date() if isinstance(v, dt.datetime) else v for v in actions[name]]
    actions = actions[[col for col in columns if col in actions.columns]]
    if concerns is not None:
        concerns = concerns[[DEPARTMENT, c.GOAL_ID, c.CONCERNS_US]]
    return PreviousPlan(year, actions, concerns)


def _sheet_frame(workbook: CalamineWorkbook, name: str) -> pd.DataFrame | None:
    rows = workbook.get_sheet_by_name(name).to_python()
    if not rows:
        return None
    frame = pd.DataFrame(rows[1:], columns=[str(v) for v in rows[0]], dtype=object)
    return frame.replace("", None)
