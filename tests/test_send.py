"""Utskick end to end: the real flows send to a real SMTP server (aiosmtpd, STARTTLS and AUTH
on a certificate the program checks against the CA file it is given), and the test reads
what arrived.

The year is next year, so the templates' deadline is always ahead of today's date.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import logging
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from pipeline import contract as c
from pipeline.config import Settings, today
from pipeline.plan import Plan
from tests.smtp import TestSmtpServer
from tests.workbooks import fill_workbook

pytestmark = pytest.mark.flow
pytest_plugins = ("tests.smtp",)

YEAR = today().year + 1
DEADLINE = dt.date(YEAR, 3, 31)
ADDRESSES = {
    "FoK": ("Frida Öberg", "frida.oberg@kalix.se", ""),
    "KS": ("Karl Åström", "karl.astrom@kalix.se", ""),
    "SBF": ("Sara Berg", "sara.berg@kalix.se", "chef.sbf@kalix.se; registrator@kalix.se"),
    "SOC": ("Sofia Ek", "sofia.ek@kalix.se", ""),
    "UTB": ("Ulf Holm", "ulf.holm@kalix.se", ""),
}
COORDINATOR = "samordnare@kalix.se"
SENDER = "handlingsplan@kalix.se"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The coordinator's working folder: inbox/, outbox/ and kontakter.xlsx side by side."""
    (tmp_path / "inbox").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("HANDLINGSPLAN_"):
            monkeypatch.delenv(name)
    yield tmp_path


def use_server(monkeypatch: pytest.MonkeyPatch, server: TestSmtpServer) -> None:
    """Points the program at the test server, as a kommun sets its environment."""
    settings = server.settings()
    values = {
        "SMTP_HOST": settings.host,
        "SMTP_PORT": str(settings.port),
        "SMTP_SECURITY": settings.security,
        "SMTP_USER": settings.user,
        "SMTP_PASSWORD": settings.password,
        "SMTP_CAFILE": str(settings.cafile),
        "MAIL_FROM": SENDER,
        "COORDINATOR": COORDINATOR,
    }
    for key, value in values.items():
        if value:
            monkeypatch.setenv(f"HANDLINGSPLAN_{key}", value)


def write_templates(plan: Plan, home: Path) -> dict[str, Path]:
    from pipeline.flows import templates_flow

    paths = templates_flow(year=YEAR, deadline=DEADLINE, plan_file=None, outbox=home / "outbox")
    return {p.stem.rsplit("_", 1)[1]: p for p in paths}


def write_contacts(home: Path) -> Path:
    """Creates kontakter.xlsx with the command's function and fills it as a coordinator does."""
    from pipeline.flows import prepare_contacts

    prepared = prepare_contacts(outbox=home / "outbox")
    assert prepared.created and set(prepared.missing) == set(ADDRESSES)
    wb = openpyxl.load_workbook(prepared.book.path)
    ws = wb.worksheets[0]
    headers = {cell.value: cell.column for cell in ws[1]}
    for row in range(2, ws.max_row + 1):
        code = ws.cell(row, headers["Förvaltning"]).value
        if code in ADDRESSES:
            name, address, copies = ADDRESSES[code]
            ws.cell(row, headers["Namn"]).value = name
            ws.cell(row, headers["E-post"]).value = address
            ws.cell(row, headers["Kopia"]).value = copies or None
    wb.save(prepared.book.path)
    return prepared.book.path


def send_log(home: Path) -> list[dict[str, Any]]:
    path = home / "outbox" / "utskick.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename() or "": part.get_content() for part in message.iter_attachments()}


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no text/{kind} part"
    return str(part.get_content()).replace("\r\n", "\n")  # lines end in CRLF on the wire


