"""One förvaltning's handlingsplan workbook, built from the plan with xlsxwriter.

The layout is the template contract (`pipeline.contract`): sheets Instruktioner, Delmål
and Åtgärder for the user, a hidden sheet with the dropdown lists and a very hidden one
with the identification, which is also stored as custom document properties.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from xml.sax.saxutils import escape as xml_escape

import xlsxwriter
from xlsxwriter.sharedstrings import SharedStrings
from xlsxwriter.utility import _datetime_to_excel_datetime, xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline import contract as c
from pipeline.config import RETURN_TO_DEFAULT, TEMPLATE_VERSION
from pipeline.files import atomic_path, write_bytes_atomic
from pipeline.layout import COLUMN_WIDTHS, row_height
from pipeline.plan import Department, Goal, GoalArea, Plan

GOAL_LABEL_MAX = 90
# xlsxwriter stamps the creation time into docProps/core.xml; a fixed one keeps files
# byte-identical for the same plan, year and options.
FIXED_CREATED = dt.datetime(2015, 2, 9, 0, 0, 0)
LAST_ROW_LIMIT = 1_048_575
_WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False}
_ANSWER_COL = 3  # Berör oss, on the Delmål sheet

INPUT_MESSAGES = {
    c.ACTION_ID: (
        "Åtgärds-ID",
        "Lämna tomt för nya åtgärder: ID sätts av Kommunstyrelsen. "
        "Ändra inte ett ID som redan finns, så kan åtgärden följas år från år.",
    ),
    c.GOAL: ("Delmål", "Välj det delmål i integrationsplanen som åtgärden bidrar till."),
    c.ACTION: ("Åtgärd", "Beskriv kort vad förvaltningen ska göra."),
    c.OWNER: ("Ansvarig", "Person eller funktion som ansvarar för åtgärden, t.ex. enhetschef."),
    c.START: ("Start", "Datum då åtgärden börjar, t.ex. 2027-03-01."),
    c.DONE: ("Klart", "Datum då åtgärden ska vara klar, t.ex. 2027-12-31. Inte före Start."),
    c.COST: ("Kostnad (kr)", "Beräknad kostnad i hela kronor, bara siffror (t.ex. 50000)."),
    c.FUNDING: ("Finansiering", "Välj hur åtgärden finansieras."),
    c.PARTNERS: (
        "Samverkan",
        "Vilka ni samverkar med, t.ex. Arbetsförmedlingen, Region Norrbotten, föreningar.",
    ),
    c.INDICATOR: ("Indikator", "Hur ni mäter att åtgärden ger resultat, t.ex. antal deltagare."),
    c.TARGET: ("Målvärde", "Vilket värde på indikatorn ni vill nå, t.ex. 40 deltagare."),
    c.STATUS: ("Status", "Välj åtgärdens läge just nu."),
    c.OUTCOME: ("Utfall", "Vid uppföljning: vilket värde indikatorn faktiskt fick."),
    c.COMMENT: ("Kommentar", "Övrigt som Kommunstyrelsen bör veta."),
}

COLUMN_HELP = {
    c.ACTION_ID: "Fylls i av Kommunstyrelsen. Lämna tomt för nya åtgärder; "
    "ändra inte ett ID som redan står där.",
    c.GOAL: "Det delmål åtgärden bidrar till (välj i listan).",
    c.ACTION: "Vad förvaltningen ska göra. Obligatorisk.",
    c.OWNER: "Ansvarig person eller funktion. Obligatorisk.",
    c.START: "Startdatum (ÅÅÅÅ-MM-DD).",
    c.DONE: "Datum då åtgärden ska vara klar (ÅÅÅÅ-MM-DD), inte före Start.",
    c.COST: "Beräknad kostnad i kronor, bara siffror.",
    c.FUNDING: "Hur åtgärden finansieras (välj i listan).",
    c.PARTNERS: "Vilka ni samverkar med.",
    c.INDICATOR: "Hur resultatet mäts (EU:s princip 11: mål, indikatorer, utvärdering).",
    c.TARGET: "Det värde på indikatorn ni vill nå.",
    c.STATUS: "Åtgärdens läge (välj i listan). Obligatorisk.",
    c.OUTCOME: "Vid uppföljningen: vad indikatorn faktiskt visar.",
    c.COMMENT: "Övrigt.",
}

STATUS_HELP = {
    c.NOT_STARTED: "arbetet har inte börjat",
    c.IN_PROGRESS: "arbetet pågår enligt plan",
    c.COMPLETED: "åtgärden är klar",
    c.DELAYED: "åtgärden ligger efter tidplanen",
    c.CANCELLED: "åtgärden genomförs inte (skriv varför i Kommentar)",
}


@dataclass(frozen=True)
class TemplateOptions:
    """What a template says beyond the plan: year, deadline, recipient, pre-filled rows."""

    year: int
    deadline: dt.date | None = None
    return_to: str = RETURN_TO_DEFAULT
    prepared_rows: int = 200
    validated_rows: int = 1000
    carried_actions: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    concerns: Mapping[str, str] = field(default_factory=dict)


def template_filename(year: int, code: str) -> str:
    """Returns handlingsplan_<year>_<code>.xlsx, the name a template is sent out under."""
    return f"handlingsplan_{year}_{code}.xlsx"


def goal_label(goal: Goal, max_length: int = GOAL_LABEL_MAX) -> str:
    """Returns the dropdown item for a delmål: its id, a space and its text, shortened."""
    label = f"{goal.id} {goal.text}"
    if len(label) <= max_length:
        return label
    return label[: max_length - 1].rstrip(" ,.;") + "…"


def write_template(plan: Plan, department: Department, options: TemplateOptions, target: Path) -> Path:
    """Writes one förvaltning's template to `target` atomically and returns the path."""
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), _WORKBOOK_OPTIONS)
        try:
            _build(workbook, plan, department, options)
        finally:
            workbook.close()
    return target


