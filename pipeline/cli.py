"""The `handlingsplan` command: parses arguments, calls the flows, prints the result.

Exit codes (the README's table "Slutkoder" lists the same):

    0    Klart.
    1    Körningen stoppades av ett fel som meddelandet förklarar.
    2    Kommandoraden är fel skriven, planfilen går inte att använda, eller en mapp som behövs
         (t.ex. inkorgen) finns inte.
    3    En annan körning skriver i samma utkorg just nu.
    4    Installationen saknar ett säkerhetsskydd (openpyxl utan defusedxml).
    5    Inget att rapportera: ingen förvaltning har en godkänd handlingsplan för året
         (report och run; --allow-empty skriver rapporterna ändå).
    6    Filsystemet stoppade körningen: behörighet saknas, disken är full, en mapp saknas eller är
         skrivskyddad, en fil är låst av ett annat program.
    7    E-postservern gick inte att använda (den svarar inte, TLS eller inloggningen nekades):
         inget skickades.
    8    Några meddelanden kunde inte skickas; de står i utskriften och försöks igen vid nästa körning.
    130  Avbruten med Ctrl+C.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pipeline.cli_text import (
    EXIT_FILE_SYSTEM,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROGRAM,
    SwedishCommand,
    SwedishGroup,
    console,
    describe_os_error,
    err_console,
    os_error_in,
    shown,
)
from pipeline.config import CONTACTS_FILE_NAME, LOCAL_ZONE, RETURN_TO_DEFAULT, Settings, configure_prefect
from pipeline.errors import (
    HandlingsplanError,
    MailServerError,
    NothingToReportError,
    OutboxLockedError,
    UnsafeEnvironmentError,
)
from pipeline.text import visible

EXIT_SEND_FAILED = 8

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "Klart.",
    HandlingsplanError.exit_code: "Körningen stoppades av ett fel som meddelandet förklarar.",
    EXIT_USAGE: (
        "Kommandoraden är fel skriven, planfilen går inte att använda, "
        "eller en mapp som behövs (t.ex. inkorgen) finns inte."
    ),
    OutboxLockedError.exit_code: "En annan körning skriver i samma utkorg just nu.",
    UnsafeEnvironmentError.exit_code: "Installationen saknar ett säkerhetsskydd (openpyxl utan defusedxml).",
    NothingToReportError.exit_code: (
        "Inget att rapportera: ingen förvaltning har en godkänd handlingsplan för året "
        "(report och run; --allow-empty skriver rapporterna ändå)."
    ),
    EXIT_FILE_SYSTEM: (
        "Filsystemet stoppade körningen: behörighet saknas, disken är full, en mapp saknas eller "
        "är skrivskyddad, en fil är låst av ett annat program."
    ),
    MailServerError.exit_code: (
        "E-postservern gick inte att använda (den svarar inte, TLS eller inloggningen nekades): inget skickades."
    ),
    EXIT_SEND_FAILED: "Några meddelanden kunde inte skickas; de står i utskriften och försöks igen vid nästa körning.",
    EXIT_INTERRUPTED: "Avbruten med Ctrl+C.",
}
"""Every exit code the command uses and what it means; the README's table says the same."""

