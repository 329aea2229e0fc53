"""What is in the inbox, an untouched copy of every submission, and the ledger of them.

The inbox is the förvaltningar's drop folder: this module reads it and never writes there.
What it writes, the archive (copies named by their SHA-256), lives wherever the caller
says, normally under the outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from pipeline.config import local_time
from pipeline.errors import InvalidInputError, MissingInputError
from pipeline.files import fsync_folder, write_text_atomic
from pipeline.records import FileReport, Pending, State, utc_iso, utc_iso_precise
from pipeline.sniff import ZIP_LOCAL_SIGNATURE, has_zip_end_record
from pipeline.text import visible

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
MAX_DEPTH = 20
"""Folder levels below the inbox that are read; a deeper tree is no one's drop folder."""
REASON_TOO_DEEP = (
    f"Mappen ligger mer än {MAX_DEPTH} mappnivåer ned i inkorgen; filerna i den hoppas över. "
    "Flytta filerna högre upp."
)
REASON_NAME_CLASH = (
    "Namnet skrivs likadant som en annan fils namn i inkorgen (det har tecken som måste visas "
    "som koder); den hoppas över. Byt namn på filen."
)
OBSERVATIONS_FILE = "inkorg.json"
"""In the outbox: how each file in the inbox looked at the last runs (see `Sighting`)."""
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
class Sighting:
    """How a file in the inbox looked when this system first saw it so, by the system's clock.

    Attributes:
        size: its size in bytes.
        mtime_ns: its modification time as the file system tells it (nanoseconds).
        first_seen: when a run first found the file with this size and modification time
            (seconds since the epoch, this system's clock).
    """

    size: int
    mtime_ns: int
    first_seen: float


@dataclass(frozen=True)
class InboxEntry:
    """One file or skipped folder found in the inbox.

    Attributes:
        path: where it is (its real name, which may hold bytes that are not UTF-8).
        relative: its path inside the inbox, with forward slashes, as it is shown and
            recorded: every control, bidi or undecodable character escaped (`text.visible`).
        state: "candidate" (to handle now), "waiting" (next run) or "ignored".
        reason: Swedish, why it waits or is ignored; empty for a candidate.
        sighting: for a file that is not ignored, how it looked and since when.
    """

    path: Path
    relative: str
    state: EntryState
    reason: str
    sighting: Sighting | None = None


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


def check_folders(inbox: Path, outbox: Path) -> None:
    """Refuses an outbox that is the inbox or lies inside it: the run would take in its own outputs.

    Compared as the folders really are (symbolic links and ".." resolved), before either is
    created.

    Raises:
        InvalidInputError: the outbox is the inbox or a folder under it.
    """
    inbox_real = Path(os.path.realpath(inbox))
    outbox_real = Path(os.path.realpath(outbox))
    if outbox_real == inbox_real or inbox_real in outbox_real.parents:
        raise InvalidInputError(
            f"Utkorgen {visible(str(outbox))} ligger i inkorgen {visible(str(inbox))}, så insamlingen "
            "skulle läsa in sina egna filer. Välj en utkorg utanför inkorgen med --outbox."
        )


def scan_inbox(
    inbox: Path,
    *,
    now: float,
    quiet_seconds: float = 60.0,
    seen: Mapping[str, Sighting] | None = None,
) -> list[InboxEntry]:
    """Returns every file in the inbox and its subfolders, each marked candidate, waiting or ignored.

    Reads only; never writes into the inbox. Symlinks are never followed, and folders more
    than MAX_DEPTH levels down are skipped. The order is deterministic: by path inside the
    inbox, folder by folder.

    A file is ready when it has been quiet for `quiet_seconds`: its modification time is that
    far in the past, or (so that a clock set wrong, or a time in the future, cannot hold it
    back for ever) this system saw it with the same size and modification time that long ago.

    Args:
        inbox: the drop folder.
        now: the current time (seconds since the epoch), e.g. `time.time()`.
        quiet_seconds: a file modified more recently than this waits for the next run.
        seen: the sightings of earlier runs, by relative path (see `read_observations`).

    Raises:
        OSError: the inbox itself cannot be listed (e.g. it does not exist).
    """
    quiet = _Quiet(now, quiet_seconds, seen or {})
    entries = sorted(_walk(inbox, quiet), key=lambda entry: entry.relative.split("/"))
    return _without_name_clashes(entries)


