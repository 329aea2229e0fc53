"""Charts for the summary as small, hand-made inline SVG: deterministic, scalable and printable.

Every number a chart shows is also written as text, and colours come with a pattern or a
text label, so the charts read in black and white too. All text is XML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from pipeline import contract as c
from pipeline.combine import DROPPED_GOALS, TOTAL
from pipeline.plan import Plan
from pipeline.text import visible

FONT = "Segoe UI, Calibri, Arial, sans-serif"
CHAR_WIDTH = 7.0  # approximate width of one character at 13 px, for layout only

# Status → (fill, text colour); Ej påbörjad is also hatched to tell it from Pågår.
STATUS_STYLE = {
    c.NOT_STARTED: ("url(#hp-hatch)", "#000000"),
    c.IN_PROGRESS: ("#F9A825", "#000000"),
    c.COMPLETED: ("#2E7D32", "#FFFFFF"),
    c.DELAYED: ("#C62828", "#FFFFFF"),
    c.CANCELLED: ("#9E9E9E", "#000000"),
}
NOT_STARTED_COLOUR = "#FDD835"

BAR_WIDTH = 600.0
BAR_HEIGHT = 24.0
LABEL_HEIGHT = 18.0
ROW_GAP = 12.0
MIN_SEGMENT_FOR_TEXT = 20.0

# Shades for 0, 1, 2 and 3+ actions in a matrix cell, with the text colour that reads on each.
MATRIX_SHADES = (
    ("#FFFFFF", "#000000"),
    ("#C6DBEF", "#000000"),
    ("#6BAED6", "#000000"),
    ("#2171B5", "#FFFFFF"),
)
CELL_WIDTH = 72.0
MARKED_WITHOUT_ACTION = "#F8D7D4"  # answered Ja but has no action: worth a question
CELL_HEIGHT = 22.0
ROW_LABEL_WIDTH = 56.0
AREA_ROW_HEIGHT = 24.0


def escape(text: object) -> str:
    """Returns `text` as a string safe inside SVG/XML text and attribute values, with control,
    bidi and zero-width characters written visibly (`pipeline.text.visible`)."""
    return html.escape(visible(str(text)), quote=True)


def status_bars_svg(status_by_area_frame: pd.DataFrame) -> str:
    """Returns a horizontal stacked bar per målområde, split by status, as an inline SVG string.

    Args:
        status_by_area_frame: the frame of `pipeline.combine.status_by_area`: målområde
            label × status counts; a TOTAL row and column are ignored.
    """
    frame = _without_totals(status_by_area_frame)
    statuses = [s for s in c.STATUSES if s in frame.columns]
    largest = max((int(frame.loc[label, statuses].sum()) for label in frame.index), default=0)
    scale = BAR_WIDTH / largest if largest else 0.0
    width = BAR_WIDTH + 110
    legend, legend_height = _status_legend(frame, statuses, width)
    parts = [legend]
    y = legend_height + 8
    rows = frame[statuses].astype("int64").to_numpy().tolist()
    for label, numbers in zip(frame.index, rows, strict=True):
        counts = list(zip(statuses, numbers, strict=True))
        parts.append(_text(0, y + 13, label, weight="bold"))
        parts.append(_bar(counts, y + LABEL_HEIGHT, scale))
        y += LABEL_HEIGHT + BAR_HEIGHT + ROW_GAP
    title = "Åtgärder per målområde och status"
    return _svg(width, y, title, [_hatch_pattern(), *parts])


def _without_totals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=[TOTAL], columns=[TOTAL], errors="ignore")


def _status_legend(frame: pd.DataFrame, statuses: Sequence[str], width: float) -> tuple[str, float]:
    """Returns the legend (swatch, status and total count) wrapped to `width`, and its height."""
    parts, x, y = [], 0.0, 0.0
    for status in statuses:
        label = f"{status} ({int(frame[status].sum())})"
        item_width = 22 + len(label) * CHAR_WIDTH + 18
        if x and x + item_width > width:
            x, y = 0.0, y + 22
        fill, _ = STATUS_STYLE[status]
        parts.append(_rect(x, y + 2, 16, 16, fill, stroke="#333333"))
        parts.append(_text(x + 22, y + 15, label))
        x += item_width
    return "".join(parts), y + 22


def _bar(counts: Sequence[tuple[str, int]], y: float, scale: float) -> str:
    """Returns one stacked bar with the count written in each wide enough segment and the total after it."""
    total = sum(n for _, n in counts)
    if not total:
        return _text(0, y + 17, "Inga åtgärder", fill="#555555", style="italic")
    parts, x = [], 0.0
    for status, number in counts:
        if not number:
            continue
        segment = number * scale
        fill, ink = STATUS_STYLE[status]
        parts.append(_rect(x, y, segment, BAR_HEIGHT, fill, stroke="#FFFFFF", tip=f"{status}: {number}"))
        if segment >= MIN_SEGMENT_FOR_TEXT:
            parts.append(_text(x + segment / 2, y + 17, number, anchor="middle", fill=ink, weight="bold"))
        x += segment
    noun = "åtgärd" if total == 1 else "åtgärder"
    parts.append(_text(x + 8, y + 17, f"{total} {noun}"))
    return "".join(parts)


def _hatch_pattern() -> str:
    return (
        '<defs><pattern id="hp-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{NOT_STARTED_COLOUR}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#FFFFFF" stroke-width="2.5"/>'
        "</pattern></defs>"
    )


def matrix_heatmap_svg(responsibility_matrix_frame: pd.DataFrame, plan: Plan) -> str:
    """Returns the responsibility matrix as an inline SVG heat map.

    Rows are the delmål ids, grouped under their målområde; columns the förvaltningar. A
    cell's shade and number give its count of actions; a thick frame and a dot mark that
    the förvaltning answered "Ja" on Berör oss.

    Args:
        responsibility_matrix_frame: the frame of `pipeline.combine.responsibility_matrix`,
            each cell a tuple (Berör oss answer, number of actions).
        plan: the plan, for the order and names of the målområden.
    """
    frame = responsibility_matrix_frame
    codes = [str(code) for code in frame.columns]
    by_goal = dict(zip(frame.index, frame.to_numpy().tolist(), strict=True))
    width = ROW_LABEL_WIDTH + CELL_WIDTH * len(codes) + 4
    legend, legend_height = _matrix_legend(max(width, 480.0))
    parts = [legend]
    y = legend_height + 6
    parts.extend(_column_header(code, ROW_LABEL_WIDTH + i * CELL_WIDTH, y) for i, code in enumerate(codes))
    y += 22
    groups = [(area.label, [(g.id, g.text) for g in area.goals]) for area in plan.goal_areas]
    in_plan = {g.id for g in plan.goals}
    dropped = [goal_id for goal_id in frame.index if goal_id not in in_plan]
    if dropped:  # delmål a revised plan dropped, still named by actions: a group of their own, last
        groups.append((DROPPED_GOALS, [(str(goal_id), "Finns inte längre i planen.") for goal_id in dropped]))
    for label, all_goals in groups:
        goals = [(goal_id, text) for goal_id, text in all_goals if goal_id in frame.index]
        if not goals:
            continue
        parts.append(_line(0, y + 2, width, y + 2))
        parts.append(_text(0, y + 17, label, weight="bold"))
        y += AREA_ROW_HEIGHT
        for goal_id, text in goals:
            parts.append(_tipped(_text(4, y + 15, goal_id), text))
            for i, (code, (answer, actions)) in enumerate(zip(codes, by_goal[goal_id], strict=True)):
                parts.append(_cell(ROW_LABEL_WIDTH + i * CELL_WIDTH, y, answer, int(actions), goal_id, code))
            y += CELL_HEIGHT
    title = "Ansvarsmatris: antal åtgärder per delmål och förvaltning"
    return _svg(max(width, 480.0), y + 4, title, parts)


def _matrix_legend(width: float) -> tuple[str, float]:
    parts, x = [], 0.0
    for number, label in ((1, "1"), (2, "2"), (3, "3 eller fler")):
        fill, ink = MATRIX_SHADES[number]
        parts.append(_rect(x, 2, 22, 16, fill, stroke="#999999"))
        parts.append(_text(x + 11, 15, number, anchor="middle", fill=ink, size=11))
        parts.append(_text(x + 28, 15, f"{label} åtgärd{'er' if number > 1 else ''}"))
        x += 28 + (len(label) + 9) * CHAR_WIDTH
    parts.append(_text(0, 40, "Siffran är antal åtgärder."))
    parts.append(_rect(0, 50, 22, 16, "#FFFFFF", stroke="#000000", stroke_width=2.5))
    parts.append('<circle cx="17" cy="55" r="2.5" fill="#000000"/>')
    parts.append(_text(28, 63, "Ram och prick: förvaltningen har svarat Ja på Berör oss."))
    parts.append(_rect(0, 74, 22, 16, MARKED_WITHOUT_ACTION, stroke="#000000", stroke_width=2.5))
    parts.append(_text(11, 87, 0, anchor="middle", size=11, weight="bold"))
    parts.append(_text(28, 87, "Rosa med 0: svarat Ja, men ingen åtgärd ännu."))
    del width  # the legend is short enough for any matrix width
    return "".join(parts), 96


def _column_header(code: str, x: float, y: float) -> str:
    return _text(x + CELL_WIDTH / 2, y + 15, code, anchor="middle", weight="bold")


def _cell(x: float, y: float, answer: object, actions: int, goal_id: str, code: str) -> str:
    fill, ink = MATRIX_SHADES[min(actions, len(MATRIX_SHADES) - 1)]
    marked = answer == c.YES
    if marked and not actions:
        fill = MARKED_WITHOUT_ACTION
    tip = f"Delmål {goal_id}, {code}: {actions} åtgärd{'er' if actions != 1 else ''}"
    tip += "; svarat Ja på Berör oss" if marked else ""
    parts = [_rect(x + 1, y + 1, CELL_WIDTH - 2, CELL_HEIGHT - 2, fill, stroke="#BBBBBB", tip=tip)]
    if marked:
        parts.append(
            _rect(
                x + 2.5, y + 2.5, CELL_WIDTH - 5, CELL_HEIGHT - 5, "none", stroke="#000000", stroke_width=2.5
            )
        )
        parts.append(f'<circle cx="{x + CELL_WIDTH - 9:g}" cy="{y + 7:g}" r="2.5" fill="{ink}"/>')
    if actions or marked:
        parts.append(_text(x + CELL_WIDTH / 2, y + 15, actions, anchor="middle", fill=ink, weight="bold"))
    return "".join(parts)


# SVG building blocks; every text and attribute value passes through `escape`.


def _svg(width: float, height: float, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" role="img" aria-label="{escape(title)}" '
        f'font-family="{escape(FONT)}" font-size="13">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def _text(
    x: float,
    y: float,
    text: object,
    *,
    anchor: str = "start",
    fill: str = "#1A1A1A",
    weight: str = "normal",
    style: str = "normal",
    size: int = 13,
) -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" fill="{fill}" font-weight="{weight}" '
        f'font-style="{style}" font-size="{size}">{escape(text)}</text>'
    )


def _rect(
    x: float,
    y: float,
    width: float,
    height: float,
    fill: str,
    *,
    stroke: str = "none",
    stroke_width: float = 1.0,
    tip: str | None = None,
) -> str:
    rect = (
        f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{height:g}" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{stroke_width:g}"'
    )
    return f"{rect}><title>{escape(tip)}</title></rect>" if tip else f"{rect}/>"


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#888888" stroke-width="1"/>'


def _tipped(element: str, tip: str) -> str:
    return f"<g><title>{escape(tip)}</title>{element}</g>"
