"""The Åtgärder table after parsing: one row per action, values in their normal form.

Every check is named by the catalogued problem code its failures become
(`pipeline.problems.CATALOGUE`), so a rule and its Swedish message are defined together:
the rule here, its words in the catalogue entry of that code. A check over whole rows
also names the column whose cell the problem points at.

One schema validates a whole batch of submissions at once (pandera's cost is per call,
not per row): the frame carries SUBMISSION (which workbook a row came from) and
DEPARTMENT_CODE (that workbook's förvaltning).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from pipeline import contract as c
from pipeline.problems import CATALOGUE

SUBMISSION = "_submission"
DEPARTMENT_CODE = "_department"
ACTION_ID_FORM = r"^([A-Za-z0-9]+)-\d{4}-\d{3,}$"
"""<KOD>-<år>-<nnn>: at least three digits and no ceiling, so action 1000 of a year is valid
(and next year's template, which carries it, is accepted back unchanged)."""

SeriesTest = Callable[[pd.Series], "pd.Series[bool]"]
FrameTest = Callable[[pd.DataFrame], "pd.Series[bool]"]


def either(values: Sequence[str]) -> str:
    """Returns the values as Swedish choices: "A, B eller C"."""
    return f"{', '.join(values[:-1])} eller {values[-1]}" if len(values) > 1 else "".join(values)


STATUS_CHOICES = either(c.STATUSES)
FUNDING_CHOICES = either(c.FUNDING_SOURCES)
CHOICES = {c.STATUS: STATUS_CHOICES, c.FUNDING: FUNDING_CHOICES}
"""The list of each column with a fixed list (the `choices` of "status_invalid", "funding_invalid")."""

ADVICE = {
    c.GOAL: "Välj ett delmål i listan.",
    c.ACTION: "Beskriv kort vad förvaltningen ska göra.",
    c.OWNER: "Skriv vem (person eller funktion) som ansvarar för åtgärden.",
    c.STATUS: f"Välj {STATUS_CHOICES}.",
}
"""What to write in an empty cell of a column every action must fill (`c.REQUIRED_ACTION_COLUMNS`):
the `advice` of "required_missing"."""


def coded_check(code: str, test: SeriesTest) -> pa.Check:
    """Returns a vectorised check of one column whose failures are the catalogued problem `code`.

    Raises:
        KeyError: `code` is not in the catalogue, so its failures would have no message.
    """
    return pa.Check(test, name=_catalogued(code), error=code, ignore_na=True)


def in_list(code: str, values: Iterable[str]) -> pa.Check:
    """Returns a check that every non-empty value is one of `values`; failures are `code`."""
    allowed = frozenset(values)
    return coded_check(code, lambda s: s.isin(allowed))


@dataclass(frozen=True)
class RowRule:
    """A check over whole rows: its problem code, the column whose cell a failure names, its test."""

    code: str
    column: str
    test: FrameTest

    def check(self) -> pa.Check:
        """Returns the rule as a pandera check named (and erring) by its code."""
        return pa.Check(self.test, name=_catalogued(self.code), error=self.code)


def _catalogued(code: str) -> str:
    """Returns `code`, failing where a check is made rather than where it first fails."""
    if code not in CATALOGUE:
        raise KeyError(f"the check {code!r} has no problem in the catalogue")
    return code


def _action_id_of_own_department(frame: pd.DataFrame) -> pd.Series[bool]:
    """True where Åtgärds-ID is empty or <KOD>-<år>-<nnn> with the submission's own KOD."""
    ids = frame[c.ACTION_ID]
    codes = ids.astype(str).str.extract(ACTION_ID_FORM, expand=False)
    return ids.isna() | (codes == frame[DEPARTMENT_CODE])


def _action_id_unique(frame: pd.DataFrame) -> pd.Series[bool]:
    """True unless the row repeats an Åtgärds-ID used higher up in the same submission."""
    repeated = frame.duplicated([SUBMISSION, c.ACTION_ID], keep="first")
    return ~(repeated & frame[c.ACTION_ID].notna())


def _done_not_before_start(frame: pd.DataFrame) -> pd.Series[bool]:
    """True unless both dates are given and Klart is before Start (dates are objects, so no vector op)."""
    ok = [
        pd.isna(start) or pd.isna(done) or done >= start
        for start, done in zip(frame[c.START], frame[c.DONE], strict=True)
    ]
    return pd.Series(ok, index=frame.index, dtype=bool)


ROW_RULES = (
    RowRule("action_id_invalid", c.ACTION_ID, _action_id_of_own_department),
    RowRule("action_id_duplicate", c.ACTION_ID, _action_id_unique),
    RowRule("done_before_start", c.DONE, _done_not_before_start),
)


def _column(name: str, *checks: pa.Check) -> pa.Column:
    """Returns a column of parsed values (text, dates: objects), empty allowed unless required."""
    return pa.Column(object, nullable=name not in c.REQUIRED_ACTION_COLUMNS, checks=list(checks))


def action_schema(goal_ids: Iterable[str]) -> pa.DataFrameSchema:
    """Returns the schema of parsed actions (any number of submissions) for the plan's delmål."""
    checks = {
        c.GOAL: [in_list("goal_unknown", goal_ids)],
        c.FUNDING: [in_list("funding_invalid", c.FUNDING_SOURCES)],
        c.STATUS: [in_list("status_invalid", c.STATUSES)],
    }
    columns = {name: _column(name, *checks.get(name, ())) for name in c.ACTION_COLUMNS}
    columns[c.COST] = pa.Column(float, nullable=True, checks=coded_check("cost_negative", lambda s: s >= 0))
    columns[SUBMISSION] = pa.Column()
    columns[DEPARTMENT_CODE] = pa.Column()
    return pa.DataFrameSchema(
        columns, checks=[rule.check() for rule in ROW_RULES], strict=False, coerce=False
    )
