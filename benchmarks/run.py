"""End-to-end benchmark of the handlingsplan commands on synthetic plans and submissions.

Run: .venv/bin/python -m benchmarks.run [--quick | --sizes 5x50,100x50,1000x50,100x2000]

Per size NxM (N förvaltningar, M actions each) it writes a plan and N filled submissions
(untimed), then times `handlingsplan templates|collect|report|run` as child processes, like a
user's run (imports and Prefect's embedded server included) and with the user's defaults
(no `--workers` unless the benchmark is given one), next to three references run on the same
files: a naive pandas script, a python-calamine read floor and a trivial Prefect flow. See
benchmarks/README.md for the columns and the goals.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from pipeline import contract as c
from pipeline.config import configure_prefect, default_plan_file
from pipeline.plan import Plan, parse_plan

YEAR = 2027
AS_OF = "2027-03-01"
DEFAULT_SIZES = "5x50,100x50,1000x50,100x2000"
QUICK_SIZES = "5x50,100x50"
ERROR_EVERY = 20  # one variant in 20 (5 % of the files) carries mistakes that get it rejected
DEFAULT_VARIANTS = 20
GENERATOR_VERSION = "1"  # bump when the generated files change, so cached inboxes are rebuilt
BENCH_ROOT = Path(__file__).resolve().parent
PACKAGES = ("prefect", "pandas", "pandera", "openpyxl", "python-calamine", "xlsxwriter")
STAGES = ("templates", "collect", "report", "run")
REFERENCES = ("trivial", "naive", "calamine")
MIB = 1024 * 1024
GIB_IN_MIB = 1024

NAIVE_SCRIPT = """
import sys
from pathlib import Path
import pandas as pd
files = sorted(Path(sys.argv[1]).glob("*.xlsx"))
df = pd.concat(pd.read_excel(f, sheet_name="Åtgärder", engine="openpyxl") for f in files)
print(len(files), "files", len(df), "rows")
"""

CALAMINE_SCRIPT = """
import sys
from pathlib import Path
from python_calamine import CalamineWorkbook
files = sorted(Path(sys.argv[1]).glob("*.xlsx"))
rows = 0
for f in files:
    wb = CalamineWorkbook.from_path(str(f))
    for name in ("Åtgärder", "Delmål", "Instruktioner"):
        rows += len(wb.get_sheet_by_name(name).to_python())
print(len(files), "files", rows, "rows")
"""

# The floor: a flow that does nothing, started the way the CLI starts its flows: the
# project's Prefect defaults first, then Prefect's own embedded server on the first call.
TRIVIAL_FLOW_SCRIPT = """
from pipeline.config import configure_prefect
configure_prefect()
from prefect import flow

@flow(name="benchmark-trivial")
def trivial() -> int:
    return 1

