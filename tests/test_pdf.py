"""The summary as a PDF for the diarium: PDF/A-2a, tagged, Swedish, titled, A4, numbered pages,
the HTML's text, the same bytes for the same inputs; written by the report flow, and left out
with one line saying what to install when WeasyPrint cannot be loaded."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from typer.testing import CliRunner

from pipeline.cli import DEMO_MARKER, app
from pipeline.combine import figures
from pipeline.config import Settings
from pipeline.demo import prepare_demo
from pipeline.report import pdf
from tests import running

YEAR = 2027
AS_OF = dt.date(YEAR, 3, 1)
TITLE = f"Sammanfattning: handlingsplan för integration {YEAR}"
A4 = (595.28, 841.89)
PDFTOTEXT = shutil.which("pdftotext")
PAGE_NUMBER = re.compile(r"Sida (\d+) av (\d+)")
XMP_PART = "{http://www.aiim.org/pdfa/ns/id/}part"
XMP_CONFORMANCE = "{http://www.aiim.org/pdfa/ns/id/}conformance"
DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
XMP_CREATED = "{http://ns.adobe.com/xap/1.0/}CreateDate"
PANGO_MISSING = OSError(
    "cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file"
)

pytestmark = pytest.mark.skipif(
    pdf.pdf_unavailable() is not None or PDFTOTEXT is None,
    reason=f"{pdf.pdf_unavailable()} (or pdftotext missing)",
)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo year collected: SOC, UTB, FoK accepted, KS rejected, SBF missing."""
    inbox, outbox = prepare_demo(tmp_path_factory.mktemp("pdf") / "demo", YEAR, DEMO_MARKER)
    settings = Settings(inbox=inbox, outbox=outbox, quiet_seconds=0)
    running.collect(settings, YEAR, AS_OF)
    return settings


@pytest.fixture(scope="module")
def reported(collected: Settings) -> Any:
    """The report flow's result for the collected demo year."""
    return running.report(collected, YEAR, AS_OF)


@pytest.fixture(scope="module")
def summary_pdf(collected: Settings, reported: Any) -> Path:
    return collected.summary_file(YEAR, ".pdf")


