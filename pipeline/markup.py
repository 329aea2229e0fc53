"""The marked copy of a rejected workbook, made by editing only the XML parts that change.

openpyxl reads and rewrites every cell of a workbook, the template's prepared empty rows
too, which makes marking cost more than checking. A marked copy needs a few cells filled
and commented and one sheet added, so this edits just that, on the file format itself
(ECMA-376): the styles gain fills and formats, the marked sheets their comments, the
workbook a first sheet.
Every other part keeps its bytes, so nothing openpyxl would drop (images, charts, macros'
neighbours) is lost either.

What this cannot edit safely (comments already in a sheet, a macro workbook, a cell that
is not in the file, prefixed or commented XML) makes `marked_workbook` return None; the
caller then marks the workbook with openpyxl instead.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from defusedxml.ElementTree import fromstring as safe_fromstring
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments.comment_sheet import CommentRecord, CommentSheet
from openpyxl.packaging.core import DocumentProperties
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.xml.functions import fromstring, tostring

from pipeline.problems import describe

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
OFFICE_DOCUMENT = f"{REL_NS}/officeDocument"
WORKSHEET_REL = f"{REL_NS}/worksheet"
COMMENTS_REL = f"{REL_NS}/comments"
VML_REL = f"{REL_NS}/vmlDrawing"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"
WORKBOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
TEMPLATE_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# CT_Worksheet's children that come after legacyDrawing; it goes before the first of them.
_AFTER_LEGACY_DRAWING = (
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)
_UNSAFE = (b"<!--", b"<![CDATA[", b"<!DOCTYPE")
_TOP_CHILD = re.compile(rb"<(/?)([A-Za-z]+)[\s/>]")
_CHILD_NAMES = "|".join((*_AFTER_LEGACY_DRAWING, "legacyDrawing")).encode()
_XF = re.compile(rb"<xf\b[^>]*?/>|<xf\b[^>]*?[^/]>.*?</xf>", re.DOTALL)
_TAB_SELECTED = re.compile(rb"(<sheetView\b[^>]*?)\s+tabSelected=(?:\"[^\"]*\"|'[^']*')")

log = logging.getLogger(__name__)

Resolve = Callable[[str, int, int], "tuple[int, int] | None"]


@dataclass(frozen=True)
class CellMark:
    """One cell to mark: its fill (ARGB) and the comment that explains it."""

    sheet: str
    row: int
    column: int
    fill: str
    comment: str
    width: int
    height: int


@dataclass(frozen=True)
class FeedbackTable:
    """The sheet listing every problem, put first in the marked copy.

    `rows` are the values of each problem's row, the fill (ARGB) of its `fill_column` and
    its height in points (tall enough for the wrapped text, which no program sizes on opening).
    """

    name: str
    title: str
    intro: str
    header_row: int
    columns: tuple[tuple[str, int], ...]
    rows: tuple[tuple[tuple[str | None, ...], str, float], ...]
    fill_column: int
    font: str


class _Unsupported(Exception):
    """The workbook has something this module does not edit; openpyxl marks it instead."""


def marked_workbook(
    data: bytes,
    marks_for: Callable[[Resolve], Sequence[CellMark]],
    table: FeedbackTable,
    author: str,
    moment: dt.datetime,
) -> bytes | None:
    """Returns the .xlsx bytes with the cells marked and the feedback sheet first, or None.

    `marks_for` gets a resolver from (sheet, row, column) to the cell to mark (the first
    cell of a merged range), or None when the workbook has no such worksheet. None is
    returned when the workbook cannot be edited this way.
    """
    try:
        package = _Package(data)
        marks = marks_for(package.resolve)
        package.mark(marks, author)
        package.add_first_sheet(table)
        return package.save(moment)
    except _Unsupported as exc:  # something this module does not edit: openpyxl has its go
        log.info("Den markerade kopian görs med openpyxl (%s)", exc)
        return None
    except Exception as exc:  # a part missing or malformed: openpyxl has its go, and may say more
        log.warning("Den markerade kopian görs med openpyxl efter %s", describe(exc))
        return None


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def unmarkable_format(data: bytes) -> str | None:
    """Returns ".ods" or ".xls" when the workbook is in a format no marked copy is made of.

    The copy is an edited .xlsx package; an .ods or .xls is read and checked like an .xlsx
    but cannot be marked. Anything else (an .xlsx, or bytes that are damaged) is None: the
    caller tries to mark it, and a failure then is a real one.
    """
    if data.startswith(OLE2_SIGNATURE):
        return ".xls"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "mimetype" in archive.namelist() and archive.read("mimetype").strip().startswith(ODS_MIMETYPE):
                return ".ods"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None  # not a readable zip: marking it fails, and says so
    return None


def fixed_core(properties: DocumentProperties, moment: dt.datetime) -> bytes:
    """Returns docProps/core.xml with `moment` as created and modified, so reruns give equal bytes."""
    properties.created = moment
    properties.modified = moment
    xml = tostring(properties.to_tree())
    # openpyxl's tostring gives bytes (its stubs say str): encode only what is text.
    return xml if isinstance(xml, bytes) else xml.encode()


def repack(parts: Iterable[tuple[str, int, bytes]], moment: dt.datetime) -> bytes:
    """Returns a zip of (name, external attributes, bytes) with every entry dated `moment`."""
    stamp = moment.timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, external_attr, content in parts:
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = external_attr
            archive.writestr(entry, content)
    return out.getvalue()


def clean_text(text: str) -> str:
    """Returns `text` without the control characters XML cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)


