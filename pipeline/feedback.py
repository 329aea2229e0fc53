"""Feedback on one submission: an HTML and a Markdown report, and a marked copy of the workbook.

Everything the förvaltning reads is Swedish and plain. The same input always gives the same
bytes, so a rerun never looks like new feedback.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import logging
import textwrap
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import openpyxl
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from pipeline import contract as c
from pipeline import markup
from pipeline.config import MAX_PROBLEMS_PER_CODE, FeedbackPaths, feedback_stem, jinja_templates_dir
from pipeline.files import write_bytes_atomic, write_text_atomic
from pipeline.problems import ERROR, KIND_LABEL, WARNING, Problem, count, describe, sort_key
from pipeline.text import display_time, markdown_escape

HTML_TEMPLATE = "aterkoppling.html.j2"
MARKDOWN_TEMPLATE = "aterkoppling.md.j2"
FEEDBACK_SHEET = "Återkoppling"
COMMENT_AUTHOR = "Kommunstyrelsen"
ERROR_FILL = "FFC7CE"
WARNING_FILL = "FFEB9C"
SHEET_ORDER = (c.SHEET_INSTRUCTIONS, c.SHEET_GOALS, c.SHEET_ACTIONS, c.SHEET_LISTS, c.SHEET_IDENTIFICATION)
WHOLE_FILE = "Hela filen"
FEEDBACK_HEADER_ROW = 4
FEEDBACK_COLUMNS = (("Blad", 14), ("Cell", 8), ("Typ", 10), ("Problem", 60), ("Så rättar du", 60))
FEEDBACK_KIND_COLUMN = 3
FEEDBACK_LINE_HEIGHT = 15  # points per wrapped line
FEEDBACK_FONT = "Calibri"  # the templates' font
# Used for the marked copy's dates when `received` cannot be read; zip needs >= 1980.
FALLBACK_MOMENT = dt.datetime(2015, 2, 9, 0, 0, 0)
MAX_ROW, MAX_COLUMN = 1_048_576, 16_384
COMMENT_WIDTH = 320  # openpyxl writes the comment box size in pixels
COMMENT_CHARS_PER_LINE = 48
COMMENT_LINE_HEIGHT = 15

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedbackInput:
    """What the feedback is about: one submission and the problems found in it.

    Attributes:
        display_name: the file's name in the inbox, e.g. "SOC/handlingsplan_2027_SOC.xlsx".
        digest: SHA-256 (hex) of the submitted bytes.
        department_code: förvaltning code (e.g. "SOC"), if it could be read.
        department_name: the förvaltning's full name, if known.
        year: the year of the handlingsplan, if it could be read.
        accepted: True when the submission was accepted.
        received: when the file was received, ISO 8601.
        problems: everything found wrong, errors and warnings.
        workbook: the archived copy to mark up; None when the file cannot be read.
        plan_version: the plan version the template was made from, if known.
    """

    display_name: str
    digest: str
    department_code: str | None
    department_name: str | None
    year: int | None
    accepted: bool
    received: str
    problems: tuple[Problem, ...]
    workbook: Path | None
    plan_version: str | None


@dataclass(frozen=True)
class WrittenFeedback:
    """The files `write_feedback` wrote: the report, and the marked copy or None if none was made."""

    html: Path
    markdown: Path
    marked: Path | None


@dataclass(frozen=True)
class _MarkedCopy:
    """What became of the marked copy: made (`path`), not made for the file's format, or failed."""

    path: Path | None = None
    unmarkable_format: str | None = None
    """".ods" or ".xls" when the copy is not made for that format (not a failure)."""
    failed: bool = False


@dataclass(frozen=True)
class _Row:
    cell: str
    column: str
    value: str
    kind: str
    label: str
    message: str
    hint: str