@dataclass(frozen=True)
class _Quiet:
    now: float
    seconds: float
    seen: Mapping[str, Sighting]


def _walk(inbox: Path, quiet: _Quiet) -> Iterator[InboxEntry]:
    """Yields the entries of the inbox and its subfolders, with a stack rather than recursion,
    so that a deep tree cannot exhaust the interpreter's recursion limit."""
    folders: list[tuple[Path, int]] = [(inbox, 0)]
    while folders:
        folder, depth = folders.pop()
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            if depth == 0:
                raise
            yield _entry(folder, inbox, "ignored", REASON_UNREADABLE_FOLDER)
            continue
        for name in names:
            path = folder / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode):
                if name.startswith("."):
                    yield _entry(path, inbox, "ignored", REASON_HIDDEN_FOLDER)
                elif depth + 1 > MAX_DEPTH:
                    yield _entry(path, inbox, "ignored", REASON_TOO_DEEP)
                else:
                    folders.append((path, depth + 1))
            elif stat.S_ISLNK(info.st_mode):
                yield _entry(path, inbox, "ignored", REASON_SYMLINK)
            elif not stat.S_ISREG(info.st_mode):
                yield _entry(path, inbox, "ignored", REASON_SPECIAL)
            else:
                yield _file_entry(path, inbox, info, quiet)


def _without_name_clashes(entries: list[InboxEntry]) -> list[InboxEntry]:
    """Returns the entries with any whose shown name equals an earlier one's ignored.

    Two real names can show the same once escaped (a byte 0xFF, and the four characters
    "\\xff"); a run keys its work by the shown name, so the second must not pass as the first.
    """
    first: dict[str, InboxEntry] = {}
    kept = []
    for entry in entries:
        other = first.setdefault(entry.relative, entry)
        if other is not entry:
            entry = InboxEntry(entry.path, entry.relative, "ignored", REASON_NAME_CLASH)
        kept.append(entry)
    return kept


def _file_entry(path: Path, inbox: Path, info: os.stat_result, quiet: _Quiet) -> InboxEntry:
    """Returns the entry for a regular file: ignored, waiting or candidate."""
    reason = ignore_reason(path.name)
    if reason is not None:
        return _entry(path, inbox, "ignored", reason)
    relative = _shown(path, inbox)
    sighting = _sighting(quiet.seen.get(relative), info, quiet.now)
    # Quiet since the earlier of its own modification time and this system's first sight of
    # it unchanged: a file stamped in the future waits one quiet period, not until then.
    since = min(info.st_mtime, sighting.first_seen)
    if since > quiet.now - quiet.seconds:
        reason = REASON_RECENT.format(quiet=_duration(quiet.seconds), ready=_clock(since + quiet.seconds))
        return InboxEntry(path, relative, "waiting", reason, sighting)
    grace = COPY_GRACE_FACTOR * quiet.seconds
    if since > quiet.now - grace and _looks_half_copied(path):
        reason = REASON_COPYING.format(ready=_clock(since + grace))
        return InboxEntry(path, relative, "waiting", reason, sighting)
    return InboxEntry(path, relative, "candidate", "", sighting)


def _sighting(before: Sighting | None, info: os.stat_result, now: float) -> Sighting:
    """Returns the file's sighting: the earlier one while size and modification time are unchanged."""
    if before is not None and (before.size, before.mtime_ns) == (info.st_size, info.st_mtime_ns):
        return Sighting(info.st_size, info.st_mtime_ns, min(before.first_seen, now))
    return Sighting(info.st_size, info.st_mtime_ns, now)