# --- the package ---------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    part: str
    merged: list[tuple[int, int, int, int]] | None = None  # min_col, min_row, max_col, max_row


class _Package:
    """An .xlsx package being edited: the original parts and the ones changed or added."""

    def __init__(self, data: bytes) -> None:
        self.archive = zipfile.ZipFile(io.BytesIO(data))
        self.names = set(self.archive.namelist())
        self.changed: dict[str, bytes] = {}
        self.added: dict[str, bytes] = {}
        if b"macroEnabled" in self.read("[Content_Types].xml"):
            raise _Unsupported("macros: openpyxl saves the copy without them")
        self.workbook_part = self._workbook_part()
        workbook = self.read(self.workbook_part)
        _require_plain(workbook, b"workbook")
        self.sheets: list[_Sheet] = []
        self.sheet_ids: list[int] = []
        self.worksheets: dict[str, _Sheet] = {}
        self._read_sheets(workbook)
        self.styles_part = self._styles_part()
        self.styles = _Styles(self.read(self.styles_part))

    # Reading.

    def read(self, name: str) -> bytes:
        if name in self.changed:
            return self.changed[name]
        if name in self.added:
            return self.added[name]
        return self.archive.read(name)

    def exists(self, name: str) -> bool:
        return name in self.names or name in self.added

    def _workbook_part(self) -> str:
        for _, kind, target in _relationships(self.read("_rels/.rels")):
            if kind == OFFICE_DOCUMENT:
                return _resolve_target("", target)
        raise _Unsupported("no workbook part")

    def _styles_part(self) -> str:
        for _, kind, target in _relationships(self.read(_rels_path(self.workbook_part))):
            if kind == f"{REL_NS}/styles":
                return _resolve_target(self.workbook_part, target)
        raise _Unsupported("no styles part")

    def _read_sheets(self, workbook: bytes) -> None:
        parts = {
            rel_id: (kind, _resolve_target(self.workbook_part, target))
            for rel_id, kind, target in _relationships(self.read(_rels_path(self.workbook_part)))
        }
        for element in safe_fromstring(workbook).iter(f"{{{MAIN_NS}}}sheet"):
            kind, part = parts.get(element.get(f"{{{REL_NS}}}id", ""), ("", ""))
            sheet = _Sheet(element.get("name", ""), part)
            self.sheets.append(sheet)
            self.sheet_ids.append(int(element.get("sheetId", "0")))
            if kind == WORKSHEET_REL and self.exists(part):
                self.worksheets[sheet.name] = sheet

    def resolve(self, sheet_name: str, row: int, column: int) -> tuple[int, int] | None:
        """Returns the cell to mark for (row, column): the first of a merged range, or itself."""
        sheet = self.worksheets.get(sheet_name)
        if sheet is None:
            return None
        if sheet.merged is None:
            sheet.merged = _merged_ranges(self.read(sheet.part))
        for min_col, min_row, max_col, max_row in sheet.merged:
            if min_row <= row <= max_row and min_col <= column <= max_col:
                return min_row, min_col
        return row, column

    # Editing.

    def mark(self, marks: Sequence[CellMark], author: str) -> None:
        """Fills and comments the marked cells, sheet by sheet."""
        by_sheet: dict[str, list[CellMark]] = {}
        for mark in marks:
            by_sheet.setdefault(mark.sheet, []).append(mark)
        for name, sheet_marks in by_sheet.items():
            sheet = self.worksheets[name]
            xml = self.read(sheet.part)
            _require_plain(xml, b"worksheet")
            if b"AlternateContent" in xml:  # may wrap controls, where legacyDrawing would go
                raise _Unsupported("alternate content")
            xml = _fill_cells(xml, sheet_marks, self.styles)
            rel_id = self._add_comments(sheet.part, sheet_marks, author)
            self.changed[sheet.part] = _insert_legacy_drawing(xml, rel_id)

    def _add_comments(self, sheet_part: str, marks: Sequence[CellMark], author: str) -> str:
        """Adds the comments and their VML boxes for one sheet; returns the drawing's rel id."""
        records = []
        for mark in sorted(marks, key=lambda m: (m.row, m.column)):
            record = CommentRecord(ref=f"{get_column_letter(mark.column)}{mark.row}", author=author)
            record.text.t = clean_text(mark.comment)
            record.width, record.height = mark.width, mark.height
            records.append(record)
        comments = CommentSheet.from_comments(records)
        comments_part = self._new_part("xl/comments/comment{}.xml")
        self.added[comments_part] = tostring(comments.to_tree())
        vml_part = self._new_part("xl/drawings/commentsDrawing{}.vml")
        self.added[vml_part] = comments.write_shapes(None)
        ids = self._relate(sheet_part, [(COMMENTS_REL, comments_part), (VML_REL, vml_part)])
        self._declare(override=[(comments_part, COMMENTS_TYPE)], default=[("vml", VML_TYPE)])
        return ids[1]

    def add_first_sheet(self, table: FeedbackTable) -> None:
        """Adds the feedback sheet before all others, selected and shown on opening."""
        if table.name in {sheet.name for sheet in self.sheets}:
            raise _Unsupported("an earlier feedback sheet")
        for sheet in self.worksheets.values():
            xml = self.read(sheet.part)
            if b"tabSelected" in xml:
                self.changed[sheet.part] = _TAB_SELECTED.sub(rb"\1", xml)
        part = self._new_part(posixpath.join(posixpath.dirname(self.workbook_part), "worksheets/sheet{}.xml"))
        self.added[part] = _feedback_sheet(table, self.styles)
        (rel_id,) = self._relate(self.workbook_part, [(WORKSHEET_REL, part)])
        self._declare(override=[(part, WORKSHEET_TYPE)])
        self.changed[self.workbook_part] = _first_sheet(
            self.read(self.workbook_part), table.name, max(self.sheet_ids, default=0) + 1, rel_id
        )

    def save(self, moment: dt.datetime) -> bytes:
        """Returns the edited package, every entry dated `moment`."""
        self.changed[self.styles_part] = self.styles.xml()
        self._fix_content_types()
        self._fix_document_properties(moment)
        parts = [
            (info.filename, info.external_attr, self.read(info.filename))
            for info in self.archive.infolist()
            if not info.is_dir()
        ]
        parts += [(name, 0, content) for name, content in self.added.items()]
        return repack(parts, moment)

    def _fix_content_types(self) -> None:
        """Declares the workbook a plain .xlsx, as the copy's name says, even if it came as a template."""
        xml = self.read("[Content_Types].xml")
        self.changed["[Content_Types].xml"] = xml.replace(TEMPLATE_TYPE.encode(), WORKBOOK_TYPE.encode())

    def _fix_document_properties(self, moment: dt.datetime) -> None:
        if self.exists("docProps/core.xml"):
            # Any: openpyxl's stubs ask for their own element protocol, which the parsed
            # ElementTree element is at run time.
            node: Any = fromstring(self.read("docProps/core.xml"))
            properties = DocumentProperties.from_tree(node)
            if properties is None:
                raise _Unsupported("unreadable document properties")
            self.changed["docProps/core.xml"] = fixed_core(properties, moment)
        if self.exists("docProps/app.xml"):
            # The sheet titles listed there would leave out the new sheet; they are optional.
            app = self.read("docProps/app.xml")
            for element in (b"HeadingPairs", b"TitlesOfParts"):
                app = re.sub(rb"<(\w+:)?%s\b.*?</(\w+:)?%s>" % (element, element), b"", app, flags=re.DOTALL)
            self.changed["docProps/app.xml"] = app

    # Package plumbing.

    def _new_part(self, pattern: str) -> str:
        number = 1
        while self.exists(pattern.format(number)):
            number += 1
        name = pattern.format(number)
        self.added[name] = b""
        return name

    def _relate(self, source: str, targets: Sequence[tuple[str, str]]) -> list[str]:
        """Adds relationships from `source` to each (type, part); returns their ids."""
        rels_part = _rels_path(source)
        xml = self.read(rels_part) if self.exists(rels_part) else None
        taken = {rel_id for rel_id, _, _ in _relationships(xml)} if xml else set()
        ids, elements = [], []
        for kind, part in targets:
            number = 1
            while f"rId{number}" in taken:
                number += 1
            rel_id = f"rId{number}"
            taken.add(rel_id)
            ids.append(rel_id)
            target = posixpath.relpath(part, posixpath.dirname(source) or ".")
            elements.append(f'<Relationship Id="{rel_id}" Type="{kind}" Target="{target}"/>'.encode())
        if xml is None:
            xml = XML_DECLARATION + f'<Relationships xmlns="{PACKAGE_REL_NS}"></Relationships>'.encode()
            self.added[rels_part] = _insert_before_end(xml, b"Relationships", b"".join(elements))
        else:
            self.changed[rels_part] = _insert_before_end(xml, b"Relationships", b"".join(elements))
        return ids

    def _declare(
        self, *, override: Sequence[tuple[str, str]] = (), default: Sequence[tuple[str, str]] = ()
    ) -> None:
        xml = self.read("[Content_Types].xml")
        declared = safe_fromstring(xml)
        extensions = {e.get("Extension", "").lower() for e in declared.iter(f"{{{CONTENT_TYPES_NS}}}Default")}
        additions = [
            f'<Default Extension="{extension}" ContentType="{kind}"/>'
            for extension, kind in default
            if extension not in extensions
        ]
        additions += [f'<Override PartName="/{part}" ContentType="{kind}"/>' for part, kind in override]
        self.changed["[Content_Types].xml"] = _insert_before_end(xml, b"Types", "".join(additions).encode())


