"""Reading .xlsx, .ods and .xls alike, and numbers in free-text columns kept as they were shown."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import contract as c
from pipeline.plan import Plan
from pipeline.read import GENERAL, display_text, read_identification, read_workbook, workbook_format
from pipeline.validate import validate_workbook
from tests.corpus import SOFFICE, libreoffice_copy, members_of, write_zip
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

AS_OF = dt.date(2027, 3, 1)
IDENTITY = {
    c.ID_DEPARTMENT: "SOC",
    c.ID_YEAR: "2027",
    c.ID_TEMPLATE_VERSION: "1",
}
needs_libreoffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


# --- display_text: a number as a Swedish spreadsheet shows it -----------------------------


@pytest.mark.parametrize(
    ("value", "number_format", "shown"),
    [
        # percent: times 100, and " %" as Swedish writes it
        (0.75, "0%", "75 %"),
        (0.75, "0 %", "75 %"),
        (0.125, "0.0%", "12,5 %"),
        (1.0, "0.00%", "100,00 %"),
        # thousands: a space between groups, whichever way the format says it
        (1500, "#,##0", "1 500"),
        (1500, "# ##0", "1 500"),
        (1234567, "#,##0", "1 234 567"),
        (999, "#,##0", "999"),
        (1500000, "#,##0,", "1 500"),  # a trailing comma scales by a thousand
        # decimals: a decimal comma, rounded half away from zero as Excel does
        (1234.5, "#,##0.00", "1 234,50"),
        (2.5, "0", "3"),
        (-2.5, "0", "-3"),
        (3.0, "0.00", "3,00"),
        (1 / 3, "0.0#", "0,33"),
        (0.5, "0.0#", "0,5"),
        # literals, currencies and sections
        (15000, '#,##0 "kr"', "15 000 kr"),
        (15000, "#,##0\\ [$kr-41D]", "15 000 kr"),
        (-1500, "#,##0;(#,##0)", "(1 500)"),
        (-1500, "#,##0", "-1 500"),
        (0, '#,##0;-#,##0;"–"', "–"),
        (42, "[Red]0", "42"),
        (15000, '_-* #,##0 "kr"_-;-* #,##0 "kr"_-;_-* "-"?? "kr"_-;_-@_-', "15 000 kr"),
        # dates: an ISO date, whatever the format
        (dt.datetime(2027, 3, 1), "yyyy-mm-dd", "2027-03-01"),
        (dt.datetime(2027, 3, 1), "d/m/yyyy", "2027-03-01"),
        (dt.date(2027, 3, 1), GENERAL, "2027-03-01"),
        (dt.datetime(2027, 3, 1, 10, 30), "yyyy-mm-dd hh:mm", "2027-03-01 10:30"),
        (46447, "yyyy-mm-dd", "2027-03-01"),  # a serial with a date format
        # General and text: the shortest form
        (12.0, GENERAL, "12"),
        (12, "General", "12"),
        (0.75, GENERAL, "0,75"),
        (1234.5, "@", "1234,5"),
        (12.0, "", "12"),
        (-0.5, GENERAL, "-0,5"),
        (1.5e20, GENERAL, "1,5E+20"),
    ],
)
def test_display_text(value: Any, number_format: str, shown: str) -> None:
    assert display_text(value, number_format) == shown


def test_display_text_counts_a_serial_from_1904_when_told() -> None:
    assert display_text(44985, "yyyy-mm-dd", date1904=True) == "2027-03-01"


# --- .xlsx: the cell's own number format ---------------------------------------------------


def _formatted(
    plan: Plan,
    folder: Path,
    cells: dict[str, tuple[Any, str]],
    actions: Sequence[dict[str, Any]] = (GOOD_ACTION,),
) -> Path:
    """Returns a filled SOC template whose row 2 has these (value, number format) by column."""
    template = make_template(plan, "SOC", 2027, folder)
    path = fill_workbook(template, folder / "ifylld.xlsx", actions=actions, concerns={"1.3": "Ja"})
    wb = openpyxl.load_workbook(path)
    ws = wb[c.SHEET_ACTIONS]
    columns = {cell.value: cell.column for cell in ws[1] if cell.value}
    for name, (value, number_format) in cells.items():
        ws.cell(2, columns[name]).value = value
        ws.cell(2, columns[name]).number_format = number_format
    wb.save(path)
    return path


def test_numbers_in_text_columns_of_an_xlsx_are_kept_as_shown(plan: Plan, tmp_path: Path) -> None:
    path = _formatted(
        plan,
        tmp_path,
        {
            c.TARGET: (0.75, "0%"),
            c.OUTCOME: (1500, "#,##0"),
            c.INDICATOR: (1234.5, "#,##0.00"),
            c.PARTNERS: (12.0, "General"),
            c.COMMENT: (dt.datetime(2027, 3, 1), "yyyy-mm-dd"),
            c.COST: (5000, "#,##0"),  # not a text column: stays a number
        },
    )
    raw = read_workbook(path, "ifylld.xlsx")
    assert raw.actions is not None
    row = raw.actions.frame.iloc[0]
    assert {name: row[name] for name in (c.TARGET, c.OUTCOME, c.INDICATOR, c.PARTNERS, c.COMMENT)} == {
        c.TARGET: "75 %",
        c.OUTCOME: "1 500",
        c.INDICATOR: "1 234,50",
        c.PARTNERS: "12",
        c.COMMENT: "2027-03-01",
    }
    assert row[c.COST] == 5000
    validated = validate_workbook(raw, plan, "SOC", "ifylld.xlsx", AS_OF)
    assert validated.actions.loc[2, c.TARGET] == "75 %"


def test_a_merged_number_is_shown_with_its_first_cells_format(plan: Plan, tmp_path: Path) -> None:
    path = _formatted(plan, tmp_path, {c.TARGET: (0.5, "0%")})
    wb = openpyxl.load_workbook(path)
    ws = wb[c.SHEET_ACTIONS]
    ws.append([])  # a second action below, sharing the merged Målvärde
    columns = {cell.value: cell.column for cell in ws[1] if cell.value}
    for name, value in GOOD_ACTION.items():
        ws.cell(3, columns[name]).value = value
    letter = openpyxl.utils.get_column_letter(columns[c.TARGET])
    ws.merge_cells(f"{letter}2:{letter}3")
    wb.save(path)
    raw = read_workbook(path, "ifylld.xlsx")
    assert raw.actions is not None
    assert raw.actions.frame[c.TARGET].tolist() == ["50 %", "50 %"]


# --- the format is told by the bytes --------------------------------------------------------


def test_an_xlsx_is_an_xlsx(plan: Plan, tmp_path: Path) -> None:
    path = _formatted(plan, tmp_path, {})
    assert workbook_format(path) == "xlsx"
    assert read_identification(path).items() >= IDENTITY.items()


CARELESS = {**GOOD_ACTION, c.STATUS: "Klar", c.START: None, c.DONE: dt.datetime(2026, 3, 31)}
"""An action typed carelessly: a status not in the list, and 31/3 typed in 2026 for a 2027 plan."""


@pytest.fixture(scope="module")
def saved(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Returns a filled template with 75 % in Målvärde and 1 500 in Utfall, and a careless row 3,
    as .xlsx, and as LibreOffice saves it as .ods and .xls."""
    if SOFFICE is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("format")
    path = _formatted(
        plan, folder, {c.TARGET: (0.75, "0%"), c.OUTCOME: (1500, "#,##0")}, [GOOD_ACTION, CARELESS]
    )
    return {"xlsx": path, **{kind: libreoffice_copy(path, kind, folder / kind) for kind in ("ods", "xls")}}


