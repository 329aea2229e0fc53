"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, with a certificate from a test CA (trustme).

Use the fixtures by naming this module as a plugin in the test module::

    pytest_plugins = ("tests.smtp",)

    def test_sends(smtp_server: TestSmtpServer) -> None:
        with Mailer(smtp_server.settings()) as mailer:
            mailer.send(message, "utskick@kalix.se", ["soc@kalix.se"])
        assert smtp_server.messages[0].recipients == ["soc@kalix.se"]

`smtp_server` requires STARTTLS and a login over it, `smtp_server_ssl` speaks TLS from the
first byte (and requires a login), `smtp_server_plain` offers neither TLS nor a login requirement.
A test steers the answers through `refuse`, `transient` and `refuse_data` at any time.

PYTEST_DONT_REWRITE: a plugin the test modules also import; its asserts are no test's.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from pipeline.config import MailSettings, Security

HOST = "127.0.0.1"
USER = "utskick@kalix.se"
PASSWORD = "Hemligt-7Qx!zR4"
TRANSIENT_ANSWER = "451 4.3.0 Försök senare"


@dataclass(frozen=True)
class Received:
    """One message the server accepted: the envelope, the bytes, and the parsed message."""

    sender: str
    recipients: list[str]
    data: bytes
    message: EmailMessage


class TestSmtpServer:
    """An SMTP server on 127.0.0.1 that keeps what it receives and answers as a test says.

    Attributes:
        security: "starttls" (STARTTLS and a login over it required), "ssl" (TLS from the
            first byte, login required) or "none" (plain, no login required).
        cafile: the PEM of the CA that signed the server's certificate ("localhost", "127.0.0.1").
        user, password: the one login the server takes (None for "none").
        messages: what the server accepted, in order.
        refuse: address → answer (e.g. "550 5.1.1 Mottagaren finns inte"), for MAIL FROM and RCPT TO.
        transient: address → how many times RCPT TO answers "451 4.3.0 Försök senare" first.
        refuse_data: the answer to every DATA instead of accepting it (None accepts).
        logins: (user, over TLS) for each login attempt, refused ones included.
    """

    __test__ = False  # a helper, not a test class

    def __init__(self, ca: trustme.CA, directory: Path, security: Security = "starttls") -> None:
        self.security = security
        self.host = HOST
        self.port = _free_port()
        self.cafile = directory / "smtp-test-ca.pem"
        ca.cert_pem.write_to_path(str(self.cafile))
        self.user = None if security == "none" else USER
        self.password = None if security == "none" else PASSWORD
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.transient: dict[str, int] = {}
        self.refuse_data: str | None = None
        self.logins: list[tuple[str, bool]] = []
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", HOST).configure_cert(self._tls)
        self._controller: Controller | None = None

    def start(self) -> None:
        """Starts listening on `port` (again, after `stop`)."""
        tls: dict[str, Any] = {
            "starttls": {"tls_context": self._tls, "require_starttls": True},
            "ssl": {"ssl_context": self._tls, "auth_require_tls": False},  # the whole connection is TLS
            # offers AUTH in plain text, so a client that wrongly logs in shows up in `logins`
            "none": {"auth_require_tls": False},
        }[self.security]
        self._controller = Controller(
            _Handler(self),
            hostname=HOST,
            port=self.port,
            server_hostname="localhost",
            authenticator=self._authenticate,
            ready_timeout=5.0,
            **tls,
        )
        self._controller.start()

    def stop(self) -> None:
        """Stops listening and drops every open connection."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides: Any) -> MailSettings:
        """Returns mail settings that reach this server, with short retry delays."""
        settings = MailSettings(
            host=self.host,
            port=self.port,
            security=self.security,
            user=self.user,
            password=self.password,
            cafile=None if self.security == "none" else self.cafile,
            mail_from=USER,
            timeout=5.0,
            retry_delays=(0.05, 0.1),
        )
        return dataclasses.replace(settings, **overrides)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        over_tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        user = data.login.decode("utf-8", "replace")
        self.logins.append((user, over_tls))
        taken = self.user is not None and (user, data.password) == (self.user, self.password.encode())
        return AuthResult(success=taken, handled=False)


class _Handler:
    """aiosmtpd's hooks, answering from the server's `refuse`, `transient` and `refuse_data`."""

    def __init__(self, server: TestSmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.user is not None and not session.authenticated:
            return "530 5.7.0 Inloggning krävs"
        if address in self.server.refuse:
            return self.server.refuse[address]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.server.refuse:
            return self.server.refuse[address]
        if self.server.transient.get(address, 0) > 0:
            self.server.transient[address] -= 1
            return TRANSIENT_ANSWER
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.refuse_data is not None:
            return self.server.refuse_data
        data = envelope.original_content or b""
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.server.messages.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), data, parsed))
        return "250 OK"


def _free_port() -> int:
    """Returns a port nobody listens on now (the controller needs the number before it starts)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def started(ca: trustme.CA, directory: Path, security: Security) -> Iterator[TestSmtpServer]:
    """Yields a started server of the given kind and stops it afterwards."""
    server = TestSmtpServer(ca, directory, security)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_ca() -> trustme.CA:
    """The test CA that signs every test server's certificate (one per session: keys take time)."""
    return trustme.CA()


@pytest.fixture
def smtp_server(smtp_ca: trustme.CA, tmp_path: Path) -> Iterator[TestSmtpServer]:
    """A server that requires STARTTLS and then a login (`user`, `password`)."""
    yield from started(smtp_ca, tmp_path, "starttls")


@pytest.fixture
def smtp_server_ssl(smtp_ca: trustme.CA, tmp_path: Path) -> Iterator[TestSmtpServer]:
    """A server that speaks TLS from the first byte (port 465 style) and requires a login."""
    yield from started(smtp_ca, tmp_path, "ssl")


@pytest.fixture
def smtp_server_plain(smtp_ca: trustme.CA, tmp_path: Path) -> Iterator[TestSmtpServer]:
    """A server without TLS that requires no login (but would take one, to catch a client that tries)."""
    yield from started(smtp_ca, tmp_path, "none")
