"""The Åtgärder table after parsing: one row per action, values in their normal form.

Checks are named; `pipeline.validate` turns each failure into a Swedish problem record by
(column, check name), so a new check here needs a message there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pandas as pd
import pandera.pandas as pa

from pipeline import contract as c


def action_id_pattern(department: str) -> str:
    """Returns the regex an Åtgärds-ID of this förvaltning must match: <KOD>-<år>-<nnn>."""
    return rf"^{re.escape(department)}-\d{{4}}-\d{{3}}$"


def _done_not_before_start(frame: pd.DataFrame) -> pd.Series:
    start, done = frame[c.START], frame[c.DONE]
    both = start.notna() & done.notna()
    ok = pd.Series(True, index=frame.index)
    ok[both] = [d >= s for s, d in zip(start[both], done[both], strict=True)]
    return ok


def named_check(name: str, test: Callable[[pd.Series], pd.Series]) -> pa.Check:
    """Returns a vectorised check under a stable name (pandera's built-ins name themselves)."""
    return pa.Check(test, name=name, ignore_na=True)


def in_list(name: str, values: Iterable[str]) -> pa.Check:
    """Returns a check that every non-empty value is one of `values`."""
    allowed = frozenset(values)
    return named_check(name, lambda s: s.isin(allowed))


def action_schema(goal_ids: Iterable[str], department: str) -> pa.DataFrameSchema:
    """Returns the schema of one förvaltning's parsed actions, for the plan's delmål ids."""
    text = {"dtype": object, "nullable": True}
    required_text = {"dtype": object, "nullable": False}
    return pa.DataFrameSchema(
        {
            c.ACTION_ID: pa.Column(
                **text,
                checks=named_check(
                    "action_id_format", lambda s: s.astype(str).str.fullmatch(action_id_pattern(department))
                ),
                unique=True,
                report_duplicates="exclude_first",
            ),
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
        },
        checks=[pa.Check(_done_not_before_start, name="done_not_before_start")],
        strict=False,
        coerce=False,
    )