app = typer.Typer(
    name=PROGRAM,
    cls=SwedishGroup,
    help="Handlingsplaner för integrationsplanen: mallar, insamling, rapporter.",
    epilog=f"Exempel: {PROGRAM} templates --year 2027 --deadline 2027-03-31",
    add_completion=False,
    context_settings={"help_option_names": ["--help", "-h"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_WORKERS = 64


# --- values on the command line ------------------------------------------------------------


def parse_year(value: str | int) -> int:
    """An årtal with four digits within the years the plan can cover.

    Typer passes a default through the parser too, so the value may already be a number.
    """
    text = str(value)
    if not re.fullmatch(r"\d{4}", text.strip()):
        raise typer.BadParameter(f'"{text}" är inget årtal; skriv året med fyra siffror, t.ex. 2027.')
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise typer.BadParameter(f"{year} går inte; ange ett år från {FIRST_YEAR} till {LAST_YEAR}.")
    return year


def parse_date(value: str | dt.date) -> dt.date:
    """A date written ÅÅÅÅ-MM-DD."""
    if isinstance(value, dt.date):
        return value
    text = value
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f'"{text}" är inget datum; skriv det som ÅÅÅÅ-MM-DD, t.ex. 2027-03-31.'
        ) from None


def parse_workers(value: str | int) -> int:
    """A number of processes, 1 to 64."""
    text = str(value)
    if not re.fullmatch(r"\d+", text.strip()) or not 1 <= int(text) <= MAX_WORKERS:
        raise typer.BadParameter(f'"{text}" går inte; ange ett heltal från 1 till {MAX_WORKERS}, t.ex. 2.')
    return int(text)


def parse_seconds(value: str | float) -> float:
    """A number of seconds, 0 or more; a decimal comma is fine."""
    text = str(value)
    try:
        seconds = float(text.strip().replace(",", "."))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise typer.BadParameter(f'"{text}" går inte; ange antal sekunder, 0 eller mer, t.ex. 60.')
    return seconds


def year_option(help: str) -> Any:
    return typer.Option("--year", help=help, metavar="ÅR", parser=parse_year)


def date_option(name: str, help: str) -> Any:
    return typer.Option(name, help=help, metavar="ÅÅÅÅ-MM-DD", parser=parse_date)


def folder_option(name: str, help: str) -> Any:
    return typer.Option(name, help=help, metavar="MAPP")


def plan_option(purpose: str) -> Any:
    return typer.Option(
        "--plan",
        help=f"Planfil (YAML) {purpose}, när planen har reviderats (standard: den inbyggda planen).",
        metavar="FIL",
    )


def workers_option(help: str) -> Any:
    return typer.Option(
        "--workers",
        help=f"{help} (standard: efter datorn och mängden arbete).",
        metavar="ANTAL",
        parser=parse_workers,
    )


def dask_option(help: str) -> Any:
    return typer.Option("--dask", help=f"{help} på ett Dask-kluster (kräver tillägget dask).")


# --- running a flow ------------------------------------------------------------------------


def _run(call: Callable[[], T], folders: Mapping[str, Path | None] | None = None) -> T:
    """Runs a flow; turns a run-stopping error into one Swedish line and its exit code.

    Args:
        call: the flow call.
        folders: option name → the folder given, so a file-system error can name the option to change.
    """
    try:
        with _flows().command_settings():
            return call()
    except HandlingsplanError as exc:
        err_console.print(visible(f"Fel: {exc}", line_breaks=True))
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        # Prefect may hand the error back as it was raised in a task, or wrapped in another.
        found = os_error_in(exc)
        if found is None:
            raise
        given = {option: folder for option, folder in (folders or {}).items() if folder is not None}
        err_console.print(describe_os_error(found, given))
        raise typer.Exit(EXIT_FILE_SYSTEM) from None


def _flows() -> Any:
    # Prefect reads its settings on import, so the project's defaults go in first.
    configure_prefect()
    from pipeline import flows

    return flows


# --- commands ------------------------------------------------------------------------------


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} templates --year 2027 --deadline 2027-03-31")
def templates(
    year: Annotated[int, year_option("Året mallarna gäller, t.ex. 2027.")],
    deadline: Annotated[
        dt.date | None,
        date_option("--deadline", "Sista dag att lämna in; står i mallarnas instruktioner."),
    ] = None,
    plan: Annotated[Path | None, plan_option("att bygga mallarna på")] = None,
    outbox: Annotated[
        Path, folder_option("--outbox", "Mappen där mallarna skrivs, i undermappen <år>/mallar.")
    ] = Path("outbox"),
    return_to: Annotated[
        str,
        typer.Option(
            "--return-to",
            help="Vem förvaltningarna lämnar mallen till och hur; står i mallarnas instruktioner.",
            metavar="MOTTAGARE",
        ),
    ] = RETURN_TO_DEFAULT,
    workers: Annotated[int | None, workers_option("Antal processer som skriver mallarna")] = None,
    dask: Annotated[bool, dask_option("Skriv mallarna")] = False,
) -> None:
    """Skriv en mall per förvaltning till outbox/<år>/mallar."""
    flows = _flows()
    paths = _run(
        lambda: flows.templates_flow(
            year=year,
            deadline=deadline,
            plan_file=plan,
            outbox=outbox,
            return_to=return_to,
            workers=workers,
            dask=dask,
        ),
        {"--outbox": outbox, "--plan": plan},
    )
    for path in paths:
        console.print(f"  {shown(path)}")
    console.print(f"{len(paths)} mallar skrivna för {year}. Skicka dem till förvaltningarna.")


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} collect --year 2027")
def collect(
    year: Annotated[int, year_option("Året vars handlingsplaner samlas in, t.ex. 2027.")],
    inbox: Annotated[
        Path, folder_option("--inbox", "Mappen där förvaltningarna lägger sina ifyllda mallar.")
    ] = Path("inbox"),
    outbox: Annotated[
        Path,
        folder_option(
            "--outbox", "Mappen där återkopplingen, arkivet och registret över inlämningar skrivs."
        ),
    ] = Path("outbox"),
    plan: Annotated[Path | None, plan_option("att kontrollera inlämningarna mot")] = None,
    as_of: Annotated[
        dt.date | None,
        date_option("--as-of", "Dagen som Klart-datum i inlämningarna jämförs med (standard: i dag)."),
    ] = None,
    quiet_seconds: Annotated[
        float | None,
        typer.Option(
            "--quiet-seconds",
            help=(
                "Så länge en fil ska ha legat orörd i inkorgen innan den behandlas; en fil som ändrats "
                "senare väntar till nästa körning (standard: 60)."
            ),
            metavar="SEKUNDER",
            parser=parse_seconds,
        ),
    ] = None,
    workers: Annotated[int | None, workers_option("Antal processer som kontrollerar inlämningarna")] = None,
    dask: Annotated[bool, dask_option("Kontrollera inlämningarna")] = False,
    send_feedback: Annotated[
        bool,
        typer.Option(
            "--send-feedback",
            help="Skicka återkopplingen med e-post direkt efter kontrollen (som send feedback).",
        ),
    ] = False,
    contacts_file: Annotated[Path | None, contacts_option()] = None,
) -> None:
    """Samla in ifyllda mallar från inkorgen, kontrollera dem och ge återkoppling."""
    flows = _flows()
    result = _run(
        lambda: flows.collect_flow(
            year=year,
            inbox=inbox,
            outbox=outbox,
            plan_file=plan,
            as_of=as_of,
            quiet_seconds=quiet_seconds,
            workers=workers,
            dask=dask,
            contacts_file=contacts_file,
            send_feedback=send_feedback,
        ),
        {"--inbox": inbox, "--outbox": outbox, "--plan": plan, "--contacts": contacts_file},
    )
    print_collect(result)
    if result.mailing is not None:
        print_send(result.mailing)


