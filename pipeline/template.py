"""One förvaltning's handlingsplan workbook, built from the plan with xlsxwriter.

The layout is the template contract (`pipeline.contract`): sheets Instruktioner, Delmål
and Åtgärder for the user, a hidden sheet with the dropdown lists and a very hidden one
with the identification, which is also stored as custom document properties.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_range
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline import contract as c
from pipeline.config import RETURN_TO_DEFAULT, TEMPLATE_VERSION
from pipeline.files import atomic_path, write_text_atomic
from pipeline.layout import COLUMN_WIDTHS, row_height
from pipeline.plan import Department, Goal, GoalArea, Plan

log = logging.getLogger(__name__)

GOAL_LABEL_MAX = 90
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
"""The dates Start and Klart accept in the template: the window validation holds dates to, so
that a date carried from last year is never marked invalid in the template it came back in."""
# xlsxwriter stamps the creation time into docProps/core.xml; a fixed one keeps files
# byte-identical for the same plan, year and options.
FIXED_CREATED = dt.datetime(2015, 2, 9, 0, 0, 0)
# in_memory: the parts are assembled in memory, not in a temporary file each (no disk round
# trip per part); the same bytes but for the zip entries' fixed date.
_WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
_ANSWER_COL = 3  # Berör oss, on the Delmål sheet
TEXT_FORMAT = "@"
"""Excel's and LibreOffice's "Text" number format: what is typed is kept as typed."""
TEXT_FORMAT_COLUMNS = (c.ACTION_ID, c.GOAL, *c.TEXT_ACTION_COLUMNS, c.FUNDING, c.STATUS)
"""Columns of Åtgärder in the text format: all but the dates and the cost.

Without it a client converts what it recognises: "75 %" is stored as 0.75, "1 500" as
1500, and a delmål typed as 1.3 as a number or, in a Swedish locale, a date.
"""
LIST_COLUMNS = {c.STATUS: c.STATUSES, c.FUNDING: c.FUNDING_SOURCES}
"""Åtgärder's columns with a fixed dropdown list: each is as wide as its longest value."""
DROPDOWN_ROOM = 3
"""Characters of a column kept free beside its longest value, for the dropdown button."""
BOLD_WIDTH = 1.1
"""How much wider a bold header's characters are than the plain ones widths count in."""

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
    c.INDICATOR: "Hur resultatet mäts, t.ex. antal deltagare (se EU:s princip 11 nedan).",
    c.TARGET: "Det värde på indikatorn ni vill nå.",
    c.STATUS: "Åtgärdens läge (välj i listan). Obligatorisk.",
    c.OUTCOME: "Vid uppföljningen: vad indikatorn faktiskt visar.",
    c.COMMENT: "Övrigt.",
}

PRINCIPLE_11 = (
    "Integrationsplanens bilaga 3 återger EU:s grundprinciper för integration. Princip 11 "
    "säger att integrationsarbetet behöver tydliga mål, indikatorer och utvärdering, så att "
    "det går att se om arbetet ger resultat. Därför frågar mallen efter Indikator, Målvärde "
    "och Utfall."
)
"""The Instruktioner sheet's plain explanation of EU principle 11 (the plan's Bilaga 3)."""

# The print view of every sheet: A4 landscape with _print_setup's margins (inches).
PAGE_WIDTH, PAGE_HEIGHT = 841.89, 595.28  # points
MARGIN_SIDE, MARGIN_TOP_BOTTOM = 0.5, 0.7
DEFAULT_ROW_HEIGHT = 15.0
PAGE_FILL = 0.95
"""Share of a page's height the page breaks plan to fill: a client's rows may come out a
little taller than ours, and a row pushed past the page's end would get a page of its own."""

WIDE_FONT = 1.35
"""How much wider columns come out where Calibri is missing: LibreOffice without Calibri or
its twin Carlito measures column widths in its fallback font (DejaVu Sans, about 1.33 times
as wide). A scale planned for that never splits a sheet into pages side by side."""