def write_templates(
    plan: Plan, options_by_code: Mapping[str, TemplateOptions], folder: Path, workers: int = 1
) -> list[Path]:
    """Writes a template for each förvaltning in `options_by_code`; returns their paths.

    Templates whose options have the same shape are stamped from one prototype
    (`stamp_templates`), pre-filled rows and answers included; the others are built one by
    one. With `workers` > 1 and many templates (a county-wide collection has hundreds) the
    work is shared among that many processes, one pool for the whole stage.
    """
    # A pool starts its processes with the first job sent, so one that gets none costs nothing.
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = dict(stamp_templates(plan, options_by_code, folder, workers, pool))
        jobs = [
            (plan, plan.department(code), options, folder / template_filename(options.year, code))
            for code, options in options_by_code.items()
            if code not in paths
        ]
        if workers > 1 and len(jobs) > _PARALLEL_BUILDS:
            built = list(pool.map(_write_job, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
        else:
            built = [_write_job(job) for job in jobs]
    paths.update({job[1].code: path for job, path in zip(jobs, built, strict=True)})
    return [paths[code] for code in options_by_code]


def _write_job(job: tuple[Plan, Department, TemplateOptions, Path]) -> Path:
    return write_template(*job)


# Stamping: one prototype per shape of options, built for a placeholder förvaltning; each
# copy gets the förvaltning's code and name, carried actions and Berör oss answers written
# into the prototype's XML as xlsxwriter writes them.

_CODE_MARK = "QQKODQQ"
_NAME_MARK = "QQNAMNQQ"
_PLACEHOLDER = Department(_CODE_MARK, _NAME_MARK)
# Codes and names that xlsxwriter escapes beyond & < > (or that hold a placeholder) are built.
_UNSTAMPABLE_NAME = re.compile(f"[\\x00-\\x08\\x0b-\\x1f]|_x|{_CODE_MARK}|{_NAME_MARK}")
_TEXT_MAX = 32767 // 2  # xlsxwriter may truncate longer texts: build those
# A shared string without these is written as <si><t>text</t></si>; others go to xlsxwriter.
_SPECIAL_TEXT = re.compile(r"[&<>\x00-\x1f]|_x")  # or white space first or last
_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"((?: s="\d+")?)(?: t="s"><v>(\d+)</v></c>|/>)')
_ROW = re.compile(r'<row r="(\d+)"((?: spans="[^"]*")?)')
_SST_COUNTS = re.compile(r' count="\d+" uniqueCount="\d+"')
# What xlsxwriter writes for the last row (dimension) and the last validated row (autofilter,
# data validations and the filter's defined name): the stamp writes the template's own.
_DIMENSION = re.compile(r'<dimension ref="A1:[A-Z]+(\d+)"/>')
_RANGE_REF = re.compile(r' (?:sq)?ref="[A-Z]+\d+:[A-Z]+(\d+)"')
_FILTER_NAME = re.compile(r'<definedName name="_xlnm\._FilterDatabase"[^>]*>[^<]*\$(\d+)</definedName>')
_WORKBOOK = "xl/workbook.xml"
_MAX_ROWS = 1_048_576
_SHARED_STRINGS = "xl/sharedStrings.xml"
_PARALLEL_STAMPS = 50  # fewer are quicker stamped in one process than sent to several
_PARALLEL_BUILDS = 20  # a build takes about 0.1 s; fewer are not worth sending
_StampJob = tuple[Department, TemplateOptions, Path]


class _NotStampable(Exception):
    """The stamp cannot write this template exactly as xlsxwriter would: build it instead."""


def stamp_templates(
    plan: Plan,
    options_by_code: Mapping[str, TemplateOptions],
    folder: Path,
    workers: int = 1,
    pool: ProcessPoolExecutor | None = None,
) -> list[tuple[str, Path]]:
    """Writes the templates that can be stamped from a prototype; returns (code, path) for each.

    A prototype is a real template for a placeholder förvaltning, built once for the
    templates that share a shape of options (`_shape`). A copy replaces the placeholder's
    code and name and writes the carried actions and Berör oss answers into the package's
    XML parts as xlsxwriter would, keeping every zip entry's metadata, so a stamped file has
    the same bytes as one built directly. Left out, for `write_template`: a template alone
    in its shape (a prototype costs a build) and one with a value the stamp cannot write.
    Many copies are shared among `workers` processes from `pool` (one is started if not
    given), which also build the prototypes side by side.
    """
    groups: dict[tuple[Any, ...], list[_StampJob]] = {}
    for code, options in options_by_code.items():
        department = plan.department(code)
        shape = _shape(department, options)
        if shape is not None:
            target = folder / template_filename(options.year, code)
            groups.setdefault(shape, []).append((department, options, target))
    shared = [jobs for jobs in groups.values() if len(jobs) > 1]
    count = sum(len(jobs) for jobs in shared)
    if workers < 2 or count <= _PARALLEL_STAMPS:
        written: list[tuple[str, Path]] = []
        for jobs in shared:
            prototype = _checked_prototype((plan, jobs))
            if prototype is not None:
                written += _stamp_chunk((prototype, plan, jobs))
        return written
    with contextlib.nullcontext(pool) if pool is not None else ProcessPoolExecutor(workers) as executor:
        prototypes = executor.map(_checked_prototype, [(plan, jobs) for jobs in shared])
        size = -(-count // workers)
        chunks = [
            (prototype, plan, jobs[i : i + size])
            for prototype, jobs in zip(prototypes, shared, strict=True)
            if prototype is not None
            for i in range(0, len(jobs), size)
        ]
        return [stamp for stamped in executor.map(_stamp_chunk, chunks) for stamp in stamped]


def _checked_prototype(group: tuple[Plan, list[_StampJob]]) -> _Prototype | None:
    """Returns the prototype for a group of jobs once its stamp has a build's bytes; else None."""
    plan, jobs = group
    try:
        prototype = _Prototype.build(plan, jobs[0][1])
    except _NotStampable:
        return None
    return prototype if prototype.matches_build(plan, jobs) else None


def _stamp_chunk(chunk: tuple[_Prototype, Plan, list[_StampJob]]) -> list[tuple[str, Path]]:
    prototype, plan, jobs = chunk
    written = []
    for department, options, target in jobs:
        with contextlib.suppress(_NotStampable):
            written.append((department.code, prototype.stamp(plan, department, options, target)))
    return written


def _shape(department: Department, options: TemplateOptions) -> tuple[Any, ...] | None:
    """Returns what a template's prototype depends on besides the plan; None if it cannot be stamped."""
    fits = _line_height(*_department_line(department)) == _line_height(*_department_line(_PLACEHOLDER))
    if not fits or _UNSTAMPABLE_NAME.search(department.code + department.name):
        return None
    return (
        options.year,
        options.deadline,
        options.return_to,
        options.prepared_rows,
        options.validated_rows,
        bool(options.carried_actions),
    )


class _LastRow:
    """Where the Åtgärder sheet's XML has its last row's number (the dimension)."""


_LAST_ROW = _LastRow()


class _Slot(NamedTuple):
    """A Berör oss cell in the Delmål sheet's XML: its row and its tag up to the cell type."""

    row: int
    head: str


@dataclass
class _Prototype:
    """A template built for the placeholder förvaltning, taken apart for stamping.

    Shared strings are numbered in the order xlsxwriter first writes them, so the stamp
    needs the write order: `firsts` has each string's first write (its position in the
    write order, its index) and the Berör oss and Åtgärder cells have their positions too.
    """

    members: list[tuple[zipfile.ZipInfo, bytes]]
    strings: list[str]  # shared strings by index
    marked: list[int]  # indexes of the strings with the placeholder's code or name
    firsts: list[tuple[int, int]]
    count: int  # string cells written
    parts: dict[str, list[Any]]  # XML of each sheet (Åtgärder up to row 2): text, string index or _Slot
    answers: list[tuple[int, str, int]]  # Berör oss cells: (row, goal id, write position)
    data_start: int  # write position of Åtgärder row 1, column A; rows are written column by column
    last: int  # the prototype's last prepared row (a template's own is written)
    filler: int  # rows 1..filler have a set height; the rest up to `last` are plain
    actions: str  # the Åtgärder sheet's member name
    actions_xml: str
    row_starts: list[int]  # offset of each Åtgärder row in its XML; the last is </sheetData>
    spans: str  # every Åtgärder row's spans attribute
    cells: list[tuple[str, str]]  # each Åtgärder column's letters and style attribute
    tail: list[str]  # Åtgärder XML from </sheetData>, cut where the last validated row goes
    workbook: list[str]  # workbook.xml, cut where the last validated row goes
    default_height: int  # pixels
    dates_1904: bool
    sst_head: tuple[str, str]  # sharedStrings.xml before and after the counts
    sst_tail: str

    @classmethod
    def build(cls, plan: Plan, options: TemplateOptions) -> _Prototype:
        """Builds the prototype for templates shaped like `options` and takes it apart."""
        # An empty row gives the same instructions as carried ones; the stamp writes the
        # rows, the last row and the last validated row of each template.
        filler = 1 if options.carried_actions else 0
        shape = replace(options, carried_actions=({},) * filler, concerns={})
        last = _last_row(shape)
        validated = max(shape.validated_rows, last)
        with tempfile.TemporaryDirectory() as folder:
            # Written to a file like any template (not in memory), so zip entry metadata matches.
            path = Path(folder) / "prototyp.xlsx"
            workbook = _RecordingWorkbook(str(path))
            try:
                _build(workbook, plan, _PLACEHOLDER, shape)
            finally:
                workbook.close()
            with zipfile.ZipFile(path) as archive:
                members = [(info, archive.read(info)) for info in archive.infolist()]
        firsts: dict[str, int] = {}
        blanks: dict[tuple[str, int, int], int] = {}
        count = 0
        for position, (sheet, row, col, text) in enumerate(workbook.writes):
            if text is None:
                blanks[sheet, row, col] = position
            else:
                count += 1
                firsts.setdefault(text, position)
        strings = workbook.str_table.string_array
        if list(firsts) != strings or count != workbook.str_table.count:
            raise _NotStampable
        names = {ws.name: f"xl/worksheets/sheet{i}.xml" for i, ws in enumerate(workbook.worksheets(), 1)}
        sheet = workbook.get_worksheet_by_name(c.SHEET_ACTIONS)
        if sheet.original_row_height != sheet.default_row_height or sheet.excel_version != 2007:
            raise _NotStampable
        xml = {info.filename: data.decode("utf-8") for info, data in members}
        answers = [
            (row, goal.id, blanks[c.SHEET_GOALS, row, _ANSWER_COL]) for row, _, goal in _goal_rows(plan)
        ]
        slots = {xl_rowcol_to_cell(row, _ANSWER_COL): row for row, _, _ in answers}
        actions = names[c.SHEET_ACTIONS]
        actions_xml = xml[actions]
        row_starts, spans = [], []
        for match in _ROW.finditer(actions_xml):
            if int(match[1]) != len(row_starts) + 1:
                raise _NotStampable
            row_starts.append(match.start())
            spans.append(match[2])
        row_starts.append(actions_xml.index("</sheetData>"))
        if (
            len(row_starts) != last + 2
            or ' t="s">' in actions_xml[row_starts[1] :]
            or len(set(spans[1:])) != 1
        ):
            raise _NotStampable
        columns = len(c.ACTION_COLUMNS)
        cells = [(m[1], m[3]) for m in _CELL.finditer(actions_xml, row_starts[last], row_starts[last + 1])]
        if [letters for letters, _ in cells] != [xl_col_to_name(col) for col in range(columns)]:
            raise _NotStampable
        # Cells are written column by column, rows 1 to last: a template's positions follow.
        data = {(row, col): p for (s, row, col), p in blanks.items() if s == c.SHEET_ACTIONS and row}
        data_start = data.get((1, 0), -1)
        if data != {
            (row, col): data_start + col * last + row - 1
            for row in range(1, last + 1)
            for col in range(columns)
        } or any(data_start <= p for _, _, p in answers):
            raise _NotStampable
        head = _pieces(actions_xml[: row_starts[1]], {})
        dimension = _DIMENSION.search(head[0])
        if dimension is None or dimension[1] != str(last + 1) or _DIMENSION.search(head[0], dimension.end()):
            raise _NotStampable
        head[:1] = [head[0][: dimension.start(1)], _LAST_ROW, head[0][dimension.end(1) :]]
        tail = _cut(actions_xml[row_starts[-1] :], _RANGE_REF, validated, columns + 1)
        if _CODE_MARK in xml[_WORKBOOK] or _NAME_MARK in xml[_WORKBOOK]:
            raise _NotStampable
        workbook_xml = _cut(xml[_WORKBOOK], _FILTER_NAME, validated, 1)
        sst = xml[_SHARED_STRINGS]
        counts = _SST_COUNTS.search(sst)
        if counts is None:
            raise _NotStampable
        body = sst.find("<si>") if strings else sst.rindex("</sst>")
        return cls(
            members=members,
            strings=strings,
            marked=[i for i, text in enumerate(strings) if _CODE_MARK in text or _NAME_MARK in text],
            firsts=[(position, i) for i, position in enumerate(firsts.values())],
            count=count,
            parts={
                name: head
                if name == actions
                else _pieces(xml[name], slots if name == names[c.SHEET_GOALS] else {})
                for name in names.values()
            },
            answers=answers,
            data_start=data_start,
            last=last,
            filler=filler,
            actions=actions,
            actions_xml=actions_xml,
            row_starts=row_starts,
            spans=spans[1],
            cells=cells,
            tail=tail,
            workbook=workbook_xml,
            default_height=sheet.default_row_height,
            dates_1904=sheet.date_1904,
            sst_head=(sst[: counts.start()], sst[counts.end() : body]),
            sst_tail=sst[sst.rindex("</si>") + 5 :] if strings else sst[body:],
        )

    def stamp(self, plan: Plan, department: Department, options: TemplateOptions, target: Path) -> Path:
        """Writes the förvaltning's template to `target` atomically; _NotStampable before writing if it cannot."""
        return write_bytes_atomic(target, self.package(plan, department, options))

    def package(self, plan: Plan, department: Department, options: TemplateOptions) -> bytes:
        """Returns the förvaltning's template file; _NotStampable if the stamp cannot write it."""
        added: list[tuple[int, str]] = []  # the förvaltning's strings: (write position, text)
        answers: dict[int, str] = {}
        for row, goal_id, position in self.answers:
            answer = options.concerns.get(goal_id, "")
            if answer:
                answers[row] = _stamp_text(answer)
                added.append((position, answer))
        last = _last_row(options)
        carried = _carried_rows(plan, options)
        if len(carried) < self.filler or last + 1 >= _MAX_ROWS:
            raise _NotStampable
        validated = str(max(options.validated_rows, last) + 1)
        start = self.data_start - 1
        rows = []
        for row, (height, values) in enumerate(carried, start=1):
            cells = [self._cell(value) for value in values]
            added.extend((start + col * last + row, v) for col, v in enumerate(cells) if type(v) is str)
            rows.append((height, cells))
        strings = list(self.strings)
        for i in self.marked:
            strings[i] = strings[i].replace(_CODE_MARK, department.code).replace(_NAME_MARK, department.name)
        # Writes after the Åtgärder cells move by the rows this template has more than the prototype.
        data_end = self.data_start + len(self.cells) * self.last
        shift = len(self.cells) * (last - self.last)
        firsts = [(p + shift if p >= data_end else p, strings[i]) for p, i in self.firsts]
        index: dict[str, int] = {}
        for _, text in sorted(firsts + added, key=itemgetter(0)):
            index.setdefault(text, len(index))
        renumbered = [index[text] for text in strings]
        parts = {
            name: _render(
                pieces, renumbered, {row: index[text] for row, text in answers.items()}, str(last + 1)
            )
            for name, pieces in self.parts.items()
        }
        # Empty rows below the carried ones: the prototype's (plain) as far as it has them, then written.
        copied = max(min(last, self.last), len(rows))
        parts[self.actions] += (
            "".join(
                self._action_row(row, height, cells, index) for row, (height, cells) in enumerate(rows, 1)
            )
            + (
                self.actions_xml[self.row_starts[len(rows) + 1] : self.row_starts[copied + 1]]
                if copied > len(rows)
                else ""
            )
            + "".join(map(self._blank_row, range(copied + 1, last + 1)))
            + validated.join(self.tail)
        )
        parts[_WORKBOOK] = validated.join(self.workbook)
        before, after = self.sst_head
        parts[_SHARED_STRINGS] = (
            f'{before} count="{self.count + len(added)}" uniqueCount="{len(index)}"{after}'
            + "".join(map(_shared_string, index))
            + self.sst_tail
        )
        code = xml_escape(department.code).encode("utf-8")
        name = xml_escape(department.name).encode("utf-8")
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for info, data in self.members:
                part = parts.get(info.filename)
                if part is not None:
                    archive.writestr(info, part.encode("utf-8"))
                else:
                    archive.writestr(
                        info, data.replace(_CODE_MARK.encode(), code).replace(_NAME_MARK.encode(), name)
                    )
        return package.getvalue()

    def matches_build(self, plan: Plan, jobs: Sequence[_StampJob]) -> bool:
        """Whether a stamp has the bytes of a built template, for the first of `jobs` it can stamp
        and, if its last rows differ from that one's, for the one with the most rows.

        Guards against a change in xlsxwriter or zipfile that the stamp does not follow.
        """
        checked: list[tuple[int, int]] = []
        most = max(jobs, key=lambda job: _last_rows(job[1]))
        for department, options, _ in (*jobs, most):
            rows = _last_rows(options)
            if rows in checked or (checked and options is not most[1]):
                continue
            try:
                stamped = self.package(plan, department, options)
            except _NotStampable:
                continue
            with tempfile.TemporaryDirectory() as folder:
                built = write_template(plan, department, options, Path(folder) / "mall.xlsx")
                if stamped != built.read_bytes():
                    return False
            checked.append(rows)
        return bool(checked)

    def _cell(self, value: Any) -> Any:
        """Returns a carried value as the stamp writes it: None (blank), a text or a number."""
        if type(value) is not str:  # most values are texts, which _cell_value keeps
            value = _cell_value(value)
        kind = type(value)
        if kind is str:
            return _stamp_text(value) or None
        if value is None:
            return None
        if kind is dt.datetime and value.tzinfo is None:
            return _datetime_to_excel_datetime(value, self.dates_1904, False)
        if (kind is float and math.isfinite(value)) or (kind is int and abs(value) < 2**53):
            return value
        raise _NotStampable

    def _action_row(self, row: int, height: float, cells: list[Any], index: Mapping[str, int]) -> str:
        """Returns an Åtgärder row as xlsxwriter writes it, for a row given a height with set_row."""
        pixels = int(height * 4.0 / 3.0 + 0.5)
        size = f' ht="{pixels * 0.75:.16g}" customHeight="1"' if pixels != self.default_height else ""
        number = row + 1
        xml = [f'<row r="{number}"{self.spans}{size}>']
        for (letters, style), value in zip(self.cells, cells, strict=True):
            if value is None:
                xml.append(f'<c r="{letters}{number}"{style}/>')
            elif type(value) is str:
                xml.append(f'<c r="{letters}{number}"{style} t="s"><v>{index[value]}</v></c>')
            else:
                xml.append(f'<c r="{letters}{number}"{style}><v>{value:.16G}</v></c>')
        xml.append("</row>")
        return "".join(xml)

    def _blank_row(self, row: int) -> str:
        """Returns an empty prepared Åtgärder row as xlsxwriter writes it."""
        number = row + 1
        cells = "".join([f'<c r="{letters}{number}"{style}/>' for letters, style in self.cells])
        return f'<row r="{number}"{self.spans}>{cells}</row>'


def _cut(xml: str, pattern: re.Pattern[str], row: int, expected: int) -> list[str]:
    """Returns `xml` cut where `pattern` has row number `row` + 1, for the stamp to join with
    its own; _NotStampable unless it has it `expected` times and no other row there."""
    pieces, start = [], 0
    for match in pattern.finditer(xml):
        if match[1] != str(row + 1):
            raise _NotStampable
        pieces.append(xml[start : match.start(1)])
        start = match.end(1)
    pieces.append(xml[start:])
    if len(pieces) != expected + 1:
        raise _NotStampable
    return pieces


def _stamp_text(text: Any) -> str:
    if type(text) is not str or len(text) > _TEXT_MAX:
        raise _NotStampable
    return text


def _pieces(xml: str, slots: Mapping[str, int]) -> list[Any]:
    """Returns a sheet's XML cut at its shared-string indexes (ints) and at `slots` (cell → row)."""
    pieces: list[Any] = []
    start = 0
    for match in _CELL.finditer(xml):
        if match[4] is not None:
            pieces += [xml[start : match.start(4)], int(match[4])]
            start = match.end(4)
        elif (row := slots.get(match[1] + match[2])) is not None:
            pieces += [xml[start : match.start()], _Slot(row, match[0][:-2])]
            start = match.end()
    pieces.append(xml[start:])
    return pieces


def _render(pieces: list[Any], renumbered: list[int], answers: Mapping[int, int], last: str) -> str:
    """Returns a sheet's XML from its pieces, the strings renumbered, the answers and last row written."""
    xml = []
    for piece in pieces:
        if type(piece) is str:
            xml.append(piece)
        elif type(piece) is int:
            xml.append(str(renumbered[piece]))
        elif type(piece) is _LastRow:  # (a copy in another process)
            xml.append(last)
        elif piece.row in answers:
            xml.append(f'{piece.head} t="s"><v>{answers[piece.row]}</v></c>')
        else:
            xml.append(f"{piece.head}/>")
    return "".join(xml)


def _shared_string(text: str) -> str:
    """Returns a shared string's <si> element as xlsxwriter writes it."""
    if not (_SPECIAL_TEXT.search(text) or text[:1].isspace() or text[-1:].isspace()):
        return f"<si><t>{text}</t></si>"
    writer = SharedStrings()
    writer._set_filehandle(io.StringIO())
    writer._write_si(text)
    return writer.fh.getvalue()


class _RecordingWorksheet(Worksheet):
    """A worksheet that notes each text or blank cell written to it, in order, in `writes`."""

    writes: list[tuple[str, int, int, str | None]]

    def _write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> Any:
        self.writes.append((self.name, row, col, string))
        return super()._write_string(row, col, string, cell_format)

    def _write_blank(self, row: int, col: int, blank: Any, cell_format: Any = None) -> Any:
        self.writes.append((self.name, row, col, None))
        return super()._write_blank(row, col, blank, cell_format)


class _RecordingWorkbook(Workbook):
    """A workbook whose worksheets note the cells written to them in one list, `writes`."""

    worksheet_class = _RecordingWorksheet

    def __init__(self, filename: str) -> None:
        super().__init__(filename, _WORKBOOK_OPTIONS)
        self.writes: list[tuple[str, int, int, str | None]] = []

    def add_worksheet(self, name: str | None = None, worksheet_class: Any = None) -> Any:
        worksheet = super().add_worksheet(name, worksheet_class)
        worksheet.writes = self.writes
        return worksheet


class _Formats:
    """The workbook's cell formats, made once per workbook."""

    def __init__(self, wb: Workbook) -> None:
        base = {"font_name": "Calibri", "font_size": 11, "valign": "top"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F3864"})
        self.heading = wb.add_format({**base, "bold": True, "font_size": 12, "font_color": "#1F3864"})
        self.label = wb.add_format({**base, "bold": True, "text_wrap": True})
        self.text = wb.add_format({**base, "text_wrap": True})
        self.header = wb.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "bg_color": "#1F3864",
                "font_color": "#FFFFFF",
                "border": 1,
            }
        )
        self.plan_text = wb.add_format(
            {**base, "text_wrap": True, "bg_color": "#F2F2F2", "border": 1, "border_color": "#BFBFBF"}
        )
        unlocked = {
            **base,
            "locked": False,
            "text_wrap": True,
            "border": 1,
            "border_color": "#BFBFBF",
            "bg_color": "#FFFBEA",
        }
        self.input = wb.add_format(unlocked)
        self.input_date = wb.add_format({**unlocked, "num_format": "yyyy-mm-dd"})
        self.input_money = wb.add_format({**unlocked, "num_format": "#,##0"})
        self.input_id = wb.add_format({**unlocked, "bg_color": "#EDEDED", "font_color": "#595959"})
        self.input_plain = wb.add_format(
            {**base, "locked": False, "border": 1, "border_color": "#BFBFBF", "bg_color": "#FFFBEA"}
        )


def _build(wb: Workbook, plan: Plan, department: Department, options: TemplateOptions) -> None:
    wb.set_properties(
        {
            "title": f"Handlingsplan {options.year} – {department.name}",
            "subject": plan.name,
            "author": "Kommunstyrelsen",
            "company": plan.municipality,
            "comments": "Mall för förvaltningens handlingsplan enligt integrationsplanen.",
            "created": FIXED_CREATED,
        }
    )
    identification = {
        c.ID_DEPARTMENT: department.code,
        c.ID_YEAR: str(options.year),
        c.ID_TEMPLATE_VERSION: TEMPLATE_VERSION,
        c.ID_PLAN_VERSION: plan.version,
    }
    for key, value in identification.items():
        wb.set_custom_property(key, value, "text")

    fmt = _Formats(wb)
    _instructions_sheet(wb.add_worksheet(c.SHEET_INSTRUCTIONS), fmt, plan, department, options)
    _goals_sheet(wb.add_worksheet(c.SHEET_GOALS), fmt, plan, options)
    actions = wb.add_worksheet(c.SHEET_ACTIONS)
    lists = wb.add_worksheet(c.SHEET_LISTS)
    ident = wb.add_worksheet(c.SHEET_IDENTIFICATION)
    goal_range = _lists_sheet(lists, plan)
    _actions_sheet(actions, fmt, plan, options, goal_range)
    _identification_sheet(ident, identification)
    wb.get_worksheet_by_name(c.SHEET_INSTRUCTIONS).activate()


def _print_setup(ws: Worksheet, header_rows: tuple[int, int] | None) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.5, right=0.5, top=0.7, bottom=0.7)
    ws.fit_to_pages(1, 0)
    ws.set_header('&L&"Calibri,Bold"&A&R&"Calibri"Integrationsplan – handlingsplan')
    ws.set_footer("&L&F&RSida &P av &N")
    if header_rows:
        ws.repeat_rows(*header_rows)


def _protect(ws: Worksheet) -> None:
    # No password: protection guides the user to the input cells, it does not secure.
    ws.protect(
        "",
        {
            "format_columns": True,
            "format_rows": True,
            "autofilter": True,
            "sort": False,
            "select_locked_cells": True,
            "select_unlocked_cells": True,
        },
    )


def _instructions_sheet(
    ws: Worksheet, fmt: _Formats, plan: Plan, department: Department, options: TemplateOptions
) -> None:
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 100)
    ws.hide_gridlines(2)
    row = 0

    def line(label: str, text: str, label_fmt: Any = fmt.label, text_fmt: Any = fmt.text) -> None:
        nonlocal row
        ws.set_row(row, _line_height(label, text))
        if label:
            ws.write_string(row, 0, label, label_fmt)
        if text:
            ws.write_string(row, 1, text, text_fmt)
        row += 1

    def heading(text: str) -> None:
        nonlocal row
        row += 1
        ws.write_string(row, 0, text, fmt.heading)
        row += 1

    ws.write_string(row, 0, f"Handlingsplan {options.year} – {department.name}", fmt.title)
    ws.set_row(row, 24)
    row += 2
    line(*_department_line(department))
    line("År", str(options.year))
    deadline = options.deadline.isoformat() if options.deadline else "enligt Kommunstyrelsens anvisning"
    line("Lämnas senast", deadline)
    line("Lämnas till", options.return_to)
    row += 1
    ws.write_string(row, 0, c.CONTACT_LABEL, fmt.label)
    ws.write_blank(row, 1, None, fmt.input_plain)
    ws.data_validation(
        row, 1, row, 1, _text_prompt("Kontaktperson", "Namn på den som fyllt i handlingsplanen.")
    )
    row += 1
    ws.write_string(row, 0, c.EMAIL_LABEL, fmt.label)
    ws.write_blank(row, 1, None, fmt.input_plain)
    ws.data_validation(row, 1, row, 1, _text_prompt("E-post", "E-postadress till kontaktpersonen."))
    row += 1

    heading("Vad är handlingsplanen?")
    line(
        "",
        f"{plan.name} (antagen {plan.adopted}) anger kommunens mål för integrationsarbetet i "
        f"{len(plan.goal_areas)} målområden med {len(plan.goals)} delmål. Varje nämnd tar fram en "
        "handlingsplan som beskriver med vilka åtgärder förvaltningen bidrar till delmålen. "
        "Kommunstyrelsen sammanställer och antar handlingsplanerna och följer upp dem varje år "
        "som en del av mål- och budgetarbetet.",
    )
    line(
        "",
        "Uppgifterna ni lämnar blir underlag för kommunens samlade handlingsplan, "
        "Kommunstyrelsens uppföljning och sammanfattningen till Kommunstyrelsens sammanträde.",
    )

    heading("Så fyller ni i")
    line("1. Instruktioner", "Skriv kontaktperson och e-post i de gula fälten ovan.")
    line(
        "2. Delmål",
        "Läs delmålen. Välj Ja i kolumnen Berör oss för varje delmål som förvaltningen arbetar "
        "med, annars Nej. Planens text är låst.",
    )
    line(
        "3. Åtgärder",
        "Skriv en rad per åtgärd i de gula cellerna. Välj delmål, finansiering och status i "
        "listorna. Tomma rader hoppas över. Behövs fler rader går det bra att skriva nedanför.",
    )
    line(
        "4. Lämna in",
        "Spara som Excel-arbetsbok (.xlsx) med samma filnamn eller ett eget; filen känns igen "
        "ändå. Ändra inte bladens namn eller kolumnrubrikerna.",
    )
    if options.carried_actions:
        line(
            "Från förra året",
            "Åtgärder som inte var genomförda eller avbrutna förra året står redan i bladet "
            "Åtgärder med sitt Åtgärds-ID. Uppdatera deras status och lägg till nya åtgärder.",
        )

    heading("Kolumnerna i bladet Åtgärder")
    for column in c.ACTION_COLUMNS:
        line(column, COLUMN_HELP[column])

    heading("Status")
    for status in c.STATUSES:
        line(status, STATUS_HELP[status])

    heading("Finansiering")
    line("", ", ".join(c.FUNDING_SOURCES) + ".")

    heading("Frågor")
    line(
        "",
        "Kontakta Kommunstyrelsens integrationssamordnare. Efter inlämning får ni en återkoppling "
        "som pekar ut de celler som behöver rättas, om några.",
    )

    _print_setup(ws, None)
    ws.fit_to_pages(1, 0)
    _protect(ws)


