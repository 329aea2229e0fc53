"""Feedback reports and the marked copy, from a real filled workbook."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import logging
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipeline import contract as c
from pipeline import feedback, markup
from pipeline.config import FeedbackPaths, Settings, feedback_stem
from pipeline.feedback import (
    FEEDBACK_HEADER_ROW,
    FEEDBACK_SHEET,
    FeedbackInput,
    WrittenFeedback,
    markdown_escape,
    write_feedback,
)
from pipeline.plan import Plan
from pipeline.problems import ERROR, WARNING, Kind, Problem
from tests.workbooks import fill_workbook, make_template

YEAR = 2027
NAME = "SOC/handlingsplan_2027_SOC.xlsx"
DIGEST = hashlib.sha256(b"handlingsplan").hexdigest()
RECEIVED = "2027-03-15T10:42:07+00:00"


def _problem(
    sheet: str, cell: str, row: int | None, column: str, value: str, kind: Kind, message: str, hint: str = ""
) -> Problem:
    """Returns a problem with any text: feedback shows whatever the catalogue says."""
    return Problem(
        file=NAME,
        sheet=sheet,
        cell=cell,
        row=row,
        column=column,
        value=value,
        kind=kind,
        code="test",
        message=message,
        hint=hint,
    )


STATUS_ERROR = _problem(
    c.SHEET_ACTIONS,
    "L2",
    2,
    c.STATUS,
    "Klar",
    ERROR,
    '"Klar" är inte en giltig status.',
    "Välj en status i listan, t.ex. Genomförd.",
)
START_WARNING = _problem(
    c.SHEET_ACTIONS,
    "G3",
    3,
    c.COST,
    "<script>alert(1)</script>",
    WARNING,
    "Kostnaden är inte ett tal.",
    "Skriv bara siffror, t.ex. 50000.",
)
MISSING_COLUMN = _problem(
    c.SHEET_ACTIONS,
    "",
    None,
    c.OWNER,
    "",
    ERROR,
    "Kolumnen Ansvarig saknas.",
    "Använd den mall ni fick och ta inte bort kolumner.",
)
LINK_VALUE = _problem(
    c.SHEET_ACTIONS, "C3", 3, c.ACTION, "[klicka](http://x) a|b", WARNING, "Texten ser ut som en länk."
)
SECOND_ON_L2 = _problem(c.SHEET_ACTIONS, "L2", 2, c.STATUS, "Klar", WARNING, "Status är sen.", "Kontrollera.")
GONE_SHEET = _problem("Borttaget blad", "A1", 1, "", "", ERROR, "Bladet saknas.")
PROBLEMS = (START_WARNING, MISSING_COLUMN, SECOND_ON_L2, STATUS_ERROR, LINK_VALUE, GONE_SHEET)


@pytest.fixture(scope="module")
def workbook(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arkiv")
    template = make_template(plan, "SOC", YEAR, folder)
    return fill_workbook(
        template,
        folder / "inlamnad.xlsx",
        actions=[
            {c.ACTION: "Språkcafé", c.OWNER: "Enhetschef", c.STATUS: "Klar"},
            {c.ACTION: "[klicka](http://x) a|b", c.OWNER: "Rektor", c.COST: "femtio tusen"},
        ],
    )


def _paths(outbox: Path, department: str | None = "SOC") -> FeedbackPaths:
    """Returns where the pipeline puts this submission's feedback, under `outbox`."""
    return Settings(outbox=outbox).feedback_paths(YEAR, department, DIGEST)


