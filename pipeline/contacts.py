"""The contacts workbook, kontakter.xlsx: who each förvaltning's representative is.

The coordinator keeps it beside inbox/ and outbox/, one row per förvaltning under the
headers Förvaltning, Namn, E-post and Kopia on the first sheet. `write_contacts` makes a
fresh one from the plan; `read_contacts` reads it into contacts and problem records, and
never raises for what a person can have done to the file.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import openpyxl
import xlsxwriter
from email_validator import EmailNotValidError, validate_email
from openpyxl.utils import get_column_letter
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.worksheet import Worksheet

from pipeline.config import MAX_SHEET_COLUMNS, check_safe_xml
from pipeline.files import atomic_path
from pipeline.problems import ERROR, Problem, describe, display_value, problem
from pipeline.text import visible

log = logging.getLogger(__name__)

DEPARTMENT, NAME, EMAIL, COPIES = HEADERS = ("Förvaltning", "Namn", "E-post", "Kopia")
"""The first sheet's headers, in row 1; Namn and Kopia may be left out."""
REQUIRED = (DEPARTMENT, EMAIL)

SHEET_CONTACTS = "Kontakter"
SHEET_DEPARTMENTS = "Förvaltningar"
"""The second sheet `write_contacts` adds: code and full name. The reader never reads it."""

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
"""Most bytes the workbook's parts may unpack to: openpyxl holds every shared text in memory."""
MAX_ROWS = 1000
"""Most rows under the header; a list of a handful of förvaltningar is far inside it."""

# The same fixed creation time as pipeline.template: the same inputs give the same bytes.
FIXED_CREATED = dt.datetime(2015, 2, 9, 0, 0, 0)
_WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
_NOTHING_KNOWN: Mapping[str, tuple[str, str]] = MappingProxyType({})
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""How a password-protected .xlsx, or an old .xls, begins: Microsoft's compound file."""


@dataclass(frozen=True)
class Contact:
    """One förvaltning's contact person, as one row of kontakter.xlsx gives it.

    `email` is the valid, normalized address in E-post, or None when the cell is empty or
    not an address; `copies` are the valid addresses in Kopia; `row` is the Excel row.
    """

    department: str
    name: str
    email: str | None
    copies: tuple[str, ...]
    row: int


@dataclass(frozen=True)
class ContactBook:
    """What kontakter.xlsx says: the contacts by förvaltning code in plan order, and its problems.

    `exists` is False when there is no file (then there are neither contacts nor problems).
    """

    path: Path
    exists: bool
    contacts: dict[str, Contact]
    problems: tuple[Problem, ...]

    def without_address(self, codes: Sequence[str]) -> tuple[str, ...]:
        """Returns the codes, in their order, that have no valid E-post (or no row at all)."""
        return tuple(code for code in codes if code not in self.contacts or self.contacts[code].email is None)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Returns the problems of kind error: rows or cells that were not used as written."""
        return tuple(p for p in self.problems if p.kind == ERROR)


def parse_address(text: str) -> str | None:
    """Returns the one e-mail address in `text`, normalized, or None if it is not one.

    The text is NFC-normalized and stripped, then checked by syntax only (no DNS lookup):
    the domain is lower-cased, the part before @ kept as typed. Besides a plain address,
    "Anna Andersson <anna@kalix.se>" and "<anna@kalix.se>" are accepted, since that is what
    Outlook copies from a recipient field; the name in front is dropped (Namn holds it).
    Letters outside ASCII before the @ (åsa@kalix.se) are refused: a kommun's addresses are
    written without them, and a mail relay without SMTPUTF8 could not deliver to one.
    """
    checked = _checked(text)
    return checked if isinstance(checked, str) else None


def _checked(text: str) -> str | EmailNotValidError:
    """Returns the normalized address, or the validator's reason (for the coordinator's detail)."""
    try:
        found = validate_email(
            unicodedata.normalize("NFC", text).strip(),
            check_deliverability=False,
            allow_display_name=True,
            allow_smtputf8=False,
        )
    except EmailNotValidError as exc:
        return exc
    return str(found.normalized)


def split_addresses(text: str) -> tuple[str, ...]:
    """Returns the parts of a Kopia cell: split on ";" and ",", blanks left out.

    A separator inside quotes or angle brackets does not split, so that Outlook's
    '"Andersson, Anna" <anna@kalix.se>' stays one part.
    """
    parts: list[str] = []
    current: list[str] = []
    closing = ""  # the character that ends the quote or bracket we are in
    for char in text:
        if closing:
            closing = "" if char == closing else closing
        elif char in '<"':
            closing = ">" if char == "<" else '"'
        elif char in ";,":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return tuple(part.strip() for part in parts if part.strip())


# Reading -----------------------------------------------------------------------------


_Row = tuple[int, dict[str, Any]]
"""A row under the header: its Excel row number and the value under each header found."""


@dataclass(frozen=True)
class _Sheet:
    """The first sheet's raw values: its title, row 1, and the rows below it that hold anything."""

    title: str
    columns: dict[str, int]
    """Each of HEADERS found in row 1, and its 0-based column."""
    rows: tuple[_Row, ...]
    """(Excel row, value of each found header), rows without content left out."""
    overflow: tuple[int, int] | None
    """(Excel row, 0-based column) of the first content below the last row allowed."""