print(trivial())
"""


# --------------------------------------------------------------------------- synthetic data


def synthetic_plan(n: int) -> tuple[Plan, str]:
    """Returns the real plan with its förvaltningar replaced by K0001…K<n>, and its YAML."""
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["forvaltningar"] = [{"kod": f"K{i:04d}", "namn": f"Förvaltning K{i:04d}"} for i in range(1, n + 1)]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return parse_plan(text, source="benchmark"), text


WHAT = (
    "Språkcafé för nyanlända",
    "Praktikplatser i kommunens verksamheter",
    "Samhällsinformation på flera språk",
    "Mentorsprogram med föreningslivet",
    "Utbildning om mångfald för chefer",
    "Läxhjälp på biblioteket",
    "Prova-på-dagar i idrottsföreningar",
    "Rekrytering med språkkompetens",
    "Vänfamiljer: rekrytering och matchning",
    "Studiebesök hos lokala arbetsgivare",
)
OWNERS = ("Enhetschef", "Integrationssamordnare", "HR-chef", "Rektor", "Fritidskonsulent", "Socialchef")
PARTNERS = (None, "Arbetsförmedlingen", "Region Norrbotten", "Röda Korset", "ABF, Svenska kyrkan")
INDICATORS = (None, "Antal deltagare", "Andel i arbete", "Antal tillfällen", "Rutin antagen")
TARGETS = (None, "40", "90 %", "4", "Antagen", "1 500")
FIRST_NAMES = ("Maria", "Johan", "Sara", "Ali", "Anna", "Erik", "Fatima", "Lars")
LAST_NAMES = ("Lindqvist", "Ek", "Berg", "Hassan", "Andersson", "Nilsson", "Karlsson")
STATUS_WEIGHTS = (
    (c.IN_PROGRESS, 45),
    (c.NOT_STARTED, 25),
    (c.COMPLETED, 15),
    (c.DELAYED, 10),
    (c.CANCELLED, 5),
)


def synthetic_submission(plan: Plan, index: int, m: int, seed: int) -> dict[str, Any]:
    """Returns one förvaltning's answers: contact, Berör oss and m actions, seeded by index."""
    rng = random.Random(seed * 1_000_003 + index)
    from pipeline.template import goal_label

    goals = plan.goals
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    actions = []
    for row in range(m):
        goal = rng.choice(goals)
        start = dt.datetime(YEAR, rng.randint(1, 9), rng.randint(1, 28))
        done = start + dt.timedelta(days=rng.randint(14, 330))
        kind = rng.random()
        if kind < 0.65:
            cost: Any = rng.choice((0, 5000, 8000, 15000, 25000, 40000, 120000, 300000))
        elif kind < 0.80:
            cost = f"{rng.randint(1, 99)} {rng.choice(('000', '500'))} kr"  # "5 000 kr": text, but valid
        else:
            cost = None
        status = rng.choices(statuses, weights)[0]
        actions.append(
            {
                c.GOAL: goal_label(goal) if rng.random() < 0.8 else goal.id,
                c.ACTION: f"{rng.choice(WHAT)} ({row + 1})",
                c.OWNER: rng.choice(OWNERS),
                c.START: start,
                c.DONE: done,
                c.COST: cost,
                c.FUNDING: rng.choice((*c.FUNDING_SOURCES, None)),
                c.PARTNERS: rng.choice(PARTNERS),
                c.INDICATOR: rng.choice(INDICATORS),
                c.TARGET: rng.choice(TARGETS),
                c.STATUS: status,
                c.OUTCOME: "Delvis uppnått" if status == c.COMPLETED else None,
                c.COMMENT: "Ersatt av annan åtgärd" if status == c.CANCELLED else None,
            }
        )
    if has_errors(index) and actions:
        actions[0][c.STATUS] = "Klar"  # typed by hand, not in the list
        actions[-1][c.COST] = "ca 5000 kr"  # words in a cost
    with_action = {a[c.GOAL].split(" ", 1)[0] for a in actions}
    concerns = {
        g.id: (c.YES if g.id in with_action else c.NO)
        for g in goals
        if rng.random() < 0.6 or g.id in with_action
    }
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    contact = (f"{first} {last}", f"{first.lower()}.{last.lower()}@example.se")
    return {"actions": actions, "concerns": concerns, "contact": contact}


def has_errors(index: int) -> bool:
    """Returns whether förvaltning (or variant) number `index` makes the typical mistakes."""
    return index % ERROR_EVERY == ERROR_EVERY // 2


_WORKER_PLAN: Plan | None = None


def _worker_init(plan_text: str) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = parse_plan(plan_text, source="benchmark")


def _write_variant(args: tuple[int, int, int, str, str]) -> str:
    """Writes variant v: K{v}'s template, filled as a person would (openpyxl)."""
    from pipeline.config import Settings
    from pipeline.demo import fill_template
    from pipeline.template import TemplateOptions, write_template

    index, m, seed, templates_dir, variants_dir = args
    plan = _WORKER_PLAN
    assert plan is not None
    department = plan.departments[index - 1]
    template = write_template(
        plan,
        department,
        TemplateOptions(year=YEAR),
        Path(templates_dir) / Settings().template_file(YEAR, department.code).name,
    )
    answers = synthetic_submission(plan, index, m, seed)
    target = Path(variants_dir) / f"{department.code}.xlsx"
    fill_template(
        template, target, actions=answers["actions"], concerns=answers["concerns"], contact=answers["contact"]
    )
    return str(target)


