"""Hostile and careless input, round 2: identity, bounds before reading, values at the edges.

Every workbook here starts as the real template filled as a person would; the hostile part
is then written into its XML the way a crafted file would carry it. The files that would
make a reader allocate gigabytes are judged in a child process whose address space is capped
with RLIMIT_AS, so a reader that did allocate would die instead of passing by luck.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import textwrap
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import contract as c
from pipeline.check import Checked, Plans, check_submission
from pipeline.config import (
    MAX_CELL_CHARS,
    MAX_COST,
    MAX_SHEET_COLUMNS,
    MAX_SHEET_ROWS,
    PLAN_VERSION_FORM,
    PROJECT_ROOT,
    Settings,
)
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.plan import Plan
from pipeline.read import bounds_problem, read_identity
from tests.corpus import SOFFICE, libreoffice_copy, members_of, sheet_part, write_zip
from tests.workbooks import GOOD_ACTION, fill_workbook, make_template

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
MEMORY_LIMIT = 1024**3
"""1 GiB of address space for the child: far less than any file here makes a reader take."""
SECONDS = 10.0
"""Time one hostile file may take to be rejected, imports not counted."""
NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.fixture(scope="module")
def template(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(plan, "SOC", YEAR, tmp_path_factory.mktemp("mall"))


@pytest.fixture(scope="module")
def filled(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good submission: one action on delmål 1.3, marked Ja."""
    return fill_workbook(
        template,
        tmp_path_factory.mktemp("ifylld") / "ifylld.xlsx",
        actions=[GOOD_ACTION],
        concerns={"1.3": "Ja"},
    )


def _plans(plan: Plan, tmp_path: Path) -> Plans:
    return Plans(plan, tmp_path / "planer")


def _check(plan: Plan, path: Path, tmp_path: Path) -> Checked:
    return check_submission(path, path.name, _plans(plan, tmp_path), YEAR, AS_OF)


def _codes(checked: Checked) -> list[str]:
    return sorted({p.code for p in checked.problems})


# --- files that expand: built small, rejected before any reader allocates --------------------


SHARED_STRINGS = "xl/sharedStrings.xml"
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _with_sheet_xml(source: Path, target: Path, extra_rows: str, shared: str = "", declared: int = 0) -> Path:
    """Copies `source` with `extra_rows` added at the end of Åtgärder's sheet data and, when
    `shared` is given, a shared-string table of those <si> items declaring `declared` texts
    (or as many as it has) where Excel keeps it."""
    members = members_of(source)
    part = sheet_part(source, c.SHEET_ACTIONS)
    members[part] = members[part].replace(b"</sheetData>", extra_rows.encode() + b"</sheetData>")
    if shared:
        count = declared or shared.count("<si>")
        members[SHARED_STRINGS] = (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS_MAIN}" count="{count}" '
            f'uniqueCount="{count}">{shared}</sst>'
        ).encode()
        members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
            b"</Types>",
            f'<Override PartName="/{SHARED_STRINGS}" ContentType="{SHARED_STRINGS_TYPE}"/></Types>'.encode(),
        )
        rels = "xl/_rels/workbook.xml.rels"
        members[rels] = members[rels].replace(
            b"</Relationships>",
            f'<Relationship Id="rIdTexter" Type="{SHARED_STRINGS_REL}" Target="sharedStrings.xml"/></Relationships>'.encode(),
        )
    return write_zip(target, members)


