"""Submissions in force → one action table with ids, the responsibility matrix and the figures.

Everything the reports show is computed here, as DataFrames and small records, so the
workbook and summary writers only lay it out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.collect import Checked, check_submission, check_submissions, read_clean_data
from pipeline.config import Settings
from pipeline.intake import LedgerRecord, in_force, read_ledger
from pipeline.plan import Goal, Plan
from pipeline.problems import ERROR, first_reasons

DEPARTMENT = c.DEPARTMENT
AREA = "Målområde"
NO_FUNDING = "Ej angiven"
TOTAL = "Totalt"
BEFORE, NOW = "Status före", "Status nu"
CONCERNS_SHEET = "Berör oss"
ACTION_TABLE_COLUMNS = (DEPARTMENT, *c.ACTION_COLUMNS)
CHANGE_COLUMNS = (c.ACTION_ID, DEPARTMENT, c.GOAL, c.ACTION, BEFORE, NOW)


@dataclass(frozen=True)
class DepartmentStatus:
    """One förvaltning's place in the cycle: submitted or not, and which submission is in force."""

    code: str
    name: str
    submitted: bool
    file: str | None = None
    received: str | None = None
    digest: str | None = None
    contact: str = ""
    email: str = ""
    plan_version: str | None = None
    actions: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class Rejection:
    """A rejected submission of the year and the first reasons, for KS's deviations list."""

    file: str
    department: str | None
    received: str
    errors: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    """Year over year, by Åtgärds-ID; every frame has CHANGE_COLUMNS."""

    previous_year: int
    new: pd.DataFrame
    finished: pd.DataFrame
    status_changes: pd.DataFrame
    disappeared: pd.DataFrame


@dataclass(frozen=True)
class Figures:
    """The key figures of the follow-up."""

    departments_submitted: int
    departments_total: int
    actions: int
    completed: int
    completed_share: float
    overdue: int
    goals_without_action: int
    total_cost: float


@dataclass(frozen=True)
class Consolidated:
    """The kommun's handlingsplan for a year, as of a date.

    `actions` has ACTION_TABLE_COLUMNS plus AREA (the målområde number), one row per
    accepted action, ordered by förvaltning (plan order), then as the förvaltning wrote
    them; dates are `datetime.date` or None, `Kostnad (kr)` float (NaN when empty), text str or None.
    `concerns` has DEPARTMENT, `Delmål` and `Berör oss` ("Ja", "Nej" or None).
    """

    plan: Plan
    year: int
    as_of: dt.date
    actions: pd.DataFrame
    concerns: pd.DataFrame
    departments: tuple[DepartmentStatus, ...]
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)
    changes: Changes | None = None


# Building the consolidated plan.


def assign_action_ids(departments: Sequence[str], ids: Sequence[object], year: int) -> list[str]:
    """Returns each action's Åtgärds-ID: its own where it has one, else its förvaltning's next
    free <KOD>-<år>-<nnn>.

    Numbering follows row order, so the same submission always gets the same ids.
    """
    next_free: dict[str, int] = {}
    for code, value in zip(departments, ids, strict=True):
        prefix = f"{code}-{year}-"
        if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
            next_free[code] = max(next_free.get(code, 1), int(value[len(prefix) :]) + 1)
    assigned = []
    for code, value in zip(departments, ids, strict=True):
        if isinstance(value, str) and value:
            assigned.append(value)
        else:
            number = next_free.get(code, 1)
            assigned.append(f"{code}-{year}-{number:03d}")
            next_free[code] = number + 1
    return assigned


def combine(
    plan: Plan,
    year: int,
    as_of: dt.date,
    per_department: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    departments: Iterable[DepartmentStatus],
    rejections: Iterable[Rejection] = (),
    previous: pd.DataFrame | None = None,
) -> Consolidated:
    """Returns the consolidated plan from each förvaltning's clean (actions, goals) frames."""
    order = {code: i for i, code in enumerate(plan.department_codes)}
    ordered = sorted(per_department.items(), key=lambda item: order.get(item[0], len(order)))
    tables = {code: (_as_records(actions), _goal_answers(goals)) for code, (actions, goals) in ordered}
    return _combine_records(plan, year, as_of, tables, departments, rejections, previous)


