"""Text as the reports show it: Markdown-safe cells and Swedish local times."""

from __future__ import annotations

import re

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
