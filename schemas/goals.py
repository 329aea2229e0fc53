"""The Delmål table after parsing: the förvaltning's Berör oss answer per delmål."""

from __future__ import annotations

from collections.abc import Iterable

import pandera.pandas as pa

from pipeline import contract as c
from schemas.actions import in_list


def goal_schema(goal_ids: Iterable[str]) -> pa.DataFrameSchema:
    """Returns the schema of the parsed Delmål sheet for the plan's delmål ids."""
    return pa.DataFrameSchema(
        {
            c.GOAL_ID: pa.Column(object, nullable=False, checks=in_list("goal_in_plan", goal_ids)),
            c.CONCERNS_US: pa.Column(object, nullable=True, checks=in_list("yes_or_no", (c.YES, c.NO))),
        },
        strict=False,
        coerce=False,
    )
