"""The Delmål table after parsing: the förvaltning's Berör oss answer per delmål.

As in `schemas.actions`, each check is named by the catalogued problem code it becomes.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandera.pandas as pa

from pipeline import contract as c
from schemas.actions import in_list


def goal_schema(goal_ids: Iterable[str]) -> pa.DataFrameSchema:
    """Returns the schema of the parsed Delmål sheet for the plan's delmål ids."""
    return pa.DataFrameSchema(
        {
            c.GOAL_ID: pa.Column(object, nullable=False, checks=in_list("goal_text_changed", goal_ids)),
            c.CONCERNS_US: pa.Column(object, nullable=True, checks=in_list("yes_no_invalid", (c.YES, c.NO))),
        },
        strict=False,
        coerce=False,
    )