def _submission(workbook: Path | None, **changes: object) -> FeedbackInput:
    base = FeedbackInput(
        display_name=NAME,
        digest=DIGEST,
        department_code="SOC",
        department_name="Socialförvaltningen",
        year=YEAR,
        accepted=False,
        received=RECEIVED,
        problems=PROBLEMS,
        workbook=workbook,
        plan_version="ef0d4ae5981d",
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def written(workbook: Path, tmp_path_factory: pytest.TempPathFactory) -> WrittenFeedback:
    return write_feedback(_submission(workbook), _paths(tmp_path_factory.mktemp("utkorg")))


def test_files_are_written_where_settings_put_them(written: WrittenFeedback) -> None:
    base = f"SOC_{DIGEST}"
    assert written.marked is not None
    assert (written.html.name, written.markdown.name, written.marked.name) == (
        f"{base}.html",
        f"{base}.md",
        f"{base}_markerad.xlsx",
    )
    outbox = written.html.parents[2]
    assert (written.html, written.markdown, written.marked) == dataclasses.astuple(_paths(outbox))
    assert sorted(p.name for p in written.html.parent.iterdir()) == sorted(
        [f"{base}.html", f"{base}.md", f"{base}_markerad.xlsx"]
    )


def test_stem_is_safe_and_falls_back_to_okand() -> None:
    assert feedback_stem("FoK", "ABCDEF0123456789") == "FoK_abcdef0123456789"
    assert feedback_stem(None, DIGEST) == f"okand_{DIGEST}"
    assert feedback_stem("../x y", DIGEST) == f"x_y_{DIGEST}"
    assert feedback_stem("/", DIGEST) == f"okand_{DIGEST}"


def test_html_has_title_outcome_counts_and_every_problem(written: WrittenFeedback) -> None:
    html = written.html.read_text(encoding="utf-8")
    assert "<title>Återkoppling på handlingsplan 2027 – Socialförvaltningen</title>" in html
    assert "Avvisad – rätta felen och lämna in igen" in html
    assert "3 fel och 3 varningar" in html
    assert "2027-03-15 kl. 11.42" in html  # UTC shown as Swedish time
    assert f"<strong>SOC_{DIGEST}_markerad.xlsx</strong>" in html
    for problem in PROBLEMS:
        assert f'<td class="cell">{problem.cell}</td>' in html
        assert problem.message.replace('"', "&#34;") in html
    assert "<h2>Åtgärder</h2>" in html
    assert "<h2>Borttaget blad</h2>" in html
    assert '<span class="label error">Fel</span>' in html
    assert '<span class="label warning">Varning</span>' in html
    head = html.split("<body>")[0]
    assert "http" not in head and "<link" not in head and "src=" not in html  # self-contained


def test_html_orders_errors_first_then_row_and_column(written: WrittenFeedback) -> None:
    html = written.html.read_text(encoding="utf-8")
    positions = [
        html.index(p.message.replace('"', "&#34;"))
        for p in (MISSING_COLUMN, STATUS_ERROR, SECOND_ON_L2, LINK_VALUE, START_WARNING)
    ]
    assert positions == sorted(positions)


def test_html_escapes_problem_values(written: WrittenFeedback) -> None:
    html = written.html.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_escapes_user_text(written: WrittenFeedback) -> None:
    md = written.markdown.read_text(encoding="utf-8")
    assert md.startswith("# Återkoppling på handlingsplan 2027 – Socialförvaltningen\n")
    assert "- **Fil:** SOC/handlingsplan\\_2027\\_SOC.xlsx\n" in md
    assert (
        "| C3 | Åtgärd | \\[klicka\\](http://x) a\\|b | **Varning:** Texten ser ut som en länk. |  |\n" in md
    )
    assert "| G3 | Kostnad (kr) | \\<script\\>alert(1)\\</script\\> | **Varning:** " in md
    assert "|  | Ansvarig |  | **Fel:** Kolumnen Ansvarig saknas. |" in md
    assert "## Borttaget blad\n" in md


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "a\\|b"),
        ("[klicka](http://x)", "\\[klicka\\](http://x)"),
        ("<script>", "\\<script\\>"),
        ("# rubrik", "\\# rubrik"),
        ("  # rubrik", "  \\# rubrik"),
        ("nr #1", "nr #1"),
        ("a\\b", "a\\\\b"),
        ("*fet* _kursiv_ `kod`", "\\*fet\\* \\_kursiv\\_ \\`kod\\`"),
        ("rad ett\nrad två\r\nrad tre\rslut", "rad ett rad två rad tre slut"),
        ("Språkcafé 2027", "Språkcafé 2027"),
    ],
)
def test_markdown_escape(text: str, expected: str) -> None:
    assert markdown_escape(text) == expected