def clone_for(variant: Path, old_code: str, new_code: str, target: Path, stamp: float) -> None:
    """Copies a filled workbook to another förvaltning: its code in every part (same length)."""
    old, new = old_code.encode(), new_code.encode()
    with zipfile.ZipFile(variant) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info, data.replace(old, new) if info.filename.endswith(".xml") else data)
    os.utime(target, (stamp, stamp))


def _clone_chunk(args: tuple[list[tuple[int, int]], str, str, float]) -> int:
    pairs, variants_dir, inbox, stamp = args
    for index, variant in pairs:
        old, new = f"K{variant:04d}", f"K{index:04d}"
        clone_for(
            Path(variants_dir) / f"{old}.xlsx",
            old,
            new,
            Path(inbox) / f"{new} handlingsplan {YEAR}.xlsx",
            stamp,
        )
    return len(pairs)


def prepare_size(workdir: Path, n: int, m: int, seed: int, jobs: int, variants: int) -> dict[str, Any]:
    """Writes plan.yaml and a filled inbox for NxM under workdir/NxM; reuses a complete one.

    `variants` förvaltningar (K0001…) fill their own template with openpyxl, each with its
    own seeded answers; every other förvaltning i gets a copy of variant ((i-1) % variants)+1
    with the identification (custom properties, hidden sheet, title) rewritten to its code.
    """
    if n > 9999:
        raise ValueError("codes are K0001…K9999: at most 9999 förvaltningar")
    plan, text = synthetic_plan(n)
    variants = max(1, min(n, variants))
    folder = workdir / f"{n}x{m}"
    inbox, plan_file, marker = folder / "inbox", folder / "plan.yaml", folder / "inbox.complete"
    key = f"{GENERATOR_VERSION} {plan.version} {n} {m} {seed} {variants}"
    stamp = time.time() - 3600  # an hour ago: collect does not treat the files as still being written
    reused = marker.is_file() and marker.read_text(encoding="utf-8") == key
    started = time.perf_counter()
    if reused:
        for path in inbox.glob("*.xlsx"):
            os.utime(path, (stamp, stamp))
    else:
        shutil.rmtree(folder, ignore_errors=True)
        templates_dir, variants_dir = folder / "blank-templates", folder / "variants"
        for path in (inbox, templates_dir, variants_dir):
            path.mkdir(parents=True)
        plan_file.write_text(text, encoding="utf-8")
        with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(text,)) as pool:
            tasks = [(v, m, seed, str(templates_dir), str(variants_dir)) for v in range(1, variants + 1)]
            list(pool.map(_write_variant, tasks))
            pairs = [(i, (i - 1) % variants + 1) for i in range(1, n + 1)]
            size = max(1, len(pairs) // (jobs * 4))
            chunks = [
                (pairs[k : k + size], str(variants_dir), str(inbox), stamp)
                for k in range(0, len(pairs), size)
            ]
            list(pool.map(_clone_chunk, chunks))
        marker.write_text(key, encoding="utf-8")
    files = sorted(inbox.glob("*.xlsx"))
    return {
        "folder": folder,
        "plan_file": plan_file,
        "inbox": inbox,
        "files": len(files),
        "variants": variants,
        "bytes": sum(p.stat().st_size for p in files),
        "with_errors": sum(1 for i in range(1, n + 1) if has_errors((i - 1) % variants + 1)),
        "generation_s": round(time.perf_counter() - started, 2),
        "reused": reused,
    }


# --------------------------------------------------------------------------- measuring


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants (e.g. Prefect's server)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, sum(_rss(p) for p in _tree(self.pid)))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(p) for p in fh.read().split())
        except OSError:
            continue
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(name: str, cmd: Sequence[str], log: Path, env: dict[str, str]) -> dict[str, Any]:
    """Runs cmd as a child; returns wall time, the child's peak RSS (wait4) and its tree's."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(encoding="utf-8", errors="replace")
    result = {
        "name": name,
        "cmd": [str(x) for x in cmd],
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(usage.ru_maxrss * 1024 / MIB, 1),  # ru_maxrss is in KiB on Linux
        # Sampling can miss a short-lived peak; the tree holds at least the child's own peak.
        "tree_peak_rss_mib": round(max(sampler.peak, usage.ru_maxrss * 1024) / MIB, 1),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "exit_code": proc.returncode,
        "log": str(log),
        "last_line": output.strip().splitlines()[-1] if output.strip() else "",
    }
    if proc.returncode != 0:
        print(f"  ! {name} exited with {proc.returncode}; see {log}", file=sys.stderr)
    return result


def _median_run(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns the run with the median wall time, with every run's wall time and the highest RSS."""
    ordered = sorted(measured, key=lambda r: r["wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["walls_s"] = [r["wall_s"] for r in measured]
    chosen["peak_rss_mib"] = max(r["peak_rss_mib"] for r in measured)
    chosen["tree_peak_rss_mib"] = max(r["tree_peak_rss_mib"] for r in measured)
    chosen["exit_code"] = next((r["exit_code"] for r in measured if r["exit_code"] != 0), 0)
    return chosen


def child_env(prefect_home: Path) -> dict[str, str]:
    """Returns the children's environment: the project's Prefect defaults, embedded mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(prefect_home)
    configure_prefect(env)
    return env


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def run_size(
    n: int,
    m: int,
    workdir: Path,
    env: dict[str, str],
    seed: int,
    jobs: int,
    variants: int,
    trivial_cmd: Sequence[str],
    workers: int | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    cli = str(Path(sys.executable).with_name("handlingsplan"))
    print(f"\n== {n}x{m}: generating {n} submissions with {m} actions each …", flush=True)
    data = prepare_size(workdir, n, m, seed, jobs, variants)
    folder, plan_file, inbox = data["folder"], data["plan_file"], data["inbox"]
    print(
        f"   {data['files']} files, {data['bytes'] / MIB:.1f} MiB, {data['with_errors']} with errors, "
        f"{data['variants']} content variants, {'reused' if data['reused'] else 'generated'} in {data['generation_s']} s",
        flush=True,
    )
    o1, o2, o3 = (fresh(folder / name) for name in ("outbox-templates", "outbox-collect", "outbox-run"))
    logs = folder / "logs"
    year, plan = str(YEAR), str(plan_file)
    # The user's defaults: the flows decide where the work runs unless the benchmark is told.
    override = [] if workers is None else ["--workers", str(workers)]
    commands = {
        "templates": [
            cli,
            "templates",
            "--year",
            year,
            "--plan",
            plan,
            "--outbox",
            str(o1),
            *override,
        ],
        "collect": [
            cli,
            "collect",
            "--year",
            year,
            "--plan",
            plan,
            "--inbox",
            str(inbox),
            "--outbox",
            str(o2),
            "--as-of",
            AS_OF,
            "--quiet-seconds",
            "0",
            *override,
        ],
        "report": [
            cli,
            "report",
            "--year",
            year,
            "--plan",
            plan,
            "--outbox",
            str(o2),
            "--as-of",
            AS_OF,
            *override,
        ],
        # Timed in this order. The trivial flow goes just before the run it is subtracted
        # from, and again just after it: the machine's speed drifts between minutes by
        # more than a run's own cost at 100 files.
        "trivial": list(trivial_cmd),
        "run": [
            cli,
            "run",
            "--year",
            year,
            "--plan",
            plan,
            "--inbox",
            str(inbox),
            "--outbox",
            str(o3),
            "--as-of",
            AS_OF,
            *override,
        ],
        "naive": [sys.executable, "-c", NAIVE_SCRIPT, str(inbox)],
        "calamine": [sys.executable, "-c", CALAMINE_SCRIPT, str(inbox)],
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    after: list[dict[str, Any]] = []  # the trivial flow timed again just after each run

    def timed(name: str, into: list[dict[str, Any]], label: str) -> None:
        print(f"   timing {label} …", end=" ", flush=True)
        into.append(measure(name, commands[name], logs / f"{label.replace(' ', '-')}.log", env))
        print(f"{into[-1]['wall_s']:.2f} s", flush=True)

    for repeat in range(repeats):
        if repeat:  # every repeat starts from empty outboxes, as the first did
            for folder in (o1, o2, o3):
                fresh(folder)
        for name in commands:
            timed(name, runs[name], name)
            if name == "run":
                timed("trivial", after, "trivial after")
    results = {name: _median_run(measured) for name, measured in runs.items()}
    accepted = re.search(r"(\d+) godkända, (\d+) avvisade", (logs / "run.log").read_text(encoding="utf-8"))
    naive, floor = results["naive"]["wall_s"], results["calamine"]["wall_s"]
    # The run against the floor, repeat by repeat: each run with the mean of the trivial
    # flows timed just before and just after it.
    floors = [(b["wall_s"] + a["wall_s"]) / 2 for b, a in zip(runs["trivial"], after, strict=True)]
    pairs = list(zip((r["wall_s"] for r in runs["run"]), floors, strict=True))
    own_s = statistics.median(r - t for r, t in pairs)
    over_trivial = statistics.median(r / t for r, t in pairs)
    for r in results.values():
        r["per_workbook_ms"] = round(r["wall_s"] * 1000 / n, 2)
        r["ratio_naive"] = round(r["wall_s"] / naive, 2) if naive else None
        r["ratio_calamine"] = round(r["wall_s"] / floor, 2) if floor else None
    return {
        "n": n,
        "m": m,
        "files": data["files"],
        "inbox_mib": round(data["bytes"] / MIB, 2),
        "files_with_errors": data["with_errors"],
        "run_accepted": int(accepted.group(1)) if accepted else None,
        "run_rejected": int(accepted.group(2)) if accepted else None,
        "content_variants": data["variants"],
        "generation_s": data["generation_s"],
        "generation_reused": data["reused"],
        "trivial_flow_s": results["trivial"]["wall_s"],
        "trivial_after_run_walls_s": [a["wall_s"] for a in after],
        "run_floors_s": [round(t, 3) for t in floors],
        "run_own_s": round(own_s, 3),
        "run_over_trivial": round(over_trivial, 2),
        "run_minus_trivial_over_calamine": round(own_s / floor, 2) if floor else None,
        "stages": results,
    }


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    with contextlib.suppress(OSError, IndexError, ValueError):
        ram = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(ram / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def goals(sizes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns the issue's goal figures that the measured sizes allow, each MET or NOT MET.

    Figures the issue no longer sets a goal for are listed as `info`, with the earlier target
    for reference.
    """
    out: list[dict[str, Any]] = []

    def add(goal: str, size: str, value: float | None, target: str, met: bool | None) -> None:
        status = "n/a (size not run)" if met is None else ("MET" if met else "NOT MET")
        out.append({"goal": goal, "size": size, "value": value, "target": target, "status": status})

    def info(goal: str, size: str, value: float | None, target: str = "info only") -> None:
        status = "n/a (size not run)" if value is None else "info"
        out.append({"goal": goal, "size": size, "value": value, "target": target, "status": status})

    def stage(key: str, name: str) -> dict[str, Any] | None:
        return sizes[key]["stages"][name] if key in sizes else None

    def peak(key: str) -> float | None:
        # The largest single process of any of the four commands (ru_maxrss of each child).
        if key not in sizes:
            return None
        return max(sizes[key]["stages"][s]["peak_rss_mib"] for s in STAGES)

    big, small, wide = "1000x50", "100x50", "100x2000"
    run_big = stage(big, "run")
    ratio = run_big["ratio_naive"] if run_big else None
    add("run ÷ naive", big, ratio, "< 1.0", None if ratio is None else ratio < 1.0)
    value = sizes[big]["run_minus_trivial_over_calamine"] if big in sizes else None
    add("(run − trivial flow) ÷ calamine", big, value, "≤ 10", None if value is None else value <= 10)
    if small in sizes and big in sizes:
        # The cost per workbook is what a run costs beyond the fixed cost of any flow run
        # (the trivial flow): the issue splits a run's time into exactly these two.
        own_small = sizes[small]["run_own_s"] / sizes[small]["n"]
        own_large = sizes[big]["run_own_s"] / sizes[big]["n"]
        drift = round((own_large / own_small - 1) * 100, 1) if own_small > 0 else None
    else:
        own_small = own_large = drift = None
    add(
        "(run − trivial) per workbook, change 100→1000 (%)",
        f"{small} vs {big}",
        drift,
        "within ±20 %",
        None if drift is None else abs(drift) <= 20,
    )
    value = peak(big)
    add(
        "peak RSS of one process, any command (MiB)",
        big,
        value,
        "< 1024",
        None if value is None else value < GIB_IN_MIB,
    )
    run_wide = stage(wide, "run")
    ratio = run_wide["ratio_naive"] if run_wide else None
    add("run ÷ naive", wide, ratio, "< 1.0", None if ratio is None else ratio < 1.0)
    value = peak(wide)
    add(
        "peak RSS of one process, any command (MiB)",
        wide,
        value,
        "< 1024",
        None if value is None else value < GIB_IN_MIB,
    )

    info("(run − trivial) ms/workbook", small, None if own_small is None else round(own_small * 1000, 1))
    info("(run − trivial) ms/workbook", big, None if own_large is None else round(own_large * 1000, 1))
    if small in sizes and big in sizes:
        extra = (sizes[big]["stages"]["run"]["wall_s"] - sizes[small]["stages"]["run"]["wall_s"]) / (
            sizes[big]["n"] - sizes[small]["n"]
        )
        info("run ms per workbook beyond the first 100", f"{small} vs {big}", round(extra * 1000, 1))
    for key in (big, wide):
        if key in sizes:
            tree = max(sizes[key]["stages"][s]["tree_peak_rss_mib"] for s in STAGES)
            info("peak RSS of a command's process tree (MiB)", key, tree)
    ratio = sizes["5x50"]["run_over_trivial"] if "5x50" in sizes else None
    info("Kalix-sized run ÷ trivial flow", "5x50", ratio, "info (earlier goal ≤ 1.5)")
    templates_big = stage(big, "templates")
    value = templates_big["wall_s"] if templates_big else None
    info("templates wall s", big, value, "info (earlier goal < 30)")
    return out


def print_table(size: dict[str, Any]) -> None:
    n, m = size["n"], size["m"]
    print(
        f"\n{n}x{m}  ({size['files']} workbooks, {size['inbox_mib']} MiB, {size['files_with_errors']} with errors; "
        f"run accepted {size['run_accepted']}, rejected {size['run_rejected']})"
    )
    header = f"{'stage':<10} {'wall s':>8} {'ms/wb':>8} {'RSS MiB':>8} {'tree MiB':>9} {'÷naive':>7} {'÷calamine':>9} {'exit':>4}"
    print(header)
    print("-" * len(header))
    for name in (*STAGES, *REFERENCES):
        r = size["stages"][name]
        print(
            f"{name:<10} {r['wall_s']:>8.2f} {r['per_workbook_ms']:>8.1f} {r['peak_rss_mib']:>8.0f} "
            f"{r['tree_peak_rss_mib']:>9.0f} {r['ratio_naive']:>7.2f} {r['ratio_calamine']:>9.2f} {r['exit_code']:>4}"
        )
    print(
        f"run's own cost (run − the trivial flows timed before and after it, median of repeats): {size['run_own_s']:.2f} s, "
        f"{size['run_own_s'] * 1000 / n:.1f} ms/workbook; run ÷ trivial {size['run_over_trivial']:.2f}"
    )
    load = size.get("load_average")
    if load:
        before, after = (" ".join(f"{x:.2f}" for x in load[k]) for k in ("before", "after"))
        print(f"load average (1, 5, 15 min) before the size: {before}; after: {after}")


def print_goals(results: list[dict[str, Any]]) -> None:
    print("\nGoals (project issue)")
    for g in results:
        value = "–" if g["value"] is None else g["value"]
        print(f"  {g['status']:<20} {g['goal']:<50} {value!s:>8}  target {g['target']}  [{g['size']}]")


def print_machine(info: dict[str, Any]) -> None:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    print(
        f"Machine: {info['cpu_count']} CPU ({info['cpu_model']}), {info['ram_gib']} GiB RAM, Python {info['python']}"
    )
    print(f"Packages: {packages}")


# --------------------------------------------------------------------------- main


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", part)
        if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
            raise argparse.ArgumentTypeError(f"size {part!r} is not NxM, e.g. 100x50")
        sizes.append((int(match.group(1)), int(match.group(2))))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None, help=f"NxM list (default {DEFAULT_SIZES})")
    parser.add_argument("--quick", action="store_true", help=f"same as --sizes {QUICK_SIZES}")
    parser.add_argument("--out", type=Path, default=BENCH_ROOT / "results" / "latest.json")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=BENCH_ROOT / "results" / "work",
        help="where plans, inboxes, outboxes and logs go; generated inboxes are reused",
    )
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes for generating files"
    )
    parser.add_argument(
        "--variants",
        type=int,
        default=DEFAULT_VARIANTS,
        help="distinct filled workbooks per size; the others are copies re-identified per förvaltning",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="pass --workers W to the four commands (default: not passed, the flows decide)",
    )
    parser.add_argument("--trivial-repeats", type=int, default=3, help="runs of the trivial flow (median)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of every program per size; the median wall time is used"
    )
    args = parser.parse_args(argv)
    if args.sizes and args.quick:
        parser.error("--quick and --sizes exclude each other")
    sizes = parse_sizes(QUICK_SIZES) if args.quick else (args.sizes or parse_sizes(DEFAULT_SIZES))

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = child_env(workdir / "prefect-home")
    info = machine()
    print_machine(info)
    print(f"Workdir: {workdir}  (PREFECT_HOME={env['PREFECT_HOME']}, embedded server)")

    trivial_cmd = [sys.executable, "-c", TRIVIAL_FLOW_SCRIPT]
    print("Warming up Prefect's database with one untimed trivial flow …", flush=True)
    warm = measure("warm-up", trivial_cmd, workdir / "logs" / "warm-up.log", env)
    trivials = [
        measure("trivial", trivial_cmd, workdir / "logs" / f"trivial-{i}.log", env)
        for i in range(max(1, args.trivial_repeats))
    ]
    trivial_s = statistics.median(t["wall_s"] for t in trivials)
    trivial_rss = max(t["peak_rss_mib"] for t in trivials)
    runs = ", ".join(f"{w:.2f}" for w in sorted(t["wall_s"] for t in trivials))
    trivial_line = (
        f"Trivial Prefect flow: {trivial_s:.2f} s (median of {runs}), peak RSS {trivial_rss:.0f} MiB"
    )
    print(trivial_line)
    workers_line = (
        "Commands run without --workers (the flows decide)"
        if args.workers is None
        else f"Commands run with --workers {args.workers}"
    )
    print(workers_line)

    by_size: dict[str, dict[str, Any]] = {}
    for n, m in sizes:
        load_before = os.getloadavg()
        by_size[f"{n}x{m}"] = run_size(
            n,
            m,
            workdir,
            env,
            args.seed,
            max(1, args.jobs),
            args.variants,
            trivial_cmd,
            None if args.workers is None else max(1, args.workers),
            max(1, args.repeats),
        )
        by_size[f"{n}x{m}"]["load_average"] = {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        }
    print_machine(info)
    print(trivial_line)
    print(workers_line)
    for size in by_size.values():
        print_table(size)
    goal_results = goals(by_size)
    print_goals(goal_results)

    report = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "workers": args.workers,
        "repeats": args.repeats,
        "year": YEAR,
        "as_of": AS_OF,
        "seed": args.seed,
        "workdir": str(workdir),
        "trivial_flow": {
            "median_s": trivial_s,
            "peak_rss_mib": trivial_rss,
            "runs": trivials,
            "warm_up": warm,
        },
        "sizes": by_size,
        "goals": goal_results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"\nWrote {args.out}")
    failed = [f"{k}:{s}" for k, v in by_size.items() for s, r in v["stages"].items() if r["exit_code"] != 0]
    if failed:
        print(f"Non-zero exits: {', '.join(failed)} (see the logs in {workdir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
