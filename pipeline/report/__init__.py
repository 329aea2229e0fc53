"""Writers of the year's outputs: the handlingsplan and follow-up workbooks and the summary
(HTML, Markdown and the PDF for the diarium).

Each writer takes the `Consolidated` plan and where to write, and nothing else; where the
work runs is the flows' business (`pipeline.flows`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.combine import Consolidated
from pipeline.config import Settings
from pipeline.report.pdf import pdf_unavailable, write_summary_pdf
from pipeline.report.summary import write_summary
from pipeline.report.workbooks import write_action_plan, write_follow_up

__all__ = [
    "pdf_unavailable",
    "write_action_plan",
    "write_follow_up",
    "write_reports",
    "write_summary",
    "write_summary_files",
    "write_summary_pdf",
]


def write_reports(consolidated: Consolidated, settings: Settings) -> tuple[Path, ...]:
    """Returns the paths of the handlingsplan, the follow-up and the summary (HTML, Markdown
    and, where WeasyPrint can be loaded, PDF), written one after the other where `settings`
    names them for the year."""
    year = consolidated.year
    return (
        write_action_plan(consolidated, settings.action_plan_file(year)),
        write_follow_up(consolidated, settings.follow_up_file(year)),
        *write_summary_files(
            consolidated,
            settings.summary_file(year, ".html"),
            settings.summary_file(year, ".md"),
            settings.summary_file(year, ".pdf"),
        ),
    )


def write_summary_files(
    consolidated: Consolidated, html_path: Path, markdown_path: Path, pdf_path: Path
) -> tuple[Path, ...]:
    """Returns the paths of the summary written as HTML, Markdown and PDF (made from the HTML,
    dated the as-of date); the PDF is left out where WeasyPrint cannot be loaded
    (`pdf_unavailable` says what to install)."""
    html, markdown = write_summary(consolidated, html_path, markdown_path)
    pdf = write_summary_pdf(html, pdf_path, created=consolidated.as_of)
    return (html, markdown) if pdf is None else (html, markdown, pdf)