def _line_height(label: str, text: str) -> float:
    """Returns the height of an Instruktioner line: label in column A, text in column B."""
    return row_height([(label, 24), (text, 100)])


def _department_line(department: Department) -> tuple[str, str]:
    return "Förvaltning", f"{department.name} ({department.code})"


def _goals_sheet(ws: Worksheet, fmt: _Formats, plan: Plan, options: TemplateOptions) -> None:
    widths = (9, 28, 85, 12)
    for col, (name, width) in enumerate(zip(c.GOAL_COLUMNS, widths, strict=True)):
        ws.set_column(col, col, width)
        ws.write_string(0, col, name, fmt.header)
    ws.freeze_panes(1, 0)
    rows = _goal_rows(plan)
    for row, area, goal in rows:
        ws.write_string(row, 0, goal.id, fmt.plan_text)
        ws.write_string(row, 1, area.label, fmt.plan_text)
        ws.write_string(row, 2, goal.text, fmt.plan_text)
        ws.set_row(row, row_height([(area.label, widths[1]), (goal.text, widths[2])]))
        answer = options.concerns.get(goal.id, "")
        if answer:
            ws.write_string(row, _ANSWER_COL, answer, fmt.input)
        else:
            ws.write_blank(row, _ANSWER_COL, None, fmt.input)
    last = rows[-1][0] if rows else 0
    ws.data_validation(
        1,
        _ANSWER_COL,
        last,
        _ANSWER_COL,
        {
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$D$2:$D$3",
            "input_title": "Berör oss",
            "input_message": "Välj Ja om förvaltningen arbetar med delmålet, annars Nej.",
            "error_title": "Välj Ja eller Nej",
            "error_message": "Välj Ja eller Nej i listan.",
        },
    )
    _print_setup(ws, (0, 0))
    _protect(ws)


