"""Submissions in force → one action table with ids, the responsibility matrix and the figures.

Everything the reports show is computed here, as DataFrames and small records, so the
workbook and summary writers only lay it out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline import contract as c
from pipeline.adoption import department_state, state_label
from pipeline.plan import Goal, Plan
from pipeline.records import BOARD_DECIDED, CleanData, GoalAnswers, LedgerRecord, Records
from pipeline.text import count_phrase, listing

DEPARTMENT = c.DEPARTMENT
AREA = "Målområde"
NO_FUNDING = "Ej angiven"
TOTAL = "Totalt"
BEFORE, NOW = "Status före", "Status nu"
CONCERNS_SHEET = c.SHEET_CONCERNS
ACTION_TABLE_COLUMNS = (DEPARTMENT, *c.ACTION_COLUMNS)
CHANGE_COLUMNS = (c.ACTION_ID, DEPARTMENT, c.GOAL, c.ACTION, BEFORE, NOW)
DROPPED_AREA = 0
"""The målområde number (column AREA) of an action whose delmål is not in the plan."""
DROPPED_GOALS = "Delmål som inte längre finns i planen"
"""Where an action whose delmål a revised plan dropped is shown: its own group in every
view by målområde or delmål, so that it stays visible and every total still adds up."""


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
    decision_date: dt.date | None = None
    """When the förvaltning's nämnd decided the proposal (Beslutsdatum); None for a draft."""
    decision_paragraph: str | None = None
    """The nämnd's paragraph (Paragraf, e.g. "§ 14"); None for a draft."""

    @property
    def state(self) -> str:
        """Returns "ej inlämnad", "förslag" or "beslutad i nämnd 2027-03-15 § 14"."""
        return state_label(self.submitted, self.decision_date, self.decision_paragraph)

    @property
    def decided(self) -> bool:
        """Returns True when the submission in force was decided by the förvaltning's nämnd."""
        return department_state(self.submitted, self.decision_date, self.decision_paragraph) == BOARD_DECIDED


@dataclass(frozen=True)
class Rejection:
    """A rejected submission of the year and the first reasons, for KS's deviations list."""

    file: str
    department: str | None
    received: str
    errors: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Handed:
    """One file handled for the year, for the coordinator's history: what became of it.

    `standing` is "gäller" (the förvaltning's submission in force), "ersatt" (accepted,
    later replaced), "avvisad" (rejected, still needs action) or "avvisad, åtgärdad"
    (rejected, and an accepted submission came after it).
    """

    file: str
    department: str | None
    received: str
    verdict: str
    errors: int
    warnings: int
    standing: str


@dataclass(frozen=True)
class Changes:
    """Year over year, by Åtgärds-ID; every frame has CHANGE_COLUMNS.

    Only förvaltningar with a submission in force this year are compared; `pending` are the
    codes of the others (plan order), whose changes are not known until they hand in.
    """

    previous_year: int
    new: pd.DataFrame
    finished: pd.DataFrame
    status_changes: pd.DataFrame
    disappeared: pd.DataFrame
    pending: tuple[str, ...] = ()
    adopted: str | None = None
    """The decision that adopted last year's plan, when the comparison is with that version."""

    @property
    def basis(self) -> str:
        """Returns what this year is compared with: "handlingsplanen 2027" or, where KS adopted
        it, "den antagna handlingsplanen 2027 (KS 2027-04-14 § 55)"."""
        if self.adopted:
            return f"den antagna handlingsplanen {self.previous_year} ({self.adopted})"
        return f"handlingsplanen {self.previous_year}"


ADOPTION_FIELDS = (c.GOAL, c.ACTION, c.OWNER, c.START, c.DONE, c.COST, c.FUNDING)
"""What KS adopted about an action; Status and Utfall are the follow-up itself, not deviations."""
DEVIATION_COLUMNS = (c.ACTION_ID, DEPARTMENT, "Avvikelse", "Uppgift", "I antagen plan", "Nu")


@dataclass(frozen=True)
class AdoptedActions:
    """The actions of the adopted handlingsplan and the decision, as the store read them."""

    actions: pd.DataFrame
    decision: str
    since: str