DECISION_HELP = (
    "Beslutsdatum och Paragraf fyller ni i när nämnden har beslutat om förslaget till "
    "handlingsplan, t.ex. 2027-03-15 och § 14 (se nämndens protokoll). Så länge "
    "handlingsplanen är ett förslag lämnar ni båda tomma."
)
"""The Instruktioner sheet's sentence under the decision cells."""
DECISION_STEP = (
    "Fyll i Beslutsdatum och Paragraf när nämnden har beslutat om handlingsplanen; "
    "för ett förslag lämnar ni dem tomma."
)
"""What step 1 of "Så fyller ni i" says about the decision cells."""
DECISION_DATE_VALIDATION: dict[str, Any] = {
    "validate": "date",
    "criteria": "between",
    "minimum": FIRST_DATE,
    "maximum": LAST_DATE,
    "input_title": c.DECISION_DATE_LABEL,
    "input_message": "Datum då nämnden beslutade om handlingsplanen, t.ex. 2027-03-15. "
    "Lämna tomt så länge den är ett förslag.",
    "error_title": "Ogiltigt datum",
    "error_message": "Skriv ett datum som 2027-03-15.",
}
"""The Beslutsdatum cell's prompt and date check: the window Start and Klart have."""
DECISION_PARAGRAPH_PROMPT = (
    "Paragrafen i nämndens protokoll, t.ex. § 14. Lämna tomt så länge handlingsplanen är ett förslag."
)

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
    carried_from: str = ""
    """What the carried actions come from, e.g. "handlingsplanen 2027, antagen KS 2027-04-14 § 55"."""
    concerns: Mapping[str, str] = field(default_factory=dict)
    contact: str = ""
    """The contact person written into the Instruktioner sheet, e.g. last year's."""
    email: str = ""
    """The contact person's e-mail, written beside the contact."""


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
        self.input_text = wb.add_format({**unlocked, "num_format": TEXT_FORMAT})
        self.input_date = wb.add_format({**unlocked, "num_format": "yyyy-mm-dd"})
        self.input_money = wb.add_format({**unlocked, "num_format": "#,##0"})
        self.input_id = wb.add_format(
            {**unlocked, "bg_color": "#EDEDED", "font_color": "#595959", "num_format": TEXT_FORMAT}
        )
        self.input_plain = wb.add_format(
            {
                **base,
                "locked": False,
                "border": 1,
                "border_color": "#BFBFBF",
                "bg_color": "#FFFBEA",
                "num_format": TEXT_FORMAT,
            }
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


def _print_setup(ws: Worksheet, header_rows: tuple[int, int] | None, scale: int | None = None) -> None:
    """Sets A4 landscape, header and footer; fits the width, or prints at `scale` percent.

    A sheet with page breaks of its own needs a scale: "fit to page" makes Excel ignore them.
    """
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=MARGIN_SIDE, right=MARGIN_SIDE, top=MARGIN_TOP_BOTTOM, bottom=MARGIN_TOP_BOTTOM)
    if scale is None:
        ws.fit_to_pages(1, 0)
    else:
        ws.set_print_scale(scale)
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
    widths = (24, 100)
    ws.set_column(0, 0, widths[0])
    ws.set_column(1, 1, widths[1])
    ws.hide_gridlines(2)
    row = 0
    heights: dict[int, float] = {}
    headings: list[int] = []

    def line(label: str, text: str, label_fmt: Any = fmt.label, text_fmt: Any = fmt.text) -> None:
        nonlocal row
        heights[row] = _line_height(label, text)
        ws.set_row(row, heights[row])
        if label:
            ws.write_string(row, 0, label, label_fmt)
        if text:
            ws.write_string(row, 1, text, text_fmt)
        row += 1

    def heading(text: str) -> None:
        nonlocal row
        row += 1
        headings.append(row)
        ws.write_string(row, 0, text, fmt.heading)
        row += 1

    def contact_line(label: str, value: str, prompt: str) -> None:
        nonlocal row
        ws.write_string(row, 0, label, fmt.label)
        if value:
            ws.write_string(row, 1, value, fmt.input_plain)
        else:
            ws.write_blank(row, 1, None, fmt.input_plain)
        ws.data_validation(row, 1, row, 1, _text_prompt(label, prompt))
        row += 1

    ws.write_string(row, 0, f"Handlingsplan {options.year} – {department.name}", fmt.title)
    heights[row] = 24
    ws.set_row(row, heights[row])
    row += 2
    line(*_department_line(department))
    line("År", str(options.year))
    deadline = options.deadline.isoformat() if options.deadline else "enligt Kommunstyrelsens anvisning"
    line("Lämnas senast", deadline)
    line("Lämnas till", options.return_to)
    row += 1
    # read.py finds these cells by their labels: the labels appear nowhere else.
    contact, email = options.contact.strip(), options.email.strip()
    contact_line(c.CONTACT_LABEL, contact, "Namn på den som fyllt i handlingsplanen.")
    contact_line(c.EMAIL_LABEL, email, "E-postadress till kontaktpersonen.")
    # The nämnd's decision: always empty in a new template, never carried from last year.
    ws.write_string(row, 0, c.DECISION_DATE_LABEL, fmt.label)
    ws.write_blank(row, 1, None, fmt.input_date)
    ws.data_validation(row, 1, row, 1, DECISION_DATE_VALIDATION)
    row += 1
    contact_line(c.DECISION_PARAGRAPH_LABEL, "", DECISION_PARAGRAPH_PROMPT)
    line("", DECISION_HELP)

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
    if contact or email:
        line(
            "1. Instruktioner",
            "Kontaktperson och e-post ovan kommer från förra årets handlingsplan. "
            "Ändra dem om de inte stämmer längre. " + DECISION_STEP,
        )
    else:
        line("1. Instruktioner", "Skriv kontaktperson och e-post i de gula fälten ovan. " + DECISION_STEP)
    line(
        "2. Delmål",
        "Läs delmålen. Välj Ja i kolumnen Berör oss för varje delmål som förvaltningen arbetar "
        "med, annars Nej. Planens text är låst.",
    )
    line(
        "3. Åtgärder",
        "Skriv en rad per åtgärd i de gula cellerna. Välj delmål, finansiering och status i "
        "listorna. Tomma rader hoppas över.",
    )
    line(
        "4. Lämna in",
        "Spara filen (se Excel eller LibreOffice nedan) och lämna in den enligt Lämnas till ovan. "
        "Filnamnet spelar ingen roll, filen känns igen ändå. Ändra inte bladens namn eller "
        "kolumnrubrikerna.",
    )
    if options.carried_actions:
        source = f" i {options.carried_from}" if options.carried_from else " förra året"
        line(
            "Från förra året",
            f"Åtgärder som inte var genomförda eller avbrutna{source} står redan i bladet "
            "Åtgärder med sitt Åtgärds-ID. Uppdatera deras status och lägg till nya åtgärder.",
        )

    heading("Rader i bladet Åtgärder")
    line(
        "Varför låst?",
        "Bladen är skyddade så att alla förvaltningars filer har samma uppbyggnad och kommunen "
        "kan läsa dem på samma sätt. Därför går det inte att infoga eller ta bort rader eller "
        "kolumner.",
    )
    line(
        "Fler åtgärder",
        f"Skriv nya åtgärder på de tomma gula raderna; det finns plats för {_last_row(options)} "
        "rader. Räcker de inte, fortsätt på raderna direkt nedanför, de går också att skriva i. "
        "Ordningen spelar ingen roll.",
    )
    line(
        "Ta bort en åtgärd",
        f"Töm inte raden för en åtgärd som har ett Åtgärds-ID: då ser det i uppföljningen ut "
        f"som om åtgärden har försvunnit. Välj i stället status {c.COMPLETED} om den är klar, "
        f"eller {c.CANCELLED} om den inte ska genomföras och skriv varför i Kommentar. En ny "
        "rad som ni skrivit av misstag kan ni tömma: markera cellerna och tryck Delete.",
    )

    heading("Kolumnerna i bladet Åtgärder")
    for column in c.ACTION_COLUMNS:
        line(column, COLUMN_HELP[column])

    heading("Mål, indikatorer och uppföljning")
    line("EU:s princip 11", PRINCIPLE_11)

    heading("Status")
    for status in c.STATUSES:
        line(status, STATUS_HELP[status])

    heading("Finansiering")
    line("", ", ".join(c.FUNDING_SOURCES) + ".")

    heading("Excel eller LibreOffice")
    line(
        "Spara som .xlsx",
        "Mallen går att fylla i både i Excel och i LibreOffice. Spara som Excel-arbetsbok "
        "(.xlsx). I LibreOffice heter formatet Excel 2007-365 (.xlsx); frågar LibreOffice vilket "
        "format ni vill använda, välj Excel-formatet.",
    )
    line(
        "Andra format",
        "Filer sparade som .ods (LibreOffice) eller .xls (äldre Excel) tas också emot. Men bara "
        "till en .xlsx-fil får ni tillbaka en kopia av filen där cellerna som behöver rättas är "
        "markerade.",
    )
    line(
        "Text och datum",
        "Textkolumnerna är formaterade som text, så det ni skriver står kvar som ni skrev det, "
        "t.ex. 75 % eller 1 500. Skriv datum med år, t.ex. 2027-03-31: skriver ni bara 31/3 "
        "väljer programmet själv år.",
    )

    heading("Frågor")
    line(
        "",
        "Kontakta Kommunstyrelsens integrationssamordnare. Efter inlämning får ni en återkoppling "
        "som pekar ut de celler som behöver rättas, om några.",
    )

    rows = [heights.get(index, DEFAULT_ROW_HEIGHT) for index in range(row)]
    scale = print_scale(widths)
    _print_setup(ws, None, scale)
    ws.set_h_pagebreaks(page_breaks(rows, headings, page_room(scale)))
    _protect(ws)