def _goal_rows(plan: Plan) -> list[tuple[int, GoalArea, Goal]]:
    """Returns the Delmål sheet's rows below the header: (row, målområde, delmål)."""
    goals = [(area, goal) for area in plan.goal_areas for goal in area.goals]
    return [(row, area, goal) for row, (area, goal) in enumerate(goals, start=1)]


def _lists_sheet(ws: Worksheet, plan: Plan) -> str:
    columns = (
        ("Delmål", [goal_label(g) for g in plan.goals]),
        ("Status", list(c.STATUSES)),
        ("Finansiering", list(c.FUNDING_SOURCES)),
        ("Ja/Nej", [c.YES, c.NO]),
    )
    for col, (header, values) in enumerate(columns):
        ws.write_string(0, col, header)
        for row, value in enumerate(values, start=1):
            ws.write_string(row, col, value)
    ws.set_column(0, 0, 60)
    ws.hide()
    ws.protect("")
    return f"={c.SHEET_LISTS}!$A$2:$A${len(plan.goals) + 1}"


def _identification_sheet(ws: Worksheet, identification: Mapping[str, str]) -> None:
    ws.write_string(0, 0, "Nyckel")
    ws.write_string(0, 1, "Värde")
    for row, (key, value) in enumerate(identification.items(), start=1):
        ws.write_string(row, 0, key)
        ws.write_string(row, 1, value)
    ws.very_hidden()
    ws.protect("")