def test_marked_copy_fills_and_comments_cells(written: WrittenFeedback) -> None:
    assert written.marked is not None
    wb = openpyxl.load_workbook(written.marked)
    ws = wb[c.SHEET_ACTIONS]
    l2, g3 = ws["L2"], ws["G3"]
    assert l2.fill.fill_type == "solid"
    assert l2.fill.fgColor.rgb == "FFFFC7CE"  # error wins over the warning in the same cell
    assert g3.fill.fgColor.rgb == "FFFFEB9C"
    assert l2.comment.author == "Kommunstyrelsen"
    assert l2.comment.text == (
        'Fel: "Klar" är inte en giltig status.\n'
        "Så rättar du: Välj en status i listan, t.ex. Genomförd.\n"
        "Varning: Status är sen.\n"
        "Så rättar du: Kontrollera."
    )
    assert (
        g3.comment.text
        == "Varning: Kostnaden är inte ett tal.\nSå rättar du: Skriv bara siffror, t.ex. 50000."
    )
    assert ws["L2"].value == "Klar"  # values untouched
    assert ws["A2"].comment is None
    assert ws.protection.sheet  # protection left as it was
    with zipfile.ZipFile(written.marked) as archive:
        vml = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".vml"))
    assert "width:320px;height:90px" in vml  # the box grows with the wrapped lines of L2


def test_marked_copy_has_feedback_sheet_first_and_active(written: WrittenFeedback) -> None:
    assert written.marked is not None
    wb = openpyxl.load_workbook(written.marked)
    assert wb.sheetnames[0] == FEEDBACK_SHEET
    assert wb.active.title == FEEDBACK_SHEET
    assert [ws.sheet_view.tabSelected for ws in wb.worksheets].count(True) == 1
    assert wb[c.SHEET_IDENTIFICATION].sheet_state == "veryHidden"
    rows = list(wb[FEEDBACK_SHEET].iter_rows(min_row=FEEDBACK_HEADER_ROW, values_only=True))
    assert rows == [
        ("Blad", "Cell", "Typ", "Problem", "Så rättar du"),
        (c.SHEET_ACTIONS, None, "Fel", MISSING_COLUMN.message, MISSING_COLUMN.hint),
        (c.SHEET_ACTIONS, "L2", "Fel", STATUS_ERROR.message, STATUS_ERROR.hint),
        (c.SHEET_ACTIONS, "L2", "Varning", SECOND_ON_L2.message, SECOND_ON_L2.hint),
        (c.SHEET_ACTIONS, "C3", "Varning", LINK_VALUE.message, None),
        (c.SHEET_ACTIONS, "G3", "Varning", START_WARNING.message, START_WARNING.hint),
        ("Borttaget blad", "A1", "Fel", GONE_SHEET.message, None),
    ]


def test_archived_workbook_is_not_changed(workbook: Path, tmp_path: Path) -> None:
    before = workbook.read_bytes()
    write_feedback(_submission(workbook), _paths(tmp_path))
    assert workbook.read_bytes() == before


def test_same_input_gives_identical_bytes(workbook: Path, tmp_path: Path) -> None:
    first = write_feedback(_submission(workbook), _paths(tmp_path / "a"))
    second = write_feedback(_submission(workbook), _paths(tmp_path / "b"))
    assert first.marked is not None and second.marked is not None
    for one, two in ((first.html, second.html), (first.markdown, second.markdown)):
        assert one.read_bytes() == two.read_bytes()
    assert first.marked.read_bytes() == second.marked.read_bytes()


def test_marked_copy_carries_only_the_received_time(written: WrittenFeedback) -> None:
    assert written.marked is not None
    with zipfile.ZipFile(written.marked) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2027, 3, 15, 10, 42, 6)}
    properties = openpyxl.load_workbook(written.marked).properties
    assert properties.modified == dt.datetime(2027, 3, 15, 10, 42, 7)
    assert properties.created == dt.datetime(2027, 3, 15, 10, 42, 7)


def test_marked_copy_sent_back_is_marked_afresh(workbook: Path, tmp_path: Path) -> None:
    first = write_feedback(_submission(workbook), _paths(tmp_path / "a"))
    assert first.marked is not None
    again = write_feedback(_submission(first.marked, problems=(START_WARNING,)), _paths(tmp_path / "b"))
    assert again.marked is not None
    wb = openpyxl.load_workbook(again.marked)
    assert wb.sheetnames.count(FEEDBACK_SHEET) == 1 and wb.sheetnames[0] == FEEDBACK_SHEET
    assert len(list(wb[FEEDBACK_SHEET].iter_rows(min_row=FEEDBACK_HEADER_ROW + 1))) == 1
    assert wb[c.SHEET_ACTIONS]["L2"].comment is None
    assert wb[c.SHEET_ACTIONS]["G3"].comment.text.startswith("Varning: Kostnaden är inte ett tal.")
    assert wb[c.SHEET_ACTIONS]["G3"].comment.text.count("Kostnaden") == 1


