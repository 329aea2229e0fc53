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
InboxOption = Annotated[
    Path, typer.Option("--inbox", help="Mappen där förvaltningarna lägger sina filer.", file_okay=False)
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Dagens datum för bedömningen (standard: i dag).", metavar="ÅÅÅÅ-MM-DD"),
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


@app.command()
def collect(
    year: YearOption,
    inbox: InboxOption = Path("inbox"),
    outbox: OutboxOption = Path("outbox"),
    plan: PlanOption = None,
    as_of: AsOfOption = None,
    quiet_seconds: Annotated[
        float | None,
        typer.Option("--quiet-seconds", help="Filer ändrade senare än så här många sekunder sedan väntar."),
    ] = None,
) -> None:
    """Samla in ifyllda mallar från inkorgen, kontrollera dem och ge återkoppling.

    Exempel: handlingsplan collect --year 2027
    """
    as_of_date = _parse_date(as_of)
    flows = _flows()
    result = _run(
        lambda: flows.collect_flow(
            year=year,
            inbox=inbox,
            outbox=outbox,
            plan_file=plan,
            as_of=as_of_date,
            quiet_seconds=quiet_seconds,
        )
    )
    print_collect(result)


def print_collect(result: Any) -> None:
    """Prints one line per file and a total."""
    from pipeline.collect import STATE_LABEL

    for f in result.files:
        counts = f" ({f.errors} fel, {f.warnings} varningar)" if f.state in ("accepted", "rejected") else ""
        where = f" -> {f.feedback}" if f.feedback else ""
        note = f" {f.message}" if f.message and f.state != "accepted" else ""
        console.print(f"  {STATE_LABEL[f.state]:<16}{f.name}{counts}{where}{note}")
    if result.new_submissions == 0:
        console.print(f"Inga nya inlämningar för {result.year}; inget har ändrats.")
    else:
        console.print(
            f"{result.new_submissions} nya inlämningar: {result.count('accepted')} godkända, "
            f"{result.count('rejected')} avvisade."
        )
    extra = [
        f"{result.count(s)} {label}"
        for s, label in (("waiting", "väntar"), ("ignored", "ignorerade"), ("duplicate", "dubbletter"))
        if result.count(s)
    ]
    if extra:
        console.print("Övriga filer: " + ", ".join(extra) + ".")
    if result.in_force:
        current = ", ".join(f"{code} ({record.original_name})" for code, record in result.in_force.items())
        console.print(f"Gäller nu: {current}.")


def main() -> None:
    """Entry point of the `handlingsplan` script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
