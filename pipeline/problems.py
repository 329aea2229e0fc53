"""The problem record and the catalogue of problem codes.

Every problem a submission can have is catalogued once here: its code (a short English
rule name that tests, ledgers and reports group by), whether it rejects the submission,
and the Swedish message and hint the förvaltning reads. Records are made with `problem()`
only, so a message cannot drift between the places that find the same problem.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ERROR: Literal["error"] = "error"
WARNING: Literal["warning"] = "warning"
Kind = Literal["error", "warning"]

KIND_LABEL = {ERROR: "Fel", WARNING: "Varning"}

LOCATION_FIELDS = frozenset({"file", "sheet", "cell", "row", "column", "value"})
"""The record's own fields, which a message template may name like any other field."""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A data problem in one submission: where it is, what it is, and what to do.

    Made by `problem()` from the catalogue. `cell` is an Excel reference like "L7" (empty
    for a problem with the whole file or sheet); `row` is the Excel row number; `message`
    and `hint` are Swedish for the förvaltning. `detail` is what went wrong inside the
    program when the problem stems from a caught exception ("KeyError: 'x'"): for the
    coordinator's ledger and console, never shown in a förvaltning's feedback.
    """

    file: str
    sheet: str
    cell: str
    row: int | None
    column: str
    value: str
    kind: Kind
    code: str
    message: str
    hint: str = ""
    detail: str = ""

    @property
    def where(self) -> str:
        """Returns "Åtgärder!L7", "Åtgärder" or "" : the place as Excel users write it."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet

    @property
    def text(self) -> str:
        """Returns the one-line message with its place, e.g. 'Åtgärder!L7: "Klar" är …'."""
        return f"{self.where}: {self.message}" if self.where else self.message

    def located(self, file: str) -> Problem:
        """Returns the same problem in `file` (for a check that looks at bytes, not names)."""
        return replace(self, file=file)


@dataclass(frozen=True)
class ProblemType:
    """One catalogued problem: its code, kind, and Swedish message and hint templates.

    The templates are `str.format` templates; they may name the record's location fields
    (`file`, `sheet`, `cell`, `row`, `column`, `value`) and any other field, which then
    becomes a parameter `problem()` requires.
    """

    code: str
    kind: Kind
    message: str
    hint: str = ""
    params: frozenset[str] = field(init=False)
    """The fields the templates name beyond the record's own location fields."""

    def __post_init__(self) -> None:
        named = {
            name
            for template in (self.message, self.hint)
            for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
        }
        object.__setattr__(self, "params", frozenset(named - LOCATION_FIELDS))


# Hints several problems share.
_SAVE_AS_XLSX = "Öppna den ifyllda mallen i Excel och välj Spara som > Excel-arbetsbok (.xlsx)."
_USE_TEMPLATE = "Lämna in den ifyllda Excel-mallen (.xlsx) i stället."
_SAVE_AGAIN = "Spara arbetsboken igen och lämna in den på nytt."
_NEW_TEMPLATE = "Kopiera in uppgifterna i en ny mall och lämna in den."
_ID_FOR_NEW = "lämna cellen tom för nya åtgärder"
_UNCHANGED_TEMPLATE = "Använd mallen ni fick, oförändrad."
_ASK_FOR_TEMPLATE = "Har ni inte kvar mallen: be samordnaren om en ny."
_TRIM_SHEET = "Ta bort innehåll långt ner eller långt till höger och spara igen."

