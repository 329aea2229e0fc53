"""What the system keeps: the ledger of handled submissions, their clean tables and last
year's handlingsplan. The one answer to "what is received, and what is in force, for year Y".

The ledger is an append-only file of JSON lines (one per handled submission); the archive
of untouched copies is written by intake; clean tables are JSON files per accepted
submission, so the report need not read every workbook again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.files import fsync_folder, write_text_atomic
from pipeline.records import CleanData, LedgerRecord, parse_utc

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
    """

    year: int
    records: tuple[LedgerRecord, ...]
    in_force: dict[str, LedgerRecord] = field(default_factory=dict)
    open_rejections: tuple[LedgerRecord, ...] = ()

    @property
    def digests(self) -> frozenset[str]:
        """Returns the digests of every submission handled for the year."""
        return frozenset(r.digest for r in self.records)


def received(settings: Settings, year: int, departments: Iterable[str] = ()) -> Received:
    """Returns what the ledger holds for `year`: every handled submission and what is in force.

    `departments` are the plan's förvaltningar: with them, a rejected file whose förvaltning
    could not be told counts as handled once every förvaltning has handed in later.
    """
    return received_from(read_ledger(settings.ledger_file), year, departments)


def received_from(records: Iterable[LedgerRecord], year: int, departments: Iterable[str] = ()) -> Received:
    """Returns the year's view of ledger records (any years) given in the order they were written."""
    mine = tuple(r for r in records if r.year == year and r.verdict != "ignored")
    winners = in_force(mine, year)
    return Received(year, mine, winners, open_rejections(mine, winners, departments))


def handled_years(records: Iterable[LedgerRecord]) -> dict[str, int | None]:
    """Returns, per digest ever handled, the year it was handled for (None: no submission).

    A file is handled once: the same bytes found again, whichever year runs, are known.
    """
    return {record.digest: record.year for record in records}


def in_force(records: Iterable[LedgerRecord], year: int) -> dict[str, LedgerRecord]:
    """Returns, per förvaltning, its accepted submission for `year` that was received last.

    Ties on `received` go to the higher digest, so the answer never depends on order.
    The dict is ordered by förvaltning code.
    """
    winners: dict[str, LedgerRecord] = {}
    for record in records:
        if record.verdict != "accepted" or record.year != year or record.department is None:
            continue
        current = winners.get(record.department)
        if current is None or _recency(record) > _recency(current):
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
    return tuple(sorted(still_open.values(), key=lambda r: (r.received, r.digest)))


def _superseded(rejected: LedgerRecord, winner: LedgerRecord | None) -> bool:
    return winner is not None and _recency(winner) >= _recency(rejected)


def _recency(record: LedgerRecord) -> tuple[dt.datetime, str]:
    """Returns the sort key for which submission is newer: received time, then digest."""
    return parse_utc(record.received), record.digest


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


def read_ledger(path: Path) -> list[LedgerRecord]:
    """Returns the ledger's records in the order they were written; [] when there is no ledger.

    A line that does not parse as a record is skipped, and so is a last line without its
    newline: that is what a crash in the middle of an append leaves behind.
    """
    if not path.exists():
        return []
    records = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            record = _parse_record(line) if line.endswith(b"\n") else None
            if record is not None:
                records.append(record)
            elif line.strip():
                log.warning("Rad %d i %s kunde inte läsas och hoppas över.", number, path)
    return records


def append_ledger(path: Path, records: Iterable[LedgerRecord]) -> None:
    """Appends records as complete JSON lines in one write, flushed and synced to disk.

    A torn last line left by an earlier crash is closed off first, so that it cannot
    swallow these records. Creates the ledger and its folder when missing.
    """
    data = b"".join(_line(r) for r in records)
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end > 0:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                data = b"\n" + data
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_folder(path.parent)


def _line(record: LedgerRecord) -> bytes:
    return json.dumps(asdict(record), ensure_ascii=False).encode("utf-8") + b"\n"


def _parse_record(line: bytes) -> LedgerRecord | None:
    """Returns the record on one ledger line, or None when the line is not a valid record."""
    try:
        data = json.loads(line.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
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
    return LedgerRecord(**fields)


def _valid_fields(data: dict[str, object]) -> bool:
    """Returns True when `data` has every record field with a value of the right type."""
    for name, types in _FIELD_TYPES.items():
        if name not in data or not isinstance(data[name], types):
            return False
    if data["verdict"] not in ("accepted", "rejected", "ignored"):
        return False
    try:
        parse_utc(str(data["received"]))
    except ValueError:
        return False
    return True


# --- clean data --------------------------------------------------------------------------


def write_clean_data(target: Path, data: CleanData) -> Path:
    """Writes an accepted submission's clean tables and contact as JSON (atomically)."""
    payload = {
        "contact": data.contact,
        "email": data.email,
        "warnings": data.warnings,
        "actions": [{k: _json_value(v) for k, v in row.items()} for row in data.actions],
        "goals": [list(pair) for pair in data.goals],
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
        return CleanData(
            contact=str(data["contact"]),
            email=str(data["email"]),
            warnings=int(data["warnings"]),
            actions=actions,
            goals=[(goal, answer) for goal, answer in data["goals"]],
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
    path = settings.action_plan_file(year - 1)
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
    return PreviousPlan(year - 1, actions, concerns)


def _sheet_frame(workbook: CalamineWorkbook, name: str) -> pd.DataFrame | None:
    rows = workbook.get_sheet_by_name(name).to_python()
    if not rows:
        return None
    frame = pd.DataFrame(rows[1:], columns=[str(v) for v in rows[0]], dtype=object)
    return frame.replace("", None)
