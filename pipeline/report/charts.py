"""Charts for the summary as small, hand-made inline SVG: deterministic, scalable and printable.

Every number a chart shows is also written as text, and colours come with a pattern or a
text label, so the charts read in black and white too. Each chart is an image to assistive
technology (`role="img"`), named by its `<title>` and described by its `<desc>`; the summary
also gives its numbers as a table. All text is XML-escaped.
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

INK = "#1A1A1A"
"""Text and outlines: 17:1 against white."""
PLAIN = "enfargad"
"""The one status drawn in its colour alone; every other has a pattern over its colour."""
# Status → (colour, pattern over it): the pattern tells the statuses apart without colour
# (and in black and white); the bars' numbers stand on a white label, so any fill will do.
STATUS_STYLE = {
    c.NOT_STARTED: ("#FDD835", "randig"),
    c.IN_PROGRESS: ("#F9A825", "prickig"),
    c.COMPLETED: ("#2E7D32", PLAIN),
    c.DELAYED: ("#C62828", "rutig"),
    c.CANCELLED: ("#9E9E9E", "struken"),
}
PATTERN_SIZE = 6
STATUS_CHART = "statusdiagram"
MATRIX_CHART = "matrisdiagram"
"""The charts' ids on the summary's page: each names its chart's title, description and patterns."""

BAR_WIDTH = 600.0
BAR_HEIGHT = 24.0
LABEL_HEIGHT = 18.0
ROW_GAP = 12.0
NUMBER_HEIGHT = 16.0
DIGIT_WIDTH = 8.0  # one digit at 13 px bold, for the number's label

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


def status_bars_svg(
    status_by_area_frame: pd.DataFrame, *, chart_id: str = STATUS_CHART, description: str = ""
) -> str:
    """Returns a horizontal stacked bar per målområde, split by status, as an inline SVG string.

    Args:
        status_by_area_frame: the frame of `pipeline.combine.status_by_area`: målområde
            label × status counts; a TOTAL row and column are ignored.
        chart_id: unique on the page; names the chart's title, description and patterns.
        description: what the chart shows, in words (its `<desc>`); none when empty.
    """
    frame = _without_totals(status_by_area_frame)
    statuses = [s for s in c.STATUSES if s in frame.columns]
    largest = max((int(frame.loc[label, statuses].sum()) for label in frame.index), default=0)
    scale = BAR_WIDTH / largest if largest else 0.0
    width = BAR_WIDTH + 110
    legend, legend_height = _status_legend(frame, statuses, width, chart_id)
    parts = [legend]
    y = legend_height + 8
    rows = frame[statuses].astype("int64").to_numpy().tolist()
    for label, numbers in zip(frame.index, rows, strict=True):
        counts = list(zip(statuses, numbers, strict=True))
        parts.append(_text(0, y + 13, label, weight="bold"))
        parts.append(_bar(counts, y + LABEL_HEIGHT, scale, chart_id))
        y += LABEL_HEIGHT + BAR_HEIGHT + ROW_GAP
    title = "Åtgärder per målområde och status"
    return _svg(width, y, title, [_status_patterns(chart_id), *parts], chart_id, description)


def _without_totals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=[TOTAL], columns=[TOTAL], errors="ignore")


def _status_legend(
    frame: pd.DataFrame, statuses: Sequence[str], width: float, chart_id: str
) -> tuple[str, float]:
    """Returns the legend (swatch, status and total count) wrapped to `width`, and its height."""
    parts, x, y = [], 0.0, 0.0
    for status in statuses:
        label = f"{status} ({int(frame[status].sum())})"
        item_width = 22 + len(label) * CHAR_WIDTH + 18
        if x and x + item_width > width:
            x, y = 0.0, y + 22
        parts.append(_rect(x, y + 2, 16, 16, _status_fill(status, chart_id), stroke=INK))
        parts.append(_text(x + 22, y + 15, label))
        x += item_width
    return "".join(parts), y + 22


def _bar(counts: Sequence[tuple[str, int]], y: float, scale: float, chart_id: str) -> str:
    """Returns one stacked bar with the count written in each wide enough segment and the total after it."""
    total = sum(n for _, n in counts)
    if not total:
        return _text(0, y + 17, "Inga åtgärder", fill="#555555", style="italic")
    parts, x = [], 0.0
    for status, number in counts:
        if not number:
            continue
        segment = number * scale
        tip = f"{status}: {number}"
        parts.append(_rect(x, y, segment, BAR_HEIGHT, _status_fill(status, chart_id), stroke=INK, tip=tip))
        parts.append(_segment_number(x + segment / 2, y, segment, number))
        x += segment
    noun = "åtgärd" if total == 1 else "åtgärder"
    parts.append(_text(x + 8, y + 17, f"{total} {noun}"))
    return "".join(parts)


