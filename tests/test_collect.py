"""The collect stage on real inboxes: outcomes, archive, ledger, feedback, in force."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from pipeline import contract as c
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.flows import CollectResult
from pipeline.plan import Plan
from pipeline.store import read_ledger
from tests import running
from tests.workbooks import GOOD_ACTION as GOOD
from tests.workbooks import fill_workbook, make_template

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
OLD = 1_790_000_000  # 2026-09-21: long before the run


def _age(path: Path, mtime: float = OLD) -> Path:
    os.utime(path, (mtime, mtime))
    return path


def _settings(tmp_path: Path) -> Settings:
    return Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox")


def _run(tmp_path: Path, plan: Plan) -> CollectResult:
    return running.collect(_settings(tmp_path), YEAR, AS_OF)


def _states(result: CollectResult) -> dict[str, str]:
    return {f.name: f.state for f in result.files}


@pytest.fixture
def mixed_inbox(plan: Plan, tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    mallar = tmp_path / "mallar"
    soc = fill_workbook(
        make_template(plan, "SOC", YEAR, mallar),
        inbox / "SOC" / "min plan.xlsx",
        actions=[GOOD],
        concerns={"1.3": "Ja"},
    )
    fill_workbook(
        make_template(plan, "KS", YEAR, mallar),
        inbox / "ks_handlingsplan.xlsx",
        actions=[GOOD, {**GOOD, c.STATUS: "Klar", c.COST: "ca 5000 kr"}],
        concerns={"1.3": "Ja"},
    )
    shutil.copy(soc, inbox / "kopia.xlsx")
    fill_workbook(make_template(plan, "UTB", YEAR - 1, mallar), inbox / "utb.xlsx", actions=[GOOD])
    (inbox / "trasig.xlsx").write_bytes(soc.read_bytes()[:3000])
    (inbox / "~$ks_handlingsplan.xlsx").write_bytes(b"\x00lock")
    plain = openpyxl.Workbook()
    plain.active["A1"] = "Vår handlingsplan"
    plain.save(inbox / "egen.xlsx")
    for path in inbox.rglob("*"):
        if path.is_file():
            _age(path)
    return inbox


def test_mixed_inbox_sorted_in_one_run(mixed_inbox: Path, plan: Plan, tmp_path: Path) -> None:
    result = _run(tmp_path, plan)
    assert _states(result) == {
        "SOC/min plan.xlsx": "accepted",
        "egen.xlsx": "rejected",
        "kopia.xlsx": "duplicate",
        "ks_handlingsplan.xlsx": "rejected",
        "trasig.xlsx": "rejected",
        "utb.xlsx": "accepted",
        "~$ks_handlingsplan.xlsx": "ignored",
    }
    messages = {f.name: f.message for f in result.files}
    # Last year's template keeps to its own year: handled for 2026, not counted for 2027.
    assert messages["utb.xlsx"] == "Mallen gäller 2026: godkänd för 2026, räknas inte för 2027."
    assert {f.name: f.year for f in result.files}["utb.xlsx"] == YEAR - 1
    assert messages["egen.xlsx"].startswith("Filen är inte en handlingsplanmall")
    assert messages["trasig.xlsx"] == "Filen är skadad eller ofullständig."
    assert list(result.in_force) == ["SOC"]


def test_every_submission_is_archived_byte_for_byte(mixed_inbox: Path, plan: Plan, tmp_path: Path) -> None:
    _run(tmp_path, plan)
    archived = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (tmp_path / "outbox" / "arkiv").rglob("*")
        if p.is_file()
    }
    for path in mixed_inbox.rglob("*.xlsx"):
        if not path.name.startswith("~$"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() in archived, path.name


def test_inbox_is_never_written(mixed_inbox: Path, plan: Plan, tmp_path: Path) -> None:
    before = {p: (p.stat().st_mtime, p.read_bytes()) for p in mixed_inbox.rglob("*") if p.is_file()}
    _run(tmp_path, plan)
    assert {p: (p.stat().st_mtime, p.read_bytes()) for p in mixed_inbox.rglob("*") if p.is_file()} == before


def test_feedback_names_every_bad_cell(mixed_inbox: Path, plan: Plan, tmp_path: Path) -> None:
    result = _run(tmp_path, plan)
    ks = next(f for f in result.files if f.name == "ks_handlingsplan.xlsx")
    assert (ks.errors, ks.department) == (2, "KS")
    html = ks.feedback.read_text(encoding="utf-8")
    assert (
        "G3" in html
        and "L3" in html
        and "&#34;Klar&#34; är inte en giltig status" in html.replace("&quot;", "&#34;")
    )
    marked = openpyxl.load_workbook(ks.feedback.with_name(ks.feedback.stem + "_markerad.xlsx"))
    assert marked[c.SHEET_ACTIONS]["L3"].comment is not None


def test_ledger_records_outcomes_and_rerun_changes_nothing(
    mixed_inbox: Path, plan: Plan, tmp_path: Path
) -> None:
    _run(tmp_path, plan)
    ledger = tmp_path / "outbox" / "inlamningar.jsonl"
    records = read_ledger(ledger)
    assert sorted((r.original_name, r.verdict, r.department) for r in records) == [
        ("SOC/min plan.xlsx", "accepted", "SOC"),
        ("egen.xlsx", "rejected", None),
        ("ks_handlingsplan.xlsx", "rejected", "KS"),
        ("trasig.xlsx", "rejected", None),
        ("utb.xlsx", "accepted", "UTB"),
    ]
    assert {r.original_name: r.year for r in records}["utb.xlsx"] == YEAR - 1
    before = ledger.read_bytes()
    outputs = {p: p.read_bytes() for p in (tmp_path / "outbox").rglob("*") if p.is_file()}
    again = _run(tmp_path, plan)
    assert again.new_submissions == 0
    assert {f.state for f in again.files} == {"unchanged", "duplicate", "ignored"}
    assert ledger.read_bytes() == before
    assert {p: p.read_bytes() for p in (tmp_path / "outbox").rglob("*") if p.is_file()} == outputs


def test_latest_accepted_submission_is_in_force(plan: Plan, tmp_path: Path) -> None:
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    inbox = tmp_path / "inbox"
    _age(fill_workbook(template, inbox / "forsta.xlsx", actions=[GOOD], concerns={"1.3": "Ja"}), OLD)
    _age(
        fill_workbook(template, inbox / "andra.xlsx", actions=[GOOD, GOOD], concerns={"1.3": "Ja"}), OLD + 60
    )
    result = _run(tmp_path, plan)
    assert result.in_force["SOC"].original_name == "andra.xlsx"
    assert len(list((tmp_path / "outbox" / "arkiv").rglob("*.xlsx"))) == 2


def test_recent_file_waits_for_the_next_run(plan: Plan, tmp_path: Path) -> None:
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    path = fill_workbook(template, tmp_path / "inbox" / "ny.xlsx", actions=[GOOD])  # saved just now
    assert _states(_run(tmp_path, plan)) == {"ny.xlsx": "waiting"}
    _age(path)  # a later run, the file untouched since
    assert _states(_run(tmp_path, plan)) == {"ny.xlsx": "accepted"}
    assert path.exists()


def test_unknown_template_version_is_rejected_saying_so(plan: Plan, tmp_path: Path) -> None:
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    target = tmp_path / "inbox" / "gammal.xlsx"
    target.parent.mkdir()
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            # Both identity sources say version 0, as an old template would (they must agree).
            if item.filename == "docProps/custom.xml":
                data = data.replace(b"<vt:lpwstr>1</vt:lpwstr>", b"<vt:lpwstr>0</vt:lpwstr>")
            if item.filename == "xl/sharedStrings.xml":
                data = data.replace(b"<t>1</t>", b"<t>0</t>")
            dst.writestr(item, data)
    _age(target)
    (outcome,) = _run(tmp_path, plan).files
    assert outcome.state == "rejected"
    assert outcome.message.startswith("Mallen har version 0, som den här versionen av systemet inte kan läsa")


@pytest.mark.flow
def test_collect_command_runs_the_flow(mixed_inbox: Path, tmp_path: Path, prefect_harness: None) -> None:
    result = CliRunner().invoke(
        app,
        [
            "collect",
            "--year",
            "2027",
            "--inbox",
            str(mixed_inbox),
            "--outbox",
            str(tmp_path / "outbox"),
            "--as-of",
            "2027-03-01",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 nya inlämningar: 1 godkänd, 3 avvisade." in result.output
    assert "SOC/min plan.xlsx (0 fel, 0 varningar)" in result.output
    again = CliRunner().invoke(
        app, ["collect", "--year", "2027", "--inbox", str(mixed_inbox), "--outbox", str(tmp_path / "outbox")]
    )
    assert "Inga nya inlämningar för 2027; inget har ändrats." in again.output


def test_ledger_keeps_why_a_submission_was_rejected(mixed_inbox: Path, plan: Plan, tmp_path: Path) -> None:
    _run(tmp_path, plan)
    reasons = {r.original_name: r.reasons for r in read_ledger(_settings(tmp_path).ledger_file)}
    assert reasons["SOC/min plan.xlsx"] == ()
    assert reasons["trasig.xlsx"] == ("Filen är skadad eller ofullständig.",)
    assert any('"Klar" är inte en giltig status' in text for text in reasons["ks_handlingsplan.xlsx"])


def test_rejections_still_open_are_explained_from_the_ledger(
    mixed_inbox: Path, plan: Plan, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    _run(tmp_path, plan)
    consolidated = running.report(settings, YEAR, AS_OF).consolidated
    from_ledger = {r.file: r.reasons for r in consolidated.rejections}
    assert any('"Klar"' in text for text in from_ledger["ks_handlingsplan.xlsx"])
    assert from_ledger["trasig.xlsx"] == ("Filen är skadad eller ofullständig.",)
    assert "SOC/min plan.xlsx" not in from_ledger


def test_a_bug_in_a_check_reaches_the_coordinator_not_the_forvaltning(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.check
    import pipeline.isolate

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bugg i kontrollen")

    # The bug is planted in this process, so the check runs here rather than in a child.
    monkeypatch.setattr(pipeline.isolate, "isolation_available", lambda: False)
    monkeypatch.setattr(pipeline.check, "validate_workbooks", broken)
    monkeypatch.setattr(pipeline.check, "validate_workbook", broken)
    template = make_template(plan, "SOC", YEAR, tmp_path / "mallar")
    _age(fill_workbook(template, tmp_path / "inbox" / "soc.xlsx", actions=[GOOD], concerns={"1.3": "Ja"}))
    result = CliRunner().invoke(
        app,
        [
            "collect",
            "--year",
            "2027",
            "--inbox",
            str(tmp_path / "inbox"),
            "--outbox",
            str(tmp_path / "outbox"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tekniskt fel (för den som sköter systemet): RuntimeError: bugg i kontrollen" in result.output
    (record,) = read_ledger(_settings(tmp_path).ledger_file)
    assert (record.verdict, record.reasons) == ("rejected", ("Filen kunde inte läsas.",))
    assert record.details == ("RuntimeError: bugg i kontrollen",)
    feedback = (tmp_path / "outbox" / record.feedback).read_text(encoding="utf-8")
    assert "Filen kunde inte läsas." in feedback and "RuntimeError" not in feedback


def test_clean_data_that_went_missing_is_rebuilt_from_the_archive(
    mixed_inbox: Path, plan: Plan, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    _run(tmp_path, plan)
    (kept,) = (tmp_path / "outbox" / str(YEAR) / "data").glob("*.json")
    before = kept.read_bytes()
    kept.unlink()
    consolidated = running.report(settings, YEAR, AS_OF).consolidated
    assert [d.code for d in consolidated.departments if d.submitted] == ["SOC"]
    assert kept.read_bytes() == before