def every_output(home: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(home.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()


# --- templates ----------------------------------------------------------------------------


def test_templates_reach_each_representative_once(
    plan: Plan,
    home: Path,
    smtp_server: TestSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipeline.flows import send_templates_flow

    caplog.set_level(logging.DEBUG)
    templates = write_templates(plan, home)
    write_contacts(home)
    use_server(monkeypatch, smtp_server)

    report = send_templates_flow(year=YEAR)

    assert report.count("sent") == 5 and not report.failures and not report.dry_run
    assert "5 skickade, 0 redan skickade, 0 misslyckade" in report.summary_line()
    names = {m.recipients[0]: str(m.message["To"]) for m in smtp_server.messages}
    assert names["frida.oberg@kalix.se"] == "Frida Öberg <frida.oberg@kalix.se>"
    assert re.search(
        rb"^To: .*=\?utf-8\?.* <frida.oberg@kalix.se>",
        next(m.data for m in smtp_server.messages if "frida.oberg@kalix.se" in m.recipients),
        re.MULTILINE,
    )
    by_code = {}
    for received in smtp_server.messages:
        (code,) = [c for c, (_, address, _) in ADDRESSES.items() if address in received.recipients]
        by_code[code] = received
    assert set(by_code) == set(ADDRESSES)
    sbf = by_code["SBF"]
    assert sorted(sbf.recipients) == ["chef.sbf@kalix.se", "registrator@kalix.se", "sara.berg@kalix.se"]
    for code, received in by_code.items():
        message = received.message
        assert received.sender == SENDER
        assert message["Reply-To"] == COORDINATOR
        assert str(message["Subject"]) == f"Handlingsplan {YEAR} för integrationsplanen: mall till " + (
            "Kommunstyrelsen (kommunledningsförvaltningen)"
            if code == "KS"
            else f"{plan.department(code).name} ({code})"
        )
        # Swedish characters travel encoded, and come back as they were.
        head = received.data.split(b"\r\n\r\n", 1)[0]
        assert head.isascii() and re.search(rb"^Subject: .*=\?utf-8\?", head, re.MULTILINE)
        text = body(message)
        assert f"Hej {ADDRESSES[code][0]}," in text
        assert f"Sista dag att lämna in: {DEADLINE.isoformat()}." in text
        assert "Varför: Integrationsplan för Kalix kommun (KF 2015-02-09 § 34) ger varje nämnd" in text
        assert (
            f"Svara på det här mejlet, så når ni Kommunstyrelsens integrationssamordnare ({COORDINATOR})."
            in text
        )
        assert attachments(message) == {templates[code].name: templates[code].read_bytes()}

    again = send_templates_flow(year=YEAR)
    assert again.count("already_sent") == 5 and again.count("sent") == 0
    assert len(smtp_server.messages) == 5
    log = send_log(home)
    assert [entry["result"] for entry in log] == ["sent"] * 5
    assert {entry["message_id"] for entry in log} == {
        str(r.message["Message-ID"]) for r in smtp_server.messages
    }

    password = smtp_server.password
    assert password not in caplog.text
    assert [path for path, data in every_output(home) if password.encode() in data] == []


def test_a_refused_recipient_stops_no_one_and_is_sent_on_the_next_run(
    plan: Plan, home: Path, smtp_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.flows import send_templates_flow

    write_templates(plan, home)
    write_contacts(home)
    use_server(monkeypatch, smtp_server)
    smtp_server.refuse["sofia.ek@kalix.se"] = "550 5.1.1 Mottagaren finns inte"

    first = send_templates_flow(year=YEAR)

    assert first.count("sent") == 4 and first.count("failed") == 1
    assert first.failures == ["sofia.ek@kalix.se: 550 5.1.1 Mottagaren finns inte"]
    assert "4 skickade, 0 redan skickade, 1 misslyckat" in first.summary_line()
    (failed,) = [e for e in send_log(home) if e["result"] == "failed"]
    assert failed["department"] == "SOC" and failed["refused"] == {
        "sofia.ek@kalix.se": "550 5.1.1 Mottagaren finns inte"
    }
    # The coordinator hears of it.
    (note,) = [m for m in smtp_server.messages if COORDINATOR in m.recipients]
    assert "sofia.ek@kalix.se: 550 5.1.1 Mottagaren finns inte" in body(note.message)
    delivered = [m for m in smtp_server.messages if COORDINATOR not in m.recipients]
    assert len(delivered) == 4

    smtp_server.refuse.clear()
    smtp_server.messages.clear()
    second = send_templates_flow(year=YEAR)

    assert second.count("sent") == 1 and second.count("already_sent") == 4
    (retried,) = smtp_server.messages
    assert retried.recipients == ["sofia.ek@kalix.se"]
    assert "Socialförvaltningen" in str(retried.message["Subject"])


def test_a_dry_run_writes_what_would_be_sent(
    plan: Plan, home: Path, smtp_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.flows import send_templates_flow

    templates = write_templates(plan, home)
    write_contacts(home)
    monkeypatch.setenv("HANDLINGSPLAN_MAIL_FROM", SENDER)
    monkeypatch.setenv("HANDLINGSPLAN_COORDINATOR", COORDINATOR)

    dry = send_templates_flow(year=YEAR)  # no SMTP host: a dry run by itself

    assert dry.dry_run and dry.count("dry_run") == 5
    emls = sorted((home / "outbox" / str(YEAR) / "utskick").glob("*.eml"))
    assert len(emls) == 5
    parsed = {path: email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in emls}
    for path, message in parsed.items():
        assert isinstance(message, EmailMessage)
        code = path.name.split("_")[1]
        assert message["To"] == f"{ADDRESSES[code][0]} <{ADDRESSES[code][1]}>"
        assert attachments(message) == {templates[code].name: templates[code].read_bytes()}
        assert "Sista dag att lämna in" in body(message)
    # Nothing counts as sent: the real sending sends all five, byte for byte the .eml but the Date.
    use_server(monkeypatch, smtp_server)
    sent = send_templates_flow(year=YEAR)
    assert sent.count("sent") == 5

    def without_date(data: bytes) -> bytes:
        return re.sub(rb"^Date: .*\r?\n", b"", data.replace(b"\r\n", b"\n"), flags=re.MULTILINE)

    by_id = {str(m["Message-ID"]): path for path, m in parsed.items()}
    for received in smtp_server.messages:
        eml = by_id[str(received.message["Message-ID"])]
        assert without_date(received.data) == without_date(eml.read_bytes())


# --- feedback, reminders, summary ----------------------------------------------------------


def good_action() -> dict[str, Any]:
    return {
        c.GOAL: "1.3",
        c.ACTION: "Språkcafé för kvinnor",
        c.OWNER: "Enhetschef",
        c.STATUS: "Pågår",
        c.START: dt.datetime(YEAR, 1, 10),
        c.DONE: dt.datetime(YEAR, 12, 31),
        c.COST: 5000,
        c.INDICATOR: "Antal deltagare",
        c.FUNDING: "Statlig ersättning",
    }


def hand_in(templates: dict[str, Path], home: Path) -> None:
    """SOC hands in a good plan naming a new contact; KS one with a mistake (rejected)."""
    inbox = home / "inbox"
    fill_workbook(
        templates["SOC"],
        inbox / "handlingsplan SOC.xlsx",
        actions=[good_action()],
        concerns={"1.3": "Ja"},
        contact="Siv Nilsson",
        email="siv.nilsson@kalix.se",
    )
    fill_workbook(
        templates["KS"],
        inbox / "handlingsplan KS.xlsx",
        actions=[{**good_action(), c.STATUS: "Klar"}],
        concerns={"1.3": "Ja"},
        contact="Karl Åström",
        email="inte en adress",
    )
    past = dt.datetime(YEAR - 1, 11, 15, tzinfo=dt.UTC).timestamp()
    for path in inbox.iterdir():
        os.utime(path, (past, past))


def test_feedback_reminders_and_summary_go_where_they_belong(
    plan: Plan, home: Path, smtp_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.flows import collect_flow, report_flow, send_reminders_flow, send_summary_flow

    templates = write_templates(plan, home)
    write_contacts(home)
    hand_in(templates, home)
    use_server(monkeypatch, smtp_server)
    as_of = DEADLINE - dt.timedelta(days=3)

    collected = collect_flow(year=YEAR, as_of=as_of, quiet_seconds=0, send_feedback=True)

    # SOC's submission names Siv, kontakter.xlsx Sofia: collect says so, and feedback goes to Siv.
    (change,) = collected.contact_changes
    assert "SOC" in change and "Siv Nilsson" in change and "Sofia Ek" in change
    assert collected.mailing is not None and collected.mailing.count("sent") == 2
    by_code = {
        "SOC" if "Socialförvaltningen" in str(m.message["Subject"]) else "KS": m for m in smtp_server.messages
    }
    soc, ks = by_code["SOC"], by_code["KS"]
    assert soc.recipients == ["siv.nilsson@kalix.se"]
    assert "godkänd" in str(soc.message["Subject"])
    assert "<html" in body(soc.message, "html") and "Godkänd" in body(soc.message)
    assert attachments(soc.message) == {}
    # KS's own address is no address: its feedback goes to the representative in kontakter.xlsx.
    assert ks.recipients == ["karl.astrom@kalix.se"] and "avvisad" in str(ks.message["Subject"])
    marked = next((home / "outbox" / str(YEAR) / "aterkoppling").glob("KS_*_markerad.xlsx"))
    assert attachments(ks.message) == {marked.name: marked.read_bytes()}
    assert marked.name in body(ks.message, "html")  # the text names the file the recipient has
    assert "Klar" in body(ks.message) and "Klar" in body(ks.message, "html")

    # Reminders three days before: everyone but SOC; KS is told what to fix.
    smtp_server.messages.clear()
    reminded = send_reminders_flow(year=YEAR, as_of=as_of)
    assert reminded is not None and reminded.count("sent") == 4
    got = {m.recipients[0]: m.message for m in smtp_server.messages}
    assert set(got) == {
        "frida.oberg@kalix.se",
        "karl.astrom@kalix.se",
        "sara.berg@kalix.se",
        "ulf.holm@kalix.se",
    }
    assert (
        str(got["ulf.holm@kalix.se"]["Subject"])
        == f"Påminnelse: handlingsplan {YEAR} ska lämnas in senast {DEADLINE}"
    )
    assert "om 3 dagar" in body(got["ulf.holm@kalix.se"])
    assert "kunde inte godkännas" in body(got["karl.astrom@kalix.se"]) and "Klar" in body(
        got["karl.astrom@kalix.se"]
    )
    assert send_reminders_flow(year=YEAR, as_of=as_of).count("already_sent") == 4  # type: ignore[union-attr]
    # A scheduled run between reminder days sends nothing; after the deadline a note goes.
    assert send_reminders_flow(year=YEAR, as_of=DEADLINE - dt.timedelta(days=20), scheduled=True) is None
    smtp_server.messages.clear()
    late = send_reminders_flow(year=None, as_of=DEADLINE + dt.timedelta(days=7), scheduled=True)
    assert late is not None and late.count("sent") == 4
    assert all(str(m.message["Subject"]).startswith("Sista dagen har passerat") for m in smtp_server.messages)

    # The summary to KS: HTML body, text part, the follow-up attached.
    report_flow(year=YEAR, as_of=as_of)
    smtp_server.messages.clear()
    summary = send_summary_flow(year=YEAR, to=["ks@kalix.se", "ordforande@kalix.se"])
    assert summary.count("sent") == 1
    (received,) = smtp_server.messages
    assert sorted(received.recipients) == ["ks@kalix.se", "ordforande@kalix.se"]
    settings = Settings(outbox=home / "outbox")
    assert body(received.message, "html") == settings.summary_file(YEAR, ".html").read_text(encoding="utf-8")
    assert body(received.message) == settings.summary_file(YEAR, ".md").read_text(encoding="utf-8")
    follow_up = settings.follow_up_file(YEAR)
    assert attachments(received.message)[follow_up.name] == follow_up.read_bytes()
    assert send_summary_flow(year=YEAR, to=["ks@kalix.se"]).count("already_sent") == 1


# --- the command line ----------------------------------------------------------------------


def test_the_commands_say_what_they_did_and_refuse_a_password_in_clear(
    plan: Plan, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.cli import app

    runner = CliRunner()
    created = runner.invoke(app, ["contacts"])
    assert created.exit_code == 0, created.output
    assert "Skapade kontakter.xlsx" in created.stdout
    assert "Saknar giltig e-postadress: FoK, KS, SBF, SOC, UTB" in created.stdout

    assert (
        runner.invoke(app, ["templates", "--year", str(YEAR), "--deadline", DEADLINE.isoformat()]).exit_code
        == 0
    )
    dry = runner.invoke(app, ["send", "templates", "--year", str(YEAR)])
    # No address yet: nothing can go, and the command says why and where to fix it.
    assert dry.exit_code == 0, dry.output  # a dry run sends nothing, so nothing failed
    assert "Provkörning: inget skickades" in dry.stdout
    assert "ingen adress" in dry.stdout and "skulle inte nås: SOC: ingen e-postadress" in dry.stderr

    monkeypatch.setenv("HANDLINGSPLAN_SMTP_HOST", "smtp.kalix.se")
    monkeypatch.setenv("HANDLINGSPLAN_SMTP_SECURITY", "none")
    monkeypatch.setenv("HANDLINGSPLAN_SMTP_PASSWORD", "hemligt-lösen")
    refused = runner.invoke(app, ["send", "templates", "--year", str(YEAR)])
    assert refused.exit_code == 2
    assert "okrypterad" in refused.stderr and "hemligt-lösen" not in refused.output


# --- settings, occasions and messages, without a server -------------------------------------


def test_settings_come_from_the_environment_before_a_dotenv_file(tmp_path: Path) -> None:
    from pipeline.config import MailSettings
    from pipeline.errors import InvalidInputError

    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "HANDLINGSPLAN_SMTP_HOST=smtp.kalix.se\nHANDLINGSPLAN_SMTP_USER=utskick\n"
        "HANDLINGSPLAN_SMTP_PASSWORD='lösen med mellanslag'\nHANDLINGSPLAN_MAIL_FROM=integration@kalix.se\n",
        encoding="utf-8",
    )
    settings = MailSettings.from_environment({"HANDLINGSPLAN_SMTP_USER": "annan"}, dotenv)
    assert (settings.host, settings.port, settings.security) == ("smtp.kalix.se", 587, "starttls")
    assert settings.user == "annan" and settings.password == "lösen med mellanslag"
    assert "lösen" not in repr(settings)
    assert MailSettings.from_environment({}, tmp_path / "saknas.env").dry_run
    assert MailSettings.from_environment({"HANDLINGSPLAN_SMTP_SECURITY": "ssl"}).port == 465
    with pytest.raises(InvalidInputError, match="okrypterad"):
        MailSettings.from_environment(
            {"HANDLINGSPLAN_SMTP_SECURITY": "none", "HANDLINGSPLAN_SMTP_PASSWORD": "x"}
        )
    with pytest.raises(InvalidInputError, match="portnummer"):
        MailSettings.from_environment({"HANDLINGSPLAN_SMTP_PORT": "587a"})
    with pytest.raises(InvalidInputError, match="starttls, ssl eller none"):
        MailSettings.from_environment({"HANDLINGSPLAN_SMTP_SECURITY": "tls"})
    with pytest.raises(InvalidInputError, match="finns inte"):
        MailSettings.from_environment({"HANDLINGSPLAN_SMTP_CAFILE": str(tmp_path / "ca.pem")})


@pytest.mark.parametrize(
    ("as_of", "scheduled", "expected"),
    [
        (DEADLINE - dt.timedelta(days=20), True, None),  # no reminder day reached
        (DEADLINE - dt.timedelta(days=20), False, (DEADLINE - dt.timedelta(days=20), False, 20)),  # by hand
        (DEADLINE - dt.timedelta(days=14), True, (DEADLINE - dt.timedelta(days=14), False, 14)),
        (DEADLINE - dt.timedelta(days=10), True, (DEADLINE - dt.timedelta(days=14), False, 10)),
        (DEADLINE - dt.timedelta(days=3), True, (DEADLINE - dt.timedelta(days=3), False, 3)),
        (DEADLINE, True, (DEADLINE - dt.timedelta(days=3), False, 0)),
        (DEADLINE + dt.timedelta(days=1), False, (DEADLINE - dt.timedelta(days=3), True, -1)),
        (DEADLINE + dt.timedelta(days=7), True, (DEADLINE + dt.timedelta(days=7), True, -7)),
        (DEADLINE + dt.timedelta(days=40), True, (DEADLINE + dt.timedelta(days=7), True, -40)),
    ],
)
def test_reminder_occasions(
    as_of: dt.date, scheduled: bool, expected: tuple[dt.date, bool, int] | None
) -> None:
    from pipeline.letters import reminder_occasion

    found = reminder_occasion(DEADLINE, as_of, scheduled=scheduled)
    assert (None if found is None else (found.day, found.passed, found.days_left)) == expected


def test_a_letter_is_the_same_message_whenever_it_is_made() -> None:
    from pipeline.mailing import Attachment, Letter, Sender, compose

    letter = Letter(
        kind="templates",
        year=YEAR,
        department="SOC",
        about="abc",
        to=("sofia.ek@kalix.se",),
        cc=("chef@kalix.se",),
        subject="Handlingsplan för Socialförvaltningen – åäö",
        text="Hej Sofia,\n\nÅtgärder för året.\n",
        attachments=(Attachment("handlingsplan_2028_SOC.xlsx", b"PK\x03\x04 bytes"),),
    )
    sender = Sender("integration@kalix.se", reply_to=COORDINATOR)
    first = compose(letter, sender, 1, dt.datetime(2027, 1, 1, tzinfo=dt.UTC)).as_bytes()
    again = compose(letter, sender, 1, dt.datetime(2027, 6, 1, tzinfo=dt.UTC)).as_bytes()
    strip = re.compile(rb"^Date: .*\r\n", re.MULTILINE)
    assert strip.sub(b"", first) == strip.sub(b"", again) and first != again
    assert (
        compose(letter, sender, 2, dt.datetime(2027, 1, 1, tzinfo=dt.UTC))["Message-ID"]
        != email.message_from_bytes(first)["Message-ID"]
    )
    # Another förvaltning or subject matter is another letter; a new text of the same is not.
    assert Letter(**{**letter.__dict__, "department": "UTB"}).key != letter.key
    assert Letter(**{**letter.__dict__, "text": "Ny text"}).key == letter.key


def test_a_name_cannot_add_a_header(
    plan: Plan, home: Path, smtp_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.flows import send_templates_flow

    write_templates(plan, home)
    contacts = write_contacts(home)
    wb = openpyxl.load_workbook(contacts)
    ws = wb.worksheets[0]
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 1).value == "SOC":
            ws.cell(row, 2).value = "Sofia Ek\r\nBcc: inkräktare@example.org"
    wb.save(contacts)
    use_server(monkeypatch, smtp_server)

    assert send_templates_flow(year=YEAR).count("sent") == 5
    (soc,) = [m for m in smtp_server.messages if "sofia.ek@kalix.se" in m.recipients]
    assert soc.recipients == ["sofia.ek@kalix.se"]
    head = soc.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    (to,) = soc.message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Sofia Ek Bcc: inkräktare@example.org", "sofia.ek@kalix.se")
    assert all("inkräktare" not in r for m in smtp_server.messages for r in m.recipients)


def test_a_failed_scheduled_run_tells_the_coordinator_once(
    home: Path, smtp_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Failed

    from pipeline.errors import MissingInputError
    from pipeline.flows import notify_failure, send_templates_flow

    use_server(monkeypatch, smtp_server)
    error = MissingInputError(f"Det finns inga mallar för {YEAR} i outbox/{YEAR}/mallar.")
    state = Failed(message=f"Flow run encountered an exception: {error}", data=error)
    parameters = {"outbox": str(home / "outbox"), "year": YEAR}
    by_hand = FlowRun(flow_id=uuid.uuid4(), name="egen-korning", parameters=parameters)
    scheduled = FlowRun(
        flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="gul-katt", parameters=parameters
    )

    notify_failure(send_templates_flow, by_hand, state)  # a command's run: the error is on the screen
    assert smtp_server.messages == []
    notify_failure(send_templates_flow, scheduled, state)
    notify_failure(send_templates_flow, scheduled, state)  # Prefect may call a hook again: one notice

    (notice,) = smtp_server.messages
    assert notice.recipients == [COORDINATOR]
    assert str(notice.message["Subject"]).startswith("Körningen utskick-mallar stoppades")
    text = body(notice.message)
    assert "gul-katt" in text and str(error) in text
    assert str(scheduled.id) in text  # where the log is: the run in Prefect's UI, or the command
    # Without a working mail server the hook logs, and the run's own failure stands.
    smtp_server.stop()
    other = FlowRun(flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="bla-hund", parameters=parameters)
    notify_failure(send_templates_flow, other, state)


def test_every_send_reads_the_dotenv_beside_the_outbox(
    plan: Plan,
    home: Path,
    smtp_server: TestSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from pipeline.flows import send_reminders_flow

    write_templates(plan, home)
    write_contacts(home)
    settings = smtp_server.settings()
    (home / ".env").write_text(
        "\n".join(
            [
                f"HANDLINGSPLAN_SMTP_HOST={settings.host}",
                f"HANDLINGSPLAN_SMTP_PORT={settings.port}",
                f"HANDLINGSPLAN_SMTP_USER={settings.user}",
                f"HANDLINGSPLAN_SMTP_PASSWORD={settings.password}",
                f"HANDLINGSPLAN_SMTP_CAFILE={settings.cafile}",
                f"HANDLINGSPLAN_MAIL_FROM={SENDER}",
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # run from another folder, as cron may

    reminded = send_reminders_flow(year=YEAR, outbox=home / "outbox", as_of=DEADLINE - dt.timedelta(days=3))

    assert reminded is not None and not reminded.dry_run and reminded.count("sent") == 5


def test_a_torn_send_log_line_does_not_swallow_the_next(tmp_path: Path) -> None:
    from pipeline.mailing import LogEntry, append_send_log, read_send_log

    log_file = tmp_path / "utskick.jsonl"
    log_file.write_bytes(b'{"key": "abc", "kind": "templ')  # a crash in the middle of a line
    entry = LogEntry(
        key="k1",
        kind="templates",
        year=YEAR,
        department="SOC",
        subject="Mall",
        recipients=("sofia.ek@kalix.se",),
        accepted=("sofia.ek@kalix.se",),
        refused={},
        message_id="<k1.1@kalix.se>",
        time="2027-01-01T00:00:00+00:00",
        result="sent",
        attempts=1,
    )
    append_send_log(log_file, entry)
    assert read_send_log(log_file) == [entry]  # the sent message stays known: never sent twice
