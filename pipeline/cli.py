"""The `handlingsplan` command: parses arguments, calls the flows, prints the result."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from pipeline.config import RETURN_TO_DEFAULT, configure_prefect
from pipeline.errors import HandlingsplanError

app = typer.Typer(
    name="handlingsplan",
    help=(
        "Handlingsplaner för integrationsplanen: mallar, insamling, rapporter.\n\n"
        "Exempel: handlingsplan templates --year 2027 --deadline 2027-03-31"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")

PlanOption = Annotated[
    Path | None,
    typer.Option("--plan", help="En reviderad planfil (YAML) i stället för den inbyggda.", dir_okay=False),
]
OutboxOption = Annotated[Path, typer.Option("--outbox", help="Mappen där allt skrivs.", file_okay=False)]
YearOption = Annotated[
    int, typer.Option("--year", help="Året handlingsplanen gäller, t.ex. 2027.", min=2000, max=2100)
]


@app.callback()
def _root() -> None:
    """Handlingsplaner för integrationsplanen: mallar, insamling, rapporter."""


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f'"{value}" är inget datum; skriv det som ÅÅÅÅ-MM-DD, t.ex. 2027-03-31.'
        ) from None


def _run(call: Callable[[], T]) -> T:
    """Runs a flow; turns a run-stopping error into one Swedish line and its exit code."""
    try:
        return call()
    except HandlingsplanError as exc:
        err_console.print(f"Fel: {exc}")
        raise typer.Exit(exc.exit_code) from None


def _flows() -> Any:
    # Prefect reads its settings on import, so the project's defaults go in first.
    configure_prefect()
    from pipeline import flows

    return flows


@app.command()
def templates(
    year: YearOption,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="Sista dag att lämna in, ÅÅÅÅ-MM-DD.", metavar="ÅÅÅÅ-MM-DD"),
    ] = None,
    plan: PlanOption = None,
    outbox: OutboxOption = Path("outbox"),
    return_to: Annotated[
        str, typer.Option("--return-to", help="Vem mallen lämnas till (står i instruktionerna).")
    ] = RETURN_TO_DEFAULT,
) -> None:
    """Skriv en mall per förvaltning till outbox/<år>/mallar.

    Exempel: handlingsplan templates --year 2027 --deadline 2027-03-31
    """
    deadline_date = _parse_date(deadline)
    flows = _flows()
    paths = _run(
        lambda: flows.templates_flow(
            year=year, deadline=deadline_date, plan_file=plan, outbox=outbox, return_to=return_to
        )
    )
    for path in paths:
        console.print(f"  {path}")
    console.print(f"{len(paths)} mallar skrivna för {year}. Skicka dem till förvaltningarna.")


def main() -> None:
    """Entry point of the `handlingsplan` script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
