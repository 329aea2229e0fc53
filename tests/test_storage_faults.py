"""Storage faults: a damaged ledger line, a lost archived copy or clean data, a run that waits for
another's lock, a full disk and a read-only outbox. None is silent, none is a traceback."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import store
from pipeline.cli import app
from pipeline.cli_text import EXIT_FILE_SYSTEM
from pipeline.config import Settings
from pipeline.errors import OutboxLockedError
from pipeline.files import HOLDER_NAME, outbox_lock, read_holder
from pipeline.plan import Plan
from pipeline.records import LedgerRecord
from tests import running
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)


@pytest.fixture(scope="module")
def collected(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An outbox after one collect: SOC and UTB accepted, one rejected file."""
    root = tmp_path_factory.mktemp("insamlat")
    settings = Settings(inbox=root / "inbox", outbox=root / "outbox", quiet_seconds=0)
    for code in ("SOC", "UTB"):
        template = make_template(plan, code, YEAR, root / "mallar")
        fill_workbook(
            template, settings.inbox / f"{code} plan.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"}
        )
    (settings.inbox / "trasig.xlsx").write_bytes(b"PK\x03\x04 inte en hel arbetsbok")
    result = running.collect(settings, YEAR, AS_OF)
    assert sorted(result.in_force) == ["SOC", "UTB"]
    return settings.outbox


@pytest.fixture
def outbox(collected: Path, tmp_path: Path) -> Path:
    """A copy of the collected outbox for one test to damage."""
    return Path(shutil.copytree(collected, tmp_path / "outbox"))


def settings_for(outbox: Path) -> Settings:
    return Settings(inbox=outbox.parent / "inbox", outbox=outbox)


def ledger_lines(outbox: Path) -> list[bytes]:
    return (outbox / "inlamningar.jsonl").read_bytes().splitlines(keepends=True)


def line_of(outbox: Path, name: str) -> int:
    """Returns the 0-based index of the readable ledger line of the file with this name."""
    for index, line in enumerate(ledger_lines(outbox)):
        try:
            if json.loads(line)["original_name"] == name:
                return index
        except ValueError:
            continue
    raise LookupError(name)


def rewrite(outbox: Path, index: int, line: bytes) -> None:
    lines = ledger_lines(outbox)
    lines[index] = line
    (outbox / "inlamningar.jsonl").write_bytes(b"".join(lines))


# --- the ledger --------------------------------------------------------------------------


def test_an_unreadable_line_is_told_with_its_number_and_the_submission_still_counts(outbox: Path) -> None:
    index = line_of(outbox, "SOC plan.xlsx")
    good = ledger_lines(outbox)[index]
    rewrite(
        outbox, index, good.replace(b'"reasons": [', b'"reasons": [\x00')
    )  # broken past the fields needed
    view = store.received(settings_for(outbox), YEAR)
    assert sorted(view.in_force) == ["SOC", "UTB"]
    assert view.damaged == (
        store.DamagedLine(index + 1, view.in_force["SOC"].digest, "SOC plan.xlsx", "SOC", salvaged=True),
    )
    assert view.notes == (
        f"Rad {index + 1} i inlamningar.jsonl kunde inte läsas helt; inlämningen SOC plan.xlsx lästes ändå ur raden och räknas.",
    )


def test_an_accepted_submission_whose_line_is_lost_is_rebuilt_from_its_clean_data(outbox: Path) -> None:
    index = line_of(outbox, "SOC plan.xlsx")
    before = store.received(settings_for(outbox), YEAR).in_force["SOC"]
    rewrite(outbox, index, b'{"digest": "' + before.digest.encode() + b'", \xff\xfe garbage\n')
    view = store.received(settings_for(outbox), YEAR)
    soc = view.in_force["SOC"]
    assert (soc.digest, soc.department, soc.original_name, soc.archived) == (
        before.digest, "SOC", "(okänt filnamn) " + before.digest[:12], before.archived,
    )  # fmt: skip
    assert view.recovered == (soc,)
    assert view.notes == (
        f"Rad {index + 1} i inlamningar.jsonl kunde inte läsas; inlämningen var godkänd och återskapades "
        "från sina rensade data och arkivet.",
    )
    # The bytes are known: found in the inbox again, they are not taken in as a new submission.
    assert store.handled_years(store.load_ledger(settings_for(outbox)))[before.digest] == YEAR


