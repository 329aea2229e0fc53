"""One submission checked: sniff → identify → read → validate, into a `Checked` value.

Every data problem becomes a record from the catalogue (`pipeline.problems`); an
exception inside a check is logged and becomes the submission's "unreadable" problem with
the exception in `detail`, so one odd file never stops a batch and the coordinator can see
what went wrong. Nothing here writes a file.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import contract as c
from pipeline.config import READABLE_TEMPLATE_VERSIONS
from pipeline.plan import Plan, plan_for_version
from pipeline.problems import ERROR, WARNING, Problem, count, describe, first_reasons, problem
from pipeline.read import RawWorkbook, read_identification, read_workbook
from pipeline.records import CleanData, LedgerRecord, Pending, Verdict, utc_iso
from pipeline.sniff import sniff_workbook
from pipeline.validate import Submission, Validated, validate_workbook, validate_workbooks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """A submission after identification and validation: who sent it, and its problems."""

    department: str | None
    department_name: str | None
    plan_version: str | None
    problems: tuple[Problem, ...]
    year: int
    """The year the submission is handled for: its template's year when that can be read."""
    validated: Validated | None = None
    contact: str = ""
    email: str = ""
    markable: bool = True
    """False when the file must not be opened again to mark it up (unsafe, or too large)."""
    submission: bool = True
    """False for a file that is no workbook at all (a text file, a picture): it is ignored."""

    @property
    def accepted(self) -> bool:
        """Returns True when nothing in the submission is an error."""
        return self.validated is not None and count(self.problems, ERROR) == 0