WAITING_UNTIL = re.compile(r"tidigast kl\. (\d{1,2})\.(\d{2})")


def latest_ready(messages: list[str]) -> str | None:
    """The latest "kl. 10.02" among waiting files' messages, as written there.

    The intake writes the time into the message; a time earlier than the first one found is taken
    as past midnight, so "00.01" comes after "23.59".
    """
    times = [(int(h), int(m)) for text in messages for h, m in WAITING_UNTIL.findall(text)]
    if not times:
        return None
    first = times[0][0] * 60 + times[0][1]
    latest = max(times, key=lambda t: (t[0] * 60 + t[1] - first) % (24 * 60))
    return f"{latest[0]:02d}.{latest[1]:02d}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def print_collect(result: Any) -> None:
    """Prints one line per file and a total."""
    from pipeline.records import STATE_LABEL

    for f in result.files:
        counts = (
            f" ({_count(f.errors, 'fel', 'fel')}, {_count(f.warnings, 'varning', 'varningar')})"
            if f.state in ("accepted", "rejected")
            else ""
        )
        where = f" -> {shown(f.feedback)}" if f.feedback else ""
        note = f" {f.message}" if f.message and f.state != "accepted" else ""
        # Names and messages carry what a file's name says: shown, never obeyed (no bidi override).
        console.print(visible(f"  {STATE_LABEL[f.state]:<16}{f.name}{counts}{where}{note}"))
        for detail in f.details:
            console.print(visible(f"  {'':<16}tekniskt fel (för den som sköter systemet): {detail}"))
    if result.new_submissions == 0:
        console.print(f"Inga nya inlämningar för {result.year}; inget har ändrats.")
    else:
        console.print(
            f"{_count(result.new_submissions, 'ny inlämning', 'nya inlämningar')}: "
            f"{_count(result.count('accepted'), 'godkänd', 'godkända')}, "
            f"{_count(result.count('rejected'), 'avvisad', 'avvisade')}."
        )
    extra = [
        _count(result.count(s), one, many)
        for s, one, many in (
            ("ignored", "ignorerad", "ignorerade"),
            ("duplicate", "dubblett", "dubbletter"),
        )
        if result.count(s)
    ]
    if extra:
        console.print("Övriga filer: " + ", ".join(extra) + ".")
    waiting = [f for f in result.files if f.state == "waiting"]
    if waiting:
        when = latest_ready([f.message for f in waiting])
        again = f"kör collect igen efter kl. {when}" if when else "kör collect igen om en stund"
        console.print(f"{_count(len(waiting), 'fil väntar', 'filer väntar')}; {again}.")
    if result.in_force:
        current = ", ".join(f"{code} ({record.original_name})" for code, record in result.in_force.items())
        console.print(visible(f"Gäller nu: {current}."))
    for change in getattr(result, "contact_changes", ()):
        console.print(visible(f"Ny kontakt? {change}"))
    print_notes(result)


