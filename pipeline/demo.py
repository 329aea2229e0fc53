"""Realistic example submissions, filled into the real templates the way a person would.

`handlingsplan demo` drops these into a fresh inbox: four of the five förvaltningar
answer, one of them with mistakes that get rejected, so a newcomer sees the whole cycle.
The tests use the same examples.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl

from pipeline import contract as c
from pipeline.config import Settings, default_plan_file
from pipeline.plan import Plan, load_plan
from pipeline.template import TemplateOptions, write_template

D = dt.datetime


def _action(goal: str | float, action: str, owner: str, start: D, done: D, cost: Any, funding: str | None,
            partners: str | None, indicator: str | None, target: str | None, status: str,
            outcome: str | None = None, comment: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        c.GOAL: goal, c.ACTION: action, c.OWNER: owner, c.START: start, c.DONE: done, c.COST: cost,
        c.FUNDING: funding, c.PARTNERS: partners, c.INDICATOR: indicator, c.TARGET: target,
        c.STATUS: status, c.OUTCOME: outcome, c.COMMENT: comment,
    }  # fmt: skip


def example_submissions(year: int) -> dict[str, dict[str, Any]]:
    """Returns the example answers per förvaltning code: contact, Berör oss and actions.

    SOC, UTB and FoK are well filled; KS has typical mistakes (a status typed by hand, a
    cost with words, a date in the wrong order) and is rejected; SBF has not answered.
    """
    y = year
    return {
        "SOC": {
            "contact": ("Maria Lindqvist", "maria.lindqvist@kalix.se"),
            "concerns": {
                "1.1": "Ja",
                "1.2": "Ja",
                "1.3": "Ja",
                "1.4": "Ja",
                "2.5": "Ja",
                "5.3": "Ja",
                "5.4": "Ja",
                "5.5": "Ja",
                "4.4": "Nej",
            },
            "actions": [
                _action(
                    "1.1 Introduktionen",
                    "Individuell etableringsplan för alla nyanlända inom 30 dagar",
                    "Enhetschef IAE",
                    D(y, 1, 15),
                    D(y, 12, 31),
                    120000,
                    "Statlig ersättning",
                    "Arbetsförmedlingen",
                    "Andel med plan inom 30 dagar",
                    "90 %",
                    c.IN_PROGRESS,
                ),
                _action(
                    "1.2",
                    "Samverkansrutin för traumavård med Region Norrbotten",
                    "Socialchef",
                    D(y, 2, 1),
                    D(y, 2, 20),
                    0,
                    "Ordinarie budget",
                    "Region Norrbotten",
                    "Rutin antagen",
                    "Antagen",
                    c.IN_PROGRESS,
                    comment="Väntar på regionens svar",
                ),
                _action(
                    "1.3",
                    "Språkcafé för kvinnor med barnpassning",
                    "Integrationssamordnare",
                    D(y, 1, 10),
                    D(y, 12, 15),
                    45000,
                    "Integrationsfond",
                    "Röda Korset, Kalix bibliotek",
                    "Antal deltagare per termin",
                    "40",
                    c.IN_PROGRESS,
                ),
                _action(
                    "1.4",
                    "Samhällsinformation på arabiska, dari och tigrinja varje kvartal",
                    "Integrationssamordnare",
                    D(y, 1, 1),
                    D(y, 12, 31),
                    30000,
                    "Statlig ersättning",
                    "Studieförbundet Vuxenskolan",
                    "Antal tillfällen",
                    "4",
                    c.COMPLETED,
                    outcome="4 tillfällen, 85 deltagare",
                ),
                _action(
                    "2.5",
                    "Vänfamiljer: rekrytering och matchning",
                    "Fältsekreterare",
                    D(y, 3, 1),
                    D(y, 11, 30),
                    15000,
                    "Integrationsfond",
                    "Svenska kyrkan",
                    "Antal matchade familjer",
                    "15",
                    c.NOT_STARTED,
                ),
                _action(
                    "5.3",
                    "Rekrytera personal med språkkompetens till äldreomsorgen",
                    "Enhetschef äldreomsorg",
                    D(y, 1, 1),
                    D(y, 6, 30),
                    None,
                    "Ordinarie budget",
                    None,
                    None,
                    None,
                    c.DELAYED,
                    comment="Få sökande",
                ),
                _action(
                    "5.5",
                    "Stödsamtal för anhörigvårdare med tolk",
                    "Anhörigkonsulent",
                    D(y, 2, 1),
                    D(y, 12, 31),
                    20000,
                    "Ordinarie budget",
                    "Tolkförmedling Norr",
                    "Antal samtal",
                    "30",
                    c.IN_PROGRESS,
                ),
            ],
        },
        "UTB": {
            "contact": ("Erik Nilsson", "erik.nilsson@kalix.se"),
            "concerns": {
                "3.1": "Ja",
                "3.2": "Ja",
                "3.3": "Ja",
                "3.4": "Ja",
                "5.1": "Ja",
                "5.2": "Ja",
                "1.5": "Ja",
            },
            "actions": [
                _action(
                    "3.1",
                    "SFI med flexibel studietakt och distansundervisning",
                    "Rektor Vuxenutbildningen",
                    D(y, 1, 8),
                    D(y, 12, 20),
                    250000,
                    "Statlig ersättning",
                    None,
                    "Andel godkända kurser",
                    "75 %",
                    c.IN_PROGRESS,
                ),
                _action(
                    "3.2",
                    "SFI kombinerad med praktik inom vård och omsorg",
                    "Studie- och yrkesvägledare",
                    D(y, 2, 1),
                    D(y, 9, 30),
                    "85 000 kr",
                    "Externa projektmedel",
                    "Arbetsförmedlingen, Socialförvaltningen",
                    "Antal deltagare i praktik",
                    "20",
                    c.IN_PROGRESS,
                ),
                _action(
                    3.3,
                    "Läxhjälp och språkstöd i grundskolan",
                    "Rektor Furuhedsskolan",
                    D(y, 1, 8),
                    D(y, 6, 15),
                    60000,
                    "Ordinarie budget",
                    "Föreningen Läxhjälpen",
                    "Antal elever",
                    "35",
                    c.COMPLETED,
                    outcome="41 elever",
                ),
                _action(
                    "3.4",
                    "Modersmålsundervisning i sju språk",
                    "Modersmålssamordnare",
                    D(y, 1, 8),
                    D(y, 12, 20),
                    400000,
                    "Ordinarie budget",
                    None,
                    "Antal elever med modersmål",
                    "120",
                    c.IN_PROGRESS,
                ),
                _action(
                    "5.2",
                    "Föräldraträffar med tolk inför skolstart",
                    "Förskolechef",
                    D(y, 8, 1),
                    D(y, 9, 15),
                    12000,
                    "Ordinarie budget",
                    None,
                    "Andel föräldrar som deltar",
                    "70 %",
                    c.NOT_STARTED,
                ),
                _action(
                    "1.5",
                    "Yrkesutbildning barnskötare med språkstöd",
                    "Rektor Vuxenutbildningen",
                    D(y, 1, 15),
                    D(y, 2, 25),
                    180000,
                    "Externa projektmedel",
                    "Arbetsförmedlingen",
                    "Antal som fått arbete",
                    "10",
                    c.IN_PROGRESS,
                ),
            ],
        },
        "FoK": {
            "contact": ("Sara Berg", "sara.berg@kalix.se"),
            "concerns": {"2.1": "Ja", "2.2": "Ja", "2.3": "Ja", "2.4": "Ja", "5.1": "Ja"},
            "actions": [
                _action(
                    "2.1",
                    "Öppen fritidsgård med tjejkvällar och samråd med unga",
                    "Fritidsgårdsföreståndare",
                    D(y, 1, 15),
                    D(y, 12, 15),
                    25000,
                    "Ordinarie budget",
                    "Ungdomsrådet",
                    "Antal besök",
                    "1 500",
                    c.IN_PROGRESS,
                ),
                _action(
                    "2.2",
                    "Prova-på-dagar i idrottsföreningar",
                    "Fritidskonsulent",
                    D(y, 4, 1),
                    D(y, 9, 30),
                    40000,
                    "Integrationsfond",
                    "Kalix IK, Kalix Simsällskap",
                    "Antal deltagare",
                    "200",
                    c.NOT_STARTED,
                ),
                _action(
                    "2.3",
                    "Föreningsbidrag med integrationstillägg",
                    "Kultur- och fritidschef",
                    D(y, 1, 1),
                    D(y, 12, 31),
                    100000,
                    "Ordinarie budget",
                    None,
                    "Antal föreningar med tillägg",
                    "8",
                    c.IN_PROGRESS,
                ),
                _action(
                    "2.4",
                    "Integrationsstipendium delas ut vid nationaldagsfirandet",
                    "Kultur- och fritidschef",
                    D(y, 3, 1),
                    D(y, 6, 6),
                    10000,
                    "Ordinarie budget",
                    None,
                    "Stipendium utdelat",
                    "1",
                    c.COMPLETED,
                    outcome="Utdelat till Kalix FF",
                ),
                _action(
                    "5.1",
                    "Bokcirklar på lättläst svenska på biblioteket",
                    "Bibliotekarie",
                    D(y, 1, 15),
                    D(y, 11, 30),
                    8000,
                    "Ordinarie budget",
                    "ABF",
                    None,
                    None,
                    c.CANCELLED,
                    comment="Ersatt av språkcafé (SOC)",
                ),
            ],
        },
        "KS": {
            "contact": ("Johan Ek", "johan.ek@kalix.se"),
            "concerns": {"1.6": "Ja", "1.7": "Ja", "6.1": "Ja", "6.2": "Ja", "6.4": "Ja"},
            "actions": [
                _action(
                    "1.6",
                    "Utbildning om mångfald för chefer",
                    "HR-chef",
                    D(y, 2, 1),
                    D(y, 11, 30),
                    "ca 50000 kr",
                    "Ordinarie budget",
                    None,
                    "Antal utbildade chefer",
                    "60",
                    "Klar",
                ),
                _action(
                    "6.1",
                    "Mångfaldsmål i rekryteringsprocessen",
                    "HR-chef",
                    D(y, 6, 1),
                    D(y, 3, 1),
                    0,
                    "Ordinarie budget",
                    None,
                    "Andel annonser med mångfaldstext",
                    "100 %",
                    c.IN_PROGRESS,
                ),
                _action(
                    "6.4",
                    "Praktikplatser för nyanlända i kommunens verksamheter",
                    "Arbetsmarknadschef",
                    D(y, 1, 1),
                    D(y, 12, 31),
                    300000,
                    "Statlig ersättning",
                    "Arbetsförmedlingen",
                    "Antal praktikplatser",
                    "25",
                    c.IN_PROGRESS,
                ),
            ],
        },
    }


def fill_template(
    template: Path,
    target: Path,
    *,
    actions: Sequence[Mapping[str, Any]] = (),
    concerns: Mapping[str, str] | None = None,
    contact: tuple[str | None, str | None] = ("Anna Andersson", "anna.andersson@kalix.se"),
    first_row: int = 2,
) -> Path:
    """Fills a template as a person would (cell by cell, openpyxl) and saves it as `target`.

    `actions` rows are written from `first_row` down, by header name; values are typed as
    given (a str stays text, a datetime becomes an Excel date).
    """
    wb = openpyxl.load_workbook(template)
    _fill_contact(wb[c.SHEET_INSTRUCTIONS], contact)
    goals = wb[c.SHEET_GOALS]
    goal_cols = _header_columns(goals)
    for row in range(2, goals.max_row + 1):
        goal_id = goals.cell(row, goal_cols[c.GOAL_ID]).value
        if concerns and isinstance(goal_id, str) and goal_id in concerns:
            goals.cell(row, goal_cols[c.CONCERNS_US]).value = concerns[goal_id]
    sheet = wb[c.SHEET_ACTIONS]
    columns = _header_columns(sheet)
    for offset, action in enumerate(actions):
        for name, value in action.items():
            sheet.cell(first_row + offset, columns[name]).value = value
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def _header_columns(ws: Any) -> dict[str, int]:
    return {cell.value: cell.column for cell in ws[1] if cell.value}


def _fill_contact(ws: Any, contact: tuple[str | None, str | None]) -> None:
    labels = {c.CONTACT_LABEL: contact[0], c.EMAIL_LABEL: contact[1]}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value in labels and labels[cell.value] is not None:
                ws.cell(cell.row, cell.column + 1).value = labels[cell.value]


def write_example_inbox(
    plan: Plan, year: int, inbox: Path, templates_dir: Path, mtime: float | None = None
) -> list[Path]:
    """Fills the real templates with the examples and drops them in `inbox`; returns the files.

    Files get a fixed modification time in the past (15 November the year before, unless
    given), so a demo run processes them at once and reproducibly.
    """
    stamp = mtime if mtime is not None else dt.datetime(year - 1, 11, 15, 9, 0, tzinfo=dt.UTC).timestamp()
    written = []
    for code, example in example_submissions(year).items():
        if code not in plan.department_codes:
            continue
        template = write_template(
            plan,
            plan.department(code),
            TemplateOptions(year=year),
            templates_dir / Settings().template_file(year, code).name,
        )
        target = inbox / f"{code} handlingsplan {year}.xlsx"
        fill_template(
            template,
            target,
            actions=example["actions"],
            concerns=example["concerns"],
            contact=example["contact"],
        )
        os.utime(target, (stamp, stamp))
        written.append(target)
    return written


def prepare_demo(folder: Path, year: int, marker: str, plan_file: Path | None = None) -> tuple[Path, Path]:
    """Returns (inbox, outbox) of a fresh demo folder with the example submissions in the inbox.

    A folder from an earlier demo (it carries `marker`) is emptied; any other non-empty
    folder is refused with FileExistsError, so a demo never deletes a user's files.
    """
    if folder.exists() and any(folder.iterdir()):
        if not (folder / marker).is_file():
            raise FileExistsError(
                f"Mappen {folder} finns redan och är inte en demomapp. Välj en annan med --dir."
            )
        shutil.rmtree(folder)
    inbox, outbox = folder / "inbox", folder / "outbox"
    inbox.mkdir(parents=True)
    (folder / marker).write_text("Skapad av handlingsplan demo; töms vid nästa demo.\n", encoding="utf-8")
    write_example_inbox(load_plan(plan_file or default_plan_file()), year, inbox, folder / "mallar-exempel")
    return inbox, outbox
