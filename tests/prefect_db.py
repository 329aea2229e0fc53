"""A migrated Prefect database, made once and copied into every fresh Prefect home of the tests.

A Prefect server brings its database to the newest schema when it starts: on an empty file
that runs every migration, about 8 s of CPU; on a migrated one it finds nothing to do and the
schema is the same. So the test session migrates one empty database per Prefect version
(`prefect server database upgrade`, kept in .pytest_cache), and the session's harness and each
command given a Prefect home of its own start from a copy of it. Their servers still run
their own upgrade at every start, as a user's do.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path

from filelock import FileLock

from tests.processes import BIN, ROOT, clean_env

CACHE = ROOT / ".pytest_cache" / "prefect-db"
FILE_NAME = "prefect.db"
"""The database of a Prefect home (Prefect's default PREFECT_HOME/prefect.db)."""


def _version() -> str:
    from importlib.metadata import version

    return version("prefect")


def template() -> Path:
    """Returns the migrated empty database of this Prefect version, migrating it first if no
    run has yet (one process at a time; the others wait for it)."""
    folder = CACHE / _version()
    database = folder / FILE_NAME
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / "build.lock")):
        if database.is_file():
            return database
        with tempfile.TemporaryDirectory(dir=folder) as home:
            subprocess.run(
                [BIN / "prefect", "server", "database", "upgrade", "-y"],
                env=clean_env(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false"),
                cwd=home,
                capture_output=True,
                check=True,
                timeout=300,
            )
            _copy(Path(home) / FILE_NAME, database)
    return database


def copy_to(target: Path) -> Path:
    """Writes a copy of the migrated database to `target` and returns it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(template(), target)
    return target


def seeded_home(home: Path) -> Path:
    """Returns `home`, a Prefect home whose database is a copy of the migrated one (kept if
    it has one already)."""
    if not (home / FILE_NAME).exists():
        copy_to(home / FILE_NAME)
    return home


def prepare_in_background() -> threading.Thread:
    """Starts migrating the database (if no earlier run did) while the test processes start."""
    thread = threading.Thread(target=template, name="prefect-db", daemon=True)
    thread.start()
    return thread


def _copy(source: Path, target: Path) -> None:
    # SQLite's own backup gives a consistent copy; written beside the target and moved in
    # whole, so that a process opening the target never sees half a database.
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    original = sqlite3.connect(f"{source.as_uri()}?mode=ro&immutable=1", uri=True)
    copy = sqlite3.connect(partial)
    try:
        original.backup(copy)
        copy.close()
        os.replace(partial, target)
    finally:
        copy.close()
        original.close()
        if partial.exists():
            partial.unlink()
