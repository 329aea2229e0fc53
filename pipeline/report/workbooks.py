"""The year's two workbooks for Kommunstyrelsen, laid out with xlsxwriter.

`write_action_plan` writes the consolidated handlingsplan (the flat Åtgärder table, the
responsibility matrix and a print-ready plan in the shape of Bilaga 1); `write_follow_up`
writes the follow-up (key figures with charts, status, förvaltningar, deviations, costs,
all actions and, with a previous year, the changes). Every figure comes from
`pipeline.combine`; this module only lays it out. User text is always written as a
string, never as a formula or link, and the same `Consolidated` gives the same bytes.
Tables are converted to Python lists a column at a time and written with
`TableBook.write_columns` (`pipeline.report.blocks`), which lays out big ones in bulk.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pandas as pd
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline import combine as k
from pipeline import contract as c
from pipeline.adoption import Adoption
from pipeline.combine import ACTION_TABLE_COLUMNS, CHANGE_COLUMNS, DEPARTMENT, TOTAL, Consolidated
from pipeline.config import local_time
from pipeline.files import atomic_path
from pipeline.layout import (
    COLUMN_WIDTHS,
    DEFAULT_ROW_HEIGHT,
    fit_width,
    page_breaks,
    print_scale,
    row_height,
)
from pipeline.report.blocks import Column, TableBook
from pipeline.text import PERCENT_FORMAT, count_phrase, department_label, visible

WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False}

SHEET_MATRIX = "Ansvarsmatris"
SHEET_PLAN = "Handlingsplan"
SHEET_OVERVIEW = "Översikt"
SHEET_STATUS = "Status"
SHEET_DEPARTMENTS = "Förvaltningar"
SHEET_DEVIATIONS = "Avvikelser"
SHEET_COSTS = "Ekonomi"
SHEET_CHANGES = "Förändringar"
SHEET_PROPOSALS = "Förslag"
SHEET_ADOPTION = "Antagande"
SHEET_AGAINST_ADOPTED = "Mot antagen plan"


@dataclass(frozen=True)
class StatusColour:
    """How a status is shown: cell fill and font (traffic lights) and a stronger chart colour."""

    fill: str
    font: str
    chart: str


STATUS_COLOURS = {
    c.NOT_STARTED: StatusColour("#FFEB9C", "#9C5700", "#FFE699"),
    c.IN_PROGRESS: StatusColour("#FFEB9C", "#9C5700", "#FFC000"),
    c.COMPLETED: StatusColour("#C6EFCE", "#006100", "#70AD47"),
    c.DELAYED: StatusColour("#FFC7CE", "#9C0006", "#E0403A"),
    c.CANCELLED: StatusColour("#D9D9D9", "#404040", "#A6A6A6"),
}

OVERDUE = "Klart-datum passerat, ej avslutad"
"""The computed fact (Klart before the as-of date, status neither Genomförd nor Avbruten);
never called "försenad", which is a status the förvaltning reports."""
REPORTED = "Rapporterad status"

# The Åtgärder table has an autofilter button in every header: each column is wide enough
# for its header beside the button and for every value of its dropdown list.
ACTION_TABLE_WIDTHS = {
    name: fit_width([name], width, bold=True, button=True)
    for name, width in {
        DEPARTMENT: 12,
        **COLUMN_WIDTHS,
        c.ACTION_ID: 15,
        c.GOAL: 8,
        c.COST: 12,
        c.FUNDING: fit_width(c.FUNDING_SOURCES),
        c.STATUS: fit_width(c.STATUSES),
    }.items()
}
WRAPPED_ACTION_COLUMNS = frozenset(c.TEXT_ACTION_COLUMNS)
DATE_COLUMNS = frozenset({c.START, c.DONE})
STATUS_COLUMNS = frozenset({c.STATUS, k.BEFORE, k.NOW})


def write_action_plan(
    consolidated: Consolidated, path: Path, *, bulk: bool = True, adoption: Adoption | None = None
) -> Path:
    """Returns `path`, the consolidated handlingsplan written atomically.

    Sheets: Åtgärder (one Excel table, read back next year as last year's actions),
    Ansvarsmatris, Handlingsplan (print-ready, målområde by målområde), Förslag (each
    förvaltning's proposal: ej inlämnad, förslag or beslutad i nämnd) and Berör oss (each
    förvaltning's answers, read back to pre-fill next year's templates). With `adoption` it is
    the adopted version: a first sheet Antagande with KS's decision, which the document
    properties also carry. `bulk=False` writes every cell through xlsxwriter (see
    `pipeline.report.blocks`): the same bytes.
    """
    title = f"Handlingsplan {consolidated.year}"
    if adoption is not None:
        title = f"{title}, antagen {adoption.decision.text}"
    with atomic_path(path) as tmp, _new_book(tmp, consolidated, title, bulk) as book:
        workbook = book.workbook
        fmt = _Formats(workbook)
        if adoption is not None:
            _adoption_sheet(workbook.add_worksheet(SHEET_ADOPTION), book, fmt, consolidated, adoption)
            _adoption_properties(workbook, adoption)
        table = _ActionLists(consolidated.actions)
        _actions_sheet(workbook.add_worksheet(c.SHEET_ACTIONS), book, fmt, consolidated, table)
        _matrix_sheet(workbook.add_worksheet(SHEET_MATRIX), book, fmt, consolidated)
        _plan_sheet(workbook.add_worksheet(SHEET_PLAN), book, fmt, consolidated, table)
        _proposals_sheet(workbook.add_worksheet(SHEET_PROPOSALS), book, fmt, consolidated)
        _concerns_sheet(workbook.add_worksheet(k.CONCERNS_SHEET), book, fmt, consolidated)
    return path


# Handlingsplan: the förvaltningar's proposals, and KS's adoption.

PROPOSAL_HEADERS = ("Kod", DEPARTMENT, "Läge", "Fil", "Mottagen")
PROPOSAL_WIDTHS = (8, 40, 36, 36, 18)


def _proposal_rows(consolidated: Consolidated) -> list[tuple[str, ...]]:
    return [(d.code, d.name, d.state, d.file or "", local_time(d.received)) for d in consolidated.departments]


def _proposals_sheet(ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated) -> None:
    _set_widths(ws, PROPOSAL_WIDTHS)
    ws.hide_gridlines(2)
    ws.write_string(0, 0, f"Förvaltningarnas förslag till handlingsplan {consolidated.year}", fmt.title)
    ws.set_row(0, 24)
    decided = sum(1 for d in consolidated.departments if d.decided)
    note = (
        f"{decided} av {len(consolidated.departments)} nämnder har beslutat sitt förslag. Läget är "
        "ej inlämnad, förslag (inte beslutat i nämnd) eller beslutad i nämnd med datum och paragraf."
    )
    _merged_text(ws, 1, 0, len(PROPOSAL_WIDTHS) - 1, note, fmt.subtitle_wrap)
    ws.set_row(1, row_height([(note, sum(PROPOSAL_WIDTHS))]))
    _section(
        ws,
        book,
        fmt,
        3,
        "Förslag per förvaltning",
        [_Column(h) for h in PROPOSAL_HEADERS],
        _proposal_rows(consolidated),
        PROPOSAL_WIDTHS,
    )
    _print_setup(ws, consolidated, repeat_row=4)  # the table's header row, on every page


def _adoption_sheet(
    ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated, adoption: Adoption
) -> None:
    _set_widths(ws, PROPOSAL_WIDTHS)
    ws.hide_gridlines(2)
    last = len(PROPOSAL_WIDTHS) - 1
    place = consolidated.plan.municipality or consolidated.plan.name
    ws.write_string(0, 0, f"Handlingsplan {consolidated.year} – {place}", fmt.title)
    ws.set_row(0, 24)
    lines = [
        f"Antagen av Kommunstyrelsen: {adoption.decision.text}.",
        f"Förvaltningarnas förslag sammanställda per {adoption.as_of.isoformat()}, enligt {consolidated.plan.name} "
        f"({consolidated.plan.adopted}).",
        adoption.note(),
    ]
    row = 2
    for number, line in enumerate(lines):
        # The decision first and as a heading: it is what the diarium files the document under.
        _merged_text(ws, row, 0, last, line, fmt.heading if number == 0 else fmt.subtitle_wrap)
        ws.set_row(row, 20 if number == 0 else row_height([(line, sum(PROPOSAL_WIDTHS))]))
        row += 1
    _section(
        ws,
        book,
        fmt,
        row + 1,
        "Förslagen som antogs",
        [_Column(h) for h in PROPOSAL_HEADERS],
        _proposal_rows(consolidated),
        PROPOSAL_WIDTHS,
    )
    _print_setup(ws, consolidated)


def _adoption_properties(workbook: Workbook, adoption: Adoption) -> None:
    """The decision in the document's own properties, where a diarium's import reads it."""
    workbook.set_custom_property("handlingsplan_beslut", adoption.decision.text)
    workbook.set_custom_property("handlingsplan_beslutsdatum", adoption.decision.date.isoformat())
    workbook.set_custom_property("handlingsplan_ar", str(adoption.year))


def write_follow_up(consolidated: Consolidated, path: Path, *, bulk: bool = True) -> Path:
    """Returns `path`, the follow-up workbook written atomically.

    Sheets: Översikt (key figures and charts), Status, Förvaltningar, Avvikelser, Ekonomi,
    Åtgärder and, when there is a previous year to compare with, Förändringar. `bulk=False`
    writes every cell through xlsxwriter (see `pipeline.report.blocks`): the same bytes.
    """
    title = f"Uppföljning av handlingsplanen {consolidated.year}"
    # Sheets: … and, once KS has adopted the plan, Mot antagen plan.
    with atomic_path(path) as tmp, _new_book(tmp, consolidated, title, bulk) as book:
        workbook = book.workbook
        fmt = _Formats(workbook)
        overview = workbook.add_worksheet(SHEET_OVERVIEW)
        status = workbook.add_worksheet(SHEET_STATUS)
        ranges = _status_sheet(status, fmt, consolidated)
        _overview_sheet(overview, workbook, fmt, consolidated, ranges)
        _departments_sheet(workbook.add_worksheet(SHEET_DEPARTMENTS), book, fmt, consolidated)
        _deviations_sheet(workbook.add_worksheet(SHEET_DEVIATIONS), book, fmt, consolidated)
        _costs_sheet(workbook.add_worksheet(SHEET_COSTS), fmt, consolidated)
        actions = _ActionLists(consolidated.actions)
        _actions_sheet(workbook.add_worksheet(c.SHEET_ACTIONS), book, fmt, consolidated, actions)
        if consolidated.changes is not None:
            changes = workbook.add_worksheet(SHEET_CHANGES)
            _changes_sheet(changes, book, fmt, consolidated, consolidated.changes)
        if consolidated.adopted is not None:
            against = workbook.add_worksheet(SHEET_AGAINST_ADOPTED)
            _against_adopted_sheet(against, book, fmt, consolidated, consolidated.adopted)
    return path


# Workbook, formats and small helpers.


def _new_book(path: Path, consolidated: Consolidated, title: str, bulk: bool) -> TableBook:
    book = TableBook(path, WORKBOOK_OPTIONS, bulk=bulk)
    book.workbook.set_properties(
        {
            "title": f"{title} – {consolidated.plan.municipality}".rstrip(" –"),
            "subject": consolidated.plan.name,
            "author": "Kommunstyrelsen",
            "company": consolidated.plan.municipality,
            # Fixed per as_of: the same consolidated gives byte-identical files.
            "created": dt.datetime.combine(consolidated.as_of, dt.time()),
        }
    )
    return book


class _Formats:
    """The workbook's cell formats, made once per workbook."""

    def __init__(self, wb: Workbook) -> None:
        base = {"font_name": "Calibri", "font_size": 11, "valign": "top"}
        cell = {**base, "border": 1, "border_color": "#BFBFBF"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F3864"})
        self.subtitle = wb.add_format({**base, "italic": True, "font_color": "#404040"})
        self.subtitle_wrap = wb.add_format(
            {**base, "italic": True, "font_color": "#404040", "text_wrap": True}
        )
        self.heading = wb.add_format({**base, "bold": True, "font_size": 13, "font_color": "#1F3864"})
        self.area = wb.add_format(
            {**base, "bold": True, "font_size": 12, "font_color": "#1F3864", "bg_color": "#DDEBF7"}
        )
        self.area_row = wb.add_format({**cell, "bold": True, "bg_color": "#DDEBF7", "text_wrap": True})
        self.goal = wb.add_format(
            {**base, "bold": True, "italic": True, "text_wrap": True, "valign": "bottom"}
        )
        self.note = wb.add_format({**base, "italic": True, "font_color": "#7F7F7F", "text_wrap": True})
        self.header = wb.add_format(
            {**cell, "bold": True, "text_wrap": True, "bg_color": "#1F3864", "font_color": "#FFFFFF"}
        )
        self.text = wb.add_format(cell)
        self.wrap = wb.add_format({**cell, "text_wrap": True})
        self.label = wb.add_format({**cell, "bold": True, "text_wrap": True})
        self.date = wb.add_format({**cell, "num_format": "yyyy-mm-dd", "align": "left"})
        self.money = wb.add_format({**cell, "num_format": "#,##0"})
        self.money_total = wb.add_format({**cell, "num_format": "#,##0", "bold": True, "bg_color": "#F2F2F2"})
        self.integer = wb.add_format({**cell, "num_format": "0"})
        self.integer_total = wb.add_format({**cell, "num_format": "0", "bold": True, "bg_color": "#F2F2F2"})
        self.total_label = wb.add_format({**cell, "bold": True, "bg_color": "#F2F2F2"})
        self.percent = wb.add_format({**cell, "num_format": PERCENT_FORMAT})
        self.center = wb.add_format({**cell, "align": "center"})
        self.has_actions = wb.add_format({**cell, "align": "center", "bg_color": "#C6EFCE"})
        self.marked_only = wb.add_format({**cell, "align": "center", "bg_color": "#FFEB9C"})
        self.status = {
            s: wb.add_format({**cell, "bg_color": v.fill, "font_color": v.font})
            for s, v in STATUS_COLOURS.items()
        }
        self.status_header = {
            s: wb.add_format(
                {**cell, "bold": True, "text_wrap": True, "bg_color": v.fill, "font_color": v.font}
            )
            for s, v in STATUS_COLOURS.items()
        }

    def for_status(self, status: Any) -> Format:
        """Returns the traffic-light cell format of a status, plain text for anything else."""
        return self.status.get(status, self.text)

    def for_status_header(self, status: Any) -> Format:
        """Returns the header format of a status column (traffic-light), else the plain header."""
        return self.status_header.get(status, self.header)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT or value == ""


CELL_LIMIT = 32_767
"""The most characters a cell holds (Excel's limit; xlsxwriter cuts a longer string silently)."""
CUT_MARKER = "… (texten är kortad)"
"""Ends a text cut to CELL_LIMIT, so that a reader sees it is not whole."""


def cell_text(text: str) -> str:
    """Returns `text` as a cell shows it: control, bidi and zero-width characters written
    visibly (`pipeline.text.visible`; line breaks and tabs kept), and cut to CELL_LIMIT
    characters, ending with CUT_MARKER, when longer. Every text cell of the reports passes
    here (`_text`, `_texts`)."""
    # Free text often has line breaks, which `visible` keeps but then checks character by
    # character: a text printable but for them is left as it is, at C speed.
    plain = text.isprintable() or text.replace("\n", " ").replace("\t", " ").isprintable()
    shown = text if plain else visible(text, line_breaks=True)
    if len(shown) > CELL_LIMIT:
        return shown[: CELL_LIMIT - len(CUT_MARKER)] + CUT_MARKER
    return shown


def _text(value: Any) -> str:
    """Returns a value as the text a user sees: "" for empty, else str(), as `cell_text` shows it."""
    if _is_empty(value):
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return cell_text(str(value))


def _cell_date(value: dt.date) -> dt.date:
    """Returns what a date cell is written from: a date, or a datetime (no time zone) with a time.

    A datetime at midnight becomes its date: xlsxwriter writes datetime(1900, 1, 1) as the
    time 00:00 (serial 0), which reads back as no date at all; the date 1900-01-01 it writes
    as day 1. Every other day has the same serial either way.
    """
    if isinstance(value, dt.datetime):
        plain = value.replace(tzinfo=None)
        return plain.date() if plain.time() == dt.time() else plain
    return value


def _write_text(ws: Worksheet, row: int, col: int, value: Any, style: Format) -> None:
    """Writes user text as a plain string (never a formula or link); blank when empty."""
    text = _text(value)
    if text:
        ws.write_string(row, col, text, style)
    else:
        ws.write_blank(row, col, None, style)


NOT_SUMMABLE = "Kan inte summeras"
"""Shown for a sum too large for a number (see `pipeline.combine.cost_sum`)."""


def _write_amount(ws: Worksheet, row: int, col: int, value: float, style: Format) -> None:
    """Writes a number; a sum that is not finite (NaN, inf: too large) as NOT_SUMMABLE, which no
    workbook could hold as a number."""
    if math.isfinite(value):
        ws.write_number(row, col, value, style)
    else:
        ws.write_string(row, col, NOT_SUMMABLE, style)


def _header_text(text: str) -> str:
    """Returns text safe for an Excel page header or footer (a literal & is written &&)."""
    return text.replace("&", "&&")


def _print_setup(
    ws: Worksheet,
    consolidated: Consolidated,
    repeat_row: int | None = None,
    *,
    breaks: Sequence[int] = (),
) -> None:
    """Sets A4 landscape, header and footer; the sheet fits the page's width.

    `breaks` are rows that start a page (see `pipeline.layout.page_breaks`); LibreOffice
    keeps them on a sheet fitted to the page's width.
    """
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
    ws.fit_to_pages(1, 0)
    if breaks:
        ws.set_h_pagebreaks(list(breaks[:1023]))  # Excel's limit of manual breaks
    place = _header_text(consolidated.plan.municipality or consolidated.plan.name)
    ws.set_header(f'&L&"Calibri,Bold"&A&R{place} – handlingsplan {consolidated.year}')
    ws.set_footer(f"&LLäget per {consolidated.as_of.isoformat()}&RSida &P av &N")
    if repeat_row is not None:
        ws.repeat_rows(repeat_row)


def _set_widths(ws: Worksheet, widths: Sequence[float]) -> None:
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)


def _merged_text(ws: Worksheet, row: int, first: int, last: int, text: str, style: Format) -> None:
    """Writes text across columns first..last as a plain string (merge_range would guess the type)."""
    if last > first:
        ws.merge_range(row, first, row, last, "", style)
    _write_text(ws, row, first, text, style)


def _status_counts(consolidated: Consolidated) -> tuple[pd.DataFrame, pd.DataFrame]:
    return k.status_by_area(consolidated), k.status_by_department(consolidated)


# Cells in bulk: columns converted to Python lists once, written with `TableBook.write_columns`.


def _texts(values: Sequence[Any]) -> list[str]:
    """Returns `_text` of every value.

    Strings, the common case, of printable characters within CELL_LIMIT pass through as
    they are (`str.isprintable` runs in C): `cell_text` changes no other.
    """
    return [
        value
        if value.__class__ is str and value.isprintable() and len(value) <= CELL_LIMIT
        else cell_text(value)
        if value.__class__ is str
        else _text(value)
        for value in values
    ]


def _date_cells(values: Sequence[Any]) -> list[Any]:
    """Returns each value as a date cell shows it: a datetime (no time zone), else its text."""
    return [
        _cell_date(value) if isinstance(value, dt.date) and not _is_empty(value) else _text(value)
        for value in values
    ]


def _number_cells(values: Sequence[Any]) -> list[Any]:
    """Returns each value as an amount cell shows it: a finite float, else its text ("" for NaN).

    A number that is not finite (inf) is no amount and shows as an empty cell: no workbook
    can hold it.
    """
    return [
        float(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else ""
        if isinstance(value, int | float)
        else _text(value)
        for value in values
    ]


def _row_heights(rows: int, columns: Sequence[tuple[Sequence[str], float]]) -> list[float]:
    """Returns, per row, `row_height` of the row's (text, column width) pairs.

    A row's height is the largest of its cells' heights, and a one-line cell's height
    depends only on its length, so heights are looked up by length: `row_height` itself
    is called once per length and width (and for each text with a line break).
    """
    if not columns:
        return [row_height([])] * rows
    per_column = []
    for texts, width in columns:
        known: dict[int | str, float] = {}
        heights = []
        for text in texts:
            key: int | str = text if "\n" in text else len(text)
            height = known.get(key)
            if height is None:
                height = known[key] = row_height([(text, width)])
            heights.append(height)
        per_column.append(heights)
    return [max(cells) for cells in zip(*per_column, strict=True)]


class _ActionLists:
    """The action table's columns as Python lists, converted once per workbook (not per cell)."""

    def __init__(self, actions: pd.DataFrame) -> None:
        self.rows = len(actions)
        self._values = {name: actions[name].tolist() for name in actions.columns}
        self._texts: dict[str, list[str]] = {}

    def values(self, name: str) -> list[Any]:
        """Returns a column's values (None for a column the table lacks)."""
        return self._values[name] if name in self._values else [None] * self.rows

    def texts(self, name: str) -> list[str]:
        """Returns a column's values as the text a user sees ("" for empty)."""
        if name not in self._texts:
            self._texts[name] = _texts(self.values(name))
        return self._texts[name]


# The Åtgärder table: the same in both workbooks, and read back next year.


def _actions_sheet(
    ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated, table: _ActionLists
) -> None:
    columns = ACTION_TABLE_COLUMNS
    widths = [ACTION_TABLE_WIDTHS[name] for name in columns]
    _set_widths(ws, widths)
    last_row = max(table.rows, 1)
    book.add_table(
        ws,
        0,
        0,
        last_row,
        len(columns) - 1,
        {
            "name": "Atgarder",
            "style": "Table Style Medium 2",
            "autofilter": True,
            "columns": [{"header": name, "header_format": fmt.header} for name in columns],
        },
    )
    ws.set_row(0, 32)
    heights = _row_heights(
        table.rows,
        [(table.texts(n), ACTION_TABLE_WIDTHS[n]) for n in columns if n in WRAPPED_ACTION_COLUMNS],
    )
    book.write_columns(ws, 1, [_action_column(fmt, table, name) for name in columns], heights)
    ws.freeze_panes(1, 2)
    _print_setup(ws, consolidated, repeat_row=0)


def _action_column(fmt: _Formats, table: _ActionLists, name: str) -> Column:
    """Returns an Åtgärder column's cells and format(s): dates, amounts and traffic lights typed."""
    if name in DATE_COLUMNS:
        return _date_cells(table.values(name)), fmt.date
    if name == c.COST:
        return _number_cells(table.values(name)), fmt.money
    if name == c.STATUS:
        return table.texts(name), [fmt.for_status(value) for value in table.values(name)]
    return table.texts(name), fmt.wrap if name in WRAPPED_ACTION_COLUMNS else fmt.text


def _concerns_sheet(ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated) -> None:
    columns = (k.DEPARTMENT, c.GOAL_ID, c.CONCERNS_US)
    _set_widths(ws, [14, 10, 12])
    for col, name in enumerate(columns):
        ws.write_string(0, col, name, fmt.header)
    concerns = consolidated.concerns
    book.write_columns(
        ws, 1, [(_texts(concerns.iloc[:, col].tolist()), fmt.text) for col in range(concerns.shape[1])]
    )
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(consolidated.concerns), 1), len(columns) - 1)
    _print_setup(ws, consolidated, repeat_row=0)


