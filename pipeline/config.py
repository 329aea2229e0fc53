"""Paths, limits and Prefect settings: the one module that knows where things live.

Nothing here runs at import time; callers ask for a `Settings` and, before Prefect is
imported, call `configure_prefect()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import InvalidInputError

PROJECT_ROOT = Path(__file__).resolve().parents[1]

TEMPLATE_VERSION = "1"
"""Version of the workbook layout; bumped when a change makes old templates unreadable."""

READABLE_TEMPLATE_VERSIONS = frozenset({"1"})

PLAN_VERSION_FORM = re.compile(r"[0-9a-f]{12}")
"""A plan version as `pipeline.plan.plan_version` makes it: the first 12 hex digits of a SHA-256.
A submission's version must match it exactly (`re.fullmatch`) before it is looked up."""

# Bounds a submission is measured against before any reader allocates for it
# (`pipeline.read.bounds_problem`). A filled-in template is far inside every one of them.
MAX_DATA_ROWS = 20_000
"""Most action rows one sheet may hold (below its header)."""
MAX_SHEET_ROWS = 25_000
"""Furthest row any cell of a sheet, or its declared dimension, may reach."""
MAX_SHEET_COLUMNS = 100
"""Furthest column (CV) any cell of a sheet, or its declared dimension, may reach."""
MAX_SHEET_CELLS = 1_000_000
"""Most cells one sheet may hold (an empty cell with only a format counts)."""
MAX_SHARED_STRINGS = 1_000_000
"""Most texts an .xlsx's shared-string table may declare or hold."""
MAX_SHARED_STRINGS_BYTES = 64 * 1024 * 1024
"""Most bytes xl/sharedStrings.xml may unpack to."""
MAX_SHEET_BYTES = 128 * 1024 * 1024
"""Most bytes one sheet's XML part (or an .ods file's content.xml) may unpack to."""
MAX_WHOLE_PART_BYTES = 32 * 1024 * 1024
"""Most bytes a part that is parsed whole (workbook.xml, styles.xml, the properties) may unpack to."""
MAX_TEXT_CHARS = 20_000_000
"""Most characters of text all cells of a workbook may hold together, each use of a shared
text counted again: what a reader makes of the file, not what the file packs."""
MAX_CELL_CHARS = 32_767
"""Excel's own limit for one cell's text: a longer text cannot be written back unchanged."""
MAX_COST = 10_000_000_000
"""Highest cost (kr) one action may have; anything above is a typing error, not a plan."""
FIRST_DATE_YEAR, LAST_DATE_YEAR = 1900, 2200
"""The years a Start or Klart date may fall in (every spreadsheet program can write them)."""
MAX_PROBLEMS_PER_CODE = 200
"""Most problems of one kind the feedback lists; it says how many more there are."""

LOCAL_ZONE = "Europe/Stockholm"
"""The kommun's time zone: schedules run in it and times are shown in it."""

CONTACTS_FILE_NAME = "kontakter.xlsx"

RETURN_TO_DEFAULT = (
    "Kommunstyrelsen, integrationssamordnaren: spara filen i den gemensamma mappen "
    "Inkorg (inbox) eller skicka den med e-post till samordnaren."
)


def default_plan_file() -> Path:
    """Returns the path of the plan shipped with the package (Kalix kommun's)."""
    return Path(str(resources.files("pipeline") / "data" / "integrationsplan-kalix.yaml"))


def jinja_templates_dir() -> Path:
    """Returns the folder of the Jinja2 templates for the reports."""
    return PROJECT_ROOT / "templates"


def today() -> dt.date:
    """Returns today's date in the kommun's time zone (the default as-of date of every run)."""
    try:
        return dt.datetime.now(ZoneInfo(LOCAL_ZONE)).date()
    except ZoneInfoNotFoundError:
        return dt.date.today()