Records = list[dict[str, Any]]
GoalAnswers = list[tuple[Any, Any]]


def _as_records(actions: pd.DataFrame) -> Records:
    """Returns a clean action frame as records, empty cells as None."""
    return actions.astype(object).where(actions.notna(), None).to_dict("records")


def _goal_answers(goals: pd.DataFrame) -> GoalAnswers:
    return list(zip(goals[c.GOAL_ID], goals[c.CONCERNS_US], strict=True))


def _combine_records(
    plan: Plan,
    year: int,
    as_of: dt.date,
    tables: dict[str, tuple[Records, GoalAnswers]],
    departments: Iterable[DepartmentStatus],
    rejections: Iterable[Rejection] = (),
    previous: pd.DataFrame | None = None,
) -> Consolidated:
    """Returns the consolidated plan from each förvaltning's actions (records) and Berör oss
    answers, in the order given: one DataFrame for the year, not one per förvaltning."""
    codes = [code for code, (actions, _) in tables.items() for _ in actions]
    records = [record for actions, _ in tables.values() for record in actions]
    actions = pd.DataFrame.from_records(records, columns=list(c.ACTION_COLUMNS)).astype(object)
    actions = actions.where(actions.notna(), None)
    actions.insert(0, DEPARTMENT, pd.Series(codes, dtype=object))
    actions[c.ACTION_ID] = assign_action_ids(codes, list(actions[c.ACTION_ID]), year)
    area_of = {g.id: g.area for g in plan.goals}
    actions[AREA] = [area_of.get(g, 0) for g in actions[c.GOAL]]
    actions = actions[[*ACTION_TABLE_COLUMNS, AREA]]
    actions[c.COST] = pd.to_numeric(actions[c.COST], errors="coerce").astype(float)
    actions[AREA] = actions[AREA].astype("int64")
    concerns = pd.DataFrame(
        [(code, goal, answer) for code, (_, goals) in tables.items() for goal, answer in goals],
        columns=[DEPARTMENT, c.GOAL_ID, c.CONCERNS_US],
        dtype=object,
    )
    changes = compare_years(previous, actions, year - 1) if previous is not None else None
    return Consolidated(plan, year, as_of, actions, concerns, tuple(departments), tuple(rejections), changes)


# Year over year.


def compare_years(previous: pd.DataFrame, current: pd.DataFrame, previous_year: int) -> Changes:
    """Returns what changed since last year's consolidated handlingsplan, by Åtgärds-ID."""
    before = previous.set_index(c.ACTION_ID, drop=False)
    now = current.set_index(c.ACTION_ID, drop=False)
    common = [i for i in now.index if i in before.index]

    def rows(ids: Iterable[str], source: pd.DataFrame, before_status: bool, now_status: bool) -> pd.DataFrame:
        records = []
        for action_id in ids:
            row = source.loc[action_id]
            records.append(
                {
                    c.ACTION_ID: action_id,
                    DEPARTMENT: row[DEPARTMENT],
                    c.GOAL: row[c.GOAL],
                    c.ACTION: row[c.ACTION],
                    BEFORE: before.at[action_id, c.STATUS] if before_status else None,
                    NOW: now.at[action_id, c.STATUS] if now_status else None,
                }
            )
        return pd.DataFrame(records, columns=list(CHANGE_COLUMNS), dtype=object)

    new_ids = [i for i in now.index if i not in before.index]
    changed = [i for i in common if before.at[i, c.STATUS] != now.at[i, c.STATUS]]
    finished = [i for i in changed if now.at[i, c.STATUS] == c.COMPLETED]
    gone = [i for i in before.index if i not in now.index and before.at[i, c.STATUS] not in c.CLOSED_STATUSES]
    return Changes(
        previous_year=previous_year,
        new=rows(new_ids, now, False, True),
        finished=rows(finished, now, True, True),
        status_changes=rows(changed, now, True, True),
        disappeared=rows(gone, before, True, False),
    )