@dataclass(frozen=True)
class AgainstAdopted:
    """The plan in force measured against the adopted one, by Åtgärds-ID.

    `deviations` has one row per added or removed action and per changed field of a kept
    one (DEVIATION_COLUMNS); the counts are of actions.
    """

    decision: str
    since: str
    added: int
    removed: int
    changed: int
    deviations: pd.DataFrame

    def sentence(self) -> str:
        """Returns the summary's sentence, e.g. "3 åtgärder har tillkommit och 1 har strukits
        sedan KS antog planen 2027-04-14 § 55."."""
        parts = [
            (number, verb)
            for number, verb in (
                (self.added, "tillkommit"),
                (self.removed, "strukits"),
                (self.changed, "ändrats"),
            )
            if number
        ]
        if not parts:
            return f"Inga åtgärder har tillkommit, strukits eller ändrats {self.since}."
        first, *rest = parts
        said = [f"{count_phrase(first[0], 'åtgärd', 'åtgärder')} har {first[1]}"]
        said += [f"{number} har {verb}" for number, verb in rest]
        listed = listing(said)
        return f"{listed} {self.since}."


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
    """The cost_sum of every action's Kostnad (kr); NaN when too large to add up."""
    dropped_goal_actions: int = 0
    """Actions whose delmål is not in the plan (see DROPPED_GOALS)."""


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
    history: tuple[Handed, ...] = field(default_factory=tuple)
    adopted: AgainstAdopted | None = None
    """How the plan in force differs from the version KS adopted, once one is adopted."""
    """Every file handled for the year, in the order received (coordinator's history)."""


# Building the consolidated plan.


