"""One inbox holding every hostile file of the corpus plus five good files, run through the real
commands (issue 18, "What must show").

`handlingsplan collect` and `handlingsplan report` run as a user runs them, as subprocesses,
once each. They must both exit 0; the five good files (FoK, KS, SBF, SOC, UTB, from the real
templates) must be accepted and in the consolidated plan; every hostile file must be named in
collect's output (a name that cannot be shown as it is, escaped as `pipeline.text.visible`
writes it); every file collect handled must have its bytes in outbox/arkiv; no traceback
anywhere; no raw control or bidi character in any console line or output file; no process
above 1 GiB; the whole run within five minutes. The figures are printed (`pytest -s`).

The hostile files that are valid workbooks (odd names, deep folders, Unicode at the edges) are
made from last year's templates: they are handled for their own year, so that this year's
submission in force stays the good file of each förvaltning.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import psutil
import pytest

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.plan import Plan
from pipeline.text import visible
from tests import corpus, running
from tests.corpus import AS_OF, OLD, SOFFICE, YEAR, Kit
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

ROOT = Path(__file__).parents[1]
COMMAND = ROOT / ".venv" / "bin" / "handlingsplan"
GIB = 1024**3
RUN_LIMIT_SECONDS = 300.0
"""The issue's contract: the whole run (collect and report) within five minutes on this machine."""

GOOD_DEPARTMENTS = ("FoK", "KS", "SBF", "SOC", "UTB")

HOSTILE = (
    # round 1: the bytes
    corpus.entity_bomb_in_shared_strings,
    corpus.xxe_in_custom_properties,
    corpus.zip_bomb_lying_header,
    corpus.zip_bomb_300_mib,
    corpus.too_many_members,
    corpus.not_a_zip,
    corpus.zero_bytes,
    corpus.truncated,
    corpus.password_protected,
    corpus.csv_renamed,
    corpus.html_renamed,
    corpus.xlsm_with_macros,
    corpus.own_workbook,
    corpus.excel_lock_file,
    corpus.hidden_file,
    # round 2: identity, clock, names, expansion, edges
    corpus.identity_conflict_department,
    corpus.plan_version_path_like,
    corpus.plan_version_absolute_path,
    corpus.unknown_plan_version,
    corpus.future_mtime,
    corpus.name_with_closing_markup,
    corpus.name_with_bold_markup,
    corpus.name_not_utf8,
    corpus.name_with_rtl_override,
    corpus.deeply_nested_folders,
    corpus.cell_far_away,
    corpus.dimension_far_away,
    corpus.shared_string_used_million_times,
    corpus.shared_strings_table_huge,
    corpus.nfd_status_and_headers,
    corpus.invisible_in_status_and_id,
    corpus.bidi_in_free_text,
    corpus.cost_infinite,
    corpus.cost_text_infinity,
    corpus.costs_whose_sum_overflows,
    corpus.text_of_32768_characters,
    corpus.dates_outside_window,
    corpus.action_number_1000,
    corpus.twenty_thousand_errors,
)
LIBREOFFICE_HOSTILE = (corpus.ods_rows_repeated,)

RAW_FORBIDDEN = frozenset(corpus.BIDI_CONTROLS) | {
    chr(n) for n in (*range(0x20), *range(0x7F, 0xA0)) if chr(n) not in "\n\t\r"
}
"""What no console line or output file may hold raw: controls (but line breaks), bidi controls
and zero-width characters, and the surrogates of a name that is not UTF-8 (checked apart)."""


@dataclass
class Run:
    """One command's exit code, output, peak memory of any of its processes and wall time."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int
    seconds: float


def _tree_peak(process: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    """Samples the resident size of the process and every descendant until `stop` is set."""
    while not stop.is_set():
        try:
            family = [process, *process.children(recursive=True)]
        except psutil.Error:
            return
        for member in family:
            try:
                peak[0] = max(peak[0], member.memory_info().rss)
            except psutil.Error:
                continue
        stop.wait(0.1)


def run_command(args: list[str], cwd: Path) -> Run:
    """Runs `handlingsplan <args>` and measures it: wait4's peak of the process and the children
    it waited for, and a sampled peak of every descendant (the fork server's children too)."""
    out, err = cwd / f"{args[0]}.stdout", cwd / f"{args[0]}.stderr"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([str(COMMAND), *args], cwd=cwd, stdout=stdout, stderr=stderr, env=env)
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_tree_peak, args=(psutil.Process(process.pid), stop, peak))
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
    seconds = time.monotonic() - started
    # ru_maxrss is in KiB on Linux.
    peak_rss = max(peak[0], usage.ru_maxrss * 1024)
    return Run(
        process.returncode,
        out.read_text(encoding="utf-8", errors="surrogateescape"),
        err.read_text(encoding="utf-8", errors="surrogateescape"),
        peak_rss,
        seconds,
    )