# --- the styles ----------------------------------------------------------------------------


class _Styles:
    """styles.xml with the fonts, fills and cell formats the marked copy adds."""

    def __init__(self, xml: bytes) -> None:
        _require_plain(xml, b"styleSheet")
        if b"<cellStyleXfs" not in xml:
            raise _Unsupported("no cell style formats")
        self.original = xml
        self.fonts = _Children(xml, b"fonts", b"font")
        self.fills = _Children(xml, b"fills", b"fill")
        self.cell_xfs = _Children(xml, b"cellXfs", b"xf")
        self.existing_xfs = [m.group(0) for m in _XF.finditer(self.cell_xfs.inner)]
        if len(self.existing_xfs) != self.cell_xfs.count:
            raise _Unsupported("cell formats not as counted")
        self._fill_ids: dict[str, int] = {}
        self._xf_ids: dict[tuple[object, ...], int] = {}

    def fill(self, argb: str) -> int:
        if argb not in self._fill_ids:
            element = f'<fill><patternFill patternType="solid"><fgColor rgb="{argb}"/><bgColor rgb="{argb}"/></patternFill></fill>'
            self._fill_ids[argb] = self.fills.add(element.encode())
        return self._fill_ids[argb]

    def marked(self, style: int, argb: str) -> int:
        """Returns the format of a cell formatted `style`, filled with `argb`."""
        key = ("marked", style, argb)
        if key not in self._xf_ids:
            if not 0 <= style < len(self.existing_xfs):
                raise _Unsupported("a cell format that is not there")
            xf = _with_attributes(self.existing_xfs[style], fillId=str(self.fill(argb)), applyFill="1")
            self._xf_ids[key] = self.cell_xfs.add(xf)
        return self._xf_ids[key]

    def bold(self, name: str, size: int) -> int:
        key = ("bold", name, size)
        if key not in self._xf_ids:
            font = f'<font><b val="1"/><sz val="{size}"/><name val={quoteattr(name)}/></font>'.encode()
            xf = f'<xf numFmtId="0" fontId="{self.fonts.add(font)}" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            self._xf_ids[key] = self.cell_xfs.add(xf.encode())
        return self._xf_ids[key]

    def wrapped(self, argb: str | None = None) -> int:
        key = ("wrapped", argb)
        if key not in self._xf_ids:
            fill = f' fillId="{self.fill(argb)}" applyFill="1"' if argb else ' fillId="0"'
            xf = (
                f'<xf numFmtId="0" fontId="0"{fill} borderId="0" xfId="0" applyAlignment="1">'
                '<alignment vertical="top" wrapText="1"/></xf>'
            )
            self._xf_ids[key] = self.cell_xfs.add(xf.encode())
        return self._xf_ids[key]

    def xml(self) -> bytes:
        edits = [child.edit() for child in (self.fonts, self.fills, self.cell_xfs)]
        return _apply_edits(self.original, [edit for pair in edits for edit in pair])


