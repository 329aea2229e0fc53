"""Big tables of plain cells in an xlsxwriter workbook, and the one seam that lays them out in bulk.

A `TableBook` is an xlsxwriter workbook being written to a file. Its `write_columns` writes
a table given as columns, row by row and left to right, as xlsxwriter's `write_string`,
`write_blank`, `write_number` and `write_datetime` would; its `add_table` adds an Excel
table as xlsxwriter's `add_table` does.

Why a seam: xlsxwriter keeps an object for every cell, and for every cell of a table's
range, until the workbook closes, and then lays out each cell's XML on its own; for
tables of hundreds of thousands of rows that is most of the report's time and memory.
With `bulk=False` everything goes through xlsxwriter: the reference. With `bulk=True`
xlsxwriter writes, through its public calls, only the cells that decide something in the
file:

- the first cell (row by row, left to right) of every distinct value and format in a
  table: xlsxwriter numbers shared strings in the order they are written and styles in
  the order they are laid out, so the numbers come out as in the reference;
- the first and the last column of a table's first and last row and of every 16th row
  (rows are grouped by 16 for their `spans`, as Excel writes them), so that the row spans
  and the sheet's dimension are the reference's, and the first column of rows without a
  height, so that every row has its tag; merges go through `merge_range` as they are.

A table (`add_table`) of plain columns is added over its header and first row. When the
workbook is saved, the package is read back and each part rewritten that needs it: every
other cell is copied into its row (ECMA-376 Part 1 §18.3.1.73) from the XML of the first
cell with its value and format, with only its reference changed (§18.3.1.4); the shared
string table's total `count` (§18.4.9) is raised by the cells copied; a table's `ref` and
its autofilter's (§18.5.1.2) are set to the whole range. Parts are found through the
package's relationships. Nothing of xlsxwriter is used but its public API and the file it
writes; the tests compare both ways byte for byte, and the bulk pass raises RuntimeError
on any row that does not hold the cells it expects.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from array import array
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, cast

import xlsxwriter
from xlsxwriter.exceptions import OverlappingRange
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_range
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

Column = tuple[Sequence[Any], Format | Sequence[Format]]
"""A column of cell values and its format, or one format per cell.

A value is a str (written as a string; "" as a formatted blank), a float (a number) or
anything else xlsxwriter's `write_datetime` takes (a date)."""

WRITTEN = -1
"""A cell's code in a block when xlsxwriter writes it. A code p >= 0 means: copied from
the cell at position p of the sheet (p = row * COLUMNS + col), the first with its value and
format; -2 - p marks that first cell itself (which xlsxwriter writes)."""

COLUMNS = 16_384
"""Columns of a worksheet (Excel's limit): the stride of a cell's position."""

SPAN_ROWS = 16
"""Rows per group of equal `spans` (ECMA-376 Part 1 §18.3.1.73), as Excel and xlsxwriter write them."""

CHUNK_ROWS = 4096
"""Rows of a block laid out at a time when the workbook is saved: bounds the XML held in memory."""

_MIXED = 0
"""The namespace of first cells for columns with a format per cell (never a format's id)."""

_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_SPREADSHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_OFFICE_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_DOCUMENT_TYPE = "/officeDocument"
_SHARED_STRINGS_TYPE = "/sharedStrings"
_TABLE_TYPE = "/table"
_CELL = '<c r="'
_ROW_END = "</row>"
_COUNT = re.compile(rb'(<sst\b[^>]*?\scount=")(\d+)(")')


@dataclass
class _Block:
    """Rows first_row.. of a table in columns 0..width-1, and how each cell is laid out.

    `codes[col][i]` is the cell in row first_row + i (see WRITTEN). In the `merged` columns
    (the first of each merge) xlsxwriter holds a cell on every row: a blank where the cell
    is copied. `copied_strings` counts copied cells that xlsxwriter would have written with
    `write_string`: references to the shared string table.
    """

    first_row: int
    rows: int
    width: int
    codes: list[array[int]]
    merged: frozenset[int]
    copied_strings: int

    @property
    def last_row(self) -> int:
        return self.first_row + self.rows - 1


