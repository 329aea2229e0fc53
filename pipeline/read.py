"""A returned workbook's identification and tables, as raw frames with Excel row numbers.

Reads values only, with python-calamine (fast, never evaluates a formula: a formula cell
gives the result Excel saved). The sheet XML is scanned only where it holds formulas, to
find the ones saved without a result. Columns are found by their header text.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from defusedxml import ElementTree
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.problems import Problem, problem

ROW_COLUMN = "_row"
"""Column of the raw frames holding each row's Excel row number."""

HEADER_SEARCH_ROWS = 15
MAX_DATA_ROWS = 20_000
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
NS_CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")
FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
"""A cell formula's start tag, <f> or <x:f ...>; not <formula1> of a data validation."""


@dataclass(frozen=True)
class RawTable:
    """A sheet's table: rows as a frame of the contract's columns plus ROW_COLUMN."""

    frame: pd.DataFrame
    letters: dict[str, str]
    header_row: int


@dataclass(frozen=True)
class RawWorkbook:
    """What a workbook holds, unvalidated: identification, contact, tables, read problems."""

    identification: dict[str, str]
    contact: str
    email: str
    actions: RawTable | None
    goals: RawTable | None
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    date1904: bool = False


def read_identification(path: Path) -> dict[str, str]:
    """Returns the template's identification, from its custom document properties.

    Falls back to the very hidden identification sheet (a program that drops custom
    properties keeps sheets); an empty dict means the file is not one of our templates.
    """
    with zipfile.ZipFile(path) as archive:
        if "docProps/custom.xml" in archive.namelist():
            found = _custom_properties(archive.read("docProps/custom.xml"))
            if all(key in found for key in c.IDENTIFICATION_KEYS):
                return found
    return _identification_sheet(path)


