"""The consolidated handlingsplan and follow-up workbooks, read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter
from xlsxwriter.exceptions import OverlappingRange
from xlsxwriter.worksheet import Worksheet

from pipeline import check, intake, store
from pipeline import contract as c
from pipeline.combine import (
    ACTION_TABLE_COLUMNS,
    AREA,
    CHANGE_COLUMNS,
    Changes,
    Consolidated,
    DepartmentStatus,
    Rejection,
    combine,
    combine_submissions,
)
from pipeline.config import Settings
from pipeline.demo import example_submissions, write_example_inbox
from pipeline.layout import row_height
from pipeline.plan import Plan
from pipeline.records import Pending, utc_iso
from pipeline.report import blocks, workbooks, write_reports
from pipeline.report.blocks import TableBook
from pipeline.report.workbooks import (
    WORKBOOK_OPTIONS,
    _row_heights,
    matrix_cell,
    schedule,
    write_action_plan,
    write_follow_up,
)

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
ACCEPTED = ("SOC", "UTB", "FoK")
FOLLOW_UP_SHEETS = ["Översikt", "Status", "Förvaltningar", "Avvikelser", "Ekonomi", "Åtgärder"]
EVIL = ("=SUM(A1)", "+1", "@x", "<script>alert(1)</script>", "http://evil.example")


# Expected figures, straight from the example answers (not from pipeline.combine).


def _expected_actions() -> list[tuple[str, str, dict[str, Any]]]:
    """Returns (code, Åtgärds-ID, example action) for every accepted example action."""
    examples = example_submissions(YEAR)
    return [
        (code, f"{code}-{YEAR}-{n:03d}", action)
        for code in ACCEPTED
        for n, action in enumerate(examples[code]["actions"], start=1)
    ]


def _cost(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, str):
        return float(re.sub(r"\D", "", value))
    return float(value)


def _expected_overdue() -> set[str]:
    return {
        action_id
        for _, action_id, a in _expected_actions()
        if a[c.DONE].date() < AS_OF and a[c.STATUS] not in (c.COMPLETED, c.CANCELLED)
    }


def example_consolidated(plan: Plan, root: Path, year: int = YEAR, as_of: dt.date = AS_OF) -> Consolidated:
    """Returns the consolidated plan of the demo examples (SOC, UTB, FoK accepted, KS
    rejected, SBF missing), checked, kept and combined by the stages as the flows run them."""
    settings = Settings(inbox=root / "inbox", outbox=root / "outbox")
    plans = check.Plans(plan, settings.plans_dir)
    records, kept = [], {}
    for path in write_example_inbox(plan, year, settings.inbox, root / "mallar"):
        size, mtime = path.stat().st_size, path.stat().st_mtime
        item = Pending(path.name, intake.sha256_file(path), path, size, utc_iso(mtime))
        checked = check.check_submission(path, path.name, plans, year, as_of)
        records.append(check.ledger_record(item, checked, feedback=None, archived=path.name, processed=mtime))
        if checked.accepted:
            kept[item.digest] = check.clean_data(checked)
    view = store.received_from(records, year)
    in_force = {code: (record, kept[record.digest]) for code, record in view.in_force.items()}
    return combine_submissions(plan, year, as_of, in_force, view.open_rejections)


@pytest.fixture(scope="module")
def result(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Consolidated:
    return example_consolidated(plan, tmp_path_factory.mktemp("cycle"))


def _workbooks(result: Consolidated, outbox: Path, *, bulk: bool = True) -> tuple[Path, Path]:
    """Returns the handlingsplan and the follow-up written where Settings names them in `outbox`."""
    settings = Settings(outbox=outbox)
    return (
        write_action_plan(result, settings.action_plan_file(result.year), bulk=bulk),
        write_follow_up(result, settings.follow_up_file(result.year), bulk=bulk),
    )


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ut")


@pytest.fixture(scope="module")
def files(result: Consolidated, outbox: Path) -> tuple[Path, Path]:
    return _workbooks(result, outbox)


@pytest.fixture(scope="module")
def action_plan(files: tuple[Path, Path]) -> Any:
    return openpyxl.load_workbook(files[0])


@pytest.fixture(scope="module")
def follow_up(files: tuple[Path, Path]) -> Any:
    return openpyxl.load_workbook(files[1])


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def _label_values(ws: Any) -> dict[Any, Any]:
    return {r[0]: r[1] for r in _rows(ws) if r and r[0] is not None and len(r) > 1}


def _all_values(ws: Any) -> list[Any]:
    return [v for r in _rows(ws) for v in r if v is not None]


# The files.


def test_file_names_and_sheet_order(files: tuple[Path, Path], action_plan: Any, follow_up: Any) -> None:
    assert [p.name for p in files] == [f"handlingsplan_{YEAR}.xlsx", f"uppfoljning_{YEAR}.xlsx"]
    assert action_plan.sheetnames == ["Åtgärder", "Ansvarsmatris", "Handlingsplan", "Förslag", "Berör oss"]
    assert follow_up.sheetnames == FOLLOW_UP_SHEETS
    assert not [p for p in files[0].parent.iterdir() if p.name.startswith(".")]  # no leftover tmp files


def test_reports_are_written_where_settings_names_them(result: Consolidated, tmp_path: Path) -> None:
    settings = Settings(outbox=tmp_path)
    paths = write_reports(result, settings)
    assert paths == (
        settings.action_plan_file(YEAR),
        settings.follow_up_file(YEAR),
        settings.summary_file(YEAR, ".html"),
        settings.summary_file(YEAR, ".md"),
        settings.summary_file(YEAR, ".pdf"),
    )
    assert sorted(settings.year_dir(YEAR).iterdir()) == sorted(paths)  # nothing else, no temporary files


def test_a_write_that_fails_leaves_no_file(
    result: Consolidated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("trasigt blad")

    monkeypatch.setattr(workbooks, "_plan_sheet", broken)
    with pytest.raises(RuntimeError, match="trasigt blad"):
        write_action_plan(result, tmp_path / "handlingsplan.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_action_table_has_every_accepted_action(action_plan: Any, follow_up: Any) -> None:
    expected = _expected_actions()
    for wb in (action_plan, follow_up):
        ws = wb["Åtgärder"]
        rows = _rows(ws)
        assert rows[0] == ACTION_TABLE_COLUMNS
        assert len(rows) - 1 == len(expected) == 18
        assert "Atgarder" in ws.tables
        assert ws.freeze_panes == "C2"
    by_id = {
        r[1]: dict(zip(ACTION_TABLE_COLUMNS, r, strict=True)) for r in _rows(action_plan["Åtgärder"])[1:]
    }
    assert set(by_id) == {action_id for _, action_id, _ in expected}
    for code, action_id, action in expected:
        row = by_id[action_id]
        assert row["Förvaltning"] == code
        assert row[c.STATUS] == action[c.STATUS]
        assert row[c.ACTION] == action[c.ACTION]
        assert row[c.DONE] == action[c.DONE]  # a real date
        assert row[c.COST] == (_cost(action[c.COST]) if action[c.COST] is not None else None)
    assert by_id["UTB-2027-003"][c.GOAL] == "3.3"  # typed as a number in the example, shown as the id


def test_action_table_reads_back_as_previous_year(
    files: tuple[Path, Path], outbox: Path, result: Consolidated
) -> None:
    kept = store.previous_plan(Settings(outbox=outbox), YEAR + 1, ACTION_TABLE_COLUMNS)
    assert kept is not None
    previous = kept.actions
    assert list(previous.columns) == list(ACTION_TABLE_COLUMNS)
    assert list(previous[c.ACTION_ID]) == list(result.actions[c.ACTION_ID])
    assert list(previous[c.STATUS]) == list(result.actions[c.STATUS])
    assert list(previous[c.START]) == list(result.actions[c.START])
    assert list(previous[c.DONE]) == list(result.actions[c.DONE])


# Handlingsplan.


def test_matrix_shows_answers_and_actions(action_plan: Any) -> None:
    rows = {r[0]: r for r in _rows(action_plan["Ansvarsmatris"]) if r[0]}
    header = next(r for r in _rows(action_plan["Ansvarsmatris"]) if r[0] == "Delmål")
    col = {name: i for i, name in enumerate(header)}
    assert rows["1.1"][col["SOC"]] == "Ja · 1"
    assert rows["5.1"][col["UTB"]] == "Ja · 0"
    assert rows["4.4"][col["SOC"]] == "Nej"
    assert rows["1.1"][col["SBF"]] is None
    assert rows["Totalt"][col["Totalt"]] == 18
    assert rows["Totalt"][col["SOC"]] == 7


def test_matrix_cell_notation() -> None:
    assert matrix_cell("Ja", 2) == "Ja · 2"
    assert matrix_cell("Ja", 0) == "Ja · 0"
    assert matrix_cell("Nej", 0) == "Nej"
    assert matrix_cell(None, 1) == "– · 1"
    assert matrix_cell(None, 0) == ""


def test_print_plan_lists_goals_and_actions(action_plan: Any, plan: Plan) -> None:
    ws = action_plan["Handlingsplan"]
    values = _all_values(ws)
    assert f"Handlingsplan {YEAR} – {plan.municipality}" in values
    assert plan.goal_areas[0].label in values
    assert f"{plan.goals[0].id} {plan.goals[0].text}" in values
    assert "2027-01-15 – 2027-12-31" in values
    assert values.count("Inga åtgärder.") == len(plan.goals) - len(
        {a[c.GOAL] for _, _, a in _expected_actions()}
    )
    assert ws.page_setup.orientation == "landscape"
    assert ws.print_title_rows.replace("$", "") == "4:4"


def test_schedule_text() -> None:
    assert schedule(dt.date(2027, 1, 15), dt.date(2027, 12, 31)) == "2027-01-15 – 2027-12-31"
    assert schedule(None, dt.date(2027, 12, 31)) == "senast 2027-12-31"
    assert schedule(None, None) == ""


# Uppföljning.


def test_overview_figures(follow_up: Any) -> None:
    expected = _expected_actions()
    figures = _label_values(follow_up["Översikt"])
    assert figures["Förvaltningar som lämnat in"] == "3 av 5"
    assert figures["Åtgärder"] == len(expected) == 18
    completed = sum(1 for _, _, a in expected if a[c.STATUS] == c.COMPLETED)
    assert figures["Andel med rapporterad status Genomförd"] == pytest.approx(completed / len(expected))
    assert follow_up["Översikt"]["B7"].number_format == "0\u00a0%"
    delayed = sum(1 for _, _, a in expected if a[c.STATUS] == c.DELAYED)
    assert figures["Rapporterad status Försenad"] == delayed == 1
    assert figures["Klart-datum passerat, ej avslutad"] == len(_expected_overdue()) == 2
    assert not any("örsenade" in str(label) for label in figures)
    assert figures["Total kostnad (kr)"] == sum(_cost(a[c.COST]) for _, _, a in expected) == 1_400_000
    assert follow_up["Översikt"]["B11"].number_format == "#,##0"
    assert not any(
        re.search(r"![A-Z]+[0-9]|Kontrollsumma|Planversion", str(v))
        for v in _all_values(follow_up["Översikt"])
    )


# The overview's charts, read from the package: Översikt → its drawing → the chart parts.

PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
SHEET_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
DRAWING = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
CHART = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
TEXT = "{http://schemas.openxmlformats.org/drawingml/2006/main}t"


def _related(package: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Returns a part's relationships: id → (type's last word, target part)."""
    folder, name = part.rsplit("/", 1)
    rels = ET.fromstring(package.read(f"{folder}/_rels/{name}.rels"))
    result = {}
    for rel in rels.iter(PACKAGE_RELATIONSHIPS):
        target = Path(folder, rel.get("Target", "")).as_posix()
        while "/../" in target:
            target = re.sub(r"[^/]+/\.\./", "", target, count=1)
        result[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], target)
    return result


