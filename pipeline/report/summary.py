"""The summary for Kommunstyrelsen's meeting: one HTML file and one Markdown file per year.

Both are rendered from the same context, in plain Swedish, with the figures written out in
sentences. The same `Consolidated` always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from pipeline import combine as k
from pipeline import contract as c
from pipeline.config import jinja_templates_dir
from pipeline.files import write_text_atomic
from pipeline.plan import Plan
from pipeline.report.charts import matrix_heatmap_svg, status_bars_svg
from pipeline.text import (
    count_phrase,
    department_label,
    display_time,
    markdown_escape,
    percent,
    visible,
    without_place,
)

HTML_TEMPLATE = "sammanfattning.html.j2"
MARKDOWN_TEMPLATE = "sammanfattning.md.j2"
SHORT_TEXT = 90
MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)
OVERDUE = "Klart-datum passerat, ej avslutad"
"""The computed fact: Klart is before the as-of date and the status is neither Genomförd nor
Avbruten. Never called "försenad", which is a status the förvaltning reports."""
REPORTED_DELAYED = f"Rapporterad status {c.DELAYED}"
"""The count of actions the förvaltningar themselves report as Försenad."""
# Status → (singular, plural) as written in a sentence: "1 genomförd", "3 försenade".
STATUS_WORDS = {
    c.NOT_STARTED: ("ej påbörjad", "ej påbörjade"),
    c.IN_PROGRESS: ("pågår", "pågår"),
    c.COMPLETED: ("genomförd", "genomförda"),
    c.DELAYED: ("försenad", "försenade"),
    c.CANCELLED: ("avbruten", "avbrutna"),
}


@dataclass(frozen=True)
class ActionRow:
    """One action as the summary lists it; every field already formatted as text."""

    department: str
    action_id: str
    goal: str
    action: str
    done: str
    status: str


@dataclass(frozen=True)
class GoalRow:
    """A delmål: its id and its text shortened for a list."""

    id: str
    text: str


@dataclass(frozen=True)
class AreaSection:
    """What the summary says about one målområde."""

    label: str
    actions: int
    sentence: str
    goals_without_action: tuple[GoalRow, ...]
    overdue: tuple[ActionRow, ...]


@dataclass(frozen=True)
class ChangeList:
    """One kind of year-over-year change: its heading and the actions it concerns."""

    heading: str
    rows: tuple[dict[str, str], ...]


def write_summary(consolidated: k.Consolidated, html_path: Path, markdown_path: Path) -> tuple[Path, Path]:
    """Returns (`html_path`, `markdown_path`), the summary written atomically to both.

    The HTML is one self-contained page that also prints well on A4; the Markdown has the
    same content in text form.
    """
    context = summary_context(consolidated)
    html = write_text_atomic(html_path, _render(HTML_TEMPLATE, context))
    markdown = write_text_atomic(markdown_path, _render(MARKDOWN_TEMPLATE, context))
    return html, markdown


def summary_context(consolidated: k.Consolidated) -> dict[str, object]:
    """Returns everything the summary templates show, formatted; the charts as safe SVG markup."""
    plan = consolidated.plan
    figures = k.figures(consolidated)
    status_frame = k.status_by_area(consolidated)
    matrix = k.responsibility_matrix(consolidated)
    reported_delayed = int(status_frame[c.DELAYED].loc[k.TOTAL])
    matrix_groups = _matrix_groups(matrix, plan)
    return {
        "title": f"Sammanfattning: handlingsplan för integration {consolidated.year}",
        "year": consolidated.year,
        "as_of": format_date_long(consolidated.as_of),
        "municipality": plan.municipality,
        "plan_name": plan.name,
        "adopted": plan.adopted,
        "submitted_sentence": submitted_sentence(figures.departments_submitted, figures.departments_total),
        "key_sentences": _decision_sentences(consolidated)
        + _key_sentences(figures, reported_delayed, len(plan.goals)),
        "key_figures": _key_figures(figures, reported_delayed, len(plan.goals)),
        "status_columns": list(c.STATUSES),
        "status_rows": _status_rows(status_frame),
        "status_chart": Markup(  # built escaped
            status_bars_svg(status_frame, description=_status_description(status_frame))
        ),
        "areas": _area_sections(consolidated),
        "dropped": _dropped(consolidated),
        "missing": _missing(consolidated),
        "rejections": [_rejection(r, consolidated) for r in _attributed(consolidated.rejections)],
        "department_codes": list(plan.department_codes),
        "department_names": [(d.code, d.name) for d in plan.departments],
        "overdue_heading": OVERDUE,
        "matrix_chart": Markup(
            matrix_heatmap_svg(
                matrix,
                plan,
                description=_matrix_description(matrix, bool(matrix_groups)),
            )
        ),
        "matrix_rows": _matrix_rows(matrix),
        "matrix_groups": matrix_groups,
        "changes": _changes(consolidated.changes, consolidated),
    }


def submitted_sentence(submitted: int, total: int) -> str:
    """Returns "3 av 5 förvaltningar har lämnat in", or "Alla 5 förvaltningar har lämnat in"."""
    if total and submitted >= total:
        return f"Alla {total} förvaltningar har lämnat in"
    return f"{submitted} av {total} förvaltningar har lämnat in"


NOT_SUMMABLE = "kan inte summeras"
"""Said of a total cost too large for a number (see `pipeline.combine.cost_sum`)."""


def format_kronor(amount: float) -> str:
    """Returns an amount in whole kronor with spaces between thousands: "1 400 000 kr";
    NOT_SUMMABLE for a sum that is not a finite number."""
    if not math.isfinite(amount):
        return NOT_SUMMABLE
    return f"{round(amount):,} kr".replace(",", " ")


def format_percent(share: float) -> str:
    """Returns a share 0–1 as a whole Swedish percentage: 0.1667 → "17 %" (no-break space)."""
    return percent(share)


def format_date_long(day: dt.date) -> str:
    """Returns a date written out in Swedish: "1 mars 2027"."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def format_date(value: object) -> str:
    """Returns a date as "2027-02-20", or "" when there is none."""
    return value.isoformat() if isinstance(value, dt.date) else ""


