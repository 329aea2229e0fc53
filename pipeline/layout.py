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