class _Children:
    """A counted list element of styles.xml (fonts, fills, cellXfs) that gains children."""

    def __init__(self, xml: bytes, name: bytes, child: bytes) -> None:
        start = re.search(rb"<%s(\s[^>]*)?>" % name, xml)
        end = xml.find(b"</%s>" % name)
        if start is None or end < start.end():
            raise _Unsupported(f"no {name.decode()} list")
        self.start_tag = (start.start(), start.end())
        self.end = end
        self.inner = xml[start.end() : end]
        self.tag = start.group(0)
        self.count = len(re.findall(rb"<%s[\s/>]" % child, self.inner))
        self.new: list[bytes] = []

    def add(self, element: bytes) -> int:
        self.new.append(element)
        return self.count + len(self.new) - 1

    def edit(self) -> tuple[tuple[int, int, bytes], tuple[int, int, bytes]]:
        total = str(self.count + len(self.new))
        tag = _with_attributes(self.tag, count=total) if b"count=" in self.tag else self.tag
        return (*self.start_tag, tag), (self.end, self.end, b"".join(self.new))


# --- worksheet and workbook XML ---------------------------------------------------------


def _fill_cells(xml: bytes, marks: Sequence[CellMark], styles: _Styles) -> bytes:
    """Returns the sheet with each marked cell given a filled copy of its format."""
    edits = []
    for mark in marks:
        ref = f"{get_column_letter(mark.column)}{mark.row}".encode()
        found = re.search(rb"<c\s(?:[^>]*?\s)?r=[\"']%s[\"'][^>]*>" % ref, xml)
        if found is None:
            raise _Unsupported("a cell not in the file")
        tag = found.group(0)
        style = re.search(rb"\ss=[\"'](\d+)[\"']", tag)
        xf = styles.marked(int(style.group(1)) if style else 0, mark.fill)
        edits.append((found.start(), found.end(), _with_attributes(tag, s=str(xf))))
    return _apply_edits(xml, edits)