def _chart(xml: bytes) -> dict[str, Any]:
    """Returns what a chart part shows: its kind, grouping, titles and series (as ranges)."""
    space = ET.fromstring(xml)
    plot = space.find(f"{CHART}chart/{CHART}plotArea")
    assert plot is not None
    kinds = [child for child in plot if child.tag.endswith("Chart")]

    def title(element: ET.Element | None) -> str:
        return "".join(t.text or "" for t in element.iter(TEXT)) if element is not None else ""

    def formula(series: ET.Element, path: str) -> str:
        found = series.find(f"{CHART}{path}//{CHART}f")
        return found.text or "" if found is not None else ""

    def value(path: str) -> str:
        found = kinds[0].find(f"{CHART}{path}")
        return found.get("val", "") if found is not None else ""

    return {
        "kinds": [kind.tag.removeprefix(CHART) for kind in kinds],
        "direction": value("barDir"),
        "grouping": value("grouping"),
        "title": title(space.find(f"{CHART}chart/{CHART}title")),
        "axes": [
            title(axis.find(f"{CHART}title"))
            for axis in plot
            if axis.tag in (f"{CHART}catAx", f"{CHART}valAx")
        ],
        "series": [
            (formula(series, "tx"), formula(series, "cat"), formula(series, "val"))
            for series in kinds[0].iter(f"{CHART}ser")
        ],
    }