@dataclass(frozen=True)
class _Table:
    """A table added over its header and first row: its name, its range as added and in full
    (as text), and its rows and columns in full."""

    name: str
    added: str
    full: str
    rows: range
    cols: range

    def overlaps(self, rows: range, cols: range) -> bool:
        """Returns whether the table shares a cell with the range `rows` × `cols`."""
        return bool(range(max(self.rows.start, rows.start), min(self.rows.stop, rows.stop))) and bool(
            range(max(self.cols.start, cols.start), min(self.cols.stop, cols.stop))
        )


@dataclass
class _Sheet:
    """What a worksheet's XML needs when the workbook is saved: its blocks in row order, its
    tables; and, while it is written, the position of the first cell of each value and
    format in its blocks, per namespace (see `_keys`)."""

    blocks: list[_Block] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    firsts: dict[int, dict[Hashable, int]] = field(default_factory=dict)


class TableBook:
    """An xlsxwriter workbook written to `target`, with tables written by `write_columns`;
    a context manager that closes it.

    Args:
        target: the file to write.
        options: xlsxwriter's Workbook options.
        bulk: lay the tables out in bulk when saved (see the module); False writes every
            cell through xlsxwriter, the reference the bulk layout is tested against.
    """

    def __init__(self, target: Path, options: dict[str, Any], *, bulk: bool = True) -> None:
        self.target = target
        self.bulk = bulk
        self._buffer = io.BytesIO() if bulk else None
        self.workbook: Workbook = xlsxwriter.Workbook(self._buffer or str(target), options)
        self._sheets: dict[str, _Sheet] = {}

    def __enter__(self) -> TableBook:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: object, trace: object) -> None:
        """Closes the workbook; after an error without laying out the tables (the file is dropped)."""
        self.close(complete=kind is None)

    def close(self, *, complete: bool = True) -> None:
        """Closes the workbook and writes the file; `complete=False` only closes it (after an error)."""
        self.workbook.close()
        if complete and self._buffer is not None:
            sheets = {name: sheet for name, sheet in self._sheets.items() if sheet.blocks or sheet.tables}
            if sheets:
                _complete_package(self._buffer, self.target, sheets)
            else:
                self.target.write_bytes(self._buffer.getvalue())

    def add_table(
        self,
        ws: Worksheet,
        first_row: int,
        first_col: int,
        last_row: int,
        last_col: int,
        options: dict[str, Any],
    ) -> None:
        """Adds an Excel table over the range, as `Worksheet.add_table` does.

        In bulk, a named table with a header row and plain columns (no data, formulas or
        totals: its cells are written afterwards) is added over its header and first row,
        and gets its whole range when the workbook is saved; xlsxwriter then does not
        record each of its cells. Tables and the merges of `write_columns` are checked
        against its whole range here instead.

        Raises:
            OverlappingRange: the table overlaps a table added before (as xlsxwriter's).
            ValueError: xlsxwriter refused the table (it warns why).
        """
        top, bottom = sorted((first_row, last_row))
        left, right = sorted((first_col, last_col))
        cell_range = xl_range(top, left, bottom, right)
        self._check(ws, range(top, bottom + 1), range(left, right + 1), f"Table range '{cell_range}'")
        plain = (
            self.bulk
            and bottom - top > 1
            and bool(options.get("name"))
            and options.get("header_row", True)
            and not options.get("total_row")
            and "data" not in options
            and not any(column.get("formula") for column in options.get("columns", []))
        )
        added_last = top + 1 if plain else bottom
        if ws.add_table(top, left, added_last, right, options) != 0:
            raise ValueError(f"xlsxwriter did not add table {options.get('name')!r}.")
        if plain:
            added = xl_range(top, left, added_last, right)
            table = _Table(options["name"], added, cell_range, range(top, bottom + 1), range(left, right + 1))
            self._sheet(ws).tables.append(table)

    def _check(self, ws: Worksheet, rows: range, cols: range, what: str) -> None:
        """Refuses a range over a table added over its first rows only (see `add_table`)."""
        for table in self._sheet(ws).tables:
            if table.overlaps(rows, cols):
                raise OverlappingRange(f"{what} overlaps previous table range '{table.full}'.")

    def write_columns(
        self,
        ws: Worksheet,
        first_row: int,
        columns: Sequence[Column],
        heights: Sequence[float] | None = None,
        rows: Sequence[int] | None = None,
        merges: Sequence[tuple[int, int]] = (),
    ) -> int:
        """Writes columns of cells from `first_row` down, from column 0; returns the row after them.

        The cells are those of `write_string`, `write_blank` (for "", with the format),
        `write_number` and `write_datetime`, written row by row, left to right. `heights`,
        when given, sets each row's height; `rows`, when given, picks those positions of the
        columns (and of the heights). `merges` are (first, last) columns merged on every
        row, with `merge_range` and the first column's format; the other columns of a merge
        must be blank ("") in that format. No other cell may be written in these rows.
        """
        if rows is not None:
            columns = [
                ([values[i] for i in rows], style if isinstance(style, Format) else [style[i] for i in rows])
                for values, style in columns
            ]
            heights = None if heights is None else [heights[i] for i in rows]
        written = len(columns[0][0]) if columns else 0
        for first, last in merges if written else ():
            merge_range = xl_range(first_row, first, first_row + written - 1, last)
            self._check(
                ws,
                range(first_row, first_row + written),
                range(first, last + 1),
                f"Merge range '{merge_range}'",
            )
        if written:
            sheet = self._sheet(ws)
            in_order = not sheet.blocks or first_row > sheet.blocks[-1].last_row
            if self.bulk and in_order:
                sheet.blocks.append(
                    _write_block(ws, first_row, columns, merges, heights is not None, sheet.firsts)
                )
            else:
                _write_cells(ws, first_row, columns, merges)
        if heights is not None:
            for row, height in enumerate(heights, start=first_row):
                ws.set_row(row, height)
        return first_row + written

    def _sheet(self, ws: Worksheet) -> _Sheet:
        return self._sheets.setdefault(ws.get_name(), _Sheet())


