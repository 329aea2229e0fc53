"""Text as the reports show it: Markdown-safe cells and Swedish local times."""

from __future__ import annotations

import re
import unicodedata

from pipeline.config import local_time

_MD_SPECIAL = re.compile(r"([\\|*_`\[\]<>])")
_MD_HEADING = re.compile(r"^(\s{0,3})#")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def markdown_escape(text: str) -> str:
    """Returns `text` safe for one Markdown table cell: it renders as the plain text it is.

    Backslash, `|`, `*`, `_`, backtick, `[`, `]`, `<`, `>` and a `#` at line start are
    escaped with a backslash; line breaks become spaces.
    """
    flat = _NEWLINES.sub(" ", text)
    escaped = _MD_SPECIAL.sub(r"\\\1", flat)
    return _MD_HEADING.sub(r"\1\\#", escaped)


def display_time(received: str) -> str:
    """Returns `received` as Swedish local time the way the reports write it: "2027-03-15 kl. 11.42"."""
    return local_time(received, "%Y-%m-%d kl. %H.%M")


PERCENT_SPACE = "\u00a0"
"""The space between a number and "%": a no-break space, so "17 %" never splits over two lines.

Swedish writes a space before the percent sign; every output (HTML, Markdown, workbook
number formats) uses this one character for it."""

PERCENT_FORMAT = f"0{PERCENT_SPACE}%"
"""The workbook number format of a whole percentage: 0.1667 shows as "17 %"."""

_PLACE = re.compile(r"^[^\s:!]+(?: [^\s:!]+)*![A-Z]{1,3}[0-9]+(?::[A-Z]{1,3}[0-9]+)?: ")


def count_phrase(number: int, singular: str, plural: str) -> str:
    """Returns a count with its word in agreement: "1 åtgärd", "2 åtgärder", "0 åtgärder".

    Swedish uses the singular for exactly one and the plural otherwise (also for 0).
    """
    return f"{number} {singular if number == 1 else plural}"


def listing(items: list[str] | tuple[str, ...]) -> str:
    """Returns items as Swedish lists them: "KS", "KS och SBF", "FoK, SOC och UTB"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " och " + items[-1]


def percent(share: float) -> str:
    """Returns a share 0–1 as a whole Swedish percentage: 0.1667 → "17 %" (no-break space)."""
    return f"{round(share * 100)}{PERCENT_SPACE}%"


def department_label(name: str, code: str) -> str:
    """Returns how a förvaltning is named to readers: its name, with its code in parentheses
    only where the name neither holds the code nor already has a parenthesis.

    "Socialförvaltningen", "SOC" → "Socialförvaltningen (SOC)";
    "Kommunstyrelsen (kommunledningsförvaltningen)", "KS" → the name as it is.
    """
    name = name.strip()
    if not code or not name:
        return name or code
    if "(" in name or re.search(rf"\b{re.escape(code)}\b", name):
        return name
    return f"{name} ({code})"


def without_place(message: str) -> str:
    """Returns a problem text without its leading cell reference: 'Åtgärder!G2: "x" …' → '"x" …'.

    The reference helps the förvaltning that fixes the file; politicians read the message only.
    """
    return _PLACE.sub("", message, count=1)


_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls, format characters (bidi overrides and isolates, zero-width characters, marks),
lone surrogates and the line and paragraph separators: none of them shows as itself, and a
bidi control in a file name can make a console line or a page say something else."""
_LINE_BREAKS = frozenset("\n\t")
_SURROGATE_ESCAPE = range(0xDC80, 0xDD00)
"""How Python hands over a file name's bytes that are not UTF-8 (PEP 383): byte b as U+DC00+b."""


def visible(text: str, *, line_breaks: bool = False) -> str:
    """Returns `text` with every invisible or layout-changing character written as an escape.

    Controls (C0, DEL, C1), bidi controls (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C),
    zero-width and other format characters and lone surrogates become "\\u202e", "\\x07",
    "\\U000e0001"; a byte of a file name that is not UTF-8 (which Python hands over as a
    surrogate) becomes "\\xff", as the byte it is. Everything else is left alone, so the result
    of a result is the same text. `line_breaks` keeps newline and tab, for free text whose
    lines matter; a file name or a console line has none.
    """
    if text.isprintable():  # no control, format or separator character: the common case
        return text
    return "".join(_escape(ch, line_breaks) for ch in text)


def _escaped(ch: str, line_breaks: bool) -> bool:
    if line_breaks and ch in _LINE_BREAKS:
        return False
    return unicodedata.category(ch) in _ESCAPED_CATEGORIES


def _escape(ch: str, line_breaks: bool) -> str:
    if not _escaped(ch, line_breaks):
        return ch
    point = ord(ch)
    if point in _SURROGATE_ESCAPE:
        return f"\\x{point - 0xDC00:02x}"
    if point <= 0xFF:
        return f"\\x{point:02x}"
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"