def test_accepted_without_problems_thanks_and_makes_no_copy(workbook: Path, tmp_path: Path) -> None:
    target = _paths(tmp_path)
    target.marked.parent.mkdir(parents=True)
    target.marked.write_bytes(b"an earlier round's marked copy")
    paths = write_feedback(_submission(workbook, accepted=True, problems=()), target)
    assert paths.marked is None
    names = sorted(p.name for p in paths.html.parent.iterdir())
    assert names == [f"SOC_{DIGEST}.html", f"SOC_{DIGEST}.md"]  # the stale copy is gone
    html = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    for text in (html, md):
        assert "Inga fel eller varningar hittades. Tack!" in text
        assert "Godkänd" in text
        assert "0 fel och 0 varningar" in text
        assert "markerad" not in text
    assert "<table" not in html


def test_accepted_with_warnings_makes_no_copy(workbook: Path, tmp_path: Path) -> None:
    paths = write_feedback(_submission(workbook, accepted=True, problems=(START_WARNING,)), _paths(tmp_path))
    assert paths.marked is None
    assert "0 fel och 1 varning\n" in paths.markdown.read_text(encoding="utf-8")


def test_corrupt_workbook_gives_reports_without_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "trasig.xlsx"
    corrupt.write_bytes(hashlib.sha512(b"inte en arbetsbok").digest() * 8)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        paths = write_feedback(
            _submission(corrupt, department_code=None, department_name=None, year=None),
            _paths(tmp_path / "ut", department=None),
        )
    assert paths.marked is None
    # The coordinator's log says why, with the exception's type; the förvaltning's report does not.
    assert any("BadZipFile: File is not a zip file" in r.getMessage() for r in caplog.records)
    assert paths.html.name == f"okand_{DIGEST}.html"
    html = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    assert "Återkoppling på handlingsplan – okänd förvaltning" in html
    for text in (html, md):
        assert "Vi kunde inte göra en kopia av filen med markerade celler." in text
        assert "Kolumnen Ansvarig saknas." in text
        assert "BadZipFile" not in text
    assert f"ange referens okand_{DIGEST}." in html


def test_unreadable_file_without_workbook_still_reports(tmp_path: Path) -> None:
    paths = write_feedback(_submission(None, problems=(MISSING_COLUMN,)), _paths(tmp_path))
    assert paths.marked is None
    assert paths.html.exists() and paths.markdown.exists()
    # a file the check would not open again is not a failure to make a copy: nothing is said
    for text in (paths.html.read_text(encoding="utf-8"), paths.markdown.read_text(encoding="utf-8")):
        assert "kopia" not in text


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MEMBERS = {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<office/>"}


@pytest.mark.parametrize(("suffix", "shown"), [(".ods", ".ods"), (".xls", ".xls"), (".xlsx", ".ods")])
def test_ods_and_xls_get_no_copy_and_are_told_how_to_get_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, suffix: str, shown: str
) -> None:
    archived = tmp_path / f"arkiverad{suffix}"
    if shown == ".xls":
        archived.write_bytes(OLE2_SIGNATURE + bytes(512) + "Workbook".encode("utf-16-le") + bytes(512))
    else:
        with zipfile.ZipFile(archived, "w") as archive:
            for name, data in ODS_MEMBERS.items():
                archive.writestr(name, data)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        paths = write_feedback(_submission(archived), _paths(tmp_path / "ut"))
    assert paths.marked is None
    assert not [r for r in caplog.records if "markerade" in r.getMessage()]  # nothing failed
    html = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    assert "<h1>Återkoppling på handlingsplan 2027 – Socialförvaltningen</h1>" in html
    told = (
        f"En kopia med markerade celler görs bara för .xlsx-filer, och den här filen är en {shown}-fil. "
        "Vill du ha en: öppna filen och välj Spara som {gt} Excel 2007-365 (.xlsx) (i Excel: Excel-arbetsbok), "
        "och lämna in den."
    )
    assert told.format(gt="&gt;") in html
    assert told.format(gt=">") in md
    assert "Vi kunde inte" not in html and "Vi kunde inte" not in md
    # the list names each problem's sheet and cell, the förvaltning's way to find it
    assert "<h2>Åtgärder</h2>" in html and '<td class="cell">L2</td>' in html
    assert "## Åtgärder" in md and "| L2 | Status | Klar |" in md