@needs_libreoffice
@pytest.mark.parametrize("kind", ["ods", "xls"])
def test_libreoffice_formats_keep_the_identity(saved: dict[str, Path], kind: str) -> None:
    assert workbook_format(saved[kind]) == kind
    assert read_identification(saved[kind]).items() >= IDENTITY.items()


@needs_libreoffice
def test_ods_identity_comes_from_its_properties_when_the_sheet_is_gone(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    members = members_of(saved["ods"])
    content = members["content.xml"].decode("utf-8")
    start = content.index(f'<table:table table:name="{c.SHEET_IDENTIFICATION}"')
    end = content.index("</table:table>", start) + len("</table:table>")
    changed = {**members, "content.xml": (content[:start] + content[end:]).encode("utf-8")}
    path = write_zip(tmp_path / "utan_blad.ods", changed, zipfile.ZIP_STORED)
    assert read_identification(path).items() >= IDENTITY.items()


@needs_libreoffice
@pytest.mark.parametrize(
    ("kind", "target", "outcome"),
    [
        ("xlsx", "75 %", "1 500"),
        ("ods", "75 %", "1 500"),  # the text LibreOffice showed, in a Swedish locale
        ("xls", "0,75", "1500"),  # calamine gives an .xls's values, not its formats: General
    ],
)
def test_each_format_is_read_and_validated_alike(
    plan: Plan, saved: dict[str, Path], kind: str, target: str, outcome: str
) -> None:
    path = saved[kind]
    raw = read_workbook(path, path.name)
    validated = validate_workbook(raw, plan, "SOC", path.name, AS_OF)
    # the problems name the same cells, whatever the format
    assert [(p.where, p.kind, p.code) for p in validated.problems] == [
        ("Åtgärder!F3", "warning", "date_before_plan_year"),
        ("Åtgärder!L3", "error", "status_invalid"),
    ]
    assert validated.problems[0].message == (
        "Klart 2026-03-31 ligger före planåret 2027. Skrev du 31/3? Ange året: 2027-03-31."
    )
    row = validated.actions.loc[2]
    assert (row[c.ACTION], row[c.START], row[c.DONE], row[c.COST]) == (
        GOOD_ACTION[c.ACTION],
        dt.date(2027, 1, 10),
        dt.date(2027, 12, 31),
        5000.0,
    )
    assert (row[c.TARGET], row[c.OUTCOME]) == (target, outcome)
    assert (raw.contact, raw.email) == ("Anna Andersson", "anna.andersson@kalix.se")


@needs_libreoffice
@pytest.mark.parametrize("kind", ["ods", "xls"])
def test_a_renamed_file_is_read_by_its_bytes(saved: dict[str, Path], kind: str, tmp_path: Path) -> None:
    renamed = tmp_path / "handlingsplan.xlsx"
    renamed.write_bytes(saved[kind].read_bytes())
    assert workbook_format(renamed) == kind
    raw = read_workbook(renamed, renamed.name)
    assert raw.actions is not None and raw.actions.frame[c.ACTION].tolist() == [GOOD_ACTION[c.ACTION]] * 2
