"""Sizes shared by every workbook we write: column widths and row heights that show the text."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline import contract as c

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
        text = str(text)
        if "\n" in text:
            wrapped = sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))
        else:
            wrapped = -(-len(text) // per_line)  # math.ceil, in integers
        lines = max(lines, wrapped)
    return math.ceil(lines * LINE_HEIGHT + 3)


# Printing on A4 landscape with the margins `pipeline.report.workbooks` sets (0.5" sides, 0.75" top and bottom).

A4_LANDSCAPE_WIDTH = 841.9 - 72.0
"""Printable width in points: A4's long side less 0.5 inch margins left and right."""

A4_LANDSCAPE_HEIGHT = 595.3 - 108.0
"""Printable height in points: A4's short side less 0.75 inch margins top and bottom."""

PAGE_SAFETY = 0.94
"""Share of the printable height we plan to fill: Excel and LibreOffice round row heights and
scale a little differently, and a break placed early is harmless where one placed late is not."""

DEFAULT_ROW_HEIGHT = 15.0
"""Height of a row whose height is not set (Calibri 11)."""

_NARROW = frozenset("fijlrt.,:;!|'()[]- ")
_WIDE = frozenset("mwMW@%")


def text_width(text: str, *, bold: bool = False) -> float:
    """Returns about how many column-width units (widths of "0" in Calibri 11) `text` needs on one line.

    Narrow letters count about half, capitals and wide letters more; bold about 8 % more. An
    estimate on the generous side, so that a column made this wide shows the text whole.
    """
    units = 0.0
    for char in text:
        if char in _NARROW:
            units += 0.55
        elif char in _WIDE:
            units += 1.45
        elif char.isupper():
            units += 1.2
        else:
            units += 1.0
    return units * (1.08 if bold else 1.0)


def fit_width(
    texts: Sequence[str], minimum: float = 0.0, *, bold: bool = False, button: bool = False
) -> float:
    """Returns a column width that shows each of `texts` whole on one line, at least `minimum`.

    `button`: the column's header carries an autofilter button (about 2.5 units wide).
    """
    widest = max((text_width(text, bold=bold) for text in texts), default=0.0)
    return max(minimum, math.ceil(widest + 2.0 + (2.5 if button else 0.0)))


def column_points(width: float) -> float:
    """Returns a column's width in points, as Excel draws a width in character units (Calibri 11)."""
    return int(width * 7 + 5) * 0.75


def print_scale(widths: Sequence[float], printable: float = A4_LANDSCAPE_WIDTH) -> int:
    """Returns the print scale (10–100 %) at which the columns fit the page's width."""
    total = sum(column_points(width) for width in widths)
    return max(10, min(100, math.floor(100 * printable / total))) if total else 100


def page_breaks(
    heights: Sequence[float],
    keep: dict[int, int],
    *,
    scale: int = 100,
    printable: float = A4_LANDSCAPE_HEIGHT,
    repeat: float = 0.0,
) -> list[int]:
    """Returns the rows (0-based) that start a new page, so that no kept block is split.

    `heights` are the points of each row from the first; `keep[r] = n` keeps row r on the
    page of the n rows after it (a heading with its first rows). Every page break is
    returned, not only the kept ones, so that Excel's and LibreOffice's own breaks never fall
    elsewhere. `repeat` is the height of the header rows printed again on each later page.
    """
    room = printable * PAGE_SAFETY * 100 / scale
    breaks: list[int] = []
    used = 0.0
    top = 0.0  # what a page holds before its first row: the repeated header
    for row, height in enumerate(heights):
        need = sum(heights[row : row + 1 + keep.get(row, 0)])
        if used > top and used + min(need, room - top) > room:
            breaks.append(row)
            top = used = repeat
        used += height
    return breaks