def overview_charts(path: Path) -> list[dict[str, Any]]:
    """Returns the charts drawn on Översikt, top to bottom, as `_chart` reads them."""
    with zipfile.ZipFile(path) as package:
        workbook = _related(package, "xl/workbook.xml")
        sheets = ET.fromstring(package.read("xl/workbook.xml")).iter(f"{SHEET_MAIN}sheet")
        sheet = next(workbook[s.get(RELATIONSHIP_ID, "")][1] for s in sheets if s.get("name") == "Översikt")
        drawings = [target for kind, target in _related(package, sheet).values() if kind == "drawing"]
        assert len(drawings) == 1
        charts = _related(package, drawings[0])
        anchored = []
        for anchor in ET.fromstring(package.read(drawings[0])):
            row = int(anchor.findtext(f"{DRAWING}from/{DRAWING}row", "-1"))
            frame = anchor.find(f".//{CHART}chart")
            assert frame is not None
            kind, part = charts[frame.get(RELATIONSHIP_ID, "")]
            assert kind == "chart"
            anchored.append((row, _chart(package.read(part))))
    return [chart for _, chart in sorted(anchored, key=lambda item: item[0])]


def _count_table(rows: list[tuple[Any, ...]], first_header: str) -> tuple[int, int, int]:
    """Returns (header row, first and last data row), 1-based, of a count table on Status."""
    header = next(n for n, r in enumerate(rows, start=1) if r[0] == first_header)
    total = next(n for n, r in enumerate(rows, start=1) if n > header and r[0] == "Totalt")
    return header, header + 1, total - 1