def column_points(width: float) -> float:
    """Returns a column's width in points: Excel's character units in pixels of Calibri 11."""
    return (int(width * 7 + 0.5) + 5) * 0.75


def print_scale(widths: Sequence[float]) -> int:
    """Returns the print scale (percent, at most 100) at which the columns fit the page's width."""
    room = PAGE_WIDTH - 2 * MARGIN_SIDE * 72
    needed = sum(column_points(w) for w in widths) * WIDE_FONT
    return max(10, min(100, math.floor(100 * room / needed)))


def page_room(scale: int) -> float:
    """Returns how many points of rows (unscaled) one printed page holds at `scale` percent."""
    return (PAGE_HEIGHT - 2 * MARGIN_TOP_BOTTOM * 72) * 100 / scale * PAGE_FILL


def page_breaks(
    heights: Sequence[float], groups: Sequence[int], room: float, repeated: float = 0.0, lead: int = 3
) -> list[int]:
    """Returns the rows (0-based) that start a new printed page, for xlsxwriter's set_h_pagebreaks.

    `heights` are the sheet's row heights from row 0; `groups` the rows where a group begins
    (a målområde's first delmål, a heading), each running to the next; `repeated` the height
    of the header rows every page after the first repeats. A group starts on a new page when
    it does not fit on what is left of the page but would fit on a page of its own; a longer
    group starts on a new page unless at least its first `lead` rows fit. So no heading is left
    alone at the bottom of a page. Other breaks fall where the page is full.
    """
    starts = sorted(set(groups))
    ends = dict(zip(starts, [*starts[1:], len(heights)], strict=True))
    breaks: list[int] = []
    used = 0.0
    for row, height in enumerate(heights):
        wanted = height
        if row in ends:
            whole = sum(heights[row : ends[row]])
            wanted = whole if whole <= room - repeated else sum(heights[row : min(ends[row], row + lead)])
        if used + wanted > room and used > repeated:
            breaks.append(row)
            used = repeated
        used += height
    return breaks


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
    heights = [DEFAULT_ROW_HEIGHT]
    for row, area, goal in rows:
        ws.write_string(row, 0, goal.id, fmt.plan_text)
        ws.write_string(row, 1, area.label, fmt.plan_text)
        ws.write_string(row, 2, goal.text, fmt.plan_text)
        heights.append(row_height([(area.label, widths[1]), (goal.text, widths[2])]))
        ws.set_row(row, heights[row])
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
    # Each målområde starts where its first delmål is: it begins a page rather than end one.
    firsts = [row for row, area, goal in rows if goal is area.goals[0]]
    scale = print_scale(widths)
    _print_setup(ws, (0, 0), scale)
    ws.set_h_pagebreaks(page_breaks(heights, firsts, page_room(scale), repeated=heights[0]))
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
            "minimum": FIRST_DATE,
            "maximum": LAST_DATE,
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
    cell_format = {name: fmt.input_text for name in TEXT_FORMAT_COLUMNS}
    cell_format |= {
        c.ACTION_ID: fmt.input_id,
        c.START: fmt.input_date,
        c.DONE: fmt.input_date,
        c.COST: fmt.input_money,
    }
    widths = action_widths()
    # The input format is also the column's own, so rows typed below the prepared ones are
    # unlocked and styled too.
    for col, name in enumerate(columns):
        ws.set_column(col, col, widths[name], cell_format.get(name, fmt.input))
        ws.write_string(0, col, name, fmt.header)
    ws.set_row(0, max(30, row_height([(name, widths[name] / BOLD_WIDTH) for name in columns])))
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
    # Excel flags a number typed into a text cell ("40", "1 500") with a green triangle and
    # offers to convert it: exactly what the text format is there to prevent.
    text_ranges = [
        xl_range(1, col, validated, col) for col, name in enumerate(columns) if name in TEXT_FORMAT_COLUMNS
    ]
    ws.ignore_errors({"number_stored_as_text": " ".join(text_ranges)})
    ws.autofilter(0, 0, validated, len(columns) - 1)
    _print_setup(ws, (0, 0))
    _protect(ws)