class _NoWorksheetError(ValueError):
    """The workbook has no worksheet (only chart sheets, or none at all)."""


def read_contacts(path: Path, department_codes: Sequence[str]) -> ContactBook:
    """Returns the contacts and problems of kontakter.xlsx at `path`.

    Only the first worksheet is read. A file that is missing gives `exists=False`; one that
    is too large or cannot be read gives a single error and no contacts. A row whose
    Förvaltning is unknown, empty or repeated gives no contact; a row whose E-post is empty
    or invalid gives a contact with `email` None, so its name and copies are kept.

    Raises:
        UnsafeEnvironmentError: openpyxl would parse XML without defusedxml.
    """
    if not path.exists():
        return ContactBook(path=path, exists=False, contacts={}, problems=())
    check_safe_xml()
    codes = tuple(department_codes)
    try:
        size, unpacked = _measure(path)
        sheet = _load(path) if size <= MAX_FILE_BYTES and unpacked <= MAX_UNPACKED_BYTES else None
    except Exception as exc:  # a malformed file makes zipfile and openpyxl raise all kinds
        log.warning("kontaktlistan %s kunde inte läsas: %s", path, describe(exc), exc_info=True)
        return ContactBook(path=path, exists=True, contacts={}, problems=(_unreadable(path, exc),))
    if sheet is None:
        return ContactBook(path=path, exists=True, contacts={}, problems=(_too_large(path, size, unpacked),))
    contacts, problems = _interpret(_file_name(path), sheet, codes)
    return ContactBook(path=path, exists=True, contacts=contacts, problems=tuple(problems))


def _measure(path: Path) -> tuple[int, int]:
    """Returns the file's size and, unless that is over the limit already, what its parts unpack to.

    zipfile never unpacks a part beyond the size its directory declares, so the declared
    sizes are a bound openpyxl cannot exceed.
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return size, 0
    with zipfile.ZipFile(path) as archive:
        return size, sum(info.file_size for info in archive.infolist())


def _load(path: Path) -> _Sheet:
    """Returns the first worksheet's headers and rows, stopping at the first row past MAX_ROWS."""
    with path.open("rb") as handle:  # a handle, so that openpyxl does not judge the file by its name
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise _NoWorksheetError(path.name)
            sheet = workbook.worksheets[0]
            # The declared dimension may be wrong either way: too small cuts rows off, too
            # large makes openpyxl pad with up to a million empty rows.
            sheet.reset_dimensions()
            header = next(sheet.iter_rows(max_row=1, max_col=MAX_SHEET_COLUMNS, values_only=True), ())
            columns = _columns(header)
            rows, overflow = _rows(sheet, columns)
            return _Sheet(sheet.title, columns, rows, overflow)
        finally:
            workbook.close()


def _columns(header: Sequence[Any]) -> dict[str, int]:
    """Returns each of HEADERS found in row 1 and its 0-based column; the first one counts."""
    wanted = {name.casefold(): name for name in HEADERS}
    found: dict[str, int] = {}
    for index, value in enumerate(header):
        name = wanted.get(_text(value).casefold())
        if name is not None and name not in found:
            found[name] = index
    return found