def test_overview_has_charts(files: tuple[Path, Path], follow_up: Any, plan: Plan) -> None:
    charts = overview_charts(files[1])
    status = follow_up["Status"]
    rows = _rows(status)
    expected = [
        ("Åtgärder per målområde och rapporterad status", "Målområde", [a.label for a in plan.goal_areas]),
        ("Åtgärder per förvaltning och rapporterad status", "Förvaltning", list(plan.department_codes)),
    ]
    assert [chart["title"] for chart in charts] == [title for title, _, _ in expected]
    for chart, (_, axis, categories) in zip(charts, expected, strict=True):
        assert chart["kinds"] == ["barChart"]
        assert (chart["direction"], chart["grouping"]) == ("col", "stacked")
        assert chart["axes"] == [axis, "Antal åtgärder"]
        header, first, last = _count_table(rows, axis)
        series = []
        for offset, name in enumerate(c.STATUSES):
            col = get_column_letter(2 + offset)
            series.append(
                (
                    f"Status!${col}${header}",
                    f"Status!$A${first}:$A${last}",
                    f"Status!${col}${first}:${col}${last}",
                )
            )
            assert status[f"{col}{header}"].value == name
        assert chart["series"] == series
        assert [status[f"A{row}"].value for row in range(first, last + 1)] == categories


def test_status_totals(follow_up: Any) -> None:
    rows = _rows(follow_up["Status"])
    header = next(r for r in rows if r[0] == "Målområde")
    totals = [r for r in rows if r[0] == "Totalt"]
    assert len(totals) == 2  # per målområde and per förvaltning
    counts = Counter(a[c.STATUS] for _, _, a in _expected_actions())
    for total in totals:
        by_status = dict(zip(header[1:], total[1:], strict=False))
        assert {s: by_status[s] for s in c.STATUSES} == {s: counts.get(s, 0) for s in c.STATUSES}
        assert by_status["Totalt"] == 18
    soc = next(r for r in rows if r[0] == "SOC")
    assert soc[header.index("Totalt")] == 7


def test_departments_sheet(follow_up: Any, plan: Plan) -> None:
    rows = _rows(follow_up["Förvaltningar"])
    header = rows[0]
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert list(by_code) == list(plan.department_codes)
    assert by_code["SBF"]["Inlämnad"] == "Nej" and by_code["KS"]["Inlämnad"] == "Nej"
    soc = by_code["SOC"]
    assert soc["Inlämnad"] == "Ja"
    assert soc["Mottagen"] == "2026-11-15 10:00"  # 09:00 UTC in Swedish winter time
    assert len(soc["Kontrollsumma"]) == 12
    assert soc["E-post"] == "maria.lindqvist@kalix.se"
    assert soc["Åtgärder"] == 7 and soc[f"Rapporterad status {c.DELAYED}"] == 1