def _insert_legacy_drawing(xml: bytes, rel_id: str) -> bytes:
    """Returns the sheet with <legacyDrawing> (the comment boxes) where the schema wants it."""
    sheet_data_end = xml.rfind(b"</sheetData>")
    if sheet_data_end < 0:
        raise _Unsupported("no cells")
    position = _top_level_position(xml, sheet_data_end)
    element = f'<legacyDrawing xmlns:r="{REL_NS}" r:id="{rel_id}"/>'.encode()
    return xml[:position] + element + xml[position:]


def _top_level_position(xml: bytes, after: int) -> int:
    """Returns where legacyDrawing goes: before the first later sibling, else before </worksheet>."""
    depth = 0
    for match in _TOP_CHILD.finditer(xml, after + len(b"</sheetData>")):
        closing, name = match.group(1), match.group(2).decode()
        self_closing = xml[match.start() : xml.find(b">", match.start()) + 1].endswith(b"/>")
        if closing:
            if depth == 0:
                return match.start()  # </worksheet>
            depth -= 1
            continue
        if depth == 0:
            if name == "legacyDrawing":
                raise _Unsupported("comments already there")
            if name in _AFTER_LEGACY_DRAWING:
                return match.start()
        if not self_closing:
            depth += 1
    raise _Unsupported("no end of worksheet")


