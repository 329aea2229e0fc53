"""KS adopts the handlingsplan: the nämnder's decisions, the adopted version frozen in
outbox/<år>/antagen/, and the follow-up measured against it.

One year in one folder, through the real flows: FoK and SOC hand in proposals their nämnd
has decided, UTB a draft; KS adopts; SOC then re-submits with an action added, one removed
and one's cost changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from pipeline import contract as c
from pipeline.config import Settings
from pipeline.errors import InvalidInputError
from pipeline.plan import Plan
from tests import running
from tests.workbooks import fill_workbook, make_template

pytestmark = pytest.mark.flow

YEAR = 2027
DECIDED = dt.date(2026, 11, 20)
"""The nämnder's decisions: before any run of this test (a decision after receipt is refused)."""
DECISION = "KS 2027-04-14 § 55"


def action(text: str, cost: float, goal: str = "1.3") -> dict[str, Any]:
    return {
        c.GOAL: goal,
        c.ACTION: text,
        c.OWNER: "Enhetschef",
        c.STATUS: "Pågår",
        c.START: dt.datetime(YEAR, 1, 10),
        c.DONE: dt.datetime(YEAR, 12, 31),
        c.COST: cost,
        c.INDICATOR: "Antal deltagare",
        c.FUNDING: "Statlig ersättning",
    }


SOC_FIRST = [action("Språkcafé", 5000), action("Läxhjälp", 8000), action("Mentorprogram", 20000)]
SOC_AGAIN = [action("Språkcafé", 5000), action("Mentorprogram", 25000), action("Föräldraträffar", 3000)]


def decide(workbook: Path, day: dt.date | None, paragraph: str | None) -> None:
    """Types the nämnd's decision into the Instruktioner cells beside their labels, as a person does."""
    wb = openpyxl.load_workbook(workbook)
    ws = wb[c.SHEET_INSTRUCTIONS]
    for row in ws.iter_rows(min_col=1, max_col=1):
        label = row[0].value
        if label == "Beslutsdatum" and day is not None:
            ws.cell(row[0].row, 2).value = dt.datetime.combine(day, dt.time())
        elif label == "Paragraf" and paragraph is not None:
            ws.cell(row[0].row, 2).value = paragraph
    wb.save(workbook)


def hand_in(
    plan: Plan, settings: Settings, code: str, actions: list[dict[str, Any]], name: str, decided: bool
) -> Path:
    template = make_template(plan, code, YEAR, settings.outbox.parent / "mallar")
    target = settings.inbox / name
    fill_workbook(template, target, actions=actions, concerns={"1.3": "Ja"})
    if decided:
        decide(target, DECIDED, "§ 14")
    past = dt.datetime(YEAR - 1, 11, 25, tzinfo=dt.UTC).timestamp()
    os.utime(target, (past, past))
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sheet_rows(path: Path, sheet: str) -> list[list[Any]]:
    book = CalamineWorkbook.from_path(str(path))
    try:
        return [list(row) for row in book.get_sheet_by_name(sheet).to_python()]
    finally:
        book.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return Settings(inbox=inbox, outbox=tmp_path / "outbox", quiet_seconds=0)