# Ansvarsmatris.


def matrix_cell(concerns_us: str | None, actions: int) -> str:
    """Returns a responsibility matrix cell: "Ja · 2", "Ja · 0", "Nej", "– · 1" or "" for nothing."""
    if actions == 0 and concerns_us is None:
        return ""
    if actions == 0 and concerns_us == c.NO:
        return c.NO
    return f"{concerns_us or '–'} · {actions}"


DROPPED_GOAL_TEXT = "Finns inte längre i planen."
"""The text beside a delmål id that actions name but the plan no longer has."""

MATRIX_LEGEND = (
    "Ja/Nej = förvaltningens svar i kolumnen Berör oss, – = inget svar; siffran efter · = antal "
    "åtgärder. Grönt = förvaltningen har åtgärder för delmålet, gult = markerat Ja men ingen åtgärd. "
    "Tom ruta = inget svar och ingen åtgärd."
)


def _matrix_sheet(ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated) -> None:
    codes = list(consolidated.plan.department_codes)
    widths = [8, 60, *[10] * len(codes), 9]
    _set_widths(ws, widths)
    last_col = len(widths) - 1
    ws.write_string(0, 0, f"Ansvarsmatris {consolidated.year} – delmål och förvaltningar", fmt.title)
    ws.set_row(0, 24)
    ws.set_row(1, row_height([(MATRIX_LEGEND, sum(widths))]))
    _merged_text(ws, 1, 0, last_col, MATRIX_LEGEND, fmt.subtitle_wrap)
    header_row = 3
    for col, name in enumerate([c.GOAL_ID, c.GOAL_TEXT, *codes, TOTAL]):
        ws.write_string(header_row, col, name, fmt.header)
    matrix = k.responsibility_matrix(consolidated)
    position = {code: i for i, code in enumerate(matrix.columns)}
    order = [position[code] for code in codes]
    by_goal = dict(zip(matrix.index, matrix.to_numpy().tolist(), strict=True))
    pages = _Pages({0: 24.0, 1: row_height([(MATRIX_LEGEND, sum(widths))])})
    row = header_row + 1
    groups = [(area.label, [(g.id, g.text) for g in area.goals]) for area in consolidated.plan.goal_areas]
    dropped = k.dropped_goals(consolidated)
    if dropped:  # last, so each förvaltning's column adds up to its Totalt
        groups.append((k.DROPPED_GOALS, [(goal_id, DROPPED_GOAL_TEXT) for goal_id in dropped]))
    for label, goals in groups:
        _merged_text(ws, row, 0, last_col, label, fmt.area_row)
        pages.set(row, DEFAULT_ROW_HEIGHT, keep=min(2, len(goals)))
        row += 1
        rows: list[list[Any]] = []
        styles: list[list[Format]] = []
        for goal_id, goal_text in goals:
            cells = [by_goal[goal_id][i] for i in order]
            rows.append(
                [
                    goal_id,
                    _text(goal_text),
                    *(matrix_cell(concerns_us, count) for concerns_us, count in cells),
                    float(sum(count for _, count in cells)),
                ]
            )
            styles.append(
                [
                    fmt.text,
                    fmt.wrap,
                    *(
                        fmt.has_actions if count else fmt.marked_only if concerns_us == c.YES else fmt.center
                        for concerns_us, count in cells
                    ),
                    fmt.integer_total,
                ]
            )
        if rows:
            heights = [row_height([(goal_text, widths[1])]) for _, goal_text in goals]
            for offset, height in enumerate(heights):
                pages.set(row + offset, height)
            columns = list(zip(zip(*rows, strict=True), zip(*styles, strict=True), strict=True))
            row = book.write_columns(ws, row, columns, heights)
    ws.write_string(row, 0, TOTAL, fmt.total_label)
    ws.write_blank(row, 1, None, fmt.total_label)
    counts = consolidated.actions[DEPARTMENT].value_counts()
    for col, code in enumerate(codes, start=2):
        ws.write_number(row, col, int(counts.get(code, 0)), fmt.integer_total)
    ws.write_number(row, last_col, len(consolidated.actions), fmt.integer_total)
    ws.freeze_panes(header_row + 1, 2)
    breaks = pages.breaks(row + 1, repeat_row=header_row, widths=widths)
    _print_setup(ws, consolidated, repeat_row=header_row, breaks=breaks)