@dataclass(frozen=True)
class Cycle:
    """Which year's cycle a run belongs to, the day it judges against, and the deadline.

    Built once at a command's or deployment's entry (`Cycle.build`); every stage takes it.
    """

    year: int
    as_of: dt.date
    deadline: dt.date | None = None

    @classmethod
    def build(
        cls,
        year: int | None = None,
        as_of: dt.date | None = None,
        deadline: dt.date | None = None,
        *,
        upcoming: bool = False,
    ) -> Cycle:
        """Returns the cycle with its defaults decided: as-of today; the year of the as-of
        date, or the year after it for `upcoming` work (next year's templates)."""
        as_of = as_of or today()
        default_year = as_of.year + 1 if upcoming else as_of.year
        if deadline is not None and deadline < as_of:
            # A template that asks for answers by a day already gone is sent in error.
            raise InvalidInputError(
                f"Sista dag att lämna in ({deadline.isoformat()}) har redan varit (i dag är det "
                f"{as_of.isoformat()}). Ange ett senare datum, t.ex. --deadline {as_of.year + 1}-03-31."
            )
        return cls(year=year or default_year, as_of=as_of, deadline=deadline)


@dataclass(frozen=True)
class FeedbackPaths:
    """Where one submission's feedback goes; `marked` is the copy with marked cells."""

    html: Path
    markdown: Path
    marked: Path


@dataclass(frozen=True)
class Settings:
    """Where a run reads and writes, and the limits it keeps."""

    inbox: Path = field(default_factory=lambda: Path("inbox"))
    outbox: Path = field(default_factory=lambda: Path("outbox"))
    plan_file: Path = field(default_factory=default_plan_file)
    contacts_file: Path = field(default_factory=lambda: Path(CONTACTS_FILE_NAME))
    """kontakter.xlsx: who each förvaltning's representative is, beside inbox/ and outbox/."""
    quiet_seconds: float = 60.0
    lock_timeout: float = 600.0
    prepared_rows: int = 200

    def with_overrides(self, **changes: Any) -> Settings:
        """Returns a copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def year_dir(self, year: int) -> Path:
        """Returns outbox/<year>, where everything about one year's cycle goes."""
        return self.outbox / str(year)

    def templates_dir(self, year: int) -> Path:
        """Returns outbox/<year>/mallar, the templates to send out."""
        return self.year_dir(year) / "mallar"

    def feedback_dir(self, year: int) -> Path:
        """Returns outbox/<year>/aterkoppling, the feedback per submission."""
        return self.year_dir(year) / "aterkoppling"

    def template_file(self, year: int, code: str) -> Path:
        """Returns outbox/<year>/mallar/handlingsplan_<year>_<code>.xlsx, one förvaltning's template."""
        return self.templates_dir(year) / f"handlingsplan_{year}_{code}.xlsx"

    def feedback_paths(self, year: int, department: str | None, digest: str) -> FeedbackPaths:
        """Returns where a submission's feedback goes: <KOD>_<digest>.html/.md and <KOD>_<digest>_markerad.xlsx."""
        stem = feedback_stem(department, digest)
        folder = self.feedback_dir(year)
        return FeedbackPaths(
            html=folder / f"{stem}.html",
            markdown=folder / f"{stem}.md",
            marked=folder / f"{stem}_markerad.xlsx",
        )

    def action_plan_file(self, year: int) -> Path:
        """Returns outbox/<year>/handlingsplan_<year>.xlsx, the consolidated handlingsplan."""
        return self.year_dir(year) / f"handlingsplan_{year}.xlsx"

    def follow_up_file(self, year: int) -> Path:
        """Returns outbox/<year>/uppfoljning_<year>.xlsx, KS's follow-up workbook."""
        return self.year_dir(year) / f"uppfoljning_{year}.xlsx"

    def summary_file(self, year: int, suffix: str) -> Path:
        """Returns outbox/<year>/sammanfattning_<year><suffix> (".html", ".md", ".pdf")."""
        return self.year_dir(year) / f"sammanfattning_{year}{suffix}"

    def clean_data_file(self, year: int, digest: str) -> Path:
        """Returns outbox/<year>/data/<digest>.json: an accepted submission's clean tables."""
        return self.year_dir(year) / "data" / f"{digest}.json"

    @property
    def archive_dir(self) -> Path:
        """Returns outbox/arkiv, the untouched copies of every submission."""
        return self.outbox / "arkiv"

    @property
    def ledger_file(self) -> Path:
        """Returns outbox/inlamningar.jsonl, the append-only record of submissions."""
        return self.outbox / "inlamningar.jsonl"

    def adopted_dir(self, year: int) -> Path:
        """Returns outbox/<year>/antagen: the handlingsplan as KS adopted it, and its history."""
        return self.year_dir(year) / "antagen"

    def adopted_file(self, year: int) -> Path:
        """Returns outbox/<year>/antagen/handlingsplan_<year>_antagen.xlsx, the adopted version in force."""
        return self.adopted_dir(year) / f"handlingsplan_{year}_antagen.xlsx"

    def adopted_manifest(self, year: int) -> Path:
        """Returns outbox/<year>/antagen/antagen.json: the decision and the submissions adopted."""
        return self.adopted_dir(year) / "antagen.json"

    def mail_dir(self, year: int) -> Path:
        """Returns outbox/<year>/utskick, where a dry run writes every message as an .eml file."""
        return self.year_dir(year) / "utskick"

    def templates_manifest(self, year: int) -> Path:
        """Returns outbox/<year>/mallar/mallar.json: the deadline and recipient the templates name."""
        return self.templates_dir(year) / "mallar.json"

    @property
    def send_log_file(self) -> Path:
        """Returns outbox/utskick.jsonl, the append-only record of every message sent or tried."""
        return self.outbox / "utskick.jsonl"

    @property
    def plans_dir(self) -> Path:
        """Returns outbox/planer, a copy of every plan version templates were made from."""
        return self.outbox / "planer"