def test_ks_adopts_and_the_follow_up_measures_against_the_adopted_plan(
    plan: Plan, settings: Settings
) -> None:
    from pipeline.flows import adopt_flow

    hand_in(plan, settings, "FoK", [action("Simskola för nyanlända", 12000)], "fok.xlsx", decided=True)
    hand_in(plan, settings, "SOC", SOC_FIRST, "soc.xlsx", decided=True)
    hand_in(plan, settings, "UTB", [action("Studiehandledning", 40000)], "utb.xlsx", decided=False)
    collected = running.collect(settings, YEAR, dt.date(YEAR, 4, 1))
    assert collected.count("accepted") == 3, [f.message for f in collected.files]

    adopted = adopt_flow(year=YEAR, decision="KS  2027-04-14 §55", outbox=settings.outbox)

    document, manifest = settings.adopted_file(YEAR), settings.adopted_manifest(YEAR)
    assert adopted.files == (document, manifest) and not adopted.unchanged
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert data["decision"]["text"] == DECISION and data["decision"]["date"] == "2027-04-14"
    assert data["sha256"] == digest(document)
    states = {d["code"]: d["state"] for d in data["departments"]}
    assert states == {
        "FoK": "beslutad i nämnd",
        "KS": "ej inlämnad",
        "SBF": "ej inlämnad",
        "SOC": "beslutad i nämnd",
        "UTB": "förslag",
    }
    soc = next(d for d in data["departments"] if d["code"] == "SOC")
    assert soc["sha256"] == digest(settings.inbox / "soc.xlsx") and soc["board_decision"] == "2026-11-20 § 14"
    # The decision on the first sheet and in the document's properties; missing and drafts said.
    wb = openpyxl.load_workbook(document)
    assert wb.sheetnames[0] == "Antagande"
    first = " ".join(str(cell.value) for row in wb["Antagande"].iter_rows() for cell in row if cell.value)
    assert f"Antagen av Kommunstyrelsen: {DECISION}." in first
    assert (
        "När planen antogs hade KS och SBF inte lämnat in någon handlingsplan, och förslaget från UTB "
        "var inte beslutat i nämnd. Kommunstyrelsen antog planen ändå." in first
    )
    assert {p.name: p.value for p in wb.custom_doc_props.props}["handlingsplan_beslut"] == DECISION
    assert DECISION in (wb.properties.title or "")
    frozen = {document: digest(document), manifest: digest(manifest)}

    # SOC changes its plan after the adoption: one added, one removed, one cost changed.
    hand_in(plan, settings, "SOC", SOC_AGAIN, "soc ny.xlsx", decided=True)
    assert running.collect(settings, YEAR, dt.date(YEAR, 9, 1)).count("accepted") == 1
    report = running.report(settings, YEAR, dt.date(YEAR, 9, 30))

    assert {path: digest(path) for path in frozen} == frozen
    against = report.consolidated.adopted
    assert against is not None and (against.added, against.removed, against.changed) == (1, 1, 1)
    rows = sheet_rows(settings.follow_up_file(YEAR), "Mot antagen plan")
    header = rows.index(["Åtgärds-ID", "Förvaltning", "Avvikelse", "Uppgift", "I antagen plan", "Nu"])
    table = [row for row in rows[header + 1 :] if any(row)]
    assert table == [
        ["SOC-2027-004", "SOC", "Tillkommen", "Åtgärd", "", "Föräldraträffar"],
        ["SOC-2027-002", "SOC", "Struken", "Åtgärd", "Läxhjälp", ""],
        ["SOC-2027-003", "SOC", "Ändrad", "Kostnad (kr)", "20\u00a0000", "25\u00a0000"],
    ]
    sentence = (
        "1 åtgärd har tillkommit, 1 har strukits och 1 har ändrats sedan KS antog planen 2027-04-14 § 55."
    )
    summary = settings.summary_file(YEAR, ".html").read_text(encoding="utf-8")
    assert sentence in summary and sentence in settings.summary_file(YEAR, ".md").read_text(encoding="utf-8")
    assert "2 av 5 nämnder har beslutat sitt förslag" in summary
    # The states in the consolidated handlingsplan and the follow-up's Förvaltningar.
    proposals = sheet_rows(settings.action_plan_file(YEAR), "Förslag")
    assert ["UTB", plan.department("UTB").name, "förslag"] == proposals[-1][:3]
    departments = sheet_rows(settings.follow_up_file(YEAR), "Förvaltningar")
    column = departments[0].index("Beslut i nämnd")
    assert {row[0]: row[column] for row in departments[1:6]}["FoK"] == "beslutad i nämnd 2026-11-20 § 14"
    assert {path: digest(path) for path in frozen} == frozen