def print_notes(result: Any, told: tuple[str, ...] = ()) -> None:
    """Prints what is wrong with what the outbox keeps (a damaged ledger line, a missing archived
    copy), one line each, on every run until it is mended; `told` were printed already."""
    # `notes` is what the store found (store.Received.notes), carried by the flow's result.
    for note in getattr(result, "notes", ()):
        if note not in told:
            err_console.print(visible(f"Obs: {note}"))


ALLOW_EMPTY_HELP = "Skriv rapporterna även om ingen förvaltning har lämnat in en godkänd handlingsplan."


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} report --year 2027 --as-of 2027-09-30")
def report(
    year: Annotated[int, year_option("Året som rapporterna gäller, t.ex. 2027.")],
    outbox: Annotated[
        Path,
        folder_option(
            "--outbox", "Mappen där insamlingen skrev inlämningarna; rapporterna skrivs i undermappen <år>."
        ),
    ] = Path("outbox"),
    plan: Annotated[Path | None, plan_option("att bygga rapporterna på")] = None,
    as_of: Annotated[
        dt.date | None,
        date_option(
            "--as-of",
            "Dagen som uppföljningen avser; åtgärder med Klart-datum före den dagen räknas som "
            "passerade (standard: i dag).",
        ),
    ] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help=ALLOW_EMPTY_HELP)] = False,
    workers: Annotated[int | None, workers_option("Antal processer som skriver rapporterna")] = None,
    dask: Annotated[bool, dask_option("Skriv rapporterna")] = False,
) -> None:
    """Skriv kommunens handlingsplan, KS uppföljning och sammanfattningen."""
    flows = _flows()
    result = _run(
        lambda: flows.report_flow(
            year=year,
            outbox=outbox,
            plan_file=plan,
            as_of=as_of,
            workers=workers,
            dask=dask,
            allow_empty=allow_empty,
        ),
        {"--outbox": outbox, "--plan": plan},
    )
    print_report(result)