def _text_prompt(title: str, message: str) -> dict[str, Any]:
    return {"validate": "any", "input_title": title, "input_message": message}


def _column_validation(column: str, goal_range: str) -> dict[str, Any]:
    title, message = INPUT_MESSAGES[column]
    prompt = {"input_title": title, "input_message": message}
    if column == c.GOAL:
        # A warning, not a stop: a pasted bare id ("1.3") is accepted by the pipeline.
        return {
            **prompt,
            "validate": "list",
            "source": goal_range,
            "error_type": "warning",
            "error_title": "Okänt delmål",
            "error_message": "Välj ett delmål i listan.",
        }
    if column == c.FUNDING:
        return {
            **prompt,
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$C$2:$C${len(c.FUNDING_SOURCES) + 1}",
            "error_title": "Ogiltig finansiering",
            "error_message": "Välj finansiering i listan.",
        }
    if column == c.STATUS:
        return {
            **prompt,
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$B$2:$B${len(c.STATUSES) + 1}",
            "error_title": "Ogiltig status",
            "error_message": "Välj status i listan.",
        }
    if column in (c.START, c.DONE):
        return {
            **prompt,
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(2000, 1, 1),
            "maximum": dt.date(2099, 12, 31),
            "error_title": "Ogiltigt datum",
            "error_message": "Skriv ett datum som 2027-03-01.",
        }
    if column == c.COST:
        return {
            **prompt,
            "validate": "decimal",
            "criteria": ">=",
            "value": 0,
            "error_title": "Ogiltig kostnad",
            "error_message": "Skriv kostnaden i kronor som ett tal, 0 eller mer.",
        }
    return {**prompt, "validate": "any"}