@dataclass(frozen=True)
class _More:
    """Stands for the problems of one code left out of the lists after the first ones."""

    sheet: str
    kind: str
    code: str
    left_out: int

    @property
    def message(self) -> str:
        return f"… och {self.left_out:,} till av samma slag som raden ovan.".replace(",", " ")


@dataclass(frozen=True)
class _Section:
    heading: str
    rows: tuple[_Row, ...]

    @property
    def caption(self) -> str:
        """The section's table caption: where its problems are."""
        if self.heading == WHOLE_FILE:
            return "Fel och varningar som gäller hela filen"
        return f"Fel och varningar på bladet {self.heading}"


def write_feedback(submission: FeedbackInput, paths: FeedbackPaths) -> WrittenFeedback:
    """Returns the feedback files written for one submission, at `paths`.

    Writes the report to `paths.html` and `paths.markdown`, and for a rejected .xlsx
    submission whose workbook can be opened also `paths.marked`, a copy with the problem
    cells marked (otherwise a stale one from an earlier run is removed, so the folder
    matches the report). For an .ods or .xls the report says how to get a marked copy.
    Never raises because the workbook cannot be read: the report then says so.
    """
    marked = _write_marked_copy(submission, paths.marked)
    context = _context(submission, marked)
    # Not synced one by one (a sync per file would dominate a large batch): safe if the
    # process is killed; a power cut may lose the newest feedback, while the archive and the
    # ledger, from which it can be written again, are synced.
    html = write_text_atomic(paths.html, _render(HTML_TEMPLATE, context), durable=False)
    markdown = write_text_atomic(paths.markdown, _render(MARKDOWN_TEMPLATE, context), durable=False)
    return WrittenFeedback(html, markdown, marked.path)


# --- the reports ---------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(jinja_templates_dir()),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_escape
    return env


def _render(template: str, context: dict[str, object]) -> str:
    return _environment().get_template(template).render(context)


def _context(submission: FeedbackInput, marked: _MarkedCopy) -> dict[str, object]:
    problems = submission.problems
    department = submission.department_name or submission.department_code or "okänd förvaltning"
    year = f" {submission.year}" if submission.year is not None else ""
    return {
        "title": f"Återkoppling på handlingsplan{year} – {department}",
        "file_name": submission.display_name,
        "received": display_time(submission.received),
        "accepted": submission.accepted,
        "outcome": "Godkänd" if submission.accepted else "Avvisad – rätta felen och lämna in igen",
        "errors": count(problems, ERROR),
        "warnings": count(problems, WARNING),
        "tally": _tally(problems),
        "plan_version": submission.plan_version,
        "marked_name": marked.path.name if marked.path else None,
        "unmarkable_format": marked.unmarkable_format,
        "marking_failed": marked.failed,
        "sections": _sections(problems),
        "reference": feedback_stem(submission.department_code, submission.digest),
    }


def _tally(problems: Sequence[Problem]) -> str:
    warnings = count(problems, WARNING)
    return f"{count(problems, ERROR)} fel och {warnings} {'varning' if warnings == 1 else 'varningar'}"


def _ordered(problems: Iterable[Problem]) -> list[Problem]:
    """Returns problems by sheet (as in the template), then errors before warnings, then row and column."""
    return sorted(problems, key=lambda p: (_sheet_rank(p.sheet), p.kind != ERROR, sort_key(p)))


def _sheet_rank(sheet: str) -> tuple[int, str]:
    if not sheet:
        return (0, "")
    if sheet in SHEET_ORDER:
        return (1 + SHEET_ORDER.index(sheet), sheet)
    return (1 + len(SHEET_ORDER), sheet)


