"""Raw tables + plan → clean tables and problem records.

Two passes: parsing turns what a person typed (dates as text, "5 000 kr", "pågår") into
normal values, recording what cannot be read; the pandera schemas in `schemas/` then
check the parsed tables lazily, and every failure becomes the catalogued problem its check
is named by (`pipeline.problems`), naming the cell. Warnings (things KS should see but
that do not reject) are plain functions.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.errors
import pandera.pandas

from pipeline import contract as c
from pipeline.config import FIRST_DATE_YEAR, LAST_DATE_YEAR, MAX_CELL_CHARS, MAX_COST
from pipeline.plan import Plan
from pipeline.problems import CATALOGUE, ERROR, Problem, display_value, problem, sort_key
from pipeline.read import CELL_REF, ROW_COLUMN, RawTable, RawWorkbook, bare
from schemas import action_schema, goal_schema
from schemas.actions import ADVICE, CHOICES, DEPARTMENT_CODE, ROW_RULES, SUBMISSION

GOAL_TEXT_ID = re.compile(r"^\s*(\d+)\s*[.,]\s*(\d+)(?=\s|$|[^\d])")
ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?\s*$")
SWEDISH_AMOUNT = re.compile(r"^(\d{1,3}(?:[ .]\d{3})+|\d+)(?:,(\d+))?$")
AMOUNT_SUFFIX = re.compile(r"\s*(?:kr\.?|kronor|sek|:-)\s*$", re.IGNORECASE)
SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
EXCEL_EPOCH_1900 = dt.date(1899, 12, 30)
EXCEL_EPOCH_1904 = dt.date(1904, 1, 1)
SERIAL_RANGE = (10_000, 80_000)  # 1927 … 2119: plausibly a date, not an amount
PLAN_YEAR_HORIZON = 5
"""Years after the plan year within which a Start or Klart date is plausible."""
DECISION_MONTHS_BEFORE = 18
"""Months before the plan year's first day within which a nämnd's decision is plausible."""
ACTION_ID_YEAR = re.compile(r"^[^-]+-(\d{4})-\d+$")

FILL_IN = "Fyll i cellen."
"""The advice for an empty required cell of a column without its own (`schemas.actions.ADVICE`)."""
ROW_RULE_COLUMN = {rule.code: rule.column for rule in ROW_RULES}
PANDERA_CODES = {"not_nullable": "required_missing"}
"""pandera's own checks, by the name it reports them under, and the problem each becomes."""


@dataclass(frozen=True)
class Validated:
    """A submission's clean tables (only when it has no errors) and all its problems."""

    actions: pd.DataFrame
    goals: pd.DataFrame
    problems: tuple[Problem, ...]
    decision_date: dt.date | None = None
    """The nämnd's decision date, when Beslutsdatum and Paragraf are both filled in and valid."""
    decision_paragraph: str | None = None
    """The decision's paragraph ("§ 14"), set exactly when `decision_date` is."""


@dataclass(frozen=True)
class _Context:
    file: str
    plan: Plan
    department: str
    as_of: dt.date
    date1904: bool
    year: str
    """The submission's year, as its identification says (check has matched it to the cycle's)."""
    received: dt.date
    """The day this system received the submission (Swedish time), or the as-of date."""

    @property
    def plan_goal_ids(self) -> frozenset[str]:
        return frozenset(g.id for g in self.plan.goals)


@dataclass(frozen=True)
class Submission:
    """One workbook to validate: its raw tables, the plan it answers and its förvaltning."""

    raw: RawWorkbook
    plan: Plan
    department: str
    file: str
    received: dt.date | None = None
    """The day this system received it, in Swedish time; None when unknown (the as-of date then)."""


@dataclass
class _State:
    """One submission while a batch is validated: parsed frames and problems so far."""

    raw: RawWorkbook
    ctx: _Context
    problems: list[Problem]
    blocked: set[tuple[str, str]]
    actions: pd.DataFrame
    goals: pd.DataFrame
    decision: tuple[dt.date, str] | None = None

    def finish(self) -> Validated:
        self.problems.extend(_warnings(self.actions, self.goals, self.raw.actions, self.raw.goals, self.ctx))
        date, paragraph = self.decision or (None, None)
        return Validated(
            self.actions, self.goals, tuple(sorted(self.problems, key=sort_key)), date, paragraph
        )


