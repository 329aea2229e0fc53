"""Pandera schemas for the two tables of a submission: Åtgärder and Delmål."""

from schemas.actions import action_schema
from schemas.goals import goal_schema

__all__ = ["action_schema", "goal_schema"]
