"""The template contract, read back from the real workbook with openpyxl."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from pipeline import contract as c
from pipeline.config import TEMPLATE_VERSION, Settings, default_plan_file
from pipeline.plan import Plan, parse_plan
from pipeline.template import TemplateJob, TemplateOptions, goal_label, write_template, write_templates

YEAR = 2027


def make_template(plan: Plan, code: str, year: int, outbox: Path, **options: Any) -> Path:
    """Writes one förvaltning's template where Settings puts it under `outbox`; returns its path."""
    target = Settings(outbox=outbox).template_file(year, code)
    return write_template(plan, plan.department(code), TemplateOptions(year=year, **options), target)


@pytest.fixture(scope="module")
def soc_template(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(plan, "SOC", YEAR, tmp_path_factory.mktemp("mallar"), deadline=dt.date(2027, 3, 31))


@pytest.fixture(scope="module")
def wb(soc_template: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(soc_template)


def _validation_for(ws, cell: str):
    matches = [dv for dv in ws.data_validations.dataValidation if cell in dv.sqref]
    assert len(matches) == 1, f"{ws.title}!{cell} has {len(matches)} validations"
    return matches[0]


def _list_items(wb: openpyxl.Workbook, formula: str) -> list[str]:
    sheet, ref = formula.lstrip("=").split("!")
    return [row[0].value for row in wb[sheet][ref.replace("$", "")]]


def test_sheets_in_order_and_helpers_hidden(wb: openpyxl.Workbook) -> None:
    assert wb.sheetnames == [
        c.SHEET_INSTRUCTIONS,
        c.SHEET_GOALS,
        c.SHEET_ACTIONS,
        c.SHEET_LISTS,
        c.SHEET_IDENTIFICATION,
    ]
    assert [wb[name].sheet_state for name in wb.sheetnames] == [
        "visible",
        "visible",
        "visible",
        "hidden",
        "veryHidden",
    ]


def test_actions_header_is_the_contract(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    assert [cell.value for cell in ws[1]] == [
        "Åtgärds-ID", "Delmål", "Åtgärd", "Ansvarig", "Start", "Klart", "Kostnad (kr)", "Finansiering",
        "Samverkan", "Indikator", "Målvärde", "Status", "Utfall", "Kommentar",
    ]  # fmt: skip
    assert ws.freeze_panes == "B2"


def test_goals_sheet_has_every_goal_verbatim(wb: openpyxl.Workbook, plan: Plan) -> None:
    ws = wb[c.SHEET_GOALS]
    assert [cell.value for cell in ws[1]] == ["Delmål", "Målområde", "Beskrivning", "Berör oss"]
    rows = [tuple(cell.value for cell in row[:3]) for row in ws.iter_rows(min_row=2) if row[0].value]
    assert len(rows) == 31
    expected = [(g.id, plan.area(g.area).label, g.text) for g in plan.goals]
    assert rows == expected
    assert ws["A5"].value == "1.4" and ws["A5"].data_type == "s"


def test_concerns_us_is_the_only_input_on_goals_sheet(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_GOALS]
    assert ws.protection.sheet
    for row in range(2, 33):
        assert [ws.cell(row, col).protection.locked for col in range(1, 5)] == [True, True, True, False]
    dv = _validation_for(ws, "D32")
    assert dv.type == "list" and _list_items(wb, dv.formula1) == ["Ja", "Nej"]


def test_action_dropdowns_have_the_exact_lists_on_at_least_200_rows(
    wb: openpyxl.Workbook, plan: Plan
) -> None:
    ws = wb[c.SHEET_ACTIONS]
    cols = {cell.value: cell.column for cell in ws[1] if cell.value}
    letter = {name: openpyxl.utils.get_column_letter(col) for name, col in cols.items()}
    for name, expected in [
        (
            c.FUNDING,
            ["Ordinarie budget", "Statlig ersättning", "Integrationsfond", "Externa projektmedel", "Annan"],
        ),
        (c.STATUS, ["Ej påbörjad", "Pågår", "Genomförd", "Försenad", "Avbruten"]),
        (c.GOAL, [goal_label(g) for g in plan.goals]),
    ]:
        dv = _validation_for(ws, f"{letter[name]}201")
        assert dv.type == "list"
        assert _list_items(wb, dv.formula1) == expected
        assert dv.showInputMessage and dv.prompt
    goal_items = _list_items(wb, _validation_for(ws, "B2").formula1)
    assert all(item.startswith(f"{g.id} ") for item, g in zip(goal_items, plan.goals, strict=True))
    assert goal_items[2].startswith("1.3 Kvinnors situation")


def test_dates_costs_and_prompts_on_input_columns(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    for column in "EF":
        dv = _validation_for(ws, f"{column}250")
        # The window validation holds dates to (1900-01-01 is day 1, 2200-12-31 day 109939).
        assert (dv.type, dv.operator or "between", dv.formula1, dv.formula2) == (
            "date",
            "between",
            "1",
            "109939",
        )
    cost = _validation_for(ws, "G250")
    assert (cost.type, cost.operator, cost.formula1) == ("decimal", "greaterThanOrEqual", "0")
    for col in range(2, 15):
        dv = _validation_for(ws, f"{openpyxl.utils.get_column_letter(col)}2")
        assert dv.prompt, f"column {col} has no input message"


def test_plan_text_locked_inputs_unlocked(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    assert ws.protection.sheet and not ws.protection.password
    assert all(cell.protection.locked for cell in ws[1])
    assert not any(ws.cell(row, col).protection.locked for row in (2, 150, 201) for col in range(1, 15))
    instructions = wb[c.SHEET_INSTRUCTIONS]
    assert instructions.protection.sheet


def test_contact_and_email_inputs_right_of_their_labels(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_INSTRUCTIONS]
    labels = {
        cell.value: cell
        for row in ws.iter_rows()
        for cell in row
        if cell.value in (c.CONTACT_LABEL, c.EMAIL_LABEL)
    }
    assert set(labels) == {c.CONTACT_LABEL, c.EMAIL_LABEL}
    for cell in labels.values():
        target = ws.cell(cell.row, cell.column + 1)
        assert target.value is None and not target.protection.locked
    text = "\n".join(str(cell.value) for row in ws.iter_rows() for cell in row if cell.value)
    assert (
        "Socialförvaltningen" in text
        and "2027-03-31" in text
        and "Pågår" in text
        and "Integrationsfond" in text
    )


def _identification(wb: openpyxl.Workbook) -> dict[str, str]:
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    sheet = {row[0].value: row[1].value for row in wb[c.SHEET_IDENTIFICATION].iter_rows(min_row=2)}
    assert {k: props[k] for k in c.IDENTIFICATION_KEYS} == sheet
    return sheet


def test_identification_is_stored_twice(wb: openpyxl.Workbook, plan: Plan) -> None:
    assert _identification(wb) == {
        c.ID_DEPARTMENT: "SOC",
        c.ID_YEAR: "2027",
        c.ID_TEMPLATE_VERSION: TEMPLATE_VERSION,
        c.ID_PLAN_VERSION: plan.version,
    }


def test_identification_survives_openpyxl_load_and_save(
    soc_template: Path, tmp_path: Path, plan: Plan
) -> None:
    saved = tmp_path / "sparad.xlsx"
    openpyxl.load_workbook(soc_template).save(saved)
    assert _identification(openpyxl.load_workbook(saved))[c.ID_PLAN_VERSION] == plan.version


def test_print_setup_a4_landscape_with_repeated_header(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.print_title_rows == "$1:$1"


def test_same_inputs_give_byte_identical_files(plan: Plan, tmp_path: Path) -> None:
    first = make_template(plan, "KS", YEAR, tmp_path / "a", deadline=dt.date(2027, 3, 31))
    second = make_template(plan, "KS", YEAR, tmp_path / "b", deadline=dt.date(2027, 3, 31))
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    other = make_template(plan, "KS", YEAR + 1, tmp_path / "c")
    assert other.read_bytes() != first.read_bytes()


def test_revised_plan_with_a_new_goal_reaches_the_template(tmp_path: Path) -> None:
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["malomraden"][3]["delmal"].append(
        {"id": "4.5", "text": "Kommunen ska erbjuda boendeskola till nyanlända."}
    )
    revised = parse_plan(yaml.safe_dump(data, allow_unicode=True))
    wb = openpyxl.load_workbook(make_template(revised, "SBF", YEAR, tmp_path))
    ids = [row[0].value for row in wb[c.SHEET_GOALS].iter_rows(min_row=2) if row[0].value]
    assert len(ids) == 32 and ids[21] == "4.5"
    assert "4.5 Kommunen ska erbjuda boendeskola till nyanlända." in _list_items(
        wb, _validation_for(wb[c.SHEET_ACTIONS], "B2").formula1
    )
    assert _identification(wb)[c.ID_PLAN_VERSION] == revised.version


def test_carried_actions_are_prefilled(plan: Plan, tmp_path: Path) -> None:
    carried = [
        {
            c.ACTION_ID: "SOC-2026-001",
            c.GOAL: "1.3",
            c.ACTION: "=SUM(A1)",
            c.STATUS: "Pågår",
            c.START: dt.date(2026, 2, 1),
            c.COST: 5000,
        }
    ]
    wb = openpyxl.load_workbook(
        make_template(plan, "SOC", YEAR, tmp_path, carried_actions=carried, concerns={"1.3": "Ja"})
    )
    ws = wb[c.SHEET_ACTIONS]
    assert [ws.cell(2, col).value for col in (1, 2, 3, 5, 7, 12)] == [
        "SOC-2026-001",
        goal_label(plan.goal("1.3")),
        "=SUM(A1)",
        dt.datetime(2026, 2, 1),
        5000,
        "Pågår",
    ]
    assert ws.cell(2, 3).data_type == "s"  # text stays text, never a formula
    assert wb[c.SHEET_GOALS]["D4"].value == "Ja"
    # The row is tall enough for the delmål as shown (its label), not for the id "1.3".
    from pipeline.template import COLUMN_WIDTHS, row_height

    label_height = row_height([(goal_label(plan.goal("1.3")), COLUMN_WIDTHS[c.GOAL])])
    assert label_height > row_height([("1.3", COLUMN_WIDTHS[c.GOAL])])
    assert ws.row_dimensions[2].height >= label_height


def test_templates_for_jobs_are_written_in_order_where_settings_names_them(tmp_path: Path) -> None:
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["forvaltningar"].append({"kod": "MBN", "namn": "Miljö- & byggnämndens förvaltning <MBN>"})
    revised = parse_plan(yaml.safe_dump(data, allow_unicode=True))
    options = TemplateOptions(year=YEAR, deadline=dt.date(2027, 3, 31))
    settings = Settings(outbox=tmp_path / "outbox")
    jobs = [
        TemplateJob(code, options, settings.template_file(YEAR, code)) for code in revised.department_codes
    ]
    written = write_templates(revised, jobs)
    assert [p.name for p in written] == [
        f"handlingsplan_{YEAR}_{code}.xlsx" for code in revised.department_codes
    ]
    assert {p.parent for p in written} == {tmp_path / "outbox" / str(YEAR) / "mallar"}
    for code, path in zip(revised.department_codes, written, strict=True):
        built = write_template(revised, revised.department(code), options, tmp_path / "built" / path.name)
        assert path.read_bytes() == built.read_bytes(), code
    wb = openpyxl.load_workbook(written[-1])
    assert wb.properties.title == "Handlingsplan 2027 – Miljö- & byggnämndens förvaltning <MBN>"


def _varied_actions(plan: Plan, code: str) -> list[dict[str, Any]]:
    """Carried actions with every kind of value a cell can be given, and texts to escape."""
    return [
        {
            c.ACTION_ID: f"{code}-2026-001",
            c.GOAL: "1.3",
            c.ACTION: 'Språkcafé & läxhjälp <för> "alla" – 100 %',
            c.OWNER: code,  # the förvaltning's own code, also a string of the identification sheet
            c.START: dt.date(2026, 2, 1),
            c.DONE: dt.datetime(2026, 12, 31, 15, 30),
            c.COST: 5000,
            c.FUNDING: "Statlig ersättning",
            c.STATUS: "Pågår",
            c.TARGET: 40,
            c.OUTCOME: 12.5,
        },
        {
            c.GOAL: "9.9",  # no such delmål: written as it is
            c.ACTION: "Lång text som bryts över flera rader. " * 12 + "\nmed radbrytning\n\noch en tom rad",
            c.OWNER: " mellanslag först",
            c.COMMENT: "mellanslag sist ",
            c.COST: 1234567.891,
            c.START: None,
            c.DONE: float("nan"),
            c.STATUS: "Försenad",
        },
        {
            c.ACTION: "=SUM(A1)",
            c.OWNER: "_x0041_ och \x01 styrtecken",
            c.PARTNERS: "<r>rik</r>",
            c.INDICATOR: True,
            c.TARGET: False,
            c.COST: 0,
            c.COMMENT: "",
        },
        {c.GOAL: goal_label(plan.goal("2.1")), c.ACTION: "Ja", c.OWNER: "Nyckel", c.STATUS: "Avbruten"},
        {},
        {c.ACTION: "Emoji 😀, ü, ß och ñ", c.COST: -1.5e-7, c.TARGET: 10**15, c.STATUS: c.NOT_STARTED},
    ]


def test_jobs_sent_elsewhere_write_the_same_files_with_every_kind_of_carried_value(tmp_path: Path) -> None:
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    data["forvaltningar"] += [
        {"kod": "MBN", "namn": "Miljö- & byggnämndens förvaltning <MBN>"},
        {"kod": "VOF", "namn": "Vård- och omsorgsförvaltningen"},
        {"kod": "RAD1", "namn": "Förvaltning med många rader"},
        {"kod": "RAD2", "namn": "Förvaltning med ännu fler rader"},
        {"kod": "TS", "namn": "Förvaltning med pandas-tid"},
        {"kod": "NP", "namn": "Förvaltning med numpy-tal"},
        {"kod": "BIG", "namn": "Förvaltning med stora tal"},
        {"kod": "HUGE", "namn": "Förvaltning med långa texter"},
        {"kod": "LONG", "namn": "Förvaltningen för " * 8 + "allt"},
    ]
    # More carried rows than prepared: each template has its own last row (and past
    # validated_rows its own last validated row).
    many = {"R201": (200, 201), "R250": (200, 250), "R1100": (200, 1100), "F21": (20, 21), "F60": (20, 60)}
    data["forvaltningar"] += [
        {"kod": code, "namn": f"Förvaltning med {n} rader"} for code, (_, n) in many.items()
    ]
    revised = parse_plan(yaml.safe_dump(data, allow_unicode=True))
    base = TemplateOptions(year=YEAR, deadline=dt.date(2027, 3, 31))

    def carried(actions: list[dict[str, Any]], concerns: dict[str, str] | None = None) -> TemplateOptions:
        return replace(base, carried_actions=tuple(actions), concerns=concerns or {})

    few_rows = replace(base, prepared_rows=20, validated_rows=40)
    options = {
        "FoK": carried(_varied_actions(revised, "FoK"), {"1.1": "Ja", "1.3": "Nej", "2.1": "Ja"}),
        "KS": carried(_varied_actions(revised, "KS")[::-1] * 7, {g.id: c.YES for g in revised.goals}),
        "SBF": carried(_varied_actions(revised, "SBF")[:1]),
        "MBN": carried(_varied_actions(revised, "MBN")[:3], {"1.1": c.NO}),
        "SOC": replace(base, concerns={"3.1": c.YES, "3.2": "Kanske"}),
        "UTB": replace(base, concerns={"4.1": c.NO}),
        "VOF": base,
        "RAD1": replace(few_rows, carried_actions=tuple(_varied_actions(revised, "RAD1") * 5)),
        "RAD2": replace(few_rows, carried_actions=tuple(_varied_actions(revised, "RAD2")[::-1] * 5)),
        "TS": carried([{c.ACTION: "Tid", c.START: pd.Timestamp("2026-02-01")}]),
        "NP": carried([{c.ACTION: "Tal", c.COST: np.float64(1.5)}]),
        "BIG": carried([{c.ACTION: "Tal", c.COST: 2**60}]),
        "HUGE": carried([{c.ACTION: "Lång" * 10_000}]),
        "LONG": carried(_varied_actions(revised, "LONG")),
    }
    for code, (prepared, n) in many.items():
        actions = tuple((_varied_actions(revised, code) * n)[:n])
        options[code] = replace(base if prepared == 200 else few_rows, carried_actions=actions)
    assert set(options) == set(revised.department_codes)
    # As a flow sends a batch to another process or worker: pickled, then written there.
    settings = Settings(outbox=tmp_path / "written")
    jobs = [TemplateJob(code, opts, settings.template_file(YEAR, code)) for code, opts in options.items()]
    written = write_templates(revised, pickle.loads(pickle.dumps(jobs)))
    assert written == [job.target for job in jobs]
    for code, path in zip(options, written, strict=True):
        built = write_template(
            revised, revised.department(code), options[code], tmp_path / "built" / path.name
        )
        assert path.read_bytes() == built.read_bytes(), code

    ws = openpyxl.load_workbook(written[list(options).index("R1100")])[c.SHEET_ACTIONS]
    assert ws.max_row == 1151
    assert ws.auto_filter.ref == "A1:N1151"
    assert ws.cell(1100, 1).value == "R1100-2026-001"  # the 1099th action, the first of its kind
    wb = openpyxl.load_workbook(written[0])
    ws = wb[c.SHEET_ACTIONS]
    assert [ws.cell(2, col).value for col in (1, 2, 3, 5, 7, 12)] == [
        "FoK-2026-001",
        goal_label(revised.goal("1.3")),
        'Språkcafé & läxhjälp <för> "alla" – 100 %',
        dt.datetime(2026, 2, 1),
        5000,
        "Pågår",
    ]
    assert not any(ws.cell(row, col).protection.locked for row in (2, 7, 201) for col in range(1, 15))
    assert [wb[c.SHEET_GOALS][f"D{row}"].value for row in (2, 3, 4)] == ["Ja", None, "Nej"]


# --- what a person types stays as typed ------------------------------------------------------


def test_text_columns_are_in_the_text_format_dates_and_cost_are_not(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    letter = {cell.value: cell.column_letter for cell in ws[1]}
    last_prepared = 201
    for name in (*c.TEXT_ACTION_COLUMNS, c.GOAL, c.FUNDING, c.STATUS, c.ACTION_ID):
        for row in (2, last_prepared):
            assert ws[f"{letter[name]}{row}"].number_format == "@", (name, row)
        # The column's own format: rows typed below the prepared ones are text too.
        assert ws.column_dimensions[letter[name]].number_format == "@", name
    assert [ws[f"{letter[name]}2"].number_format for name in (c.START, c.DONE, c.COST)] == [
        "yyyy-mm-dd",
        "yyyy-mm-dd",
        "#,##0",
    ]
    contact_cells = [
        row[1]
        for row in wb[c.SHEET_INSTRUCTIONS].iter_rows()
        if row[0].value in (c.CONTACT_LABEL, c.EMAIL_LABEL)
    ]
    assert [cell.number_format for cell in contact_cells] == ["@", "@"]


# --- the contact person comes with the template ----------------------------------------------


def test_last_years_contact_is_carried_and_read_back_unchanged(plan: Plan, tmp_path: Path) -> None:
    from pipeline.read import read_workbook
    from pipeline.template import carried_over

    base = TemplateOptions(year=YEAR, deadline=dt.date(2027, 3, 31))
    options = carried_over(
        plan,
        YEAR,
        None,
        None,
        base,
        contacts={"SOC": (" Maria Lindqvist ", "maria.lindqvist@kalix.se"), "UTB": ("Erik Öhman", "")},
    )
    assert (options["SOC"].contact, options["SOC"].email) == ("Maria Lindqvist", "maria.lindqvist@kalix.se")
    assert (options["UTB"].contact, options["UTB"].email) == ("Erik Öhman", "")
    assert (options["KS"].contact, options["KS"].email) == ("", "")

    written = {
        code: write_template(plan, plan.department(code), options[code], tmp_path / f"{code}.xlsx")
        for code in ("SOC", "UTB", "KS")
    }
    read = {code: read_workbook(path, path.name) for code, path in written.items()}
    assert {code: (raw.contact, raw.email) for code, raw in read.items()} == {
        "SOC": ("Maria Lindqvist", "maria.lindqvist@kalix.se"),
        "UTB": ("Erik Öhman", ""),
        "KS": ("", ""),
    }
    ws = openpyxl.load_workbook(written["SOC"])[c.SHEET_INSTRUCTIONS]
    text = "\n".join(str(cell.value) for row in ws.iter_rows() for cell in row if cell.value)
    assert "förra årets handlingsplan" in text
    # The carried cells stay input cells: the förvaltning corrects them if the person changed.
    labels = {
        row[0].value: row[1] for row in ws.iter_rows() if row[0].value in (c.CONTACT_LABEL, c.EMAIL_LABEL)
    }
    assert not labels[c.CONTACT_LABEL].protection.locked and not labels[c.EMAIL_LABEL].protection.locked
    again = write_template(plan, plan.department("SOC"), options["SOC"], tmp_path / "again" / "SOC.xlsx")
    assert again.read_bytes() == written["SOC"].read_bytes()


# --- the Instruktioner sheet answers the questions people ask --------------------------------


def _instructions(wb: openpyxl.Workbook) -> dict[str, str]:
    """Returns the Instruktioner sheet's lines: label (column A) -> text (column B)."""
    ws = wb[c.SHEET_INSTRUCTIONS]
    return {str(row[0].value): str(row[1].value) for row in ws.iter_rows() if row[0].value and row[1].value}


def test_instructions_explain_rows_principle_11_and_file_formats(wb: openpyxl.Workbook) -> None:
    lines = _instructions(wb)
    assert "infoga eller ta bort rader" in lines["Varför låst?"]
    assert "samma sätt" in lines["Varför låst?"]
    assert "tomma gula raderna" in lines["Fler åtgärder"] and "nedanför" in lines["Fler åtgärder"]
    removing = lines["Ta bort en åtgärd"]
    assert "Töm inte raden" in removing and f"status {c.COMPLETED}" in removing and c.CANCELLED in removing
    # Only statuses the template offers are named (there is no "Avslutad").
    assert "Avslutad" not in "\n".join(lines.values())
    principle = lines["EU:s princip 11"]
    assert "tydliga mål, indikatorer och utvärdering" in principle and "bilaga 3" in principle
    formats = lines["Spara som .xlsx"] + " " + lines["Andra format"]
    assert "Excel 2007-365 (.xlsx)" in formats and ".ods (LibreOffice)" in formats and ".xls (" in formats
    assert "bara till en .xlsx-fil" in formats.casefold() and "markerade" in formats
    # read.py finds the contact cells by their labels: each label stands once, in column A.
    labels = [cell.value for row in wb[c.SHEET_INSTRUCTIONS].iter_rows() for cell in row]
    assert labels.count(c.CONTACT_LABEL) == 1 and labels.count(c.EMAIL_LABEL) == 1


# --- nothing clipped on screen --------------------------------------------------------------


def test_columns_fit_their_longest_dropdown_value_and_header_word(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_ACTIONS]
    width = {cell.value: ws.column_dimensions[cell.column_letter].width for cell in ws[1]}
    assert width[c.FUNDING] >= len("Externa projektmedel") + 2
    for name, values in ((c.FUNDING, c.FUNDING_SOURCES), (c.STATUS, c.STATUSES)):
        assert width[name] >= max(len(value) for value in values) + 2, name
    for name in c.ACTION_COLUMNS:  # a header wraps between words only: its longest word fits
        assert width[name] >= max(len(word) for word in name.split()) * 1.1, name
        assert ws.cell(1, list(width).index(name) + 1).alignment.wrap_text, name
    header_lines = max(
        math.ceil(len(name) * 1.1 / width[name]) if " " in name else 1 for name in c.ACTION_COLUMNS
    )
    assert ws.row_dimensions[1].height >= 15 * header_lines


# --- printing: målområden and headings keep their rows ---------------------------------------

A4_LANDSCAPE = (841.89, 595.28)  # points


def _pages(ws: Any, repeated: int) -> tuple[list[list[int]], float]:
    """Returns the sheet's printed pages as lists of 1-based rows, and one page's room (points)."""
    assert not ws.sheet_properties.pageSetUpPr.fitToPage, "fit to page makes Excel ignore page breaks"
    scale = ws.page_setup.scale
    margins = (ws.page_margins.top + ws.page_margins.bottom) * 72
    room = (A4_LANDSCAPE[1] - margins) * 100 / scale
    width = sum(
        ((ws.column_dimensions[letter].width or 8.43) * 7 + 5) * 0.75 for letter in ws.column_dimensions
    )
    assert width * scale / 100 <= A4_LANDSCAPE[0] - (ws.page_margins.left + ws.page_margins.right) * 72
    last = ws.max_row
    starts = [1, *[brk.id + 1 for brk in ws.row_breaks.brk], last + 1]
    pages = [list(range(first, end)) for first, end in itertools.pairwise(starts)]
    height = {row: ws.row_dimensions[row].height or 15.0 for row in range(1, last + 1)}
    for number, rows in enumerate(pages):
        repeat = sum(height[r] for r in range(1, repeated + 1)) if number else 0.0
        assert repeat + sum(height[r] for r in rows) <= room, f"{ws.title}: page {number + 1} overflows"
    return pages, room


def _area_starts(ws: Any) -> set[int]:
    """Returns the Delmål sheet's rows where a målområde begins."""
    areas = [(cell.row, cell.value) for cell in ws["B"][1:] if cell.value]
    return {row for index, (row, area) in enumerate(areas) if index == 0 or areas[index - 1][1] != area}


def test_delmal_pages_begin_with_a_malomrade_and_never_end_with_one(wb: openpyxl.Workbook) -> None:
    ws = wb[c.SHEET_GOALS]
    assert ws.print_title_rows == "$1:$1"
    pages, _ = _pages(ws, repeated=1)
    starts = _area_starts(ws)
    assert len(pages) > 1 and len(starts) == 6
    # Every målområde of Kalix's plan fits on a page: so each page begins with one.
    assert all(page[0] in starts for page in pages[1:])
    assert not any(page[-1] in starts for page in pages)


def test_a_malomrade_longer_than_a_page_keeps_its_first_rows_together(tmp_path: Path) -> None:
    data = yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))
    long_text = "Kommunen ska arbeta för att nyanlända snabbt kommer i arbete och egen försörjning. " * 3
    data["malomraden"][1]["delmal"] += [{"id": f"2.{n}", "text": long_text} for n in range(6, 30)]
    revised = parse_plan(yaml.safe_dump(data, allow_unicode=True))
    ws = openpyxl.load_workbook(make_template(revised, "SBF", YEAR, tmp_path))[c.SHEET_GOALS]
    pages, room = _pages(ws, repeated=1)
    starts = _area_starts(ws)
    assert sum(ws.row_dimensions[row].height for page in pages for row in page if row > 1) > 2 * room
    for page in pages:
        # The last row is not a målområde's first, nor its second: a heading keeps two rows.
        assert page[-1] not in starts and page[-1] - 1 not in starts, page


def test_instruction_headings_are_never_last_on_a_page(plan: Plan, tmp_path: Path) -> None:
    carried = [{c.ACTION: "Språkcafé", c.STATUS: c.IN_PROGRESS}]
    for options in ({}, {"carried_actions": carried, "return_to": "Samordnaren. " * 40}):
        ws = openpyxl.load_workbook(
            make_template(plan, "SOC", YEAR, tmp_path / str(len(options)), **options)
        )[c.SHEET_INSTRUCTIONS]
        pages, _ = _pages(ws, repeated=0)
        headings = {cell.row for cell in ws["A"] if cell.value and cell.font.sz == 12}
        assert len(pages) > 1 and len(headings) >= 8
        for page in pages:
            filled = [row for row in page if ws.cell(row, 1).value or ws.cell(row, 2).value]
            assert filled[-1] not in headings, (page, filled[-1])


@pytest.mark.parametrize(
    "day",
    [
        dt.date(1900, 1, 1),
        dt.datetime(1900, 1, 1),
        dt.date(1900, 2, 28),
        dt.date(1900, 3, 1),
        dt.date(2200, 12, 31),
    ],
)
def test_a_carried_date_at_the_edge_of_the_window_reads_back_as_that_date(
    plan: Plan, tmp_path: Path, day: dt.date
) -> None:
    action = {
        c.GOAL: "1.1",
        c.ACTION: "Gammal",
        c.OWNER: "Chef",
        c.START: day,
        c.DONE: day,
        c.STATUS: c.IN_PROGRESS,
    }
    path = make_template(plan, "SOC", YEAR, tmp_path, carried_actions=[action])
    ws = openpyxl.load_workbook(path)[c.SHEET_ACTIONS]
    start = c.ACTION_COLUMNS.index(c.START) + 1
    # xlsxwriter writes the datetime 1900-01-01 00:00 as the time 00:00 (day 0): no date at all.
    assert ws.cell(2, start).value == dt.datetime(day.year, day.month, day.day)