# Writing: every cell (the reference), or the cells that decide the file (bulk).


def _write_cell(ws: Worksheet, row: int, col: int, value: Any, style: Format) -> None:
    """Writes one cell as `write_columns` describes it."""
    kind = value.__class__
    if kind is str:
        if value:
            ws.write_string(row, col, value, style)
        else:
            ws.write_blank(row, col, None, style)
    elif kind is float:
        ws.write_number(row, col, value, style)
    else:
        ws.write_datetime(row, col, value, style)


def _write_cells(
    ws: Worksheet, first_row: int, columns: Sequence[Column], merges: Sequence[tuple[int, int]]
) -> None:
    """Writes every cell through xlsxwriter: the reference."""
    rows = len(columns[0][0])
    values = zip(*(cells for cells, _ in columns), strict=True)
    styles = zip(*(_styles(style, rows) for _, style in columns), strict=True)
    for row, cells, cell_styles in zip(count(first_row), values, styles, strict=False):
        for first, last in merges:
            ws.merge_range(row, first, row, last, "", cell_styles[first])
        for col, (value, style) in enumerate(zip(cells, cell_styles, strict=True)):
            _write_cell(ws, row, col, value, style)


def _styles(style: Format | Sequence[Format], rows: int) -> Sequence[Format]:
    return [style] * rows if isinstance(style, Format) else style


