"""The command line's Swedish face: help screens, option errors and file-system errors.

Typer 0.29 carries its own copy of Click whose texts ("Usage", "Options", "Error: Missing option")
are English literals, not gettext calls, so no translation catalogue can reach them. Instead the
`handlingsplan` group and its commands (Typer's public `cls=` hook) write their own help, check the
command line before Click's parser sees it, and catch every error before Typer would print it:
whatever Click might still say in English is never shown.
"""

from __future__ import annotations

import difflib
import errno
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from pipeline.errors import HandlingsplanError
from pipeline.text import visible

PROGRAM = "handlingsplan"

# Exit codes; the table in the README (section "Kommandot") lists the same.
EXIT_OK = 0
EXIT_USAGE = 2
"""The command line is wrong (unknown option, missing --year, a value that is no date)."""
EXIT_FILE_SYSTEM = 6
"""The file system stopped the run: no permission, disk full, a missing folder, a busy file."""
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl+C (the shells' convention, 128 + SIGINT)."""

HELP_TEXT = "Visa den här hjälpen."
WIDTH = 100

# Markup and emoji codes are off: a file named "[bold]a.xlsx" or ":x:.xlsx" prints as it is.
console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


class CommandLineError(Exception):
    """The command line cannot be run as written; the message is Swedish and says what to write."""

    exit_code = EXIT_USAGE
    ctx: Any = None
    """The context of the command that refused the line, for its example."""


# --- showing paths ---------------------------------------------------------------------------


def shown(path: Path | str) -> str:
    """Returns a path as the user best reads it: relative to the working folder when inside it."""
    p = Path(path)
    if not p.is_absolute():
        return visible(str(p))
    try:
        relative = p.relative_to(Path.cwd())
    except (ValueError, OSError):
        return visible(str(p))
    return visible(str(relative)) if relative.parts else "."


# --- help ------------------------------------------------------------------------------------


def _options(command: Any, ctx: Any) -> list[Any]:
    """The command's options in declared order, the help option last."""
    return [p for p in command.get_params(ctx) if p.param_type_name == "option" and not p.hidden]


def _is_help(param: Any, ctx: Any) -> bool:
    return any(name in ctx.help_option_names for name in param.opts)


def _takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def _names(param: Any) -> str:
    # Long names first, in the same order on every screen (the help option's names come as a set).
    names = ", ".join(sorted([*param.opts, *param.secondary_opts], key=lambda n: (not n.startswith("--"), n)))
    return f"{names} {param.metavar}" if _takes_value(param) and param.metavar else names


def _option_help(param: Any, ctx: Any) -> str:
    if _is_help(param, ctx):
        return HELP_TEXT
    text = " ".join((param.help or "").split())
    if param.required:
        text += " Måste anges."
    elif _takes_value(param) and param.default is not None and param.show_default is not False:
        text = f"{text.rstrip('.')} (standard: {str(param.default).rstrip('.')})."
    return text


def _definitions(rows: Sequence[tuple[str, str]], indent: int = 2) -> list[str]:
    """Two columns: names, then text wrapped under its own column."""
    first = min(max(len(name) for name, _ in rows), 30) + indent + 2
    lines = []
    for name, text in rows:
        wrapped = textwrap.wrap(text, WIDTH - first) or [""]
        if len(name) + indent + 2 > first:
            lines.append(" " * indent + name)
            lines.extend(" " * first + part for part in wrapped)
        else:
            lines.append((" " * indent + name).ljust(first) + wrapped[0])
            lines.extend(" " * first + part for part in wrapped[1:])
    return lines


def _paragraphs(text: str) -> list[str]:
    lines = []
    for paragraph in textwrap.dedent(text).strip().split("\n\n"):
        lines.extend(
            textwrap.wrap(" ".join(paragraph.split()), WIDTH - 2, initial_indent="  ", subsequent_indent="  ")
        )
        lines.append("")
    return lines


def usage_line(command: Any, ctx: Any) -> str:
    """The first line of the help: the command and its required options."""
    if isinstance(command, TyperGroup):
        return f"Användning: {ctx.command_path} KOMMANDO [val]"
    required = [f"{p.opts[0]} {p.metavar}" for p in _options(command, ctx) if p.required]
    return " ".join(["Användning:", ctx.command_path, *required, "[val]"])


def help_text(command: Any, ctx: Any) -> str:
    """The whole help screen of a command or of the group, in Swedish."""
    lines = [usage_line(command, ctx), ""]
    if command.help:
        lines.extend(_paragraphs(command.help))
    if isinstance(command, TyperGroup):
        rows = [(name, sub.get_short_help_str(WIDTH)) for name, sub in command.commands.items()]
        lines += ["Kommandon:", *_definitions(rows), ""]
    options = [(_names(p), _option_help(p, ctx)) for p in _options(command, ctx)]
    if options:
        lines += ["Val:", *_definitions(options), ""]
    if isinstance(command, TyperGroup):
        lines.append(f"Hjälp om ett kommando: {ctx.command_path} KOMMANDO --help")
    if command.epilog:
        lines.append(command.epilog)
    return "\n".join(lines).rstrip("\n")


# --- checking the command line ---------------------------------------------------------------


def _option_table(command: Any, ctx: Any) -> dict[str, Any]:
    return {name: p for p in _options(command, ctx) for name in [*p.opts, *p.secondary_opts]}


def check_command_line(command: Any, ctx: Any, args: Sequence[str]) -> None:
    """Refuses, in Swedish, what Click's parser would refuse in English.

    Unknown options, stray words, an option without its value, a missing required option.
    """
    table = _option_table(command, ctx)
    tokens = list(args)
    if "--" in tokens:  # what follows "--" is never an option; no command takes other words
        after = tokens[tokens.index("--") + 1 :]
        tokens = tokens[: tokens.index("--")]
        if after and not any(token in ctx.help_option_names for token in tokens):
            raise CommandLineError(
                f'"{after[0]}" är inget val. Varje värde skrivs efter sitt val, t.ex. --year 2027.'
            )
    if any(token in ctx.help_option_names for token in tokens):
        return  # the help is shown whatever else is written
    given: set[int] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, has_value, _ = token.partition("=")
        param = table.get(name) if token.startswith("-") else None
        if param is None and token.startswith("-") and len(token) > 1:
            raise CommandLineError(f"{PROGRAM} {ctx.info_name} har inget val som heter {name}.")
        if param is None:
            raise CommandLineError(
                f'"{token}" är inget val. Varje värde skrivs efter sitt val, t.ex. --year 2027.'
            )
        given.add(id(param))
        if _takes_value(param) and not has_value:
            if i + 1 >= len(tokens):
                raise CommandLineError(f"{name} behöver ett värde, t.ex. {_example_value(param)}.")
            i += 1
        elif not _takes_value(param) and has_value:
            raise CommandLineError(f"{name} tar inget värde; skriv bara {name}.")
        i += 1
    missing = [p for p in _options(command, ctx) if p.required and id(p) not in given]
    if missing:
        first = missing[0]
        what = (first.help or "").rstrip(".")
        raise CommandLineError(f"{first.opts[0]} måste anges: {what[:1].lower()}{what[1:]}.")


EXAMPLE_VALUES = {
    "ÅR": "2027",
    "ÅÅÅÅ-MM-DD": "2027-03-31",
    "MAPP": "outbox",
    "FIL": "plan.yaml",
    "ANTAL": "2",
    "SEKUNDER": "60",
    "MOTTAGARE": '"Kommunstyrelsen"',
    "ADRESS": "ks@kalix.se",
    "DAGAR": "14,3",
    "BESLUT": '"KS 2027-04-14 § 55"',
}


def _example_value(param: Any) -> str:
    return f"{param.opts[0]} {EXAMPLE_VALUES.get(param.metavar, param.metavar)}"


def check_group_line(group: TyperGroup, ctx: Any, args: Sequence[str]) -> None:
    """Refuses an unknown command or an option that belongs to no command, in Swedish."""
    for token in args:
        if token in ctx.help_option_names:
            return
        if token.startswith("-"):
            raise CommandLineError(
                f"{token} hör inte till något kommando här; skriv valet efter kommandot, "
                f"t.ex. {PROGRAM} collect --year 2027."
            )
        if token not in group.commands:
            close = difflib.get_close_matches(token, list(group.commands), n=1)
            guess = f" Menade du {close[0]}?" if close else ""
            known = ", ".join(group.commands)
            raise CommandLineError(
                f'Det finns inget kommando som heter "{token}".{guess} Kommandona är: {known}.'
            )
        return


# --- file-system errors ----------------------------------------------------------------------

_LOCKED_ON_WINDOWS = {32, 33}  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
_WRITING_ERRORS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG, errno.EROFS})
"""Errors only a write gives; the system does not say which file it was writing."""
_OUTPUT_OPTIONS = ("--outbox", "--dir")


