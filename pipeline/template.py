"""One förvaltning's handlingsplan workbook, built from the plan with xlsxwriter.

The layout is the template contract (`pipeline.contract`): sheets Instruktioner, Delmål
and Åtgärder for the user, a hidden sheet with the dropdown lists and a very hidden one
with the identification, which is also stored as custom document properties.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline import contract as c
from pipeline.config import RETURN_TO_DEFAULT, TEMPLATE_VERSION
from pipeline.files import atomic_path
from pipeline.plan import Department, Goal, Plan

GOAL_LABEL_MAX = 90
# xlsxwriter stamps the creation time into docProps/core.xml; a fixed one keeps files
# byte-identical for the same plan, year and options.
FIXED_CREATED = dt.datetime(2015, 2, 9, 0, 0, 0)
LAST_ROW_LIMIT = 1_048_575

COLUMN_WIDTHS = {
    c.ACTION_ID: 13,
    c.GOAL: 24,
    c.ACTION: 36,
    c.OWNER: 16,
    c.START: 11,
    c.DONE: 11,
    c.COST: 11,
    c.FUNDING: 16,
    c.PARTNERS: 20,
    c.INDICATOR: 22,
    c.TARGET: 12,
    c.STATUS: 12,
    c.OUTCOME: 18,
    c.COMMENT: 22,
}

INPUT_MESSAGES = {
    c.ACTION_ID: (
        "Åtgärds-ID",
        "Lämna tomt för nya åtgärder: ID sätts av Kommunstyrelsen. "
        "Ändra inte ett ID som redan finns, så kan åtgärden följas år från år.",
    ),
    c.GOAL: ("Delmål", "Välj det delmål i integrationsplanen som åtgärden bidrar till."),
    c.ACTION: ("Åtgärd", "Beskriv kort vad förvaltningen ska göra."),
    c.OWNER: ("Ansvarig", "Person eller funktion som ansvarar för åtgärden, t.ex. enhetschef."),
    c.START: ("Start", "Datum då åtgärden börjar, t.ex. 2027-03-01."),
    c.DONE: ("Klart", "Datum då åtgärden ska vara klar, t.ex. 2027-12-31. Inte före Start."),
    c.COST: ("Kostnad (kr)", "Beräknad kostnad i hela kronor, bara siffror (t.ex. 50000)."),
    c.FUNDING: ("Finansiering", "Välj hur åtgärden finansieras."),
    c.PARTNERS: (
        "Samverkan",
        "Vilka ni samverkar med, t.ex. Arbetsförmedlingen, Region Norrbotten, föreningar.",
    ),
    c.INDICATOR: ("Indikator", "Hur ni mäter att åtgärden ger resultat, t.ex. antal deltagare."),
    c.TARGET: ("Målvärde", "Vilket värde på indikatorn ni vill nå, t.ex. 40 deltagare."),
    c.STATUS: ("Status", "Välj åtgärdens läge just nu."),
    c.OUTCOME: ("Utfall", "Vid uppföljning: vilket värde indikatorn faktiskt fick."),
    c.COMMENT: ("Kommentar", "Övrigt som Kommunstyrelsen bör veta."),
}

COLUMN_HELP = {
    c.ACTION_ID: "Fylls i av Kommunstyrelsen. Lämna tomt för nya åtgärder; "
    "ändra inte ett ID som redan står där.",
    c.GOAL: "Det delmål åtgärden bidrar till (välj i listan).",
    c.ACTION: "Vad förvaltningen ska göra. Obligatorisk.",
    c.OWNER: "Ansvarig person eller funktion. Obligatorisk.",
    c.START: "Startdatum (ÅÅÅÅ-MM-DD).",
    c.DONE: "Datum då åtgärden ska vara klar (ÅÅÅÅ-MM-DD), inte före Start.",
    c.COST: "Beräknad kostnad i kronor, bara siffror.",
    c.FUNDING: "Hur åtgärden finansieras (välj i listan).",
    c.PARTNERS: "Vilka ni samverkar med.",
    c.INDICATOR: "Hur resultatet mäts (EU:s princip 11: mål, indikatorer, utvärdering).",
    c.TARGET: "Det värde på indikatorn ni vill nå.",
    c.STATUS: "Åtgärdens läge (välj i listan). Obligatorisk.",
    c.OUTCOME: "Vid uppföljningen: vad indikatorn faktiskt visar.",
    c.COMMENT: "Övrigt.",
}

STATUS_HELP = {
    c.NOT_STARTED: "arbetet har inte börjat",
    c.IN_PROGRESS: "arbetet pågår enligt plan",
    c.COMPLETED: "åtgärden är klar",
    c.DELAYED: "åtgärden ligger efter tidplanen",
    c.CANCELLED: "åtgärden genomförs inte (skriv varför i Kommentar)",
}


@dataclass(frozen=True)
class TemplateOptions:
    """What a template says beyond the plan: year, deadline, recipient, pre-filled rows."""

    year: int
    deadline: dt.date | None = None
    return_to: str = RETURN_TO_DEFAULT
    prepared_rows: int = 200
    validated_rows: int = 1000
    carried_actions: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    concerns: Mapping[str, str] = field(default_factory=dict)


LINE_HEIGHT = 15.0


def row_height(cells: Sequence[tuple[str, float]]) -> float:
    """Returns a row height (points) that shows every (text, column width) pair in full.

    Neither Excel nor LibreOffice grows rows of a generated file to fit wrapped text, so
    the height is estimated from each text's length at its column's width (word breaks
    waste about a tenth of a line, hence the 0.9); cheap enough for tens of thousands of rows.
    """
    lines = 1
    for text, width in cells:
        if not text:
            continue
        per_line = max(int(width * 1.15 * 0.9), 8)
        wrapped = sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))
        lines = max(lines, wrapped)
    return math.ceil(lines * LINE_HEIGHT + 3)


def template_filename(year: int, code: str) -> str:
    """Returns handlingsplan_<year>_<code>.xlsx, the name a template is sent out under."""
    return f"handlingsplan_{year}_{code}.xlsx"


def goal_label(goal: Goal, max_length: int = GOAL_LABEL_MAX) -> str:
    """Returns the dropdown item for a delmål: its id, a space and its text, shortened."""
    label = f"{goal.id} {goal.text}"
    if len(label) <= max_length:
        return label
    return label[: max_length - 1].rstrip(" ,.;") + "…"


def write_template(plan: Plan, department: Department, options: TemplateOptions, target: Path) -> Path:
    """Writes one förvaltning's template to `target` atomically and returns the path."""
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False})
        try:
            _build(workbook, plan, department, options)
        finally:
            workbook.close()
    return target


