"""Delivering built messages to the kommun's SMTP relay: TLS, login, retries, refused recipients.

`Mailer` owns one connection (opened on the first message, reused, closed with QUIT at the end).
What becomes of each message is a `Delivery`; only a server that cannot be used at all raises
`MailServerError`.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from pipeline.config import MailSettings
from pipeline.errors import MailServerError

log = logging.getLogger(__name__)

CREDENTIALS_HINT = "Kontrollera HANDLINGSPLAN_SMTP_USER och HANDLINGSPLAN_SMTP_PASSWORD."
ADDRESS_HINT = (
    "Kontrollera HANDLINGSPLAN_SMTP_HOST, HANDLINGSPLAN_SMTP_PORT och HANDLINGSPLAN_SMTP_SECURITY "
    "(port 465 vill ha ssl), och att servern går att nå härifrån."
)
SECURITY_HINT = (
    "Kontrollera HANDLINGSPLAN_SMTP_SECURITY och HANDLINGSPLAN_SMTP_PORT "
    "(starttls går oftast på port 587, ssl på port 465)."
)


@dataclass(frozen=True)
class Delivery:
    """What became of one message.

    Attributes:
        accepted: the recipients the server took the message for.
        refused: recipient → the server's answer (e.g. "550 5.1.1 Okänd mottagare").
        error: why the message as a whole was not delivered (Swedish, with the server's answer).
        attempts: how many times the message was handed to the server.
    """

    accepted: tuple[str, ...]
    refused: dict[str, str]
    error: str | None
    attempts: int

    @property
    def delivered(self) -> bool:
        """True when the message went through for at least one recipient."""
        return self.error is None and bool(self.accepted)


@dataclass
class _Attempt:
    """One hand-over of a message: what is settled and what is worth another try."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    """Recipient → a 4xx answer: try these again."""
    error: str | None = None
    """The whole message is refused for good."""
    transient: str | None = None
    """The whole message failed in a way that may pass (4xx, a dropped connection)."""
    unreachable: bool = False
    """The failure was in reaching the server, not in handing over this message."""


class _Transient(Exception):
    """Reaching the server failed in a way that may pass; the text says how (no password)."""


class Mailer:
    """Sends messages over one SMTP connection, encrypted and logged in as the settings say.

    Use it as a context manager; the connection opens on the first `send` and closes on exit.
    """

    def __init__(self, settings: MailSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        """Checks the settings; raises MailServerError for ones that cannot work (nothing is sent)."""
        self._settings = settings
        self._sleep = sleep
        self._where = f"{settings.host}:{settings.port}"
        self._client: smtplib.SMTP | None = None
        _refuse_unusable(settings)
        self._context = _tls_context(settings) if settings.security != "none" else None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Says QUIT and closes the connection, if one is open; a failure here is only logged."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError) as err:
            # Everything was handed over already; a server that hangs up first is no failure.
            log.warning(
                "Förbindelsen med %s gick inte att avsluta snyggt (%s).", self._where, self._text(err)
            )
        finally:
            client.close()

    def send(self, message: EmailMessage, sender: str, recipients: Sequence[str]) -> Delivery:
        """Returns what became of `message` sent from `sender` to `recipients` (the envelope).

        Transient failures (4xx answers, a dropped connection, a timeout) are tried again, for
        the recipients not reached yet, after each of `settings.retry_delays`.

        Raises:
            MailServerError: the server cannot be reached, secured or logged into (after the
                retries when that may pass). Nothing else leaves this method.
        """
        pending = list(dict.fromkeys(recipients))
        if not pending:
            return Delivery((), {}, "Meddelandet har inga mottagare.", 0)
        accepted: list[str] = []
        refused: dict[str, str] = {}
        delays = iter(self._settings.retry_delays)
        attempts = 0
        while True:
            attempts += 1
            attempt = self._attempt(message, sender, pending)
            accepted += attempt.accepted
            refused.update(attempt.refused)
            if attempt.error is not None:
                return self._settled(message, Delivery(tuple(accepted), refused, attempt.error, attempts))
            pending = list(attempt.deferred)
            if not pending:
                return self._settled(message, Delivery(tuple(accepted), refused, None, attempts))
            delay = next(delays, None)
            if delay is None:
                return self._settled(message, self._given_up(attempt, accepted, refused, attempts))
            why = attempt.transient or "; ".join(f"{a}: {t}" for a, t in attempt.deferred.items())
            log.warning("Tillfälligt fel hos %s (%s); försöker igen om %g s.", self._where, why, delay)
            self._sleep(delay)

    def _given_up(
        self, last: _Attempt, accepted: list[str], refused: dict[str, str], attempts: int
    ) -> Delivery:
        """Returns the delivery after the last retry.

        Raises MailServerError when the server could not be reached and nobody got the message:
        every message after it would only wait out the same retries.
        """
        if last.unreachable and not accepted:
            raise MailServerError(
                f"Kunde inte nå e-postservern {self._where} på {attempts} försök ({last.transient}). {ADDRESS_HINT}"
            )
        if last.transient is not None:
            error = (
                f"Meddelandet kunde inte lämnas till {self._where} efter {attempts} försök: {last.transient}"
            )
            return Delivery(tuple(accepted), refused, error, attempts)
        # Only some recipients kept getting 4xx: they are refused with the server's last answer.
        return Delivery(tuple(accepted), {**refused, **last.deferred}, None, attempts)

    def _settled(self, message: EmailMessage, delivery: Delivery) -> Delivery:
        """Logs how `message` fared and returns `delivery`."""
        subject = message.get("Subject", "")
        if delivery.accepted:
            log.info("”%s” lämnat till %s för %s.", subject, self._where, ", ".join(delivery.accepted))
        for address, answer in delivery.refused.items():
            log.warning("”%s” till %s avvisades: %s", subject, address, answer)
        if delivery.error is not None:
            log.warning("”%s” skickades inte: %s", subject, delivery.error)
        return delivery

    def _attempt(self, message: EmailMessage, sender: str, recipients: list[str]) -> _Attempt:
        """Hands `message` over once; returns what was settled and what may be tried again."""
        try:
            client = self._connection()
        except _Transient as err:
            return _Attempt(
                deferred=dict.fromkeys(recipients, str(err)), transient=str(err), unreachable=True
            )
        try:
            answers = client.send_message(message, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as err:
            return self._sorted_answers(recipients, err.recipients, sent=False)
        except smtplib.SMTPResponseException as err:  # sender or data refused, or 421
            return self._message_refused(err, recipients, sender)
        except smtplib.SMTPNotSupportedError as err:
            # An address needs SMTPUTF8 and the server lacks it: no retry will change that.
            return _Attempt(error=f"Servern {self._where} tar inte emot adresser med å, ä, ö ({err}).")
        except OSError as err:  # a dropped connection or a timeout, SMTPServerDisconnected included
            self._forget()
            text = self._text(err)
            return _Attempt(deferred=dict.fromkeys(recipients, text), transient=text)
        finally:
            if client.sock is None:  # smtplib hung up (e.g. after a 421): connect anew next time
                self._client = None
        return self._sorted_answers(recipients, answers, sent=True)

    def _sorted_answers(
        self, recipients: list[str], answers: dict[str, tuple[int, bytes]], *, sent: bool
    ) -> _Attempt:
        """Returns the attempt from the recipients the server refused (the rest took the message if `sent`)."""
        attempt = _Attempt()
        for address in recipients:
            if address in answers:
                code, reply = answers[address]
                settled = attempt.refused if _permanent(code) else attempt.deferred
                settled[address] = self._answer(code, reply)
            elif sent:
                attempt.accepted.append(address)
            else:  # the server hung up (421) before this recipient was asked
                attempt.deferred[address] = "servern stängde förbindelsen"
        return attempt

    def _message_refused(
        self, err: smtplib.SMTPResponseException, recipients: list[str], sender: str
    ) -> _Attempt:
        """Returns the attempt when the server refused the sender or the message itself."""
        answer = self._answer(err.smtp_code, err.smtp_error)
        if not _permanent(err.smtp_code):
            return _Attempt(deferred=dict.fromkeys(recipients, answer), transient=answer)
        if isinstance(err, smtplib.SMTPSenderRefused):
            return _Attempt(error=f"Servern {self._where} tog inte emot avsändaren {sender}: {answer}")
        return _Attempt(error=f"Servern {self._where} tog inte emot meddelandet: {answer}")

    def _connection(self) -> smtplib.SMTP:
        """Returns the open connection, opening (and securing, and logging in) one if needed."""
        if self._client is None:
            self._client = self._open()
            log.info("Ansluten till e-postservern %s (%s).", self._where, self._settings.security)
        return self._client

    def _forget(self) -> None:
        """Drops a connection in an unknown state, without a word to the server."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _open(self) -> smtplib.SMTP:
        """Returns a new client, connected, encrypted and logged in as the settings say.

        Raises:
            MailServerError: the server cannot be used (TLS, certificate, STARTTLS, login).
            _Transient: a failure that may pass (refused connection, timeout, 4xx).
        """
        client = None
        try:
            client = self._connect()
            self._secure(client)
            self._login(client)
            return client
        except BaseException:
            if client is not None:
                client.close()
            raise

    def _connect(self) -> smtplib.SMTP:
        """Returns a client connected to the server (inside TLS for "ssl")."""
        settings = self._settings
        assert settings.host is not None  # checked in __init__
        try:
            if settings.security == "ssl":
                return smtplib.SMTP_SSL(
                    settings.host, settings.port, context=self._context, timeout=settings.timeout
                )
            return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        except socket.gaierror as err:
            if err.errno == socket.EAI_AGAIN:  # the name server did not answer in time
                raise _Transient(f"namnet {settings.host} kunde inte slås upp just nu") from err
            raise MailServerError(
                f"E-postservern {self._where} finns inte (namnet går inte att slå upp). "
                "Kontrollera HANDLINGSPLAN_SMTP_HOST."
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            raise self._failure(err, "anslutningen") from err

    def _secure(self, client: smtplib.SMTP) -> None:
        """Says EHLO and, for "starttls", switches to TLS; refuses to go on in plain text."""
        try:
            client.ehlo()
            if self._settings.security != "starttls":
                return
            if not client.has_extn("starttls"):
                raise MailServerError(
                    f"E-postservern {self._where} erbjuder inte STARTTLS, och utan kryptering skickas "
                    f"ingenting. {SECURITY_HINT}"
                )
            client.starttls(context=self._context)
            client.ehlo()
        except (smtplib.SMTPException, OSError) as err:
            raise self._failure(err, "krypteringen") from err

    def _login(self, client: smtplib.SMTP) -> None:
        """Logs in when a user is set, and only over an encrypted connection."""
        user, password = self._settings.user, self._settings.password
        if user is None:
            return
        if not isinstance(client.sock, ssl.SSLSocket) or password is None:
            # __init__ refuses these settings; this guard keeps the password off a plain wire.
            raise MailServerError(f"Inloggning på {self._where} görs bara över en krypterad förbindelse.")
        try:
            if f"{user}{password}".isascii():
                client.login(user, password)
            else:
                _login_utf8(client, user, password)
        except smtplib.SMTPAuthenticationError as err:
            answer = self._answer(err.smtp_code, err.smtp_error)
            if not _permanent(err.smtp_code):
                raise _Transient(answer) from None
            # from None: nothing of the exchange that carried the password goes along.
            raise MailServerError(
                f"Kunde inte logga in på {self._where} som {user} ({answer}). {CREDENTIALS_HINT}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailServerError(
                f"E-postservern {self._where} erbjuder ingen inloggning (AUTH). "
                f"{SECURITY_HINT} Behövs ingen inloggning: ta bort HANDLINGSPLAN_SMTP_USER."
            ) from None
        except (smtplib.SMTPResponseException, smtplib.SMTPServerDisconnected) as err:
            raise self._failure(err, "inloggningen") from None
        except smtplib.SMTPException:  # "No suitable authentication method found."
            raise MailServerError(
                f"E-postservern {self._where} erbjuder inget inloggningssätt som går att använda "
                f"(PLAIN, LOGIN eller CRAM-MD5). {CREDENTIALS_HINT}"
            ) from None
        except OSError as err:
            raise self._failure(err, "inloggningen") from None

    def _failure(self, err: smtplib.SMTPException | OSError, step: str) -> Exception:
        """Returns the exception for a failure while connecting: _Transient or MailServerError."""
        if isinstance(err, ssl.SSLCertVerificationError):
            return MailServerError(
                f"E-postservern {self._where} visade ett certifikat som inte gick att lita på "
                f"({err.verify_message}). Kontrollera HANDLINGSPLAN_SMTP_CAFILE (kommunens CA) och att "
                "HANDLINGSPLAN_SMTP_HOST är namnet i serverns certifikat."
            )
        if isinstance(err, ssl.SSLError):
            return MailServerError(
                f"TLS-handskakningen med e-postservern {self._where} misslyckades ({err.reason or err}). "
                f"{SECURITY_HINT}"
            )
        if isinstance(err, smtplib.SMTPResponseException) and _permanent(err.smtp_code):
            return MailServerError(
                f"E-postservern {self._where} avvisade {step} "
                f"({self._answer(err.smtp_code, err.smtp_error)}). {ADDRESS_HINT}"
            )
        if isinstance(err, smtplib.SMTPResponseException):
            return _Transient(self._answer(err.smtp_code, err.smtp_error))
        if isinstance(err, smtplib.SMTPException) and not isinstance(err, smtplib.SMTPServerDisconnected):
            return MailServerError(
                f"E-postservern {self._where} avbröt {step} ({self._text(err)}). {ADDRESS_HINT}"
            )
        # A refused or dropped connection, a timeout: these pass often enough to be worth a wait.
        return _Transient(self._text(err))

    def _answer(self, code: int, reply: bytes | str) -> str:
        """Returns a server's answer as one line, "550 5.1.1 …"."""
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        return self._redacted(f"{code} {' '.join(text.split())}")

    def _text(self, err: BaseException) -> str:
        """Returns what went wrong, in Swedish for the usual network failures."""
        if isinstance(err, smtplib.SMTPServerDisconnected):
            return "servern stängde förbindelsen"
        if isinstance(err, ConnectionRefusedError):
            return "anslutningen nekades"
        if isinstance(err, ConnectionResetError | BrokenPipeError):
            return "förbindelsen bröts"
        if isinstance(err, TimeoutError):
            return f"inget svar inom {self._settings.timeout:g} s"
        return self._redacted(str(err) or type(err).__name__)

    def _redacted(self, text: str) -> str:
        """Returns `text` with the password blanked, should a server ever echo it."""
        password = self._settings.password
        return text.replace(password, "********") if password else text


def _login_utf8(client: smtplib.SMTP, user: str, password: str) -> None:
    """Logs in with AUTH PLAIN in UTF-8 (RFC 4616): smtplib's login sends ASCII only, so an å fails."""
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("AUTH")
    if "PLAIN" not in client.esmtp_features["auth"].upper().split():
        raise MailServerError(
            "Användarnamnet eller lösenordet har tecken utanför ASCII (t.ex. å, ä, ö), och det går bara "
            "att skicka med AUTH PLAIN, som servern inte erbjuder. Byt lösenord, eller be om AUTH PLAIN."
        )
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _permanent(code: int) -> bool:
    """True for a 5xx answer: the same request will be refused again."""
    return 500 <= code < 600


def _refuse_unusable(settings: MailSettings) -> None:
    """Raises MailServerError for settings that can never send (before any connection)."""
    if not settings.host:
        raise MailServerError(
            "Ingen e-postserver angiven: sätt HANDLINGSPLAN_SMTP_HOST (annars blir det en provkörning)."
        )
    if settings.user is not None and settings.security == "none":
        raise MailServerError(
            "Inloggning görs bara över en krypterad förbindelse: sätt HANDLINGSPLAN_SMTP_SECURITY=starttls "
            "(eller ssl), eller ta bort HANDLINGSPLAN_SMTP_USER."
        )
    if settings.user is not None and not settings.password:
        raise MailServerError(
            f"HANDLINGSPLAN_SMTP_USER är satt ({settings.user}) men inget lösenord: "
            "sätt HANDLINGSPLAN_SMTP_PASSWORD."
        )


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    """Returns a context that checks the server's certificate and name (against the kommun's CA if set)."""
    try:
        return ssl.create_default_context(cafile=settings.cafile)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        raise MailServerError(
            f"HANDLINGSPLAN_SMTP_CAFILE: {settings.cafile} går inte att läsa som CA-certifikat (PEM): {err}."
        ) from err