def _rows(sheet: Any, columns: dict[str, int]) -> tuple[tuple[_Row, ...], tuple[int, int] | None]:
    """Returns the rows under the header that hold anything in a header's column, and the
    first such row past MAX_ROWS (row, column), where reading stopped."""
    if not columns:
        return (), None
    found: list[_Row] = []
    for number, values in enumerate(
        sheet.iter_rows(min_row=2, max_col=max(columns.values()) + 1, values_only=True), start=2
    ):
        cells = {name: values[index] for name, index in columns.items() if index < len(values)}
        filled = [columns[name] for name, value in cells.items() if _text(value)]
        if not filled:
            continue
        if number > MAX_ROWS + 1:
            return tuple(found), (number, min(filled))
        found.append((number, cells))
    return tuple(found), None


def _interpret(file: str, sheet: _Sheet, codes: tuple[str, ...]) -> tuple[dict[str, Contact], list[Problem]]:
    """Returns the contacts in plan order and the problems of the sheet's rows."""
    place = _Place(file, sheet.title, sheet.columns)
    missing = [name for name in REQUIRED if name not in sheet.columns]
    if missing:
        return {}, [place.problem("contacts_header_missing", name, 1) for name in missing]
    if sheet.overflow is not None:
        row, column = sheet.overflow
        return {}, [
            problem(
                "contacts_too_many_rows",
                file=file,
                sheet=sheet.title,
                cell=f"{get_column_letter(column + 1)}{row}",
                row=row,
                limit=f"{MAX_ROWS}",
            )
        ]
    found: dict[str, Contact] = {}
    problems: list[Problem] = []
    for row, cells in sheet.rows:
        contact = _contact(place, row, cells, codes, found, problems)
        if contact is not None:
            found[contact.department] = contact
    problems += [
        problem("contacts_missing_department", file=file, sheet=sheet.title, department=code)
        for code in codes
        if code not in found
    ]
    return {code: found[code] for code in codes if code in found}, problems


@dataclass(frozen=True)
class _Place:
    """Where a row's cells are, to make its problems with."""

    file: str
    sheet: str
    columns: dict[str, int]

    def cell(self, header: str, row: int) -> str:
        """Returns the Excel reference of `header`'s cell in `row`, e.g. "C7"."""
        return f"{get_column_letter(self.columns.get(header, 0) + 1)}{row}"

    def problem(
        self, code: str, header: str, row: int, value: Any = None, detail: str = "", **params: object
    ) -> Problem:
        """Returns the catalogued problem `code` in `header`'s cell of `row`.

        `detail` is the validator's own (English) reason, for the coordinator's console.
        """
        return problem(
            code,
            file=self.file,
            sheet=self.sheet,
            cell=self.cell(header, row),
            row=row,
            column=header,
            value=_shown(value),
            detail=detail,
            **params,
        )


def _contact(
    place: _Place,
    row: int,
    cells: dict[str, Any],
    codes: tuple[str, ...],
    found: dict[str, Contact],
    problems: list[Problem],
) -> Contact | None:
    """Returns the contact of one row, or None when its Förvaltning cannot be used; adds its problems."""
    typed = _text(cells.get(DEPARTMENT))
    code = _known_code(typed, codes)
    choices = _choices(codes)
    if not typed:
        problems.append(place.problem("contacts_department_empty", DEPARTMENT, row, codes=choices))
        return None
    if code is None:
        problems.append(place.problem("contacts_unknown_department", DEPARTMENT, row, typed, codes=choices))
        return None
    if code in found:
        first = found[code].row
        problems.append(
            place.problem("contacts_duplicate_department", DEPARTMENT, row, typed, first_row=first)
        )
        return None
    email = _email(place, row, code, _text(cells.get(EMAIL)), problems)
    copies = _copies(place, row, _text(cells.get(COPIES)), problems)
    name = " ".join(_text(cells.get(NAME)).split())
    return Contact(department=code, name=name, email=email, copies=copies, row=row)


def _email(place: _Place, row: int, code: str, typed: str, problems: list[Problem]) -> str | None:
    """Returns the row's valid E-post, or None; adds a warning for an empty cell, an error for a wrong one."""
    if not typed:
        problems.append(place.problem("contacts_missing_address", EMAIL, row, department=code))
        return None
    checked = _checked(typed)
    if isinstance(checked, str):
        return checked
    problems.append(
        place.problem(
            "contacts_invalid_address", EMAIL, row, typed, detail=describe(checked), department=code
        )
    )
    return None