def test_deviations_sheet(follow_up: Any) -> None:
    values = _all_values(follow_up["Avvikelser"])
    for heading in (
        "Klart-datum passerat, ej avslutad",
        "Delmål utan åtgärd",
        "Delmål markerade Berör oss utan åtgärd",
        "Åtgärder utan indikator",
        "Förvaltningar som inte lämnat in",
        "Avvisade inlämningar",
    ):
        assert heading in values
    assert _expected_overdue() == {"SOC-2027-002", "UTB-2027-006"}
    assert _expected_overdue() <= set(values)
    assert "KS handlingsplan 2027.xlsx" in values
    assert any(isinstance(v, str) and "ca 50000 kr" in v for v in values)


def test_costs_grand_total_is_a_number(follow_up: Any) -> None:
    ws = follow_up["Ekonomi"]
    rows = list(ws.iter_rows())
    total_row = next(r for r in rows if r[0].value == "Totalt")
    grand = total_row[-1]
    assert grand.data_type == "n" and grand.value == 1_400_000
    assert grand.number_format == "#,##0"


def test_no_changes_sheet_without_previous_year(follow_up: Any) -> None:
    assert "Förändringar" not in follow_up.sheetnames


# Hand-made results: injection and year over year.


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: row.get(name) for name in c.ACTION_COLUMNS} for row in rows]


def _combine(
    plan: Plan, actions: list[dict[str, Any]], previous: pd.DataFrame | None = None, year: int = YEAR
) -> Consolidated:
    goals: list[tuple[Any, Any]] = [(g.id, None) for g in plan.goals]
    code = plan.department_codes[0]
    status = DepartmentStatus(code, plan.department(code).name, True, "fil.xlsx", "2027-02-01T08:00:00+00:00")
    as_of = AS_OF.replace(year=year)
    return combine(plan, year, as_of, {code: (_records(actions), goals)}, [status], previous=previous)


def test_user_text_is_never_a_formula_or_link(plan: Plan, tmp_path: Path) -> None:
    actions = [
        {
            c.GOAL: "1.1",
            c.ACTION: text,
            c.OWNER: text,
            c.PARTNERS: text,
            c.INDICATOR: text,
            c.COMMENT: text,
            c.STATUS: c.IN_PROGRESS,
            c.START: dt.date(2027, 1, 1),
            c.DONE: dt.date(2027, 2, 1),
        }
        for text in EVIL
    ]
    result = _combine(plan, actions)
    plan_file = write_action_plan(result, tmp_path / "h.xlsx")
    follow_file = write_follow_up(result, tmp_path / "u.xlsx")
    seen: Counter[str] = Counter()
    for path in (plan_file, follow_file):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.value in EVIL:
                        assert cell.data_type == "s", (ws.title, cell.coordinate)
                        seen[str(cell.value)] += 1
            assert all(cell.hyperlink is None for row in ws.iter_rows() for cell in row)
    assert set(seen) == set(EVIL)
    table = _rows(openpyxl.load_workbook(plan_file)["Åtgärder"])
    assert [r[ACTION_TABLE_COLUMNS.index(c.ACTION)] for r in table[1:]] == list(EVIL)


def test_same_result_gives_identical_bytes(result: Consolidated, tmp_path: Path) -> None:
    first = _workbooks(result, tmp_path / "a")
    second = _workbooks(result, tmp_path / "b")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()


def test_changes_sheet_with_previous_year(plan: Plan, tmp_path: Path) -> None:
    code = plan.department_codes[0]
    base = {c.GOAL: "1.1", c.OWNER: "Chef", c.START: dt.date(2026, 1, 1), c.DONE: dt.date(2027, 12, 31)}
    last_year = _combine(
        plan,
        [
            {**base, c.ACTION: "Fortsätter", c.STATUS: c.IN_PROGRESS},
            {**base, c.ACTION: "Blir klar", c.STATUS: c.IN_PROGRESS},
            {**base, c.ACTION: "Försvinner", c.STATUS: c.NOT_STARTED},
        ],
        year=YEAR - 1,
    )
    settings = Settings(outbox=tmp_path)
    write_action_plan(last_year, settings.action_plan_file(YEAR - 1))
    kept = store.previous_plan(settings, YEAR, ACTION_TABLE_COLUMNS)
    assert kept is not None
    previous = kept.actions
    ids = list(last_year.actions[c.ACTION_ID])
    result = _combine(
        plan,
        [
            {**base, c.ACTION_ID: ids[0], c.ACTION: "Fortsätter", c.STATUS: c.IN_PROGRESS},
            {**base, c.ACTION_ID: ids[1], c.ACTION: "Blir klar", c.STATUS: c.COMPLETED},
            {**base, c.ACTION: "Ny", c.STATUS: c.NOT_STARTED},
        ],
        previous=previous,
    )
    wb = openpyxl.load_workbook(write_follow_up(result, tmp_path / "u.xlsx"))
    assert wb.sheetnames == [*FOLLOW_UP_SHEETS, "Förändringar"]
    values = _all_values(wb["Förändringar"])
    assert any(isinstance(v, str) and str(YEAR - 1) in v for v in values[:2])
    for heading in (
        "Nya åtgärder i år",
        "Genomförda sedan förra året",
        "Ändrad status",
        "Försvunna utan att vara genomförda",
    ):
        assert heading in values
    assert "Försvinner" in values and "Ny" in values and ids[1] in values
    assert code in values