# Handlingsplan, print-ready in the shape of Bilaga 1.

PLAN_COLUMNS = (
    (c.ACTION, 46),
    (DEPARTMENT, 22),
    (c.OWNER, 20),
    ("Tidplan", 23),
    (c.STATUS, 12),
    (c.ACTION_ID, 15),
)


def schedule(start: Any, done: Any) -> str:
    """Returns an action's time plan as "2027-01-15 – 2027-12-31" (one side may be missing)."""
    first, last = _text(start), _text(done)
    if first and last:
        return f"{first} – {last}"
    if first:
        return f"från {first}"
    return f"senast {last}" if last else ""


def _plan_sheet(
    ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated, table: _ActionLists
) -> None:
    widths = [w for _, w in PLAN_COLUMNS]
    total_width = sum(widths)
    last_col = len(widths) - 1
    _set_widths(ws, widths)
    ws.hide_gridlines(2)
    place = consolidated.plan.municipality or consolidated.plan.name
    ws.write_string(0, 0, f"Handlingsplan {consolidated.year} – {place}", fmt.title)
    ws.set_row(0, 24)
    intro = (
        f"Förvaltningarnas åtgärder för {consolidated.plan.name}, sammanställda av Kommunstyrelsen. "
        f"Läget per {consolidated.as_of.isoformat()}."
    )
    _merged_text(ws, 1, 0, last_col, intro, fmt.subtitle_wrap)
    ws.set_row(1, row_height([(intro, total_width)]))
    header_row = 3
    for col, (name, _) in enumerate(PLAN_COLUMNS):
        ws.write_string(header_row, col, name, fmt.header)
    columns = _plan_columns(fmt, consolidated, table)
    heights = _row_heights(table.rows, [(texts, w) for (texts, _), w in zip(columns, widths, strict=True)])
    by_goal: dict[str, list[int]] = {}
    for index, goal_id in enumerate(table.values(c.GOAL)):
        by_goal.setdefault(k.goal_key(goal_id), []).append(index)
    pages = _Pages({0: 24.0, 1: row_height([(intro, total_width)])})
    row = header_row + 1
    for area in consolidated.plan.goal_areas:
        row += 1
        _merged_text(ws, row, 0, last_col, area.label, fmt.area)
        ws.set_row(row, 20)
        pages.set(row, 20, keep=2)  # with its first delmål and that delmål's first row
        row += 1
        for goal in area.goals:
            text = f"{goal.id} {goal.text}"
            _merged_text(ws, row, 0, last_col, text, fmt.goal)
            goal_height = row_height([(text, total_width)]) + 6  # a little air above
            ws.set_row(row, goal_height)
            pages.set(row, goal_height, keep=1)
            row += 1
            actions = by_goal.get(goal.id)
            if not actions:
                ws.write_string(row, 0, "Inga åtgärder.", fmt.note)
                row += 1
                continue
            for offset, index in enumerate(actions):
                pages.set(row + offset, heights[index])
            row = book.write_columns(ws, row, columns, heights, rows=actions)
    dropped = k.dropped_goals(consolidated)
    if dropped:  # a revised plan dropped their delmål: shown last, never left out
        row += 1
        _merged_text(ws, row, 0, last_col, k.DROPPED_GOALS, fmt.area)
        ws.set_row(row, 20)
        pages.set(row, 20, keep=2)
        row += 1
        warning = k.dropped_goals_warning(consolidated)
        _merged_text(ws, row, 0, last_col, warning, fmt.note)
        warning_height = row_height([(warning, total_width)])
        ws.set_row(row, warning_height)
        pages.set(row, warning_height, keep=1)
        row += 1
        for goal_id in dropped:
            text = f"{goal_id} {DROPPED_GOAL_TEXT}" if goal_id else "Inget delmål angivet."
            _merged_text(ws, row, 0, last_col, text, fmt.goal)
            goal_height = row_height([(text, total_width)]) + 6
            ws.set_row(row, goal_height)
            pages.set(row, goal_height, keep=1)
            row += 1
            actions = by_goal[goal_id]
            for offset, index in enumerate(actions):
                pages.set(row + offset, heights[index])
            row = book.write_columns(ws, row, columns, heights, rows=actions)
    ws.freeze_panes(header_row + 1, 0)
    breaks = pages.breaks(row, repeat_row=header_row, widths=widths)
    _print_setup(ws, consolidated, repeat_row=header_row, breaks=breaks)