def status_counts_in_words(counts: Iterable[tuple[str, int]]) -> str:
    """Returns counts per status as a phrase: "3 pågår, 1 genomförd och 1 försenad"."""
    words = [count_phrase(n, *STATUS_WORDS[s]) for s, n in counts if n]
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} och {words[-1]}"


def decided_sentence(consolidated: k.Consolidated) -> str:
    """Returns "2 av 5 nämnder har beslutat sitt förslag i nämnd." (or "Ingen nämnd har …")."""
    decided = sum(1 for d in consolidated.departments if d.decided)
    total = len(consolidated.departments)
    if decided == 0:
        return "Ingen nämnd har ännu beslutat sitt förslag; de inlämnade handlingsplanerna är förslag."
    if decided == total:
        return f"Alla {total} nämnder har beslutat sina förslag."
    return f"{decided} av {total} nämnder har beslutat sitt förslag; övriga inlämnade handlingsplaner är förslag."


def _decision_sentences(consolidated: k.Consolidated) -> list[str]:
    """The nämnder's decisions and, once KS has adopted the plan, how far it has moved since."""
    sentences = [decided_sentence(consolidated)]
    if consolidated.adopted is not None:
        sentences.append(consolidated.adopted.sentence())
    return sentences


def _key_sentences(figures: k.Figures, reported_delayed: int, goals_total: int) -> list[str]:
    completed = "är genomförd" if figures.completed == 1 else "är genomförda"
    overdue = "avslutad" if figures.overdue == 1 else "avslutade"
    return [
        f"{submitted_sentence(figures.departments_submitted, figures.departments_total)}.",
        f"Tillsammans har de {count_phrase(figures.actions, 'åtgärd', 'åtgärder')} i handlingsplanen.",
        f"{count_phrase(figures.completed, 'åtgärd', 'åtgärder')} ({format_percent(figures.completed_share)}) "
        f"{completed} enligt förvaltningarna.",
        f"{count_phrase(figures.overdue, 'åtgärd', 'åtgärder')} har passerat sitt Klart-datum "
        f"utan att vara {overdue}.",
        f"Förvaltningarna har rapporterat status {c.DELAYED} för "
        f"{count_phrase(reported_delayed, 'åtgärd', 'åtgärder')}.",
        f"{figures.goals_without_action} av {count_phrase(goals_total, 'delmål', 'delmål')} saknar åtgärd.",
        f"Åtgärderna kostar totalt {format_kronor(figures.total_cost)}."
        if math.isfinite(figures.total_cost)
        else f"Åtgärdernas totala kostnad {NOT_SUMMABLE}: beloppen är för stora.",
    ]