def print_report(result: Any, told: tuple[str, ...] = ()) -> None:
    """Prints the key figures and where the reports are."""
    from pipeline.combine import figures

    fig = figures(result.consolidated)
    console.print(
        f"{fig.departments_submitted} av {fig.departments_total} förvaltningar har lämnat in; "
        f"{_count(fig.actions, 'åtgärd', 'åtgärder')}, "
        f"{fig.overdue} med Klart-datum passerat (ej avslutade), "
        f"{fig.goals_without_action} delmål utan åtgärd."
    )
    for path in result.paths:
        console.print(f"  {shown(path)}")
    print_notes(result, told)


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} run --year 2027")
def run(
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            help="Året som följs upp (standard: innevarande år); nästa års mallar gäller året efter.",
            metavar="ÅR",
            parser=parse_year,
        ),
    ] = None,
    inbox: Annotated[
        Path, folder_option("--inbox", "Mappen där förvaltningarna lägger sina ifyllda mallar.")
    ] = Path("inbox"),
    outbox: Annotated[
        Path,
        folder_option("--outbox", "Mappen där återkopplingen, rapporterna och nästa års mallar skrivs."),
    ] = Path("outbox"),
    plan: Annotated[Path | None, plan_option("för kontrollen, rapporterna och nästa års mallar")] = None,
    as_of: Annotated[
        dt.date | None,
        date_option("--as-of", "Dagen som uppföljningen avser (standard: i dag)."),
    ] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help=ALLOW_EMPTY_HELP)] = False,
    workers: Annotated[
        int | None, workers_option("Antal processer som kontrollerar inlämningar och skriver filerna")
    ] = None,
    dask: Annotated[bool, dask_option("Gör arbetet")] = False,
) -> None:
    """Årlig körning: samla in, skriv rapporterna och nästa års ifyllda mallar."""
    flows = _flows()
    result = _run(
        lambda: flows.run_flow(
            year=year,
            inbox=inbox,
            outbox=outbox,
            plan_file=plan,
            as_of=as_of,
            workers=workers,
            dask=dask,
            allow_empty=allow_empty,
        ),
        {"--inbox": inbox, "--outbox": outbox, "--plan": plan},
    )
    print_run(result)


def print_run(result: Any) -> None:
    """Prints the annual run; stops with exit code 5 when no report could be written."""
    print_collect(result.collect)
    if result.report is not None:
        print_report(result.report, told=tuple(getattr(result.collect, "notes", ())))
    print_next_templates(result)
    if result.report is None:
        err_console.print(
            f"Fel: Ingen förvaltning har lämnat in en godkänd handlingsplan för {result.collect.year}, "
            "så rapporterna skrevs inte (nästa års mallar skrevs ändå). "
            "Lägg till --allow-empty för att ändå skriva tomma rapporter."
        )
        raise typer.Exit(NothingToReportError.exit_code)


def print_next_templates(result: Any) -> None:
    """Prints where next year's pre-filled templates are."""
    if result.next_templates:
        folder = result.next_templates[0].parent
        console.print(
            f"Nästa års mallar ({len(result.next_templates)} st, med pågående åtgärder ifyllda): "
            f"{shown(folder)}"
        )


DEMO_MARKER = ".handlingsplan-demo"


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} demo --dir /tmp/demo")
def demo(
    folder: Annotated[
        Path,
        folder_option("--dir", "Mappen där demon körs; den skapas och får bara innehålla en tidigare demo."),
    ] = Path("handlingsplan-demo"),
    year: Annotated[int, year_option("Året i exemplet.")] = 2027,
    plan: Annotated[Path | None, plan_option("att köra exemplet med")] = None,
) -> None:
    """Kör en hel cykel på exempeldata: mallar, fyra inlämningar, insamling och rapporter."""
    from pipeline.demo import prepare_demo

    folders = {"--dir": folder, "--plan": plan}
    try:
        inbox, outbox = _run(lambda: prepare_demo(folder, year, DEMO_MARKER, plan), folders)
    except FileExistsError as exc:
        err_console.print(visible(f"Fel: {exc}"))
        raise typer.Exit(EXIT_USAGE) from None
    flows = _flows()
    console.print(f"Exempelinlämningar från fyra förvaltningar ligger i {shown(inbox)}.")
    as_of = dt.date(year, 3, 1)
    result = _run(
        lambda: flows.run_flow(
            year=year, inbox=inbox, outbox=outbox, plan_file=plan, as_of=as_of, quiet_seconds=0
        ),
        folders,
    )
    print_run(result)
    names = Settings(outbox=outbox)
    console.print(
        f"Titta i {shown(names.year_dir(year))}: börja med {names.summary_file(year, '.html').name} "
        f"och {names.follow_up_file(year).name}."
    )


