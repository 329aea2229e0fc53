"""What is in the inbox, an untouched copy of every submission, and the ledger of them.

The inbox is the förvaltningar's drop folder: this module reads it and never writes there.
What it writes, the archive (copies named by their SHA-256), lives wherever the caller
says, normally under the outbox.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from pipeline.config import local_time
from pipeline.errors import MissingInputError
from pipeline.files import fsync_folder
from pipeline.records import FileReport, Pending, State, utc_iso
from pipeline.sniff import ZIP_LOCAL_SIGNATURE, has_zip_end_record

log = logging.getLogger(__name__)

EntryState = Literal["candidate", "ignored", "waiting"]

CHUNK_SIZE = 1024 * 1024
ZIP_WORKBOOK_SUFFIXES = (".xlsx", ".ods")
COPY_GRACE_FACTOR = 10
"""A recent .xlsx without a zip directory waits this many quiet periods before it is judged."""

REASON_EXCEL_LOCK = "Låsfil som Excel skapar medan arbetsboken är öppen; den hoppas över."
REASON_LIBREOFFICE_LOCK = "Låsfil som LibreOffice skapar medan filen är öppen; den hoppas över."
REASON_PLACEHOLDER = "Platshållare som håller mappen kvar; den hoppas över."
REASON_HIDDEN_FILE = "Dold fil; den hoppas över."
REASON_HIDDEN_FOLDER = "Dold mapp; filerna i den hoppas över."
REASON_SYSTEM_FILE = "Systemfil från Windows; den hoppas över."
REASON_TEMPORARY = "Tillfällig fil (sparas eller laddas ned); den hoppas över."
REASON_SYMLINK = "Genväg (symbolisk länk); den hoppas över. Lägg själva filen i inkorgen."
REASON_SPECIAL = "Inte en vanlig fil; den hoppas över."
REASON_UNREADABLE_FOLDER = "Mappen kunde inte läsas; filerna i den hoppas över."
REASON_RECENT = (
    "Filen ändrades nyss och kan fortfarande sparas; den behandlas när den varit orörd i {quiet}, "
    "tidigast kl. {ready} (kör insamlingen igen då)."
)
REASON_COPYING = (
    "Filen verkar inte vara färdigkopierad; den behandlas när kopieringen är klar, "
    "tidigast kl. {ready} (kör insamlingen igen då)."
)

SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})
TEMPORARY_SUFFIXES = (".tmp", ".crdownload", ".part", "~")


@dataclass(frozen=True)
class InboxEntry:
    """One file or skipped folder found in the inbox.

    Attributes:
        path: where it is.
        relative: its path inside the inbox, with forward slashes.
        state: "candidate" (to handle now), "waiting" (next run) or "ignored".
        reason: Swedish, why it waits or is ignored; empty for a candidate.
    """

    path: Path
    relative: str
    state: EntryState
    reason: str


@dataclass(frozen=True)
class ArchivedFile:
    """A submission's bytes as stored in the archive.

    Attributes:
        digest: SHA-256 (hex) of exactly the archived bytes.
        archived_path: the stored copy, archive_dir/<digest[:2]>/<digest><suffix>.
        size: number of bytes.
        mtime: the inbox file's modification time (seconds since the epoch).
        is_new: True when this call stored the bytes; False when the archive had them.
    """

    digest: str
    archived_path: Path
    size: int
    mtime: float
    is_new: bool


class FileChangedDuringCopyError(OSError):
    """The file changed while it was being archived; it is handled on the next run."""


# --- the inbox ---------------------------------------------------------------------------


def scan_inbox(inbox: Path, *, now: float, quiet_seconds: float = 60.0) -> list[InboxEntry]:
    """Returns every file in the inbox and its subfolders, each marked candidate, waiting or ignored.

    Reads only; never writes into the inbox. Symlinks are never followed. The order is
    deterministic: by path inside the inbox, folder by folder.

    Args:
        inbox: the drop folder.
        now: the current time (seconds since the epoch), e.g. `time.time()`.
        quiet_seconds: a file modified more recently than this waits for the next run.

    Raises:
        OSError: the inbox itself cannot be listed (e.g. it does not exist).
    """
    entries = _scan_folder(inbox, inbox, now, quiet_seconds, top=True)
    return sorted(entries, key=lambda entry: entry.relative.split("/"))


def _scan_folder(
    folder: Path, inbox: Path, now: float, quiet_seconds: float, *, top: bool
) -> Iterator[InboxEntry]:
    """Yields the entries of one folder and, recursively, of its subfolders."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        if top:
            raise
        yield _entry(folder, inbox, "ignored", REASON_UNREADABLE_FOLDER)
        return
    for name in names:
        yield from _scan_path(folder / name, inbox, now, quiet_seconds)


