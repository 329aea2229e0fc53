"""Whether a dropped file is a workbook (.xlsx, .ods or .xls) that is safe to hand to a reader.

The sniffer looks at bytes only: signatures, the zip directory, a streamed pass over the
XML parts, and the stream names of an OLE2 file. It never loads a whole part into memory and stops as soon as a limit is
passed, since a zip's headers can lie about sizes. It raises only when the file itself
cannot be opened or read (`OSError`); everything wrong with the content is a catalogued
problem (`pipeline.problems`) in the `SniffResult`, telling the förvaltning what to do.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from pipeline.problems import Problem, describe, problem

MIB = 1024 * 1024


@dataclass(frozen=True)
class SniffLimits:
    """Limits that keep sniffing a hostile file bounded in memory and time.

    Attributes:
        max_members: most parts (zip members) a workbook may have.
        max_member_bytes: most bytes one part may unpack to.
        max_total_bytes: most bytes all parts together may unpack to.
        max_ratio: highest unpacked/packed ratio for a part larger than 1 MiB.
        chunk_size: bytes read from a part at a time.
    """

    max_members: int = 1000
    max_member_bytes: int = 200 * MIB
    max_total_bytes: int = 500 * MIB
    max_ratio: float = 200.0
    chunk_size: int = 64 * 1024


@dataclass(frozen=True)
class SniffResult:
    """What a file appears to be, and whether it may be opened as a workbook.

    The problems name no file (`file` is ""): the sniffer sees bytes, not the name the
    förvaltning gave them; the caller places them with `Problem.located(name)`.

    Attributes:
        kind: the workbook's format when it may be opened: "xlsx", "ods" (LibreOffice's
            own) or "xls" (Excel 97-2003); otherwise the code of the problem that keeps the
            file from being opened ("encrypted", "zip_bomb", "dtd", ...).
        problem: why the file must not be opened (an error); None when it may be.
        notes: warnings about a file that may be opened (e.g. links to other files).
    """

    kind: str
    problem: Problem | None = None
    notes: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """Returns True when the file is a workbook (kind .xlsx, .ods or .xls) that is safe to read."""
        return self.problem is None


WORKBOOK_KINDS = ("xlsx", "ods", "xls")
"""The kinds of file that may be opened: `SniffResult.kind` when `ok`."""


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_LOCAL_SIGNATURE = b"PK\x03\x04"

RATIO_MIN_BYTES = 1 * MIB
"""Parts smaller than this are not checked for their compression ratio."""
OLE2_SCAN_BYTES = 8 * MIB
"""How far into an OLE2 file to look for the names of its streams."""
HEAD_BYTES = 8 * 1024
"""How much of the start of a file the text checks look at."""
MAX_DIRECTORY_BYTES_PER_MEMBER = 1024
"""Zip directory bytes allowed per permitted member, bounding what zipfile parses."""
STREAMED_SUFFIXES = (".xml", ".rels", ".vml")
DTD_MARKERS = (b"<!doctype", b"<!entity")
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)
"""What zipfile raises for a damaged or hostile zip: bad headers or CRC, broken deflate
data, encrypted or unsupported members, offsets outside the file."""

_SIGNATURES = (
    (b"%PDF", "en PDF"),
    (b"\x89PNG", "en bild (PNG)"),
    (b"\xff\xd8\xff", "en bild (JPEG)"),
    (b"GIF8", "en bild (GIF)"),
    (b"{\\rtf", "ett RTF-dokument"),
)
"""Signatures of other files a förvaltning might drop, and what each is (problem "other_format")."""
_OLE2_OTHER_STREAMS = (
    ("WordDocument", "ett gammalt Word-dokument (.doc)"),
    ("PowerPoint Document", "en gammal PowerPoint-presentation (.ppt)"),
)
_OLE2_WORKBOOK_STREAMS = ("Workbook", "Book")
"""The stream of an .xls workbook: "Workbook" from Excel 97 on, "Book" before it."""
_OLE2_MACRO_STREAM = "_VBA_PROJECT_CUR"
_ODS_MACRO_FOLDERS = ("Basic/", "Scripts/")
_ODS_MACRO_LIBRARY_INDEXES = ("script-lc.xml", "script-lb.xml")
"""Files LibreOffice may write in Basic/ for a document without any macro."""
_ZIP_OTHER_PACKAGES = (
    ("word/document.xml", "ett Word-dokument (.docx)"),
    ("ppt/presentation.xml", "en PowerPoint-presentation (.pptx)"),
)
_CSV_SEPARATORS = (";", ",", "\t")


def sniff_workbook(path: Path, limits: SniffLimits = SniffLimits()) -> SniffResult:
    """Returns whether `path` is a workbook that is safe to open (and its kind), and if not, why.

    An .xlsx or .ods (both zips) is checked part by part against the limits; an .xls (an
    OLE2 compound file) is let through when it has a workbook stream and no encryption or
    macros. What the file's name says does not matter.

    Args:
        path: the file to look at; it is only read.
        limits: size and count limits; the defaults suit a filled-in template.

    Raises:
        OSError: the file cannot be opened.
    """
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            return _reject("empty")
        handle.seek(0)
        head = handle.read(HEAD_BYTES)
        found = _sniff_head(handle, head)
        if found is not None:
            return found
        return _sniff_zip(handle, size, limits)


def has_zip_end_record(path: Path) -> bool:
    """Returns True when the file ends with a zip end-of-central-directory record.

    A zip that is still being copied lacks it, since zip writers put the directory last.
    """
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        return _read_zip_end(handle, size) is not None


# --- before the zip: signatures and text ------------------------------------------------


def _sniff_head(handle: BinaryIO, head: bytes) -> SniffResult | None:
    """Returns the verdict for a file that does not start like a zip; None when it does."""
    if head.startswith(ZIP_LOCAL_SIGNATURE):
        return None
    if head.startswith(OLE2_SIGNATURE):
        return _sniff_ole2(handle)
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return _reject("other_format", what=what)
    text = _as_text(head)
    if text is not None:
        return _sniff_text(text)
    return _reject("not_zip")


def _sniff_ole2(handle: BinaryIO) -> SniffResult:
    """Returns the verdict for an OLE2 compound file: encrypted workbook, .xls or other.

    An encrypted .xlsx is an OLE2 file with an "EncryptionInfo" stream; an .xls with a
    password to open has a FILEPASS record right after the workbook's first record.
    """
    names = {
        "EncryptionInfo",
        _OLE2_MACRO_STREAM,
        *_OLE2_WORKBOOK_STREAMS,
        *(name for name, _ in _OLE2_OTHER_STREAMS),
    }
    handle.seek(0)
    found, password = _scan_ole2(
        _read_chunks(handle, 64 * 1024, OLE2_SCAN_BYTES), {n: n.encode("utf-16-le") for n in names}
    )
    if "EncryptionInfo" in found or password:
        return _reject("encrypted")
    for name, what in _OLE2_OTHER_STREAMS:
        if name in found:
            return _reject("other_format", what=what)
    if not any(name in found for name in _OLE2_WORKBOOK_STREAMS):
        return _reject("other_format", what="ett gammalt Office-dokument som inte är ett kalkylark")
    if _OLE2_MACRO_STREAM in found:
        return _reject("macros")
    return SniffResult("xls")


_BIFF8_GLOBALS_BOF = b"\x09\x08\x10\x00\x00\x06\x05\x00"
"""The first record of an .xls workbook stream: BOF, BIFF8, workbook globals."""
_BIFF_FILEPASS = b"\x2f\x00"
OLE2_SECTOR_ALIGNMENT = 512
"""Every OLE2 sector, and so the start of a workbook stream, begins at a multiple of this."""


def _scan_ole2(chunks: Iterable[bytes], markers: dict[str, bytes]) -> tuple[set[str], bool]:
    """Returns the markers found (across chunk boundaries), and whether the workbook has a password.

    Chunks must be multiples of OLE2_SECTOR_ALIGNMENT long (except the last), so each
    sector's start is found at an aligned offset of its chunk.
    """
    found: set[str] = set()
    password = False
    overlap = max(len(marker) for marker in markers.values()) - 1
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        found.update(key for key, marker in markers.items() if marker in window)
        tail = window[-overlap:]
        for offset in range(0, len(chunk), OLE2_SECTOR_ALIGNMENT):
            if chunk.startswith(_BIFF8_GLOBALS_BOF, offset):
                record_end = offset + 4 + 16  # the BOF's header and its 16 bytes
                password = password or chunk.startswith(_BIFF_FILEPASS, record_end)
    return found, password


def _as_text(head: bytes) -> str | None:
    """Returns the start of the file as text, or None when it looks binary."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if b"\x00" in head:
        return None
    controls = sum(1 for byte in head if (byte < 0x20 and byte not in b"\t\n\r\f") or byte == 0x7F)
    if controls > len(head) // 100:
        return None
    return head.decode("utf-8", errors="replace")