def _segment_number(middle: float, y: float, segment: float, number: int) -> str:
    """Returns a segment's count on a white label, dark on white whatever the fill and
    pattern below; nothing when the segment is too narrow for it (the table has every count)."""
    label_width = len(str(number)) * DIGIT_WIDTH + 8
    if segment < label_width + 4:
        return ""
    top = y + (BAR_HEIGHT - NUMBER_HEIGHT) / 2
    box = (
        f'<rect x="{middle - label_width / 2:g}" y="{top:g}" width="{label_width:g}" '
        f'height="{NUMBER_HEIGHT:g}" rx="3" fill="#FFFFFF" stroke="{INK}" stroke-width="0.75"/>'
    )
    return box + _text(middle, top + 12.5, number, anchor="middle", weight="bold")


def _status_fill(status: str, chart_id: str) -> str:
    colour, pattern = STATUS_STYLE[status]
    return colour if pattern == PLAIN else f"url(#{chart_id}-{pattern})"


def _status_patterns(chart_id: str) -> str:
    """Returns the `<defs>` of the statuses' patterns: stripes, dots, a grid and a strike line."""
    n = PATTERN_SIZE
    marks = {
        "randig": f'<line x1="0" y1="0" x2="0" y2="{n}" stroke="#FFFFFF" stroke-width="2.5"/>',
        "prickig": f'<circle cx="{n / 2:g}" cy="{n / 2:g}" r="1.2" fill="{INK}"/>',
        "rutig": (
            f'<line x1="0" y1="0" x2="0" y2="{n}" stroke="#FFFFFF" stroke-width="1.2"/>'
            f'<line x1="0" y1="0" x2="{n}" y2="0" stroke="#FFFFFF" stroke-width="1.2"/>'
        ),
        "struken": f'<line x1="0" y1="{n / 2:g}" x2="{n}" y2="{n / 2:g}" stroke="{INK}" stroke-width="1"/>',
    }
    turned = {"randig", "rutig"}
    patterns = []
    for colour, pattern in STATUS_STYLE.values():
        if pattern not in marks:
            continue
        turn = ' patternTransform="rotate(45)"' if pattern in turned else ""
        patterns.append(
            f'<pattern id="{chart_id}-{pattern}" width="{n}" height="{n}" patternUnits="userSpaceOnUse"{turn}>'
            f'<rect width="{n}" height="{n}" fill="{colour}"/>{marks[pattern]}</pattern>'
        )
    return f"<defs>{''.join(patterns)}</defs>"


def matrix_heatmap_svg(
    responsibility_matrix_frame: pd.DataFrame,
    plan: Plan,
    *,
    chart_id: str = MATRIX_CHART,
    description: str = "",
) -> str:
    """Returns the responsibility matrix as an inline SVG heat map.

    Rows are the delmål ids, grouped under their målområde; columns the förvaltningar. A
    cell's shade and number give its count of actions; a thick frame and a dot mark that
    the förvaltning answered "Ja" on Berör oss.

    Args:
        responsibility_matrix_frame: the frame of `pipeline.combine.responsibility_matrix`,
            each cell a tuple (Berör oss answer, number of actions).
        plan: the plan, for the order and names of the målområden.
        chart_id: unique on the page; names the chart's title and description.
        description: what the chart shows, in words (its `<desc>`); none when empty.
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
    return _svg(max(width, 480.0), y + 4, title, parts, chart_id, description)


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


def _svg(
    width: float, height: float, title: str, parts: Sequence[str], chart_id: str, description: str
) -> str:
    """Returns the chart as an image named by its `<title>` (also the PDF's /Alt: WeasyPrint
    takes the first one) and described by its `<desc>` when there is a description."""
    title_id, description_id = f"{chart_id}-titel", f"{chart_id}-beskrivning"
    described = f' aria-describedby="{description_id}"' if description else ""
    desc = f'<desc id="{description_id}">{escape(description)}</desc>' if description else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" role="img" aria-labelledby="{title_id}"{described} '
        f'font-family="{escape(FONT)}" font-size="13">'
        f'<title id="{title_id}">{escape(title)}</title>{desc}{"".join(parts)}</svg>'
    )


def _text(
    x: float,
    y: float,
    text: object,
    *,
    anchor: str = "start",
    fill: str = INK,
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