def _keys(values: Sequence[Any], style: Format | Sequence[Format]) -> tuple[int, Sequence[Hashable], int]:
    """Returns a column's namespace of first cells, per cell what else decides its XML, and
    how many of its cells are text (a reference to a shared string).

    A column with one format has that format's namespace and is keyed by value; a column
    with a format per cell is keyed by (value, format) in the namespace _MIXED. A number is
    told by its type and text, so that 0.0 and -0.0, or 1.0 and True, which compare equal,
    stay apart; other values (text, dates) equal only values of their own kind.
    """
    kinds = set(map(type, values))
    plain: Sequence[Hashable] = (
        [(float, repr(v)) if v.__class__ is float else v for v in values] if float in kinds else values
    )
    if kinds <= {str}:
        texts = len(values) - values.count("")
    else:
        texts = sum(1 for v in values if v.__class__ is str and v)
    if isinstance(style, Format):
        return id(style), plain, texts
    return _MIXED, list(zip(plain, map(id, style), strict=True)), texts


def _write_block(
    ws: Worksheet,
    first_row: int,
    columns: Sequence[Column],
    merges: Sequence[tuple[int, int]],
    heights: bool,
    firsts: dict[int, dict[Hashable, int]],
) -> _Block:
    """Writes the cells of a table that decide the file (see the module); returns the block
    that tells how to lay out the others.

    `heights`: every row will get its height set. `firsts` holds the first cells of the
    sheet's earlier blocks, which are above this one (blocks are written top down); the
    first cells of this block's new values and formats are added to it.
    """
    width = len(columns)
    rows = len(columns[0][0])
    by_merge = {col for first, last in merges for col in range(first + 1, last + 1)}  # merge_range's blanks
    laid_out = [col for col in range(width) if col not in by_merge]
    top = first_row * COLUMNS
    keyed = {col: _keys(*columns[col]) for col in laid_out}
    new: dict[int, dict[Hashable, int]] = {}
    for col, (space, keys, _) in keyed.items():
        known, first = firsts.setdefault(space, {}), new.setdefault(space, {})
        positions = range(top + (rows - 1) * COLUMNS + col, top - 1, -COLUMNS)
        for key, position in dict(zip(reversed(keys), positions, strict=True)).items():
            if key not in known and position < first.get(key, position + 1):
                first[key] = position
    for space, first in new.items():
        firsts[space].update(first)
    codes = [array("q", [WRITTEN]) * rows for _ in range(width)]
    texts = 0
    for col, (space, keys, column_texts) in keyed.items():
        codes[col] = array("q", map(firsts[space].__getitem__, keys))
        texts += column_texts
    del keyed
    writes = []  # positions in the block (i * width + col) of the cells xlsxwriter writes
    for first in new.values():
        for position in first.values():
            i, col = divmod(position - top, COLUMNS)
            codes[col][i] = -2 - position
            writes.append(i * width + col)
    spans_rows = {0, rows - 1, *range(-first_row % SPAN_ROWS, rows, SPAN_ROWS)}
    for col, forced in ((0, range(rows) if not heights else spans_rows), (width - 1, spans_rows)):
        column = codes[col]
        for i in forced:
            if column[i] >= 0:
                column[i] = WRITTEN
                writes.append(i * width + col)
    writes.sort()
    styles = [_styles(style, rows) for _, style in columns]
    by_row: dict[int, list[int]] = {i: [] for i in range(rows)} if merges else {}
    for position in writes:
        by_row.setdefault(position // width, []).append(position % width)
    written_texts = 0
    for i, cols in by_row.items():
        row = first_row + i
        for first_col, last_col in merges:  # a row's merges first, as `_write_cells` writes them
            ws.merge_range(row, first_col, row, last_col, "", styles[first_col][i])
        for col in cols:
            value = columns[col][0][i]
            _write_cell(ws, row, col, value, styles[col][i])
            if value.__class__ is str and value:
                written_texts += 1
    merged = frozenset(first for first, _ in merges)
    return _Block(first_row, rows, width, codes, merged, texts - written_texts)


# Saving: the package read back and the parts that need it rewritten.


def _complete_package(source: io.BytesIO, target: Path, sheets: dict[str, _Sheet]) -> None:
    """Writes `target`: the package in `source`, part by part in its order, with the blocks'
    copied cells laid out, the shared strings' count raised and the tables' ranges whole."""
    with zipfile.ZipFile(source) as package:
        workbook_part = next(
            part for kind, part in _relationships(package, "").values() if kind.endswith(_DOCUMENT_TYPE)
        )
        relations = _relationships(package, workbook_part)
        parts: dict[str, _Sheet] = {}
        for element in ET.fromstring(package.read(workbook_part)).iter(f"{_SPREADSHEET}sheet"):
            sheet = sheets.get(element.get("name", ""))
            if sheet is not None:
                parts[relations[element.get(_OFFICE_RELATIONSHIP_ID, "")][1]] = sheet
        if len(parts) != len(sheets):
            raise RuntimeError(f"Not every sheet of {sorted(sheets)} is in the workbook.")
        tables: dict[str, list[_Table]] = {}
        for part, sheet in parts.items():
            if sheet.tables:
                found = [
                    name
                    for kind, name in _relationships(package, part).values()
                    if kind.endswith(_TABLE_TYPE)
                ]
                for table in sheet.tables:
                    tables.setdefault(_table_part(package, found, table.name), []).append(table)
        shared_strings = next(
            (part for kind, part in relations.values() if kind.endswith(_SHARED_STRINGS_TYPE)), None
        )
        copied = sum(block.copied_strings for sheet in sheets.values() for block in sheet.blocks)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as out:
            for info in package.infolist():
                data = package.read(info)
                sheet = parts.get(info.filename)
                if sheet is not None and sheet.blocks:
                    with out.open(copy.copy(info), "w") as sink:
                        _complete_sheet(
                            data.decode("utf-8"), sheet.blocks, lambda text: sink.write(text.encode())
                        )
                    continue
                if info.filename == shared_strings:
                    data = _add_to_count(data, copied)
                elif info.filename in tables:
                    data = _whole_ranges(data, tables[info.filename])
                out.writestr(copy.copy(info), data)


def _relationships(package: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Returns a part's relationships (OPC): id → (type, name of the target part).

    The package's own relationships are those of the part "".
    """
    folder, name = posixpath.split(part)
    rels = ET.fromstring(package.read(posixpath.join(folder, "_rels", f"{name}.rels")))
    return {
        rel.get("Id", ""): (
            rel.get("Type", ""),
            posixpath.normpath(posixpath.join(folder, rel.get("Target", ""))).lstrip("/"),
        )
        for rel in rels.iter(f"{_RELATIONSHIPS}Relationship")
        if rel.get("TargetMode") != "External"
    }


def _table_part(package: zipfile.ZipFile, parts: Sequence[str], name: str) -> str:
    """Returns which of a sheet's table parts holds the table `name`."""
    for part in parts:
        if ET.fromstring(package.read(part)).get("name") == name:
            return part
    raise RuntimeError(f"Table {name!r} is not in the workbook.")


def _whole_ranges(table_part: bytes, tables: Sequence[_Table]) -> bytes:
    """Returns the table part with the table's and its autofilter's range set in full."""
    for table in tables:
        added, full = f'ref="{table.added}"'.encode(), f'ref="{table.full}"'.encode()
        if added not in table_part:
            raise RuntimeError(f"Table {table.name!r} is not as added.")
        table_part = table_part.replace(added, full)
    return table_part


def _add_to_count(shared_strings: bytes, copied: int) -> bytes:
    """Returns the shared string part with `copied` more references in its `count`."""
    match = _COUNT.search(shared_strings, 0, 4096)
    if match is None:
        raise RuntimeError("The shared string table has no count.")
    total = str(int(match.group(2)) + copied).encode()
    return shared_strings[: match.start(2)] + total + shared_strings[match.end(2) :]


def _complete_sheet(xml: str, blocks: Sequence[_Block], write: Callable[[str], object]) -> None:
    """Writes the worksheet's XML with the blocks' copied cells laid out."""
    position = 0
    templates: dict[int, str] = {}
    for block in blocks:
        start = _row_start(xml, block.first_row, position)
        write(xml[position:start])
        position = start
        for chunk in range(0, block.rows, CHUNK_ROWS):
            rows = range(chunk, min(chunk + CHUNK_ROWS, block.rows))
            position = _complete_rows(xml, position, block, rows, templates, write)
    write(xml[position:])


def _row_start(xml: str, row: int, position: int) -> int:
    """Returns where the <row> element of `row` (0-based) starts, at or after `position`."""
    tag = f'<row r="{row + 1}"'
    start = xml.find(tag, position)
    while start >= 0 and xml[start + len(tag)] not in " >/":
        start = xml.find(tag, start + 1)
    if start < 0:
        raise RuntimeError(f"Row {row + 1} is missing from the worksheet.")
    return start


def _complete_rows(
    xml: str,
    position: int,
    block: _Block,
    rows: range,
    templates: dict[int, str],
    write: Callable[[str], object],
) -> int:
    """Writes rows `rows` of a block, found from `position`, with their copied cells; returns
    where they end. A row xlsxwriter wrote without cells (`<row .../>`: a height) gets them.

    `templates` holds the XML after the reference of the sheet's first cells seen so far,
    by position."""
    width = block.width
    letters = {xl_col_to_name(col): col for col in range(width)}
    names = [str(block.first_row + 1 + i) for i in rows]
    tags: list[str] = []
    written: dict[int, str] = {}  # position → the cell's XML as xlsxwriter wrote it
    for i, name in zip(rows, names, strict=True):
        tag_end = xml.find(">", position) + 1
        if tag_end <= 0 or not xml.startswith(f'<row r="{name}"', position):
            raise RuntimeError(f"Row {name} of the worksheet is not as written.")
        if xml[tag_end - 2] == "/":
            tags.append(f"{xml[position : tag_end - 2]}>")
            position = tag_end
            continue
        end = xml.find(_ROW_END, tag_end)
        cells = xml[tag_end:end].split(_CELL)
        if end < 0 or cells[0]:
            raise RuntimeError(f"Row {name} of the worksheet holds something other than cells.")
        tags.append(xml[position:tag_end])
        position = end + len(_ROW_END)
        for cell in cells[1:]:
            at = cell.find(name)
            col = letters.get(cell[:at], -1)
            suffix = cell[at + len(name) :]
            if col < 0 or not suffix.startswith('"'):
                raise RuntimeError(f"Row {name} of the worksheet has a cell outside its table: {cell}")
            code = block.codes[col][i]
            if code >= 0:
                if col in block.merged:
                    continue  # the blank merge_range wrote under a copied cell
                raise RuntimeError(
                    f"Row {name} of the worksheet has a cell xlsxwriter should not have: {cell}"
                )
            if code != WRITTEN:
                templates[-2 - code] = suffix
            written[i * width + col] = f"{_CELL}{cell}"
    laid_out = []
    for col, letter in enumerate(letters):
        prefix = f"{_CELL}{letter}"
        column = [
            f"{prefix}{name}{templates[code]}" if code >= 0 else written.pop(i * width + col, None)
            for i, name, code in zip(rows, names, block.codes[col][rows.start : rows.stop], strict=True)
        ]
        if None in column:
            raise RuntimeError(f"A cell xlsxwriter should have written in column {letter} is missing.")
        laid_out.append(cast(list[str], column))
    if written:
        raise RuntimeError("The worksheet has cells xlsxwriter should not have written.")
    ends = [_ROW_END] * len(tags)
    write("".join(map("".join, zip(tags, *laid_out, ends, strict=True))))
    return position