def read_previous_actions(path: Path) -> pd.DataFrame | None:
    """Returns the Åtgärder table of an earlier consolidated handlingsplan, or None if absent."""
    if not path.is_file():
        return None
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        rows = workbook.get_sheet_by_name(c.SHEET_ACTIONS).to_python()
    finally:
        workbook.close()
    if not rows:
        return None
    header = [str(v) for v in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    frame = frame.replace("", None)
    for name in (c.START, c.DONE):
        if name in frame:
            frame[name] = [v.date() if isinstance(v, dt.datetime) else v for v in frame[name]]
    return frame[[col for col in ACTION_TABLE_COLUMNS if col in frame.columns]]


# Figures and tables the reports show.


def is_overdue(done: object, status: object, as_of: dt.date) -> bool:
    """Returns True for an action whose Klart date has passed and that is neither finished nor cancelled."""
    return isinstance(done, dt.date) and done < as_of and status not in c.CLOSED_STATUSES


def overdue_actions(result: Consolidated) -> pd.DataFrame:
    """Returns the overdue actions, in table order."""
    mask = [
        is_overdue(d, s, result.as_of)
        for d, s in zip(result.actions[c.DONE], result.actions[c.STATUS], strict=True)
    ]
    return result.actions[pd.Series(mask, index=result.actions.index, dtype=bool)]


def actions_without_indicator(result: Consolidated) -> pd.DataFrame:
    """Returns the actions that have no indicator."""
    indicator = result.actions[c.INDICATOR]
    return result.actions[indicator.isna() | (indicator.astype(str).str.strip() == "")]


def goals_without_action(result: Consolidated) -> list[Goal]:
    """Returns the plan's delmål that no förvaltning has an action for."""
    covered = set(result.actions[c.GOAL].dropna())
    return [g for g in result.plan.goals if g.id not in covered]


def marked_without_action(result: Consolidated) -> pd.DataFrame:
    """Returns (Förvaltning, Delmål) pairs marked Berör oss = Ja with no action of that förvaltning."""
    pairs = set(zip(result.actions[DEPARTMENT], result.actions[c.GOAL], strict=True))
    marked = result.concerns[result.concerns[c.CONCERNS_US] == c.YES]
    keep = [(d, g) not in pairs for d, g in zip(marked[DEPARTMENT], marked[c.GOAL_ID], strict=True)]
    return marked[pd.Series(keep, index=marked.index, dtype=bool)][[DEPARTMENT, c.GOAL_ID]].reset_index(
        drop=True
    )


def missing_departments(result: Consolidated) -> list[DepartmentStatus]:
    """Returns the förvaltningar that have no accepted submission."""
    return [d for d in result.departments if not d.submitted]


def responsibility_matrix(result: Consolidated) -> pd.DataFrame:
    """Returns delmål × förvaltning: (marked Berör oss, number of actions) per cell.

    Rows are the delmål ids in plan order; columns the plan's förvaltning codes; each cell
    a tuple (concerns_us: "Ja"/"Nej"/None, actions: int).
    """
    counts = result.actions.groupby([c.GOAL, DEPARTMENT]).size().to_dict()  # a dict: 31 × N lookups
    answers = {
        (d, g): a
        for d, g, a in zip(
            result.concerns[DEPARTMENT],
            result.concerns[c.GOAL_ID],
            result.concerns[c.CONCERNS_US],
            strict=True,
        )
    }
    data = {
        code: [(answers.get((code, g.id)), int(counts.get((g.id, code), 0))) for g in result.plan.goals]
        for code in result.plan.department_codes
    }
    return pd.DataFrame(data, index=[g.id for g in result.plan.goals], dtype=object)


def status_by_area(result: Consolidated) -> pd.DataFrame:
    """Returns målområde label × status counts (all five statuses) with TOTAL row and column."""
    labels = {a.number: a.label for a in result.plan.goal_areas}
    counts = _count_table(
        result.actions[AREA].map(labels), result.actions[c.STATUS], list(labels.values()), c.STATUSES
    )
    return _with_totals(counts)


def status_by_department(result: Consolidated) -> pd.DataFrame:
    """Returns förvaltning code × status counts with TOTAL row and column."""
    codes = list(result.plan.department_codes)
    return _with_totals(_count_table(result.actions[DEPARTMENT], result.actions[c.STATUS], codes, c.STATUSES))


def _count_table(
    rows: pd.Series, columns: pd.Series, row_labels: list[str], column_labels: Iterable[str]
) -> pd.DataFrame:
    """Returns counts of (row, column) pairs laid out on exactly the given labels, zeros filled."""
    pairs = pd.DataFrame({"row": rows.to_numpy(dtype=object), "column": columns.to_numpy(dtype=object)})
    counts = pairs.groupby(["row", "column"]).size()
    table = counts.unstack(fill_value=0) if len(counts) else pd.DataFrame()
    return table.reindex(index=row_labels, columns=list(column_labels), fill_value=0).fillna(0).astype(int)


def cost_by_area_and_funding(result: Consolidated) -> pd.DataFrame:
    """Returns målområde label × financing (plus NO_FUNDING) sums of Kostnad (kr), with totals."""
    labels = {a.number: a.label for a in result.plan.goal_areas}
    columns = [*c.FUNDING_SOURCES, NO_FUNDING]
    funding = result.actions[c.FUNDING].where(result.actions[c.FUNDING].isin(c.FUNDING_SOURCES), NO_FUNDING)
    costs = pd.DataFrame(
        {
            "row": result.actions[AREA].map(labels).to_numpy(dtype=object),
            "column": funding.to_numpy(dtype=object),
            "cost": result.actions[c.COST].to_numpy(dtype=float),
        }
    ).dropna(subset=["row", "cost"])
    sums = costs.groupby(["row", "column"])["cost"].sum()
    table = sums.unstack(fill_value=0.0) if len(sums) else pd.DataFrame()
    frame = (
        table.reindex(index=list(labels.values()), columns=columns, fill_value=0.0).fillna(0.0).astype(float)
    )
    return _with_totals(frame)


def _with_totals(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame[TOTAL] = frame.sum(axis=1)
    frame.loc[TOTAL] = frame.sum(axis=0)
    return frame


def figures(result: Consolidated) -> Figures:
    """Returns the follow-up's key figures."""
    total = len(result.actions)
    completed = int((result.actions[c.STATUS] == c.COMPLETED).sum())
    return Figures(
        departments_submitted=sum(1 for d in result.departments if d.submitted),
        departments_total=len(result.departments),
        actions=total,
        completed=completed,
        completed_share=completed / total if total else 0.0,
        overdue=len(overdue_actions(result)),
        goals_without_action=len(goals_without_action(result)),
        total_cost=float(result.actions[c.COST].sum(skipna=True)) if total else 0.0,
    )


# From the ledger: which submissions the report is built from.


def submissions_in_force(ledger_file: Path, year: int) -> dict[str, LedgerRecord]:
    """Returns the accepted submission in force per förvaltning for `year`."""
    return in_force(read_ledger(ledger_file), year)


def rejected_records(
    ledger_file: Path, year: int, in_force_records: dict[str, LedgerRecord]
) -> list[LedgerRecord]:
    """Returns the year's rejected submissions not superseded by a later accepted one."""
    records = [r for r in read_ledger(ledger_file) if r.year == year and r.outcome == "rejected"]
    latest: dict[str, LedgerRecord] = {}
    for record in records:
        winner = in_force_records.get(record.department or "")
        if winner is not None and winner.received >= record.received:
            continue
        latest[record.digest] = record
    return sorted(latest.values(), key=lambda r: (r.received, r.digest))


# The I/O edge: from the ledger and the archive to a Consolidated.


def previous_plan_path(outbox: Path, year: int) -> Path:
    """Returns where last year's consolidated handlingsplan is written."""
    return outbox / str(year - 1) / f"handlingsplan_{year - 1}.xlsx"


def consolidate_year(settings: Settings, plan: Plan, year: int, as_of: dt.date) -> Consolidated:
    """Returns the consolidated plan from the submissions in force, as collect kept them."""
    records = submissions_in_force(settings.ledger_file, year)
    tables: dict[str, tuple[Records, GoalAnswers]] = {}
    statuses = []
    for department in plan.departments:
        record = records.get(department.code)
        accepted = _accepted_data(record, settings, plan, year, as_of) if record else None
        if record is None or accepted is None:
            statuses.append(DepartmentStatus(department.code, department.name, submitted=False))
            continue
        tables[department.code] = (accepted["actions"], accepted["goals"])
        statuses.append(
            DepartmentStatus(
                code=department.code,
                name=department.name,
                submitted=True,
                file=record.original_name,
                received=record.received,
                digest=record.digest,
                contact=accepted["contact"],
                email=accepted["email"],
                plan_version=record.plan_version,
                actions=len(accepted["actions"]),
                warnings=accepted["warnings"],
            )
        )
    rejections = _rejections(settings, plan, year, as_of, records)
    previous = read_previous_actions(previous_plan_path(settings.outbox, year))
    return _combine_records(plan, year, as_of, tables, statuses, rejections, previous)


def _rejections(
    settings: Settings, plan: Plan, year: int, as_of: dt.date, in_force_records: dict[str, LedgerRecord]
) -> list[Rejection]:
    """Returns the year's rejections with their first errors, as the ledger keeps them.

    Records from ledgers older than the reasons field are read again, as one batch.
    """
    rejected = rejected_records(settings.ledger_file, year, in_force_records)
    unexplained = [r for r in rejected if not r.reasons and (settings.outbox / r.archived).is_file()]
    checks = check_submissions(
        [(settings.outbox / r.archived, r.original_name) for r in unexplained],
        plan,
        year,
        as_of,
        settings.plans_dir,
    )
    reasons = {
        r.digest: first_reasons(checked.problems) for r, checked in zip(unexplained, checks, strict=True)
    }
    return [
        Rejection(r.original_name, r.department, r.received, r.errors, r.reasons or reasons.get(r.digest, ()))
        for r in rejected
    ]


def _accepted_data(
    record: LedgerRecord, settings: Settings, plan: Plan, year: int, as_of: dt.date
) -> dict[str, Any] | None:
    """Returns an accepted submission's clean tables: kept by collect, else read again."""
    kept = read_clean_data(settings.clean_data_file(year, record.digest))
    if kept is not None:
        return kept
    checked = _recheck(record, settings, plan, year, as_of)
    if checked is None or not checked.accepted or checked.validated is None:
        return None
    actions, goals = checked.validated.actions, checked.validated.goals
    return {
        "contact": checked.contact,
        "email": checked.email,
        "warnings": sum(1 for p in checked.problems if p.kind != ERROR),
        "actions": _as_records(actions),
        "goals": _goal_answers(goals),
    }


def _recheck(
    record: LedgerRecord, settings: Settings, plan: Plan, year: int, as_of: dt.date
) -> Checked | None:
    path = settings.outbox / record.archived
    if not path.is_file():
        return None
    return check_submission(path, record.original_name, plan, year, as_of, settings.plans_dir)


def read_previous_concerns(path: Path) -> pd.DataFrame | None:
    """Returns the Berör oss answers kept in an earlier consolidated handlingsplan, or None."""
    if not path.is_file():
        return None
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        if CONCERNS_SHEET not in workbook.sheet_names:
            return None
        rows = workbook.get_sheet_by_name(CONCERNS_SHEET).to_python()
    finally:
        workbook.close()
    if not rows:
        return None
    frame = pd.DataFrame(rows[1:], columns=[str(v) for v in rows[0]], dtype=object).replace("", None)
    return frame[[DEPARTMENT, c.GOAL_ID, c.CONCERNS_US]]