def _first_sheet(workbook: bytes, name: str, sheet_id: int, rel_id: str) -> bytes:
    """Returns workbook.xml with the sheet `name` first and active; sheet-local names shift by one."""
    sheets = re.search(rb"<sheets\s*>", workbook)
    if sheets is None:
        raise _Unsupported("no sheets list")
    declared = re.search(rb'xmlns:(\w+)="%s"' % REL_NS.encode(), workbook[: sheets.start()])
    prefix, declaration = (declared.group(1).decode(), "") if declared else ("r", f' xmlns:r="{REL_NS}"')
    element = f'<sheet{declaration} name={quoteattr(name)} sheetId="{sheet_id}" {prefix}:id="{rel_id}"/>'
    edited = workbook[: sheets.end()] + element.encode() + workbook[sheets.end() :]
    edited = re.sub(rb'localSheetId="(\d+)"', lambda m: b'localSheetId="%d"' % (int(m.group(1)) + 1), edited)
    return re.sub(rb'\b(activeTab|firstSheet)="\d+"', rb'\1="0"', edited)


def _feedback_sheet(table: FeedbackTable, styles: _Styles) -> bytes:
    """Returns the worksheet XML of the feedback sheet."""
    rows = [
        _row(1, [(1, table.title, styles.bold(table.font, 14))]),
        _row(2, [(1, table.intro, None)]),
        _row(
            table.header_row,
            [(n, title, styles.bold(table.font, 11)) for n, (title, _) in enumerate(table.columns, 1)],
        ),
    ]
    for number, (values, fill, height) in enumerate(table.rows, start=table.header_row + 1):
        cells = [
            (n, value, styles.wrapped(fill if n == table.fill_column else None))
            for n, value in enumerate(values, 1)
        ]
        rows.append(_row(number, cells, height))
    columns = "".join(
        f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>'
        for n, (_, width) in enumerate(table.columns, 1)
    )
    first_row = table.header_row + 1
    return (
        XML_DECLARATION
        + (
            f'<worksheet xmlns="{MAIN_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><sheetViews><sheetView tabSelected="1" workbookViewId="0">'
            f'<pane ySplit="{table.header_row}" topLeftCell="A{first_row}" activePane="bottomLeft" state="frozen"/>'
            f'<selection pane="bottomLeft" activeCell="A{first_row}" sqref="A{first_row}"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{columns}</cols><sheetData>{"".join(rows)}</sheetData>'
            '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
            '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/></worksheet>'
        ).encode()
    )