def _scan_path(path: Path, inbox: Path, now: float, quiet_seconds: float) -> Iterator[InboxEntry]:
    """Yields the entry for one path, or the entries below it when it is a folder."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        yield _entry(path, inbox, "ignored", REASON_SYMLINK)
    elif stat.S_ISDIR(info.st_mode):
        if path.name.startswith("."):
            yield _entry(path, inbox, "ignored", REASON_HIDDEN_FOLDER)
        else:
            yield from _scan_folder(path, inbox, now, quiet_seconds, top=False)
    elif not stat.S_ISREG(info.st_mode):
        yield _entry(path, inbox, "ignored", REASON_SPECIAL)
    else:
        yield _file_entry(path, inbox, info, now, quiet_seconds)


def _file_entry(
    path: Path, inbox: Path, info: os.stat_result, now: float, quiet_seconds: float
) -> InboxEntry:
    """Returns the entry for a regular file: ignored, waiting or candidate."""
    reason = ignore_reason(path.name)
    if reason is not None:
        return _entry(path, inbox, "ignored", reason)
    if info.st_mtime > now - quiet_seconds:
        reason = REASON_RECENT.format(
            quiet=_duration(quiet_seconds), ready=_clock(info.st_mtime + quiet_seconds)
        )
        return _entry(path, inbox, "waiting", reason)
    if info.st_mtime > now - COPY_GRACE_FACTOR * quiet_seconds and _looks_half_copied(path):
        ready = _clock(info.st_mtime + COPY_GRACE_FACTOR * quiet_seconds)
        return _entry(path, inbox, "waiting", REASON_COPYING.format(ready=ready))
    return _entry(path, inbox, "candidate", "")


def _duration(seconds: float) -> str:
    """Returns a quiet period as Swedish text: "60 s", "5 min"."""
    whole = round(seconds)
    return f"{whole // 60} min" if whole >= 120 and whole % 60 == 0 else f"{whole} s"


def _clock(timestamp: float) -> str:
    """Returns the Swedish local time of day for a timestamp, rounded up to the minute: "10.02"."""
    return local_time(utc_iso(math.ceil(timestamp / 60) * 60), "%H.%M")


def ignore_reason(name: str) -> str | None:
    """Returns why a file with this name is skipped (Swedish), or None when it is not."""
    lowered = name.lower()
    if name.startswith("~$"):
        return REASON_EXCEL_LOCK
    if name.startswith(".~lock.") and name.endswith("#"):
        return REASON_LIBREOFFICE_LOCK
    if lowered == ".gitkeep":
        return REASON_PLACEHOLDER
    if name.startswith("."):
        return REASON_HIDDEN_FILE
    if lowered in SYSTEM_FILES:
        return REASON_SYSTEM_FILE
    if lowered.endswith(TEMPORARY_SUFFIXES):
        return REASON_TEMPORARY
    return None


def _looks_half_copied(path: Path) -> bool:
    """Returns True for a zip-based workbook (.xlsx, .ods) that has no zip directory yet."""
    if path.suffix.lower() not in ZIP_WORKBOOK_SUFFIXES:
        return False
    try:
        with path.open("rb") as handle:
            starts_like_zip = handle.read(len(ZIP_LOCAL_SIGNATURE)) == ZIP_LOCAL_SIGNATURE
        return starts_like_zip and not has_zip_end_record(path)
    except OSError:
        return True


def _entry(path: Path, inbox: Path, state: EntryState, reason: str) -> InboxEntry:
    """Returns an entry with the path relative to the inbox, forward slashes."""
    return InboxEntry(path, path.relative_to(inbox).as_posix(), state, reason)


# --- hashing and the archive -------------------------------------------------------------


def sha256_file(path: Path, chunk_size: int = CHUNK_SIZE) -> str:
    """Returns the SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def archive_submission(path: Path, archive_dir: Path) -> ArchivedFile:
    """Returns the archived copy of a submission, hashing the bytes while copying them.

    The bytes are copied to a temporary file in `archive_dir` and hashed on the way, then
    moved to archive_dir/<digest[:2]>/<digest><suffix> in one step, so the archive holds
    exactly the bytes that were hashed. When the archive already has an intact copy of
    these bytes (under any suffix), it is kept and `is_new` is False.

    Args:
        path: the file in the inbox; it is only read.
        archive_dir: the archive's root folder; created when missing.

    Raises:
        FileChangedDuringCopyError: the file changed while it was copied.
        OSError: the file cannot be read or the archive cannot be written.
    """
    archive_dir.mkdir(parents=True, exist_ok=True)
    fd, temporary_name = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=archive_dir)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(fd, "wb") as target, path.open("rb") as source:
            before = os.fstat(source.fileno())
            digest, size = _copy_hashing(source, target)
            target.flush()
            os.fsync(target.fileno())
            after = os.fstat(source.fileno())
        if (before.st_size, before.st_mtime_ns) != (
            after.st_size,
            after.st_mtime_ns,
        ) or size != after.st_size:
            raise FileChangedDuringCopyError(f"Filen ändrades medan den kopierades: {path}")
        return _store(temporary, archive_dir, digest, _archive_suffix(path.name), size, before.st_mtime)
    finally:
        temporary.unlink(missing_ok=True)