def validate_workbook(
    raw: RawWorkbook,
    plan: Plan,
    department: str,
    file: str,
    as_of: dt.date,
    received: dt.date | None = None,
) -> Validated:
    """Returns the parsed, checked tables of one submission and every problem found.

    `received` is the day the submission came in (Swedish time); unknown, the as-of date.
    """
    return validate_workbooks([Submission(raw, plan, department, file, received)], as_of)[0]


def validate_workbooks(submissions: Sequence[Submission], as_of: dt.date) -> list[Validated]:
    """Returns each submission's parsed, checked tables and problems, in the same order.

    Parsing is per workbook; the schemas run once per plan version over the whole batch.
    """
    states = [_parse(s, as_of) for s in submissions]
    by_plan: dict[str, list[int]] = {}
    for position, submission in enumerate(submissions):
        by_plan.setdefault(submission.plan.version, []).append(position)
    for positions in by_plan.values():
        goal_ids = [g.id for g in submissions[positions[0]].plan.goals]
        group = [states[p] for p in positions]
        _check_batch(action_schema(goal_ids), group, "actions", c.SHEET_ACTIONS)
        _check_batch(goal_schema(goal_ids), group, "goals", c.SHEET_GOALS)
    return [state.finish() for state in states]


def _parse(submission: Submission, as_of: dt.date) -> _State:
    raw = submission.raw
    year = raw.identification.get(c.ID_YEAR) or "ÅÅÅÅ"  # a form to copy when the year is unknown
    received = submission.received or as_of
    ctx = _Context(
        submission.file, submission.plan, submission.department, as_of, raw.date1904, year, received
    )
    problems = list(raw.problems)
    blocked = {(p.sheet, p.cell) for p in problems if p.cell}
    actions = (
        _parse_actions(raw.actions, ctx, blocked, problems) if raw.actions is not None else _empty_actions()
    )
    goals = _parse_goals(raw.goals, ctx, blocked, problems)
    decision = _parse_decision(raw, ctx, problems)
    return _State(raw, ctx, problems, blocked, actions, goals, decision)


# Parsing: what a person typed → a normal value, or a problem.


class _Invalid:
    """Marks a cell that could not be parsed: the column's own problem code is recorded."""


INVALID = _Invalid()


@dataclass(frozen=True)
class _Refused(_Invalid):
    """Marks a cell read but refused for a reason of its own: problem `code` with `params`."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


FIRST_DATE, LAST_DATE = dt.date(FIRST_DATE_YEAR, 1, 1), dt.date(LAST_DATE_YEAR, 12, 31)


def _grouped(number: float) -> str:
    return f"{number:,.0f}".replace(",", " ")


def excel_length(text: str) -> int:
    """Returns a text's length as Excel counts it (UTF-16 units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def within_cell(value: Any) -> Any:
    """Returns the value, or a refusal when it is a text longer than one Excel cell holds."""
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS // 2 and excel_length(value) > MAX_CELL_CHARS:
        return _Refused(
            "text_too_long", {"length": _grouped(excel_length(value)), "limit": _grouped(MAX_CELL_CHARS)}
        )
    return value


def is_blank(value: Any) -> bool:
    """Returns True for an empty cell: None, NaN or text of only spaces."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and not value.strip()


def parse_goal_id(value: Any) -> str | _Invalid | None:
    """Returns the delmål id in a dropdown label, bare id text or number (1.3); else INVALID."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, int | float):
        text = f"{value:.6g}"
        return text if re.fullmatch(r"\d+\.\d+", text) else INVALID
    match = GOAL_TEXT_ID.match(bare(str(value)))
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else INVALID


def parse_amount(value: Any) -> float | _Invalid | None:
    """Returns a cost in kronor from a number or Swedish-style text ("5 000,50 kr"); else INVALID.

    A number that is not finite (infinity, NaN, or text with hundreds of digits) is INVALID;
    a cost above MAX_COST is refused as "cost_too_large".
    """
    amount = _amount(value)
    if isinstance(amount, float) and not math.isfinite(amount):
        return INVALID
    if isinstance(amount, float) and amount > MAX_COST:
        return _Refused("cost_too_large", {"amount": _grouped(amount), "limit": _grouped(MAX_COST)})
    return amount


