"""The problem catalogue: every code once, every record made from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline.plan import Plan
from pipeline.problems import CATALOGUE, ERROR, WARNING, Problem, problem
from schemas import action_schema, goal_schema
from schemas.actions import coded_check

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "schemas").rglob("*.py")])


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_entry_formats_with_its_params(code: str) -> None:
    entry = CATALOGUE[code]
    found = problem(
        code,
        file="plan.xlsx",
        sheet="Åtgärder",
        cell="L7",
        row=7,
        column="Status",
        value="Klar",
        **{name: f"<{name}>" for name in entry.params},
    )
    assert (found.code, found.kind, found.file, found.cell, found.detail) == (
        code,
        entry.kind,
        "plan.xlsx",
        "L7",
        "",
    )
    assert entry.kind in (ERROR, WARNING)
    for text in (found.message, found.hint):
        assert text and "{" not in text and "}" not in text
    for name in entry.params:
        assert f"<{name}>" in found.message + found.hint


def test_an_unknown_code_or_wrong_params_raise() -> None:
    with pytest.raises(KeyError):
        problem("no_such_code", file="plan.xlsx")
    with pytest.raises(TypeError, match="template_year, year"):
        problem("wrong_year", file="plan.xlsx", year=2027)
    with pytest.raises(TypeError, match="takes the parameters none"):
        problem("unreadable", file="plan.xlsx", year=2027)
    with pytest.raises(KeyError):
        coded_check("no_such_check", lambda s: s.notna())


def test_records_are_made_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        Problem("plan.xlsx", "", "", None, "", "", "error", "unreadable", "Filen kunde inte läsas.")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "params", "message", "hint"),
    [
        (
            "wrong_year",
            {"template_year": "2026", "year": 2027},
            "Mallen gäller år 2026, men insamlingen gäller 2027.",
            "Fyll i mallen för 2027 (handlingsplan_2027_<förvaltning>.xlsx) och lämna in den.",
        ),
        (
            "template_version",
            {"version": "0", "year": 2027},
            "Mallen har version 0, som den här versionen av systemet inte kan läsa.",
            "Fyll i årets mall (handlingsplan_2027_<förvaltning>.xlsx) och lämna in den.",
        ),
        (
            "not_a_template",
            {"year": 2027},
            "Filen är inte en handlingsplanmall: den saknar mallens identifiering.",
            "Fyll i den mall ni fick från Kommunstyrelsen (handlingsplan_2027_<förvaltning>.xlsx) och lämna in den.",
        ),
        (
            "unknown_department",
            {"code": "XYZ"},
            'Mallen är gjord för förvaltningen "XYZ", som inte finns i planen.',
            "Kontakta Kommunstyrelsen för att få rätt mall.",
        ),
        (
            "unreadable",
            {},
            "Filen kunde inte läsas.",
            "Öppna filen i Excel, spara den som .xlsx och lämna in den igen.",
        ),
        (
            "plan_version_unknown",
            {},
            "Mallen är gjord från en planversion som systemet inte känner till. Be samordnaren om en ny mall.",
            "Fyll i den nya mallen och lämna in den.",
        ),
        (
            "plan_version_invalid",
            {},
            "Filens planversion är ogiltig: en planversion är en kod på 12 tecken (siffror och a–f). "
            "Använd mallen ni fick, oförändrad.",
            "Har ni inte kvar mallen: be samordnaren om en ny.",
        ),
        (
            "identity_conflict",
            {"what": "förvaltning", "in_properties": "SOC", "in_sheet": "UTB"},
            "Filens uppgifter om förvaltning stämmer inte: dokumentegenskaperna säger SOC, "
            "det dolda bladet Identifiering säger UTB. Använd mallen ni fick, oförändrad.",
            "Har ni inte kvar mallen: be samordnaren om en ny.",
        ),
        (
            "text_beyond_limit",
            {"limit": "20 000 000"},
            "Arbetsboken innehåller mer än 20 000 000 tecken text.",
            "Ta bort upprepad eller inklistrad text och spara igen.",
        ),
        (
            "external_links",
            {},
            "Arbetsboken har länkar till andra filer; länkarna används inte.",
            "Ta bort länkarna (Data > Redigera länkar > Bryt länk) nästa gång.",
        ),
    ],
)
def test_messages_of_the_whole_file(code: str, params: dict[str, object], message: str, hint: str) -> None:
    found = problem(code, file="SOC/plan.xlsx", **params)
    assert (found.message, found.hint, found.text) == (message, hint, message)


def test_messages_that_name_the_cell() -> None:
    status = problem(
        "status_invalid",
        file="plan.xlsx",
        sheet="Åtgärder",
        cell="L7",
        row=7,
        column="Status",
        value="Klar",
        choices="Ej påbörjad, Pågår, Genomförd, Försenad eller Avbruten",
    )
    assert status.text == (
        'Åtgärder!L7: "Klar" är inte en giltig status. Välj Ej påbörjad, Pågår, Genomförd, Försenad eller Avbruten.'
    )
    column = problem(
        "missing_column", file="plan.xlsx", sheet="Åtgärder", cell="A1", row=1, column="Ansvarig"
    )
    assert column.text == 'Åtgärder!A1: Kolumnen "Ansvarig" saknas i bladet Åtgärder.'
    assert column.hint == 'Lägg tillbaka kolumnen "Ansvarig" med exakt den rubriken, som i mallen.'


def test_messages_of_a_sheet_too_large() -> None:
    rows = problem(
        "sheet_rows_beyond_limit", file="plan.xlsx", sheet_name="Åtgärder", last="1 048 576", limit="25 000"
    )
    assert rows.text == "Bladet Åtgärder sträcker sig till rad 1 048 576; mallen får ha högst 25 000 rader."
    assert rows.hint == "Ta bort innehåll långt ner eller långt till höger och spara igen."
    columns = problem(
        "sheet_columns_beyond_limit", file="plan.xlsx", sheet_name="Delmål", last="XFD", limit="100"
    )
    assert columns.message == "Bladet Delmål sträcker sig till kolumn XFD; mallen får ha högst 100 kolumner."


def test_a_problem_found_in_bytes_is_placed_in_its_file() -> None:
    found = problem("zip_bomb", file="", part="xl/worksheets/sheet1.xml", detail="")
    placed = found.located("SOC/plan.xlsx")
    assert (placed.file, placed.message) == ("SOC/plan.xlsx", found.message)


def test_every_schema_check_is_a_catalogued_problem(plan: Plan) -> None:
    goal_ids = [g.id for g in plan.goals]
    for schema in (action_schema(goal_ids), goal_schema(goal_ids)):
        checks = [*schema.checks, *(check for column in schema.columns.values() for check in column.checks)]
        assert checks
        for check in checks:
            assert check.name in CATALOGUE and check.error == check.name


def _calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    ]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_records_come_from_the_catalogue(path: Path) -> None:
    if path.name != "problems.py":
        assert _calls(path, "Problem") == [], "a record made outside problem()"
    # The calls that take a problem code first: the constructor, the sniffer's rejection, the checks.
    for name in ("problem", "_reject", "coded_check", "in_list", "RowRule"):
        for call in _calls(path, name):
            code = call.args[0] if call.args else None
            if isinstance(code, ast.Constant):
                assert code.value in CATALOGUE, f"{path.name}:{call.lineno}: {code.value}"
