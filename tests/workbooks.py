"""Filling real templates the way a person does in Excel: openpyxl, cell by cell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl

from pipeline import contract as c
from pipeline.plan import Plan
from pipeline.template import TemplateOptions, template_filename, write_template


def make_template(plan: Plan, code: str, year: int, folder: Path, **options: Any) -> Path:
    """Writes the real template for one förvaltning and returns its path."""
    return write_template(
        plan,
        plan.department(code),
        TemplateOptions(year=year, **options),
        folder / template_filename(year, code),
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
    """Fills a template as a person would and saves it as `target`.

    `actions` rows are written from `first_row` down, by header name; values are typed as
    given (a str stays text, a date becomes an Excel date).
    """
    wb = openpyxl.load_workbook(template)
    _fill_instructions(wb[c.SHEET_INSTRUCTIONS], contact, email)
    goals = wb[c.SHEET_GOALS]
    goal_cols = header_columns(goals)
    for row in range(2, goals.max_row + 1):
        goal_id = goals.cell(row, goal_cols[c.GOAL_ID]).value
        if concerns and goal_id in concerns:
            goals.cell(row, goal_cols[c.CONCERNS_US]).value = concerns[goal_id]
    sheet = wb[c.SHEET_ACTIONS]
    columns = header_columns(sheet)
    for offset, action in enumerate(actions):
        for name, value in action.items():
            sheet.cell(first_row + offset, columns[name]).value = value
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def _fill_instructions(ws: Any, contact: str | None, email: str | None) -> None:
    for row in ws.iter_rows():
        for cell in row:
            if cell.value == c.CONTACT_LABEL and contact is not None:
                ws.cell(cell.row, cell.column + 1).value = contact
            if cell.value == c.EMAIL_LABEL and email is not None:
                ws.cell(cell.row, cell.column + 1).value = email