_TYPES = (
    # The file itself (sniff): what it is, and whether it is safe to open.
    ProblemType(
        "empty", ERROR, "Filen är tom (0 byte).", "Spara arbetsboken i Excel igen och lämna in den på nytt."
    ),
    ProblemType(
        "not_zip",
        ERROR,
        "Filen är ingen Excel-arbetsbok (.xlsx).",
        "Öppna filen i Excel eller LibreOffice och spara den som Excel-arbetsbok (.xlsx).",
    ),
    ProblemType("other_format", ERROR, "Filen är {what}, inte en Excel-arbetsbok.", _USE_TEMPLATE),
    ProblemType(
        "encrypted",
        ERROR,
        "Arbetsboken är lösenordsskyddad.",
        "Ta bort lösenordet (Arkiv > Info > Skydda arbetsbok) och spara igen.",
    ),
    ProblemType(
        "xlsb",
        ERROR,
        "Filen är en binär Excel-arbetsbok (.xlsb), inte en vanlig Excel-arbetsbok (.xlsx).",
        _SAVE_AS_XLSX,
    ),
    ProblemType("html", ERROR, "Filen är en webbsida (HTML), inte en Excel-arbetsbok.", _SAVE_AS_XLSX),
    ProblemType("xml", ERROR, "Filen är en XML-fil, inte en Excel-arbetsbok (.xlsx).", _SAVE_AS_XLSX),
    ProblemType(
        "csv",
        ERROR,
        "Filen är en textfil med kommaseparerade värden (CSV), inte en Excel-arbetsbok.",
        _SAVE_AS_XLSX,
    ),
    ProblemType("text", ERROR, "Filen är en textfil, inte en Excel-arbetsbok.", _SAVE_AS_XLSX),
    ProblemType("not_xlsx", ERROR, "Filen är en zip-fil men ingen Excel-arbetsbok (.xlsx).", _USE_TEMPLATE),
    ProblemType(
        "macros",
        ERROR,
        "Arbetsboken innehåller makron.",
        "Spara som en vanlig Excel-arbetsbok (.xlsx) utan makron.",
    ),
    ProblemType("truncated", ERROR, "Filen är skadad eller ofullständig.", _SAVE_AGAIN),
    ProblemType(
        "too_many_members",
        ERROR,
        "Filen består av ovanligt många delar för att vara en ifylld mall.",
        _NEW_TEMPLATE,
    ),
    ProblemType(
        "zip_bomb",
        ERROR,
        "Filen blir orimligt stor när den packas upp ({part}) och kan vara skadlig.",
        _NEW_TEMPLATE,
    ),
    ProblemType("corrupt_member", ERROR, "En del av filen är skadad ({part}).", _SAVE_AGAIN),
    ProblemType(
        "dtd",
        ERROR,
        "Filen innehåller otillåtna XML-definitioner (DTD) och kan vara skadlig.",
        _NEW_TEMPLATE,
    ),
    ProblemType(
        "external_links",
        WARNING,
        "Arbetsboken har länkar till andra filer; länkarna används inte.",
        "Ta bort länkarna (Data > Redigera länkar > Bryt länk) nästa gång.",
    ),
    # Identification (check): is this the year's template for a known förvaltning?
    ProblemType(
        "not_a_template",
        ERROR,
        "Filen är inte en handlingsplanmall: den saknar mallens identifiering.",
        "Fyll i den mall ni fick från Kommunstyrelsen (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
    ),
    ProblemType(
        "template_version",
        ERROR,
        "Mallen har version {version}, som den här versionen av systemet inte kan läsa.",
        "Fyll i årets mall (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
    ),
    ProblemType(
        "wrong_year",
        ERROR,
        "Mallen gäller år {template_year}, men insamlingen gäller {year}.",
        "Fyll i mallen för {year} (handlingsplan_{year}_<förvaltning>.xlsx) och lämna in den.",
    ),
    ProblemType(
        "unknown_department",
        ERROR,
        'Mallen är gjord för förvaltningen "{code}", som inte finns i planen.',
        "Kontakta Kommunstyrelsen för att få rätt mall.",
    ),
    ProblemType(
        "identity_conflict",
        ERROR,
        "Filens uppgifter om {what} stämmer inte: dokumentegenskaperna säger {in_properties}, "
        "det dolda bladet Identifiering säger {in_sheet}. " + _UNCHANGED_TEMPLATE,
        _ASK_FOR_TEMPLATE,
    ),
    ProblemType(
        "plan_version_invalid",
        ERROR,
        "Filens planversion är ogiltig: en planversion är en kod på 12 tecken (siffror och a–f). "
        + _UNCHANGED_TEMPLATE,
        _ASK_FOR_TEMPLATE,
    ),
    ProblemType(
        "plan_version_unknown",
        ERROR,
        "Mallen är gjord från en planversion som systemet inte känner till. Be samordnaren om en ny mall.",
        "Fyll i den nya mallen och lämna in den.",
    ),
    # Bounds (read, before any reader allocates): what a filled-in template never exceeds.
    ProblemType(
        "sheet_rows_beyond_limit",
        ERROR,
        "Bladet {sheet_name} sträcker sig till rad {last}; mallen får ha högst {limit} rader.",
        _TRIM_SHEET,
    ),
    ProblemType(
        "sheet_columns_beyond_limit",
        ERROR,
        "Bladet {sheet_name} sträcker sig till kolumn {last}; mallen får ha högst {limit} kolumner.",
        _TRIM_SHEET,
    ),
    ProblemType(
        "sheet_cells_beyond_limit",
        ERROR,
        "Bladet {sheet_name} har fler än {limit} celler.",
        _TRIM_SHEET,
    ),
    ProblemType(
        "text_beyond_limit",
        ERROR,
        "Arbetsboken innehåller mer än {limit} tecken text.",
        "Ta bort upprepad eller inklistrad text och spara igen.",
    ),
    ProblemType(
        "part_beyond_limit",
        ERROR,
        "En del av arbetsboken ({part}) blir {found} stor uppackad; mallen får ha högst {limit} där.",
        _NEW_TEMPLATE,
    ),
    ProblemType(
        "shared_strings_beyond_limit",
        ERROR,
        "Arbetsbokens lista över texter är för stor ({found}); mallen får ha högst {limit}.",
        "Kopiera in uppgifterna i en ny mall och lämna in den.",
    ),
    ProblemType(
        "unreadable",
        ERROR,
        "Filen kunde inte läsas.",
        "Öppna filen i Excel, spara den som .xlsx och lämna in den igen.",
    ),
    # The sheets and their columns (read).
    ProblemType(
        "missing_sheet",
        ERROR,
        'Bladet "{sheet}" saknas.',
        'Använd mallen och behåll bladet "{sheet}" med sitt namn.',
    ),
    ProblemType(
        "missing_header",
        ERROR,
        'Rubrikraden i bladet "{sheet}" hittades inte.',
        "Behåll mallens rubrikrad ({columns}).",
    ),
    ProblemType(
        "too_many_rows",
        ERROR,
        "Bladet har fler än {limit} rader.",
        "Ta bort tomma eller överflödiga rader och lämna in igen.",
    ),
    ProblemType(
        "missing_column",
        ERROR,
        'Kolumnen "{column}" saknas i bladet {sheet}.',
        'Lägg tillbaka kolumnen "{column}" med exakt den rubriken, som i mallen.',
    ),
    ProblemType(
        "missing_optional_column",
        WARNING,
        'Kolumnen "{column}" saknas i bladet {sheet}.',
        'Lägg tillbaka kolumnen "{column}" med exakt den rubriken, som i mallen.',
    ),
    ProblemType(
        "duplicate_column",
        WARNING,
        'Kolumnen "{column}" finns två gånger; bara den första läses.',
        "Ta bort den extra kolumnen.",
    ),
    ProblemType(
        "extra_column",
        WARNING,
        'Kolumnen "{value}" hör inte till mallen och läses inte.',
        "Skriv uppgiften i Kommentar om den är viktig.",
    ),
    ProblemType(
        "formula_without_value",
        ERROR,
        "Formeln saknar ett sparat värde – skriv in värdet.",
        "Skriv in värdet i cellen i stället för en formel, eller öppna och spara filen i Excel.",
    ),
    # The cells (validate): what a person typed, and the rules of the schemas.
    ProblemType("required_missing", ERROR, "{column} saknas. {advice}", "{advice}"),
    ProblemType(
        "goal_unknown",
        ERROR,
        '"{value}" är inget delmål i integrationsplanen. Välj ett delmål i listan.',
        "Välj ett delmål i listan.",
    ),
    ProblemType(
        "goal_text_changed",
        ERROR,
        '"{value}" är inget delmål i integrationsplanen.',
        "Ändra inte plantexten i bladet Delmål.",
    ),
    ProblemType(
        "date_invalid",
        ERROR,
        '"{value}" är inget giltigt datum. Skriv datumet som ÅÅÅÅ-MM-DD, t.ex. 2027-03-01.',
        "Skriv datumet som ÅÅÅÅ-MM-DD eller välj ett datum i Excel.",
    ),
    ProblemType(
        "cost_not_number",
        ERROR,
        '"{value}" är inget belopp. Skriv kostnaden i hela kronor med bara siffror, t.ex. 5000.',
        'Ta bort ord som "ca"; skriv en uppskattning som ett tal.',
    ),
    ProblemType(
        "cost_too_large",
        ERROR,
        "Kostnaden {amount} kr är orimligt stor; högst {limit} kr tillåts. Skriv kostnaden i hela kronor.",
        "Kontrollera beloppet: det har troligen fått för många siffror.",
    ),
    ProblemType(
        "date_out_of_range",
        ERROR,
        "Datumet {date} ligger utanför åren {first}–{last}. Kontrollera året.",
        "Skriv datumet som ÅÅÅÅ-MM-DD med rätt år.",
    ),
    ProblemType(
        "text_too_long",
        ERROR,
        "Texten i {column} har {length} tecken; en cell rymmer högst {limit} tecken.",
        "Korta texten, eller lägg en längre beskrivning i ett eget dokument och hänvisa till det.",
    ),
    ProblemType(
        "cost_negative",
        ERROR,
        "Kostnaden {value} kr är negativ. Skriv kostnaden i kronor, 0 eller mer.",
        "Skriv ett belopp på 0 eller mer.",
    ),
    ProblemType(
        "status_invalid",
        ERROR,
        '"{value}" är inte en giltig status. Välj {choices}.',
        "Välj status i listan.",
    ),
    ProblemType(
        "funding_invalid",
        ERROR,
        '"{value}" är inte en giltig finansiering. Välj {choices}.',
        "Välj finansiering i listan.",
    ),
    ProblemType(
        "yes_no_invalid",
        ERROR,
        '"{value}" är inget giltigt svar i Berör oss. Välj Ja eller Nej, eller lämna tomt.',
        "Välj Ja eller Nej i listan.",
    ),
    ProblemType(
        "action_id_invalid",
        ERROR,
        f'"{{value}}" är inget giltigt Åtgärds-ID för {{department}}. Ett ID ser ut som {{department}}-{{year}}-004; {_ID_FOR_NEW}.',
        "Lämna Åtgärds-ID tomt för nya åtgärder.",
    ),
    ProblemType(
        "action_id_duplicate",
        ERROR,
        f'Åtgärds-ID "{{value}}" förekommer på flera rader. Varje åtgärd ska ha ett eget ID; {_ID_FOR_NEW}.',
        "Ta bort ID:t på den kopierade raden.",
    ),
    ProblemType(
        "done_before_start",
        ERROR,
        "Klart ({value}) är före Start ({start}). Rätta datumen så att Klart inte är före Start.",
        "Kontrollera år och månad i båda datumen.",
    ),
    ProblemType("invalid", ERROR, '"{value}" är inte ett giltigt värde i {column}.', "Rätta värdet."),
    # The nämnd's decision (validate): Beslutsdatum and Paragraf on the Instruktioner sheet.
    ProblemType(
        "decision_date_invalid",
        ERROR,
        '"{value}" är inget giltigt datum. Skriv nämndens beslutsdatum som ÅÅÅÅ-MM-DD, t.ex. 2027-03-15.',
        "Skriv datumet från nämndens protokoll som ÅÅÅÅ-MM-DD. "
        "Har nämnden inte beslutat ännu: töm Beslutsdatum och Paragraf.",
    ),
    ProblemType(
        "decision_date_missing",
        ERROR,
        "Paragraf är ifylld ({paragraph}) men Beslutsdatum saknas. "
        "Fyll i båda när nämnden har beslutat om handlingsplanen, annars ingen av dem.",
        "Skriv datumet för nämndens beslut som ÅÅÅÅ-MM-DD, t.ex. 2027-03-15. "
        "Är handlingsplanen ett förslag: töm Paragraf.",
    ),
    ProblemType(
        "decision_paragraph_missing",
        ERROR,
        "Beslutsdatum är ifyllt ({date}) men Paragraf saknas. "
        "Fyll i båda när nämnden har beslutat om handlingsplanen, annars ingen av dem.",
        "Skriv paragrafen i nämndens protokoll, t.ex. § 14. Är handlingsplanen ett förslag: töm Beslutsdatum.",
    ),
    ProblemType(
        "decision_after_received",
        ERROR,
        "Beslutsdatum {value} är senare än den dag handlingsplanen lämnades in ({received}). "
        "Nämnden kan inte ha beslutat om den efter inlämningen.",
        "Kontrollera datumet i nämndens protokoll. Har nämnden inte beslutat ännu: töm Beslutsdatum "
        "och Paragraf och lämna in handlingsplanen som förslag.",
    ),
    # Warnings: they do not reject, but KS and the förvaltning should see them.
    ProblemType(
        "marked_goal_without_action",
        WARNING,
        "Delmål {goal} är markerat Berör oss = Ja men har ingen åtgärd i bladet Åtgärder.",
        "Lägg till en åtgärd för delmålet, eller välj Nej.",
    ),
    ProblemType(
        "action_on_unmarked_goal",
        WARNING,
        "Åtgärden gäller delmål {value}, som inte är markerat Berör oss = Ja i bladet Delmål.",
        "Välj Ja för delmål {value} i bladet Delmål.",
    ),
    ProblemType(
        "overdue",
        WARNING,
        "Klart-datum passerat, ej avslutad: Klart är {value} men status är {status}.",
        "Välj status Genomförd eller Avbruten om åtgärden är avslutad. Pågår den fortfarande: ange ett nytt Klart-datum (och status Försenad om den är sen).",
    ),
    ProblemType(
        "date_before_plan_year",
        WARNING,
        "{column} {value} ligger före planåret {year}. Skrev du {short}? Ange året: {suggested}.",
        "Skriv datum med år, som ÅÅÅÅ-MM-DD; ett datum utan år får det år det skrevs.",
    ),
    ProblemType(
        "date_long_after_plan_year",
        WARNING,
        "{column} {value} ligger långt efter planåret {year}, mer än {years} år senare. Kontrollera året.",
        "Skriv datumet som ÅÅÅÅ-MM-DD med rätt år.",
    ),
    ProblemType(
        "decision_long_before_plan_year",
        WARNING,
        "Beslutsdatum {value} ligger mer än {months} månader före planåret {year}. "
        "Gäller beslutet verkligen handlingsplanen för {year}?",
        "Skriv datumet då nämnden beslutade om handlingsplanen för {year} (ÅÅÅÅ-MM-DD), eller töm "
        "Beslutsdatum och Paragraf om den inte är beslutad ännu.",
    ),
    ProblemType(
        "indicator_missing",
        WARNING,
        "Åtgärden saknar indikator.",
        "Ange hur resultatet mäts, t.ex. antal deltagare (EU:s princip 11).",
    ),
    # The contacts workbook (contacts): kontakter.xlsx, which the coordinator keeps.
    ProblemType(
        "contacts_unreadable",
        ERROR,
        "Kontaktlistan kunde inte läsas: {reason}.",
        "Öppna {file} i Excel eller LibreOffice, spara den som Excel-arbetsbok (.xlsx), stäng den och försök igen.",
    ),
    ProblemType(
        "contacts_too_large",
        ERROR,
        "Filen är {found}; en kontaktlista får vara högst {limit}.",
        "Kontaktlistan behöver bara en rad per förvaltning: kopiera de raderna till en ny arbetsbok och spara den som {file}.",
    ),
    ProblemType(
        "contacts_too_many_rows",
        ERROR,
        "Bladet {sheet} har innehåll på rad {row}; kontaktlistan får ha högst {limit} rader under rubrikraden.",
        "Ta bort innehållet långt ner i bladet och spara igen; listan behöver bara en rad per förvaltning.",
    ),
    ProblemType(
        "contacts_header_missing",
        ERROR,
        'Kolumnen "{column}" saknas i rubrikraden (rad 1) i bladet {sheet}.',
        "Skriv rubriken {column} i rad 1. Rubrikerna är Förvaltning, Namn, E-post och Kopia.",
    ),
    ProblemType(
        "contacts_department_empty",
        ERROR,
        "Raden har namn eller adress men ingen förvaltning; den läses inte.",
        "Skriv förvaltningens kod ({codes}) i kolumnen Förvaltning, eller ta bort raden.",
    ),
    ProblemType(
        "contacts_unknown_department",
        ERROR,
        '"{value}" är ingen förvaltning i planen; raden läses inte. Välj en av {codes}.',
        "Skriv förvaltningens kod precis som i listan ({codes}), eller ta bort raden.",
    ),
    ProblemType(
        "contacts_duplicate_department",
        ERROR,
        "Förvaltningen {value} står både på rad {first_row} och rad {row}; bara rad {first_row} används.",
        "Ha en rad per förvaltning: ta bort den ena raden. Fler mottagare skrivs i Kopia.",
    ),
    ProblemType(
        "contacts_invalid_address",
        ERROR,
        '"{value}" i E-post är ingen giltig e-postadress; inga utskick går till {department} förrän den är rättad.',
        "Skriv en adress som anna.andersson@kalix.se, utan mellanslag och utan å, ä och ö före @. "
        "Fler mottagare skrivs i Kopia.",
    ),
    ProblemType(
        "contacts_invalid_copy",
        ERROR,
        '"{value}" i Kopia är ingen giltig e-postadress; ingen kopia skickas dit.',
        "Skriv adresserna med semikolon emellan, t.ex. bo.ek@kalix.se; eva.lind@kalix.se.",
    ),
    ProblemType(
        "contacts_missing_address",
        WARNING,
        "{department} har ingen e-postadress: inga utskick går till {department}.",
        "Skriv kontaktpersonens adress i E-post, t.ex. anna.andersson@kalix.se.",
    ),
    ProblemType(
        "contacts_missing_department",
        WARNING,
        "{department} har ingen rad i kontaktlistan: inga utskick går till {department}.",
        "Lägg till en rad med {department} i kolumnen Förvaltning och kontaktpersonens adress i E-post.",
    ),
)