def _actions_sheet(
    ws: Worksheet, fmt: _Formats, plan: Plan, options: TemplateOptions, goal_range: str
) -> None:
    columns = c.ACTION_COLUMNS
    cell_format = {
        c.ACTION_ID: fmt.input_id,
        c.START: fmt.input_date,
        c.DONE: fmt.input_date,
        c.COST: fmt.input_money,
    }
    # The input format is also the column's own, so rows typed below the prepared ones are
    # unlocked and styled too.
    for col, name in enumerate(columns):
        ws.set_column(col, col, COLUMN_WIDTHS[name], cell_format.get(name, fmt.input))
        ws.write_string(0, col, name, fmt.header)
    ws.set_row(0, 30)
    ws.freeze_panes(1, 1)
    carried = _carried_rows(plan, options)
    last = _last_row(options)
    # Dropdowns and date checks reach further than the prepared cells: a range costs nothing.
    validated = max(options.validated_rows, last)
    blank = [None] * len(columns)
    for col, name in enumerate(columns):
        style = cell_format.get(name, fmt.input)
        for row in range(1, last + 1):  # explicit cells too: readers that ignore column formats
            values = carried[row - 1][1] if row <= len(carried) else blank
            _write_value(ws, row, col, values[col], style)
        ws.data_validation(1, col, validated, col, _column_validation(name, goal_range))
    for row, (height, _) in enumerate(carried, start=1):
        ws.set_row(row, height)
    ws.autofilter(0, 0, validated, len(columns) - 1)
    _print_setup(ws, (0, 0))
    _protect(ws)