def _custom_properties(xml: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(xml)
    found: dict[str, str] = {}
    for prop in root.iter(f"{NS_CUSTOM}property"):
        name = prop.get("name", "")
        if name in c.IDENTIFICATION_KEYS and len(prop):
            found[name] = (prop[0].text or "").strip()
    return found


def _identification_sheet(path: Path) -> dict[str, str]:
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        if c.SHEET_IDENTIFICATION not in workbook.sheet_names:
            return {}
        rows = workbook.get_sheet_by_name(c.SHEET_IDENTIFICATION).to_python()
    finally:
        workbook.close()
    found = {str(row[0]).strip(): _as_text(row[1]) for row in rows if len(row) >= 2}
    return {key: found[key] for key in c.IDENTIFICATION_KEYS if found.get(key)}


def read_workbook(path: Path, display_name: str, identification: dict[str, str] | None = None) -> RawWorkbook:
    """Returns the workbook's tables as raw frames, and the problems met while reading.

    `identification` is what read_identification returned, when the caller has it already.
    """
    problems: list[Problem] = []
    if identification is None:
        identification = read_identification(path)
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        wanted = (c.SHEET_INSTRUCTIONS, c.SHEET_ACTIONS, c.SHEET_GOALS)  # parse only these sheets
        sheets = {name: workbook.get_sheet_by_name(name) for name in workbook.sheet_names if name in wanted}
        contact, email = _contact(sheets.get(c.SHEET_INSTRUCTIONS))
        actions = _table(sheets, c.SHEET_ACTIONS, c.ACTION_COLUMNS, display_name, problems)
        goals = _table(sheets, c.SHEET_GOALS, c.GOAL_COLUMNS, display_name, problems)
    finally:
        workbook.close()
    date1904 = False
    tables = {c.SHEET_ACTIONS: actions, c.SHEET_GOALS: goals}
    if actions is not None or goals is not None:
        formulas, date1904 = _formula_cells(
            path, {name for name, table in tables.items() if table is not None}
        )
        problems.extend(_formula_problems(formulas, tables, display_name))
    return RawWorkbook(identification, contact, email, actions, goals, tuple(problems), date1904)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _contact(sheet: Any) -> tuple[str, str]:
    if sheet is None:
        return "", ""
    found = {c.CONTACT_LABEL: "", c.EMAIL_LABEL: ""}
    for row in sheet.to_python(skip_empty_area=False, nrows=200):
        for index, value in enumerate(row[:-1]):
            if isinstance(value, str) and value.strip() in found and not found[value.strip()]:
                found[value.strip()] = _as_text(row[index + 1])
    return found[c.CONTACT_LABEL], found[c.EMAIL_LABEL]


def _normal(text: Any) -> str:
    return " ".join(str(text).split()).casefold() if isinstance(text, str) else ""


def _find_header(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> int | None:
    """Returns the 0-based index of the row holding most of the expected headers."""
    wanted = {_normal(name) for name in columns}
    best, best_hits = None, 1
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = sum(1 for value in row if _normal(value) in wanted)
        if hits > best_hits:
            best, best_hits = index, hits
    return best


def _table(
    sheets: dict[str, Any], sheet_name: str, columns: Sequence[str], file: str, problems: list[Problem]
) -> RawTable | None:
    sheet = sheets.get(sheet_name)
    if sheet is None:
        problems.append(problem("missing_sheet", file=file, sheet=sheet_name))
        return None
    rows = sheet.to_python(skip_empty_area=False, nrows=MAX_DATA_ROWS + HEADER_SEARCH_ROWS + 1)
    _spread_merged(rows, getattr(sheet, "merged_cell_ranges", None) or ())
    header_index = _find_header(rows, columns)
    if header_index is None:
        problems.append(problem("missing_header", file=file, sheet=sheet_name, columns=", ".join(columns)))
        return None
    positions = _column_positions(rows[header_index], columns, sheet_name, header_index + 1, file, problems)
    if sheet.height > header_index + 1 + MAX_DATA_ROWS:
        problems.append(problem("too_many_rows", file=file, sheet=sheet_name, limit=MAX_DATA_ROWS))
        return None
    records = list(_records(rows, header_index, positions, columns))
    # object dtype keeps every cell as typed (pandas would turn text columns into str with NaN)
    frame = pd.DataFrame.from_records(records, columns=[*columns, ROW_COLUMN]).astype(object)
    letters = {name: get_column_letter(pos + 1) for name, pos in positions.items()}
    return RawTable(frame=frame, letters=letters, header_row=header_index + 1)


def _spread_merged(rows: list[list[Any]], ranges: Sequence[Any]) -> None:
    """Gives each empty cell of a merged range its top-left value, as Excel shows it (in place)."""
    for (top, left), (bottom, right) in ranges:
        if top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        for index in range(top, min(bottom, len(rows) - 1) + 1):
            row = rows[index]
            for col in range(left, min(right, len(row) - 1) + 1):
                if row[col] in ("", None):
                    row[col] = value


def _column_positions(
    header: Sequence[Any],
    columns: Sequence[str],
    sheet: str,
    header_row: int,
    file: str,
    problems: list[Problem],
) -> dict[str, int]:
    wanted = {_normal(name): name for name in columns}
    positions: dict[str, int] = {}
    for index, value in enumerate(header):
        name = wanted.get(_normal(value))
        cell = f"{get_column_letter(index + 1)}{header_row}"
        if name and name not in positions:
            positions[name] = index
        elif name:
            problems.append(
                problem(
                    "duplicate_column",
                    file=file,
                    sheet=sheet,
                    cell=cell,
                    row=header_row,
                    column=name,
                    value=str(value),
                )
            )
        elif (isinstance(value, str) and value.strip()) or value not in ("", None):
            problems.append(
                problem(
                    "extra_column",
                    file=file,
                    sheet=sheet,
                    cell=cell,
                    row=header_row,
                    column=str(value),
                    value=str(value),
                )
            )
    for name in columns:
        if name not in positions:
            required = name in (*c.REQUIRED_ACTION_COLUMNS, c.GOAL_ID, c.CONCERNS_US)
            code = "missing_column" if required else "missing_optional_column"
            problems.append(
                problem(code, file=file, sheet=sheet, cell=f"A{header_row}", row=header_row, column=name)
            )
    return positions


def _records(
    rows: Sequence[Sequence[Any]], header_index: int, positions: dict[str, int], columns: Sequence[str]
) -> Iterator[dict[str, Any]]:
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        record: dict[str, Any] = {}
        for name in columns:
            pos = positions.get(name)
            value = row[pos] if pos is not None and pos < len(row) else None
            record[name] = None if value == "" else value
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in record.values()):
            continue
        record[ROW_COLUMN] = index + 1
        yield record


def _formula_cells(path: Path, sheet_names: set[str]) -> tuple[dict[str, set[str]], bool]:
    """Returns, per sheet, the cells whose formula has no saved result; and the date system."""
    found: dict[str, set[str]] = {}
    with zipfile.ZipFile(path) as archive:
        workbook_xml = archive.read("xl/workbook.xml")
        date1904 = b'date1904="1"' in workbook_xml or b'date1904="true"' in workbook_xml
        for name, part in _sheet_parts(archive, workbook_xml).items():
            if name not in sheet_names or part not in archive.namelist():
                continue
            data = archive.read(part)
            if not FORMULA_TAG.search(data):
                continue  # no formulas at all: the common case, no parsing needed
            found[name] = _unsaved_formula_cells(data)
    return found, date1904


def _sheet_parts(archive: zipfile.ZipFile, workbook_xml: bytes) -> dict[str, str]:
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{NS_PKG_REL}Relationship")}
    parts: dict[str, str] = {}
    for sheet in ElementTree.fromstring(workbook_xml).iter(f"{NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{NS_REL}id"), "")
        path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        parts[sheet.get("name", "")] = path
    return parts


def _unsaved_formula_cells(xml: bytes) -> set[str]:
    cells: set[str] = set()
    for cell in ElementTree.fromstring(xml).iter(f"{NS_MAIN}c"):
        formula = cell.find(f"{NS_MAIN}f")
        if formula is None:
            continue
        value = cell.find(f"{NS_MAIN}v")
        inline = cell.find(f"{NS_MAIN}is")
        if (value is None or value.text in (None, "")) and inline is None:
            cells.add(cell.get("r", ""))
    return cells


def _formula_problems(
    formulas: dict[str, set[str]], tables: dict[str, RawTable | None], file: str
) -> list[Problem]:
    problems = []
    for sheet, cells in formulas.items():
        table = tables.get(sheet)
        if table is None:
            continue
        column_by_letter = {letter: name for name, letter in table.letters.items()}
        for ref in sorted(cells, key=lambda r: (len(r), r)):
            match = CELL_REF.match(ref)
            if not match or match.group(1) not in column_by_letter or int(match.group(2)) <= table.header_row:
                continue
            problems.append(
                problem(
                    "formula_without_value",
                    file=file,
                    sheet=sheet,
                    cell=ref,
                    row=int(match.group(2)),
                    column=column_by_letter[match.group(1)],
                )
            )
    return problems