def _listed(problems: Iterable[Problem], limit: int = MAX_PROBLEMS_PER_CODE) -> list[Problem | _More]:
    """Returns the problems in reading order, at most `limit` of each code, each code's last
    one followed by how many more of it there are.

    A file with 20 000 wrong cells gets a page a person can read (and a marked copy that
    opens), and still learns how many there are; the totals count every problem.
    """
    ordered = _ordered(problems)
    totals: dict[str, int] = {}
    for problem in ordered:
        totals[problem.code] = totals.get(problem.code, 0) + 1
    listed: list[Problem | _More] = []
    shown: dict[str, int] = {}
    for problem in ordered:
        seen = shown.get(problem.code, 0)
        if seen >= limit:
            continue
        shown[problem.code] = seen + 1
        listed.append(problem)
        if seen + 1 == limit and totals[problem.code] > limit:
            listed.append(_More(problem.sheet, problem.kind, problem.code, totals[problem.code] - limit))
    return listed


def _sections(problems: Iterable[Problem]) -> list[_Section]:
    return [
        _Section(sheet or WHOLE_FILE, tuple(_row(p) for p in group))
        for sheet, group in itertools.groupby(_listed(problems), key=lambda p: p.sheet)
    ]


def _row(problem: Problem | _More) -> _Row:
    if isinstance(problem, _More):
        label = KIND_LABEL[ERROR if problem.kind == ERROR else WARNING]
        return _Row(
            cell="", column="", value="", kind=problem.kind, label=label, message=problem.message, hint=""
        )
    return _Row(
        cell=problem.cell,
        column=problem.column,
        value=problem.value,
        kind=problem.kind,
        label=KIND_LABEL[problem.kind],
        message=problem.message,
        hint=problem.hint,
    )


# --- the marked copy -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Marking:
    """The marked bytes, or why there are none."""

    data: bytes | None = None
    unmarkable_format: str | None = None
    failed: bool = False


def _write_marked_copy(submission: FeedbackInput, target: Path) -> _MarkedCopy:
    """Returns the marked copy written at `target`, or why there is none.

    None is made for an accepted submission, or without a workbook to open (the check
    found the file unsafe or too large to open again): the report then says nothing about
    a copy. A stale copy from an earlier run of the same file is removed when none is made
    now, so the folder always matches the report.
    """
    outcome = _Marking()
    if not submission.accepted and submission.workbook is not None:
        outcome = _marked_bytes(submission.workbook, submission.problems, _fixed_moment(submission))
    if outcome.data is None:
        target.unlink(missing_ok=True)
        return _MarkedCopy(None, outcome.unmarkable_format, outcome.failed)
    return _MarkedCopy(write_bytes_atomic(target, outcome.data))


def _marked_bytes(workbook: Path, problems: Sequence[Problem], moment: dt.datetime) -> _Marking:
    """Returns the marked workbook as .xlsx bytes, or why the file was not marked.

    The XML parts are edited directly when the workbook allows it (fast, and keeps every
    other part as it came); otherwise openpyxl reads and rewrites the whole workbook.
    """
    listed = _listed(problems)
    ordered = [p for p in listed if isinstance(p, Problem)]
    table = _feedback_table(listed)
    try:
        data = workbook.read_bytes()
    except OSError as exc:
        log.warning("Den markerade kopian av %s kunde inte göras: %s", workbook, describe(exc))
        return _Marking(failed=True)
    unmarkable = markup.unmarkable_format(data)
    if unmarkable is not None:
        return _Marking(unmarkable_format=unmarkable)
    marks_for = functools.partial(_cell_marks, ordered)
    marked = markup.marked_workbook(data, marks_for, table, COMMENT_AUTHOR, moment)
    if marked is None:
        marked = _openpyxl_marked(workbook, ordered, table, moment)
    return _Marking(data=marked, failed=marked is None)