def _key_figures(figures: k.Figures, reported_delayed: int, goals_total: int) -> list[tuple[str, str]]:
    return [
        (
            "Förvaltningar som har lämnat in",
            f"{figures.departments_submitted} av {figures.departments_total}",
        ),
        ("Åtgärder", str(figures.actions)),
        (
            f"Rapporterad status {c.COMPLETED}",
            f"{figures.completed} ({format_percent(figures.completed_share)})",
        ),
        (REPORTED_DELAYED, str(reported_delayed)),
        (OVERDUE, str(figures.overdue)),
        ("Delmål utan åtgärd", f"{figures.goals_without_action} av {goals_total}"),
        ("Total kostnad", format_kronor(figures.total_cost)),
    ]


def _status_rows(frame: pd.DataFrame) -> list[tuple[str, list[int], int]]:
    """Returns (målområde or Totalt, counts in status order, total) per row of the status frame."""
    rows = frame[[*c.STATUSES, k.TOTAL]].astype("int64").to_numpy().tolist()
    return [(str(label), numbers[:-1], numbers[-1]) for label, numbers in zip(frame.index, rows, strict=True)]


def _area_sections(consolidated: k.Consolidated) -> list[AreaSection]:
    overdue = k.overdue_actions(consolidated)
    without = k.goals_without_action(consolidated)
    sections = []
    for area in consolidated.plan.goal_areas:
        actions = consolidated.actions[consolidated.actions[k.AREA] == area.number]
        counts = [(s, int((actions[c.STATUS] == s).sum())) for s in c.STATUSES]
        sections.append(
            AreaSection(
                label=area.label,
                actions=len(actions),
                sentence=_area_sentence(len(actions), counts),
                goals_without_action=tuple(
                    GoalRow(g.id, shorten(g.text)) for g in without if g.area == area.number
                ),
                overdue=tuple(_action_rows(overdue[overdue[k.AREA] == area.number])),
            )
        )
    return sections


@dataclass(frozen=True)
class DroppedSection:
    """The actions whose delmål the plan no longer has: heading, warning line and the actions."""

    heading: str
    warning: str
    actions: tuple[ActionRow, ...]


def _dropped(consolidated: k.Consolidated) -> DroppedSection | None:
    actions = k.dropped_goal_actions(consolidated)
    if not len(actions):
        return None
    warning = k.dropped_goals_warning(consolidated)
    return DroppedSection(k.DROPPED_GOALS, warning, tuple(_action_rows(actions)))


def _area_sentence(total: int, counts: list[tuple[str, int]]) -> str:
    if not total:
        return "Inga åtgärder är planerade inom målområdet."
    return (
        f"{count_phrase(total, 'åtgärd', 'åtgärder')}, rapporterad status: {status_counts_in_words(counts)}."
    )