@app.command(
    cls=SwedishCommand,
    epilog=f"Exempel: PREFECT_API_URL=http://127.0.0.1:4200/api {PROGRAM} serve",
)
def serve() -> None:
    """Ta emot körningar från Prefect: de schemalagda i prefect.yaml och de som startas för hand.

    Kräver en Prefect-server: starta den med `prefect server start` och sätt
    PREFECT_API_URL=http://127.0.0.1:4200/api. Körningar startas sedan från
    Prefects webbgränssnitt (Deployments > Run) eller enligt schemat i prefect.yaml.
    Kommandot fortsätter tills du avslutar det med Ctrl+C.
    """
    configure_prefect()
    if not os.environ.get("PREFECT_API_URL"):
        err_console.print(
            "Fel: serve behöver en Prefect-server för schemat. Starta `prefect server start` och sätt "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (se README, Schemalagd körning)."
        )
        raise typer.Exit(EXIT_USAGE)
    from pipeline.deployments import load_specs, serve_from_here

    specs = _run(load_specs)
    for spec in specs:
        when = (
            ", ".join(f"{s['cron']} ({s.get('timezone', LOCAL_ZONE)})" for s in spec.schedules) or "manuellt"
        )
        console.print(f"  {spec.name}: {spec.description} Schema: {when}")
    serve_from_here(specs)


# --- contacts and utskick ------------------------------------------------------------------


def contacts_option() -> Any:
    return typer.Option(
        "--contacts",
        help=f"Kontaktfilen med förvaltningarnas representanter (standard: {CONTACTS_FILE_NAME} i mappen du står i).",
        metavar="FIL",
    )


def dry_run_option() -> Any:
    return typer.Option(
        "--dry-run",
        help="Skicka inget: skriv varje meddelande som en .eml-fil i outbox/<år>/utskick.",
    )


def resend_option() -> Any:
    return typer.Option("--resend", help="Skicka igen även det som redan har skickats.")


def send_outbox_option() -> Any:
    return folder_option("--outbox", "Mappen där mallarna, återkopplingen och rapporterna finns.")


def parse_days(value: str | list[int]) -> list[int]:
    """Days as a comma-separated list, e.g. 14,3."""
    if isinstance(value, list):
        return value
    text = str(value)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(re.fullmatch(r"\d{1,3}", p) for p in parts):
        raise typer.BadParameter(f'"{text}" går inte; ange antal dagar med komma emellan, t.ex. 14,3.')
    return [int(p) for p in parts]


@app.command(cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} contacts")
def contacts(
    file: Annotated[Path | None, contacts_option()] = None,
    plan: Annotated[Path | None, plan_option("vars förvaltningar ska finnas med")] = None,
    outbox: Annotated[
        Path,
        folder_option(
            "--outbox", "Utkorgen; kontaktpersoner från senaste inlämningarna fylls i när filen skapas."
        ),
    ] = Path("outbox"),
) -> None:
    """Skapa kontaktfilen (kontakter.xlsx) om den saknas och visa vilka förvaltningar som saknar adress."""
    flows = _flows()
    result = _run(
        lambda: flows.prepare_contacts(contacts_file=file, plan_file=plan, outbox=outbox),
        {"--contacts": file, "--outbox": outbox, "--plan": plan},
    )
    from pipeline.problems import KIND_LABEL

    if result.created:
        console.print(f"Skapade {shown(result.book.path)} med planens förvaltningar. Fyll i Namn och E-post.")
    for problem in result.book.problems:
        text = f"  {KIND_LABEL[problem.kind]}: {problem.where}: {problem.message} {problem.hint}"
        console.print(visible(text.rstrip()))
    for code, contact in result.book.contacts.items():
        if contact.email:
            copies = f" (kopia: {', '.join(contact.copies)})" if contact.copies else ""
            console.print(visible(f"  {code:<6}{contact.name or '(inget namn)'} <{contact.email}>{copies}"))
    missing = result.missing
    if missing:
        console.print(
            f"Saknar giltig e-postadress: {', '.join(missing)}. Fyll i E-post i {shown(result.book.path)}."
        )
    else:
        console.print(f"Alla {len(result.codes)} förvaltningar har en giltig e-postadress.")