def _openpyxl_marked(
    workbook: Path, problems: Sequence[Problem], table: markup.FeedbackTable, moment: dt.datetime
) -> bytes | None:
    try:
        wb = openpyxl.load_workbook(workbook, rich_text=False, keep_vba=False)
        _remove_earlier_feedback(wb)
        for mark in _cell_marks(problems, functools.partial(_openpyxl_target, wb)):
            cell = wb[mark.sheet].cell(mark.row, mark.column)
            if isinstance(cell, Cell):  # always: a merged range is marked at its first cell
                _mark(cell, mark)
        _add_feedback_sheet(wb, table)
        wb.template = False  # saved as .xlsx whatever it came as, so Excel opens it
        buffer = io.BytesIO()
        wb.save(buffer)
        return _with_fixed_times(buffer.getvalue(), wb, moment)
    except Exception as exc:  # any unreadable or unusual file: the report says so instead
        log.warning("Den markerade kopian av %s kunde inte göras: %s", workbook, describe(exc))
        return None


def _fixed_moment(submission: FeedbackInput) -> dt.datetime:
    """Returns `received` as naive UTC (what openpyxl writes), or a fixed fallback."""
    try:
        moment = dt.datetime.fromisoformat(submission.received)
    except ValueError:
        return FALLBACK_MOMENT
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0) if moment.year >= 1980 else FALLBACK_MOMENT


def _cell_marks(problems: Sequence[Problem], resolve: markup.Resolve) -> list[markup.CellMark]:
    """Returns one mark per cell named by the problems; one comment holds all of a cell's problems."""
    by_cell: dict[tuple[str, int, int], list[Problem]] = {}
    for problem in problems:
        target = _target(problem, resolve)
        if target is not None:
            by_cell.setdefault(target, []).append(problem)
    marks = []
    for (sheet, row, column), found in by_cell.items():
        kind = ERROR if any(p.kind == ERROR for p in found) else WARNING
        text = "\n".join(_comment_line(p) for p in found)
        marks.append(markup.CellMark(sheet, row, column, _fill_colour(kind), text, *_comment_size(text)))
    return marks


def _target(problem: Problem, resolve: markup.Resolve) -> tuple[str, int, int] | None:
    """Returns the problem's cell (the first cell of a merged range), or None if the workbook has none."""
    if not problem.cell:
        return None
    try:
        row, column = coordinate_to_tuple(problem.cell.upper())
    except (ValueError, TypeError):
        return None
    if not (1 <= row <= MAX_ROW and 1 <= column <= MAX_COLUMN):
        return None
    found = resolve(problem.sheet, row, column)
    return None if found is None else (problem.sheet, *found)


def _openpyxl_target(wb: Workbook, sheet: str, row: int, column: int) -> tuple[int, int] | None:
    ws = wb[sheet] if sheet in wb.sheetnames else None
    if not isinstance(ws, Worksheet):
        return None
    for merged in ws.merged_cells.ranges:
        if (row, column) in merged:
            return merged.min_row, merged.min_col
    return row, column


def _comment_size(text: str) -> tuple[int, int]:
    """Returns the comment box's width and height in pixels, tall enough for the wrapped text."""
    wrapped = sum(len(textwrap.wrap(line, COMMENT_CHARS_PER_LINE)) or 1 for line in text.split("\n"))
    return COMMENT_WIDTH, COMMENT_LINE_HEIGHT * (wrapped + 1)


def _remove_earlier_feedback(wb: Workbook) -> None:
    """Removes the feedback sheet and comments of an earlier round, when a marked copy is sent back."""
    if FEEDBACK_SHEET in wb.sheetnames:
        del wb[FEEDBACK_SHEET]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.comment is not None and cell.comment.author == COMMENT_AUTHOR:
                    cell.comment = None


def _mark(cell: Cell, mark: markup.CellMark) -> None:
    cell.fill = PatternFill(fill_type="solid", start_color=mark.fill, end_color=mark.fill)
    text = mark.comment
    if cell.comment is not None and cell.comment.text:
        text = f"{text}\n{cell.comment.text}"
    comment = Comment(markup.clean_text(text), COMMENT_AUTHOR)
    comment.width, comment.height = _comment_size(text)
    cell.comment = comment