def _copies(place: _Place, row: int, typed: str, problems: list[Problem]) -> tuple[str, ...]:
    """Returns the row's valid Kopia addresses, each once; adds an error for each part that is none."""
    addresses: list[str] = []
    for part in split_addresses(typed):
        checked = _checked(part)
        if isinstance(checked, str):
            if checked not in addresses:
                addresses.append(checked)
        else:
            problems.append(
                place.problem("contacts_invalid_copy", COPIES, row, part, detail=describe(checked))
            )
    return tuple(addresses)


def _known_code(typed: str, codes: tuple[str, ...]) -> str | None:
    """Returns the plan's code `typed` names, in the plan's spelling ("soc" → "SOC"), or None.

    The plan refuses two codes that differ only in case, so the match is unambiguous.
    """
    return next((code for code in codes if code.casefold() == typed.casefold()), None)


def _choices(codes: Sequence[str]) -> str:
    """Returns the codes as a Swedish list: "FoK, KS, SBF, SOC eller UTB"."""
    if len(codes) < 2:
        return "".join(codes)
    return f"{', '.join(codes[:-1])} eller {codes[-1]}"


def _text(value: Any) -> str:
    """Returns a cell's value as NFC text without surrounding blanks; "" for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code typed as 12 is read back as 12.0
    return unicodedata.normalize("NFC", str(value)).strip()


def _shown(value: Any) -> str:
    """Returns a value as a message shows it: short, one line, invisible characters escaped."""
    return visible(display_value(value))


def _file_name(path: Path) -> str:
    """Returns how problems name the file: "kontakter.xlsx" (the whole path if it has no name)."""
    return visible(path.name or str(path))


def _too_large(path: Path, size: int, unpacked: int) -> Problem:
    if size > MAX_FILE_BYTES:
        return problem(
            "contacts_too_large",
            file=_file_name(path),
            found=_megabytes(size),
            limit=_megabytes(MAX_FILE_BYTES),
        )
    return problem(
        "contacts_too_large",
        file=_file_name(path),
        found=f"{_megabytes(unpacked)} uppackad",
        limit=f"{_megabytes(MAX_UNPACKED_BYTES)} uppackad",
    )


def _megabytes(size: int) -> str:
    """Returns a size in Swedish, rounded up to a tenth: "5 MB", "7,3 MB".

    Up, so that a file just over the limit is not said to be as large as the limit.
    """
    tenths = math.ceil(size * 10 / (1024 * 1024))
    whole, tenth = divmod(tenths, 10)
    return f"{whole},{tenth} MB" if tenth else f"{whole} MB"


def _unreadable(path: Path, exc: Exception) -> Problem:
    return problem(
        "contacts_unreadable", file=_file_name(path), detail=describe(exc), reason=_reason(path, exc)
    )


def _reason(path: Path, exc: Exception) -> str:
    """Returns why the file could not be read, in Swedish words its keeper can act on."""
    if isinstance(exc, IsADirectoryError):
        return "det är en mapp, inte en fil"
    if isinstance(exc, PermissionError):
        return "filen går inte att öppna; den kan vara låst av ett annat program, eller så saknas behörighet"
    if isinstance(exc, OSError):
        return "filen går inte att öppna"
    if isinstance(exc, zipfile.BadZipFile):
        if _starts_with(path, _OLE_MAGIC):
            return "filen är lösenordsskyddad eller sparad i det äldre formatet .xls"
        return "filen är ingen Excel-arbetsbok (.xlsx)"
    if isinstance(exc, KeyError):
        return "filen är en zip-fil men ingen Excel-arbetsbok (.xlsx)"
    if isinstance(exc, _NoWorksheetError):
        return "arbetsboken har inget kalkylblad"
    return "filen är skadad eller i ett format som inte kan läsas"


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


# Writing -----------------------------------------------------------------------------


def write_contacts(
    path: Path,
    departments: Sequence[tuple[str, str]],
    known: Mapping[str, tuple[str, str]] = _NOTHING_KNOWN,
) -> Path:
    """Returns `path`, where a new kontakter.xlsx has been written atomically.

    One row per (code, full name) of `departments`, in their order; Namn and E-post are
    filled from `known` (code → (name, e-mail), e.g. last year's) where it has the code.
    Förvaltning has a dropdown of the codes; a second sheet, Förvaltningar, names them.
    The same arguments always give the same bytes.

    Raises:
        FileExistsError: `path` exists; a contacts list someone keeps is never replaced.
    """
    if path.exists():
        raise FileExistsError(path)
    with atomic_path(path) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), _WORKBOOK_OPTIONS)
        try:
            _build(workbook, departments, known)
        finally:
            workbook.close()
        # atomic_path replaces what is there: look again, in case the file came meanwhile.
        if path.exists():
            raise FileExistsError(path)
    return path


def _build(
    workbook: Any, departments: Sequence[tuple[str, str]], known: Mapping[str, tuple[str, str]]
) -> None:
    workbook.set_properties(
        {
            "title": "Kontaktpersoner för handlingsplanerna",
            "author": "Kommunstyrelsen",
            "comments": "En rad per förvaltning: vem mallar, påminnelser och återkoppling skickas till.",
            "created": FIXED_CREATED,
        }
    )
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
    text = workbook.add_format({"num_format": "@"})  # typed codes and addresses stay as typed
    contacts = workbook.add_worksheet(SHEET_CONTACTS)
    names = workbook.add_worksheet(SHEET_DEPARTMENTS)
    _contacts_sheet(contacts, header, text, departments, known)
    _departments_sheet(names, header, departments)
    contacts.activate()


def _contacts_sheet(
    sheet: Worksheet,
    header: Any,
    text: Any,
    departments: Sequence[tuple[str, str]],
    known: Mapping[str, tuple[str, str]],
) -> None:
    for column, (title, width) in enumerate(zip(HEADERS, (14, 30, 36, 60), strict=True)):
        sheet.write_string(0, column, title, header)
        sheet.set_column(column, column, width, text)
    sheet.freeze_panes(1, 0)
    for row, (code, _) in enumerate(departments, start=1):
        name, email = known.get(code, ("", ""))
        for column, value in enumerate((code, name, email)):
            if value:  # an empty string would be a cell holding "", not an empty cell
                sheet.write_string(row, column, value, text)
    last = MAX_ROWS  # 0-based: the prompts reach every row the reader accepts
    codes = f"={quote_sheetname(SHEET_DEPARTMENTS)}!$A$2:$A${len(departments) + 1}"
    sheet.data_validation(
        1,
        0,
        last,
        0,
        {
            "validate": "list",
            "source": codes,
            "input_title": DEPARTMENT,
            "input_message": "Välj förvaltningens kod i listan. Vad koderna står för syns i bladet Förvaltningar.",
            "error_title": "Okänd förvaltning",
            "error_message": "Välj en kod i listan. Koderna och förvaltningarnas namn står i bladet Förvaltningar.",
        },
    )
    for column, title, message in (
        (1, NAME, "Kontaktpersonens namn, t.ex. Anna Andersson."),
        (
            2,
            EMAIL,
            "En e-postadress, t.ex. anna.andersson@kalix.se. Mallar, påminnelser och återkoppling "
            "skickas hit. Lämnas den tom får förvaltningen inga utskick.",
        ),
        (
            3,
            COPIES,
            "Frivilligt: fler som ska få en kopia. Skriv adresserna med semikolon emellan, "
            "t.ex. bo.ek@kalix.se; eva.lind@kalix.se.",
        ),
    ):
        sheet.data_validation(
            1, column, last, column, {"validate": "any", "input_title": title, "input_message": message}
        )


def _departments_sheet(sheet: Worksheet, header: Any, departments: Sequence[tuple[str, str]]) -> None:
    sheet.write_string(0, 0, "Kod", header)
    sheet.write_string(0, 1, "Förvaltning", header)
    for row, (code, name) in enumerate(departments, start=1):
        sheet.write_string(row, 0, code)
        sheet.write_string(row, 1, name)
    sheet.write_string(
        len(departments) + 2,
        0,
        "Fyll i bladet Kontakter: en rad per förvaltning med kontaktpersonens namn och e-postadress. "
        "Kopia är frivilligt. Bara bladet Kontakter läses; ändra inte rubrikerna i dess första rad.",
    )
    sheet.set_column(0, 0, 10)
    sheet.set_column(1, 1, 50)
    sheet.freeze_panes(1, 0)