send_app = typer.Typer(
    name="send",
    cls=SwedishGroup,
    help="Skicka med e-post: mallar, påminnelser, återkoppling och sammanfattningen.",
    epilog=f"Exempel: {PROGRAM} send templates --year 2027 --dry-run",
    rich_markup_mode=None,
)
app.add_typer(send_app, name="send")


def print_send(report: Any) -> None:
    """Prints one line per letter, the run's summary line and what failed; exit 8 when anything failed."""
    from pipeline.mailing import SEND_STATUS_LABEL

    if report is None:
        console.print("Ingen påminnelse att skicka i dag.")
        return
    for note in report.notes:
        err_console.print(visible(f"Obs: {note}"))
    for outcome in report.outcomes:
        to = ", ".join(outcome.recipients or outcome.letter.to) or "(ingen adress)"
        where = f" -> {shown(outcome.eml)}" if outcome.eml else ""
        label = SEND_STATUS_LABEL[outcome.status]
        console.print(
            visible(f"  {label:<24}{outcome.letter.label}: {outcome.letter.subject} till {to}{where}")
        )
    if report.dry_run:
        console.print(
            "Provkörning: inget skickades (inget HANDLINGSPLAN_SMTP_HOST angivet, eller --dry-run)."
        )
    console.print(report.summary_line())
    reached = "provkörning, skulle inte nås" if report.dry_run else "nåddes inte"
    for failure in report.failures:
        err_console.print(visible(f"  {reached}: {failure}"))
    if report.needs_attention:
        raise typer.Exit(EXIT_SEND_FAILED)


def _send_through(
    flow: str, outbox: Path, contacts_file: Path | None, plan: Path | None, **options: Any
) -> None:
    """Runs one of the send flows on the kontakter.xlsx and plan given, and prints its report."""
    flows = _flows()
    report = _run(
        lambda: getattr(flows, flow)(outbox=outbox, contacts_file=contacts_file, plan_file=plan, **options),
        {"--outbox": outbox, "--contacts": contacts_file, "--plan": plan},
    )
    print_send(report)


@send_app.command("templates", cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} send templates --year 2027")
def send_templates(
    year: Annotated[int, year_option("Året mallarna gäller, t.ex. 2027.")],
    outbox: Annotated[Path, send_outbox_option()] = Path("outbox"),
    contacts_file: Annotated[Path | None, contacts_option()] = None,
    plan: Annotated[Path | None, plan_option("som mallarna bygger på")] = None,
    dry_run: Annotated[bool, dry_run_option()] = False,
    resend: Annotated[bool, resend_option()] = False,
) -> None:
    """Skicka varje förvaltning dess mall med ett följebrev: vad, varför, sista dag, hur och till vem."""
    _send_through(
        "send_templates_flow", outbox, contacts_file, plan, year=year, dry_run=dry_run, resend=resend
    )


@send_app.command("reminders", cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} send reminders --year 2027")
def send_reminders(
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            help="Året som påminnelserna gäller (standard: senaste året vars mallar har en sista dag).",
            metavar="ÅR",
            parser=parse_year,
        ),
    ] = None,
    as_of: Annotated[
        dt.date | None, date_option("--as-of", "Dagen som påminnelsen räknas från (standard: i dag).")
    ] = None,
    deadline: Annotated[
        dt.date | None,
        date_option("--deadline", "Sista dag att lämna in (standard: den som står i årets mallar)."),
    ] = None,
    outbox: Annotated[Path, send_outbox_option()] = Path("outbox"),
    contacts_file: Annotated[Path | None, contacts_option()] = None,
    plan: Annotated[Path | None, plan_option("med förvaltningarna")] = None,
    dry_run: Annotated[bool, dry_run_option()] = False,
    resend: Annotated[bool, resend_option()] = False,
) -> None:
    """Påminn förvaltningar som inte har en godkänd handlingsplan för året: före sista dagen, och efter den."""
    _send_through(
        "send_reminders_flow",
        outbox,
        contacts_file,
        plan,
        year=year,
        as_of=as_of,
        deadline=deadline,
        dry_run=dry_run,
        resend=resend,
    )