def shorten(text: str, limit: int = SHORT_TEXT) -> str:
    """Returns `text` on one line, cut at a word boundary with "…" when longer than `limit`."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.")
    return f"{cut}…"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _action_rows(frame: pd.DataFrame) -> list[ActionRow]:
    columns = (k.DEPARTMENT, c.ACTION_ID, c.GOAL, c.ACTION, c.DONE, c.STATUS)
    return [
        ActionRow(
            department=_text(department),
            action_id=_text(action_id),
            goal=_text(goal),
            action=_text(action),
            done=format_date(done),
            status=_text(status),
        )
        for department, action_id, goal, action, done, status in zip(
            *(frame[name].tolist() for name in columns), strict=True
        )
    ]


def _attributed(rejections: Iterable[k.Rejection]) -> list[k.Rejection]:
    """Returns the rejections of a known förvaltning: a file nobody can be asked about is the
    coordinator's business (the follow-up's Förvaltningar sheet), not the politicians'."""
    return [r for r in rejections if r.department]


def _missing(consolidated: k.Consolidated) -> list[str]:
    """Returns one line per förvaltning without an accepted submission: its name, and whether
    a file of it was rejected and still waits for a new one (only from the rejections given)."""
    rejected = {r.department for r in _attributed(consolidated.rejections)}
    note = " – lämnade in, men filen avvisades"
    return [
        f"{department_label(d.name, d.code)}{note if d.code in rejected else ''}"
        for d in k.missing_departments(consolidated)
    ]


def _rejection(rejection: k.Rejection, consolidated: k.Consolidated) -> dict[str, object]:
    names = {d.code: department_label(d.name, d.code) for d in consolidated.plan.departments}
    code = rejection.department or ""
    return {
        "file": rejection.file,
        "department": names.get(code, code),
        "received": display_time(rejection.received),
        "errors": count_phrase(rejection.errors, "fel", "fel"),
        "reasons": [first_sentence(without_place(reason)) for reason in rejection.reasons],
    }


def first_sentence(text: str) -> str:
    """Returns the first sentence of a message: what is wrong, without the advice that follows.

    A sentence ends at ". " before a capital letter, so "t.ex. 5000" does not end one.
    """
    for at in range(len(text) - 2):
        if text[at] == "." and text[at + 1] == " " and text[at + 2].isupper():
            return text[: at + 1]
    return text


EMPTY_CELL = "–"
"""A matrix cell without actions and without a Ja answer, as the tables write it."""