def _amount(value: Any) -> float | _Invalid | None:
    if isinstance(value, float) and math.isnan(value):
        return INVALID  # a NaN saved in the cell, not an empty cell (the reader gives None for those)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, int | float):
        return float(value)
    text = SPACES.sub(" ", AMOUNT_SUFFIX.sub("", bare(str(value)).strip())).strip()
    negative = text.startswith("-")
    text = text.lstrip("-").strip()
    match = SWEDISH_AMOUNT.match(text)
    if not match:
        return INVALID
    whole = re.sub(r"[ .]", "", match.group(1))
    amount = float(f"{whole}.{match.group(2) or 0}")
    return -amount if negative else amount


def parse_date(value: Any, date1904: bool = False) -> dt.date | _Invalid | None:
    """Returns a date from an Excel date, an ISO text (2027-03-01) or a date serial; else INVALID.

    Never guesses a day/month order: "05/01/2027" is INVALID. A date outside the years
    FIRST_DATE_YEAR–LAST_DATE_YEAR is refused as "date_out_of_range".
    """
    found = _date(value, date1904)
    if isinstance(found, dt.date) and not FIRST_DATE <= found <= LAST_DATE:
        return _Refused(
            "date_out_of_range", {"date": found.isoformat(), "first": FIRST_DATE_YEAR, "last": LAST_DATE_YEAR}
        )
    return found


def _date(value: Any, date1904: bool) -> dt.date | _Invalid | None:
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if SERIAL_RANGE[0] <= value <= SERIAL_RANGE[1] and float(value).is_integer():
            epoch = EXCEL_EPOCH_1904 if date1904 else EXCEL_EPOCH_1900
            return epoch + dt.timedelta(days=int(value))
        return INVALID
    match = ISO_DATE.match(bare(str(value)))
    if not match:
        return INVALID
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return INVALID


def parse_choice(value: Any, choices: Iterable[str]) -> str | _Invalid | None:
    """Returns the list value matching ignoring case and surrounding spaces; else INVALID."""
    if is_blank(value):
        return None
    wanted = " ".join(bare(str(value)).split()).casefold()
    if not wanted:
        return None
    for choice in choices:
        if choice.casefold() == wanted:
            return choice
    return INVALID