CATALOGUE: dict[str, ProblemType] = {entry.code: entry for entry in _TYPES}
"""Every problem code, with its kind and its Swedish message and hint templates."""


def problem(
    code: str,
    /,
    *,
    file: str,
    sheet: str = "",
    cell: str = "",
    row: int | None = None,
    column: str = "",
    value: str = "",
    detail: str = "",
    **params: object,
) -> Problem:
    """Returns the catalogued problem `code` at this place, its message and hint filled in.

    Args:
        code: a key of CATALOGUE (positional only, so that a template may name a `code`,
            as "unknown_department" does).
        file, sheet, cell, row, column, value: where the problem is, and the cell's value
            as the förvaltning sees it; the templates may name them.
        detail: the exception behind the problem, "TypeName: message", for the coordinator.
        params: the other fields the code's templates name (`CATALOGUE[code].params`).

    Raises:
        KeyError: `code` is not catalogued (a programming error).
        TypeError: `params` are not exactly the fields the templates name.
    """
    entry = CATALOGUE[code]
    if params.keys() != entry.params:
        wanted = ", ".join(sorted(entry.params)) or "none"
        raise TypeError(f"problem {code!r} takes the parameters {wanted}, got {', '.join(sorted(params))}")
    fields = {"file": file, "sheet": sheet, "cell": cell, "row": row, "column": column, "value": value}
    return Problem(
        file=file,
        sheet=sheet,
        cell=cell,
        row=row,
        column=column,
        value=value,
        kind=entry.kind,
        code=code,
        message=entry.message.format(**fields, **params),
        hint=entry.hint.format(**fields, **params),
        detail=detail,
    )


def describe(exc: BaseException) -> str:
    """Returns an exception as a problem's `detail`: "TypeName: message"."""
    return f"{type(exc).__name__}: {exc}"


def count(problems: Iterable[Problem], kind: Kind) -> int:
    """Returns how many problems are of this kind."""
    return sum(1 for p in problems if p.kind == kind)


def first_reasons(problems: Iterable[Problem], limit: int = 3) -> tuple[str, ...]:
    """Returns the first `limit` error texts of a submission, and how many more there are."""
    texts = [p.text for p in problems if p.kind == ERROR]
    more = len(texts) - limit
    return tuple(texts[:limit]) + ((f"… och {more} fel till",) if more > 0 else ())


def display_value(value: Any, limit: int = 60) -> str:
    """Returns a cell value as a short string for a message (never more than `limit`)."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sort_key(problem: Problem) -> tuple[Any, ...]:
    """Returns a key ordering problems by sheet, row, column: the order a reader fixes them."""
    return (problem.sheet, problem.row or 0, len(problem.cell), problem.cell, problem.code)