@dataclass
class Inbox:
    """The inbox built for the run: every file by its path inside it, and the good ones."""

    folder: Path
    hostile: dict[str, Callable[[Kit], str]]
    good: dict[str, str]
    """Förvaltning → the good file's name."""


@pytest.fixture(scope="module")
def hostile_inbox(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Inbox:
    root = tmp_path_factory.mktemp("fientlig")
    made: dict[tuple[str, int], Path] = {}

    def template(code: str, year: int) -> Path:
        # This year's templates go to the good files; a hostile file is last year's (see above).
        year = YEAR - 1 if year == YEAR else year
        if (code, year) not in made:
            made[(code, year)] = make_template(plan, code, year, root / "mallar" / str(year))
        return made[(code, year)]

    kit = Kit(plan, root / "inbox", root / "scratch", template)
    kit.inbox.mkdir()
    kit.work.mkdir()
    builders = [*HOSTILE, *(LIBREOFFICE_HOSTILE if SOFFICE else ())]
    hostile = {builder(kit): builder for builder in builders}
    kit.settle()
    good = {}
    for code in GOOD_DEPARTMENTS:
        name = f"handlingsplan_{YEAR}_{code}_ifylld.xlsx"
        action = {**GOOD_ACTION, c.ACTION: f"Godkänd åtgärd för {code}"}
        target = fill_workbook(
            make_template(plan, code, YEAR, root / "mallar" / str(YEAR)),
            kit.inbox / name,
            actions=[action],
            concerns={"1.3": c.YES},
        )
        os.utime(target, (OLD + 3600, OLD + 3600))
        good[code] = name
    return Inbox(kit.inbox, hostile, good)


def _inbox_files(inbox: Path) -> Iterator[Path]:
    """Every file under the inbox, walked without recursion (the tree may be 200 folders deep)."""
    folders = [inbox]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _raw_characters(text: str) -> set[str]:
    """Returns the forbidden characters `text` holds raw (lone surrogates included)."""
    return {ch for ch in text if ch in RAW_FORBIDDEN or unicodedata.category(ch) == "Cs"}


def _output_texts(outbox: Path) -> Iterator[tuple[Path, str]]:
    """Every text the outbox holds: HTML, Markdown, JSON lines and the cells of every workbook."""
    for path in _inbox_files(outbox):
        if "arkiv" in path.relative_to(outbox).parts:
            continue  # the submissions' own bytes, kept as handed in
        if path.parent.name == "data" and path.suffix == ".json":
            continue  # the store's faithful copy of what was handed in, read by the program only
        if path.suffix in (".html", ".md", ".jsonl", ".txt", ".csv"):
            yield path, path.read_text(encoding="utf-8", errors="surrogateescape")
        elif path.suffix == ".xlsx" and not path.name.endswith("_markerad.xlsx"):
            workbook = openpyxl.load_workbook(path, read_only=True)
            try:
                cells = (
                    str(value)
                    for sheet in workbook.worksheets
                    for row in sheet.iter_rows(values_only=True)
                    for value in row
                    if isinstance(value, str)
                )
                yield path, "\n".join(cells)
            finally:
                workbook.close()


@pytest.mark.slow
def test_one_inbox_of_every_hostile_file(hostile_inbox: Inbox, tmp_path: Path) -> None:
    inbox, outbox = hostile_inbox.folder, tmp_path / "outbox"
    files = {str(p.relative_to(inbox)): p for p in _inbox_files(inbox)}
    digests = {name: _sha256(path) for name, path in files.items()}
    common = ["--year", str(YEAR), "--outbox", str(outbox), "--as-of", AS_OF.isoformat()]

    collect = run_command(["collect", *common, "--inbox", str(inbox), "--quiet-seconds", "0"], tmp_path)
    report = run_command(["report", *common], tmp_path)

    total = collect.seconds + report.seconds
    print(
        f"\nFientlig inkorg: {len(files)} filer ({len(hostile_inbox.hostile)} fientliga, "
        f"{len(hostile_inbox.good)} goda), {sum(p.stat().st_size for p in files.values()) / 1e6:.1f} MB"
    )
    print(
        f"collect: {collect.seconds:.1f} s, högsta minne {collect.peak_rss / 2**20:.0f} MiB, kod {collect.returncode}"
    )
    print(
        f"report:  {report.seconds:.1f} s, högsta minne {report.peak_rss / 2**20:.0f} MiB, kod {report.returncode}"
    )
    print(
        f"totalt:  {total:.1f} s; rusage (barn) {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB"
    )
    print(collect.stdout)

    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert report.returncode == 0, report.stdout + report.stderr
    for run in (collect, report):
        assert "Traceback" not in run.stdout + run.stderr
        assert "\x1b" not in run.stdout, "colour or cursor codes in a console line"
        raw = _raw_characters(run.stdout + run.stderr)
        assert not raw, sorted(f"U+{ord(ch):04X}" for ch in raw)
        assert run.peak_rss < GIB, run.peak_rss
    assert total < RUN_LIMIT_SECONDS, total

    # Every hostile file is named in collect's output, as it is or escaped.
    missing = [
        name
        for name in files
        if name not in hostile_inbox.good.values()
        and visible(name) not in collect.stdout
        and visible(Path(name).name) not in collect.stdout
        and not (name.startswith("d/d/") and "d/d/d" in collect.stdout)
    ]
    assert not missing, missing

    # Every file collect handled has its very bytes in the archive.
    archived = {_sha256(p) for p in _inbox_files(outbox / "arkiv")} if (outbox / "arkiv").is_dir() else set()
    not_kept = [
        visible(name)
        for name, digest in digests.items()
        if digest not in archived and not _never_taken(name, collect.stdout)
    ]
    assert not not_kept, not_kept

    # The five good files: accepted, and their actions in the consolidated plan.
    plan_file = next((outbox / str(YEAR)).glob("handlingsplan_*.xlsx"), None) or next(
        p
        for p in (outbox / str(YEAR)).rglob("*.xlsx")
        if "feedback" not in p.parts and "mallar" not in p.parts
    )
    consolidated = "\n".join(text for path, text in _output_texts(outbox / str(YEAR)) if path == plan_file)
    for code, name in hostile_inbox.good.items():
        line = next((ln for ln in collect.stdout.splitlines() if name in ln), "")
        assert "godkänd" in line.lower(), (name, line)
        assert f"Godkänd åtgärd för {code}" in consolidated, code

    # No raw control, bidi or zero-width character in any output file.
    dirty = {
        str(path.relative_to(outbox)): sorted(f"U+{ord(ch):04X}" for ch in raw)
        for path, text in _output_texts(outbox)
        if (raw := _raw_characters(text))
    }
    assert not dirty, dirty


def _never_taken(name: str, stdout: str) -> bool:
    """Returns True for a file collect rightly did not take in: ignored or waiting (it says so)."""
    basename = Path(name).name
    if basename.startswith(("~$", ".")) or name.startswith("d/d/"):
        return True
    shown = visible(name)
    line = next((ln for ln in stdout.splitlines() if shown in ln), "")
    return "väntar" in line.lower() or "hoppas över" in line.lower()


# --- run-level cases: storage faults and revised plans (docs/korpus.md, "Körningsfall") ------------


def _one_good_submission(plan: Plan, folder: Path) -> tuple[Settings, str]:
    """Returns settings of a fresh in/outbox holding SOC's good file, collected once."""
    settings = Settings(inbox=folder / "inbox", outbox=folder / "outbox")
    settings.inbox.mkdir(parents=True)
    action = {**GOOD_ACTION, c.ACTION: "Återskapad åtgärd"}
    target = fill_workbook(
        make_template(plan, "SOC", YEAR, folder / "mallar"),
        settings.inbox / "soc.xlsx",
        actions=[action],
        concerns={"1.3": c.YES},
    )
    os.utime(target, (OLD, OLD))
    first = running.collect(settings, YEAR, AS_OF)
    assert {f.name: f.state for f in first.files} == {"soc.xlsx": "accepted"}
    return settings, first.files[0].digest


def _soc_actions(settings: Settings) -> list[str]:
    consolidated = running.report(settings, YEAR, AS_OF).consolidated
    return list(consolidated.actions.loc[consolidated.actions[c.DEPARTMENT] == "SOC", c.ACTION])


@pytest.mark.slow
def test_corrupted_ledger_line_never_drops_the_submission(plan: Plan, tmp_path: Path) -> None:
    """A ledger line that cannot be read: the submission is recovered from archive and clean data."""
    settings, _ = _one_good_submission(plan, tmp_path)
    lines = settings.ledger_file.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1
    settings.ledger_file.write_bytes(lines[0][: len(lines[0]) // 2] + b"\xff\n")
    running.collect(settings, YEAR, AS_OF)
    assert _soc_actions(settings) == ["Återskapad åtgärd"]


@pytest.mark.slow
@pytest.mark.parametrize("lost", ["archive", "clean_data"])
def test_lost_archive_or_clean_data_is_rebuilt(plan: Plan, tmp_path: Path, lost: str) -> None:
    """A deleted archive file or clean-data file: the submission is rebuilt from the other one."""
    settings, digest = _one_good_submission(plan, tmp_path)
    if lost == "archive":
        gone = [p for p in settings.archive_dir.rglob("*") if p.is_file() and digest in p.name]
    else:
        gone = [settings.clean_data_file(YEAR, digest)]
    assert gone and all(p.is_file() for p in gone)
    for path in gone:
        path.unlink()
    assert _soc_actions(settings) == ["Återskapad åtgärd"]


def _cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["under_a_file", "inside_the_inbox"])
def test_unusable_outbox_is_one_swedish_line(tmp_path: Path, where: str) -> None:
    """An outbox that cannot be written (under a regular file) or that lies inside the inbox:
    refused with one line and a non-zero exit code, never a traceback, nothing ingested."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "fil").write_text("ingen mapp")
    outbox = tmp_path / "fil" / "utkorg" if where == "under_a_file" else inbox / "utkorg"
    done = _cli(
        [
            "collect",
            "--year",
            str(YEAR),
            "--inbox",
            str(inbox),
            "--outbox",
            str(outbox),
            "--quiet-seconds",
            "0",
        ],
        tmp_path,
    )
    assert done.returncode not in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert 1 <= len(said) <= 3, said
    # The line names the path at fault: the outbox, or the file standing where a folder must be.
    blocking = "fil" if where == "under_a_file" else "utkorg"
    assert any(blocking in line for line in said), said
    assert not (inbox / "utkorg" / "arkiv").exists()


@pytest.mark.slow
def test_waiting_for_a_lock_says_so_at_once(tmp_path: Path) -> None:
    """Another run holds the outbox's lock: the command says so within seconds, then goes on."""
    from filelock import FileLock

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    lock = FileLock(str(outbox / ".handlingsplan.lock"))
    lock.acquire()
    out = tmp_path / "out.txt"
    args = [
        "collect",
        "--year",
        str(YEAR),
        "--inbox",
        str(inbox),
        "--outbox",
        str(outbox),
        "--quiet-seconds",
        "0",
    ]
    with out.open("wb") as sink:
        process = subprocess.Popen([str(COMMAND), *args], cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
        try:
            # The command's own start (Prefect) takes 12 s on an idle machine, far more on a busy one.
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and not out.read_text(encoding="utf-8").strip():
                time.sleep(0.5)
            said = out.read_text(encoding="utf-8")
        finally:
            lock.release()
        returncode = process.wait(timeout=120)
    assert said.strip(), "nothing said while waiting for the lock"
    assert said.lstrip().startswith("Väntar"), said
    assert "Traceback" not in out.read_text(encoding="utf-8")
    assert returncode == 0, out.read_text(encoding="utf-8")


def test_plan_with_nested_aliases_is_refused_fast(tmp_path: Path) -> None:
    """A revised plan YAML with nested aliases (billion laughs): PlanError within a second."""
    from pipeline.errors import PlanError
    from pipeline.plan import load_plan

    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    lines.append("plan: *i")
    path = tmp_path / "plan.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(PlanError):
        load_plan(path)
    assert time.monotonic() - started < 1.0


@pytest.mark.slow
def test_revised_plan_dropping_a_goal_keeps_the_action_visible(plan: Plan, tmp_path: Path) -> None:
    """SOC's accepted action is on Delmål 1.3; the revised plan drops 1.3: the action stays, under
    "Delmål som inte längre finns i planen", and every total still equals the sum of its rows."""
    from pipeline.combine import DROPPED_GOALS, TOTAL, cost_by_area_and_funding, dropped_goal_actions, figures
    from pipeline.config import default_plan_file

    settings, _ = _one_good_submission(plan, tmp_path)
    text = default_plan_file().read_text(encoding="utf-8")
    start = text.index('      - id: "1.3"')
    end = text.index('      - id: "1.4"')
    revised = tmp_path / "reviderad.yaml"
    revised.write_text(text[:start] + text[end:], encoding="utf-8")
    settings = settings.with_overrides(plan_file=revised)

    result = running.report(settings, YEAR, AS_OF)

    consolidated = result.consolidated
    assert list(consolidated.actions[c.ACTION]) == ["Återskapad åtgärd"]
    assert list(dropped_goal_actions(consolidated)[c.ACTION]) == ["Återskapad åtgärd"]
    assert figures(consolidated).total_cost == 5000
    table = cost_by_area_and_funding(consolidated)
    assert table.at[TOTAL, TOTAL] == table.drop(index=TOTAL, columns=TOTAL).to_numpy().sum() == 5000
    summaries = [p for p in result.paths if p.suffix in (".md", ".html")]
    assert summaries and all(DROPPED_GOALS in p.read_text(encoding="utf-8") for p in summaries)