def parse_text(value: Any) -> str | None:
    """Returns the cell as text exactly as typed (numbers without a trailing .0); None if blank."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _parse_column(
    table: RawTable,
    column: str,
    parse: Callable[[Any], Any],
    code: str,
    ctx: _Context,
    sheet: str,
    blocked: set[tuple[str, str]],
    problems: list[Problem],
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """Returns the parsed values of one column; unreadable cells become problem `code` and None."""
    parsed = []
    letter = table.letters.get(column)
    for raw, row in zip(table.frame[column].tolist(), table.frame[ROW_COLUMN].tolist(), strict=True):
        value = parse(raw)
        if isinstance(value, _Invalid):
            cell = f"{letter}{row}"
            if (sheet, cell) not in blocked:
                own = value if isinstance(value, _Refused) else None
                found = problem(
                    own.code if own else code,
                    file=ctx.file,
                    sheet=sheet,
                    cell=cell,
                    row=int(row),
                    column=column,
                    value=display_value(raw),
                    **(own.params if own else params or {}),
                )
                problems.append(found)
                blocked.add((sheet, cell))
            value = None
        parsed.append(value)
    return parsed


def _parse_actions(
    table: RawTable, ctx: _Context, blocked: set[tuple[str, str]], problems: list[Problem]
) -> pd.DataFrame:
    sheet = c.SHEET_ACTIONS

    def column(name: str, parse: Callable[[Any], Any], code: str, **params: Any) -> list[Any]:
        return _parse_column(table, name, parse, code, ctx, sheet, blocked, problems, params)

    # A text longer than a cell holds is refused first, in any column: its cell is then
    # blocked, so the column's own parsing below adds no second problem for it.
    parsed: dict[str, Any] = {
        name: column(name, lambda v: within_cell(parse_text(v)), "invalid") for name in c.ACTION_COLUMNS
    }
    parsed[c.ACTION_ID] = [None if v is None else bare(v).strip() or None for v in parsed[c.ACTION_ID]]
    parsed[c.GOAL] = column(c.GOAL, parse_goal_id, "goal_unknown")
    for name in (c.START, c.DONE):
        parsed[name] = column(name, lambda v: parse_date(v, ctx.date1904), "date_invalid")
    parsed[c.COST] = column(c.COST, parse_amount, "cost_not_number")
    parsed[c.STATUS] = column(
        c.STATUS, lambda v: parse_choice(v, c.STATUSES), "status_invalid", choices=CHOICES[c.STATUS]
    )
    parsed[c.FUNDING] = column(
        c.FUNDING,
        lambda v: parse_choice(v, c.FUNDING_SOURCES),
        "funding_invalid",
        choices=CHOICES[c.FUNDING],
    )
    frame = pd.DataFrame(parsed, columns=list(c.ACTION_COLUMNS), dtype=object)
    frame[c.COST] = pd.to_numeric(frame[c.COST], errors="coerce").astype(float)
    frame.index = pd.Index(table.frame[ROW_COLUMN].astype(int), name=ROW_COLUMN)
    return frame


def _empty_actions() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in c.ACTION_COLUMNS})
    frame[c.COST] = frame[c.COST].astype(float)
    frame.index.name = ROW_COLUMN
    return frame


def _parse_goals(
    table: RawTable | None, ctx: _Context, blocked: set[tuple[str, str]], problems: list[Problem]
) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame({c.GOAL_ID: pd.Series(dtype=object), c.CONCERNS_US: pd.Series(dtype=object)})
    sheet = c.SHEET_GOALS
    ids = _parse_column(table, c.GOAL_ID, parse_goal_id, "goal_text_changed", ctx, sheet, blocked, problems)
    answers = _parse_column(
        table,
        c.CONCERNS_US,
        lambda v: parse_choice(v, (c.YES, c.NO)),
        "yes_no_invalid",
        ctx,
        sheet,
        blocked,
        problems,
    )
    frame = pd.DataFrame({c.GOAL_ID: ids, c.CONCERNS_US: answers}, dtype=object)
    frame.index = pd.Index(table.frame[ROW_COLUMN].astype(int), name=ROW_COLUMN)
    return frame[frame[c.GOAL_ID].notna() | frame[c.CONCERNS_US].notna()]


# Schema failures → problems.


def _check_batch(
    schema: pandera.pandas.DataFrameSchema, states: Sequence[_State], table_name: str, sheet: str
) -> None:
    """Runs `schema` once over one table of every submission; failures become their problems."""
    frames: list[pd.DataFrame] = []
    owners: list[int] = []
    rows: list[int] = []
    for position, state in enumerate(states):
        frame: pd.DataFrame = getattr(state, table_name)
        if getattr(state.raw, table_name) is None or frame.empty:
            continue
        tagged = frame.copy()
        tagged[SUBMISSION] = position
        tagged[DEPARTMENT_CODE] = state.ctx.department
        frames.append(tagged)
        owners.extend([position] * len(frame))
        rows.extend(int(r) for r in frame.index)
    if not frames:
        return
    try:
        schema.validate(pd.concat(frames, ignore_index=True), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return
    for case in cases.itertuples(index=False):
        if case.index is None or pd.isna(case.index):
            continue
        state = states[owners[int(case.index)]]
        check = str(case.check)
        column = ROW_RULE_COLUMN.get(check, case.column)
        found = _schema_problem(state, table_name, sheet, rows[int(case.index)], str(column), check)
        if found is not None:
            state.problems.append(found)


def _schema_problem(
    state: _State, table_name: str, sheet: str, row: int, column: str, check: str
) -> Problem | None:
    """Returns the problem a failed check names at this row's cell; None when the cell has one."""
    frame: pd.DataFrame = getattr(state, table_name)
    table: RawTable = getattr(state.raw, table_name)
    letter = table.letters.get(column)
    if letter is None:
        return None  # the column is missing; that is already a problem of its own
    cell = f"{letter}{row}"
    if (sheet, cell) in state.blocked:
        return None
    state.blocked.add((sheet, cell))
    code = check if check in CATALOGUE else PANDERA_CODES.get(check, "invalid")
    facts = {
        "advice": ADVICE.get(column, FILL_IN),
        "choices": CHOICES.get(column, ""),
        "department": state.ctx.department,
        "year": state.ctx.year,
        "start": display_value(frame.at[row, c.START]) if c.START in frame.columns else "",
    }
    return problem(
        code,
        file=state.ctx.file,
        sheet=sheet,
        cell=cell,
        row=row,
        column=column,
        value=display_value(frame.at[row, column]) if column in frame.columns else "",
        **{name: facts[name] for name in CATALOGUE[code].params},
    )


