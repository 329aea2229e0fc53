"""Writers of the year's outputs: the handlingsplan and follow-up workbooks and the summary.

Each writer takes the `Consolidated` plan and where to write, and nothing else; where the
work runs is the flows' business (`pipeline.flows`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.combine import Consolidated
from pipeline.config import Settings
from pipeline.report.summary import write_summary
from pipeline.report.workbooks import write_action_plan, write_follow_up

__all__ = ["write_action_plan", "write_follow_up", "write_reports", "write_summary"]


def write_reports(consolidated: Consolidated, settings: Settings) -> tuple[Path, ...]:
    """Returns the paths of the handlingsplan, the follow-up and the summary (HTML, Markdown),
    written one after the other where `settings` names them for the year."""
    year = consolidated.year
    return (
        write_action_plan(consolidated, settings.action_plan_file(year)),
        write_follow_up(consolidated, settings.follow_up_file(year)),
        *write_summary(
            consolidated, settings.summary_file(year, ".html"), settings.summary_file(year, ".md")
        ),
    )
