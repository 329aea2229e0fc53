"""Large tables of plain cells for xlsxwriter, written a column at a time and laid out in bulk.

xlsxwriter keeps a tuple per cell and lays out each cell's XML through several calls when
the workbook closes: about 8 µs a cell, most of the reports' time at 50,000 actions (a
million cells per workbook). `write_columns` writes a table given as columns; on a
`BlockWorksheet` the table is kept as a block (its columns) and laid out at close with
the same XML, the same shared string numbers and the same format numbers as xlsxwriter's
own `write_*` calls give, at well under 1 µs a cell, so the file has the same bytes
either way (tests/test_report_workbooks.py compares the two). Anything a block cannot
hold (a string xlsxwriter would cut short, a number that is not finite, a
constant_memory workbook, rows already written) is written cell by cell through
xlsxwriter instead.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from xlsxwriter.exceptions import OverlappingRange
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_range
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

Column = tuple[Sequence[Any], Format | Sequence[Format]]
"""A column of cell values and its format, or one format per cell.

A value is a str (written as a string; "" as a formatted blank), a float (a number) or
anything else xlsxwriter's `write_datetime` takes (a date)."""

BLOCKS = True
"""Whether `add_block_sheet` adds BlockWorksheets; False gives xlsxwriter's own (for comparing)."""


def add_block_sheet(workbook: Workbook, name: str) -> Worksheet:
    """Returns a new sheet `name` of the workbook: a BlockWorksheet (unless BLOCKS is off)."""
    return workbook.add_worksheet(name, worksheet_class=BlockWorksheet if BLOCKS else None)


@dataclass(frozen=True)
class _Block:
    """Rows first_row.. of a table: per column the cells' values as laid out, and the formats.

    A value is a shared string's number (int), a number (float) or None for a blank.
    """

    first_row: int
    rows: int
    values: list[list[int | float | None]]
    styles: list[Format | Sequence[Format]]

    @property
    def last_row(self) -> int:
        return self.first_row + self.rows - 1