def _sniff_text(text: str) -> SniffResult:
    """Returns the verdict for a text file: a web page, XML, CSV or plain text."""
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<html", "<!doctype html")) or (start.startswith("<") and "<html" in start[:2048]):
        return _reject("html")
    if start.startswith("<?xml"):
        return _reject("xml")
    if _looks_like_csv(text):
        return _reject("csv")
    return _reject("text")


def _looks_like_csv(text: str) -> bool:
    """Returns True when every one of the first lines holds the same separator."""
    lines = [line for line in text.splitlines()[:10] if line.strip()]
    return bool(lines) and any(all(sep in line for line in lines) for sep in _CSV_SEPARATORS)


# --- the zip: directory, names, declared sizes, streamed parts ---------------------------


@dataclass(frozen=True)
class _ZipEnd:
    """The counts a zip's end-of-central-directory record declares."""

    entries: int
    directory_size: int


_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def _read_zip_end(handle: BinaryIO, size: int) -> _ZipEnd | None:
    """Returns the zip end record's counts, or None when the file has no end record."""
    tail_length = min(size, _EOCD.size + 0xFFFF)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or position + _EOCD.size > len(tail):
        return None
    _, _, _, _, entries, directory_size, _, _ = _EOCD.unpack_from(tail, position)
    if entries != 0xFFFF and directory_size != 0xFFFFFFFF:
        return _ZipEnd(entries, directory_size)
    return _read_zip64_end(handle, size - tail_length + position) or _ZipEnd(entries, directory_size)