def test_feedback_sheet_keeps_formula_like_text_as_text(plan: Plan, tmp_path: Path) -> None:
    workbook = fill_workbook(make_template(plan, "SOC", 2027, tmp_path), tmp_path / "in.xlsx", actions=[])
    formula_like = _problem('=HYPERLINK("http://x")', "", None, "", "", ERROR, "=1+1", "@x")
    paths = write_feedback(_submission(workbook, problems=(formula_like,)), _paths(tmp_path / "fb"))
    assert paths.marked is not None
    sheet = openpyxl.load_workbook(paths.marked)["Återkoppling"]
    cells = [cell for row in sheet.iter_rows(min_row=5) for cell in row if cell.value]
    assert {cell.data_type for cell in cells} == {"s"}
    assert "=1+1" in [cell.value for cell in cells]


# The marked copy is made by editing the workbook's XML; openpyxl is the fallback.

MOMENT = dt.datetime(2027, 3, 15, 10, 42, 7)


def _marked_fast(workbook: Path, problems: tuple[Problem, ...]) -> bytes | None:
    ordered = feedback._ordered(problems)
    marks_for = functools.partial(feedback._cell_marks, ordered)
    return markup.marked_workbook(
        workbook.read_bytes(), marks_for, feedback._feedback_table(ordered), feedback.COMMENT_AUTHOR, MOMENT
    )