Security = Literal["starttls", "ssl", "none"]

MAIL_ENV_PREFIX = "HANDLINGSPLAN_"
SMTP_PASSWORD_BLOCK = "handlingsplan-smtp-password"
"""The Prefect Secret block that may hold the SMTP password (`prefect block create secret`)."""


@dataclass(frozen=True)
class MailSettings:
    """How `send` reaches the kommun's SMTP relay, from HANDLINGSPLAN_* variables (or a `.env` file).

    Attributes:
        host: HANDLINGSPLAN_SMTP_HOST; None means every `send` is a dry run.
        port: HANDLINGSPLAN_SMTP_PORT (default 587 for starttls, 465 for ssl, 25 for none).
        security: HANDLINGSPLAN_SMTP_SECURITY: "starttls" (default), "ssl" or "none".
        user, password: HANDLINGSPLAN_SMTP_USER and _PASSWORD; the password is never shown,
            logged or stored, and never sent over a connection that is not encrypted.
        cafile: HANDLINGSPLAN_SMTP_CAFILE, the kommun's own CA for its relay (else the system's).
        mail_from: HANDLINGSPLAN_MAIL_FROM, the sender's address.
        coordinator: HANDLINGSPLAN_COORDINATOR: replies go there, failures are reported there.
        timeout: seconds to wait for the server at each step.
        retry_delays: seconds to wait before each new try after a transient failure.
    """

    host: str | None = None
    port: int = 587
    security: Security = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    mail_from: str | None = None
    coordinator: str | None = None
    timeout: float = 30.0
    retry_delays: tuple[float, ...] = (2.0, 10.0, 30.0)

    @property
    def dry_run(self) -> bool:
        """True when no SMTP host is configured: messages are written as .eml files only."""
        return not self.host

    @classmethod
    def from_environment(
        cls, environ: dict[str, str] | None = None, dotenv: Path | None = None
    ) -> MailSettings:
        """Returns the settings from the environment, falling back to a `.env` file's values.

        Raises InvalidInputError for a value that cannot be used (a port that is no number, an
        unknown security, a password over an unencrypted connection, a CA file that is missing).
        """
        values = dict(_dotenv_values(dotenv)) if dotenv is not None else {}
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(MAIL_ENV_PREFIX + name)
            return value.strip() if value and value.strip() else None

        security = (get("SMTP_SECURITY") or "starttls").lower()
        if security not in ("starttls", "ssl", "none"):
            raise InvalidInputError(
                f'HANDLINGSPLAN_SMTP_SECURITY="{security}" går inte; ange starttls, ssl eller none.'
            )
        port_text = get("SMTP_PORT")
        default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
        if port_text is not None and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise InvalidInputError(f'HANDLINGSPLAN_SMTP_PORT="{port_text}" är inget portnummer (t.ex. 587).')
        password = values.get(MAIL_ENV_PREFIX + "SMTP_PASSWORD") or None  # spaces may belong to it
        if password is not None and security == "none":
            raise InvalidInputError(
                "Lösenordet skickas inte över en okrypterad förbindelse: sätt "
                "HANDLINGSPLAN_SMTP_SECURITY=starttls (eller ssl), eller ta bort HANDLINGSPLAN_SMTP_PASSWORD."
            )
        cafile = Path(get("SMTP_CAFILE") or "") if get("SMTP_CAFILE") else None
        if cafile is not None and not cafile.is_file():
            raise InvalidInputError(f"HANDLINGSPLAN_SMTP_CAFILE: filen {cafile} finns inte.")
        return cls(
            host=get("SMTP_HOST"),
            port=int(port_text) if port_text else default_port,
            security=security,  # type: ignore[arg-type]  # checked against the three above
            user=get("SMTP_USER"),
            password=password,
            cafile=cafile,
            mail_from=get("MAIL_FROM"),
            coordinator=get("COORDINATOR"),
        )


