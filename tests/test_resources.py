"""Bounded resources: bombs are rejected in seconds under a hard memory limit; unsafe XML refuses to run.

The bombs are built with the corpus builders and judged in a child process whose address
space is capped with RLIMIT_AS, so a pipeline that unpacked or expanded one would die
with MemoryError instead of passing by luck on a large machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import xml as openpyxl_xml

from pipeline.config import PROJECT_ROOT, Settings, check_safe_xml
from pipeline.errors import UnsafeEnvironmentError
from pipeline.plan import Plan
from tests import running
from tests.corpus import (
    AS_OF,
    OLD,
    YEAR,
    Kit,
    entity_bomb_in_shared_strings,
    xxe_in_custom_properties,
    zip_bomb_300_mib,
    zip_bomb_in_worksheet,
)
from tests.workbooks import make_template

MEMORY_LIMIT = 1024**3
"""1 GiB of address space for the child: far less than any bomb here unpacks to."""
SECONDS = 10.0

CHILD = textwrap.dedent(
    """
    import datetime as dt, json, sys, time
    from pathlib import Path
    from pipeline.config import Settings, configure_prefect
    configure_prefect()
    from pipeline.check import Plans, check_submission
    from pipeline.flows import collect_flow, command_settings, plans_for
    from pipeline.sniff import sniff_workbook

    inbox, outbox = Path(sys.argv[1]), Path(sys.argv[2])
    plans = plans_for(Settings(inbox=inbox, outbox=outbox))
    as_of = dt.date.fromisoformat(sys.argv[4])
    found = {}
    for path in sorted(inbox.iterdir()):
        started = time.perf_counter()
        sniffed = sniff_workbook(path)
        checked = check_submission(path, path.name, plans, int(sys.argv[3]), as_of)
        found[path.name] = {
            "sniffed": sniffed.kind,
            "codes": sorted({p.code for p in checked.problems}),
            "accepted": checked.accepted,
            "seconds": time.perf_counter() - started,
        }
    started = time.perf_counter()
    with command_settings():
        result = collect_flow(year=int(sys.argv[3]), inbox=inbox, outbox=outbox, as_of=as_of)
    states = {f.name: f.state for f in result.files}
    print(json.dumps({"files": found, "states": states, "collect_seconds": time.perf_counter() - started}))
    """
)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


BOMBS: dict[str, Callable[[Kit], str]] = {
    "entity_bomb_in_shared_strings": entity_bomb_in_shared_strings,
    "xxe_in_custom_properties": xxe_in_custom_properties,
    "zip_bomb_300_mib": zip_bomb_300_mib,
    "zip_bomb_in_worksheet": zip_bomb_in_worksheet,
}
EXPECTED_KIND = {
    "entity_bomb_in_shared_strings": "dtd",
    "xxe_in_custom_properties": "dtd",
    "zip_bomb_300_mib": "zip_bomb",
    "zip_bomb_in_worksheet": "zip_bomb",
}


@pytest.mark.slow
def test_bombs_are_rejected_in_seconds_under_a_memory_limit(plan: Plan, tmp_path: Path) -> None:
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    kit = Kit(plan, tmp_path / "inbox", tmp_path / "scratch", lambda code, year: template)
    kit.inbox.mkdir()
    kit.work.mkdir()
    names = {builder(kit): case for case, builder in BOMBS.items()}
    for path in kit.inbox.iterdir():
        os.utime(path, (OLD, OLD))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(kit.inbox),
            str(tmp_path / "outbox"),
            str(YEAR),
            AS_OF.isoformat(),
        ],
        preexec_fn=_limit_memory,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MemoryError" not in run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for name, case in names.items():
        verdict = report["files"][name]
        assert verdict["sniffed"] == EXPECTED_KIND[case], (case, verdict)
        assert verdict["codes"] == [EXPECTED_KIND[case]], (case, verdict)
        assert not verdict["accepted"]
        assert verdict["seconds"] < SECONDS, (case, verdict)
        assert report["states"][name] == "rejected"
    assert report["collect_seconds"] < SECONDS * len(names)


def test_the_limit_is_real() -> None:
    """The child's limit does stop a process that tries to hold 2 GiB (so the test above means something)."""
    run = subprocess.run(
        [sys.executable, "-c", "x = bytearray(2 * 1024**3)"],
        preexec_fn=_limit_memory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "MemoryError" in run.stderr


# --- start-up guard: never parse XML without defusedxml ---------------------------------------


def test_check_safe_xml_refuses_without_defusedxml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openpyxl_xml, "DEFUSEDXML", False)
    with pytest.raises(UnsafeEnvironmentError, match="defusedxml"):
        check_safe_xml()


def test_collect_refuses_to_run_without_defusedxml(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "plan.xlsx").write_bytes(b"PK\x05\x06" + bytes(18))
    os.utime(inbox / "plan.xlsx", (OLD, OLD))
    monkeypatch.setattr(openpyxl_xml, "DEFUSEDXML", False)
    with pytest.raises(UnsafeEnvironmentError):
        running.collect(Settings(inbox=inbox, outbox=tmp_path / "outbox"), YEAR, AS_OF)
    assert not (tmp_path / "outbox").exists()