def test_a_lost_line_is_found_even_when_the_ledger_never_had_it(outbox: Path) -> None:
    index = line_of(outbox, "UTB plan.xlsx")
    digest = json.loads(ledger_lines(outbox)[index])["digest"]
    rewrite(outbox, index, b"")  # the line is gone altogether, e.g. a restored older copy
    view = store.received(settings_for(outbox), YEAR)
    assert view.in_force["UTB"].digest == digest and view.damaged == ()
    assert view.notes == (
        f"Inlämningen (okänt filnamn) {digest[:12]} (UTB) saknades i inlamningar.jsonl men var godkänd; "
        "den återskapades från sina rensade data och räknas.",
    )


def test_a_rejected_submission_whose_line_is_lost_is_handled_again_when_found(outbox: Path) -> None:
    index = line_of(outbox, "trasig.xlsx")
    digest = json.loads(ledger_lines(outbox)[index])["digest"]
    rewrite(outbox, index, b'{"digest": "' + digest.encode() + b'", "original_name": "trasig.xlsx", \x00\n')
    ledger = store.load_ledger(settings_for(outbox))
    assert digest not in store.handled_years(ledger)  # nothing to count it by: found again, checked again
    assert store.received_from(ledger, YEAR).notes == (
        f"Rad {index + 1} i inlamningar.jsonl kunde inte läsas; inlämningen trasig.xlsx räknas inte, men "
        "behandlas igen om filen ligger kvar i inkorgen (eller läggs tillbaka där).",
    )
    anew = {**json.loads(ledger_lines(outbox)[line_of(outbox, "SOC plan.xlsx")]), "digest": digest}
    anew.update(original_name="trasig.xlsx", department=None, verdict="rejected")
    store.append_ledger(outbox / "inlamningar.jsonl", [LedgerRecord(**anew)])  # as collect does
    assert store.received_from(store.load_ledger(settings_for(outbox)), YEAR).notes == (
        f"Rad {index + 1} i inlamningar.jsonl kunde inte läsas; inlämningen trasig.xlsx finns också på en "
        "annan rad och räknas därifrån.",
    )


def test_a_line_with_nothing_to_go_on_is_still_told(outbox: Path) -> None:
    with (outbox / "inlamningar.jsonl").open("ab") as handle:
        handle.write(b"\x00\x00\x00\n")
    number = len(ledger_lines(outbox))
    ledger = store.read_ledger(outbox / "inlamningar.jsonl")
    assert ledger.damaged_lines == (number,)
    assert store.received(settings_for(outbox), YEAR).notes == (
        f"Rad {number} i inlamningar.jsonl kunde inte läsas och räknas inte; vilken inlämning raden gällde "
        "gick inte att se.",
    )
    assert store.received(settings_for(outbox), YEAR + 1).notes  # told whichever year runs


# --- archived copies and clean data ------------------------------------------------------


def test_missing_archive_and_clean_data_are_told_naming_the_submission(outbox: Path) -> None:
    settings = settings_for(outbox)
    view = store.received(settings, YEAR)
    assert view.missing == () and view.notes == ()
    soc, utb = view.in_force["SOC"], view.in_force["UTB"]
    (outbox / soc.archived).unlink()
    settings.clean_data_file(YEAR, utb.digest).unlink()
    notes = store.received(settings, YEAR).notes
    assert notes == (
        f"Arkivkopian av SOC plan.xlsx (SOC) saknas ({soc.archived}); den räknas från sina rensade data. "
        "Lägg filen i inkorgen igen så arkiveras den på nytt.",
        "De rensade data för UTB plan.xlsx (UTB) saknas; de återskapas från arkivkopian.",
    )
    (outbox / utb.archived).unlink()
    assert store.received(settings, YEAR).notes[1] == (
        "Både arkivkopian och de rensade data för UTB plan.xlsx (UTB) saknas i utkorgen, så den kan inte räknas. "
        "Lägg filen i inkorgen igen, eller hämta tillbaka utkorgen från en säkerhetskopia."
    )