# Tables written in bulk (pipeline.report.blocks): the bytes of xlsxwriter's cell-by-cell writes.

ODD_TEXTS = (
    *EVIL,
    "rad ett\nrad två\n\nrad fyra",
    "ord " * 40,
    " luft runt ",
    "",
    None,
    "Å · – “”",
    "a\tb",
    "_x0041_",
)


def _odd_result(plan: Plan, long_text: bool = False) -> Consolidated:
    """Returns a result with every kind of value the tables meet, over many rows and förvaltningar."""
    codes = list(plan.department_codes)
    goals = [g.id for g in plan.goals]
    area_of = {g.id: g.area for g in plan.goals}
    starts: tuple[Any, ...] = (dt.date(2027, 1, 15), None, dt.datetime(2027, 2, 1, 12, 30), "snart", pd.NaT)
    starts += (dt.datetime(2027, 3, 1, tzinfo=dt.UTC),)
    rows = []
    for i in range(60):
        goal = goals[i % len(goals)] if i % 11 else ("9.9" if i % 2 else None)
        rows.append(
            {
                c.DEPARTMENT: codes[i % 3],
                c.ACTION_ID: f"{codes[i % 3]}-{YEAR}-{i:03d}",
                c.GOAL: goal,
                c.ACTION: "x" * 40_000
                if long_text and i == 7
                else ODD_TEXTS[i % len(ODD_TEXTS)] or f"Åtgärd {i}",
                c.OWNER: ODD_TEXTS[(i + 3) % len(ODD_TEXTS)],
                c.START: starts[i % len(starts)],
                c.DONE: (dt.date(2027, 2, 1), dt.date(2027, 12, 31), None, "", dt.date(2026, 5, 5))[i % 5],
                c.COST: (40_000.0, float("nan"), 0.0, 1.5e6, 123.456, -0.0)[i % 6],
                c.FUNDING: (None, "Annan", "Statsbidrag", "okänd")[i % 4],
                c.PARTNERS: ODD_TEXTS[(i + 5) % len(ODD_TEXTS)],
                c.INDICATOR: ODD_TEXTS[(i + 7) % len(ODD_TEXTS)] if i % 3 else None,
                c.TARGET: ODD_TEXTS[(i + 9) % len(ODD_TEXTS)],
                c.STATUS: (*c.STATUSES, None, "Okänd")[i % 7],
                c.OUTCOME: ODD_TEXTS[(i + 11) % len(ODD_TEXTS)],
                c.COMMENT: ODD_TEXTS[(i + 13) % len(ODD_TEXTS)],
                AREA: area_of.get(goal or "", 0),
            }
        )
    actions = pd.DataFrame(rows, columns=[*ACTION_TABLE_COLUMNS, AREA]).astype(
        {name: object for name in ACTION_TABLE_COLUMNS if name != c.COST}
    )
    concerns = pd.DataFrame(
        [
            (code, g, (c.YES, c.NO, None)[(j + n) % 3])
            for n, code in enumerate(codes[:4])
            for j, g in enumerate(goals)
        ],
        columns=[c.DEPARTMENT, c.GOAL_ID, c.CONCERNS_US],
        dtype=object,
    )
    departments = tuple(
        DepartmentStatus(
            d.code, d.name, n < 3, f"fil {d.code}.xlsx" if n < 3 else None, "2027-02-01T08:00:00+00:00"
        )
        for n, d in enumerate(plan.departments)
    )
    rejections = (
        Rejection("trasig.xlsx", codes[3], "2027-02-02T09:00:00+00:00", 3, ("Fel 1", "Fel <2> & 3")),
    )

    def changed(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            [[f"X-{j}", codes[j % 3], goals[j], ODD_TEXTS[j], c.STATUSES[j % 5], None] for j in range(n)],
            columns=list(CHANGE_COLUMNS),
            dtype=object,
        )

    changes = Changes(YEAR - 1, changed(5), changed(3), changed(0), changed(4))
    return Consolidated(plan, YEAR, AS_OF, actions, concerns, departments, rejections, changes)