def _last_row(options: TemplateOptions) -> int:
    """Returns the last prepared row of Åtgärder: room for 50 new actions below the carried ones."""
    return max(options.prepared_rows, len(options.carried_actions) + 50)


def _last_rows(options: TemplateOptions) -> tuple[int, int]:
    """Returns the last prepared row of Åtgärder and its last validated row."""
    last = _last_row(options)
    return max(options.validated_rows, last), last


def _carried_rows(plan: Plan, options: TemplateOptions) -> list[tuple[float, list[Any]]]:
    """Returns the pre-filled rows of Åtgärder: each row's height and its values by column.

    A carried delmål id is shown as its dropdown item; the height fits what is shown.
    """
    goal_labels = {g.id: goal_label(g) for g in plan.goals}
    goal = c.ACTION_COLUMNS.index(c.GOAL)
    widths = [COLUMN_WIDTHS[name] for name in c.ACTION_COLUMNS]
    rows = []
    for values in options.carried_actions:
        cells = [values.get(name) for name in c.ACTION_COLUMNS]
        if cells[goal] in goal_labels:
            cells[goal] = goal_labels[cells[goal]]
        height = row_height([(str(value or ""), width) for value, width in zip(cells, widths, strict=True)])
        rows.append((height, cells))
    return rows