def write_templates(
    plan: Plan, options_by_code: Mapping[str, TemplateOptions], folder: Path, workers: int = 1
) -> list[Path]:
    """Writes a template for each förvaltning in `options_by_code`; returns their paths.

    Templates without pre-filled rows differ only in the förvaltning's code and name, so
    they are stamped from one prototype (`stamp_templates`); the others are built one by
    one, on `workers` processes when there are many (a county-wide collection has hundreds).
    """
    plain = {code: o for code, o in options_by_code.items() if _stampable(plan.department(code), o)}
    paths = dict(stamp_templates(plan, plain, folder)) if len(plain) > 1 else {}
    jobs = [
        (plan, plan.department(code), options, folder / template_filename(options.year, code))
        for code, options in options_by_code.items()
        if code not in paths
    ]
    if workers > 1 and len(jobs) > 20:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            built = list(pool.map(_write_job, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
    else:
        built = [_write_job(job) for job in jobs]
    paths.update({job[1].code: path for job, path in zip(jobs, built, strict=True)})
    return [paths[code] for code in options_by_code]


def _write_job(job: tuple[Plan, Department, TemplateOptions, Path]) -> Path:
    return write_template(*job)


# Stamping: one prototype workbook, the förvaltning's code and name written into copies.

_CODE_MARK = "QQKODQQ"
_NAME_MARK = "QQNAMNQQ"
_STAMP_NAME_MAX = 80  # longer names may wrap a line of the instructions: build those fully


def _stampable(department: Department, options: TemplateOptions) -> bool:
    return not options.carried_actions and not options.concerns and len(department.name) <= _STAMP_NAME_MAX


def stamp_templates(
    plan: Plan, options_by_code: Mapping[str, TemplateOptions], folder: Path
) -> list[tuple[str, Path]]:
    """Writes templates that differ only in förvaltning by stamping one prototype; returns (code, path).

    The prototype is a real template for a placeholder förvaltning; each copy replaces the
    placeholder code and name in the package's XML parts, member by member, keeping every
    zip entry's metadata, so a stamped file has the same bytes as one built directly.
    """
    groups: dict[tuple[Any, ...], list[str]] = {}
    for code, options in options_by_code.items():
        key = (
            options.year,
            options.deadline,
            options.return_to,
            options.prepared_rows,
            options.validated_rows,
        )
        groups.setdefault(key, []).append(code)
    written = []
    for codes in groups.values():
        options = options_by_code[codes[0]]
        members = _prototype(plan, options)
        for code in codes:
            department = plan.department(code)
            target = folder / template_filename(options.year, code)
            written.append((code, _stamp(members, department, target)))
    return written


def _prototype(plan: Plan, options: TemplateOptions) -> list[tuple[zipfile.ZipInfo, bytes]]:
    # Written to a file like any template (not in memory), so zip entry metadata matches.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prototyp.xlsx"
        workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
        try:
            _build(workbook, plan, Department(_CODE_MARK, _NAME_MARK), options)
        finally:
            workbook.close()
        with zipfile.ZipFile(path) as archive:
            return [(info, archive.read(info)) for info in archive.infolist()]


def _stamp(members: list[tuple[zipfile.ZipInfo, bytes]], department: Department, target: Path) -> Path:
    code = xml_escape(department.code).encode("utf-8")
    name = xml_escape(department.name).encode("utf-8")
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data.replace(_CODE_MARK.encode(), code).replace(_NAME_MARK.encode(), name))
    return target


class _Formats:
    """The workbook's cell formats, made once per workbook."""

    def __init__(self, wb: Workbook) -> None:
        base = {"font_name": "Calibri", "font_size": 11, "valign": "top"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F3864"})
        self.heading = wb.add_format({**base, "bold": True, "font_size": 12, "font_color": "#1F3864"})
        self.label = wb.add_format({**base, "bold": True, "text_wrap": True})
        self.text = wb.add_format({**base, "text_wrap": True})
        self.header = wb.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "bg_color": "#1F3864",
                "font_color": "#FFFFFF",
                "border": 1,
            }
        )
        self.plan_text = wb.add_format(
            {**base, "text_wrap": True, "bg_color": "#F2F2F2", "border": 1, "border_color": "#BFBFBF"}
        )
        unlocked = {
            **base,
            "locked": False,
            "text_wrap": True,
            "border": 1,
            "border_color": "#BFBFBF",
            "bg_color": "#FFFBEA",
        }
        self.input = wb.add_format(unlocked)
        self.input_date = wb.add_format({**unlocked, "num_format": "yyyy-mm-dd"})
        self.input_money = wb.add_format({**unlocked, "num_format": "#,##0"})
        self.input_id = wb.add_format({**unlocked, "bg_color": "#EDEDED", "font_color": "#595959"})
        self.input_plain = wb.add_format(
            {**base, "locked": False, "border": 1, "border_color": "#BFBFBF", "bg_color": "#FFFBEA"}
        )


