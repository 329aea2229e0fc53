"""One förvaltning's handlingsplan workbook, built from the plan with xlsxwriter.

The layout is the template contract (`pipeline.contract`): sheets Instruktioner, Delmål
and Åtgärder for the user, a hidden sheet with the dropdown lists and a very hidden one
with the identification, which is also stored as custom document properties.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline import contract as c
from pipeline.config import RETURN_TO_DEFAULT, TEMPLATE_VERSION
from pipeline.files import atomic_path
from pipeline.layout import COLUMN_WIDTHS, row_height
from pipeline.plan import Department, Goal, GoalArea, Plan

GOAL_LABEL_MAX = 90
# xlsxwriter stamps the creation time into docProps/core.xml; a fixed one keeps files
# byte-identical for the same plan, year and options.
FIXED_CREATED = dt.datetime(2015, 2, 9, 0, 0, 0)
# in_memory: the parts are assembled in memory, not in a temporary file each (no disk round
# trip per part); the same bytes but for the zip entries' fixed date.
_WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
_ANSWER_COL = 3  # Berör oss, on the Delmål sheet

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


@dataclass(frozen=True)
class TemplateJob:
    """One template to write: the förvaltning's code, its options and the file to write.

    Small and picklable, so a batch of jobs can be sent to another process or worker.
    """

    code: str
    options: TemplateOptions
    target: Path


def goal_label(goal: Goal, max_length: int = GOAL_LABEL_MAX) -> str:
    """Returns the dropdown item for a delmål: its id, a space and its text, shortened."""
    label = f"{goal.id} {goal.text}"
    if len(label) <= max_length:
        return label
    return label[: max_length - 1].rstrip(" ,.;") + "…"


def write_template(plan: Plan, department: Department, options: TemplateOptions, target: Path) -> Path:
    """Returns `target`, where one förvaltning's template has been written atomically."""
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), _WORKBOOK_OPTIONS)
        try:
            _build(workbook, plan, department, options)
        finally:
            workbook.close()
    return target


def write_templates(plan: Plan, jobs: Sequence[TemplateJob]) -> list[Path]:
    """Returns the paths of the templates written for `jobs`, in their order.

    Writes them one after the other in this process; where a batch runs is the flows' choice.
    """
    return [write_template(plan, plan.department(job.code), job.options, job.target) for job in jobs]


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
        ws.set_row(row, _line_height(label, text))
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
    line(*_department_line(department))
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


def _line_height(label: str, text: str) -> float:
    """Returns the height of an Instruktioner line: label in column A, text in column B."""
    return row_height([(label, 24), (text, 100)])


def _department_line(department: Department) -> tuple[str, str]:
    return "Förvaltning", f"{department.name} ({department.code})"


def _goals_sheet(ws: Worksheet, fmt: _Formats, plan: Plan, options: TemplateOptions) -> None:
    widths = (9, 28, 85, 12)
    for col, (name, width) in enumerate(zip(c.GOAL_COLUMNS, widths, strict=True)):
        ws.set_column(col, col, width)
        ws.write_string(0, col, name, fmt.header)
    ws.freeze_panes(1, 0)
    rows = _goal_rows(plan)
    for row, area, goal in rows:
        ws.write_string(row, 0, goal.id, fmt.plan_text)
        ws.write_string(row, 1, area.label, fmt.plan_text)
        ws.write_string(row, 2, goal.text, fmt.plan_text)
        ws.set_row(row, row_height([(area.label, widths[1]), (goal.text, widths[2])]))
        answer = options.concerns.get(goal.id, "")
        if answer:
            ws.write_string(row, _ANSWER_COL, answer, fmt.input)
        else:
            ws.write_blank(row, _ANSWER_COL, None, fmt.input)
    last = rows[-1][0] if rows else 0
    ws.data_validation(
        1,
        _ANSWER_COL,
        last,
        _ANSWER_COL,
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


def _goal_rows(plan: Plan) -> list[tuple[int, GoalArea, Goal]]:
    """Returns the Delmål sheet's rows below the header: (row, målområde, delmål)."""
    goals = [(area, goal) for area in plan.goal_areas for goal in area.goals]
    return [(row, area, goal) for row, (area, goal) in enumerate(goals, start=1)]


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
    carried = _carried_rows(plan, options)
    last = _last_row(options)
    # Dropdowns and date checks reach further than the prepared cells: a range costs nothing.
    validated = max(options.validated_rows, last)
    blank = [None] * len(columns)
    for col, name in enumerate(columns):
        style = cell_format.get(name, fmt.input)
        for row in range(1, last + 1):  # explicit cells too: readers that ignore column formats
            values = carried[row - 1][1] if row <= len(carried) else blank
            _write_value(ws, row, col, values[col], style)
        ws.data_validation(1, col, validated, col, _column_validation(name, goal_range))
    for row, (height, _) in enumerate(carried, start=1):
        ws.set_row(row, height)
    ws.autofilter(0, 0, validated, len(columns) - 1)
    _print_setup(ws, (0, 0))
    _protect(ws)


def _last_row(options: TemplateOptions) -> int:
    """Returns the last prepared row of Åtgärder: room for 50 new actions below the carried ones."""
    return max(options.prepared_rows, len(options.carried_actions) + 50)


def _carried_rows(plan: Plan, options: TemplateOptions) -> list[tuple[float, list[Any]]]:
    """Returns the pre-filled rows of Åtgärder: each row's height and its values by column.

    A carried delmål id is shown as its dropdown item; the height fits what is shown.
    """
    goal_labels = {g.id: goal_label(g) for g in plan.goals}
    goal = c.ACTION_COLUMNS.index(c.GOAL)
    widths = [COLUMN_WIDTHS[name] for name in c.ACTION_COLUMNS]
    rows = []
    for values in options.carried_actions:
        cells = [values.get(name) for name in c.ACTION_COLUMNS]
        shown = cells[goal]
        if isinstance(shown, str) and shown in goal_labels:
            cells[goal] = goal_labels[shown]
        height = row_height([(str(value or ""), width) for value, width in zip(cells, widths, strict=True)])
        rows.append((height, cells))
    return rows


def _write_value(ws: Worksheet, row: int, col: int, value: Any, style: Any) -> None:
    """Writes a cell by its type; text always as a string, never as a formula or link."""
    value = _cell_value(value)
    if value is None:
        ws.write_blank(row, col, None, style)
    elif isinstance(value, str):
        ws.write_string(row, col, value, style)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(row, col, value, style)
    else:
        ws.write_number(row, col, value, style)


def _cell_value(value: Any) -> Any:
    """Returns what a cell holds for `value`: None (blank), a string, a datetime or a number."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    if isinstance(value, dt.datetime | dt.date):
        return _as_datetime(value)
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, int | float):
        return value
    return str(value)


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
    consolidated tables (see pipeline.combine); either may be None.
    """
    base = base or TemplateOptions(year=year)
    actions_by_code: dict[str, list[dict[str, Any]]] = {}
    if previous_actions is not None and len(previous_actions):
        still_open = previous_actions[~previous_actions[c.STATUS].isin(c.CLOSED_STATUSES)]
        # One conversion for the whole table, then bucketed: a pandas call per förvaltning
        # costs milliseconds, which adds up at a thousand förvaltningar.
        rows = still_open[list(c.ACTION_COLUMNS)].to_dict("records")
        for code, row in zip(still_open[c.DEPARTMENT], rows, strict=True):
            actions_by_code.setdefault(str(code), []).append({k: _blank_to_none(v) for k, v in row.items()})
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