def action_widths() -> dict[str, float]:
    """Returns the width of each Åtgärder column: wide enough for its header and list values.

    A header wraps only between words, so its longest word fits; a dropdown column fits its
    longest value ("Externa projektmedel") and the dropdown button beside it.
    """
    widths: dict[str, float] = {}
    for name in c.ACTION_COLUMNS:
        longest_word = max(len(word) for word in name.split())
        values = LIST_COLUMNS.get(name, ())
        longest_value = max((len(value) for value in values), default=0)
        widths[name] = max(
            COLUMN_WIDTHS[name],
            math.ceil(longest_word * BOLD_WIDTH) + 1,
            longest_value + DROPDOWN_ROOM if values else 0,
        )
    return widths


def _last_row(options: TemplateOptions) -> int:
    """Returns the last prepared row of Åtgärder: room for 50 new actions below the carried ones."""
    return max(options.prepared_rows, len(options.carried_actions) + 50)


def _carried_rows(plan: Plan, options: TemplateOptions) -> list[tuple[float, list[Any]]]:
    """Returns the pre-filled rows of Åtgärder: each row's height and its values by column.

    A carried delmål id is shown as its dropdown item; the height fits what is shown.
    """
    goal_labels = {g.id: goal_label(g) for g in plan.goals}
    goal = c.ACTION_COLUMNS.index(c.GOAL)
    sizes = action_widths()
    widths = [sizes[name] for name in c.ACTION_COLUMNS]
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
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, value, style)
    else:
        ws.write_number(row, col, value, style)


