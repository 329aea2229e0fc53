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
from pipeline.config import PLAN_VERSION_FORM, READABLE_TEMPLATE_VERSIONS, local_time
from pipeline.plan import Plan, plan_for_version
from pipeline.problems import (
    ERROR,
    WARNING,
    Problem,
    count,
    describe,
    display_value,
    first_reasons,
    problem,
)
from pipeline.read import Identity, RawWorkbook, bounds_problem, read_identity, read_properties, read_workbook
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


def check_submission(
    path: Path, name: str, plans: Plans, year: int, as_of: dt.date, received: dt.date | None = None
) -> Checked:
    """Returns one submission identified and validated; any failure becomes its problem.

    `received` is the day it came in (see `arrival_day`); unknown, the as-of date stands in.
    """
    return check_batch([(path, name)], plans, year, as_of, [received])[0]


def check_batch(
    files: Sequence[tuple[Path, str]],
    plans: Plans,
    year: int,
    as_of: dt.date,
    received: Sequence[dt.date | None] | None = None,
) -> list[Checked]:
    """Returns each (path, display name) identified and validated, in order.

    Sniffing, identification and reading are per file; validation runs once for the batch
    (pandera's cost is per call, not per row). `received` gives, in the same order, the day
    each file came in (`arrival_day`): a nämnd's decision cannot be later. Where it is None
    or not given (a file checked again), the as-of date stands in.
    """
    days = list(received) if received is not None else [None] * len(files)
    if len(days) != len(files):
        raise ValueError(f"{len(files)} files but {len(days)} days received")
    early = [_identify_and_read(path, name, plans, year) for path, name in files]
    readable = [(i, item) for i, item in enumerate(early) if isinstance(item, _Readable)]
    try:
        validated: list[Validated | None] = list(
            validate_workbooks(
                [Submission(r.raw, r.plan, r.code, files[i][1], days[i]) for i, r in readable], as_of
            )
        )
        details = [""] * len(readable)
    except Exception as exc:  # one odd workbook must not stop the batch: validate one by one
        log.warning("Kontrollen av en omgång misslyckades (%s: %s); var fil för sig", type(exc).__name__, exc)
        alone = [_validate_alone(r, files[i][1], as_of, days[i]) for i, r in readable]
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


def arrival_day(arrived: str | None, received: str | None = None) -> dt.date | None:
    """Returns the day this system took a submission in, in Swedish time, or None when unknown.

    `arrived` is the system's own clock at intake (`Pending.arrived`, ISO 8601 UTC); where a
    ledger does not have it, `received` (the file's modification time) stands in.
    """
    for moment in (arrived, received):
        if not moment:
            continue
        try:
            return dt.date.fromisoformat(local_time(moment, "%Y-%m-%d"))
        except ValueError:
            log.warning("Tiden %r kunde inte läsas som ett datum", moment)
    return None


def _validate_alone(
    item: _Readable, name: str, as_of: dt.date, received: dt.date | None
) -> tuple[Validated | None, str]:
    try:
        return validate_workbook(item.raw, item.plan, item.code, name, as_of, received), ""
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
    plan = plans.current
    oversized = _bounds(path, name)
    if oversized is not None:
        # Nothing more is read (a reader would allocate for what the file declares), so
        # neither is the sheet of the identification; its properties are small and safe.
        stated = _properties(path, name)
        code = stated.get(c.ID_DEPARTMENT)
        known = code if code in plan.department_codes else None
        own_year = _own_year(stated) or year
        return Checked(known, _department_name(plan, known), None, (oversized,), own_year, markable=False)
    try:
        identity = read_identity(path)
    except Exception as exc:  # a file that passed sniffing can still be malformed inside
        log.warning("Identifieringen i %s kunde inte läsas (%s)", name, describe(exc))
        identity = Identity({}, {})
    identification = identity.merged
    year = _own_year(identification) or year
    rejections = _identification_problems(identity, name, plan, year)
    code = identification.get(c.ID_DEPARTMENT)
    version = identification.get(c.ID_PLAN_VERSION, "")
    answered = None if rejections or code is None else _plan_for(plans, version, name)
    if isinstance(answered, Problem):
        rejections, answered = [answered], None
    if answered is None or code is None:
        agreed = not any(p.code == "identity_conflict" and p.value == c.ID_DEPARTMENT for p in rejections)
        known = code if agreed and code in plan.department_codes else None
        shown = version if PLAN_VERSION_FORM.fullmatch(version) else None
        return Checked(known, _department_name(plan, known), shown, tuple(rejections), year)
    notes = [note.located(name) for note in sniffed.notes]
    try:
        raw = read_workbook(path, name, identification)
    except Exception as exc:  # never let one file stop the run
        log.exception("%s kunde inte läsas", name)
        unreadable = problem("unreadable", file=name, detail=describe(exc))
        return Checked(code, _department_name(plan, code), version, (*notes, unreadable), year)
    return _Readable(code, version, tuple(notes), raw, answered, year)


def _bounds(path: Path, name: str) -> Problem | None:
    """Returns the problem of a file too large to read, measured before any reader opens it."""
    try:
        found = bounds_problem(path)
    except Exception as exc:  # the measuring parses the file too: a malformed one is unreadable
        log.warning("Storleken på %s kunde inte mätas (%s)", name, describe(exc))
        return problem("unreadable", file=name, detail=describe(exc))
    return found.located(name) if found is not None else None


def _properties(path: Path, name: str) -> dict[str, str]:
    try:
        return read_properties(path)
    except Exception as exc:
        log.warning("Dokumentegenskaperna i %s kunde inte läsas (%s)", name, describe(exc))
        return {}


def _plan_for(plans: Plans, version: str, name: str) -> Plan | Problem:
    """Returns the plan a submission answers, looked up by its version, or why it cannot be.

    The version is an identifier, never part of a path: it must have the exact form
    `plan_version` gives one before it is looked up.
    """
    if not PLAN_VERSION_FORM.fullmatch(version):
        return problem("plan_version_invalid", file=name, value=display_value(version))
    try:
        found = plans.for_version(version)
    except Exception as exc:  # an unreadable archived copy is as good as none
        log.warning("Planversion %s kunde inte läsas (%s)", version, describe(exc))
        found = None
    if found is None:
        return problem("plan_version_unknown", file=name, value=version)
    return found


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


WHAT_IDENTIFIES = {
    c.ID_DEPARTMENT: "förvaltning",
    c.ID_YEAR: "år",
    c.ID_TEMPLATE_VERSION: "mallversion",
    c.ID_PLAN_VERSION: "planversion",
}
"""Each identification key as a förvaltning would name it ("Filens uppgifter om år …")."""


def _identification_problems(identity: Identity, name: str, plan: Plan, year: int) -> list[Problem]:
    """Returns why the identification rejects the file: its sources disagree, or what they say."""
    conflicts = [
        problem(
            "identity_conflict",
            file=name,
            value=key,
            what=WHAT_IDENTIFIES[key],
            in_properties=display_value(stated),
            in_sheet=display_value(shown),
        )
        for key, stated, shown in identity.conflicts()
    ]
    if conflicts:
        return conflicts
    found = _identification_problem(identity.merged, name, plan, year)
    return [found] if found else []


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
    """Returns an accepted submission's clean tables, contact and nämnd decision, as the store keeps them."""
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
        decision_date=checked.validated.decision_date,
        decision_paragraph=checked.validated.decision_paragraph,
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
        arrived=item.arrived,
        # Bounded: a cell may hold 32 767 characters, an address has at most 254.
        contact=checked.contact.strip()[:200] or None,
        email=checked.email.strip()[:254] or None,
    )