def _dotenv_values(path: Path) -> dict[str, str]:
    """Returns a `.env` file's values (none when it is missing); os.environ is left alone."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9-]+")


def feedback_stem(department: str | None, digest: str) -> str:
    """Returns the file name stem of a submission's feedback: "SOC_<digest>" or "okand_<digest>".

    The whole SHA-256 digest, never a prefix: two submissions whose digests share a prefix
    (found in seconds by brute force) would otherwise write each other's feedback.
    """
    code = _UNSAFE_NAME.sub("_", department or "").strip("_")
    whole = _UNSAFE_NAME.sub("_", digest.lower())
    return f"{code or 'okand'}_{whole}"


PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Run logs go to Prefect's database (the UI); the terminal shows only our own lines.
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_CLI_PROMPT": "false",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
}


def prefect_home_default() -> Path:
    """Returns where Prefect keeps its database when PREFECT_HOME is not set."""
    return Path.home() / ".handlingsplan" / "prefect"


def configure_prefect(environ: dict[str, str] | None = None) -> None:
    """Sets the project's Prefect defaults; variables already set by the user win.

    Must run before `prefect` is imported, since Prefect reads its settings then.
    """
    env = os.environ if environ is None else environ
    for key, value in PREFECT_DEFAULTS.items():
        env.setdefault(key, value)
    env.setdefault("PREFECT_HOME", str(prefect_home_default()))
    # Prefect creates its home without parents; a missing parent stalls its embedded server.
    Path(env["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


def check_safe_xml() -> None:
    """Refuses to run when openpyxl parses XML without defusedxml (entity bombs, XXE)."""
    from openpyxl import xml as openpyxl_xml

    from pipeline.errors import UnsafeEnvironmentError

    if not openpyxl_xml.DEFUSEDXML:
        raise UnsafeEnvironmentError(
            "openpyxl använder inte defusedxml, så skadliga filer kan inte stoppas. "
            "Installera om programmet: pip install -r requirements.lock -e ."
        )


def local_time(received: str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Returns an ISO 8601 time (UTC when it has no offset) as Swedish local time; "" if absent.

    Text that is not a time is returned as given; without a time-zone database the time is
    shown as stored rather than failing.
    """
    if not received:
        return ""
    try:
        moment = dt.datetime.fromisoformat(received)
    except ValueError:
        return received
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    with contextlib.suppress(ZoneInfoNotFoundError):
        moment = moment.astimezone(ZoneInfo(LOCAL_ZONE))
    return moment.strftime(pattern)
