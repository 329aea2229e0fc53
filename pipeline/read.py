"""A returned workbook's identification and tables, as raw frames with Excel row numbers.

Reads .xlsx, .ods and .xls alike with python-calamine (fast, never evaluates a formula: a
formula cell gives the result the program saved). The format is told by the bytes, not the
name. Columns are found by their header text. Two things calamine does not give are read
from the file itself, and only where needed: in an .xlsx, the formulas saved without a
result, and the number format of a number in a free-text column (so 0.75 shown as 75 % is
kept as "75 %"); in an .ods, that number's text as LibreOffice showed it.
"""

from __future__ import annotations

import datetime as dt
import math
import mmap
import re
import struct
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

import pandas as pd
from defusedxml import ElementTree
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.config import (
    MAX_DATA_ROWS,
    MAX_SHARED_STRINGS,
    MAX_SHARED_STRINGS_BYTES,
    MAX_SHEET_BYTES,
    MAX_SHEET_CELLS,
    MAX_SHEET_COLUMNS,
    MAX_SHEET_ROWS,
    MAX_TEXT_CHARS,
    MAX_WHOLE_PART_BYTES,
)
from pipeline.problems import Problem, problem

ROW_COLUMN = "_row"
"""Column of the raw frames holding each row's Excel row number."""

HEADER_SEARCH_ROWS = 15
MIB = 1024 * 1024
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
NS_CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
NS_ODS_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
NS_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
NS_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
NS_ODS_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
ODS_NUMBER_TYPES = frozenset({"float", "percentage", "currency"})
WorkbookFormat = Literal["xlsx", "ods", "xls"]
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
    decision_date_raw: Any = None
    """The Beslutsdatum cell as calamine gives it: a date, a number (a date serial), text or None."""
    decision_paragraph: str = ""
    """The Paragraf cell as text, e.g. "§ 14"; "" when empty."""
    decision_date_cell: str = ""
    """Where Beslutsdatum is filled in on the Instruktioner sheet ("B10"); "" without its label."""
    decision_paragraph_cell: str = ""
    """Where Paragraf is filled in on the Instruktioner sheet ("B11"); "" without its label."""


def workbook_format(path: Path) -> WorkbookFormat:
    """Returns the file's spreadsheet format as its bytes tell it, whatever its name says.

    For a file that passed `pipeline.sniff`: an OLE2 compound file is an .xls, a zip whose
    mimetype is an OpenDocument spreadsheet an .ods, and any other zip an .xlsx.
    """
    with path.open("rb") as handle:
        if handle.read(len(OLE2_SIGNATURE)) == OLE2_SIGNATURE:
            return "xls"
    with zipfile.ZipFile(path) as archive:
        if "mimetype" in archive.namelist():
            with archive.open("mimetype") as member:
                if member.read(256).strip().startswith(ODS_MIMETYPE):
                    return "ods"
    return "xlsx"


IDENTITY_SOURCES = ("dokumentegenskaperna", "det dolda bladet Identifiering")
"""The two places a template keeps its identification, as a förvaltning would name them."""


@dataclass(frozen=True)
class Identity:
    """A file's identification as each of its sources states it.

    `properties` are the custom document properties (an .ods file's user-defined ones);
    `sheet` is the very hidden identification sheet. Either may lack a key (a program that
    drops custom properties keeps sheets; calamine reads no .xls properties); where both
    state a key they must agree.
    """

    properties: dict[str, str]
    sheet: dict[str, str]

    @property
    def merged(self) -> dict[str, str]:
        """Returns each key's value, from the properties where they state it, else from the sheet."""
        found = {key: self.properties.get(key) or self.sheet.get(key, "") for key in c.IDENTIFICATION_KEYS}
        return {key: value for key, value in found.items() if value}

    def conflicts(self) -> list[tuple[str, str, str]]:
        """Returns (key, property value, sheet value) for each key the two sources state differently."""
        return [
            (key, stated, shown)
            for key in c.IDENTIFICATION_KEYS
            if (stated := self.properties.get(key)) and (shown := self.sheet.get(key)) and stated != shown
        ]


def read_identity(path: Path) -> Identity:
    """Returns what each identification source of the file states (both are always read).

    An empty result means the file is not one of our templates. Values are compared as
    `bare` text, so a decomposed "å" or a zero-width space is no disagreement.
    """
    return Identity(read_properties(path), _identification_sheet(path, workbook_format(path)))


def read_properties(path: Path) -> dict[str, str]:
    """Returns the identification the document properties state (none for an .xls).

    Reads one small part with defusedxml, never a sheet: safe for a file too large to read.
    """
    kind = workbook_format(path)
    if kind == "xls":
        return {}
    with zipfile.ZipFile(path) as archive:
        part, read = ("docProps/custom.xml", _custom_properties)
        if kind == "ods":
            part, read = ("meta.xml", _ods_user_defined)
        if part not in archive.namelist() or archive.getinfo(part).file_size > MAX_WHOLE_PART_BYTES:
            return {}
        return read(archive.read(part))


def read_identification(path: Path) -> dict[str, str]:
    """Returns the template's identification: each key from the properties, else the sheet.

    Whether the two agree is `read_identity(path).conflicts()`.
    """
    return read_identity(path).merged


INVISIBLE = frozenset(
    chr(point)
    for point in (
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2066, 0x206A),  # bidi isolates
        0x200E,  # left-to-right mark
        0x200F,  # right-to-left mark
        0x061C,  # Arabic letter mark
        0x200B,  # zero-width space
        0x200C,  # zero-width non-joiner
        0x200D,  # zero-width joiner
        0x2060,  # word joiner
        0xFEFF,  # zero-width no-break space (byte order mark)
    )
)
"""Characters that change how text is shown but not what it says: never part of an identifier."""
_DROP_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))


def nfc(text: str) -> str:
    """Returns text in Unicode NFC: "å" typed as a + ring (as macOS writes it) becomes one "å"."""
    return unicodedata.normalize("NFC", text)


def bare(text: str) -> str:
    """Returns text as an identifier or list value is matched: NFC, without INVISIBLE characters."""
    return unicodedata.normalize("NFC", text.translate(_DROP_INVISIBLE))


