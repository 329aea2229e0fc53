"""The Åtgärder table after parsing: one row per action, values in their normal form.

One schema validates a whole batch of submissions at once (pandera's cost is per call,
not per row): the frame carries SUBMISSION (which workbook a row came from) and
DEPARTMENT_CODE (that workbook's förvaltning). Checks are named; `pipeline.validate`
turns each failure into a Swedish problem record by (column, check name), so a new check
here needs a message there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import pandera.pandas as pa

from pipeline import contract as c

SUBMISSION = "_submission"
DEPARTMENT_CODE = "_department"
ACTION_ID_FORM = r"^([A-Za-z0-9]+)-\d{4}-\d{3}$"


def named_check(name: str, test: Callable[[pd.Series], pd.Series]) -> pa.Check:
    """Returns a vectorised check under a stable name (pandera's built-ins name themselves)."""
    return pa.Check(test, name=name, ignore_na=True)


def in_list(name: str, values: Iterable[str]) -> pa.Check:
    """Returns a check that every non-empty value is one of `values`."""
    allowed = frozenset(values)
    return named_check(name, lambda s: s.isin(allowed))


def _action_id_of_own_department(frame: pd.DataFrame) -> pd.Series:
    """True where Åtgärds-ID is empty or <KOD>-<år>-<nnn> with the submission's own KOD."""
    ids = frame[c.ACTION_ID]
    codes = ids.astype(str).str.extract(ACTION_ID_FORM, expand=False)
    return ids.isna() | (codes == frame[DEPARTMENT_CODE])


def _action_id_unique(frame: pd.DataFrame) -> pd.Series:
    """True unless the row repeats an Åtgärds-ID used higher up in the same submission."""
    repeated = frame.duplicated([SUBMISSION, c.ACTION_ID], keep="first")
    return ~(repeated & frame[c.ACTION_ID].notna())


def _done_not_before_start(frame: pd.DataFrame) -> pd.Series:
    start, done = frame[c.START], frame[c.DONE]
    both = start.notna() & done.notna()
    ok = pd.Series(True, index=frame.index)
    ok[both] = [d >= s for s, d in zip(start[both], done[both], strict=True)]
    return ok


def action_schema(goal_ids: Iterable[str]) -> pa.DataFrameSchema:
    """Returns the schema of parsed actions (any number of submissions) for the plan's delmål."""
    text = {"dtype": object, "nullable": True}
    required_text = {"dtype": object, "nullable": False}
    return pa.DataFrameSchema(
        {
            c.ACTION_ID: pa.Column(**text),
            c.GOAL: pa.Column(**required_text, checks=in_list("goal_in_plan", goal_ids)),
            c.ACTION: pa.Column(**required_text),
            c.OWNER: pa.Column(**required_text),
            c.START: pa.Column(**text),
            c.DONE: pa.Column(**text),
            c.COST: pa.Column(
                float, nullable=True, checks=named_check("cost_not_negative", lambda s: s >= 0)
            ),
            c.FUNDING: pa.Column(**text, checks=in_list("funding_in_list", c.FUNDING_SOURCES)),
            c.PARTNERS: pa.Column(**text),
            c.INDICATOR: pa.Column(**text),
            c.TARGET: pa.Column(**text),
            c.STATUS: pa.Column(**required_text, checks=in_list("status_in_list", c.STATUSES)),
            c.OUTCOME: pa.Column(**text),
            c.COMMENT: pa.Column(**text),
            SUBMISSION: pa.Column(),
            DEPARTMENT_CODE: pa.Column(),
        },
        checks=[
            pa.Check(_action_id_of_own_department, name="action_id_format"),
            pa.Check(_action_id_unique, name="action_id_duplicate"),
            pa.Check(_done_not_before_start, name="done_not_before_start"),
        ],
        strict=False,
        coerce=False,
    )