def _copy_hashing(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    """Returns (SHA-256 hex, byte count) of what was copied from source to target."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _store(
    temporary: Path, archive_dir: Path, digest: str, suffix: str, size: int, mtime: float
) -> ArchivedFile:
    """Returns the archived file after moving the temporary copy into place, or keeping an intact one."""
    folder = archive_dir / digest[:2]
    existing = _intact_copy(folder, digest, suffix, size)
    if existing is not None:
        return ArchivedFile(digest, existing, size, mtime, is_new=False)
    folder.mkdir(exist_ok=True)
    target = folder / f"{digest}{suffix}"
    os.replace(temporary, target)
    fsync_folder(folder)
    return ArchivedFile(digest, target, size, mtime, is_new=True)


def _intact_copy(folder: Path, digest: str, suffix: str, size: int) -> Path | None:
    """Returns an archived copy with these bytes, preferring this suffix; None when there is none."""
    if not folder.is_dir():
        return None
    preferred = folder / f"{digest}{suffix}"
    for candidate in dict.fromkeys((preferred, *sorted(folder.glob(f"{digest}*")))):
        if candidate.is_file() and candidate.stat().st_size == size and sha256_file(candidate) == digest:
            return candidate
    return None


def _archive_suffix(name: str) -> str:
    """Returns the file's extension in lower case, or "" when it is odd (spaces, very long)."""
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


# --- the intake pass ---------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    """The inbox after the intake pass: a report on each file handled now, and new submissions to check."""

    reports: tuple[FileReport, ...]
    pending: tuple[Pending, ...]


def scan(inbox: Path, *, quiet_seconds: float) -> list[InboxEntry]:
    """Returns the inbox's entries now (see `scan_inbox`).

    Raises:
        MissingInputError: the inbox does not exist.
    """
    if not inbox.is_dir():
        raise MissingInputError(f"Inkorgen {inbox} finns inte. Skapa mappen eller ange --inbox.")
    return scan_inbox(inbox, now=time.time(), quiet_seconds=quiet_seconds)


def sort_intake(
    entries: Sequence[InboxEntry],
    archived: Mapping[str, ArchivedFile | FileReport],
    known: Mapping[str, int | None],
    year: int,
) -> Intake:
    """Returns the inbox sorted: ignored, waiting, duplicate and known files, and new ones.

    `archived` holds each candidate's archived copy (or why it could not be archived), by
    its path in the inbox; `known` maps the digest of every file ever handled to the year it
    was handled for (None: it was no submission). A file with bytes handled for `year` is
    "unchanged"; one handled for another year, or ignored before, is "ignored" again, so
    last year's files may stay in the inbox.
    """
    reports: list[FileReport] = []
    pending: list[Pending] = []
    seen: dict[str, str] = {}
    for entry in entries:
        item = _take(entry, archived.get(entry.relative), known, year, seen)
        if isinstance(item, Pending):
            pending.append(item)
        else:
            reports.append(item)
    return Intake(tuple(reports), tuple(pending))


def archive_entry(entry: InboxEntry, archive_dir: Path) -> ArchivedFile | FileReport:
    """Returns the entry's archived copy, or the report on it when it cannot be archived now."""
    try:
        return archive_submission(entry.path, archive_dir)
    except FileChangedDuringCopyError:
        return FileReport(
            entry.relative,
            "waiting",
            message="Filen ändrades medan den kopierades; den behandlas vid nästa körning.",
        )
    except OSError as exc:
        log.warning("%s kunde inte arkiveras (%s: %s)", entry.path, type(exc).__name__, exc)
        return FileReport(
            entry.relative,
            "waiting",
            message=f"Filen kunde inte läsas ({exc.strerror or exc}); försöker igen nästa körning.",
        )


def _take(
    entry: InboxEntry,
    archived: ArchivedFile | FileReport | None,
    known: Mapping[str, int | None],
    year: int,
    seen: dict[str, str],
) -> FileReport | Pending:
    if entry.state != "candidate" or archived is None:
        state: State = "waiting" if entry.state == "waiting" else "ignored"
        return FileReport(entry.relative, state, message=entry.reason)
    if isinstance(archived, FileReport):
        return archived
    digest = archived.digest
    if digest in seen:
        return FileReport(
            entry.relative, "duplicate", digest=digest, message=f"Samma innehåll som {seen[digest]}."
        )
    seen[digest] = entry.relative
    if digest in known:
        return _known(entry.relative, digest, known[digest], year)
    return Pending(entry.relative, digest, archived.archived_path, archived.size, utc_iso(archived.mtime))


def _known(name: str, digest: str, handled_for: int | None, year: int) -> FileReport:
    """Returns the report on a file whose bytes were handled at an earlier run."""
    if handled_for == year:
        return FileReport(
            name, "unchanged", digest=digest, message="Redan behandlad vid en tidigare körning."
        )
    if handled_for is None:
        message = "Ingen inlämning (ingen arbetsbok); den hoppades över redan vid en tidigare körning."
        return FileReport(name, "ignored", digest=digest, message=message)
    message = f"Tillhör {handled_for}, redan mottagen; den räknas inte för {year}."
    return FileReport(name, "ignored", digest=digest, message=message, year=handled_for)