def pdftotext(path: Path, *options: str) -> str:
    return subprocess.run(
        [str(PDFTOTEXT), *options, str(path), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout


HIDDEN = ("style", "script", "title", "desc")


class _BodyText(HTMLParser):
    """The text nodes of an HTML page's body as a reader sees them: no style or script, and no
    SVG title or description (a chart's text alternative, in the PDF its figure's /Alt)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._in_body = False
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_body = self._in_body or tag == "body"
        self._hidden += tag in HIDDEN

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in HIDDEN

    def handle_data(self, data: str) -> None:
        if self._in_body and not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def body_texts(page: Path) -> list[str]:
    parser = _BodyText()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.texts


def structure_types(pdf_file: pikepdf.Pdf) -> dict[str, list[pikepdf.Dictionary]]:
    """Returns the structure tree's elements by type ("/H1", "/Table", …), walked from its root."""
    found: dict[str, list[pikepdf.Dictionary]] = {}
    pending = list(pdf_file.Root.StructTreeRoot.K)
    while pending:
        element = pending.pop()
        if not isinstance(element, pikepdf.Dictionary) or "/S" not in element:
            continue  # a marked-content id or a reference to an annotation
        found.setdefault(str(element.S), []).append(element)
        kids = element.get("/K")
        pending.extend(kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else [])
    return found


def test_the_report_writes_the_pdf_beside_the_html(collected: Settings, reported: Any) -> None:
    html = collected.summary_file(YEAR, ".html")
    assert collected.summary_file(YEAR, ".pdf") == html.with_suffix(".pdf")
    assert reported.paths[2:] == (html, html.with_suffix(".md"), html.with_suffix(".pdf"))
    assert html.with_suffix(".pdf").read_bytes().startswith(b"%PDF-1.7")
    assert not [note for note in reported.notes if "PDF" in note]
    assert not [p for p in html.parent.iterdir() if p.name.startswith(".sammanfattning")]  # no tmp left


def test_it_is_pdf_a_2a_by_its_xmp_metadata(summary_pdf: Path) -> None:
    with pikepdf.open(summary_pdf) as document, document.open_metadata() as xmp:
        assert (xmp[XMP_PART], xmp[XMP_CONFORMANCE]) == ("2", "A")
        assert xmp[DC_TITLE] == TITLE
        assert xmp[XMP_CREATED] == AS_OF.isoformat()  # the as-of date, not the clock
        assert str(document.docinfo.Title) == TITLE
        assert str(document.docinfo.CreationDate) == "D:20270301"
        assert "/OutputIntents" in document.Root  # sRGB, as PDF/A asks of colour


def test_it_is_tagged_in_swedish_and_shows_its_title(summary_pdf: Path) -> None:
    with pikepdf.open(summary_pdf) as document:
        root = document.Root
        assert bool(root.MarkInfo.Marked) is True
        assert str(root.Lang) == "sv-SE"
        assert bool(root.ViewerPreferences.DisplayDocTitle) is True
        tags = structure_types(document)
        assert str(root.StructTreeRoot.K[0].S) == "/Document"
        assert [len(tags.get(t, [])) for t in ("/H1", "/H2", "/Caption")] == [1, 6, 7]
        # Every captioned table is tagged; one broken over a page is tagged once per piece.
        assert len(tags["/Table"]) >= 6
        assert len(tags["/TH"]) > 10 and len(tags["/TD"]) > 10 and len(tags["/LI"]) > 10
        assert sorted(str(figure.Alt) for figure in tags["/Figure"]) == [
            "Ansvarsmatris: antal åtgärder per delmål och förvaltning",
            "Åtgärder per målområde och status",
        ]


def test_every_page_is_a4_with_its_number(summary_pdf: Path) -> None:
    with pikepdf.open(summary_pdf) as document:
        boxes = [[float(v) for v in page.MediaBox] for page in document.pages]
    assert all(box[:2] == [0, 0] and box[2:] == pytest.approx(A4, abs=1) for box in boxes)
    pages = pdftotext(summary_pdf, "-layout").split("\f")[: len(boxes)]
    numbers = [[(int(m[1]), int(m[2])) for m in PAGE_NUMBER.finditer(page)] for page in pages]
    assert numbers == [[(n, len(boxes))] for n in range(1, len(boxes) + 1)]
    assert 1 < len(boxes) <= 5  # the demo's summary: 5 pages on A4


def test_the_pdf_has_the_htmls_text_selectable(collected: Settings, reported: Any, summary_pdf: Path) -> None:
    text = pdftotext(summary_pdf, "-raw")
    flat = "".join(text.split())  # a cell's text may wrap, even inside a word
    texts = body_texts(collected.summary_file(YEAR, ".html"))
    assert len(texts) > 200
    assert [t for t in texts if "".join(t.split()) not in flat] == []
    fig = figures(reported.consolidated)
    assert TITLE in text
    assert f"Tillsammans har de {fig.actions} åtgärder i handlingsplanen." in " ".join(text.split())
    assert f"{fig.departments_submitted} av {fig.departments_total} förvaltningar har lämnat in." in text


def test_the_same_html_gives_the_same_bytes(collected: Settings, summary_pdf: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "annan mapp" / "sammanfattning.html"
    elsewhere.parent.mkdir()
    shutil.copy(collected.summary_file(YEAR, ".html"), elsewhere)
    again = pdf.write_summary_pdf(elsewhere, tmp_path / "igen.pdf", created=AS_OF)
    assert again is not None and again.read_bytes() == summary_pdf.read_bytes()
    later = pdf.write_summary_pdf(elsewhere, tmp_path / "senare.pdf", created=AS_OF + dt.timedelta(days=1))
    assert later is not None and later.read_bytes() != summary_pdf.read_bytes()


def test_pikepdfs_pdf_a_validator_finds_no_violation(summary_pdf: Path) -> None:
    # pikepdf's allowlist validator (built on veraPDF's rules) knows PDF/A-2b, not the level A
    # checks (tags): its one violation is that the file claims level A. What it does not know
    # (the SVG charts' hatch patterns) it reports as unsupported, not as a violation.
    pdfa = pytest.importorskip("pikepdf.pdfa")
    report = pdfa.validate_written(summary_pdf, "2b")
    violations = [(f.rule, f.message) for f in report.findings if f.kind == "violation"]
    assert violations == [("ISO_19005_2:6.6.4-3", "pdfaid:conformance is 'A', expected 'B'")]
    unknown = {f.rule for f in report.findings if f.kind != "violation"}
    assert unknown <= {"pikepdf:schema-Resources", "pikepdf:colour-space", "pikepdf:pattern"}


def test_without_weasyprint_the_report_writes_the_rest_and_says_what_to_install(
    collected: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pango_missing() -> None:
        raise PANGO_MISSING

    monkeypatch.setattr(pdf, "load_weasyprint", pango_missing)
    outbox = tmp_path / "outbox"
    shutil.copytree(collected.outbox, outbox, ignore=shutil.ignore_patterns("sammanfattning_*"))
    result = CliRunner().invoke(
        app, ["report", "--year", str(YEAR), "--outbox", str(outbox), "--as-of", AS_OF.isoformat()]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (outbox / str(YEAR)).glob("*_2027.*"))
    assert names == [
        "handlingsplan_2027.xlsx",
        "sammanfattning_2027.html",
        "sammanfattning_2027.md",
        "uppfoljning_2027.xlsx",
    ]
    told = [line for line in result.stderr.splitlines() if "PDF" in line]
    assert told == [
        "Obs: PDF:en skrevs inte: installera Pango (Debian/Ubuntu: apt-get install libpango-1.0-0 "
        "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core) och kör kommandot igen; övriga filer skrevs."
    ]
    assert "sammanfattning_2027.pdf" not in result.stdout


def test_a_missing_weasyprint_is_one_line_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def not_installed() -> None:
        raise ModuleNotFoundError("No module named 'weasyprint'", name="weasyprint")

    monkeypatch.setattr(pdf, "load_weasyprint", not_installed)
    line = pdf.pdf_unavailable()
    assert line is not None and "\n" not in line and "WeasyPrint saknas" in line
    page = tmp_path / "sida.html"
    page.write_text("<html lang='sv'><title>T</title><p>x</p></html>", encoding="utf-8")
    assert pdf.write_summary_pdf(page, tmp_path / "sida.pdf") is None
    assert not (tmp_path / "sida.pdf").exists()