class _Pages:
    """A sheet's row heights as written and the rows kept with the rows after them, for page breaks."""

    def __init__(self, heights: dict[int, float] | None = None) -> None:
        self.heights: dict[int, float] = dict(heights or {})
        self.keep: dict[int, int] = {}

    def set(self, row: int, height: float, keep: int = 0) -> None:
        """Records a row's height; `keep`: how many rows after it must print on its page."""
        self.heights[row] = height
        if keep:
            self.keep[row] = keep

    def breaks(self, rows: int, repeat_row: int | None, widths: Sequence[float]) -> list[int]:
        """Returns the rows before which a page starts, for rows 0..rows-1 at the scale of `widths`."""
        heights = [self.heights.get(row, DEFAULT_ROW_HEIGHT) for row in range(rows)]
        repeat = heights[repeat_row] if repeat_row is not None and repeat_row < rows else 0.0
        return page_breaks(heights, self.keep, scale=print_scale(widths), repeat=repeat)


def _plan_columns(fmt: _Formats, consolidated: Consolidated, table: _ActionLists) -> list[Column]:
    """Returns the print view's columns for every action (PLAN_COLUMNS), all text."""
    names = {d.code: d.name for d in consolidated.plan.departments}
    statuses = table.texts(c.STATUS)
    return [
        (table.texts(c.ACTION), fmt.wrap),
        ([names.get(code, code) for code in table.texts(DEPARTMENT)], fmt.wrap),
        (table.texts(c.OWNER), fmt.wrap),
        (
            [schedule(s, d) for s, d in zip(table.values(c.START), table.values(c.DONE), strict=True)],
            fmt.wrap,
        ),
        (statuses, [fmt.for_status(status) for status in statuses]),
        (table.texts(c.ACTION_ID), fmt.wrap),
    ]