def os_error_in(exc: BaseException) -> OSError | None:
    """The OS error behind an exception: itself, its cause or context, or one inside a group.

    Only an error the operating system raised counts (it carries an errno): one the program raises
    itself with a Swedish message, such as the demo's FileExistsError, is left to its caller.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of a path that is a file where a folder is needed."""
    for part in reversed(path.parents):
        if part.is_file():
            return part
    return None


def _option_for(path: Path, folders: Mapping[str, Path]) -> str:
    """' med --outbox' when the path lies in a folder the run was given by that option."""
    target = Path(os.path.abspath(path))
    for option, folder in folders.items():
        base = Path(os.path.abspath(folder))
        if target == base or base in target.parents:
            return f" med {option}"
    return ""


def describe_os_error(exc: OSError, folders: Mapping[str, Path] | None = None) -> str:
    """One Swedish line: which path, what the system refused, and what to do.

    Args:
        exc: the error as the operating system raised it.
        folders: option name → folder the run was given, so the line can name the option to change.
    """
    raw = exc.filename if exc.filename is not None else exc.filename2
    path = Path(os.fsdecode(raw)) if isinstance(raw, (str, bytes, os.PathLike)) else None
    code = exc.errno
    if path is None and code in _WRITING_ERRORS:
        # A write to an open file names no path; the run writes only in its output folder.
        path = next((folders[o] for o in _OUTPUT_OPTIONS if folders and o in folders), None)
    where = shown(path) if path is not None else "en fil eller mapp"
    option = _option_for(path, folders or {}) if path is not None else ""
    if getattr(exc, "winerror", None) in _LOCKED_ON_WINDOWS or code in (errno.EBUSY, errno.ETXTBSY):
        return (
            f"Fel: {where} används av ett annat program (är filen öppen i Excel?). "
            "Stäng filen och kör kommandot igen."
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"Fel: Behörighet saknas för {where}. Be den som sköter mappen om rätt att läsa och skriva "
            f"där, eller välj en annan mapp{option}."
        )
    if code == errno.EROFS:
        return f"Fel: {where} ligger på en enhet där det inte går att skriva. Välj en annan mapp{option}."
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (
            f"Fel: Disken är full, så {where} kunde inte skrivas. Frigör utrymme och kör kommandot igen, "
            f"eller välj en mapp på en annan disk{option}."
        )
    if code == errno.ENOTDIR and path is not None:
        in_the_way = _file_in_the_way(path) or path
        return (
            f"Fel: {shown(in_the_way)} är en fil, men här behövs en mapp. "
            f"Flytta filen eller välj en annan mapp{option}."
        )
    if code == errno.EEXIST and path is not None and path.is_file():
        return (
            f"Fel: {where} är en fil, men här behövs en mapp. Flytta filen eller välj en annan mapp{option}."
        )
    if code == errno.EEXIST:
        return (
            f"Fel: {where} finns redan. Flytta det som ligger där eller byt namn på det, "
            f"eller välj en annan mapp{option}."
        )
    if code == errno.ENOENT:
        return f"Fel: {where} finns inte. Skapa mappen eller ange rätt mapp{option}."
    if code == errno.EISDIR:
        return f"Fel: {where} är en mapp, men här behövs en fil. Ange en fil{option}."
    if code == errno.ENAMETOOLONG:
        return f"Fel: Sökvägen {where} är för lång. Välj en mapp med kortare sökväg{option}."
    if code in (errno.EMFILE, errno.ENFILE):
        return "Fel: Datorn har för många filer öppna. Stäng andra program och kör kommandot igen."
    if code == errno.EIO:
        return (
            f"Fel: Enheten där {where} ligger svarade med ett läs- eller skrivfel. "
            "Kontrollera enheten eller nätverksanslutningen och kör kommandot igen."
        )
    name = errno.errorcode.get(code, str(code)) if code is not None else "okänd"
    return (
        f"Fel: {where} gick inte att läsa eller skriva (systemets felkod {name}). "
        f"Kontrollera mappen och kör kommandot igen, eller välj en annan mapp{option}."
    )