# Warnings: do not reject, but KS and the förvaltning should see them.


def _warnings(
    actions: pd.DataFrame,
    goals: pd.DataFrame,
    raw_actions: RawTable | None,
    raw_goals: RawTable | None,
    ctx: _Context,
) -> list[Problem]:
    problems: list[Problem] = []
    marked = {
        g: row
        for row, g, answer in zip(goals.index, goals[c.GOAL_ID], goals[c.CONCERNS_US], strict=True)
        if answer == c.YES
    }
    with_action = set(actions[c.GOAL].dropna())
    if raw_goals is not None:
        letter = raw_goals.letters.get(c.CONCERNS_US, "D")
        for goal_id, row in marked.items():
            if goal_id not in with_action:
                problems.append(
                    problem(
                        "marked_goal_without_action",
                        file=ctx.file,
                        sheet=c.SHEET_GOALS,
                        cell=f"{letter}{row}",
                        row=int(row),
                        column=c.CONCERNS_US,
                        value=c.YES,
                        goal=goal_id,
                    )
                )
    if raw_actions is None:
        return problems
    letters = raw_actions.letters
    plan_goal_ids = ctx.plan_goal_ids
    plan_year = int(ctx.year) if ctx.year.isascii() and ctx.year.isdigit() else None
    names = (c.GOAL, c.STATUS, c.DONE, c.INDICATOR, c.ACTION, c.START, c.ACTION_ID)
    columns = [actions[name] for name in names]
    for row, goal, status, done, indicator, action_text, start, action_id in zip(
        actions.index, *columns, strict=True
    ):
        dated = [
            found
            for name, value in ((c.START, start), (c.DONE, done))
            if plan_year is not None
            and name in letters
            and (found := _plan_year_problem(name, value, plan_year, action_id, int(row), letters, ctx))
        ]
        problems.extend(dated)
        known_goal = goal in plan_goal_ids
        if known_goal and raw_goals is not None and goal not in marked and c.GOAL in letters:
            problems.append(
                problem(
                    "action_on_unmarked_goal",
                    file=ctx.file,
                    sheet=c.SHEET_ACTIONS,
                    cell=f"{letters[c.GOAL]}{row}",
                    row=int(row),
                    column=c.GOAL,
                    value=goal,
                )
            )
        if (
            isinstance(done, dt.date)
            and done < ctx.as_of
            and status not in c.CLOSED_STATUSES
            and status
            and c.DONE in letters
            # a Klart date outside the plan year has its own warning, naming the likely cause
            and not any(p.column == c.DONE for p in dated)
        ):
            problems.append(
                problem(
                    "overdue",
                    file=ctx.file,
                    sheet=c.SHEET_ACTIONS,
                    cell=f"{letters[c.DONE]}{row}",
                    row=int(row),
                    column=c.DONE,
                    value=done.isoformat(),
                    status=status,
                )
            )
        if not indicator and action_text and c.INDICATOR in letters:
            problems.append(
                problem(
                    "indicator_missing",
                    file=ctx.file,
                    sheet=c.SHEET_ACTIONS,
                    cell=f"{letters[c.INDICATOR]}{row}",
                    row=int(row),
                    column=c.INDICATOR,
                )
            )
    return problems


