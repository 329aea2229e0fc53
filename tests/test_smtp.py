"""The SMTP transport against a real server (tests/smtp.py): TLS, login, refusals, retries."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from pipeline.config import MailSettings, Security
from pipeline.errors import MailServerError
from pipeline.smtp import Delivery, Mailer
from tests.smtp import PASSWORD, TRANSIENT_ANSWER, USER, TestSmtpServer

pytest_plugins = ("tests.smtp",)

SOC = "soc@kalix.se"
KFV = "kultur@kalix.se"
BUF = "barn@kalix.se"
UNKNOWN = "550 5.1.1 Mottagaren finns inte"
WORKBOOK = bytes(range(256)) * 64  # every byte value, so any re-encoding shows
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """These tests use no Prefect, so the conftest's Prefect server is not started for them."""
    yield


class Sleeps(list[float]):
    """A `sleep` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def letter(*to: str) -> EmailMessage:
    """Returns a reminder with a Swedish subject and body and a workbook attached."""
    message = EmailMessage()
    message["From"] = USER
    message["To"] = ", ".join(to)
    message["Subject"] = "Påminnelse: årets handlingsplan för Socialförvaltningen"
    message.set_content(
        "Hej!\n\nGlöm inte att lämna in handlingsplanen före den 15 maj.\n\nVänliga hälsningar\n"
    )
    message.add_attachment(
        WORKBOOK, maintype=XLSX[0], subtype=XLSX[1], filename="Handlingsplan_SOC_2025.xlsx"
    )
    return message


def test_starttls_and_login_deliver_the_message_and_its_attachment(smtp_server: TestSmtpServer) -> None:
    with Mailer(smtp_server.settings()) as mailer:
        first = mailer.send(letter(SOC, KFV), USER, [SOC, KFV])
        second = mailer.send(letter(BUF), USER, [BUF])

    assert (first, second) == (Delivery((SOC, KFV), {}, None, 1), Delivery((BUF,), {}, None, 1))
    assert first.delivered
    received = smtp_server.messages[0]
    assert (received.sender, received.recipients) == (USER, [SOC, KFV])
    assert received.message["Subject"] == "Påminnelse: årets handlingsplan för Socialförvaltningen"
    body = received.message.get_body(("plain",))
    assert body is not None and "Glöm inte att lämna in" in body.get_content()
    [attachment] = received.message.iter_attachments()
    assert attachment.get_filename() == "Handlingsplan_SOC_2025.xlsx"
    assert attachment.get_content() == WORKBOOK
    assert [m.recipients for m in smtp_server.messages] == [[SOC, KFV], [BUF]]
    assert smtp_server.logins == [(USER, True)]  # one connection, logged in over TLS once


def test_implicit_tls_delivers(smtp_server_ssl: TestSmtpServer) -> None:
    with Mailer(smtp_server_ssl.settings()) as mailer:
        delivery = mailer.send(letter(SOC), USER, [SOC])

    assert delivery == Delivery((SOC,), {}, None, 1)
    assert smtp_server_ssl.logins == [(USER, True)]
    assert [m.recipients for m in smtp_server_ssl.messages] == [[SOC]]


def test_plain_server_delivers_without_a_login(smtp_server_plain: TestSmtpServer) -> None:
    with Mailer(smtp_server_plain.settings()) as mailer:
        delivery = mailer.send(letter(SOC), USER, [SOC])

    assert delivery == Delivery((SOC,), {}, None, 1)
    assert smtp_server_plain.logins == []
    assert [m.recipients for m in smtp_server_plain.messages] == [[SOC]]


@pytest.mark.parametrize("kind", ["smtp_server", "smtp_server_ssl"])
def test_a_certificate_from_another_ca_is_refused(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: TestSmtpServer = request.getfixturevalue(kind)
    other = tmp_path / "annan-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    sleeps = Sleeps()

    with pytest.raises(MailServerError) as caught, Mailer(server.settings(cafile=other), sleeps) as mailer:
        mailer.send(letter(SOC), USER, [SOC])

    text = str(caught.value)
    assert f"127.0.0.1:{server.port}" in text
    assert "certifikat som inte gick att lita på" in text and "HANDLINGSPLAN_SMTP_CAFILE" in text
    assert (server.logins, server.messages, sleeps) == ([], [], [])  # refused at once, not retried


@pytest.mark.parametrize("wrong", ["Fel-93Zk-lösen", "Fel-93Zk-losen"], ids=["utf8", "ascii"])
def test_a_wrong_password_stops_and_is_shown_nowhere(
    wrong: str, smtp_server: TestSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(MailServerError) as caught, Mailer(smtp_server.settings(password=wrong)) as mailer:
        mailer.send(letter(SOC), USER, [SOC])

    text = str(caught.value)
    assert text.startswith(f"Kunde inte logga in på 127.0.0.1:{smtp_server.port} som {USER} (535 ")
    assert text.endswith("Kontrollera HANDLINGSPLAN_SMTP_USER och HANDLINGSPLAN_SMTP_PASSWORD.")
    everything = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + caplog.text
    assert wrong not in everything and PASSWORD not in everything
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN), each over TLS
    assert (set(smtp_server.logins), smtp_server.messages) == ({(USER, True)}, [])


def test_a_password_with_swedish_letters_logs_in(smtp_server: TestSmtpServer) -> None:
    smtp_server.password = "Sjöbod-Åre-ä7!"

    with Mailer(smtp_server.settings()) as mailer:
        delivery = mailer.send(letter(SOC), USER, [SOC])

    assert delivery == Delivery((SOC,), {}, None, 1)
    assert smtp_server.logins == [(USER, True)]


def test_a_server_without_starttls_gets_nothing_in_plain_text(smtp_server_plain: TestSmtpServer) -> None:
    settings = smtp_server_plain.settings(security="starttls", user=USER, password=PASSWORD)

    with pytest.raises(MailServerError) as caught, Mailer(settings) as mailer:
        mailer.send(letter(SOC), USER, [SOC])

    assert f"E-postservern 127.0.0.1:{smtp_server_plain.port} erbjuder inte STARTTLS" in str(caught.value)
    assert (smtp_server_plain.logins, smtp_server_plain.messages) == ([], [])


@pytest.mark.parametrize(
    ("user", "password", "security", "expected"),
    [
        (USER, None, "starttls", "sätt HANDLINGSPLAN_SMTP_PASSWORD"),
        (USER, None, "none", "Inloggning görs bara över en krypterad förbindelse"),
        (None, None, "none", None),
    ],
)
def test_settings_that_cannot_work_are_refused_before_connecting(
    user: str | None, password: str | None, security: Security, expected: str | None, tmp_path: Path
) -> None:
    settings = MailSettings(host="smtp.kalix.se", user=user, password=password, security=security)
    if expected is None:
        Mailer(settings).close()  # nothing to refuse, and no connection until the first send
        return
    with pytest.raises(MailServerError, match=expected):
        Mailer(settings)


def test_one_refused_recipient_among_several(smtp_server: TestSmtpServer) -> None:
    smtp_server.refuse[KFV] = UNKNOWN

    with Mailer(smtp_server.settings()) as mailer:
        delivery = mailer.send(letter(SOC, KFV, BUF), USER, [SOC, KFV, BUF])

    assert delivery == Delivery((SOC, BUF), {KFV: UNKNOWN}, None, 1)
    assert delivery.delivered
    assert [m.recipients for m in smtp_server.messages] == [[SOC, BUF]]


def test_every_recipient_refused_is_a_delivery_not_an_exception(smtp_server: TestSmtpServer) -> None:
    smtp_server.refuse.update({SOC: UNKNOWN, KFV: "553 5.1.3 Felaktig adress"})

    with Mailer(smtp_server.settings()) as mailer:
        delivery = mailer.send(letter(SOC, KFV), USER, [SOC, KFV])
        after = mailer.send(letter(BUF), USER, [BUF])  # the connection is still good

    assert delivery == Delivery((), {SOC: UNKNOWN, KFV: "553 5.1.3 Felaktig adress"}, None, 1)
    assert not delivery.delivered and after.delivered


def test_a_transient_refusal_is_tried_again_for_that_recipient_only(smtp_server: TestSmtpServer) -> None:
    smtp_server.transient[KFV] = 2
    sleeps = Sleeps()

    with Mailer(smtp_server.settings(), sleeps) as mailer:
        delivery = mailer.send(letter(SOC, KFV), USER, [SOC, KFV])

    assert delivery == Delivery((SOC, KFV), {}, None, 3)
    assert sleeps == [0.05, 0.1]
    assert [m.recipients for m in smtp_server.messages] == [[SOC], [KFV]]


def test_a_transient_refusal_past_the_last_retry_is_a_refusal(smtp_server: TestSmtpServer) -> None:
    smtp_server.transient[KFV] = 5
    sleeps = Sleeps()

    with Mailer(smtp_server.settings(), sleeps) as mailer:
        delivery = mailer.send(letter(SOC, KFV), USER, [SOC, KFV])

    assert delivery == Delivery((SOC,), {KFV: TRANSIENT_ANSWER}, None, 3)
    assert sleeps == [0.05, 0.1]


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        ("sender", "tog inte emot avsändaren utskick@kalix.se: 550 5.7.1 Avsändaren är spärrad"),
        ("data", "tog inte emot meddelandet: 554 5.6.0 Meddelandet avvisas"),
    ],
)
def test_a_permanent_refusal_of_the_message_is_an_error_without_retries(
    refusal: str, expected: str, smtp_server: TestSmtpServer
) -> None:
    if refusal == "sender":
        smtp_server.refuse[USER] = "550 5.7.1 Avsändaren är spärrad"
    else:
        smtp_server.refuse_data = "554 5.6.0 Meddelandet avvisas"
    sleeps = Sleeps()

    with Mailer(smtp_server.settings(), sleeps) as mailer:
        delivery = mailer.send(letter(SOC), USER, [SOC])

    assert delivery == Delivery((), {}, f"Servern 127.0.0.1:{smtp_server.port} {expected}", 1)
    assert not delivery.delivered and sleeps == []


def test_a_restarted_server_is_reconnected_to(smtp_server: TestSmtpServer) -> None:
    sleeps = Sleeps()
    with Mailer(smtp_server.settings(), sleeps) as mailer:
        first = mailer.send(letter(SOC), USER, [SOC])
        smtp_server.stop()  # drops the open connection
        smtp_server.start()
        second = mailer.send(letter(KFV), USER, [KFV])

    assert (first, second) == (Delivery((SOC,), {}, None, 1), Delivery((KFV,), {}, None, 2))
    assert sleeps == [0.05]
    assert [m.recipients for m in smtp_server.messages] == [[SOC], [KFV]]
    assert smtp_server.logins == [(USER, True), (USER, True)]


def test_a_server_gone_for_good_stops_the_run_after_the_retries(
    smtp_server: TestSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    with pytest.raises(MailServerError) as caught, Mailer(smtp_server.settings(), sleeps) as mailer:
        assert mailer.send(letter(SOC), USER, [SOC]).delivered
        smtp_server.stop()
        mailer.send(letter(KFV), USER, [KFV])

    assert str(caught.value) == (
        f"Kunde inte nå e-postservern 127.0.0.1:{smtp_server.port} på 3 försök (anslutningen nekades). "
        "Kontrollera HANDLINGSPLAN_SMTP_HOST, HANDLINGSPLAN_SMTP_PORT och HANDLINGSPLAN_SMTP_SECURITY "
        "(port 465 vill ha ssl), och att servern går att nå härifrån."
    )
    assert sleeps == [0.05, 0.1]
    assert "försöker igen om 0.05 s" in caplog.text


def test_a_failure_when_closing_is_logged_not_raised(
    smtp_server: TestSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with Mailer(smtp_server.settings()) as mailer:
        assert mailer.send(letter(SOC), USER, [SOC]).delivered
        smtp_server.stop()  # the QUIT on leaving finds nobody

    assert "gick inte att avsluta snyggt (servern stängde förbindelsen)" in caplog.text