class BlockWorksheet(Worksheet):
    """A worksheet that keeps tables written with `write_columns` as blocks until it closes.

    Added with `add_block_sheet`. It relies on how xlsxwriter 3.x numbers shared strings
    (when written: `str_table`) and formats (when first laid out: `_get_xf_index`), and
    lays out rows and cells (`_write_rows`, `_write_row`, `_write_cell`); the tests compare
    its files with xlsxwriter's own, byte for byte, so a change there shows at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._blocks: list[_Block] = []
        self.table_cells: _TableRanges = _TableRanges()

    def add_table(
        self,
        first_row: int,
        first_col: int,
        last_row: int,
        last_col: int,
        options: dict[str, Any] | None = None,
    ) -> int:
        """Adds a table as xlsxwriter does, without going through each of its cells.

        xlsxwriter records every cell of a table, to refuse a later merge or table over it
        (340 MB for 200,000 rows of 15 columns, and a second to fill): here the table's
        range is recorded and checked instead. A table of plain columns (a header row, no
        data, formulas or totals: nothing written below the header) is added over its
        header and first row, and its range then set to all of its rows.
        """
        ranges = self.table_cells
        top, bottom = sorted((first_row, last_row))
        left, right = sorted((first_col, last_col))
        cell_range = xl_range(top, left, bottom, right)
        for previous in ranges.ranges:
            if _overlap(
                (top, left, bottom, right), (previous.top, previous.left, previous.bottom, previous.right)
            ):
                raise OverlappingRange(
                    f"Table range '{cell_range}' overlaps previous table range '{previous.text}'."
                )
        for merged in self.merge:
            if _overlap((top, left, bottom, right), tuple(merged)):
                raise OverlappingRange(
                    f"Table range '{cell_range}' overlaps previous merge range '{xl_range(*merged)}'."
                )
        given = options or {}
        plain = (
            bottom - top > 1
            and bottom < self.xls_rowmax
            and right < self.xls_colmax
            and given.get("header_row", True)
            and not given.get("total_row")
            and "data" not in given
            and not any(column and column.get("formula") for column in given.get("columns", []))
        )
        self.table_cells = _Unkept()  # type: ignore[assignment]  # where xlsxwriter records the cells
        try:
            added = super().add_table(top, left, top + 1 if plain else bottom, right, options)
        finally:
            self.table_cells = ranges
        if added == 0:
            ranges.ranges.append(_Range(top, left, bottom, right, cell_range))
            if plain:  # as add_table sets them for the whole range (no total row)
                table = self.tables[-1]
                table["range"] = table["a_range"] = cell_range
                if table.get("autofilter"):
                    table["autofilter"] = cell_range
                for col in range(left, right + 1):
                    if self.filter_cells.get((top, col), ("",))[0] == "table":
                        self.filter_cells[(top, col)] = ("table", cell_range)
        return added

    def write_block(
        self, first_row: int, columns: Sequence[Column], merges: Sequence[tuple[int, int]] = ()
    ) -> bool:
        """Keeps the columns as a block from `first_row`, column 0 on, merging `merges` on each row.

        Returns False, having written nothing, when the block cannot be laid out here
        exactly as xlsxwriter would lay out its cells.
        """
        width = len(columns)
        rows = len(columns[0][0]) if columns else 0
        last_row = first_row + rows - 1
        if (
            not rows
            or self.constant_memory
            or first_row < 0
            or last_row >= self.xls_rowmax
            or width > self.xls_colmax
            or (self._blocks and first_row <= self._blocks[-1].last_row)
            or any(self.table.get(row) for row in range(first_row, last_row + 1))
            or (merges and self.tables)  # merge_range checks merges against tables cell by cell
        ):
            return False
        if not all(self._plain(values) for values, _ in columns):
            return False
        # Shared strings are numbered in the order written: row by row, left to right.
        number_of = self.str_table._get_shared_string_index
        cells = [
            number_of(value) if value.__class__ is str and value else value
            for row in zip(*(values for values, _ in columns), strict=True)
            for value in row
        ]
        serial = _Serials(self._convert_date_time)
        laid_out = [
            [
                value
                if value.__class__ is int or value.__class__ is float
                else None
                if value.__class__ is str
                else serial(value)
                for value in cells[col::width]
            ]
            for col in range(width)
        ]
        for row in range(first_row, last_row + 1):  # as merge_range records them (rows without cells)
            for first, last in merges:
                cell_range = xl_range(row, first, row, last)
                for col in range(first, last + 1):
                    self.merged_cells[(row, col)] = cell_range
                self.merge.append([row, first, row, last])
        self._check_dimensions(first_row, 0)
        self._check_dimensions(last_row, width - 1)
        self._blocks.append(_Block(first_row, rows, laid_out, [style for _, style in columns]))
        return True

    def _plain(self, values: Sequence[Any]) -> bool:
        """Returns whether xlsxwriter writes each value as it is: no string cut short, no error."""
        kinds = set(map(type, values))
        if int in kinds or bool in kinds:  # not cell values here: xlsxwriter refuses them as dates
            return False
        texts = (
            values if kinds == {str} else [v for v in values if v.__class__ is str] if str in kinds else ()
        )
        numbers = (
            values
            if kinds == {float}
            else [v for v in values if v.__class__ is float]
            if float in kinds
            else ()
        )
        # xlsxwriter cuts strings longer than 32,767 UTF-16 units (it checks only those over half).
        return max(map(len, texts), default=0) <= self.xls_strmax // 2 and all(map(math.isfinite, numbers))

    def _write_rows(self) -> None:
        """Lays out the rows as xlsxwriter does, the blocks' rows included."""
        if not self._blocks:
            super()._write_rows()
            return
        self._calculate_spans()
        for block in self._blocks:  # every block row has cells in columns 1..width
            width = len(block.values)
            for group in range(block.first_row // 16, block.last_row // 16 + 1):
                low, high = 1, width
                if group in self.row_spans:
                    first, last = self.row_spans[group].split(":")
                    low, high = min(low, int(first)), max(high, int(last))
                self.row_spans[group] = f"{low}:{high}"
        xf_indices: dict[int, int] = {}
        blocks = iter(self._blocks)
        block = next(blocks, None)
        row_num = self.dim_rowmin
        while row_num <= self.dim_rowmax:
            if block is not None and row_num == block.first_row:
                self._write_block_rows(block, xf_indices)
                row_num = block.last_row + 1
                block = next(blocks, None)
            else:
                self._write_plain_row(row_num)
                row_num += 1

    def _write_block_rows(self, block: _Block, xf_indices: dict[int, int]) -> None:
        """Lays out a block's rows as xlsxwriter's `_write_row` and `_write_cell` would.

        A format gets its number when first laid out (`_get_xf_index`): the formats are
        asked first in the order of their first cells, row by row, as xlsxwriter asks them.
        """

        def xf_index(cell_format: Format) -> int:
            xf = xf_indices.get(id(cell_format))
            if xf is None:
                xf = xf_indices[id(cell_format)] = cell_format._get_xf_index()
            return xf

        firsts = []
        for col, style in enumerate(block.styles):
            if isinstance(style, Format):
                firsts.append((0, col, style))
                continue
            seen = set()
            for index, cell_format in enumerate(style):
                if id(cell_format) not in seen:
                    seen.add(id(cell_format))
                    firsts.append((index, col, cell_format))
        for _, _, cell_format in sorted(firsts, key=lambda first: first[:2]):
            xf_index(cell_format)
        for row_num in range(block.first_row, block.last_row + 1):
            if self.table.get(row_num) or row_num in self.comments:
                raise RuntimeError(f"Row {row_num} has cells both in a block and written one by one.")
        row_starts: dict[tuple[Any, ...], str] = {}
        for start in range(0, block.rows, _CHUNK):
            stop = min(start + _CHUNK, block.rows)
            excel_rows = range(block.first_row + start + 1, block.first_row + stop + 1)
            laid_out = []
            for letter, values, style in zip(
                _letters(len(block.values)), block.values, block.styles, strict=False
            ):
                if isinstance(style, Format):
                    xfs: Sequence[int] = [xf_index(style)] * (stop - start)
                else:
                    xfs = [xf_indices[id(cell_format)] for cell_format in style[start:stop]]
                laid_out.append(
                    [
                        f'<c r="{letter}{row}" s="{xf}"/>'
                        if value is None
                        else f'<c r="{letter}{row}" s="{xf}" t="s"><v>{value}</v></c>'
                        if value.__class__ is int
                        else f'<c r="{letter}{row}" s="{xf}"><v>{value:.16G}</v></c>'
                        for row, xf, value in zip(excel_rows, xfs, values[start:stop], strict=True)
                    ]
                )
            write = self.fh.write
            for excel_row, cells in zip(excel_rows, zip(*laid_out, strict=True), strict=True):
                write(f"{self._row_start(excel_row - 1, row_starts)}{''.join(cells)}</row>")

    def _row_start(self, row_num: int, known: dict[tuple[Any, ...], str]) -> str:
        """Returns the <row> start tag that xlsxwriter's `_write_row` writes for the row.

        The tag depends on the row's number, spans and row_info (its fields) only:
        `_write_row` writes it once per spans and row_info, for row 1, and the number is put in.
        """
        span, info = self.row_spans.get(row_num // 16), self.row_info.get(row_num)
        key = (span, None if info is None else tuple(vars(info).values()))
        rest = known.get(key)
        if rest is None:
            fh, self.fh = self.fh, io.StringIO()
            try:
                self._write_row(0, span, info)
                tag = self.fh.getvalue()
            finally:
                self.fh = fh
            if not tag.startswith(_FIRST_ROW):
                raise RuntimeError(f"Unexpected row tag from xlsxwriter: {tag!r}")
            rest = known[key] = tag[len(_FIRST_ROW) :]
        return f'<row r="{row_num + 1}"{rest}'

    def _write_plain_row(self, row_num: int) -> None:
        """Lays out one row of cells written one by one: the body of xlsxwriter's `_write_rows`."""
        if not (row_num in self.row_info or row_num in self.comments or self.table[row_num]):
            return
        span = self.row_spans.get(int(row_num / 16))
        if self.table[row_num]:
            if row_num not in self.row_info:
                self._write_row(row_num, span)
            else:
                self._write_row(row_num, span, self.row_info[row_num])
            for col_num in range(self.dim_colmin, self.dim_colmax + 1):
                if col_num in self.table[row_num]:
                    self._write_cell(row_num, col_num, self.table[row_num][col_num])
            self._xml_end_tag("row")
        elif row_num not in self.row_info:
            self._write_empty_row(row_num, span, None)
        else:
            self._write_empty_row(row_num, span, self.row_info[row_num])


class _Serials:
    """Excel serial numbers of dates, as xlsxwriter's `write_datetime` stores them, each made once."""

    def __init__(self, convert: Callable[[Any], float]) -> None:
        self._convert = convert
        self._known: dict[tuple[type, Any], float] = {}

    def __call__(self, value: Any) -> float:
        key = (value.__class__, value)
        number = self._known.get(key)
        if number is None:
            number = self._known[key] = float(self._convert(value))
        return number


@dataclass(frozen=True)
class _Range:
    """A table's cells, rows top..bottom and columns left..right, and the range as text ("A1:O20")."""

    top: int
    left: int
    bottom: int
    right: int
    text: str


def _overlap(one: tuple[int, ...], other: tuple[int, ...]) -> bool:
    """Returns whether two ranges (top, left, bottom, right) share a cell."""
    return one[0] <= other[2] and other[0] <= one[2] and one[1] <= other[3] and other[1] <= one[3]


class _Unkept(dict[tuple[int, int], str]):
    """A mapping that keeps nothing: where xlsxwriter stores a table's cells while adding it."""

    def __setitem__(self, cell: tuple[int, int], text: str) -> None:
        pass


class _TableRanges(dict[tuple[int, int], str]):
    """A BlockWorksheet's `table_cells`: answers for every cell of its tables from their ranges."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[_Range] = []

    def get(self, cell: tuple[int, int], default: Any = None) -> Any:  # type: ignore[override]
        """Returns the range of the table `cell` (row, col) belongs to, else `default`."""
        row, col = cell
        for r in self.ranges:
            if r.top <= row <= r.bottom and r.left <= col <= r.right:
                return r.text
        return super().get(cell, default)


_FIRST_ROW = '<row r="1"'
_CHUNK = 4096  # block rows laid out at a time: bounds the memory of the XML text
_LETTERS: list[str] = []


def _letters(columns: int) -> list[str]:
    while len(_LETTERS) < columns:
        _LETTERS.append(xl_col_to_name(len(_LETTERS)))
    return _LETTERS


def write_columns(
    ws: Worksheet,
    first_row: int,
    columns: Sequence[Column],
    heights: Sequence[float] | None = None,
    rows: Sequence[int] | None = None,
    merges: Sequence[tuple[int, int]] = (),
) -> int:
    """Writes columns of cells from `first_row` down, from column 0; returns the row after them.

    The cells are those of `write_string`, `write_blank` (for "", with the format),
    `write_number` and `write_datetime`, written row by row, left to right. `heights`, when
    given, sets each row's height; `rows`, when given, picks those positions of the columns
    (and of the heights). `merges` are (first, last) columns merged on every row, with
    `merge_range` and the first column's format; the other columns of a merge must be blank
    ("") in that format.
    """
    if rows is not None:
        columns = [
            ([values[i] for i in rows], style if isinstance(style, Format) else [style[i] for i in rows])
            for values, style in columns
        ]
        heights = None if heights is None else [heights[i] for i in rows]
    written = len(columns[0][0]) if columns else 0
    if not (isinstance(ws, BlockWorksheet) and ws.write_block(first_row, columns, merges)):
        _write_cells(ws, first_row, columns, merges)
    if heights is not None:
        for row, height in enumerate(heights, start=first_row):
            ws.set_row(row, height)
    return first_row + written


def _write_cells(
    ws: Worksheet, first_row: int, columns: Sequence[Column], merges: Sequence[tuple[int, int]]
) -> None:
    written = len(columns[0][0]) if columns else 0
    write_string, write_blank = ws.write_string, ws.write_blank
    write_number, write_datetime = ws.write_number, ws.write_datetime
    values = zip(*(cells for cells, _ in columns), strict=True)
    styles = zip(
        *(([style] * written if isinstance(style, Format) else style) for _, style in columns), strict=True
    )
    for row, cells, cell_styles in zip(count(first_row), values, styles):
        for first, last in merges:
            ws.merge_range(row, first, row, last, "", cell_styles[first])
        for col, value, style in zip(count(), cells, cell_styles):
            kind = value.__class__
            if kind is str:
                if value:
                    write_string(row, col, value, style)
                else:
                    write_blank(row, col, None, style)
            elif kind is float:
                write_number(row, col, value, style)
            else:
                write_datetime(row, col, value, style)