CELL_WRITES = ("write_string", "write_blank", "write_number", "write_datetime")


def _count_cell_writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Returns a counter of xlsxwriter's cell writes from now on (by method)."""
    calls: Counter[str] = Counter()
    for name in CELL_WRITES:
        original = getattr(Worksheet, name)

        def counted(self: Worksheet, *args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(Worksheet, name, counted)
    return calls


@pytest.mark.parametrize("long_text", [False, True], ids=["plain", "text-over-xlsxwriters-limit"])
@pytest.mark.parametrize("writer", [write_action_plan, write_follow_up])
def test_tables_in_bulk_give_the_bytes_of_cell_by_cell_writes(
    writer: Any, long_text: bool, plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _odd_result(plan, long_text)
    monkeypatch.setattr(blocks, "CHUNK_ROWS", 7)  # blocks laid out in several pieces
    calls = _count_cell_writes(monkeypatch)
    in_bulk = writer(result, tmp_path / "bulk.xlsx").read_bytes()
    bulk_calls, calls = sum(calls.values()), _count_cell_writes(monkeypatch)
    assert writer(result, tmp_path / "cells.xlsx", bulk=False).read_bytes() == in_bulk
    assert bulk_calls < sum(calls.values()) * 0.8  # the bulk layout was used
    if long_text:  # cut to a cell's limit both ways, with a marker a reader sees
        ws = openpyxl.load_workbook(tmp_path / "bulk.xlsx")["Åtgärder"]
        cut = str(ws.cell(9, ACTION_TABLE_COLUMNS.index(c.ACTION) + 1).value)
        assert len(cut) == 32_767 and cut == "x" * (32_767 - 20) + "… (texten är kortad)"


def test_example_tables_in_bulk_give_the_same_bytes(result: Consolidated, tmp_path: Path) -> None:
    in_bulk = [p.read_bytes() for p in _workbooks(result, tmp_path / "bulk")]
    assert [p.read_bytes() for p in _workbooks(result, tmp_path / "cells", bulk=False)] == in_bulk


def test_row_heights_are_those_of_row_height() -> None:
    texts = ["", "kort", "x" * 37, "x" * 38, "ord " * 60, "rad\nrad två\n\n", "\n", "å" * 500]
    columns = [(texts, 36), (texts[::-1], 16), (texts[3:] + texts[:3], 22)]
    expected = [row_height([(texts[i], width) for texts, width in columns]) for i in range(len(texts))]
    assert _row_heights(len(texts), columns) == expected


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "cell-by-cell"])
def test_table_refuses_to_overlap_a_merge_or_table(bulk: bool, tmp_path: Path) -> None:
    book = TableBook(tmp_path / "x.xlsx", WORKBOOK_OPTIONS, bulk=bulk)
    sheet, fmt = book.workbook.add_worksheet("Blad"), book.workbook.add_format()
    book.add_table(sheet, 0, 0, 100, 3, {"name": "Tabell", "columns": [{"header": h} for h in "abcd"]})
    with pytest.raises(OverlappingRange, match="A1:D101"):
        book.write_columns(sheet, 50, [([text], fmt) for text in ("x", "", "y", "")], merges=[(2, 3)])
    with pytest.raises(OverlappingRange, match="A1:D101"):
        book.add_table(sheet, 100, 3, 120, 4, {"name": "Annan"})
    book.close(complete=False)


def test_bulk_tables_keep_their_whole_range(result: Consolidated, files: tuple[Path, Path]) -> None:
    rows = len(result.actions) + 1
    for path in files:
        table = openpyxl.load_workbook(path)["Åtgärder"].tables["Atgarder"]
        assert table.ref == f"A1:O{rows}" and table.autoFilter.ref == f"A1:O{rows}"


# Print views and widths (issue 17, item 9).


def _row_heights_of(ws: Any, rows: int) -> list[float]:
    return [ws.row_dimensions[row].height or 15.0 for row in range(1, rows + 1)]


