"""Writing outputs so that a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from pipeline.config import local_time
from pipeline.errors import OutboxLockedError
from pipeline.records import utc_iso
from pipeline.text import visible

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside `target`; on success it replaces `target` in one step.

    The temporary file lives in the same folder so that the final rename is atomic; on
    failure it is removed and `target` keeps its previous content. `durable` also syncs
    the bytes to disk before the rename (survives a power cut, not only a killed process);
    per-submission files that a rerun can rebuild skip it, it costs milliseconds a file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # One fixed temporary name per target: a run killed mid-write leaves it behind, and the
    # next write of the same target (under the outbox lock, so no one else is writing it)
    # starts it afresh. Fixed rather than random so no folder listing is needed (a listing
    # per write made writing N feedback files cost O(N²)).
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str, *, durable: bool = True) -> Path:
    """Writes `text` (UTF-8, LF) to `target` atomically and returns `target`."""
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return target


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    """Writes `data` to `target` atomically and returns `target`."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


LOCK_NAME = ".handlingsplan.lock"
HOLDER_NAME = ".handlingsplan.lock.json"
"""Beside the lock: which run holds it (process, command, since when), for a run that waits."""


@dataclass(frozen=True)
class LockHolder:
    """The run that holds the outbox's lock, as it wrote itself down when it took the lock."""

    pid: int
    command: str
    started: str
    """ISO 8601 UTC."""
    host: str = ""

    def describe(self) -> str:
        """Returns the run in Swedish: "handlingsplan collect (process 4711 på srv01, startad 2027-03-01 kl. 10.02)"."""
        where = f" på {self.host}" if self.host else ""
        return f"{self.command} (process {self.pid}{where}, startad {local_time(self.started, '%Y-%m-%d kl. %H.%M')})"


def read_holder(outbox: Path) -> LockHolder | None:
    """Returns the run that holds the outbox's lock as it wrote itself down, or None when unknown."""
    try:
        data = json.loads((outbox / HOLDER_NAME).read_text(encoding="utf-8"))
        holder = LockHolder(
            int(data["pid"]),
            visible(str(data["command"])),
            str(data["started"]),
            visible(str(data.get("host", ""))),
        )
        local_time(holder.started)  # a time that cannot be read makes the holder unknown
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return holder


def _this_run() -> str:
    """Returns this run's command as its user typed it, shortened: what a waiting run names."""
    words = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    text = visible(" ".join(words))
    return text if len(text) <= 120 else text[:119] + "…"


def _tell_waiting(message: str) -> None:
    """Says on the terminal, and in the log, that the run waits for the lock."""
    log.warning("%s", message)
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def outbox_lock(
    outbox: Path,
    timeout: float = 60.0,
    *,
    command: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Holds the outbox's lock so that two runs never write the same outbox at once.

    The run that takes the lock writes down beside it who it is (process, command, start
    time). A run that finds the lock taken says at once that it waits, for which run and
    since when (through `on_wait`, by default the terminal and the log), waits up to `timeout`
    seconds, then raises OutboxLockedError.

    Args:
        outbox: the folder to lock; created when missing.
        timeout: seconds to wait for a run in progress.
        command: how this run is named to a run that waits for it (default: its command line).
        on_wait: called with the Swedish message when the run has to wait.
    """
    outbox.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(outbox / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = read_holder(outbox)
        who = holder.describe() if holder is not None else "en annan körning"
        (on_wait or _tell_waiting)(
            f"Väntar: {who} skriver i {visible(str(outbox))}. "
            f"Körningen fortsätter när den är klar och ger upp om {_duration(timeout)}."
        )
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise OutboxLockedError(
                f"En annan körning skriver redan i {visible(str(outbox))}: {who}. Gav upp efter att ha "
                f"väntat {_duration(timeout)}. Vänta tills den är klar och försök igen; har den "
                "stannat, avsluta den (eller starta om datorn) och försök igen."
            ) from None
    try:
        me = LockHolder(
            os.getpid(),
            visible(command) if command else _this_run(),
            utc_iso(time.time()),
            socket.gethostname(),
        )
        write_text_atomic(outbox / HOLDER_NAME, json.dumps(asdict(me), ensure_ascii=False), durable=False)
        yield
    finally:
        with contextlib.suppress(OSError):
            (outbox / HOLDER_NAME).unlink(missing_ok=True)
        lock.release()


def _duration(seconds: float) -> str:
    """Returns a wait as Swedish text: "10 min", "45 s", "1 min 30 s"."""
    whole = max(0, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def append_lines(path: Path, data: bytes) -> None:
    """Appends complete lines (`data` ends in a line break) in one write, flushed and synced.

    A torn last line left by an earlier crash is closed off first, so that it cannot swallow
    these lines. Creates the file and its folder when missing. The ledger and the send log
    are written this way.
    """
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end > 0:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                data = b"\n" + data
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Makes a rename in `folder` durable where the platform allows syncing a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