def _fill_colour(kind: str) -> str:
    return "FF" + (ERROR_FILL if kind == ERROR else WARNING_FILL)  # opaque ARGB


def _comment_line(problem: Problem) -> str:
    line = f"{KIND_LABEL[problem.kind]}: {problem.message}"
    return f"{line}\nSå rättar du: {problem.hint}" if problem.hint else line


def _feedback_table(problems: Sequence[Problem | _More]) -> markup.FeedbackTable:
    """Returns the sheet that lists the problems as the report does, for either way of marking."""
    rows = tuple(
        (
            (
                problem.sheet or WHOLE_FILE,
                problem.cell if isinstance(problem, Problem) else "",
                KIND_LABEL[ERROR if problem.kind == ERROR else WARNING],
                problem.message,
                problem.hint if isinstance(problem, Problem) else "",
            ),
            _fill_colour(problem.kind),
            _row_height((problem.message, problem.hint if isinstance(problem, Problem) else "")),
        )
        for problem in problems
    )
    return markup.FeedbackTable(
        name=FEEDBACK_SHEET,
        title="Återkoppling från Kommunstyrelsen",
        intro=(
            "Celler med fel är markerade i rött och celler med varningar i gult. "
            "Håll muspekaren över en markerad cell för att läsa vad som behöver rättas."
        ),
        header_row=FEEDBACK_HEADER_ROW,
        columns=FEEDBACK_COLUMNS,
        rows=rows,
        fill_column=FEEDBACK_KIND_COLUMN,
        font=FEEDBACK_FONT,
    )


def _row_height(texts: Sequence[str]) -> float:
    """Returns the height of a feedback row whose long texts wrap in the wide columns."""
    # A column's width counts digits; about 1.2 characters of ordinary text fit per digit.
    chars = round(1.2 * min(width for _, width in FEEDBACK_COLUMNS[FEEDBACK_KIND_COLUMN:]))
    lines = max(sum(len(textwrap.wrap(line, chars)) or 1 for line in text.split("\n")) for text in texts)
    return FEEDBACK_LINE_HEIGHT * max(1, lines)


def _add_feedback_sheet(wb: Workbook, table: markup.FeedbackTable) -> None:
    """Adds the sheet listing every problem as the first sheet, and shows it on opening."""
    ws = wb.create_sheet(table.name, 0)
    ws["A1"] = table.title
    ws["A1"].font = Font(name=table.font, bold=True, size=14)
    ws["A2"] = table.intro
    for column, (title, width) in enumerate(table.columns, start=1):
        ws.cell(table.header_row, column, title).font = Font(name=table.font, bold=True, size=11)
        ws.column_dimensions[get_column_letter(column)].width = width
    for row, (values, fill, height) in enumerate(table.rows, start=table.header_row + 1):
        ws.row_dimensions[row].height = height
        for column, value in enumerate(values, start=1):
            cell = ws.cell(row, column, markup.clean_text(value) if value else value)
            cell.data_type = "s"  # text from a submission is never a formula, even with a leading "="
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row, table.fill_column).fill = PatternFill(
            fill_type="solid", start_color=fill, end_color=fill
        )
    ws.freeze_panes = ws.cell(table.header_row + 1, 1)
    # Printed on A4 across, every column on the page.
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.paperSize, ws.page_setup.orientation = 9, "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = sheet is ws
    wb.active = 0


def _with_fixed_times(data: bytes, wb: Workbook, moment: dt.datetime) -> bytes:
    """Returns the .xlsx bytes repacked with fixed zip times and document dates.

    openpyxl stamps the save time into docProps/core.xml and every zip entry; both are
    replaced so that the same submission gives the same bytes.
    """
    core = markup.fixed_core(wb.properties, moment)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = [
            (
                info.filename,
                info.external_attr,
                core if info.filename == "docProps/core.xml" else source.read(info),
            )
            for info in source.infolist()
        ]
    return markup.repack(parts, moment)