def _cell_value(value: Any) -> Any:
    """Returns what a cell holds for `value`: None (blank), a string, a date or a finite number.

    A number that is not finite (NaN, inf) is blank: no workbook can hold it.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value == "":
        return None
    if isinstance(value, dt.datetime | dt.date):
        return _cell_date(value)
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, int | float):
        return value
    return str(value)


def _cell_date(value: dt.date | dt.datetime) -> dt.date:
    """Returns what a date cell is written from: a date, or a datetime with a time of day.

    A datetime at midnight becomes its date: xlsxwriter writes datetime(1900, 1, 1) as the
    time 00:00 (serial 0), which reads back as no date; the date 1900-01-01 as day 1.
    """
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() and value.tzinfo is None else value
    return value


def carried_over(
    plan: Plan,
    year: int,
    previous_actions: Any,
    previous_concerns: Any,
    base: TemplateOptions | None = None,
    *,
    contacts: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, TemplateOptions]:
    """Returns template options per förvaltning, pre-filled from last year's handlingsplan.

    Carries each förvaltning's actions that are neither Genomförd nor Avbruten, with their
    Åtgärds-ID so the follow-up can track them, and its Berör oss answers. Frames are
    consolidated tables (see pipeline.combine); either may be None. `contacts` maps a
    förvaltning's code to (contact person, e-mail) from its accepted submission last year;
    a förvaltning not in it keeps `base`'s (empty unless given).
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
    contacts = contacts or {}
    options = {}
    for code in plan.department_codes:
        name, email = contacts.get(code, (base.contact, base.email))
        options[code] = replace(
            base,
            year=year,
            carried_actions=tuple(actions_by_code.get(code, ())),
            concerns=concerns_by_code.get(code, {}),
            contact=(name or "").strip(),
            email=(email or "").strip(),
        )
    return options


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    return value


# --- what was issued ---------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A year's templates as issued: what `send templates` attaches and what reminders say.

    Kept as outbox/<år>/mallar/mallar.json beside the templates.
    """

    year: int
    deadline: dt.date | None
    return_to: str
    files: Mapping[str, str]
    """Förvaltning code → the template's file name in the same folder."""
    carried: Mapping[str, int] = field(default_factory=dict)
    """Förvaltning code → how many of last year's actions its template carries."""


def write_issued(target: Path, jobs: Sequence[TemplateJob]) -> Path:
    """Writes mallar.json for the templates of `jobs` (one year's), atomically."""
    first = jobs[0].options
    payload = {
        "year": first.year,
        "deadline": first.deadline.isoformat() if first.deadline else None,
        "return_to": first.return_to,
        "files": {job.code: job.target.name for job in jobs},
        "carried": {job.code: len(job.options.carried_actions) for job in jobs},
    }
    return write_text_atomic(target, json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def read_issued(source: Path) -> Issued | None:
    """Returns what mallar.json says, or None when it is missing or cannot be read (logged)."""
    if not source.is_file():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        deadline = data.get("deadline")
        return Issued(
            year=int(data["year"]),
            deadline=dt.date.fromisoformat(deadline) if deadline else None,
            return_to=str(data.get("return_to") or RETURN_TO_DEFAULT),
            files={str(k): str(v) for k, v in dict(data["files"]).items()},
            carried={str(k): int(v) for k, v in dict(data.get("carried") or {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s kunde inte läsas (%s)", source, exc)
        return None
