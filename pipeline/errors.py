"""The few failures that stop a run. Data problems are records, never these."""

from __future__ import annotations


class HandlingsplanError(Exception):
    """Base of every error that stops a run; its message is Swedish and says what to do."""

    exit_code = 1


class PlanError(HandlingsplanError):
    """The plan file cannot be read or breaks a rule."""

    exit_code = 2


class OutboxLockedError(HandlingsplanError):
    """Another run is writing the same outbox."""

    exit_code = 3


class UnsafeEnvironmentError(HandlingsplanError):
    """The environment lacks a safety guard (e.g. openpyxl without defusedxml)."""

    exit_code = 4


class MissingInputError(HandlingsplanError):
    """A folder or file the run needs does not exist."""

    exit_code = 2


class NothingToReportError(HandlingsplanError):
    """No förvaltning has an accepted submission in force, so a report would be all zeros."""

    exit_code = 5


class InvalidInputError(HandlingsplanError):
    """A value given to a command or a deployment cannot be used (e.g. a deadline in the past)."""

    exit_code = 2


class MailServerError(HandlingsplanError):
    """The mail server cannot be used at all (unreachable, TLS or login refused): nothing is sent.

    A refused recipient or a message the server will not take is a failed delivery in the
    send log, never this.
    """

    exit_code = 7