def assign_action_ids(
    departments: Sequence[str],
    ids: Sequence[object],
    year: int,
    texts: Sequence[object] | None = None,
    known: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """Returns each action's Åtgärds-ID: its own where it has one; else the id the same action
    (förvaltning and Åtgärd text) got in the adopted plan (`known`); else its förvaltning's
    next free <KOD>-<år>-<nnn>, above every id in use or adopted.

    Numbering follows row order, so the same submission always gets the same ids, and an
    action keeps its adopted id when a re-submission adds or removes rows above it.
    """
    known = known or {}
    texts = texts if texts is not None else [None] * len(ids)
    next_free: dict[str, int] = {}
    taken = {value for value in ids if isinstance(value, str) and value}
    for code, value in [*zip(departments, ids, strict=True), *((k[0], v) for k, v in known.items())]:
        prefix = f"{code}-{year}-"
        if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
            next_free[code] = max(next_free.get(code, 1), int(value[len(prefix) :]) + 1)
    assigned = []
    for code, value, text in zip(departments, ids, texts, strict=True):
        if isinstance(value, str) and value:
            assigned.append(value)
            continue
        reused = known.get((code, action_key(text)))
        if reused is not None and reused not in taken:
            assigned.append(reused)
            taken.add(reused)
            continue
        number = next_free.get(code, 1)
        assigned.append(f"{code}-{year}-{number:03d}")
        next_free[code] = number + 1
    return assigned


def action_key(text: object) -> str:
    """Returns an Åtgärd text as actions are matched: single-spaced and case folded."""
    return " ".join(str(text).split()).casefold() if isinstance(text, str) else ""


def known_action_ids(adopted: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """Returns (förvaltning, Åtgärd text) → Åtgärds-ID of the adopted plan's actions."""
    if adopted is None or not len(adopted):
        return {}
    found: dict[tuple[str, str], str] = {}
    for code, text, action_id in zip(
        adopted[DEPARTMENT], adopted[c.ACTION], adopted[c.ACTION_ID], strict=True
    ):
        if isinstance(action_id, str) and action_id:
            found.setdefault((str(code), action_key(text)), action_id)
    return found


def compare_with_adopted(
    adopted: pd.DataFrame, current: pd.DataFrame, decision: str, since: str
) -> AgainstAdopted:
    """Returns how `current` differs from the adopted actions, by Åtgärds-ID: added, removed,
    and changed in any of ADOPTION_FIELDS (from what to what)."""
    before = {row[c.ACTION_ID]: row for row in adopted.to_dict("records")}
    now = {row[c.ACTION_ID]: row for row in current.to_dict("records")}
    rows: list[dict[str, Any]] = []
    added = [i for i in now if i not in before]
    removed = [i for i in before if i not in now]
    changed = 0
    for action_id in added:
        rows.append(_deviation(now[action_id], "Tillkommen", c.ACTION, None, now[action_id][c.ACTION]))
    for action_id in removed:
        rows.append(_deviation(before[action_id], "Struken", c.ACTION, before[action_id][c.ACTION], None))
    for action_id in (i for i in now if i in before):
        fields = [f for f in ADOPTION_FIELDS if not _same(before[action_id].get(f), now[action_id].get(f))]
        changed += bool(fields)
        rows.extend(
            _deviation(now[action_id], "Ändrad", f, before[action_id].get(f), now[action_id].get(f))
            for f in fields
        )
    table = pd.DataFrame(rows, columns=list(DEVIATION_COLUMNS), dtype=object)
    return AgainstAdopted(decision, since, len(added), len(removed), changed, table)


def _deviation(row: Mapping[Any, Any], kind: str, field_name: str, before: Any, now: Any) -> dict[str, Any]:
    return {
        c.ACTION_ID: row[c.ACTION_ID],
        DEPARTMENT: row[DEPARTMENT],
        "Avvikelse": kind,
        "Uppgift": field_name,
        "I antagen plan": _shown(before),
        "Nu": _shown(now),
    }


def _comparable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return value


def _same(before: Any, now: Any) -> bool:
    return bool(_comparable(before) == _comparable(now))


def _shown(value: Any) -> str:
    value = _comparable(value)
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        # Swedish: a no-break space between thousands, a decimal comma.
        whole = f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
        return whole.replace(",", "\u00a0").replace(".", ",")
    return str(value)


def combine_submissions(
    plan: Plan,
    year: int,
    as_of: dt.date,
    in_force: Mapping[str, tuple[LedgerRecord, CleanData]],
    open_rejections: Iterable[LedgerRecord] = (),
    previous: pd.DataFrame | None = None,
    history: Iterable[LedgerRecord] = (),
    adopted: AdoptedActions | None = None,
    previous_adopted: str | None = None,
) -> Consolidated:
    """Returns the consolidated plan from the submissions in force, as the store keeps them.

    `in_force` maps a förvaltning code to its ledger record and clean tables; förvaltningar
    of the plan without one count as not submitted. `open_rejections` are the year's
    rejections that still need action; `history` every file handled for the year.
    """
    statuses = []
    tables: dict[str, tuple[Records, GoalAnswers]] = {}
    for department in plan.departments:
        kept = in_force.get(department.code)
        if kept is None:
            statuses.append(DepartmentStatus(department.code, department.name, submitted=False))
            continue
        record, data = kept
        tables[department.code] = (data.actions, data.goals)
        statuses.append(
            DepartmentStatus(
                code=department.code,
                name=department.name,
                submitted=True,
                file=record.original_name,
                received=record.received,
                digest=record.digest,
                contact=data.contact,
                email=data.email,
                plan_version=record.plan_version,
                actions=len(data.actions),
                warnings=data.warnings,
                decision_date=data.decision_date,
                decision_paragraph=data.decision_paragraph,
            )
        )
    still_open = tuple(open_rejections)
    rejections = [
        Rejection(r.original_name, r.department, r.received, r.errors, r.reasons) for r in still_open
    ]
    known = known_action_ids(adopted.actions) if adopted is not None else None
    consolidated = combine(plan, year, as_of, tables, statuses, rejections, previous, known)
    if adopted is not None:
        measured = compare_with_adopted(
            adopted.actions, consolidated.actions, adopted.decision, adopted.since
        )
        consolidated = replace(consolidated, adopted=measured)
    if consolidated.changes is not None and previous_adopted:
        consolidated = replace(consolidated, changes=replace(consolidated.changes, adopted=previous_adopted))
    in_force_digests = {record.digest for record, _ in in_force.values()}
    open_digests = {r.digest for r in still_open}
    handed = tuple(
        _handed(r, in_force_digests, open_digests)
        for r in sorted(history, key=lambda r: (r.received, r.digest))
    )
    return replace(consolidated, history=handed)


def _handed(record: LedgerRecord, in_force: set[str], still_open: set[str]) -> Handed:
    if record.verdict == "accepted":
        standing, verdict = ("gäller" if record.digest in in_force else "ersatt"), "godkänd"
    else:
        standing = "avvisad" if record.digest in still_open else "avvisad, åtgärdad"
        verdict = "avvisad"
    return Handed(
        record.original_name,
        record.department,
        record.received,
        verdict,
        record.errors,
        record.warnings,
        standing,
    )


def combine(
    plan: Plan,
    year: int,
    as_of: dt.date,
    tables: Mapping[str, tuple[Records, GoalAnswers]],
    departments: Iterable[DepartmentStatus],
    rejections: Iterable[Rejection] = (),
    previous: pd.DataFrame | None = None,
    known_ids: Mapping[tuple[str, str], str] | None = None,
) -> Consolidated:
    """Returns the consolidated plan from each förvaltning's actions (records) and Berör oss
    answers, in the order given: one DataFrame for the year, not one per förvaltning.
    `known_ids` are the adopted plan's ids (see `assign_action_ids`)."""
    codes = [code for code, (actions, _) in tables.items() for _ in actions]
    records = [record for actions, _ in tables.values() for record in actions]
    actions = pd.DataFrame.from_records(records, columns=list(c.ACTION_COLUMNS)).astype(object)
    actions = actions.where(actions.notna(), None)
    actions.insert(0, DEPARTMENT, pd.Series(codes, dtype=object))
    actions[c.ACTION_ID] = assign_action_ids(
        codes, list(actions[c.ACTION_ID]), year, list(actions[c.ACTION]), known_ids
    )
    area_of = {g.id: g.area for g in plan.goals}
    actions[AREA] = [area_of.get(g, DROPPED_AREA) for g in actions[c.GOAL]]
    actions = actions[[*ACTION_TABLE_COLUMNS, AREA]]
    costs = pd.to_numeric(actions[c.COST], errors="coerce").astype(float)
    # A cost that is not a finite number (inf from "1e999") is no amount: missing, as if empty.
    actions[c.COST] = costs.where(np.isfinite(costs.to_numpy()))
    actions[AREA] = actions[AREA].astype("int64")
    concerns = pd.DataFrame(
        [(code, goal, answer) for code, (_, goals) in tables.items() for goal, answer in goals],
        columns=[DEPARTMENT, c.GOAL_ID, c.CONCERNS_US],
        dtype=object,
    )
    statuses = tuple(departments)
    changes = None
    if previous is not None:
        submitted = [d.code for d in statuses if d.submitted and d.code in tables]
        pending = tuple(d.code for d in statuses if d.code not in submitted)
        changes = compare_years(previous, actions, year - 1, submitted, pending)
    return Consolidated(plan, year, as_of, actions, concerns, statuses, tuple(rejections), changes)


# Year over year.


def compare_years(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    previous_year: int,
    submitted: Iterable[str] | None = None,
    pending: Iterable[str] = (),
) -> Changes:
    """Returns what changed since last year's consolidated handlingsplan, by Åtgärds-ID.

    `submitted` are the förvaltningar with a submission in force this year (None: all of
    last year's). Last year's actions of any other förvaltning are left out: without its
    submission nothing is known about them, so they are not "gone". `pending` is kept in
    the result for the reports to name.
    """
    if submitted is not None:
        keep = set(submitted)
        previous = previous[previous[DEPARTMENT].isin(keep)]
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

    status_before: dict[Any, Any] = before[c.STATUS].to_dict()
    status_now: dict[Any, Any] = now[c.STATUS].to_dict()
    new_ids = [i for i in now.index if i not in before.index]
    changed = [i for i in common if status_before[i] != status_now[i]]
    finished = [i for i in changed if status_now[i] == c.COMPLETED]
    gone = [i for i in before.index if i not in now.index and status_before[i] not in c.CLOSED_STATUSES]
    return Changes(
        previous_year=previous_year,
        new=rows(new_ids, now, False, True),
        finished=rows(finished, now, True, True),
        status_changes=rows(changed, now, True, True),
        disappeared=rows(gone, before, True, False),
        pending=tuple(pending),
    )


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


def dropped_goal_actions(result: Consolidated) -> pd.DataFrame:
    """Returns the actions whose delmål is not in the plan (a revised plan dropped it), in table order."""
    return result.actions[result.actions[AREA] == DROPPED_AREA]


def goal_key(value: object) -> str:
    """Returns an action's delmål as the views group it: its id, "" for none."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def dropped_goals(result: Consolidated) -> list[str]:
    """Returns the delmål ids (goal_key) of actions whose delmål is not in the plan, in the order met."""
    return list(dict.fromkeys(goal_key(g) for g in dropped_goal_actions(result)[c.GOAL]))


def dropped_goals_warning(result: Consolidated) -> str:
    """Returns the warning line under DROPPED_GOALS: how many actions name which delmål no longer
    in the plan, that they still count, and what the förvaltning is to do; "" when none do."""
    actions = len(dropped_goal_actions(result))
    if not actions:
        return ""
    ids = [goal or "inget delmål" for goal in dropped_goals(result)]
    listed = ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} och {ids[-1]}"
    goals = "ett delmål" if len(ids) == 1 else "delmål"
    return (
        f"Varning: {count_phrase(actions, 'åtgärd', 'åtgärder')} hör till {goals} som inte längre "
        f"finns i planen ({listed}). De visas här och räknas med i alla summor; förvaltningen "
        "behöver välja ett delmål ur den gällande planen nästa gång."
    )


def cost_sum(values: Iterable[object]) -> float:
    """Returns the sum of the finite amounts among `values` (others count as missing), exactly
    rounded (math.fsum); NaN when the sum is too large for a float: no total can be shown."""
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    try:
        return math.fsum(finite)
    except OverflowError:
        return math.nan


def responsibility_matrix(result: Consolidated) -> pd.DataFrame:
    """Returns delmål × förvaltning: (marked Berör oss, number of actions) per cell.

    Rows are the delmål ids in plan order, then those of `dropped_goals` (delmål no longer
    in the plan that actions still name), so each column's rows add up to all of its
    actions; columns the plan's förvaltning codes; each cell a tuple (concerns_us:
    "Ja"/"Nej"/None, actions: int).
    """
    counts = Counter(
        zip(map(goal_key, result.actions[c.GOAL]), result.actions[DEPARTMENT], strict=True)
    )  # a dict: 31 × N lookups
    answers = {
        (d, g): a
        for d, g, a in zip(
            result.concerns[DEPARTMENT],
            result.concerns[c.GOAL_ID],
            result.concerns[c.CONCERNS_US],
            strict=True,
        )
    }
    goals = [g.id for g in result.plan.goals] + dropped_goals(result)
    data = {
        code: [(answers.get((code, goal)), int(counts.get((goal, code), 0))) for goal in goals]
        for code in result.plan.department_codes
    }
    return pd.DataFrame(data, index=goals, dtype=object)


def area_labels(result: Consolidated) -> dict[int, str]:
    """Returns målområde number → label in plan order, and DROPPED_AREA → DROPPED_GOALS last
    when an action's delmål is not in the plan: the rows of every view by målområde."""
    labels = {a.number: a.label for a in result.plan.goal_areas}
    if (result.actions[AREA] == DROPPED_AREA).any():
        labels[DROPPED_AREA] = DROPPED_GOALS
    return labels


def status_by_area(result: Consolidated) -> pd.DataFrame:
    """Returns målområde label × status counts (all five statuses) with TOTAL row and column.

    Actions whose delmål is not in the plan have a row of their own (DROPPED_GOALS).
    """
    labels = area_labels(result)
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
    """Returns målområde label × financing (plus NO_FUNDING) sums of Kostnad (kr), with totals.

    Rows as `status_by_area`'s. Sums are `cost_sum`s: an amount that is not finite counts as
    missing, and a sum too large for a float is NaN. Each total is the `cost_sum` of the
    amounts it covers, so it is the sum of its row's (or column's) cells up to rounding.
    """
    labels = area_labels(result)
    columns = [*c.FUNDING_SOURCES, NO_FUNDING]
    funding = result.actions[c.FUNDING].where(result.actions[c.FUNDING].isin(c.FUNDING_SOURCES), NO_FUNDING)
    covered: dict[tuple[str, str], list[float]] = {}  # (row, column), totals included → amounts
    for area, column, cost in zip(
        result.actions[AREA].map(labels), funding, result.actions[c.COST].to_numpy(dtype=float), strict=True
    ):
        if isinstance(area, str) and math.isfinite(cost):
            for key in ((area, column), (area, TOTAL), (TOTAL, column), (TOTAL, TOTAL)):
                covered.setdefault(key, []).append(cost)
    rows, names = [*labels.values(), TOTAL], [*columns, TOTAL]
    sums = [[cost_sum(covered.get((row, name), ())) for name in names] for row in rows]
    frame = pd.DataFrame(sums, index=rows, columns=names, dtype=float)
    return frame


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
        dropped_goal_actions=len(dropped_goal_actions(result)),
        total_cost=cost_sum(result.actions[c.COST].tolist()),
    )
