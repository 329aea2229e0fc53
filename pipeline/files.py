"""Writing outputs so that a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from pipeline.errors import OutboxLockedError


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


@contextlib.contextmanager
def outbox_lock(outbox: Path, timeout: float = 60.0) -> Iterator[None]:
    """Holds the outbox's lock so that two runs never write the same outbox at once.

    Waits up to `timeout` seconds for a run in progress, then raises OutboxLockedError.
    """
    outbox.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(outbox / ".handlingsplan.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise OutboxLockedError(
            f"En annan körning skriver redan i {outbox}. Vänta tills den är klar och försök igen."
        ) from None
    try:
        yield
    finally:
        lock.release()


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