NOT_A_SUBMISSION = frozenset({"text", "other_format"})
"""Sniff problems that mean the file is not a spreadsheet at all: ignored, not rejected."""
FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The years a template can be for; a file for another of these years is handled for it."""


@dataclass(frozen=True)
class Plans:
    """The plan in force and the folder of earlier versions, to read a submission against its own."""

    current: Plan
    archive_dir: Path

    def for_version(self, version: str) -> Plan | None:
        """Returns the plan with this version, or None when it is not kept."""
        return plan_for_version(version, self.archive_dir, self.current)


def check_submission(path: Path, name: str, plans: Plans, year: int, as_of: dt.date) -> Checked:
    """Returns one submission identified and validated; any failure becomes its problem."""
    return check_batch([(path, name)], plans, year, as_of)[0]


def check_batch(files: Sequence[tuple[Path, str]], plans: Plans, year: int, as_of: dt.date) -> list[Checked]:
    """Returns each (path, display name) identified and validated, in order.

    Sniffing, identification and reading are per file; validation runs once for the batch
    (pandera's cost is per call, not per row).
    """
    early = [_identify_and_read(path, name, plans, year) for path, name in files]
    readable = [(i, item) for i, item in enumerate(early) if isinstance(item, _Readable)]
    try:
        validated: list[Validated | None] = list(
            validate_workbooks([Submission(r.raw, r.plan, r.code, files[i][1]) for i, r in readable], as_of)
        )
        details = [""] * len(readable)
    except Exception as exc:  # one odd workbook must not stop the batch: validate one by one
        log.warning("Kontrollen av en omgång misslyckades (%s: %s); var fil för sig", type(exc).__name__, exc)
        alone = [_validate_alone(r, files[i][1], as_of) for i, r in readable]
        validated = [v for v, _ in alone]
        details = [d for _, d in alone]
    results: list[Checked | _Readable] = list(early)
    for (position, item), outcome, detail in zip(readable, validated, details, strict=True):
        results[position] = _checked(item, outcome, plans.current, files[position][1], detail)
    return [r for r in results if isinstance(r, Checked)]


@dataclass(frozen=True)
class _Readable:
    """A submission identified and read, waiting for the batch's validation."""

    code: str
    version: str
    notes: tuple[Problem, ...]
    raw: RawWorkbook
    plan: Plan
    year: int


def _validate_alone(item: _Readable, name: str, as_of: dt.date) -> tuple[Validated | None, str]:
    try:
        return validate_workbook(item.raw, item.plan, item.code, name, as_of), ""
    except Exception as exc:
        log.exception("Kontrollen av %s misslyckades", name)
        return None, describe(exc)


def _checked(item: _Readable, validated: Validated | None, plan: Plan, name: str, detail: str) -> Checked:
    department_name = _department_name(plan, item.code)
    if validated is None:
        unreadable = problem("unreadable", file=name, detail=detail)
        return Checked(item.code, department_name, item.version, (*item.notes, unreadable), item.year)
    return Checked(
        item.code,
        department_name,
        item.version,
        (*item.notes, *validated.problems),
        item.year,
        validated,
        item.raw.contact,
        item.raw.email,
        markable=not any(p.code == "too_many_rows" for p in validated.problems),
    )


def _identify_and_read(path: Path, name: str, plans: Plans, year: int) -> Checked | _Readable:
    sniffed = sniff_workbook(path)
    if sniffed.problem is not None:
        found = sniffed.problem.located(name)
        submission = sniffed.problem.code not in NOT_A_SUBMISSION
        return Checked(None, None, None, (found,), year, markable=False, submission=submission)
    try:
        identification = read_identification(path)
    except Exception as exc:  # a file that passed sniffing can still be malformed inside
        log.warning("Identifieringen i %s kunde inte läsas (%s)", name, describe(exc))
        identification = {}
    plan = plans.current
    year = _own_year(identification) or year
    rejection = _identification_problem(identification, name, plan, year)
    code = identification.get(c.ID_DEPARTMENT)
    if rejection or code is None:
        known = code if code in plan.department_codes else None
        problems = (rejection,) if rejection else ()
        return Checked(
            known, _department_name(plan, known), identification.get(c.ID_PLAN_VERSION), problems, year
        )
    version = identification[c.ID_PLAN_VERSION]
    notes = [note.located(name) for note in sniffed.notes]
    answered = plans.for_version(version)
    if answered is None:
        answered = plan
        notes.append(
            problem("plan_version_unknown", file=name, value=version, version=version, current=plan.version)
        )
    try:
        raw = read_workbook(path, name, identification)
    except Exception as exc:  # never let one file stop the run
        log.exception("%s kunde inte läsas", name)
        unreadable = problem("unreadable", file=name, detail=describe(exc))
        return Checked(code, _department_name(plan, code), version, (*notes, unreadable), year)
    return _Readable(code, version, tuple(notes), raw, answered, year)


def _own_year(identification: dict[str, str]) -> int | None:
    """Returns the year the template was made for, when it is one a template can be for.

    A file keeps to its own year: last year's files left in the inbox are last year's
    submissions, not this year's rejections.
    """
    text = identification.get(c.ID_YEAR, "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    year = int(text)
    return year if FIRST_YEAR <= year <= LAST_YEAR else None


def _department_name(plan: Plan, code: str | None) -> str | None:
    return plan.department(code).name if code is not None and code in plan.department_codes else None


def _identification_problem(
    identification: dict[str, str], name: str, plan: Plan, year: int
) -> Problem | None:
    if not identification:
        return problem("not_a_template", file=name, year=year)
    version = identification.get(c.ID_TEMPLATE_VERSION, "")
    if version not in READABLE_TEMPLATE_VERSIONS:
        return problem("template_version", file=name, version=version or "okänd", year=year)
    template_year = identification.get(c.ID_YEAR, "")
    if template_year != str(year):
        return problem("wrong_year", file=name, template_year=template_year or "okänt", year=year)
    code = identification.get(c.ID_DEPARTMENT, "")
    if code not in plan.department_codes:
        return problem("unknown_department", file=name, code=code)
    return None


# --- what the store keeps of a checked submission ----------------------------------------


def clean_data(checked: Checked) -> CleanData:
    """Returns an accepted submission's clean tables and contact, as the store keeps them."""
    if checked.validated is None:
        raise ValueError("only a validated submission has clean data")
    actions = checked.validated.actions
    columns = [actions[name].tolist() for name in actions.columns]
    goals = checked.validated.goals
    return CleanData(
        contact=checked.contact,
        email=checked.email,
        warnings=count(checked.problems, WARNING),
        actions=[
            {str(k): _plain(v) for k, v in zip(actions.columns, row, strict=True)}
            for row in zip(*columns, strict=True)
        ]
        if columns
        else [],
        goals=list(zip(goals[c.GOAL_ID], goals[c.CONCERNS_US], strict=True)),
    )


def _plain(value: Any) -> Any:
    """Returns a cell value with pandas' missing markers (NaN, NaT, NA) as None."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return value


def _verdict(checked: Checked) -> Verdict:
    if not checked.submission:
        return "ignored"
    return "accepted" if checked.accepted else "rejected"


def ledger_record(
    item: Pending, checked: Checked, *, feedback: str | None, archived: str, processed: float
) -> LedgerRecord:
    """Returns the ledger's record of a checked submission."""
    return LedgerRecord(
        digest=item.digest,
        original_name=item.name,
        size=item.size,
        received=item.received,
        processed=utc_iso(processed),
        department=checked.department,
        year=checked.year if checked.submission else None,
        verdict=_verdict(checked),
        errors=count(checked.problems, ERROR),
        warnings=count(checked.problems, WARNING),
        plan_version=checked.plan_version,
        feedback=feedback,
        archived=archived,
        reasons=() if checked.accepted else first_reasons(checked.problems),
        details=tuple(dict.fromkeys(p.detail for p in checked.problems if p.detail)),
    )