def read_observations(path: Path) -> dict[str, Sighting]:
    """Returns the sightings an earlier run kept in `path`; {} when there are none or they are unreadable.

    Losing them costs at most one quiet period of waiting, so a damaged file is not an error.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("Iakttagelserna i %s kunde inte läsas (%s); de börjar om.", path, exc)
        return {}
    sightings = {}
    if isinstance(data, dict):
        for relative, value in data.items():
            if (
                isinstance(value, list)
                and len(value) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value[:2])
                and isinstance(value[2], (int, float))
                and math.isfinite(value[2])
            ):
                sightings[relative] = Sighting(value[0], value[1], float(value[2]))
    return sightings


def write_observations(path: Path, entries: Iterable[InboxEntry]) -> None:
    """Keeps the sightings of this scan's files in `path` (atomically), for the next run.

    Only files still in the inbox are kept, so the file never outgrows the inbox.
    """
    data = {
        entry.relative: [entry.sighting.size, entry.sighting.mtime_ns, entry.sighting.first_seen]
        for entry in entries
        if entry.sighting is not None
    }
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0), durable=False)


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
    return InboxEntry(path, _shown(path, inbox), state, reason)


def _shown(path: Path, inbox: Path) -> str:
    """Returns the path inside the inbox as it is shown and recorded: forward slashes, and any
    byte that is not UTF-8 or character that would not show as itself escaped."""
    return visible(path.relative_to(inbox).as_posix())


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
            raise FileChangedDuringCopyError(f"Filen ändrades medan den kopierades: {visible(str(path))}")
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


def scan(inbox: Path, *, quiet_seconds: float, observations: Path | None = None) -> list[InboxEntry]:
    """Returns the inbox's entries now (see `scan_inbox`).

    With `observations` (normally outbox/inkorg.json) the sightings of earlier runs are read
    from it and this run's written back, so a file whose clock is wrong waits one quiet
    period rather than until its time comes.

    Raises:
        MissingInputError: the inbox does not exist.
    """
    if not inbox.is_dir():
        raise MissingInputError(
            f"Inkorgen {visible(str(inbox))} finns inte. Skapa mappen eller ange --inbox."
        )
    seen = read_observations(observations) if observations is not None else {}
    entries = scan_inbox(inbox, now=time.time(), quiet_seconds=quiet_seconds, seen=seen)
    if observations is not None:
        write_observations(observations, entries)
    return entries


def sort_intake(
    entries: Sequence[InboxEntry],
    archived: Mapping[str, ArchivedFile | FileReport],
    known: Mapping[str, int | None],
    year: int,
    *,
    now: float | None = None,
) -> Intake:
    """Returns the inbox sorted: ignored, waiting, duplicate and known files, and new ones.

    `archived` holds each candidate's archived copy (or why it could not be archived), by
    its path in the inbox; `known` maps the digest of every file ever handled to the year it
    was handled for (None: it was no submission). A file with bytes handled for `year` is
    "unchanged"; one handled for another year, or ignored before, is "ignored" again, so
    last year's files may stay in the inbox.

    Every new submission is stamped as arrived `now` (default: this system's clock, after
    archiving): one moment for the whole pass, so files taken in together are told apart by
    their own times, deterministically, and a file taken in at a later run always counts as
    handed in later, whatever its own modification time says.
    """
    arrived = utc_iso_precise(time.time() if now is None else now)
    reports: list[FileReport] = []
    pending: list[Pending] = []
    seen: dict[str, str] = {}
    for entry in entries:
        item = _take(entry, archived.get(entry.relative), known, year, seen, arrived)
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
        log.warning("%s kunde inte arkiveras (%s: %s)", entry.relative, type(exc).__name__, visible(str(exc)))
        return FileReport(
            entry.relative,
            "waiting",
            message=f"Filen kunde inte läsas ({visible(exc.strerror or str(exc))}); försöker igen nästa körning.",
        )


def _take(
    entry: InboxEntry,
    archived: ArchivedFile | FileReport | None,
    known: Mapping[str, int | None],
    year: int,
    seen: dict[str, str],
    arrived: str,
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
    return Pending(
        entry.relative, digest, archived.archived_path, archived.size, utc_iso(archived.mtime), arrived
    )


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