def _row(
    number: int, cells: Sequence[tuple[int, str | None, int | None]], height: float | None = None
) -> str:
    size = f' ht="{height:g}" customHeight="1"' if height else ""
    return f'<row r="{number}"{size}>{"".join(_cell(number, *cell) for cell in cells)}</row>'


def _cell(row: int, column: int, value: str | None, style: int | None) -> str:
    """Returns one cell as an inline string; text from a submission is never a formula."""
    ref = f"{get_column_letter(column)}{row}"
    style_attribute = f' s="{style}"' if style is not None else ""
    text = clean_text(value) if value else ""
    if not text:
        return f'<c r="{ref}"{style_attribute}/>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{style_attribute} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


# --- small helpers ---------------------------------------------------------------------------


def _merged_ranges(xml: bytes) -> list[tuple[int, int, int, int]]:
    """Returns (min column, min row, max column, max row) of each merged range of a sheet."""
    ranges = []
    for ref in re.findall(rb"<mergeCell\s[^>]*?\bref=\"([^\"]+)\"", xml):
        min_col, min_row, max_col, max_row = range_boundaries(ref.decode())
        if min_col is None or min_row is None or max_col is None or max_row is None:
            continue  # a whole row or column: Excel never merges those
        ranges.append((min_col, min_row, max_col, max_row))
    return ranges


def _require_plain(xml: bytes, root: bytes) -> None:
    """Refuses XML whose root is prefixed or that holds comments, CDATA or a DTD."""
    if re.search(rb"<%s[\s>]" % root, xml[:4096]) is None or any(marker in xml for marker in _UNSAFE):
        raise _Unsupported(f"unusual {root.decode()} XML")


def _relationships(xml: bytes) -> list[tuple[str, str, str]]:
    """Returns (id, type, target) of each internal relationship in a .rels part."""
    return [
        (rel.get("Id", ""), rel.get("Type", ""), rel.get("Target", ""))
        for rel in safe_fromstring(xml).iter(f"{{{PACKAGE_REL_NS}}}Relationship")
        if rel.get("TargetMode") != "External"
    ]


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve_target(source: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def _with_attributes(tag: bytes, **values: str) -> bytes:
    """Returns an element's start tag (or whole empty element) with the attributes set."""
    head_end = tag.index(b">")
    head, rest = tag[:head_end], tag[head_end:]
    if head.endswith(b"/"):
        head, rest = head[:-1], b"/" + rest
    for name, value in values.items():
        attribute = b' %s="%s"' % (name.encode(), value.encode())
        pattern = rb"\s%s=(?:\"[^\"]*\"|'[^']*')" % name.encode()
        found = re.search(pattern, head)
        head = head[: found.start()] + attribute + head[found.end() :] if found else head + attribute
    return head + rest


def _insert_before_end(xml: bytes, root: bytes, content: bytes) -> bytes:
    end = xml.rfind(b"</%s>" % root)
    if end < 0:
        raise _Unsupported(f"no end of {root.decode()}")
    return xml[:end] + content + xml[end:]


def _apply_edits(xml: bytes, edits: Iterable[tuple[int, int, bytes]]) -> bytes:
    """Returns `xml` with each (start, end) span replaced; spans must not overlap."""
    out, position = [], 0
    for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < position:
            raise _Unsupported("overlapping edits")
        out += [xml[position:start], replacement]
        position = end
    out.append(xml[position:])
    return b"".join(out)