def _plan_year_problem(
    column: str, value: Any, plan_year: int, action_id: Any, row: int, letters: dict[str, str], ctx: _Context
) -> Problem | None:
    """Returns a warning for a Start or Klart date before the plan year or long after it.

    A date typed without a year ("31/3") gets the year it was typed in, often the year
    before the plan's. An action carried over from an earlier year (its Åtgärds-ID names
    that year) keeps its own dates from then on.
    """
    if not isinstance(value, dt.date):
        return None
    earliest = plan_year
    match = ACTION_ID_YEAR.match(action_id) if isinstance(action_id, str) else None
    if match and int(match.group(1)) < plan_year:
        earliest = int(match.group(1))

    def warning(code: str, **params: Any) -> Problem:
        return problem(
            code,
            file=ctx.file,
            sheet=c.SHEET_ACTIONS,
            cell=f"{letters[column]}{row}",
            row=row,
            column=column,
            value=value.isoformat(),
            **params,
        )

    if value.year < earliest:
        day = min(value.day, calendar.monthrange(plan_year, value.month)[1])
        suggested = dt.date(plan_year, value.month, day).isoformat()
        short = f"{value.day}/{value.month}"
        return warning("date_before_plan_year", year=plan_year, short=short, suggested=suggested)
    if value.year > plan_year + PLAN_YEAR_HORIZON:
        return warning("date_long_after_plan_year", year=plan_year, years=PLAN_YEAR_HORIZON)
    return None


# The nämnd's decision: Beslutsdatum and Paragraf on the Instruktioner sheet.


def _parse_decision(raw: RawWorkbook, ctx: _Context, problems: list[Problem]) -> tuple[dt.date, str] | None:
    """Returns the nämnd's decision (date, paragraph) when both cells are filled in and valid.

    Both empty is a förslag (None, no problem). One without the other, a date that cannot be
    read or one after the day the submission was received is an error; a date more than
    DECISION_MONTHS_BEFORE months before the plan year a warning (the decision still holds).
    """
    value, paragraph = raw.decision_date_raw, raw.decision_paragraph.strip()
    dated = not is_blank(value)
    if not dated and not paragraph:
        return None
    shown = display_value(value)
    found: list[Problem] = []

    def report(code: str, label: str, cell: str, cell_value: str, **params: Any) -> None:
        match = CELL_REF.match(cell)
        found.append(
            problem(
                code,
                file=ctx.file,
                sheet=c.SHEET_INSTRUCTIONS,
                cell=cell,
                row=int(match.group(2)) if match else None,
                column=label,
                value=cell_value,
                **params,
            )
        )

    date_cell, paragraph_cell = raw.decision_date_cell, raw.decision_paragraph_cell
    if not dated:
        report(
            "decision_date_missing", c.DECISION_DATE_LABEL, date_cell, "", paragraph=display_value(paragraph)
        )
    if not paragraph:
        report("decision_paragraph_missing", c.DECISION_PARAGRAPH_LABEL, paragraph_cell, "", date=shown)
    date = parse_date(value, ctx.date1904) if dated else None
    if isinstance(date, _Refused):
        report(date.code, c.DECISION_DATE_LABEL, date_cell, shown, **date.params)
    elif isinstance(date, _Invalid):
        report("decision_date_invalid", c.DECISION_DATE_LABEL, date_cell, shown)
    elif isinstance(date, dt.date):
        shown = date.isoformat()
        if date > ctx.received:
            report(
                "decision_after_received",
                c.DECISION_DATE_LABEL,
                date_cell,
                shown,
                received=ctx.received.isoformat(),
            )
        elif ctx.year.isascii() and ctx.year.isdigit() and date < decision_earliest(int(ctx.year)):
            report(
                "decision_long_before_plan_year",
                c.DECISION_DATE_LABEL,
                date_cell,
                shown,
                year=ctx.year,
                months=DECISION_MONTHS_BEFORE,
            )
    problems.extend(found)
    if any(p.kind == ERROR for p in found) or not isinstance(date, dt.date):
        return None
    return date, paragraph


def decision_earliest(year: int) -> dt.date:
    """Returns the first day a nämnd's decision on the plan for `year` is plausible without a warning.

    DECISION_MONTHS_BEFORE months before the plan year's first day: 2025-07-01 for 2027.
    """
    months = year * 12 - DECISION_MONTHS_BEFORE
    return dt.date(months // 12, months % 12 + 1, 1)