@send_app.command("feedback", cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} send feedback --year 2027")
def send_feedback(
    year: Annotated[int, year_option("Året vars inlämningar återkopplingen gäller, t.ex. 2027.")],
    outbox: Annotated[Path, send_outbox_option()] = Path("outbox"),
    contacts_file: Annotated[Path | None, contacts_option()] = None,
    plan: Annotated[Path | None, plan_option("med förvaltningarna")] = None,
    dry_run: Annotated[bool, dry_run_option()] = False,
    resend: Annotated[bool, resend_option()] = False,
) -> None:
    """Skicka återkopplingen på varje inlämning till dess kontaktperson, med den markerade kopian vid avvisning."""
    _send_through(
        "send_feedback_flow", outbox, contacts_file, plan, year=year, dry_run=dry_run, resend=resend
    )


@send_app.command(
    "summary", cls=SwedishCommand, epilog=f"Exempel: {PROGRAM} send summary --year 2027 --to ks@kalix.se"
)
def send_summary(
    year: Annotated[int, year_option("Året som sammanfattningen gäller, t.ex. 2027.")],
    to: Annotated[
        list[str],
        typer.Option(
            "--to", help="Mottagarens e-postadress; upprepa --to för flera mottagare.", metavar="ADRESS"
        ),
    ],
    outbox: Annotated[Path, send_outbox_option()] = Path("outbox"),
    dry_run: Annotated[bool, dry_run_option()] = False,
    resend: Annotated[bool, resend_option()] = False,
) -> None:
    """Skicka sammanfattningen (och uppföljningen som bilaga) till Kommunstyrelsen."""
    flows = _flows()
    report = _run(
        lambda: flows.send_summary_flow(
            year=year, to=list(to), outbox=outbox, dry_run=dry_run, resend=resend
        ),
        {"--outbox": outbox},
    )
    print_send(report)


# --- adoption -------------------------------------------------------------------------------


@app.command(
    cls=SwedishCommand, epilog=f'Exempel: {PROGRAM} adopt --year 2027 --decision "KS 2027-04-14 § 55"'
)
def adopt(
    year: Annotated[int, year_option("Året vars handlingsplan Kommunstyrelsen har antagit, t.ex. 2027.")],
    decision: Annotated[
        str,
        typer.Option(
            "--decision",
            help='Kommunstyrelsens beslut: organ, datum och paragraf, t.ex. "KS 2027-04-14 § 55".',
            metavar="BESLUT",
        ),
    ],
    outbox: Annotated[
        Path,
        folder_option("--outbox", "Utkorgen; den antagna planen skrivs i undermappen <år>/antagen."),
    ] = Path("outbox"),
    plan: Annotated[Path | None, plan_option("som handlingsplanen bygger på")] = None,
    as_of: Annotated[
        dt.date | None,
        date_option("--as-of", "Dagen som den antagna planen visar läget per (standard: beslutsdagen)."),
    ] = None,
) -> None:
    """Frys handlingsplanen som Kommunstyrelsen antog: den antagna versionen till diariet, och uppföljningen mäts mot den."""
    flows = _flows()
    result = _run(
        lambda: flows.adopt_flow(year=year, decision=decision, outbox=outbox, plan_file=plan, as_of=as_of),
        {"--outbox": outbox, "--plan": plan},
    )
    adoption = result.adoption
    if result.unchanged:
        console.print(
            f"Handlingsplanen {year} är redan antagen med beslutet {adoption.decision.text}; inget ändrades."
        )
    else:
        if result.revised is not None:
            console.print(
                f"Tidigare antagande ({result.revised.decision.text}) finns kvar i {shown(result.files[0].parent / 'historik')}."
            )
        console.print(f"Handlingsplanen {year} antagen: {adoption.decision.text}.")
    console.print(visible(adoption.note()))
    for path in result.files:
        console.print(f"  {shown(path)}")
