"""The `handlingsplan` command: parses arguments, calls the flows, prints the result."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from pipeline.config import LOCAL_ZONE, RETURN_TO_DEFAULT, Settings, configure_prefect
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
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Antal processer att dela arbetet på (standard: efter datorn och mängden arbete).",
        min=1,
        max=64,
    ),
]
DaskOption = Annotated[
    bool, typer.Option("--dask", help="Kör arbetet på ett Dask-kluster (kräver tillägget dask).")
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
        with _flows().command_settings():
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
    workers: WorkersOption = None,
    dask: DaskOption = False,
) -> None:
    """Skriv en mall per förvaltning till outbox/<år>/mallar.

    Exempel: handlingsplan templates --year 2027 --deadline 2027-03-31
    """
    deadline_date = _parse_date(deadline)
    flows = _flows()
    paths = _run(
        lambda: flows.templates_flow(
            year=year,
            deadline=deadline_date,
            plan_file=plan,
            outbox=outbox,
            return_to=return_to,
            workers=workers,
            dask=dask,
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
    workers: WorkersOption = None,
    dask: DaskOption = False,
) -> None:
    """Samla in ifyllda mallar från inkorgen, kontrollera dem och ge återkoppling.

    Exempel: handlingsplan collect --year 2027 --workers 2
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
            workers=workers,
            dask=dask,
        )
    )
    print_collect(result)


def print_collect(result: Any) -> None:
    """Prints one line per file and a total."""
    from pipeline.records import STATE_LABEL

    for f in result.files:
        warnings = "varning" if f.warnings == 1 else "varningar"
        counts = f" ({f.errors} fel, {f.warnings} {warnings})" if f.state in ("accepted", "rejected") else ""
        where = f" -> {f.feedback}" if f.feedback else ""
        note = f" {f.message}" if f.message and f.state != "accepted" else ""
        console.print(f"  {STATE_LABEL[f.state]:<16}{f.name}{counts}{where}{note}")
        for detail in f.details:
            console.print(f"  {'':<16}tekniskt fel (för den som sköter systemet): {detail}")
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


@app.command()
def report(
    year: YearOption,
    outbox: OutboxOption = Path("outbox"),
    plan: PlanOption = None,
    as_of: AsOfOption = None,
    workers: WorkersOption = None,
    dask: DaskOption = False,
) -> None:
    """Skriv kommunens handlingsplan, KS uppföljning och sammanfattningen.

    Exempel: handlingsplan report --year 2027 --as-of 2027-09-30
    """
    as_of_date = _parse_date(as_of)
    flows = _flows()
    result = _run(
        lambda: flows.report_flow(
            year=year, outbox=outbox, plan_file=plan, as_of=as_of_date, workers=workers, dask=dask
        )
    )
    print_report(result)


def print_report(result: Any) -> None:
    """Prints the key figures and where the reports are."""
    from pipeline.combine import figures

    fig = figures(result.consolidated)
    console.print(
        f"{fig.departments_submitted} av {fig.departments_total} förvaltningar har lämnat in; "
        f"{fig.actions} åtgärder, {fig.overdue} har passerat sitt Klart-datum, "
        f"{fig.goals_without_action} delmål utan åtgärd."
    )
    for path in result.paths:
        console.print(f"  {path}")


@app.command()
def run(
    year: Annotated[
        int | None,
        typer.Option("--year", help="Året som följs upp (standard: innevarande år).", min=2000, max=2100),
    ] = None,
    inbox: InboxOption = Path("inbox"),
    outbox: OutboxOption = Path("outbox"),
    plan: PlanOption = None,
    as_of: AsOfOption = None,
    workers: WorkersOption = None,
    dask: DaskOption = False,
) -> None:
    """Årlig körning: samla in, skriv rapporterna och nästa års ifyllda mallar.

    Exempel: handlingsplan run --year 2027
    """
    as_of_date = _parse_date(as_of)
    flows = _flows()
    result = _run(
        lambda: flows.run_flow(
            year=year,
            inbox=inbox,
            outbox=outbox,
            plan_file=plan,
            as_of=as_of_date,
            workers=workers,
            dask=dask,
        )
    )
    print_collect(result.collect)
    print_report(result.report)
    print_next_templates(result)


def print_next_templates(result: Any) -> None:
    """Prints where next year's pre-filled templates are."""
    if result.next_templates:
        folder = result.next_templates[0].parent
        console.print(
            f"Nästa års mallar ({len(result.next_templates)} st, med pågående åtgärder ifyllda): {folder}"
        )


DEMO_MARKER = ".handlingsplan-demo"


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Mappen där demon körs (skapas).", file_okay=False)
    ] = Path("handlingsplan-demo"),
    year: Annotated[int, typer.Option("--year", help="Året i exemplet.")] = 2027,
    plan: PlanOption = None,
) -> None:
    """Kör en hel cykel på exempeldata: mallar, fyra inlämningar, insamling och rapporter.

    Exempel: handlingsplan demo --dir /tmp/demo
    """
    from pipeline.demo import prepare_demo

    try:
        inbox, outbox = _run(lambda: prepare_demo(folder, year, DEMO_MARKER, plan))
    except FileExistsError as exc:
        err_console.print(f"Fel: {exc}")
        raise typer.Exit(2) from None
    flows = _flows()
    console.print(f"Exempelinlämningar från fyra förvaltningar ligger i {inbox}.")
    as_of = dt.date(year, 3, 1)
    result = _run(
        lambda: flows.run_flow(
            year=year, inbox=inbox, outbox=outbox, plan_file=plan, as_of=as_of, quiet_seconds=0
        )
    )
    print_collect(result.collect)
    print_report(result.report)
    print_next_templates(result)
    names = Settings(outbox=outbox)
    console.print(
        f"Titta i {names.year_dir(year)}: börja med {names.summary_file(year, '.html').name} "
        f"och {names.follow_up_file(year).name}."
    )


@app.command()
def serve() -> None:
    """Kör deployments i prefect.yaml från den här datorn, med det årliga schemat.

    Kräver en Prefect-server: starta den med `prefect server start` och sätt
    PREFECT_API_URL=http://127.0.0.1:4200/api. Körningar startas sedan från
    Prefects webbgränssnitt (Deployments > Run) eller enligt schemat.

    Exempel: PREFECT_API_URL=http://127.0.0.1:4200/api handlingsplan serve
    """
    configure_prefect()
    if not os.environ.get("PREFECT_API_URL"):
        err_console.print(
            "Fel: serve behöver en Prefect-server för schemat. Starta `prefect server start` och sätt "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (se README, Schemalagd körning)."
        )
        raise typer.Exit(2)
    from pipeline.deployments import load_specs, serve_from_here

    specs = _run(load_specs)
    for spec in specs:
        when = (
            ", ".join(f"{s['cron']} ({s.get('timezone', LOCAL_ZONE)})" for s in spec.schedules) or "manuellt"
        )
        console.print(f"  {spec.name}: {spec.description} Schema: {when}")
    serve_from_here(specs)