# Follow-up: Status, with the ranges the overview's charts draw from.


@dataclass(frozen=True)
class _ChartRanges:
    """Where the status counts stand on the Status sheet (0-based rows, inclusive)."""

    area_rows: tuple[int, int]
    department_rows: tuple[int, int]
    first_status_col: int
    area_max: int
    department_max: int


def _status_sheet(ws: Worksheet, fmt: _Formats, consolidated: Consolidated) -> _ChartRanges:
    by_area, by_department = _status_counts(consolidated)
    _set_widths(ws, [46, *[12] * len(c.STATUSES), 10, 44])
    ws.write_string(0, 0, f"Åtgärdernas status {consolidated.year}", fmt.title)
    ws.set_row(0, 24)
    ws.write_string(1, 0, f"Läget per {consolidated.as_of.isoformat()}", fmt.subtitle)
    area_rows = _count_table(ws, fmt, 3, f"Åtgärder per målområde och {REPORTED.lower()}", k.AREA, by_area)
    names = {d.code: d.name for d in consolidated.plan.departments}
    start = area_rows[1] + 4
    department_rows = _count_table(
        ws, fmt, start, f"Åtgärder per förvaltning och {REPORTED.lower()}", DEPARTMENT, by_department, names
    )
    ws.freeze_panes(0, 1)
    _print_setup(ws, consolidated)
    return _ChartRanges(
        area_rows=(area_rows[0], area_rows[1] - 1),
        department_rows=(department_rows[0], department_rows[1] - 1),
        first_status_col=1,
        area_max=int(by_area[TOTAL].drop(TOTAL).max()) if len(by_area) > 1 else 0,
        department_max=int(by_department[TOTAL].drop(TOTAL).max()) if len(by_department) > 1 else 0,
    )