def _build(wb: Workbook, plan: Plan, department: Department, options: TemplateOptions) -> None:
    wb.set_properties(
        {
            "title": f"Handlingsplan {options.year} – {department.name}",
            "subject": plan.name,
            "author": "Kommunstyrelsen",
            "company": plan.municipality,
            "comments": "Mall för förvaltningens handlingsplan enligt integrationsplanen.",
            "created": FIXED_CREATED,
        }
    )
    identification = {
        c.ID_DEPARTMENT: department.code,
        c.ID_YEAR: str(options.year),
        c.ID_TEMPLATE_VERSION: TEMPLATE_VERSION,
        c.ID_PLAN_VERSION: plan.version,
    }
    for key, value in identification.items():
        wb.set_custom_property(key, value, "text")

    fmt = _Formats(wb)
    _instructions_sheet(wb.add_worksheet(c.SHEET_INSTRUCTIONS), fmt, plan, department, options)
    _goals_sheet(wb.add_worksheet(c.SHEET_GOALS), fmt, plan, options)
    actions = wb.add_worksheet(c.SHEET_ACTIONS)
    lists = wb.add_worksheet(c.SHEET_LISTS)
    ident = wb.add_worksheet(c.SHEET_IDENTIFICATION)
    goal_range = _lists_sheet(lists, plan)
    _actions_sheet(actions, fmt, plan, options, goal_range)
    _identification_sheet(ident, identification)
    wb.get_worksheet_by_name(c.SHEET_INSTRUCTIONS).activate()