def one_cell_far_away(filled: Path, folder: Path) -> Path:
    """One value at XFD1048576: calamine would make a grid of 17 billion cells (it aborts)."""
    return _with_sheet_xml(
        filled, folder / "langt_bort.xlsx", '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    )


def one_cell_a_little_far(filled: Path, folder: Path) -> Path:
    """One value at row 300 000: a grid of 300 000 × 14 cells, some hundreds of MB."""
    return _with_sheet_xml(
        filled, folder / "rad_300000.xlsx", '<row r="300000"><c r="N300000"><v>1</v></c></row>'
    )


def one_cell_far_right(filled: Path, folder: Path) -> Path:
    return _with_sheet_xml(
        filled, folder / "langt_till_hoger.xlsx", '<row r="5"><c r="CW5"><v>1</v></c></row>'
    )


def repeated_shared_string(filled: Path, folder: Path) -> Path:
    """A 1 MB text stored once, used in 3 000 cells: some KB packed, 3 GB as read."""
    rows = "".join(f'<row r="{r}"><c r="M{r}" t="s"><v>0</v></c></row>' for r in range(400, 3400))
    return _with_sheet_xml(
        filled, folder / "upprepad_text.xlsx", rows, shared=f"<si><t>{'x' * 1_000_000}</t></si>"
    )


def declared_billions_of_strings(filled: Path, folder: Path) -> Path:
    """A shared-string table that declares 4 billion texts (a reader reserves room for them)."""
    row = '<row r="400"><c r="M400" t="s"><v>0</v></c></row>'
    return _with_sheet_xml(
        filled, folder / "miljarder_texter.xlsx", row, shared="<si><t>Pågår</t></si>", declared=4_000_000_000
    )


def ods_row_repeated_a_million_times(folder: Path) -> Path:
    """An .ods whose one filled row is repeated a million times (LibreOffice's own shorthand)."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
        "<office:body><office:spreadsheet>"
        f'<table:table table:name="{c.SHEET_ACTIONS}">'
        '<table:table-row table:number-rows-repeated="1000000">'
        '<table:table-cell office:value-type="string"><text:p>Åtgärd</text:p></table:table-cell>'
        "</table:table-row>"
        '<table:table-row table:number-rows-repeated="48576"><table:table-cell table:number-columns-repeated="1024"/>'
        "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    path = folder / "upprepad_rad.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


CHILD = textwrap.dedent(
    """
    import datetime as dt, json, sys, time
    from pathlib import Path
    from pipeline.check import Plans, check_submission
    from pipeline.plan import load_plan
    from pipeline.config import default_plan_file

    plans = Plans(load_plan(default_plan_file()), Path(sys.argv[2]))
    found = {}
    for path in sorted(Path(sys.argv[1]).iterdir()):
        started = time.perf_counter()
        checked = check_submission(path, path.name, plans, 2027, dt.date(2027, 3, 1))
        found[path.name] = {
            "codes": sorted({p.code for p in checked.problems}),
            "messages": [p.message for p in checked.problems],
            "accepted": checked.accepted,
            "markable": checked.markable,
            "seconds": time.perf_counter() - started,
        }
    print(json.dumps(found))
    """
)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _judged_in_a_small_child(folder: Path, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(tmp_path / "planer")],
        preexec_fn=_limit_memory,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MemoryError" not in run.stderr
    found: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.slow
def test_files_that_expand_are_rejected_quickly_under_a_memory_limit(filled: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inkorg"
    folder.mkdir()
    far = one_cell_far_away(filled, folder)
    further = one_cell_a_little_far(filled, folder)
    right = one_cell_far_right(filled, folder)
    repeated = repeated_shared_string(filled, folder)
    declared = declared_billions_of_strings(filled, folder)
    ods = ods_row_repeated_a_million_times(folder)
    good = folder / "bra.xlsx"
    good.write_bytes(filled.read_bytes())
    assert all(path.stat().st_size < 100_000 for path in folder.iterdir())  # small files, every one
    report = _judged_in_a_small_child(folder, tmp_path)
    expected = {
        far.name: (
            "sheet_rows_beyond_limit",
            "Bladet Åtgärder sträcker sig till rad 1 048 576; mallen får ha högst 25 000 rader.",
        ),
        further.name: (
            "sheet_rows_beyond_limit",
            "Bladet Åtgärder sträcker sig till rad 300 000; mallen får ha högst 25 000 rader.",
        ),
        right.name: (
            "sheet_columns_beyond_limit",
            "Bladet Åtgärder sträcker sig till kolumn CW; mallen får ha högst 100 kolumner.",
        ),
        repeated.name: ("text_beyond_limit", "Arbetsboken innehåller mer än 20 000 000 tecken text."),
        declared.name: (
            "shared_strings_beyond_limit",
            "Arbetsbokens lista över texter är för stor (4 000 000 000 texter); mallen får ha högst 1 000 000 texter.",
        ),
        ods.name: (
            "sheet_rows_beyond_limit",
            "Bladet Åtgärder sträcker sig till rad 1 000 000; mallen får ha högst 25 000 rader.",
        ),
    }
    for name, (code, message) in expected.items():
        verdict = report[name]
        assert (verdict["codes"], verdict["messages"]) == ([code], [message]), name
        assert not verdict["accepted"] and not verdict["markable"], name
        assert verdict["seconds"] < SECONDS, (name, verdict["seconds"])
    assert report[good.name]["accepted"], report[good.name]


def test_formatting_far_down_costs_nothing_and_is_no_problem(
    plan: Plan, filled: Path, tmp_path: Path
) -> None:
    """Styles on empty cells to row 100 000 are read as nothing: no value, nothing to allocate."""
    rows = "".join(
        f'<row r="{r}" s="1" customFormat="1"><c r="A{r}" s="1"/><c r="N{r}" s="1"/></row>'
        for r in range(300, 100_001)
    )
    path = _with_sheet_xml(filled, tmp_path / "formaterad.xlsx", rows)
    assert bounds_problem(path) is None
    assert _check(plan, path, tmp_path).accepted


def test_a_declared_dimension_beyond_the_limits_is_rejected(plan: Plan, filled: Path, tmp_path: Path) -> None:
    members = members_of(filled)
    part = sheet_part(filled, c.SHEET_ACTIONS)
    members[part], found = re.subn(
        rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', members[part]
    )
    assert found == 1
    checked = _check(plan, write_zip(tmp_path / "dimension.xlsx", members), tmp_path)
    assert [p.message for p in checked.problems] == [
        "Bladet Åtgärder sträcker sig till rad 1 048 576; mallen får ha högst 25 000 rader."
    ]


def test_a_filled_template_is_within_every_bound(filled: Path, template: Path) -> None:
    assert bounds_problem(filled) is None
    assert bounds_problem(template) is None


def test_the_limits_are_the_first_past_them(filled: Path, tmp_path: Path) -> None:
    """The last row and column allowed pass; one more does not."""
    last = f'<row r="{MAX_SHEET_ROWS}"><c r="CV{MAX_SHEET_ROWS}"><v>1</v></c></row>'
    assert MAX_SHEET_COLUMNS == 100  # CV is column 100
    assert bounds_problem(_with_sheet_xml(filled, tmp_path / "sista.xlsx", last)) is None
    beyond = f'<row r="{MAX_SHEET_ROWS + 1}"><c r="A{MAX_SHEET_ROWS + 1}"><v>1</v></c></row>'
    found = bounds_problem(_with_sheet_xml(filled, tmp_path / "en_till.xlsx", beyond))
    assert found is not None and found.code == "sheet_rows_beyond_limit"


needs_libreoffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


@needs_libreoffice
def test_an_xls_is_measured_through_its_compound_file(plan: Plan, filled: Path, tmp_path: Path) -> None:
    """An .xls with a value at IV65536 (calamine: 1.1 GB to read it) is rejected unread;
    the template saved as .xls is within every bound and accepted."""
    wb = openpyxl.load_workbook(filled)
    wb[c.SHEET_ACTIONS]["IV65536"] = "långt bort"
    wb.save(tmp_path / "langt_bort.xlsx")
    far = libreoffice_copy(tmp_path / "langt_bort.xlsx", "xls", tmp_path / "xls")
    good = libreoffice_copy(filled, "xls", tmp_path / "xls")
    found = bounds_problem(far)
    assert found is not None and found.message == (
        "Bladet Åtgärder sträcker sig till rad 65 536; mallen får ha högst 25 000 rader."
    )
    assert bounds_problem(good) is None
    started = time.perf_counter()
    checked = _check(plan, far, tmp_path)
    assert _codes(checked) == ["sheet_rows_beyond_limit"] and time.perf_counter() - started < SECONDS
    assert _check(plan, good, tmp_path).accepted


@needs_libreoffice
def test_an_xls_with_one_long_text_used_everywhere_is_rejected(filled: Path, tmp_path: Path) -> None:
    """The .xls shared-string table is read across its CONTINUE records: 1 000 cells of one
    30 000-character text are 30 million characters as read."""
    wb = openpyxl.load_workbook(filled)
    for row in range(400, 1400):
        wb[c.SHEET_ACTIONS].cell(row, 13, "ä" * 30_000)
    wb.save(tmp_path / "upprepad.xlsx")
    found = bounds_problem(libreoffice_copy(tmp_path / "upprepad.xlsx", "xls", tmp_path / "xls"))
    assert found is not None and found.code == "text_beyond_limit"


# --- identity: every source must agree ---------------------------------------------------------


def _identification_sheet_says(source: Path, target: Path, key: str, value: str) -> Path:
    """Copies `source` with only the hidden sheet's `key` changed (the properties keep theirs)."""
    wb = openpyxl.load_workbook(source)
    for row in wb[c.SHEET_IDENTIFICATION].iter_rows():
        if row[0].value == key:
            row[1].value = value
    wb.save(target)
    return target


def _properties_say(source: Path, target: Path, key: str, value: str) -> Path:
    members = members_of(source)
    custom = members["docProps/custom.xml"].decode("utf-8")
    members["docProps/custom.xml"] = re.sub(
        # openpyxl writes <vt:lpwstr xmlns:vt=…> when lxml is installed, <vt:lpwstr> without it.
        rf'(name="{key}"[^>]*>\s*<vt:lpwstr[^>]*>)[^<]*(</vt:lpwstr>)',
        lambda m: m.group(1) + value + m.group(2),
        custom,
    ).encode("utf-8")
    return write_zip(target, members)


def test_properties_and_sheet_that_disagree_reject_the_file(plan: Plan, filled: Path, tmp_path: Path) -> None:
    path = _identification_sheet_says(filled, tmp_path / "blandad.xlsx", c.ID_DEPARTMENT, "UTB")
    identity = read_identity(path)
    assert (identity.properties[c.ID_DEPARTMENT], identity.sheet[c.ID_DEPARTMENT]) == ("SOC", "UTB")
    checked = _check(plan, path, tmp_path)
    assert not checked.accepted and checked.department is None
    assert [p.message for p in checked.problems] == [
        "Filens uppgifter om förvaltning stämmer inte: dokumentegenskaperna säger SOC, "
        "det dolda bladet Identifiering säger UTB. Använd mallen ni fick, oförändrad."
    ]


@pytest.mark.parametrize(
    ("key", "what", "value"), [(c.ID_YEAR, "år", "2026"), (c.ID_TEMPLATE_VERSION, "mallversion", "2")]
)
def test_every_key_must_agree(
    plan: Plan, filled: Path, tmp_path: Path, key: str, what: str, value: str
) -> None:
    path = _properties_say(filled, tmp_path / "andrad.xlsx", key, value)
    checked = _check(plan, path, tmp_path)
    assert _codes(checked) == ["identity_conflict"]
    assert f"Filens uppgifter om {what} stämmer inte" in checked.problems[0].message
    assert checked.department == "SOC"  # the förvaltning itself is not in doubt


def test_sources_that_differ_only_in_invisible_characters_agree(
    plan: Plan, filled: Path, tmp_path: Path
) -> None:
    path = _identification_sheet_says(filled, tmp_path / "osynligt.xlsx", c.ID_DEPARTMENT, "S\u200bOC\u200e")
    checked = _check(plan, path, tmp_path)
    assert checked.accepted and checked.department == "SOC", checked.problems


def test_a_sheet_without_properties_still_identifies(plan: Plan, filled: Path, tmp_path: Path) -> None:
    members = members_of(filled)
    members["docProps/custom.xml"] = (
        b'<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"/>'
    )
    path = write_zip(tmp_path / "utan_egenskaper.xlsx", members)
    assert _check(plan, path, tmp_path).accepted


# --- the plan version: an identifier, never a path ---------------------------------------------


def test_the_plans_own_version_has_the_form_checked(plan: Plan) -> None:
    assert PLAN_VERSION_FORM.fullmatch(plan.version)


@pytest.mark.parametrize(
    "version", ["../../../../etc/passwd", "ef0d4ae5981d/../x", "EF0D4AE5981D", "ef0d4ae5981", ""]
)
def test_a_plan_version_that_is_no_identifier_is_rejected_unlooked_up(
    plan: Plan, filled: Path, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _properties_say(filled, tmp_path / "konstig_plan.xlsx", c.ID_PLAN_VERSION, version)
    path = _identification_sheet_says(path, tmp_path / "konstig_plan2.xlsx", c.ID_PLAN_VERSION, version)

    def never(self: Plans, version: str) -> Plan | None:
        raise AssertionError(f"looked up {version!r}")

    monkeypatch.setattr(Plans, "for_version", never)
    checked = _check(plan, path, tmp_path)
    assert _codes(checked) == ["plan_version_invalid"] and not checked.accepted
    assert checked.plan_version is None  # nothing of it reaches the ledger


def test_an_unknown_plan_version_is_a_rejection(plan: Plan, filled: Path, tmp_path: Path) -> None:
    path = _properties_say(filled, tmp_path / "okand_plan.xlsx", c.ID_PLAN_VERSION, "000000000000")
    path = _identification_sheet_says(path, tmp_path / "okand_plan2.xlsx", c.ID_PLAN_VERSION, "000000000000")
    checked = _check(plan, path, tmp_path)
    assert not checked.accepted and checked.department == "SOC"
    assert [p.message for p in checked.problems] == [
        "Mallen är gjord från en planversion som systemet inte känner till. Be samordnaren om en ny mall."
    ]


# --- values at the edges -----------------------------------------------------------------------


def _submitted(template: Path, tmp_path: Path, name: str, **changes: Any) -> Path:
    return fill_workbook(
        template, tmp_path / name, actions=[{**GOOD_ACTION, **changes}], concerns={"1.3": "Ja"}
    )


def test_nfd_text_and_headers_match(plan: Plan, template: Path, tmp_path: Path) -> None:
    """Text as macOS writes it (å as a + ring) matches the lists and the headers."""
    path = _submitted(template, tmp_path, "nfd.xlsx", **{c.STATUS: unicodedata.normalize("NFD", "Pågår")})
    wb = openpyxl.load_workbook(path)
    for cell in wb[c.SHEET_ACTIONS][1]:
        if isinstance(cell.value, str):
            cell.value = unicodedata.normalize("NFD", cell.value)
    wb.save(path)
    checked = _check(plan, path, tmp_path)
    assert checked.accepted, checked.problems
    assert checked.validated is not None
    assert checked.validated.actions[c.STATUS].tolist() == ["Pågår"]


def test_free_text_is_kept_in_nfc_with_its_invisible_characters(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    typed = unicodedata.normalize("NFD", "Språkcafé \u202eför\u202c kvinnor")
    checked = _check(plan, _submitted(template, tmp_path, "fri.xlsx", **{c.ACTION: typed}), tmp_path)
    assert checked.accepted and checked.validated is not None
    assert checked.validated.actions[c.ACTION].tolist() == [unicodedata.normalize("NFC", typed)]


def test_bidi_and_zero_width_characters_are_no_part_of_list_values(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    changes = {
        c.STATUS: "\u200fPå\u200bgår\ufeff",
        c.FUNDING: "\u2066Statlig ersättning\u2069",
        c.GOAL: "1.3\u200d",
        c.ACTION_ID: f"\u202eSOC-{YEAR}-001\u202c",
    }
    checked = _check(plan, _submitted(template, tmp_path, "osynligt.xlsx", **changes), tmp_path)
    assert checked.accepted, checked.problems
    assert checked.validated is not None
    row = checked.validated.actions.iloc[0]
    assert (row[c.STATUS], row[c.FUNDING], row[c.GOAL], row[c.ACTION_ID]) == (
        "Pågår",
        "Statlig ersättning",
        "1.3",
        f"SOC-{YEAR}-001",
    )


@pytest.mark.parametrize(
    ("cost", "code"),
    [
        ("9" * 400, "cost_not_number"),  # parses to infinity
        (MAX_COST + 1, "cost_too_large"),
        (1e300, "cost_too_large"),
    ],
)
def test_costs_that_are_not_finite_or_absurd_are_refused(
    plan: Plan, template: Path, tmp_path: Path, cost: object, code: str
) -> None:
    checked = _check(plan, _submitted(template, tmp_path, "kostnad.xlsx", **{c.COST: cost}), tmp_path)
    assert _codes(checked) == [code]
    assert checked.problems[0].where == "Åtgärder!G2"


def test_an_empty_cost_below_a_number_is_empty_not_nan(plan: Plan, template: Path, tmp_path: Path) -> None:
    """An empty Kostnad is no cost; only a NaN saved in the cell itself is refused."""
    actions = [GOOD_ACTION, {**GOOD_ACTION, c.COST: None}, {**GOOD_ACTION, c.COST: None}]
    path = fill_workbook(template, tmp_path / "tom.xlsx", actions=actions, concerns={"1.3": "Ja"})
    checked = _check(plan, path, tmp_path)
    assert checked.accepted, [p.text for p in checked.problems]
    members = members_of(path)
    part = sheet_part(path, c.SHEET_ACTIONS)
    members[part] = members[part].replace(
        b"</sheetData>", b'<row r="5"><c r="G5"><v>NaN</v></c></row></sheetData>'
    )
    nan = _check(plan, write_zip(tmp_path / "nan.xlsx", members), tmp_path)
    assert [p.where for p in nan.problems if p.code == "cost_not_number"] == ["Åtgärder!G5"]


def test_a_cost_above_the_ceiling_says_the_ceiling(plan: Plan, template: Path, tmp_path: Path) -> None:
    checked = _check(plan, _submitted(template, tmp_path, "stor.xlsx", **{c.COST: 25_000_000_000}), tmp_path)
    assert [p.message for p in checked.problems] == [
        "Kostnaden 25 000 000 000 kr är orimligt stor; högst 10 000 000 000 kr tillåts. Skriv kostnaden i hela kronor."
    ]


def test_a_cost_at_the_ceiling_is_accepted(plan: Plan, template: Path, tmp_path: Path) -> None:
    assert _check(plan, _submitted(template, tmp_path, "tak.xlsx", **{c.COST: MAX_COST}), tmp_path).accepted


def test_a_text_longer_than_a_cell_holds_is_refused_naming_the_cell(
    plan: Plan, template: Path, tmp_path: Path
) -> None:
    # openpyxl cuts a text at Excel's limit when it saves: the longer text is written as a
    # program that ignores the limit would write it.
    source = _submitted(template, tmp_path, "kort.xlsx", **{c.COMMENT: "x" * MAX_CELL_CHARS})
    members = members_of(source)
    part = sheet_part(source, c.SHEET_ACTIONS)
    assert members[part].count(b"x" * MAX_CELL_CHARS) == 1
    members[part] = members[part].replace(b"x" * MAX_CELL_CHARS, b"x" * (MAX_CELL_CHARS + 1))
    path = write_zip(tmp_path / "lang.xlsx", members)
    checked = _check(plan, path, tmp_path)
    assert _codes(checked) == ["text_too_long"]
    assert checked.problems[0].text == (
        "Åtgärder!N2: Texten i Kommentar har 32 768 tecken; en cell rymmer högst 32 767 tecken."
    )
    at_limit = _submitted(template, tmp_path, "precis.xlsx", **{c.COMMENT: "x" * MAX_CELL_CHARS})
    assert _check(plan, at_limit, tmp_path).accepted


@pytest.mark.parametrize(
    ("start", "done", "accepted"),
    [
        (dt.datetime(1900, 1, 1), dt.datetime(2200, 12, 31), True),
        ("1899-12-31", dt.datetime(2027, 12, 31), False),  # Excel has no date before 1900: typed as text
        (dt.datetime(2027, 1, 1), dt.datetime(2201, 1, 1), False),
        (dt.datetime(2027, 1, 1), "9999-12-31", False),
    ],
)
def test_dates_are_within_1900_and_2200(
    plan: Plan, template: Path, tmp_path: Path, start: object, done: object, accepted: bool
) -> None:
    checked = _check(
        plan, _submitted(template, tmp_path, "datum.xlsx", **{c.START: start, c.DONE: done}), tmp_path
    )
    assert checked.accepted is accepted, checked.problems
    assert ("date_out_of_range" in _codes(checked)) is not accepted


def test_an_out_of_range_date_says_so(plan: Plan, template: Path, tmp_path: Path) -> None:
    checked = _check(plan, _submitted(template, tmp_path, "sent.xlsx", **{c.DONE: "9999-12-31"}), tmp_path)
    assert [p.text for p in checked.problems if p.code == "date_out_of_range"] == [
        "Åtgärder!F2: Datumet 9999-12-31 ligger utanför åren 1900–2200. Kontrollera året."
    ]


@pytest.mark.parametrize("number", ["1000", "12345", "0001000"])
def test_action_numbers_have_no_three_digit_ceiling(
    plan: Plan, template: Path, tmp_path: Path, number: str
) -> None:
    path = _submitted(template, tmp_path, "id.xlsx", **{c.ACTION_ID: f"SOC-{YEAR}-{number}"})
    assert _check(plan, path, tmp_path).accepted


# --- 20 000 errors: fast, and a page a person can read ------------------------------------------


@pytest.mark.slow
def test_twenty_thousand_bad_rows_are_checked_fast(plan: Plan, template: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(template)
    ws = wb[c.SHEET_ACTIONS]
    columns = {cell.value: cell.column for cell in ws[1] if cell.value}
    for row in range(2, 20_002):
        ws.cell(row, columns[c.GOAL], "1.3")
        ws.cell(row, columns[c.ACTION], f"Åtgärd {row}")
        ws.cell(row, columns[c.OWNER], "Enhetschef")
        ws.cell(row, columns[c.STATUS], "Klar")
    path = tmp_path / "tjugotusen.xlsx"
    wb.save(path)
    started = time.perf_counter()
    checked = _check(plan, path, tmp_path)
    checking = time.perf_counter() - started
    assert sum(p.code == "status_invalid" for p in checked.problems) == 20_000
    paths = Settings(outbox=tmp_path / "utkorg").feedback_paths(YEAR, "SOC", "0" * 64)
    started = time.perf_counter()
    write_feedback(
        FeedbackInput(
            path.name,
            "0" * 64,
            "SOC",
            None,
            YEAR,
            False,
            "2027-03-01T10:00:00+00:00",
            checked.problems,
            path,
            None,
        ),
        paths,
    )
    writing = time.perf_counter() - started
    print(
        f"20 000 fel: kontroll {checking:.1f} s, återkoppling {writing:.1f} s, sida {paths.html.stat().st_size} byte"
    )
    assert paths.html.stat().st_size < 500_000
    assert "… och 19 800 till av samma slag som raden ovan." in paths.html.read_text(encoding="utf-8")
    assert checking < 60 and writing < 60