# --- the group and its commands --------------------------------------------------------------


def _example(ctx: Any) -> str:
    """The example of the command that failed, or the program's own."""
    current = ctx
    while current is not None:
        if current.command.epilog:
            return str(current.command.epilog)
        current = current.parent
    return f"Exempel: {PROGRAM} collect --year 2027"


class SwedishCommand(TyperCommand):
    """A command that checks its line and shows its help in Swedish."""

    def get_help(self, ctx: Any) -> str:
        return help_text(self, ctx)

    def get_usage(self, ctx: Any) -> str:
        return usage_line(self, ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            check_command_line(self, ctx, args)
        except CommandLineError as exc:
            # The context travels with the error so the message can give this command's example.
            exc.ctx = ctx
            raise
        return super().parse_args(ctx, args)


class SwedishGroup(TyperGroup):
    """The `handlingsplan` group: Swedish help, and every error as Swedish text, never a traceback."""

    def get_help(self, ctx: Any) -> str:
        return help_text(self, ctx)

    def get_usage(self, ctx: Any) -> str:
        return usage_line(self, ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args:  # no command at all: the overview is the answer
            console.print(help_text(self, ctx))
            raise typer.Exit(EXIT_USAGE)
        try:
            check_group_line(self, ctx, args)
        except CommandLineError as exc:
            exc.ctx = ctx
            raise
        return super().parse_args(ctx, args)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Runs the command line; prints every error in Swedish and exits with its code."""
        code = self.run_line(list(sys.argv[1:] if args is None else args), prog_name or PROGRAM, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def run_line(self, args: list[str], prog_name: str, **extra: Any) -> int:
        """Returns the exit code of one command line; every message it prints is Swedish."""
        try:
            outcome = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except CommandLineError as exc:
            ctx = exc.ctx
            err_console.print(visible(f"Fel: {exc}"))
            self.print_hint(ctx, prog_name)
            return exc.exit_code
        except typer.BadParameter as exc:
            ctx = exc.ctx
            option = exc.param.opts[0] if exc.param is not None and exc.param.opts else "ett val"
            err_console.print(visible(f"Fel i {option}: {exc.message}"))
            self.print_hint(ctx, prog_name)
            return EXIT_USAGE
        except HandlingsplanError as exc:
            err_console.print(visible(f"Fel: {exc}", line_breaks=True))
            return exc.exit_code
        except typer.Abort:
            err_console.print("Avbrutet.")
            return 1
        except KeyboardInterrupt:
            err_console.print("Avbrutet.")
            return EXIT_INTERRUPTED
        except Exception as exc:
            found = os_error_in(exc)
            if found is not None:
                err_console.print(describe_os_error(found))
                return EXIT_FILE_SYSTEM
            if isinstance(getattr(exc, "exit_code", None), int) and hasattr(exc, "ctx"):
                # A refusal of Click's own that the checks above did not foresee: its text is English.
                err_console.print("Fel: Kommandoraden kunde inte tolkas.")
                self.print_hint(getattr(exc, "ctx", None), prog_name)
                return EXIT_USAGE
            raise
        return outcome if isinstance(outcome, int) else EXIT_OK

    def print_hint(self, ctx: Any, prog_name: str) -> None:
        path = ctx.command_path if ctx is not None else prog_name
        example = _example(ctx) if ctx is not None else str(self.epilog or "")
        err_console.print(f"{example}  (Alla val: {path} --help)")
