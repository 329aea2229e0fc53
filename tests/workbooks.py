"""Filling real templates the way a person does in Excel: openpyxl, cell by cell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.demo import fill_template
from pipeline.plan import Plan
from pipeline.template import TemplateOptions, write_template

GOOD_ACTION: dict[str, Any] = {
    c.GOAL: "1.3",
    c.ACTION: "Språkcafé för kvinnor",
    c.OWNER: "Enhetschef",
    c.STATUS: "Pågår",
    c.START: dt.datetime(2027, 1, 10),
    c.DONE: dt.datetime(2027, 12, 31),
    c.COST: 5000,
    c.INDICATOR: "Antal deltagare",
    c.FUNDING: "Statlig ersättning",
}
"""An action that passes every check without a warning (with Delmål 1.3 marked Ja)."""


def make_template(plan: Plan, code: str, year: int, folder: Path, **options: Any) -> Path:
    """Writes the real template for one förvaltning and returns its path."""
    return write_template(
        plan,
        plan.department(code),
        TemplateOptions(year=year, **options),
        folder / Settings().template_file(year, code).name,
    )


def header_columns(ws: Any) -> dict[str, int]:
    """Returns header text -> 1-based column number of a sheet's first row."""
    return {cell.value: cell.column for cell in ws[1] if cell.value}


def fill_workbook(
    template: Path,
    target: Path,
    *,
    actions: Sequence[Mapping[str, Any]] = (),
    concerns: Mapping[str, str] | None = None,
    contact: str | None = "Anna Andersson",
    email: str | None = "anna.andersson@kalix.se",
    first_row: int = 2,
) -> Path:
    """Fills a template as a person would and saves it as `target` (see pipeline.demo)."""
    return fill_template(
        template, target, actions=actions, concerns=concerns, contact=(contact, email), first_row=first_row
    )