def _write_value(ws: Worksheet, row: int, col: int, value: Any, style: Any) -> None:
    """Writes a cell by its type; text always as a string, never as a formula or link."""
    value = _cell_value(value)
    if value is None:
        ws.write_blank(row, col, None, style)
    elif isinstance(value, str):
        ws.write_string(row, col, value, style)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(row, col, value, style)
    else:
        ws.write_number(row, col, value, style)


def _cell_value(value: Any) -> Any:
    """Returns what a cell holds for `value`: None (blank), a string, a datetime or a number."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    if isinstance(value, dt.datetime | dt.date):
        return _as_datetime(value)
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, int | float):
        return value
    return str(value)


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def carried_over(
    plan: Plan,
    year: int,
    previous_actions: Any,
    previous_concerns: Any,
    base: TemplateOptions | None = None,
) -> dict[str, TemplateOptions]:
    """Returns template options per förvaltning, pre-filled from last year's handlingsplan.

    Carries each förvaltning's actions that are neither Genomförd nor Avbruten, with their
    Åtgärds-ID so the follow-up can track them, and its Berör oss answers. Frames are
    consolidated tables (see pipeline.combine); either may be None.
    """
    base = base or TemplateOptions(year=year)
    actions_by_code: dict[str, list[dict[str, Any]]] = {}
    if previous_actions is not None and len(previous_actions):
        still_open = previous_actions[~previous_actions[c.STATUS].isin(c.CLOSED_STATUSES)]
        # One conversion for the whole table, then bucketed: a pandas call per förvaltning
        # costs milliseconds, which adds up at a thousand förvaltningar.
        rows = still_open[list(c.ACTION_COLUMNS)].to_dict("records")
        for code, row in zip(still_open[c.DEPARTMENT], rows, strict=True):
            actions_by_code.setdefault(str(code), []).append({k: _blank_to_none(v) for k, v in row.items()})
    concerns_by_code: dict[str, dict[str, str]] = {}
    if previous_concerns is not None and len(previous_concerns):
        answered = previous_concerns[previous_concerns[c.CONCERNS_US].isin((c.YES, c.NO))]
        for code, goal, answer in zip(
            answered[c.DEPARTMENT], answered[c.GOAL_ID], answered[c.CONCERNS_US], strict=True
        ):
            concerns_by_code.setdefault(str(code), {})[str(goal)] = str(answer)
    return {
        code: replace(
            base,
            year=year,
            carried_actions=tuple(actions_by_code.get(code, ())),
            concerns=concerns_by_code.get(code, {}),
        )
        for code in plan.department_codes
    }


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    return value