def _as_seen(data: bytes) -> dict[str, object]:
    """Returns what a person sees in a workbook: sheets, values, fills, fonts, comments."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    seen: dict[str, object] = {"sheets": wb.sheetnames, "active": wb.active.title}
    for ws in wb.worksheets:
        seen[ws.title] = (
            ws.sheet_state,
            bool(ws.sheet_view.tabSelected),
            ws.freeze_panes,
            ws.protection.sheet,
            [
                (
                    cell.coordinate,
                    cell.value,
                    cell.fill.fill_type,
                    cell.fill.fgColor.rgb,
                    cell.font.b,
                    cell.font.sz,
                    cell.alignment.wrap_text,
                    cell.protection.locked,
                    cell.number_format,
                    (cell.comment.text, cell.comment.author, cell.comment.width, cell.comment.height)
                    if cell.comment
                    else None,
                )
                for row in ws.iter_rows()
                for cell in row
            ],
        )
    return seen


def test_both_ways_of_marking_give_the_same_workbook(workbook: Path) -> None:
    ordered = feedback._ordered(PROBLEMS)
    fast = _marked_fast(workbook, PROBLEMS)
    slow = feedback._openpyxl_marked(workbook, ordered, feedback._feedback_table(ordered), MOMENT)
    assert fast is not None and slow is not None
    assert _as_seen(fast) == _as_seen(slow)


def test_marked_copy_keeps_the_unmarked_sheets_byte_for_byte(
    workbook: Path, written: WrittenFeedback
) -> None:
    assert written.marked is not None
    with zipfile.ZipFile(workbook) as before, zipfile.ZipFile(written.marked) as after:
        sheets = [n for n in before.namelist() if n.startswith("xl/worksheets/sheet")]
        kept = [n for n in sheets if after.read(n) == before.read(n)]
        assert before.read("xl/theme/theme1.xml") == after.read("xl/theme/theme1.xml")
    # All but Åtgärder (marked) and Instruktioner (no longer the selected tab).
    assert len(kept) == len(sheets) - 2


def test_a_problem_in_a_merged_range_marks_its_first_cell(workbook: Path, tmp_path: Path) -> None:
    merged = tmp_path / "sammanslagen.xlsx"
    wb = openpyxl.load_workbook(workbook)
    wb[c.SHEET_ACTIONS].merge_cells("M2:N3")
    wb.save(merged)
    problem = dataclasses.replace(STATUS_ERROR, cell="N3", row=3)
    fast = _marked_fast(merged, (problem,))
    assert fast is not None
    ws = openpyxl.load_workbook(io.BytesIO(fast))[c.SHEET_ACTIONS]
    assert ws["M2"].fill.fgColor.rgb == "FFFFC7CE" and ws["M2"].comment is not None


def test_a_cell_missing_from_the_file_is_marked_by_the_fallback(workbook: Path, tmp_path: Path) -> None:
    far = dataclasses.replace(STATUS_ERROR, cell="Z900", row=900)
    assert _marked_fast(workbook, (far,)) is None  # the XML has no such cell to edit
    paths = write_feedback(_submission(workbook, problems=(far,)), _paths(tmp_path))
    assert paths.marked is not None
    ws = openpyxl.load_workbook(paths.marked)[c.SHEET_ACTIONS]
    assert ws["Z900"].fill.fgColor.rgb == "FFFFC7CE"
    assert ws["Z900"].comment.text.startswith('Fel: "Klar"')


def test_control_characters_in_a_problem_do_not_stop_the_marked_copy(workbook: Path, tmp_path: Path) -> None:
    odd = dataclasses.replace(
        STATUS_ERROR, message='"Kl\x07ar" är inte en giltig status.', hint="Välj\x0b igen."
    )
    paths = write_feedback(_submission(workbook, problems=(odd,)), _paths(tmp_path))
    assert paths.marked is not None
    wb = openpyxl.load_workbook(paths.marked)
    assert (
        wb[c.SHEET_ACTIONS]["L2"].comment.text
        == 'Fel: "Klar" är inte en giltig status.\nSå rättar du: Välj igen.'
    )
    assert wb[FEEDBACK_SHEET].cell(FEEDBACK_HEADER_ROW + 1, 4).value == '"Klar" är inte en giltig status.'


def test_feedback_sheet_prints_across_a4_with_rows_tall_enough_for_their_text(workbook: Path) -> None:
    long = dataclasses.replace(STATUS_ERROR, message="Ett långt fel. " * 20)  # 300 characters
    ordered = feedback._ordered((long,))
    fast = _marked_fast(workbook, (long,))
    slow = feedback._openpyxl_marked(workbook, ordered, feedback._feedback_table(ordered), MOMENT)
    for data in (fast, slow):
        assert data is not None
        ws = openpyxl.load_workbook(io.BytesIO(data))[FEEDBACK_SHEET]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.row_dimensions[FEEDBACK_HEADER_ROW + 1].height >= 4 * 15  # 300 characters over 72 a line


# --- unique names and bounded lists ------------------------------------------------------------


def test_digests_sharing_a_prefix_get_files_of_their_own(tmp_path: Path) -> None:
    settings = Settings(outbox=tmp_path)
    other = DIGEST[:16] + "0" * 48
    ours, theirs = settings.feedback_paths(YEAR, "SOC", DIGEST), settings.feedback_paths(YEAR, "SOC", other)
    assert {ours.html, ours.markdown, ours.marked}.isdisjoint({theirs.html, theirs.markdown, theirs.marked})
    assert ours.html.name == f"SOC_{DIGEST}.html"
    assert settings.clean_data_file(YEAR, DIGEST) != settings.clean_data_file(YEAR, other)


def _many(count: int, code: str, kind: Kind, column: str, letter: str) -> list[Problem]:
    return [
        dataclasses.replace(
            _problem(
                c.SHEET_ACTIONS, f"{letter}{row}", row, column, "x", kind, f"Fel på rad {row}.", "Rätta."
            ),
            code=code,
        )
        for row in range(2, count + 2)
    ]


def test_feedback_lists_at_most_200_of_a_kind_and_says_how_many_more(workbook: Path, tmp_path: Path) -> None:
    statuses = _many(450, "status_invalid", ERROR, c.STATUS, "L")
    owners = _many(3, "required_missing", ERROR, c.OWNER, "D")
    written = write_feedback(_submission(workbook, problems=(*statuses, *owners)), _paths(tmp_path))
    html = written.html.read_text(encoding="utf-8")
    md = written.markdown.read_text(encoding="utf-8")
    for text in (html, md):
        assert "453 fel och 0 varningar" in text  # the totals count every problem
        assert "Fel på rad 201." in text and "Fel på rad 202." not in text  # 200 listed: rows 2–201
        assert text.count("… och 250 till av samma slag som raden ovan.") == 1
    assert html.count('<td class="cell">D') == 3
    assert written.marked is not None
    wb = openpyxl.load_workbook(written.marked)
    listed = [
        row[3] for row in wb[FEEDBACK_SHEET].iter_rows(min_row=FEEDBACK_HEADER_ROW + 1, values_only=True)
    ]
    assert len(listed) == 200 + 1 + 3 and "… och 250 till av samma slag som raden ovan." in listed
    commented = [cell for row in wb[c.SHEET_ACTIONS].iter_rows() for cell in row if cell.comment is not None]
    assert len(commented) == 203