def test_adopting_twice_changes_nothing_and_a_revision_keeps_the_first(
    plan: Plan, settings: Settings
) -> None:
    from pipeline.flows import adopt_flow

    hand_in(plan, settings, "SOC", SOC_FIRST, "soc.xlsx", decided=True)
    running.collect(settings, YEAR, dt.date(YEAR, 4, 1))
    adopt_flow(year=YEAR, decision=DECISION, outbox=settings.outbox)
    folder = settings.adopted_dir(YEAR)

    def snapshot() -> dict[str, tuple[str, int]]:
        return {
            p.relative_to(folder).as_posix(): (digest(p), p.stat().st_mtime_ns)
            for p in folder.rglob("*")
            if p.is_file()
        }

    first = snapshot()
    again = adopt_flow(year=YEAR, decision=DECISION, outbox=settings.outbox)
    assert again.unchanged and snapshot() == first

    revised = adopt_flow(year=YEAR, decision="KS 2027-09-20 § 101", outbox=settings.outbox)
    assert not revised.unchanged and revised.revised is not None
    now = snapshot()
    kept = {name: value[0] for name, value in now.items() if name.startswith("historik/")}
    assert sorted(kept.values()) == sorted(value[0] for value in first.values())
    data = json.loads(settings.adopted_manifest(YEAR).read_text(encoding="utf-8"))
    assert data["decision"]["text"] == "KS 2027-09-20 § 101"
    (earlier,) = data["history"]
    assert (
        earlier["decision"] == DECISION and earlier["sha256"] == first["handlingsplan_2027_antagen.xlsx"][0]
    )
    assert (folder / earlier["folder"] / "handlingsplan_2027_antagen.xlsx").is_file()


@pytest.mark.parametrize("text", ["KS § 55", "KS 2027-14-04 § 55", "beslut i april", "KS 2027-04-14"])
def test_a_decision_must_name_its_day_and_paragraph(text: str) -> None:
    from pipeline.adoption import Decision

    with pytest.raises(InvalidInputError, match="KS 2027-04-14 § 55"):
        Decision.parse(text)


def test_next_year_names_the_adopted_plan(plan: Plan, settings: Settings) -> None:
    from pipeline.flows import adopt_flow, templates_flow

    hand_in(plan, settings, "SOC", SOC_FIRST, "soc.xlsx", decided=True)
    running.collect(settings, YEAR, dt.date(YEAR, 4, 1))
    adopt_flow(year=YEAR, decision=DECISION, outbox=settings.outbox)
    running.report(settings, YEAR, dt.date(YEAR, 9, 30))

    # Next year's template carries SOC's open actions and says which plan they come from.
    (soc,) = [p for p in templates_flow(year=YEAR + 1, outbox=settings.outbox) if p.stem.endswith("SOC")]
    texts = [str(v) for row in sheet_rows(soc, c.SHEET_INSTRUCTIONS) for v in row if v]
    assert any(
        f"handlingsplanen {YEAR} (antagen {DECISION}, med status från uppföljningen)" in t for t in texts
    )

    # And next year's comparison is with the adopted version, named so.
    template = soc
    target = settings.inbox / "soc 2028.xlsx"
    fill_workbook(template, target, concerns={"1.3": "Ja"})
    past = dt.datetime(YEAR, 11, 25, tzinfo=dt.UTC).timestamp()
    os.utime(target, (past, past))
    running.collect(settings, YEAR + 1, dt.date(YEAR + 1, 3, 1))
    report = running.report(settings, YEAR + 1, dt.date(YEAR + 1, 3, 1))
    assert report.consolidated.changes.basis == f"den antagna handlingsplanen {YEAR} ({DECISION})"
    title = sheet_rows(settings.follow_up_file(YEAR + 1), "Förändringar")[0][0]
    assert title == f"Förändringar jämfört med den antagna handlingsplanen {YEAR} ({DECISION})"