def _print_setup(ws: Worksheet, header_rows: tuple[int, int] | None) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.5, right=0.5, top=0.7, bottom=0.7)
    ws.fit_to_pages(1, 0)
    ws.set_header('&L&"Calibri,Bold"&A&R&"Calibri"Integrationsplan – handlingsplan')
    ws.set_footer("&L&F&RSida &P av &N")
    if header_rows:
        ws.repeat_rows(*header_rows)


def _protect(ws: Worksheet) -> None:
    # No password: protection guides the user to the input cells, it does not secure.
    ws.protect(
        "",
        {
            "format_columns": True,
            "format_rows": True,
            "autofilter": True,
            "sort": False,
            "select_locked_cells": True,
            "select_unlocked_cells": True,
        },
    )


def _instructions_sheet(
    ws: Worksheet, fmt: _Formats, plan: Plan, department: Department, options: TemplateOptions
) -> None:
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 100)
    ws.hide_gridlines(2)
    row = 0

    def line(label: str, text: str, label_fmt: Any = fmt.label, text_fmt: Any = fmt.text) -> None:
        nonlocal row
        ws.set_row(row, row_height([(label, 24), (text, 100)]))
        if label:
            ws.write_string(row, 0, label, label_fmt)
        if text:
            ws.write_string(row, 1, text, text_fmt)
        row += 1

    def heading(text: str) -> None:
        nonlocal row
        row += 1
        ws.write_string(row, 0, text, fmt.heading)
        row += 1

    ws.write_string(row, 0, f"Handlingsplan {options.year} – {department.name}", fmt.title)
    ws.set_row(row, 24)
    row += 2
    line("Förvaltning", f"{department.name} ({department.code})")
    line("År", str(options.year))
    deadline = options.deadline.isoformat() if options.deadline else "enligt Kommunstyrelsens anvisning"
    line("Lämnas senast", deadline)
    line("Lämnas till", options.return_to)
    row += 1
    ws.write_string(row, 0, c.CONTACT_LABEL, fmt.label)
    ws.write_blank(row, 1, None, fmt.input_plain)
    ws.data_validation(
        row, 1, row, 1, _text_prompt("Kontaktperson", "Namn på den som fyllt i handlingsplanen.")
    )
    row += 1
    ws.write_string(row, 0, c.EMAIL_LABEL, fmt.label)
    ws.write_blank(row, 1, None, fmt.input_plain)
    ws.data_validation(row, 1, row, 1, _text_prompt("E-post", "E-postadress till kontaktpersonen."))
    row += 1

    heading("Vad är handlingsplanen?")
    line(
        "",
        f"{plan.name} (antagen {plan.adopted}) anger kommunens mål för integrationsarbetet i "
        f"{len(plan.goal_areas)} målområden med {len(plan.goals)} delmål. Varje nämnd tar fram en "
        "handlingsplan som beskriver med vilka åtgärder förvaltningen bidrar till delmålen. "
        "Kommunstyrelsen sammanställer och antar handlingsplanerna och följer upp dem varje år "
        "som en del av mål- och budgetarbetet.",
    )
    line(
        "",
        "Uppgifterna ni lämnar blir underlag för kommunens samlade handlingsplan, "
        "Kommunstyrelsens uppföljning och sammanfattningen till Kommunstyrelsens sammanträde.",
    )

    heading("Så fyller ni i")
    line("1. Instruktioner", "Skriv kontaktperson och e-post i de gula fälten ovan.")
    line(
        "2. Delmål",
        "Läs delmålen. Välj Ja i kolumnen Berör oss för varje delmål som förvaltningen arbetar "
        "med, annars Nej. Planens text är låst.",
    )
    line(
        "3. Åtgärder",
        "Skriv en rad per åtgärd i de gula cellerna. Välj delmål, finansiering och status i "
        "listorna. Tomma rader hoppas över. Behövs fler rader går det bra att skriva nedanför.",
    )
    line(
        "4. Lämna in",
        "Spara som Excel-arbetsbok (.xlsx) med samma filnamn eller ett eget; filen känns igen "
        "ändå. Ändra inte bladens namn eller kolumnrubrikerna.",
    )
    if options.carried_actions:
        line(
            "Från förra året",
            "Åtgärder som inte var genomförda eller avbrutna förra året står redan i bladet "
            "Åtgärder med sitt Åtgärds-ID. Uppdatera deras status och lägg till nya åtgärder.",
        )

    heading("Kolumnerna i bladet Åtgärder")
    for column in c.ACTION_COLUMNS:
        line(column, COLUMN_HELP[column])

    heading("Status")
    for status in c.STATUSES:
        line(status, STATUS_HELP[status])

    heading("Finansiering")
    line("", ", ".join(c.FUNDING_SOURCES) + ".")

    heading("Frågor")
    line(
        "",
        "Kontakta Kommunstyrelsens integrationssamordnare. Efter inlämning får ni en återkoppling "
        "som pekar ut de celler som behöver rättas, om några.",
    )

    _print_setup(ws, None)
    ws.fit_to_pages(1, 0)
    _protect(ws)


