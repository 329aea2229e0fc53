"""Running untrusted work in a child process with a memory ceiling, so that a file that makes a
native reader abort (or ask for hundreds of gigabytes) costs one child, not the run.

Part of the wiring, next to the flows: it decides where a batch of submissions is read.
Children come from a fork server: one clean, single-threaded process that imported the
readers once and forks a child per batch cheaply, never a copy of the threaded Prefect
process. Where a platform has no fork server or no address-space limit (Windows), the work
runs in the calling process, as it did before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

HEADROOM_BYTES = 1024**3
"""What a child may allocate beyond its size at birth: 1 GiB, the product's memory goal."""
PRELOAD = ["pipeline.check"]
"""Imported once by the fork server, so that each child starts with the readers loaded."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a child returned, or why it returned nothing.

    `crashed` is the child's exit when it died (a native abort, the memory ceiling): the
    work's result is then lost and `value` is None. `logged` are the child's log lines, to
    be logged again by the caller (the child has no Prefect logger).
    """

    value: T | None
    crashed: str = ""
    logged: tuple[tuple[int, str], ...] = ()


def isolation_available() -> bool:
    """Returns True where children can be forked from a fork server and given a memory ceiling.

    Not in a daemonic process (a Dask worker), which may not have children: there the
    worker is the child, and Dask's nanny restarts it when it dies or outgrows its memory.
    """
    try:
        import resource  # noqa: F401  (POSIX only)
    except ImportError:
        return False
    if multiprocessing.current_process().daemon:
        return False
    return "forkserver" in multiprocessing.get_all_start_methods()


def run_isolated(function: Callable[..., T], *args: Any, headroom: int = HEADROOM_BYTES) -> Outcome[T]:
    """Returns `function(*args)` computed in a child process that may grow by `headroom` bytes.

    The child's crash, however it happens, becomes `Outcome.crashed`; an exception raised by
    `function` is raised here, as a call in this process would.
    """
    if not isolation_available():
        return Outcome(function(*args))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with tempfile.TemporaryDirectory(prefix="handlingsplan-") as folder:
        # What a dying native reader prints (Rust's "memory allocation … failed" and its
        # backtrace) goes to a file, not the console: its first line becomes the reason.
        errors = Path(folder) / "stderr.txt"
        with ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_prepare_child, initargs=(headroom, str(errors))
        ) as pool:
            try:
                value, logged = pool.submit(_logged_call, function, args).result()
            except BrokenProcessPool:
                return Outcome(None, crashed=_first_line(errors) or "barnprocessen avslutades oväntat")
    return Outcome(value, logged=logged)


def _first_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]


def run_each_isolated(
    function: Callable[[Sequence[Any]], list[T]], items: Sequence[Any], headroom: int = HEADROOM_BYTES
) -> list[Outcome[list[T]]]:
    """Returns `function([item])` for each item alone, each in its own child: the way to find
    which item of a crashed batch made the child die."""
    return [run_isolated(function, [item], headroom=headroom) for item in items]


def _prepare_child(headroom: int, errors: str) -> None:
    """Sends the child's standard error to `errors` and caps its memory."""
    target = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(target, 2)
    os.close(target)
    os.environ["RUST_BACKTRACE"] = "0"
    _limit_memory(headroom)


def _limit_memory(headroom: int) -> None:
    """Caps the child's address space at its present size plus `headroom` (POSIX)."""
    import resource

    limit = _address_space() + headroom
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _address_space() -> int:
    """Returns this process's virtual size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class _Collected(logging.Handler):
    """Keeps the child's log lines to hand back with the result."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text = f"{text} ({type(error).__name__}: {error})"
        self.lines.append((record.levelno, text))


def _logged_call(function: Callable[..., T], args: Sequence[Any]) -> tuple[T, tuple[tuple[int, str], ...]]:
    """Runs the function in the child with its log lines collected, not printed."""
    handler = _Collected()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    sys.stderr.flush()
    try:
        return function(*args), tuple(handler.lines)
    finally:
        root.removeHandler(handler)