def _read_zip64_end(handle: BinaryIO, end_offset: int) -> _ZipEnd | None:
    """Returns the counts of the zip64 end record just before `end_offset`, if there is one."""
    record_offset = end_offset - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if record_offset < 0:
        return None
    handle.seek(record_offset)
    data = handle.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
    locator = _ZIP64_LOCATOR.unpack_from(data, _ZIP64_EOCD.size)
    record = _ZIP64_EOCD.unpack(data[: _ZIP64_EOCD.size])
    if locator[0] != b"PK\x06\x07" or record[0] != b"PK\x06\x06":
        return None
    return _ZipEnd(entries=record[7], directory_size=record[8])


def _sniff_zip(handle: BinaryIO, size: int, limits: SniffLimits) -> SniffResult:
    """Returns the verdict for a file that starts like a zip."""
    end = _read_zip_end(handle, size)
    if end is None:
        return _reject("truncated")
    if (
        end.entries > limits.max_members
        or end.directory_size > limits.max_members * MAX_DIRECTORY_BYTES_PER_MEMBER
    ):
        return _reject("too_many_members")
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except ZIP_ERRORS as exc:
        return _reject("truncated", detail=describe(exc))
    with archive:
        return _sniff_members(archive, limits)


def _sniff_members(archive: zipfile.ZipFile, limits: SniffLimits) -> SniffResult:
    """Returns the verdict for an opened zip, from its member names, sizes and XML parts."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        return _reject("too_many_members")
    names = {member.filename for member in members}
    kind = _zip_kind(archive, names)
    if isinstance(kind, SniffResult):
        return kind
    found = (
        (_check_package(names) if kind == "xlsx" else _check_ods_macros(names))
        or _check_declared_sizes(members, limits)
        or _check_streamed(archive, members, limits)
    )
    if found is not None:
        return found
    notes = (problem("external_links", file=""),) if _has_external_links(names) else ()
    return SniffResult(kind, notes=notes)


def _zip_kind(archive: zipfile.ZipFile, names: set[str]) -> str | SniffResult:
    """Returns "ods" for an OpenDocument spreadsheet, "xlsx" for any other zip without a
    mimetype, or a rejection for another OpenDocument file (.odt, ...)."""
    if "mimetype" not in names:
        return "xlsx"
    try:
        with archive.open("mimetype") as member:
            mimetype = member.read(256).decode("ascii", errors="replace").strip()
    except ZIP_ERRORS as exc:
        return _reject("corrupt_member", part="mimetype", detail=describe(exc))
    if mimetype.startswith("application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    if mimetype.startswith("application/vnd.oasis.opendocument"):
        return _reject("other_format", what="ett OpenDocument-dokument")
    return "xlsx"


def _check_ods_macros(names: set[str]) -> SniffResult | None:
    """Returns a rejection when an .ods carries macros (Basic modules or scripts)."""
    for name in names:
        if (
            name.startswith(_ODS_MACRO_FOLDERS)
            and not name.endswith("/")
            and PurePosixPath(name).name not in _ODS_MACRO_LIBRARY_INDEXES
        ):
            return _reject("macros")
    return None


def _check_package(names: set[str]) -> SniffResult | None:
    """Returns a rejection when the zip is not an Excel package, or carries macros."""
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        for name, what in _ZIP_OTHER_PACKAGES:
            if name in names:
                return _reject("other_format", what=what)
        if "xl/workbook.bin" in names:
            return _reject("xlsb")
        return _reject("not_xlsx")
    if "xl/vbaProject.bin" in names:
        return _reject("macros")
    return None


def _check_declared_sizes(members: list[zipfile.ZipInfo], limits: SniffLimits) -> SniffResult | None:
    """Returns a rejection when the sizes the zip directory declares are beyond the limits."""
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_packed = member.file_size > RATIO_MIN_BYTES and ratio > limits.max_ratio
        if member.file_size > limits.max_member_bytes or too_packed or total > limits.max_total_bytes:
            return _reject("zip_bomb", part=member.filename)
    return None


def _check_streamed(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: SniffLimits
) -> SniffResult | None:
    """Returns a rejection when an XML part is damaged, too large when unpacked, or has a DTD."""
    total = 0
    for member in members:
        if member.is_dir() or not member.filename.lower().endswith(STREAMED_SUFFIXES):
            continue
        try:
            with archive.open(member) as stream:
                verdict, unpacked = _scan_member(
                    stream, member.filename, limits, limits.max_total_bytes - total
                )
        except ZIP_ERRORS as exc:
            return _reject("corrupt_member", part=member.filename, detail=describe(exc))
        if verdict is not None:
            return verdict
        total += unpacked
    return None


def _scan_member(
    stream: IO[bytes], name: str, limits: SniffLimits, total_left: int
) -> tuple[SniffResult | None, int]:
    """Returns (a rejection or None, unpacked bytes) after streaming one part through the checks."""
    budget = min(limits.max_member_bytes, total_left)
    unpacked = 0
    markers = tuple(variant for marker in DTD_MARKERS for variant in _encodings(marker))
    longest = max(len(marker) for marker in markers)
    tail = b""
    while chunk := stream.read(limits.chunk_size):
        unpacked += len(chunk)
        if unpacked > budget:
            return _reject("zip_bomb", part=name), unpacked
        window = tail + chunk.lower()
        if any(marker in window for marker in markers):
            return _reject("dtd"), unpacked
        tail = window[-(longest - 1) :]
    return None, unpacked


def _encodings(marker: bytes) -> tuple[bytes, ...]:
    """Returns an ASCII marker as it looks in UTF-8, UTF-16LE and UTF-16BE text."""
    text = marker.decode("ascii")
    return (marker, text.encode("utf-16-le"), text.encode("utf-16-be"))


def _has_external_links(names: Iterable[str]) -> bool:
    """Returns True when the workbook has parts for links to other files."""
    return any(name.startswith("xl/externalLinks/") for name in names)


# --- helpers -----------------------------------------------------------------------------


def _read_chunks(handle: BinaryIO, chunk_size: int, limit: int) -> Iterable[bytes]:
    """Yields the file in chunks, up to `limit` bytes in all."""
    left = limit
    while left > 0 and (chunk := handle.read(min(chunk_size, left))):
        left -= len(chunk)
        yield chunk


def _reject(code: str, *, detail: str = "", **params: Any) -> SniffResult:
    """Returns a result that keeps the file from being opened, for the catalogued `code`."""
    return SniffResult(code, problem(code, file="", detail=detail, **params))