def _custom_properties(xml: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(xml)
    found: dict[str, str] = {}
    for prop in root.iter(f"{NS_CUSTOM}property"):
        name = prop.get("name", "")
        if name in c.IDENTIFICATION_KEYS and len(prop) and (value := bare(prop[0].text or "").strip()):
            found[name] = value
    return found


def _ods_user_defined(xml: bytes) -> dict[str, str]:
    """Returns the identification among an .ods file's user-defined properties (meta.xml)."""
    root = ElementTree.fromstring(xml)
    found: dict[str, str] = {}
    for prop in root.iter(f"{NS_ODS_META}user-defined"):
        name = prop.get(f"{NS_ODS_META}name", "")
        if name in c.IDENTIFICATION_KEYS and (value := bare(prop.text or "").strip()):
            found[name] = value
    return found


def _open(path: Path, kind: WorkbookFormat) -> CalamineWorkbook:
    """Returns the workbook opened by calamine, which picks its reader by the file's suffix."""
    if path.suffix.lower() == f".{kind}":
        return CalamineWorkbook.from_path(str(path))
    with path.open("rb") as handle:  # a renamed file: calamine then tells the format by its bytes
        return CalamineWorkbook.from_filelike(handle)


def _identification_sheet(path: Path, kind: WorkbookFormat) -> dict[str, str]:
    workbook = _open(path, kind)
    try:
        if c.SHEET_IDENTIFICATION not in workbook.sheet_names:
            return {}
        rows = workbook.get_sheet_by_name(c.SHEET_IDENTIFICATION).to_python()
    finally:
        workbook.close()
    found = {bare(str(row[0])).strip(): bare(_as_text(row[1])).strip() for row in rows if len(row) >= 2}
    return {key: found[key] for key in c.IDENTIFICATION_KEYS if found.get(key)}


def read_workbook(path: Path, display_name: str, identification: dict[str, str] | None = None) -> RawWorkbook:
    """Returns the workbook's tables as raw frames, and the problems met while reading.

    `identification` is what read_identification returned, when the caller has it already.
    Numbers in the free-text columns (contract.TEXT_ACTION_COLUMNS) come as the text they
    were shown as (`display_text`), and dates there as ISO dates.
    """
    problems: list[Problem] = []
    if identification is None:
        identification = read_identification(path)
    kind = workbook_format(path)
    workbook = _open(path, kind)
    try:
        wanted = (c.SHEET_INSTRUCTIONS, c.SHEET_ACTIONS, c.SHEET_GOALS)  # parse only these sheets
        sheets = {name: workbook.get_sheet_by_name(name) for name in workbook.sheet_names if name in wanted}
        inputs = _instruction_inputs(sheets.get(c.SHEET_INSTRUCTIONS))
        shown = _Shown(c.TEXT_ACTION_COLUMNS, _renderer(path, kind))
        actions = _table(sheets, c.SHEET_ACTIONS, c.ACTION_COLUMNS, display_name, problems, shown)
        goals = _table(sheets, c.SHEET_GOALS, c.GOAL_COLUMNS, display_name, problems)
    finally:
        workbook.close()
    date1904 = False
    tables = {c.SHEET_ACTIONS: actions, c.SHEET_GOALS: goals}
    # Only an .xlsx keeps a formula and its result apart where a reader can see a missing
    # result; LibreOffice saves every result in an .ods, and calamine gives an .xls's as saved.
    if kind == "xlsx" and (actions is not None or goals is not None):
        formulas, date1904 = _formula_cells(
            path, {name for name, table in tables.items() if table is not None}
        )
        problems.extend(_formula_problems(formulas, tables, display_name))
    decision_date, date_cell = inputs.get(c.DECISION_DATE_LABEL, (None, ""))
    paragraph, paragraph_cell = inputs.get(c.DECISION_PARAGRAPH_LABEL, (None, ""))
    return RawWorkbook(
        identification,
        _input_text(inputs, c.CONTACT_LABEL),
        _input_text(inputs, c.EMAIL_LABEL),
        actions,
        goals,
        tuple(problems),
        date1904,
        decision_date_raw=None if decision_date == "" else decision_date,
        decision_paragraph=nfc(_as_text(paragraph)),
        decision_date_cell=date_cell,
        decision_paragraph_cell=paragraph_cell,
    )


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _instruction_inputs(sheet: Any) -> dict[str, tuple[Any, str]]:
    """Returns each input of the Instruktioner sheet found: label → (value, cell such as "B8").

    The value is the cell right of its label, as calamine gives it. A label that stands twice
    gives the first filled cell beside it, else the first.
    """
    found: dict[str, tuple[Any, str]] = {}
    if sheet is None:
        return found
    for number, row in enumerate(sheet.to_python(skip_empty_area=False, nrows=200), start=1):
        for index, value in enumerate(row[:-1]):
            label = bare(value).strip() if isinstance(value, str) else ""
            if label in c.INSTRUCTION_INPUT_LABELS and (label not in found or not _as_text(found[label][0])):
                found[label] = (row[index + 1], f"{get_column_letter(index + 2)}{number}")
    return found


def _input_text(inputs: dict[str, tuple[Any, str]], label: str) -> str:
    return nfc(_as_text(inputs.get(label, (None, ""))[0]))


def _normal(text: Any) -> str:
    """Returns a header as it is matched: bare, single-spaced, case folded."""
    return " ".join(bare(text).split()).casefold() if isinstance(text, str) else ""


def _find_header(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> int | None:
    """Returns the 0-based index of the row holding most of the expected headers."""
    wanted = {_normal(name) for name in columns}
    best, best_hits = None, 1
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = sum(1 for value in row if _normal(value) in wanted)
        if hits > best_hits:
            best, best_hits = index, hits
    return best


Cell = tuple[int, int]
"""A cell as (0-based row, 0-based column) of the rows calamine gives, which start at A1."""
Render = Callable[[str, dict[Cell, Any]], dict[Cell, str]]
_SHOWN_TYPES = frozenset({int, float, dt.date, dt.datetime, dt.time})
"""What calamine gives for a number or date: a spreadsheet shows each in a form of its own."""
"""Returns, for a sheet's cells holding numbers, the text each was shown as (where known)."""


@dataclass(frozen=True)
class _Shown:
    """Columns whose numbers and dates are kept as the text shown, and how to find that text."""

    columns: Sequence[str]
    render: Render


def _table(
    sheets: dict[str, Any],
    sheet_name: str,
    columns: Sequence[str],
    file: str,
    problems: list[Problem],
    shown: _Shown | None = None,
) -> RawTable | None:
    sheet = sheets.get(sheet_name)
    if sheet is None:
        problems.append(problem("missing_sheet", file=file, sheet=sheet_name))
        return None
    rows = sheet.to_python(skip_empty_area=False, nrows=MAX_DATA_ROWS + HEADER_SEARCH_ROWS + 1)
    merged = getattr(sheet, "merged_cell_ranges", None) or ()
    _spread_merged(rows, merged)
    header_index = _find_header(rows, columns)
    if header_index is None:
        problems.append(problem("missing_header", file=file, sheet=sheet_name, columns=", ".join(columns)))
        return None
    positions = _column_positions(rows[header_index], columns, sheet_name, header_index + 1, file, problems)
    if sheet.height > header_index + 1 + MAX_DATA_ROWS:
        problems.append(problem("too_many_rows", file=file, sheet=sheet_name, limit=MAX_DATA_ROWS))
        return None
    if shown is not None:
        _as_shown(
            rows,
            header_index,
            [positions[n] for n in shown.columns if n in positions],
            merged,
            sheet_name,
            shown.render,
        )
    records = list(_records(rows, header_index, positions, columns))
    # object dtype from the start keeps every cell as typed, and an empty one as None: pandas
    # would make a column of numbers float and its empty cells NaN, like a NaN saved in a cell.
    frame = pd.DataFrame(records, columns=[*columns, ROW_COLUMN], dtype=object)
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


def _as_shown(
    rows: list[list[Any]],
    header_index: int,
    positions: Sequence[int],
    merged: Sequence[Any],
    sheet_name: str,
    render: Render,
) -> None:
    """Replaces numbers and dates in these columns by the text they were shown as (in place)."""
    width = min((len(row) for row in rows), default=0)  # calamine's rows are one width
    found: dict[Cell, Any] = {
        (index, pos): row[pos]
        for index, row in enumerate(rows[header_index + 1 :], start=header_index + 1)
        for pos in positions
        if pos < width and type(row[pos]) in _SHOWN_TYPES  # exact types: bool is not shown so
    }
    if not found:
        return
    numbers = {cell: value for cell, value in found.items() if isinstance(value, int | float)}
    # A merged range shows its first cell: its format (or its shown text) is the one to use.
    origin = {cell: _merged_origin(merged, cell) for cell in numbers}
    texts = render(sheet_name, {origin[cell]: value for cell, value in numbers.items()}) if numbers else {}
    for (index, pos), value in found.items():
        text = texts.get(origin[(index, pos)]) if (index, pos) in origin else None
        rows[index][pos] = text if text is not None else display_text(value, GENERAL)


def _merged_origin(ranges: Sequence[Any], cell: Cell) -> Cell:
    row, col = cell
    for (top, left), (bottom, right) in ranges:
        if top <= row <= bottom and left <= col <= right:
            return (top, left)
    return cell


def _renderer(path: Path, kind: WorkbookFormat) -> Render:
    """Returns how to find the shown text of numbers in this workbook's cells."""
    if kind == "xlsx":
        return lambda sheet, cells: _xlsx_shown(path, sheet, cells)
    if kind == "ods":
        return lambda sheet, cells: _ods_shown(path, sheet, cells)
    # python-calamine gives an .xls's values but not their number formats: a number is shown
    # as General shows it ("0,75", "1500"); a date it already gives as a date.
    return lambda sheet, cells: {}


def _xlsx_shown(path: Path, sheet: str, cells: dict[Cell, Any]) -> dict[Cell, str]:
    """Returns the cells' numbers drawn with their own number formats (sheet XML and styles)."""
    refs = {f"{get_column_letter(col + 1)}{row + 1}": (row, col) for row, col in cells}
    with zipfile.ZipFile(path) as archive:
        workbook_xml = archive.read("xl/workbook.xml")
        part = _sheet_parts(archive, workbook_xml).get(sheet)
        if part is None or part not in archive.namelist():
            return {}
        styles = _cell_styles(archive, part, set(refs))
        formats = _number_formats(archive)
    date1904 = _is_date1904(workbook_xml)
    return {
        cell: display_text(cells[cell], formats.get(styles.get(ref, 0), GENERAL), date1904=date1904)
        for ref, cell in refs.items()
    }


def _cell_styles(archive: zipfile.ZipFile, part: str, refs: set[str]) -> dict[str, int]:
    """Returns the style index (`s`) of each wanted cell, streaming the sheet until all are seen."""
    found: dict[str, int] = {}
    with archive.open(part) as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",)):
            if element.tag == f"{NS_MAIN}c":
                ref = element.get("r", "")
                if ref in refs:
                    found[ref] = int(element.get("s", "0") or 0)
                    if len(found) == len(refs):
                        break
            elif element.tag == f"{NS_MAIN}row":
                element.clear()  # keeps memory flat on a long sheet
    return found


def _number_formats(archive: zipfile.ZipFile) -> dict[int, str]:
    """Returns style index → number format code, from xl/styles.xml and Excel's built-in codes."""
    if "xl/styles.xml" not in archive.namelist():
        return {}
    root = ElementTree.fromstring(archive.read("xl/styles.xml"))
    custom = {
        int(fmt.get("numFmtId", "0")): fmt.get("formatCode", GENERAL) for fmt in root.iter(f"{NS_MAIN}numFmt")
    }
    cell_xfs = root.find(f"{NS_MAIN}cellXfs")
    if cell_xfs is None:
        return {}
    formats: dict[int, str] = {}
    for index, xf in enumerate(cell_xfs.iter(f"{NS_MAIN}xf")):
        number_id = int(xf.get("numFmtId", "0") or 0)
        formats[index] = custom.get(number_id) or BUILTIN_FORMATS.get(number_id, GENERAL)
    return formats


def _is_date1904(workbook_xml: bytes) -> bool:
    return b'date1904="1"' in workbook_xml or b'date1904="true"' in workbook_xml


def _ods_shown(path: Path, sheet: str, cells: dict[Cell, Any]) -> dict[Cell, str]:
    """Returns the cells' text as LibreOffice showed it, from the .ods file's content.xml.

    Streams the table's rows, counting repeated rows and columns, and stops after the sheet.
    """
    by_row: dict[int, set[int]] = {}
    for row, col in cells:
        by_row.setdefault(row, set()).add(col)
    found: dict[Cell, str] = {}
    table, row_tag = f"{NS_ODS_TABLE}table", f"{NS_ODS_TABLE}table-row"
    cell_tags = (f"{NS_ODS_TABLE}table-cell", f"{NS_ODS_TABLE}covered-table-cell")
    inside, row, col, row_repeat = False, 0, 0, 1
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            tag = element.tag
            if tag == table:
                if event == "start":
                    inside, row = element.get(f"{NS_ODS_TABLE}name") == sheet, 0
                elif inside:
                    break
            elif not inside:
                if tag == row_tag and event == "end":
                    element.clear()  # another sheet's rows: not kept
            elif tag == row_tag and event == "start":
                col, row_repeat = 0, _repeat(element, "number-rows-repeated")
            elif tag == row_tag:
                row += row_repeat
                element.clear()
            elif tag in cell_tags and event == "end":
                repeat = _repeat(element, "number-columns-repeated")
                if element.get(f"{NS_ODS_OFFICE}value-type") in ODS_NUMBER_TYPES:
                    text = _ods_number_text(element)
                    for hit_row in (r for r in by_row if row <= r < row + row_repeat):
                        for hit_col in (k for k in by_row[hit_row] if col <= k < col + repeat):
                            found[(hit_row, hit_col)] = text
                col += repeat
    return found


def _repeat(element: Any, name: str) -> int:
    try:
        return max(1, int(element.get(f"{NS_ODS_TABLE}{name}", "1")))
    except ValueError:
        return 1


def _ods_number_text(cell: Any) -> str:
    """Returns a number cell's shown text: its paragraphs, with Swedish spacing of "%"."""
    lines = ["".join(_ods_text_parts(p)) for p in cell.findall(f"{NS_ODS_TEXT}p")]
    # LibreOffice writes a no-break space between thousands: the text keeps an ordinary space.
    return _PERCENT_SPACING.sub(" %", " ".join("\n".join(lines).split()))


def _ods_text_parts(element: Any) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if child.tag == f"{NS_ODS_TEXT}s":
            yield " " * _repeat_text(child)
        elif child.tag == f"{NS_ODS_TEXT}tab":
            yield "\t"
        else:
            yield from _ods_text_parts(child)
        if child.tail:
            yield child.tail


def _repeat_text(element: Any) -> int:
    try:
        return max(1, int(element.get(f"{NS_ODS_TEXT}c", "1")))
    except ValueError:
        return 1


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
            # Every text in NFC, whatever program typed it, so that matching and the clean data
            # agree; the characters that only change how text is shown stay (free text keeps them).
            record[name] = None if value == "" else nfc(value) if isinstance(value, str) else value
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in record.values()):
            continue
        record[ROW_COLUMN] = index + 1
        yield record


def _formula_cells(path: Path, sheet_names: set[str]) -> tuple[dict[str, set[str]], bool]:
    """Returns, per sheet, the cells whose formula has no saved result; and the date system."""
    found: dict[str, set[str]] = {}
    with zipfile.ZipFile(path) as archive:
        workbook_xml = archive.read("xl/workbook.xml")
        date1904 = _is_date1904(workbook_xml)
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


# --- bounds: measured before any reader allocates for the file ----------------------------
#
# python-calamine sizes a sheet by its furthest cell (one cell at XFD1048576 makes a grid of
# 17 billion cells), reserves room for what the file declares (a dimension, a shared-string
# count) and gives every use of a shared text as a string of its own. So before calamine
# opens a file, its parts are streamed here, keeping only counters: the declared and the
# real extent of every sheet, its number of cells, the size and count of the shared texts,
# and the characters all cells add up to.


def bounds_problem(path: Path) -> Problem | None:
    """Returns why the workbook is too large to read (a problem naming the limit), or None.

    For a file `pipeline.sniff` let through. The problem names no file (`file` is ""); the
    caller places it with `Problem.located(name)`.
    """
    kind = workbook_format(path)
    if kind == "xls":
        return _xls_bounds(path)
    with zipfile.ZipFile(path) as archive:
        if kind == "ods":
            return _ods_bounds(archive)
        return _xlsx_bounds(archive)


def _grouped(number: int) -> str:
    """Returns a count as Swedish writes it: 1 048 576."""
    return f"{number:,}".replace(",", " ")


def _size(number: int) -> str:
    return f"{_grouped(-(-number // MIB))} MB"


WHOLE_PARTS = (
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "docProps/custom.xml",
    "meta.xml",
)
"""Parts that are parsed whole (not streamed), so each must be small."""


def _too_large_part(info: zipfile.ZipInfo, limit: int) -> Problem | None:
    if info.file_size <= limit:
        return None
    return problem(
        "part_beyond_limit", file="", part=info.filename, found=_size(info.file_size), limit=_size(limit)
    )


@dataclass
class _Extent:
    """Counters for one sheet while it is streamed: never the cells themselves."""

    sheet: str
    last_row: int = 0
    last_column: int = 0
    cells: int = 0

    def reach(self, row: int, column: int) -> Problem | None:
        """Records a cell (or a declared corner) at (row, column), 1-based; a problem past a limit."""
        self.last_row, self.last_column = max(self.last_row, row), max(self.last_column, column)
        if row > MAX_SHEET_ROWS:
            return problem(
                "sheet_rows_beyond_limit",
                file="",
                sheet_name=self.sheet,
                last=_grouped(row),
                limit=_grouped(MAX_SHEET_ROWS),
            )
        if column > MAX_SHEET_COLUMNS:
            return problem(
                "sheet_columns_beyond_limit",
                file="",
                sheet_name=self.sheet,
                last=_column_name(column),
                limit=_grouped(MAX_SHEET_COLUMNS),
            )
        return None

    def count(self, cells: int) -> Problem | None:
        self.cells += cells
        if self.cells > MAX_SHEET_CELLS:
            return problem(
                "sheet_cells_beyond_limit", file="", sheet_name=self.sheet, limit=_grouped(MAX_SHEET_CELLS)
            )
        return None


@dataclass
class _TextBudget:
    """Characters of text all cells of a workbook hold together, each use of a text counted."""

    chars: int = 0

    def spend(self, chars: int) -> Problem | None:
        self.chars += chars
        if self.chars > MAX_TEXT_CHARS:
            return problem("text_beyond_limit", file="", limit=_grouped(MAX_TEXT_CHARS))
        return None


_REFERENCE = re.compile(r"\$?([A-Za-z]{1,10})\$?(\d+)")
_FAR = 10**18
"""Stands for a row or count written with more digits than any real one has."""


def _column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _column_name(number: int) -> str:
    """Returns a column's letters (XFD), for any column number a file can name."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters or "A"


def _streamed(stream: IO[bytes], heavy: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """Yields (event, element) of an XML stream, dropping each `heavy` element once it ends.

    A dropped element is removed from its parent, so a part of millions of rows or texts
    never grows a tree: memory stays that of one row.
    """
    path: list[Any] = []
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        if event == "start":
            path.append(element)
            yield event, element
            continue
        path.pop()
        yield event, element
        if element.tag in heavy:
            element.clear()
            if path:
                path[-1].remove(element)


def _xlsx_bounds(archive: zipfile.ZipFile) -> Problem | None:
    infos = {info.filename: info for info in archive.infolist()}
    for name in WHOLE_PARTS:
        if name in infos and (found := _too_large_part(infos[name], MAX_WHOLE_PART_BYTES)):
            return found
    texts: list[int] = []
    for name, info in infos.items():
        # calamine finds the table by its relationship; any part named so is measured.
        if PurePosixPath(name).name.casefold() == "sharedstrings.xml":
            found = _too_large_part(info, MAX_SHARED_STRINGS_BYTES) or _shared_string_lengths(
                archive, info, texts
            )
            if found:
                return found
    if "xl/workbook.xml" not in infos or "xl/_rels/workbook.xml.rels" not in infos:
        return None  # calamine refuses such a file before it reads a sheet
    budget = _TextBudget()
    for sheet, part in _sheet_parts(archive, archive.read("xl/workbook.xml")).items():
        if part in infos:
            found = _too_large_part(infos[part], MAX_SHEET_BYTES) or _sheet_bounds(
                archive, part, _Extent(sheet), texts, budget
            )
            if found:
                return found
    return None


def _shared_string_lengths(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, lengths: list[int]
) -> Problem | None:
    """Appends each shared text's length to `lengths`; a problem when the table is too large."""

    def too_many(found: int) -> Problem:
        return problem(
            "shared_strings_beyond_limit",
            file="",
            found=f"{_grouped(found)} texter",
            limit=f"{_grouped(MAX_SHARED_STRINGS)} texter",
        )

    item, text = f"{NS_MAIN}si", f"{NS_MAIN}t"
    with archive.open(info) as stream:
        for event, element in _streamed(stream, frozenset({item})):
            if event == "start" and element.tag == f"{NS_MAIN}sst":
                # calamine reserves room for what the table declares: a lie must not pass
                for attribute in ("count", "uniqueCount"):
                    declared = _declared_number(element.get(attribute))
                    if declared > MAX_SHARED_STRINGS:
                        return too_many(declared)
            elif event == "end" and element.tag == item:
                lengths.append(sum(len(part.text or "") for part in element.iter(text)))
                if len(lengths) > MAX_SHARED_STRINGS:
                    return too_many(len(lengths))
    return None


def _declared_number(text: str | None) -> int:
    """Returns a declared count or row number; text that is no number counts as 0."""
    digits = (text or "").strip()
    if not (digits.isascii() and digits.isdigit()):
        return 0
    return int(digits) if len(digits) <= 18 else _FAR


def _sheet_bounds(
    archive: zipfile.ZipFile, part: str, extent: _Extent, shared: Sequence[int], budget: _TextBudget
) -> Problem | None:
    """Returns a problem when a sheet declares, reaches or holds more than the limits allow.

    The declared `<dimension>` must be within the limits: a reader may size a sheet by it
    (calamine 0.9 does not, measured: A1:XFD1048576 with one value reads in 13 MB, but the
    declaration is the file's own word about its size, and a template never declares more).
    Of the cells, only one with a value counts, since only those are given to the reader:
    formatting on empty cells (a style on whole rows down to row 100 000) costs it nothing.
    """
    row_tag, cell_tag, value_tag = f"{NS_MAIN}row", f"{NS_MAIN}c", f"{NS_MAIN}v"
    inline_tag, text_tag, dimension_tag = f"{NS_MAIN}is", f"{NS_MAIN}t", f"{NS_MAIN}dimension"
    row = column = 0
    with archive.open(part) as stream:
        for event, element in _streamed(stream, frozenset({row_tag, cell_tag})):
            tag = element.tag
            if event == "start":
                if tag == row_tag:
                    row = _declared_number(element.get("r")) or row + 1
                    column = 0
                continue
            if tag == dimension_tag:
                corner = _REFERENCE.fullmatch(element.get("ref", "").split(":")[-1])
                declared = corner and extent.reach(
                    _declared_number(corner.group(2)), _column_number(corner.group(1))
                )
                if declared:
                    return declared
            if tag != cell_tag:
                continue
            match = _REFERENCE.fullmatch(element.get("r", ""))
            column = _column_number(match.group(1)) if match else column + 1
            value, inline = element.find(value_tag), element.find(inline_tag)
            if value is None and inline is None:
                continue  # formatting only
            found = (
                extent.reach(_declared_number(match.group(2)) if match else row, column)
                or extent.count(1)
                or budget.spend(_cell_chars(element, shared, value, inline, text_tag))
            )
            if found:
                return found
    return None


def _cell_chars(element: Any, shared: Sequence[int], value: Any, inline: Any, text_tag: str) -> int:
    """Returns how many characters the reader will make of one cell (its <v> and <is> given)."""
    text = (value.text or "") if value is not None else ""
    if element.get("t") == "s":
        index = _declared_number(text)
        return shared[index] if index < len(shared) else 0
    if inline is not None:
        return sum(len(part.text or "") for part in inline.iter(text_tag))
    return len(text)


def _ods_bounds(archive: zipfile.ZipFile) -> Problem | None:
    """Returns a problem when an .ods sheet reaches, once its repeats are expanded, past a limit.

    LibreOffice writes the empty rest of a sheet as one row repeated a million times; only
    repeats that hold something (or stand before something) count, as they do for the reader.
    """
    names = set(archive.namelist())
    for name in ("content.xml", "meta.xml"):
        limit = MAX_SHEET_BYTES if name == "content.xml" else MAX_WHOLE_PART_BYTES
        if name in names and (oversized := _too_large_part(archive.getinfo(name), limit)):
            return oversized
    if "content.xml" not in names:
        return None
    table_tag, row_tag = f"{NS_ODS_TABLE}table", f"{NS_ODS_TABLE}table-row"
    cell_tags = (f"{NS_ODS_TABLE}table-cell", f"{NS_ODS_TABLE}covered-table-cell")
    budget = _TextBudget()
    extent = _Extent("")
    row = column = 0
    row_repeat = 1
    with archive.open("content.xml") as stream:
        for event, element in _streamed(stream, frozenset({row_tag, *cell_tags})):
            tag = element.tag
            found: Problem | None = None
            if event == "start":
                if tag == table_tag:
                    extent, row = _Extent(element.get(f"{NS_ODS_TABLE}name", "")), 0
                elif tag == row_tag:
                    column, row_repeat = 0, _repeat(element, "number-rows-repeated")
                continue
            if tag in cell_tags:
                repeat = _repeat(element, "number-columns-repeated")
                chars = len("".join(element.itertext()))
                if element.get(f"{NS_ODS_OFFICE}value-type") is not None or chars:
                    found = (
                        extent.reach(row + row_repeat, column + repeat)
                        or extent.count(repeat * row_repeat)
                        or budget.spend(chars * repeat * row_repeat)
                    )
                column += repeat
            elif tag == row_tag:
                row += row_repeat
            if found:
                return found
    return None


# --- .xls: the BIFF8 records of the workbook stream in an OLE2 compound file ---------------
#
# calamine sizes an .xls sheet by its furthest cell too (a value at IV65536 reads in 1.1 GB),
# so the workbook stream is found through the compound file's directory and its cell records
# are counted as for an .xlsx, without keeping a cell.

_CFB_LAST = 0xFFFFFFFA
"""Sector numbers above this mark a chain's end, a free sector or the FAT's own."""
_BIFF_BOF, _BIFF_BOUNDSHEET, _BIFF_SST, _BIFF_CONTINUE = 0x0809, 0x0085, 0x00FC, 0x003C
_BIFF_LABELSST, _BIFF_LABEL, _BIFF_RSTRING, _BIFF_MULRK, _BIFF_STRING = 0x00FD, 0x0204, 0x00D6, 0x00BD, 0x0207
_BIFF_VALUES = frozenset({0x0203, 0x027E, 0x0205, 0x0006})
"""NUMBER, RK, BOOLERR and FORMULA: a cell with a value whose text is short."""


class _Compound:
    """The streams of an OLE2 compound file, read through its FAT with every chain bounded."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.sector = 1 << struct.unpack_from("<H", data, 0x1E)[0]
        self.mini = 1 << struct.unpack_from("<H", data, 0x20)[0]
        fat_count, directory = struct.unpack_from("<II", data, 0x2C)
        self.cutoff = struct.unpack_from("<I", data, 0x38)[0]
        mini_fat, _, difat, difat_count = struct.unpack_from("<IIII", data, 0x3C)
        if not (7 <= self.sector.bit_length() <= 13 and self.mini < self.sector):
            raise ValueError("OLE2: orimlig sektorstorlek")
        fat_sectors = list(struct.unpack_from("<109I", data, 0x4C))
        per_sector = self.sector // 4 - 1
        for _ in range(difat_count):
            if difat > _CFB_LAST:
                break
            fat_sectors.extend(struct.unpack_from(f"<{per_sector}I", self._sector(difat)))
            difat = struct.unpack_from("<I", self._sector(difat), per_sector * 4)[0]
        self.fat = b"".join(self._sector(s) for s in fat_sectors[:fat_count] if s <= _CFB_LAST)
        self.entries = self._stream(directory, None, self.fat, self.sector, self._sector)
        root_start, root_size = self._entry(0)[2:]
        self.ministream = self._stream(root_start, root_size, self.fat, self.sector, self._sector)
        self.mini_fat = self._stream(mini_fat, None, self.fat, self.sector, self._sector)

    def _sector(self, number: int) -> bytes:
        start = (number + 1) * self.sector
        if start + self.sector > len(self.data):
            raise ValueError("OLE2: sektor utanför filen")
        return bytes(self.data[start : start + self.sector])

    def _mini_sector(self, number: int) -> bytes:
        start = number * self.mini
        if start + self.mini > len(self.ministream):
            raise ValueError("OLE2: minisektor utanför ministrömmen")
        return self.ministream[start : start + self.mini]

    @staticmethod
    def _stream(start: int, size: int | None, fat: bytes, unit: int, read: Callable[[int], bytes]) -> bytes:
        """Returns a chain's bytes (cut to `size`); a chain longer than the FAT has entries is a loop."""
        parts: list[bytes] = []
        steps, entries = 0, len(fat) // 4
        while start <= _CFB_LAST and start < entries and (size is None or len(parts) * unit < size):
            steps += 1
            if steps > entries:
                raise ValueError("OLE2: kedjan går i cirkel")
            parts.append(read(start))
            start = struct.unpack_from("<I", fat, start * 4)[0]
        data = b"".join(parts)
        return data if size is None else data[:size]

    def _entry(self, index: int) -> tuple[str, int, int, int]:
        """Returns a directory entry's (name, type, first sector, size)."""
        entry = self.entries[index * 128 : index * 128 + 128]
        length = min(struct.unpack_from("<H", entry, 64)[0], 64)
        name = entry[: max(length - 2, 0)].decode("utf-16-le", errors="replace")
        return (
            name,
            entry[66],
            struct.unpack_from("<I", entry, 116)[0],
            struct.unpack_from("<I", entry, 120)[0],
        )

    def stream(self, names: Sequence[str]) -> bytes | None:
        """Returns the first stream with one of these names, or None."""
        for index in range(len(self.entries) // 128):
            name, kind, start, size = self._entry(index)
            if kind == 2 and name in names:
                if size < self.cutoff:
                    return self._stream(start, size, self.mini_fat, self.mini, self._mini_sector)
                return self._stream(start, size, self.fat, self.sector, self._sector)
        return None


def _xls_bounds(path: Path) -> Problem | None:
    size = path.stat().st_size
    if size > MAX_SHEET_BYTES:
        return problem(
            "part_beyond_limit", file="", part="Workbook", found=_size(size), limit=_size(MAX_SHEET_BYTES)
        )
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        stream = _Compound(data).stream(("Workbook", "Book"))
    return _biff_bounds(stream) if stream is not None else None


def _biff_bounds(stream: bytes) -> Problem | None:
    """Returns a problem when a sheet's cell records reach or hold more than the limits allow."""
    names: dict[int, str] = {}
    shared: list[int] = []
    budget = _TextBudget()
    extent = _Extent("")
    position = 0
    while position + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, position)
        body = stream[position + 4 : position + 4 + length]
        start, position = position, position + 4 + length
        found: Problem | None = None
        if kind == _BIFF_BOF:
            extent = _Extent(names.get(start, ""))
        elif kind == _BIFF_BOUNDSHEET and length >= 8:
            names[struct.unpack_from("<I", body)[0]] = _biff_short_string(body[6:])
        elif kind == _BIFF_SST:
            parts = [body[8:]]
            while (
                position + 4 <= len(stream)
                and struct.unpack_from("<H", stream, position)[0] == _BIFF_CONTINUE
            ):
                more = struct.unpack_from("<H", stream, position + 2)[0]
                parts.append(stream[position + 4 : position + 4 + more])
                position += 4 + more
            found = _sst_lengths(body, parts, shared)
        elif kind in _BIFF_VALUES and length >= 4:
            found = _biff_cell(extent, budget, body, 1, 16)
        elif kind == _BIFF_LABELSST and length >= 10:
            index = struct.unpack_from("<I", body, 6)[0]
            found = _biff_cell(extent, budget, body, 1, shared[index] if index < len(shared) else 0)
        elif kind in (_BIFF_LABEL, _BIFF_RSTRING) and length >= 8:
            found = _biff_cell(extent, budget, body, 1, struct.unpack_from("<H", body, 6)[0])
        elif kind == _BIFF_STRING and length >= 2:
            found = budget.spend(struct.unpack_from("<H", body)[0])
        elif kind == _BIFF_MULRK and length >= 6:
            first, last = struct.unpack_from("<H", body, 2)[0], struct.unpack_from("<H", body, length - 2)[0]
            cells = max(last - first + 1, 1)
            found = _biff_cell(extent, budget, body, cells, 16 * cells, column=last)
        if found:
            return found
    return None


def _biff_cell(
    extent: _Extent, budget: _TextBudget, body: bytes, cells: int, chars: int, column: int | None = None
) -> Problem | None:
    row, first = struct.unpack_from("<HH", body)
    return (
        extent.reach(row + 1, (first if column is None else column) + 1)
        or extent.count(cells)
        or budget.spend(chars)
    )


def _biff_short_string(data: bytes) -> str:
    """Returns a ShortXLUnicodeString: a count, a flag for two-byte characters, the characters."""
    if len(data) < 2:
        return ""
    count, wide = data[0], data[1] & 1
    raw = data[2 : 2 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", errors="replace")


def _sst_lengths(header: bytes, parts: list[bytes], lengths: list[int]) -> Problem | None:
    """Appends each shared text's length (its character count) to `lengths`.

    The table runs on in CONTINUE records; a text's characters may break across one, where a
    new flag byte says whether the rest is one or two bytes a character.
    """
    declared = struct.unpack_from("<I", header, 4)[0] if len(header) >= 8 else 0
    if declared > MAX_SHARED_STRINGS:
        return problem(
            "shared_strings_beyond_limit",
            file="",
            found=f"{_grouped(declared)} texter",
            limit=f"{_grouped(MAX_SHARED_STRINGS)} texter",
        )
    segment, offset = 0, 0

    def take(count: int) -> bytes:
        nonlocal segment, offset
        taken = b""
        while len(taken) < count and segment < len(parts):
            piece = parts[segment][offset : offset + count - len(taken)]
            taken += piece
            offset += len(piece)
            if offset >= len(parts[segment]):
                segment, offset = segment + 1, 0
        return taken

    while segment < len(parts) and len(lengths) < declared:
        head = take(3)
        if len(head) < 3:
            break
        count, flags = struct.unpack_from("<H", head)[0], head[2]
        runs = struct.unpack_from("<H", take(2).ljust(2, b"\0"))[0] if flags & 8 else 0
        extra = struct.unpack_from("<I", take(4).ljust(4, b"\0"))[0] if flags & 4 else 0
        wide, left = flags & 1, count
        while left and segment < len(parts):
            if offset == 0 and left < count:  # the characters went on into a CONTINUE record
                wide = take(1)[0] & 1
            width = 2 if wide else 1
            here = min(left, (len(parts[segment]) - offset) // width)
            if here == 0:
                break
            take(here * width)
            left -= here
        take(runs * 4 + extra)
        lengths.append(count)
    return None


# --- what a number in a text column looked like ------------------------------------------

GENERAL = "General"
"""Excel's format for a cell nobody formatted, and what an .xls cell is rendered with."""
_NUMBER_RUN = re.compile(r"[0#?](?:[0#?,]| (?=[0#?]))*(?:\.[0#?]*)?,*")
"""The digits of a format section: "#,##0.00", "# ##0", "0.0", with trailing scaling commas."""
_DATE_CODES = re.compile(r"[ydhs]|m|am/pm|a/p", re.IGNORECASE)
_PERCENT_SPACING = re.compile(r"(?<=\d)\s*%")
_PRIVATE = 0xE000
"""The first private-use character, standing for a literal in a format skeleton."""


def display_text(value: Any, number_format: str, *, date1904: bool = False) -> str:
    """Returns a cell value as a Swedish spreadsheet shows it with this number format.

    Numbers get a space between thousands and a decimal comma; a percent format multiplies
    by 100 and writes " %" (0.75 with "0%" → "75 %"); "#,##0.00" gives "1 234,50"; General
    and text ("@") give the shortest form ("12", "0,75"); dates are written as ISO dates
    ("2027-03-01"), whatever their format, since that is what a reader can trust.

    Args:
        value: what the reader gave for the cell: a number, a date or time, or text.
        number_format: the cell's format code as stored in the file ("0%", "#,##0", "General").
        date1904: the workbook counts dates from 1904 (for a number with a date format).
    """
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes" if not value.second else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if not value.second else "seconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value).strip()
    section = _section(number_format, value)
    if section is None:  # General, text, or a form this function does not draw (fractions)
        return _general(value)
    literal, skeleton = _split_literals(section.code)
    if _DATE_CODES.search(skeleton):
        epoch = dt.date(1904, 1, 1) if date1904 else dt.date(1899, 12, 30)
        try:
            return display_text(epoch + dt.timedelta(days=int(value)), GENERAL)
        except OverflowError:
            return _general(value)
    match = _NUMBER_RUN.search(skeleton)
    if match is None:  # a section of text only, like the "-" an accounting format shows for 0
        return " ".join(literal(skeleton).split()) or _general(value)
    number = abs(value) if section.unsigned else value
    number *= 100 ** skeleton.count("%")
    digits = _digits(number, match.group(0))
    if digits is None:
        return _general(value)
    text = literal(skeleton[: match.start()]) + digits + literal(skeleton[match.end() :])
    return _PERCENT_SPACING.sub(" %", " ".join(text.split()))


@dataclass(frozen=True)
class _Section:
    code: str
    unsigned: bool
    """The section is for negative numbers: its own text shows the sign, so the digits don't."""


def _section(number_format: str, value: float) -> _Section | None:
    """Returns the format section Excel uses for this value (positive;negative;zero;text)."""
    sections = _split_unquoted(number_format or GENERAL, ";")
    if value < 0 and len(sections) > 1:
        chosen, unsigned = sections[1], True
    elif value == 0 and len(sections) > 2:
        chosen, unsigned = sections[2], True
    else:
        chosen, unsigned = sections[0], False
    plain = chosen.strip().casefold()
    if plain in ("", "general", "@") or ("/" in _split_literals(chosen)[1] and "?" in chosen):
        return None
    if "e+" in plain or "e-" in plain:  # scientific notation: the short General form says the same
        return None
    return _Section(chosen, unsigned)


def _split_unquoted(code: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    return [*parts, "".join(current)]


def _split_literals(code: str) -> tuple[Callable[[str], str], str]:
    """Returns (a function giving a skeleton slice's shown text, the skeleton).

    The skeleton is the format code with each literal ("kr", \\-, [$kr-41D]) replaced by one
    private-use character, so that date letters and digit placeholders are found only in code.
    """
    literals: list[str] = []
    skeleton: list[str] = []
    index = 0
    while index < len(code):
        char = code[index]
        literal: str | None = None
        step = 1
        if char == '"':
            end = code.find('"', index + 1)
            end = len(code) if end < 0 else end
            literal, step = code[index + 1 : end], end + 1 - index
        elif char in "\\_*" and index + 1 < len(code):
            # \x shows x; _x leaves the width of x (a space); *x fills the cell (nothing to keep)
            literal, step = {"\\": code[index + 1], "_": " ", "*": ""}[char], 2
        elif char == "[":
            end = code.find("]", index)
            end = len(code) if end < 0 else end
            inside = code[index + 1 : end]
            # [$kr-41D] shows its currency; a colour, condition or locale shows nothing
            literal, step = (inside[1:].split("-")[0] if inside.startswith("$") else ""), end + 1 - index
        if literal is None:
            skeleton.append(char)
        else:
            literals.append(literal)
            skeleton.append(chr(_PRIVATE + len(literals) - 1))
        index += step

    def shown(part: str) -> str:
        return "".join(
            literals[ord(ch) - _PRIVATE] if _PRIVATE <= ord(ch) < _PRIVATE + len(literals) else ch
            for ch in part
        )

    return shown, "".join(skeleton)


def _digits(number: float, pattern: str) -> str | None:
    """Returns the number drawn with a digits pattern like "#,##0.00", Swedish style."""
    scaled = pattern.rstrip(",")
    number /= 1000 ** (len(pattern) - len(scaled))
    whole_pattern, _, fraction_pattern = scaled.partition(".")
    grouped = "," in whole_pattern or " " in whole_pattern.strip()
    wanted = len(fraction_pattern)
    required = fraction_pattern.count("0")
    try:
        rounded = Decimal(repr(abs(number))).quantize(Decimal(1).scaleb(-wanted), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    whole, _, fraction = f"{rounded:f}".partition(".")
    fraction = fraction.rstrip("0").ljust(required, "0") if wanted > required else fraction
    minimum = whole_pattern.count("0")
    whole = whole.lstrip("0").rjust(minimum, "0")
    if grouped:
        whole = " ".join(whole[max(0, end - 3) : end] for end in range(len(whole), 0, -3)[::-1])
    sign = "-" if number < 0 and rounded != 0 else ""
    return sign + whole + ("," + fraction if fraction else "")


def _general(number: float) -> str:
    """Returns a number as Excel's General format shows it in Swedish: "12", "0,75", "1,5E+20"."""
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    mantissa, _, exponent = f"{number:.10g}".partition("e")
    text = mantissa.replace(".", ",")
    return f"{text}E{int(exponent):+03d}" if exponent else text