# --- the lock ----------------------------------------------------------------------------


def test_a_waiting_run_says_at_once_for_which_run_and_gives_up_clearly(tmp_path: Path) -> None:
    said: list[tuple[float, str]] = []
    with outbox_lock(tmp_path, timeout=1, command="handlingsplan collect --year 2027"):
        holder = read_holder(tmp_path)
        assert holder is not None and (holder.pid, holder.command) == (
            os.getpid(),
            "handlingsplan collect --year 2027",
        )
        started = time.monotonic()
        with (
            pytest.raises(OutboxLockedError) as caught,
            outbox_lock(
                tmp_path, timeout=0.5, on_wait=lambda text: said.append((time.monotonic() - started, text))
            ),
        ):
            pass  # pragma: no cover - the lock is held
    [(after, text)] = said
    assert after < 0.2  # at once, not when it gives up
    who = f"handlingsplan collect --year 2027 (process {os.getpid()} på "
    assert text.startswith(f"Väntar: {who}") and ", startad " in text
    assert text.endswith(f"skriver i {tmp_path}. Körningen fortsätter när den är klar och ger upp om 1 s.")
    message = str(caught.value)
    assert message.startswith(f"En annan körning skriver redan i {tmp_path}: {who}")
    assert "Gav upp efter att ha väntat 1 s." in message and "försök igen" in message
    assert not (tmp_path / HOLDER_NAME).exists()  # the holder's note goes with its lock


def test_a_waiting_run_is_told_on_the_terminal_by_default(tmp_path: Path) -> None:
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        with outbox_lock(tmp_path, timeout=1, command="handlingsplan report --year 2027"):
            ready.set()
            release.wait(5)

    code = (
        "import sys; from pathlib import Path; from pipeline.files import outbox_lock\n"
        "with outbox_lock(Path(sys.argv[1]), timeout=30):\n    print('fick låset', flush=True)\n"
    )
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert ready.wait(5)
        waiting = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        assert waiting.stderr is not None
        first = waiting.stderr.readline()  # said before the lock is free: it is still held here
        assert first.startswith("Väntar: handlingsplan report --year 2027 (process"), first
    finally:
        release.set()
        thread.join()
    out, _ = waiting.communicate(timeout=60)
    assert out == "fick låset\n"


# --- the file system through the real command --------------------------------------------


@pytest.mark.flow
def test_a_full_disk_is_one_swedish_line_naming_the_outbox(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    fill_workbook(template, tmp_path / "inbox" / "soc.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"})

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # a write names no file

    monkeypatch.setattr(store, "append_ledger", full)
    result = CliRunner().invoke(app, ["collect", "--year", "2027", "--quiet-seconds", "0"])
    assert result.exit_code == EXIT_FILE_SYSTEM, result.output
    assert result.stderr.splitlines() == [
        "Fel: Disken är full, så outbox kunde inte skrivas. Frigör utrymme och kör kommandot igen, "
        "eller välj en mapp på en annan disk med --outbox."
    ]


def _mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.mark.flow
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("size=64k", "Fel: Disken är full, så "),
        ("size=1m,ro", "Fel: "),
    ],
    ids=["full", "read-only"],
)
def test_a_real_full_or_read_only_disk_is_one_swedish_line(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: str, expected: str
) -> None:
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, options):
        pytest.skip("mounting a small file system needs root on Linux")
    try:
        monkeypatch.chdir(tmp_path)
        template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
        fill_workbook(
            template, tmp_path / "inbox" / "soc.xlsx", actions=[GOOD_ACTION], concerns={"1.3": "Ja"}
        )
        args = ["collect", "--year", "2027", "--outbox", "disk/ut", "--quiet-seconds", "0"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == EXIT_FILE_SYSTEM, result.output
        (line,) = result.stderr.splitlines()
        assert line.startswith(expected) and "disk/ut" in line and "--outbox" in line
        assert "Traceback" not in result.output
    finally:
        subprocess.run(["umount", str(disk)], check=False)
