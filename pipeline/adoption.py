"""Antagande: KS's decision on the compiled handlingsplan, frozen as it was.

An adoption is a decision ("KS 2027-04-14 § 55"), the day it was made on, and for each
förvaltning the submission in force then with its state (ej inlämnad, förslag, beslutad i
nämnd). Its files live in outbox/<år>/antagen/: the adopted handlingsplan and antagen.json.
They are written once and never changed; a revision (a new decision) moves the earlier
adoption's files, unchanged, into antagen/historik/ before the new ones are written.

Plain data and small file operations; the flow decides when.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InvalidInputError
from pipeline.files import fsync_folder, write_text_atomic
from pipeline.records import BOARD_DECIDED, NOT_SUBMITTED, PROPOSAL, board_decision_label
from pipeline.text import listing

log = logging.getLogger(__name__)

HISTORY_DIR = "historik"

_DECISION = re.compile(r"^(?P<body>.*?)\s*(?P<date>\d{4}-\d{2}-\d{2})\s*(?P<paragraph>§\s*\d+[a-z]?)\s*$")


@dataclass(frozen=True)
class Decision:
    """KS's decision, e.g. "KS 2027-04-14 § 55": who, the day and the paragraph."""

    text: str
    body: str
    date: dt.date
    paragraph: str

    @classmethod
    def parse(cls, text: str) -> Decision:
        """Returns the decision written as "KS 2027-04-14 § 55"; refuses anything else in Swedish."""
        cleaned = " ".join(text.split())
        match = _DECISION.match(cleaned)
        example = 'Skriv beslutet som "KS 2027-04-14 § 55" (organ, datum ÅÅÅÅ-MM-DD och paragraf).'
        if match is None:
            raise InvalidInputError(f'"{cleaned}" går inte att läsa som ett beslut. {example}')
        try:
            day = dt.date.fromisoformat(match["date"])
        except ValueError:
            raise InvalidInputError(f'"{match["date"]}" är inget datum. {example}') from None
        paragraph = "§ " + match["paragraph"].removeprefix("§").strip()
        body = match["body"].strip() or "KS"
        return cls(f"{body} {day.isoformat()} {paragraph}", body, day, paragraph)

    @property
    def since(self) -> str:
        """Returns "sedan KS antog planen 2027-04-14 § 55", as the summary says it."""
        return f"sedan {self.body} antog planen {self.date.isoformat()} {self.paragraph}"


@dataclass(frozen=True)
class AdoptedDepartment:
    """One förvaltning in an adoption: its state then, and the submission adopted (if any)."""

    code: str
    name: str
    state: str
    file: str | None = None
    sha256: str | None = None
    received: str | None = None
    board_decision: str | None = None
    """The nämnd's decision ("2027-03-15 § 14") when the state is beslutad i nämnd."""


@dataclass(frozen=True)
class Adoption:
    """One adoption of a year's handlingsplan, as antagen.json keeps it."""

    year: int
    decision: Decision
    as_of: dt.date
    departments: tuple[AdoptedDepartment, ...]
    document: str
    """The adopted handlingsplan's file name, beside antagen.json."""
    sha256: str
    """The SHA-256 of that file, as written."""
    history: tuple[dict[str, Any], ...] = ()
    """Earlier adoptions of the year (decision, as_of, folder, sha256), oldest first."""

    def count(self, state: str) -> int:
        return sum(1 for d in self.departments if d.state == state)

    def note(self) -> str:
        """Returns what the adopted document says about förvaltningar missing or only as drafts."""
        missing = [d.code for d in self.departments if d.state == NOT_SUBMITTED]
        drafts = [d.code for d in self.departments if d.state == PROPOSAL]
        parts = []
        if missing:
            parts.append(f"hade {listing(missing)} inte lämnat in någon handlingsplan")
        if drafts:
            what = "förslagen" if len(drafts) > 1 else "förslaget"
            decided = "beslutade" if len(drafts) > 1 else "beslutat"
            parts.append(f"{what} från {listing(drafts)} var inte {decided} i nämnd")
        if not parts:
            return "Alla förvaltningars förslag var beslutade i nämnd när planen antogs."
        return f"När planen antogs {', och '.join(parts)}. Kommunstyrelsen antog planen ändå."


def department_state(submitted: bool, decision_date: dt.date | None, paragraph: str | None) -> str:
    """Returns ej inlämnad, förslag or beslutad i nämnd."""
    if not submitted:
        return NOT_SUBMITTED
    return BOARD_DECIDED if board_decision_label(decision_date, paragraph) != PROPOSAL else PROPOSAL


def state_label(submitted: bool, decision_date: dt.date | None, paragraph: str | None) -> str:
    """Returns the state as readers see it: "beslutad i nämnd 2027-03-15 § 14", "förslag", …"""
    return board_decision_label(decision_date, paragraph) if submitted else NOT_SUBMITTED


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- antagen.json ---------------------------------------------------------------------------


def manifest_data(adoption: Adoption) -> dict[str, Any]:
    return {
        "year": adoption.year,
        "decision": {
            "text": adoption.decision.text,
            "body": adoption.decision.body,
            "date": adoption.decision.date.isoformat(),
            "paragraph": adoption.decision.paragraph,
        },
        "as_of": adoption.as_of.isoformat(),
        "document": adoption.document,
        "sha256": adoption.sha256,
        "departments": [d.__dict__ for d in adoption.departments],
        "history": list(adoption.history),
    }


def write_manifest(target: Path, adoption: Adoption) -> Path:
    text = json.dumps(manifest_data(adoption), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return write_text_atomic(target, text)


def read_manifest(source: Path) -> Adoption | None:
    """Returns the adoption antagen.json describes, or None when there is none (or it cannot be read)."""
    if not source.is_file():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        decision = data["decision"]
        return Adoption(
            year=int(data["year"]),
            decision=Decision(
                decision["text"],
                decision["body"],
                dt.date.fromisoformat(decision["date"]),
                decision["paragraph"],
            ),
            as_of=dt.date.fromisoformat(data["as_of"]),
            departments=tuple(AdoptedDepartment(**d) for d in data["departments"]),
            document=str(data["document"]),
            sha256=str(data["sha256"]),
            history=tuple(data.get("history") or ()),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s kunde inte läsas (%s)", source, exc)
        return None


# --- keeping history ------------------------------------------------------------------------


def _slug(decision: Decision) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", decision.text).strip("_")


def keep_as_history(folder: Path, current: Adoption, files: Sequence[Path]) -> dict[str, Any]:
    """Moves an adoption's files, unchanged, to historik/<nn>_<decision>/; returns its history entry.

    A rename within the folder: the bytes are never rewritten, so the sha256 in the entry
    still matches them.
    """
    number = len(current.history) + 1
    target = folder / HISTORY_DIR / f"{number:02d}_{_slug(current.decision)}"
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.exists():
            os.replace(path, target / path.name)
    fsync_folder(target)
    fsync_folder(folder)
    return {
        "decision": current.decision.text,
        "as_of": current.as_of.isoformat(),
        "folder": f"{HISTORY_DIR}/{target.name}",
        "document": current.document,
        "sha256": current.sha256,
    }