def _count_table(
    ws: Worksheet,
    fmt: _Formats,
    row: int,
    heading: str,
    first_header: str,
    counts: pd.DataFrame,
    names: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Writes a count table with totals; returns (first data row, TOTAL row).

    The first column holds the index (short, as the charts' categories); `names`, when
    given, adds a column with each row's full name after the totals.
    """
    ws.write_string(row, 0, heading, fmt.heading)
    row += 1
    ws.write_string(row, 0, first_header, fmt.header)
    for col, name in enumerate(counts.columns, start=1):
        ws.write_string(row, col, str(name), fmt.for_status_header(name))
    name_col = len(counts.columns) + 1
    if names is not None:
        ws.write_string(row, name_col, "Namn", fmt.header)
    ws.set_row(row, 30)
    first = row + 1
    rows = counts.to_numpy().tolist()
    for current, label, values in zip(count(first), counts.index, rows, strict=False):
        is_total = label == TOTAL
        ws.write_string(current, 0, str(label), fmt.total_label if is_total else fmt.text)
        if names is not None:
            _write_text(
                ws, current, name_col, names.get(str(label), ""), fmt.total_label if is_total else fmt.text
            )
        for col, (name, value) in enumerate(zip(counts.columns, values, strict=True), start=1):
            style = fmt.integer_total if is_total or name == TOTAL else fmt.integer
            ws.write_number(current, col, int(value), style)
    return first, first + len(counts) - 1


# Follow-up: Översikt.


def _overview_sheet(
    ws: Worksheet, wb: Workbook, fmt: _Formats, consolidated: Consolidated, ranges: _ChartRanges
) -> None:
    figures = k.figures(consolidated)
    reported_delayed = int(k.status_by_area(consolidated)[c.DELAYED].loc[TOTAL])
    _set_widths(ws, [40, 16])
    ws.hide_gridlines(2)
    ws.write_string(0, 0, f"Uppföljning av handlingsplanen {consolidated.year}", fmt.title)
    ws.set_row(0, 24)
    ws.write_string(1, 0, f"Läget per {consolidated.as_of.isoformat()}", fmt.subtitle)
    ws.write_string(3, 0, "Nyckeltal", fmt.header)
    ws.write_string(3, 1, "Värde", fmt.header)
    rows: list[tuple[str, Any, Format]] = [
        (
            "Förvaltningar som lämnat in",
            f"{figures.departments_submitted} av {figures.departments_total}",
            fmt.text,
        ),
        ("Åtgärder", figures.actions, fmt.integer),
        (f"Andel med {REPORTED.lower()} {c.COMPLETED}", figures.completed_share, fmt.percent),
        (f"{REPORTED} {c.DELAYED}", reported_delayed, fmt.integer),
        (OVERDUE, figures.overdue, fmt.integer),
        ("Delmål utan åtgärd", figures.goals_without_action, fmt.integer),
        ("Total kostnad (kr)", figures.total_cost, fmt.money),
    ]
    for row, (label, value, style) in enumerate(rows, start=4):
        ws.write_string(row, 0, label, fmt.label)
        if isinstance(value, str):
            ws.write_string(row, 1, value, style)
        else:
            _write_amount(ws, row, 1, value, style)
    note = "Detaljer i bladen Status, Förvaltningar, Avvikelser och Ekonomi."
    ws.write_string(4 + len(rows) + 1, 0, note, fmt.subtitle)
    chart_row = 4 + len(rows) + 3
    area_chart = _status_chart(
        wb,
        f"Åtgärder per målområde och {REPORTED.lower()}",
        "Målområde",
        ranges.area_rows,
        ranges.area_max,
    )
    department_chart = _status_chart(
        wb,
        f"Åtgärder per förvaltning och {REPORTED.lower()}",
        "Förvaltning",
        ranges.department_rows,
        ranges.department_max,
    )
    by_area, by_department = _status_counts(consolidated)
    # Alternative text: what a screen reader says instead of the picture, numbers included.
    area_text = chart_description(f"Åtgärder per målområde och {REPORTED.lower()}", by_area)
    department_text = chart_description(f"Åtgärder per förvaltning och {REPORTED.lower()}", by_department)
    ws.insert_chart(chart_row, 0, area_chart, {"x_offset": 5, "y_offset": 5, "description": area_text})
    second_row = chart_row + 22
    ws.insert_chart(
        second_row, 0, department_chart, {"x_offset": 5, "y_offset": 5, "description": department_text}
    )
    _print_setup(ws, consolidated, breaks=[second_row])


def chart_description(title: str, counts: pd.DataFrame) -> str:
    """Returns a status chart's alternative text: what it shows and each bar's numbers, e.g.
    "Stapeldiagram: … 1 Arbete och introduktion: 4 åtgärder (Pågår 3, Genomförd 1). …"."""
    bars = []
    for label, row in counts.drop(index=TOTAL, errors="ignore").iterrows():
        total = int(row.get(TOTAL, row.sum()))
        parts = ", ".join(f"{status} {int(row[status])}" for status in c.STATUSES if int(row.get(status, 0)))
        bars.append(
            f"{label}: {count_phrase(total, 'åtgärd', 'åtgärder')}" + (f" ({parts})" if parts else "")
        )
    return (
        f"Staplat stapeldiagram, {title.lower()}. " + ". ".join(bars) + ". Siffrorna finns i bladet Status."
    )


def _status_chart(wb: Workbook, title: str, axis: str, rows: tuple[int, int], highest: int) -> Any:
    chart = wb.add_chart({"type": "column", "subtype": "stacked"})
    first, last = rows
    for offset, status in enumerate(c.STATUSES):
        col = 1 + offset
        colour = STATUS_COLOURS[status]
        chart.add_series(
            {
                "name": [SHEET_STATUS, first - 1, col],
                "categories": [SHEET_STATUS, first, 0, last, 0],
                "values": [SHEET_STATUS, first, col, last, col],
                "fill": {"color": colour.chart},
                "border": {"color": "#FFFFFF", "width": 0.75},
                "gap": 60,
            }
        )
    chart.set_title({"name": title, "name_font": {"size": 13, "bold": True}})
    chart.set_x_axis({"name": axis, "num_font": {"size": 9}})
    chart.set_y_axis(
        {
            "name": "Antal åtgärder",
            "min": 0,
            "major_unit": max(1, math.ceil(highest / 8)),
            "num_format": "0",
            "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
        }
    )
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 900, "height": 400})
    return chart


# Follow-up: Förvaltningar.


def _departments_sheet(ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated) -> None:
    headers = [
        "Kod",
        DEPARTMENT,
        "Inlämnad",
        "Beslut i nämnd",
        "Fil",
        "Mottagen",
        "Kontrollsumma",
        c.CONTACT_LABEL,
        c.EMAIL_LABEL,
        "Åtgärder",
        *(f"{REPORTED} {s}" for s in c.STATUSES),
        "Planversion",
    ]
    # Wide enough for each header's longest word beside the autofilter button.
    widths = [
        fit_width([word], width, bold=True, button=True)
        for name, width in zip(
            headers, [6, 26, 9, 30, 24, 16, 14, 16, 24, 9, *[11] * len(c.STATUSES), 13], strict=True
        )
        for word in [max(name.split(), key=len)]
    ]
    _set_widths(ws, widths)
    for col, (name, status) in enumerate(zip(headers, ["", *[""] * 9, *c.STATUSES, ""], strict=True)):
        ws.write_string(0, col, name, fmt.for_status_header(status))
    ws.set_row(0, max(row_height([(name, width - 2.5)]) for name, width in zip(headers, widths, strict=True)))
    _, by_department = _status_counts(consolidated)
    count_names = (TOTAL, *c.STATUSES)
    counts = dict(zip(by_department.index, by_department[list(count_names)].to_numpy().tolist(), strict=True))
    nothing = [0] * len(count_names)
    departments = consolidated.departments
    columns: list[Column] = [
        (_texts([d.code for d in departments]), fmt.text),
        (_texts([d.name for d in departments]), fmt.wrap),
        (
            [c.YES if d.submitted else c.NO for d in departments],
            [fmt.text if d.submitted else fmt.status[c.DELAYED] for d in departments],
        ),
        (_texts([d.state if d.submitted else "" for d in departments]), fmt.wrap),
        (_texts([d.file for d in departments]), fmt.wrap),
        (_texts([local_time(d.received) for d in departments]), fmt.text),
        (_texts([(d.digest or "")[:12] for d in departments]), fmt.text),
        (_texts([d.contact for d in departments]), fmt.text),
        (_texts([d.email for d in departments]), fmt.text),
        *(
            ([float(counts.get(d.code, nothing)[i]) for d in departments], fmt.integer)
            for i in range(len(count_names))
        ),
        (_texts([d.plan_version for d in departments]), fmt.text),
    ]
    heights = [
        row_height([(d.name, widths[1]), (d.state, widths[3]), (d.file or "", widths[4])])
        for d in departments
    ]
    after = book.write_columns(ws, 1, columns, heights)
    ws.freeze_panes(1, 2)
    ws.autofilter(0, 0, max(len(consolidated.departments), 1), len(headers) - 1)
    unknown = [r for r in consolidated.rejections if not r.department]
    if unknown:
        # Files nobody could be told about: the coordinator's to look into, so here, not in
        # the deviations KS reads or the summary.
        after = _section(
            ws,
            book,
            fmt,
            after + 1,
            f"Avvisade filer utan känd förvaltning ({count_phrase(len(unknown), 'fil', 'filer')})",
            [_Column("Fil", 2), _Column("Mottagen", 2), _Column("Antal fel", kind="int"), _Column("Skäl", 4)],
            [(r.file, local_time(r.received), r.errors, "\n".join(r.reasons)) for r in unknown],
            widths,
        )
    if consolidated.history:
        # Everything handed in for the year, superseded rejections too: the coordinator's
        # record of what came in and what became of it.
        _section(
            ws,
            book,
            fmt,
            after + 1 if not unknown else after,
            f"Alla inlämningar under året ({count_phrase(len(consolidated.history), 'fil', 'filer')})",
            [
                _Column("Fil", 2),
                _Column(DEPARTMENT),
                _Column("Mottagen", 2),
                _Column("Utfall"),
                _Column("Antal fel", kind="int"),
                _Column("Antal varningar", kind="int"),
                _Column("Gäller nu?", 2),
            ],
            [
                (
                    h.file,
                    h.department or "okänd",
                    local_time(h.received),
                    h.verdict,
                    h.errors,
                    h.warnings,
                    h.standing,
                )
                for h in consolidated.history
            ],
            widths,
        )
    _print_setup(ws, consolidated, repeat_row=0)


# Sections of small tables (Avvikelser, Förändringar).


@dataclass(frozen=True)
class _Column:
    """A section table column: header, how many sheet columns it spans, and its kind."""

    header: str
    span: int = 1
    kind: str = "text"  # text, wrap, date, int, status


def _section(
    ws: Worksheet,
    book: TableBook,
    fmt: _Formats,
    row: int,
    heading: str,
    columns: Sequence[_Column],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    note: str = "",
) -> int:
    """Writes a heading, a `note` line when given, and a table (or "Inga."); returns the row
    after it, plus a gap."""
    ws.write_string(row, 0, heading, fmt.heading)
    ws.set_row(row, 20)
    row += 1
    if note:
        _merged_text(ws, row, 0, len(widths) - 1, note, fmt.subtitle_wrap)
        ws.set_row(row, row_height([(note, sum(widths))]))
        row += 1
    if not rows:
        ws.write_string(row, 0, "Inga.", fmt.note)
        return row + 2
    starts = _column_starts(columns)
    for column, first in zip(columns, starts, strict=True):
        _merged_text(ws, row, first, first + column.span - 1, column.header, fmt.header)
    row += 1
    cells: list[Column] = []
    merges = []
    texts = []
    for i, (column, first) in enumerate(zip(columns, starts, strict=True)):
        values = [r[i] for r in rows]
        cell_values, style = _section_column(fmt, column.kind, values)
        cells.append((cell_values, style))
        cells.extend([([""] * len(rows), style)] * (column.span - 1))
        if column.span > 1:
            merges.append((first, first + column.span - 1))
        texts.append((_texts(values), sum(widths[first : first + column.span])))
    return book.write_columns(ws, row, cells, _row_heights(len(rows), texts), merges=merges) + 1


def _column_starts(columns: Sequence[_Column]) -> list[int]:
    starts, col = [], 0
    for column in columns:
        starts.append(col)
        col += column.span
    return starts


def _section_column(fmt: _Formats, kind: str, values: Sequence[Any]) -> Column:
    """Returns a section column's cells and format(s) for its kind (text, wrap, date, int, status)."""
    if kind == "date":
        return _date_cells(values), [fmt.date if isinstance(v, dt.date) else fmt.wrap for v in values]
    if kind == "int":
        return _number_cells(values), fmt.integer
    if kind == "status":
        return _texts(values), [fmt.for_status(value) for value in values]
    return _texts(values), fmt.wrap


# Follow-up: Avvikelser.

DEVIATION_WIDTHS = (14, 16, 12, 17, 9, 34, 20, 12, 13)


def _deviations_sheet(ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated) -> None:
    widths = DEVIATION_WIDTHS
    _set_widths(ws, widths)
    ws.hide_gridlines(2)
    ws.write_string(0, 0, f"Avvikelser {consolidated.year}", fmt.title)
    ws.set_row(0, 24)
    ws.write_string(1, 0, f"Läget per {consolidated.as_of.isoformat()}", fmt.subtitle)
    goals = {g.id: g for g in consolidated.plan.goals}
    row = 3
    overdue = k.overdue_actions(consolidated)
    row = _section(
        ws,
        book,
        fmt,
        row,
        OVERDUE,
        [
            _Column(DEPARTMENT),
            _Column(c.ACTION_ID),
            _Column(c.GOAL),
            _Column(c.ACTION, 3),
            _Column(c.OWNER),
            _Column(c.DONE, kind="date"),
            _Column(REPORTED, kind="status"),
        ],
        overdue[[DEPARTMENT, c.ACTION_ID, c.GOAL, c.ACTION, c.OWNER, c.DONE, c.STATUS]].values.tolist(),
        widths,
    )
    dropped = k.dropped_goal_actions(consolidated)
    if len(dropped):  # a revised plan dropped their delmål
        row = _section(
            ws,
            book,
            fmt,
            row,
            k.DROPPED_GOALS,
            [
                _Column(DEPARTMENT),
                _Column(c.ACTION_ID),
                _Column(c.GOAL),
                _Column(c.ACTION, 4),
                _Column(REPORTED, 2, kind="status"),
            ],
            dropped[[DEPARTMENT, c.ACTION_ID, c.GOAL, c.ACTION, c.STATUS]].values.tolist(),
            widths,
            note=k.dropped_goals_warning(consolidated),
        )
    areas = {a.number: a.label for a in consolidated.plan.goal_areas}
    row = _section(
        ws,
        book,
        fmt,
        row,
        "Delmål utan åtgärd",
        [_Column(c.GOAL_ID), _Column(k.AREA, 2), _Column(c.GOAL_TEXT, 6)],
        [(g.id, areas.get(g.area, ""), g.text) for g in k.goals_without_action(consolidated)],
        widths,
    )
    marked = k.marked_without_action(consolidated)
    row = _section(
        ws,
        book,
        fmt,
        row,
        "Delmål markerade Berör oss utan åtgärd",
        [_Column(DEPARTMENT), _Column(c.GOAL_ID), _Column(c.GOAL_TEXT, 7)],
        [
            (code, goal_id, goals[goal_id].text if goal_id in goals else "")
            for code, goal_id in zip(marked[DEPARTMENT], marked[c.GOAL_ID], strict=True)
        ],
        widths,
    )
    without = k.actions_without_indicator(consolidated)
    row = _section(
        ws,
        book,
        fmt,
        row,
        "Åtgärder utan indikator",
        [_Column(DEPARTMENT), _Column(c.ACTION_ID), _Column(c.ACTION, 7)],
        without[[DEPARTMENT, c.ACTION_ID, c.ACTION]].values.tolist(),
        widths,
    )
    row = _section(
        ws,
        book,
        fmt,
        row,
        "Förvaltningar som inte lämnat in",
        [_Column("Kod"), _Column(DEPARTMENT, 4)],
        [(d.code, d.name) for d in k.missing_departments(consolidated)],
        widths,
    )
    _section(
        ws,
        book,
        fmt,
        row,
        "Avvisade inlämningar",
        [
            _Column("Fil", 2),
            _Column(DEPARTMENT),
            _Column("Mottagen"),
            _Column("Antal fel", kind="int"),
            _Column("Skäl", 4),
        ],
        [
            (
                r.file,
                r.department or "",
                local_time(r.received),
                r.errors,
                "\n".join(r.reasons),
            )
            for r in consolidated.rejections
            if r.department
        ],
        widths,
    )
    _print_setup(ws, consolidated)


# Follow-up: Ekonomi.


def _costs_sheet(ws: Worksheet, fmt: _Formats, consolidated: Consolidated) -> None:
    costs = k.cost_by_area_and_funding(consolidated)
    widths = [46, *[15] * len(costs.columns)]
    _set_widths(ws, widths)
    ws.write_string(0, 0, f"Kostnad per målområde och finansiering {consolidated.year} (kr)", fmt.title)
    ws.set_row(0, 24)
    note = "Summan av förvaltningarnas angivna kostnader; åtgärder utan kostnad räknas inte med."
    ws.write_string(1, 0, note, fmt.subtitle)
    header_row = 3
    ws.write_string(header_row, 0, k.AREA, fmt.header)
    for col, name in enumerate(costs.columns, start=1):
        ws.write_string(header_row, col, str(name), fmt.header)
    ws.set_row(header_row, 32)
    for row, (label, values) in enumerate(costs.iterrows(), start=header_row + 1):
        is_total = label == TOTAL
        ws.write_string(row, 0, str(label), fmt.total_label if is_total else fmt.text)
        for col, name in enumerate(costs.columns, start=1):
            style = fmt.money_total if is_total or name == TOTAL else fmt.money
            _write_amount(ws, row, col, float(values[name]), style)
    ws.freeze_panes(header_row + 1, 1)
    _print_setup(ws, consolidated, repeat_row=header_row)


# Follow-up: Förändringar.

CHANGE_WIDTHS = (16, 12, 8, 54, 13, 13)


def _changes_sheet(
    ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated, changes: k.Changes
) -> None:
    _set_widths(ws, CHANGE_WIDTHS)
    ws.hide_gridlines(2)
    ws.write_string(0, 0, f"Förändringar jämfört med {changes.basis}", fmt.title)
    ws.set_row(0, 24)
    ws.write_string(1, 0, "Jämförelsen görs på Åtgärds-ID.", fmt.subtitle)
    columns = [_Column(name, kind="status" if name in STATUS_COLUMNS else "text") for name in CHANGE_COLUMNS]
    row = 3
    if changes.pending:
        names = {d.code: department_label(d.name, d.code) for d in consolidated.plan.departments}
        listed = ", ".join(names.get(code, code) for code in changes.pending)
        note = (
            f"Har inte lämnat in i år, så deras förändringar är inte kända ännu och finns inte med nedan: "
            f"{listed}."
        )
        _merged_text(ws, 2, 0, len(CHANGE_WIDTHS) - 1, note, fmt.subtitle_wrap)
        ws.set_row(2, row_height([(note, sum(CHANGE_WIDTHS))]))
        row = 4
    for heading, frame in (
        ("Nya åtgärder i år", changes.new),
        ("Genomförda sedan förra året", changes.finished),
        ("Ändrad status", changes.status_changes),
        ("Försvunna utan att vara genomförda", changes.disappeared),
    ):
        row = _section(
            ws, book, fmt, row, heading, columns, frame[list(CHANGE_COLUMNS)].values.tolist(), CHANGE_WIDTHS
        )
    _print_setup(ws, consolidated)


# Follow-up: Mot antagen plan.

AGAINST_ADOPTED_WIDTHS = (16, 10, 12, 14, 40, 40)


def _against_adopted_sheet(
    ws: Worksheet, book: TableBook, fmt: _Formats, consolidated: Consolidated, against: k.AgainstAdopted
) -> None:
    _set_widths(ws, AGAINST_ADOPTED_WIDTHS)
    ws.hide_gridlines(2)
    last = len(AGAINST_ADOPTED_WIDTHS) - 1
    ws.write_string(0, 0, f"Mot antagen plan ({against.decision})", fmt.title)
    ws.set_row(0, 24)
    note = (
        f"{against.sentence()} Jämförelsen görs på Åtgärds-ID mot den handlingsplan som antogs. "
        "Status och Utfall är uppföljningen själv och räknas inte som avvikelser."
    )
    _merged_text(ws, 1, 0, last, note, fmt.subtitle_wrap)
    ws.set_row(1, row_height([(note, sum(AGAINST_ADOPTED_WIDTHS))]))
    rows = against.deviations[list(k.DEVIATION_COLUMNS)].values.tolist()
    _section(
        ws,
        book,
        fmt,
        3,
        f"Avvikelser från den antagna planen ({count_phrase(len(rows), 'rad', 'rader')})",
        [_Column(name) for name in k.DEVIATION_COLUMNS],
        rows,
        AGAINST_ADOPTED_WIDTHS,
    )
    _print_setup(ws, consolidated, repeat_row=4 if rows else None)