def _matrix_rows(frame: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Returns per delmål the matrix cells as text: "2", "1 (Ja)", "0 (Ja)" or "–".

    Args:
        frame: the frame of `pipeline.combine.responsibility_matrix`.
    """
    rows = []
    for goal_id, pairs in zip(frame.index, frame.to_numpy().tolist(), strict=True):
        cells = []
        for answer, actions in pairs:
            marked = " (Ja)" if answer == c.YES else ""
            cells.append(f"{actions}{marked}" if actions or marked else EMPTY_CELL)
        rows.append((str(goal_id), cells))
    return rows


@dataclass(frozen=True)
class MatrixGroup:
    """One målområde in the responsibility matrix's table: its label and its delmål's rows."""

    label: str
    rows: tuple[tuple[str, tuple[str, ...]], ...]


def _matrix_groups(frame: pd.DataFrame, plan: Plan) -> list[MatrixGroup]:
    """Returns the responsibility matrix as the HTML table shows it: per målområde (as in the
    chart, delmål the plan dropped last), the delmål where some förvaltning has an action or
    answered Ja, each with its cells as text (`_matrix_rows`). Empty rows and groups are left
    out: the chart shows them blank, and the målområde's section names its delmål without action.
    """
    rows = {goal_id: tuple(cells) for goal_id, cells in _matrix_rows(frame)}
    groups = [(area.label, [g.id for g in area.goals]) for area in plan.goal_areas]
    in_plan = {g.id for g in plan.goals}
    groups.append((k.DROPPED_GOALS, [goal_id for goal_id in rows if goal_id not in in_plan]))
    shown = []
    for label, goal_ids in groups:
        filled = tuple(
            (goal_id, rows[goal_id])
            for goal_id in goal_ids
            if goal_id in rows and any(cell != EMPTY_CELL for cell in rows[goal_id])
        )
        if filled:
            shown.append(MatrixGroup(label, filled))
    return shown


def _status_description(frame: pd.DataFrame) -> str:
    """Returns the status chart's description: what it draws and the totals per status."""
    totals = [(s, int(frame[s].loc[k.TOTAL])) for s in c.STATUSES]
    actions = int(frame[k.TOTAL].loc[k.TOTAL])
    counted = f": {status_counts_in_words(totals)}" if actions else ""
    return (
        "En liggande stapel per målområde, uppdelad efter den status förvaltningarna har rapporterat. "
        f"Totalt {count_phrase(actions, 'åtgärd', 'åtgärder')}{counted}. "
        "Siffrorna finns också i tabellen under diagrammet."
    )


def _matrix_description(frame: pd.DataFrame, tabled: bool) -> str:
    """Returns the matrix chart's description: what it draws, how many delmål have an action
    and, when the summary has the matrix's table (`tabled`), where it is."""
    with_action = sum(1 for pairs in frame.to_numpy().tolist() if any(int(actions) for _, actions in pairs))
    return (
        "Ett rutnät med en rad per delmål och en kolumn per förvaltning; varje ruta visar antalet "
        "åtgärder, och en ram med en prick att förvaltningen har svarat Ja på Berör oss. "
        f"{with_action} av {count_phrase(len(frame.index), 'delmål', 'delmål')} har minst en åtgärd."
        + (" Siffrorna finns också i tabellen ovanför diagrammet." if tabled else "")
    )


def _changes(changes: k.Changes | None, consolidated: k.Consolidated) -> dict[str, object] | None:
    if changes is None:
        return None
    names = {d.code: department_label(d.name, d.code) for d in consolidated.plan.departments}
    pending = [names.get(code, code) for code in changes.pending]
    lists = (
        ChangeList("Nya åtgärder", tuple(_change_rows(changes.new))),
        ChangeList("Genomförda sedan förra året", tuple(_change_rows(changes.finished))),
        ChangeList("Ändrad status", tuple(_change_rows(changes.status_changes))),
        ChangeList(
            "Försvunna åtgärder (fanns förra året, ej avslutade)", tuple(_change_rows(changes.disappeared))
        ),
    )
    return {
        "previous_year": changes.previous_year,
        "basis": changes.basis,
        "lists": lists,
        "pending": pending_sentence(pending),
    }


def pending_sentence(names: Sequence[str]) -> str:
    """Returns the one sentence about förvaltningar whose changes are not known yet, or ""."""
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} och {names[-1]}"
    return (
        f"{listed} har inte lämnat in i år, så {'dess' if len(names) == 1 else 'deras'} förändringar "
        "är inte kända ännu och finns inte med nedan."
    )


def _change_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    columns = (c.ACTION_ID, k.DEPARTMENT, c.GOAL, c.ACTION, k.BEFORE, k.NOW)
    return [
        {
            "action_id": _text(action_id),
            "department": _text(department),
            "goal": _text(goal),
            "action": _text(action),
            "before": _text(before) or "–",
            "now": _text(now) or "–",
        }
        for action_id, department, goal, action, before, now in zip(
            *(frame[name].tolist() for name in columns), strict=True
        )
    ]


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(jinja_templates_dir()),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_shown,
    )
    env.filters["md"] = lambda value: markdown_escape(visible(str(value), line_breaks=True))
    return env


def _shown(value: object) -> object:
    """Returns a text as the summary may show it: control, bidi and zero-width characters
    written visibly (`pipeline.text.visible`), so none can reorder or hide what a reader sees.

    The environment's `finalize`: every {{ … }} passes here, after its filters and before
    HTML escaping. Markup (the charts, escaped as they are built) and numbers pass as they are.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, line_breaks=True)
    return value


def _render(template: str, context: dict[str, object]) -> str:
    """Returns the rendered template; HTML is autoescaped, Markdown escapes with the `md` filter."""
    return _environment().get_template(template).render(context)