@pytest.mark.parametrize("sheet", ["Handlingsplan", "Ansvarsmatris"])
def test_print_view_keeps_each_area_heading_with_its_first_rows(
    action_plan: Any, plan: Plan, sheet: str
) -> None:
    ws = action_plan[sheet]
    breaks = [b.id for b in ws.row_breaks.brk]  # a break after this 1-based row
    assert breaks  # every page break placed, none left to the client
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
    labels = {a.label for a in plan.goal_areas}
    area_rows = [n for n, r in enumerate(_rows(ws), start=1) if r[0] in labels]
    assert len(area_rows) == len(plan.goal_areas)
    for row in area_rows:
        for after in (row, row + 1):
            assert after not in breaks, f"{sheet}: a page ends right after the heading on row {row}"
    heights = _row_heights_of(ws, ws.max_row)
    page_tops = [0, *breaks]
    for top, end in zip(page_tops, [*breaks, ws.max_row], strict=True):
        assert sum(heights[top:end]) <= 487 * 100 / (ws.page_setup.scale or 100)  # fits an A4 landscape page


def test_dropdown_values_and_headers_fit_their_columns(action_plan: Any, follow_up: Any) -> None:
    from pipeline.layout import fit_width

    for wb in (action_plan, follow_up):
        ws = wb["Åtgärder"]
        header = _rows(ws)[0]
        # openpyxl keeps one dimension for a run of columns of equal width (min..max)
        by_index = {i: d.width for d in ws.column_dimensions.values() for i in range(d.min, d.max + 1)}
        width = {name: by_index[i] for i, name in enumerate(header, start=1)}
        assert width[c.FUNDING] >= fit_width(c.FUNDING_SOURCES) >= len("Externa projektmedel") > 16
        assert width[c.STATUS] >= fit_width(c.STATUSES)
        for name in header:
            assert width[name] >= fit_width([name], bold=True, button=True) - 0.01, name


def test_unattributed_rejections_only_on_the_departments_sheet(plan: Plan, tmp_path: Path) -> None:
    result = _combine(plan, [{c.GOAL: "1.1", c.ACTION: "A", c.STATUS: c.IN_PROGRESS}])
    nobody = Rejection("bild.xlsx", None, "2027-02-02T09:00:00+00:00", 1, ("Ingen mall.",))
    known = Rejection("ks.xlsx", "KS", "2027-02-02T09:00:00+00:00", 2, ("Fel.",))
    with_both = Consolidated(
        result.plan, YEAR, AS_OF, result.actions, result.concerns, result.departments, (nobody, known)
    )
    wb = openpyxl.load_workbook(write_follow_up(with_both, tmp_path / "u.xlsx"))
    assert "bild.xlsx" in _all_values(wb["Förvaltningar"]) and "bild.xlsx" not in _all_values(
        wb["Avvikelser"]
    )
    assert "ks.xlsx" in _all_values(wb["Avvikelser"])
    assert "Avvisade filer utan känd förvaltning (1 fil)" in _all_values(wb["Förvaltningar"])


# Accessibility (issue 21): charts with alternative text, headers a screen reader can find.


def test_every_chart_has_alternative_text_with_its_numbers(
    files: tuple[Path, Path], result: Consolidated
) -> None:
    with zipfile.ZipFile(files[1]) as book:
        drawings = [n for n in book.namelist() if n.startswith("xl/drawings/drawing") and n.endswith(".xml")]
        frames = [
            element
            for name in drawings
            for element in ET.fromstring(book.read(name)).iter()
            if element.tag.endswith("}cNvPr")
        ]
    assert len(frames) == 2
    texts = [frame.get("descr") or "" for frame in frames]
    assert all(t.startswith("Staplat stapeldiagram, åtgärder per") for t in texts), texts
    from pipeline.combine import status_by_department

    counts = status_by_department(result)
    soc = int(counts.loc["SOC", "Totalt"])
    assert any(f"SOC: {soc} åtgärd" in t for t in texts), texts


def test_header_rows_are_headers_for_a_screen_reader_and_the_printer(
    action_plan: Any, follow_up: Any
) -> None:
    # An Excel table names its header row; a sheet with one plain table repeats its header on
    # every printed page (print titles), which is also how screen readers find it.
    for book in (action_plan, follow_up):
        for ws in book.worksheets:
            if ws.title in (
                "Översikt",
                "Status",
                "Avvikelser",
                "Förändringar",
                "Handlingsplan",
                "Ansvarsmatris",
                "Ekonomi",
            ):
                continue  # several small tables or a layout: their headers are bold header cells
            assert ws.tables or ws.print_title_rows, ws.title