def _goals_sheet(ws: Worksheet, fmt: _Formats, plan: Plan, options: TemplateOptions) -> None:
    widths = (9, 28, 85, 12)
    for col, (name, width) in enumerate(zip(c.GOAL_COLUMNS, widths, strict=True)):
        ws.set_column(col, col, width)
        ws.write_string(0, col, name, fmt.header)
    ws.freeze_panes(1, 0)
    row = 1
    for area in plan.goal_areas:
        for goal in area.goals:
            ws.write_string(row, 0, goal.id, fmt.plan_text)
            ws.write_string(row, 1, area.label, fmt.plan_text)
            ws.write_string(row, 2, goal.text, fmt.plan_text)
            ws.set_row(row, row_height([(area.label, widths[1]), (goal.text, widths[2])]))
            answer = options.concerns.get(goal.id, "")
            if answer:
                ws.write_string(row, 3, answer, fmt.input)
            else:
                ws.write_blank(row, 3, None, fmt.input)
            row += 1
    last = row - 1
    ws.data_validation(
        1,
        3,
        last,
        3,
        {
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$D$2:$D$3",
            "input_title": "Berör oss",
            "input_message": "Välj Ja om förvaltningen arbetar med delmålet, annars Nej.",
            "error_title": "Välj Ja eller Nej",
            "error_message": "Välj Ja eller Nej i listan.",
        },
    )
    _print_setup(ws, (0, 0))
    _protect(ws)


def _lists_sheet(ws: Worksheet, plan: Plan) -> str:
    columns = (
        ("Delmål", [goal_label(g) for g in plan.goals]),
        ("Status", list(c.STATUSES)),
        ("Finansiering", list(c.FUNDING_SOURCES)),
        ("Ja/Nej", [c.YES, c.NO]),
    )
    for col, (header, values) in enumerate(columns):
        ws.write_string(0, col, header)
        for row, value in enumerate(values, start=1):
            ws.write_string(row, col, value)
    ws.set_column(0, 0, 60)
    ws.hide()
    ws.protect("")
    return f"={c.SHEET_LISTS}!$A$2:$A${len(plan.goals) + 1}"


def _identification_sheet(ws: Worksheet, identification: Mapping[str, str]) -> None:
    ws.write_string(0, 0, "Nyckel")
    ws.write_string(0, 1, "Värde")
    for row, (key, value) in enumerate(identification.items(), start=1):
        ws.write_string(row, 0, key)
        ws.write_string(row, 1, value)
    ws.very_hidden()
    ws.protect("")


def _text_prompt(title: str, message: str) -> dict[str, Any]:
    return {"validate": "any", "input_title": title, "input_message": message}


def _column_validation(column: str, goal_range: str) -> dict[str, Any]:
    title, message = INPUT_MESSAGES[column]
    prompt = {"input_title": title, "input_message": message}
    if column == c.GOAL:
        # A warning, not a stop: a pasted bare id ("1.3") is accepted by the pipeline.
        return {
            **prompt,
            "validate": "list",
            "source": goal_range,
            "error_type": "warning",
            "error_title": "Okänt delmål",
            "error_message": "Välj ett delmål i listan.",
        }
    if column == c.FUNDING:
        return {
            **prompt,
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$C$2:$C${len(c.FUNDING_SOURCES) + 1}",
            "error_title": "Ogiltig finansiering",
            "error_message": "Välj finansiering i listan.",
        }
    if column == c.STATUS:
        return {
            **prompt,
            "validate": "list",
            "source": f"={c.SHEET_LISTS}!$B$2:$B${len(c.STATUSES) + 1}",
            "error_title": "Ogiltig status",
            "error_message": "Välj status i listan.",
        }
    if column in (c.START, c.DONE):
        return {
            **prompt,
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(2000, 1, 1),
            "maximum": dt.date(2099, 12, 31),
            "error_title": "Ogiltigt datum",
            "error_message": "Skriv ett datum som 2027-03-01.",
        }
    if column == c.COST:
        return {
            **prompt,
            "validate": "decimal",
            "criteria": ">=",
            "value": 0,
            "error_title": "Ogiltig kostnad",
            "error_message": "Skriv kostnaden i kronor som ett tal, 0 eller mer.",
        }
    return {**prompt, "validate": "any"}


