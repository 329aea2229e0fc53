"""The problem record: one thing wrong with a submission, said in Swedish, naming the cell."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

ERROR: Literal["error"] = "error"
WARNING: Literal["warning"] = "warning"
Kind = Literal["error", "warning"]

KIND_LABEL = {ERROR: "Fel", WARNING: "Varning"}


@dataclass(frozen=True)
class Problem:
    """A data problem in one submission: where it is, what it is, and what to do.

    `cell` is an Excel reference like "L7" (empty for a problem with the whole file or
    sheet); `row` is the Excel row number; `code` is a short English rule name that tests
    and reports group by; `message` and `hint` are Swedish for the förvaltning.
    """

    file: str
    sheet: str
    cell: str
    row: int | None
    column: str
    value: str
    kind: Kind
    code: str
    message: str
    hint: str = ""

    @property
    def where(self) -> str:
        """Returns "Åtgärder!L7", "Åtgärder" or "" : the place as Excel users write it."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet

    @property
    def text(self) -> str:
        """Returns the one-line message with its place, e.g. 'Åtgärder!L7: "Klar" är …'."""
        return f"{self.where}: {self.message}" if self.where else self.message

    def as_dict(self) -> dict[str, Any]:
        """Returns the record as a plain dict (for tables and JSON)."""
        return asdict(self)


def count(problems: Iterable[Problem], kind: Kind) -> int:
    """Returns how many problems are of this kind."""
    return sum(1 for p in problems if p.kind == kind)


def has_errors(problems: Iterable[Problem]) -> bool:
    """Returns True when any problem is an error (the submission is rejected)."""
    return any(p.kind == ERROR for p in problems)


def first_reasons(problems: Iterable[Problem], limit: int = 3) -> tuple[str, ...]:
    """Returns the first `limit` error texts of a submission, and how many more there are."""
    texts = [p.text for p in problems if p.kind == ERROR]
    more = len(texts) - limit
    return tuple(texts[:limit]) + ((f"… och {more} fel till",) if more > 0 else ())


def display_value(value: Any, limit: int = 60) -> str:
    """Returns a cell value as a short string for a message (never more than `limit`)."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sort_key(problem: Problem) -> tuple[Any, ...]:
    """Returns a key ordering problems by sheet, row, column: the order a reader fixes them."""
    return (problem.sheet, problem.row or 0, len(problem.cell), problem.cell, problem.code)