def _actions_sheet(
    ws: Worksheet, fmt: _Formats, plan: Plan, options: TemplateOptions, goal_range: str
) -> None:
    columns = c.ACTION_COLUMNS
    cell_format = {
        c.ACTION_ID: fmt.input_id,
        c.START: fmt.input_date,
        c.DONE: fmt.input_date,
        c.COST: fmt.input_money,
    }
    # The input format is also the column's own, so rows typed below the prepared ones are
    # unlocked and styled too.
    for col, name in enumerate(columns):
        ws.set_column(col, col, COLUMN_WIDTHS[name], cell_format.get(name, fmt.input))
        ws.write_string(0, col, name, fmt.header)
    ws.set_row(0, 30)
    ws.freeze_panes(1, 1)
    carried = list(options.carried_actions)
    last = max(options.prepared_rows, len(carried) + 50)
    # Dropdowns and date checks reach further than the prepared cells: a range costs nothing.
    validated = max(options.validated_rows, last)
    goal_labels = {g.id: goal_label(g) for g in plan.goals}
    for col, name in enumerate(columns):
        style = cell_format.get(name, fmt.input)
        for row in range(1, last + 1):  # explicit cells too: readers that ignore column formats
            values = carried[row - 1] if row <= len(carried) else {}
            value = values.get(name)
            if name == c.GOAL and value in goal_labels:
                value = goal_labels[value]
            _write_value(ws, row, col, value, style)
        ws.data_validation(1, col, validated, col, _column_validation(name, goal_range))
    for row, values in enumerate(carried, start=1):
        texts = [(str(values.get(name) or ""), COLUMN_WIDTHS[name]) for name in columns]
        ws.set_row(row, row_height(texts))
    ws.autofilter(0, 0, validated, len(columns) - 1)
    _print_setup(ws, (0, 0))
    _protect(ws)


def _write_value(ws: Worksheet, row: int, col: int, value: Any, style: Any) -> None:
    """Writes a cell by its type; text always as a string, never as a formula or link."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        ws.write_blank(row, col, None, style)
    elif isinstance(value, dt.datetime | dt.date):
        ws.write_datetime(row, col, _as_datetime(value), style)
    elif isinstance(value, bool):
        ws.write_string(row, col, "Ja" if value else "Nej", style)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, style)
    else:
        ws.write_string(row, col, str(value), style)


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def carried_over(
    plan: Plan,
    year: int,
    previous_actions: Any,
    previous_concerns: Any,
    base: TemplateOptions | None = None,
) -> dict[str, TemplateOptions]:
    """Returns template options per förvaltning, pre-filled from last year's handlingsplan.

    Carries each förvaltning's actions that are neither Genomförd nor Avbruten, with their
    Åtgärds-ID so the follow-up can track them, and its Berör oss answers. Frames are
    consolidated tables (see pipeline.consolidate); either may be None.
    """
    base = base or TemplateOptions(year=year)
    actions_by_code: dict[str, list[dict[str, Any]]] = {}
    if previous_actions is not None and len(previous_actions):
        still_open = previous_actions[~previous_actions[c.STATUS].isin(c.CLOSED_STATUSES)]
        for code, group in still_open.groupby(c.DEPARTMENT, sort=False):
            rows = group[list(c.ACTION_COLUMNS)].to_dict("records")
            actions_by_code[str(code)] = [{k: _blank_to_none(v) for k, v in row.items()} for row in rows]
    concerns_by_code: dict[str, dict[str, str]] = {}
    if previous_concerns is not None and len(previous_concerns):
        answered = previous_concerns[previous_concerns[c.CONCERNS_US].isin((c.YES, c.NO))]
        for code, goal, answer in zip(
            answered[c.DEPARTMENT], answered[c.GOAL_ID], answered[c.CONCERNS_US], strict=True
        ):
            concerns_by_code.setdefault(str(code), {})[str(goal)] = str(answer)
    return {
        code: replace(
            base,
            year=year,
            carried_actions=tuple(actions_by_code.get(code, ())),
            concerns=concerns_by_code.get(code, {}),
        )
        for code in plan.department_codes
    }


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    return value
