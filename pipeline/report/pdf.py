"""The summary as a PDF for the diarium: PDF/A-2a, tagged, on A4, made from the summary's HTML.

WeasyPrint writes it: a maintained Python library that writes PDF/A and tagged PDF (a
structure tree, the language, the title shown as the window title) and lays out CSS paged
media, so "Sida 2 av 4" comes from the page's own `@page` rules. Headless Chromium tags its
PDFs but cannot write PDF/A. WeasyPrint needs the system's Pango; where it (or WeasyPrint
itself) is missing, the PDF is left out and `pdf_unavailable` says in one line what to install.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from pipeline.files import atomic_path

log = logging.getLogger(__name__)

PDF_VARIANT = "pdf/a-2a"
"""PDF/A-2, level A (accessible): tagged, every character mapped to Unicode; what an archive
authority accepts for the diarium and a screen reader can read."""
LANGUAGE = "sv-SE"
"""The document's language in the PDF's catalogue; the HTML says only `sv`."""
PRINT_CSS = """
@page {
  size: A4;
  margin: 15mm 15mm 17mm;
  @bottom-right {
    content: "Sida " counter(page) " av " counter(pages);
    font: 8.5pt Arial, sans-serif;
    color: #555;
  }
}
h1, h2, h3, h4, caption, .intro { break-after: avoid; }
figure, table.small, tr, li, .keep { break-inside: avoid; }
thead { display: table-header-group; }
"""
"""A4, margins, page numbers and headings kept with what follows them: given as a user
stylesheet, so the page's own print rules (the same, and its footer) win where they exist."""
PANGO_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
"""The Debian/Ubuntu packages WeasyPrint loads from the system (fonts: fonts-dejavu-core)."""


def load_weasyprint() -> ModuleType:
    """Returns the weasyprint module: the one place that imports it.

    Raises:
        ImportError: WeasyPrint is not installed in this Python.
        OSError: WeasyPrint is installed but the system's Pango (or GLib, HarfBuzz,
            fontconfig) cannot be loaded.
    """
    # WeasyPrint prints a troubleshooting banner in English when Pango cannot be loaded;
    # the report says what to install in Swedish instead (pdf_unavailable).
    with contextlib.redirect_stdout(io.StringIO()):
        import weasyprint  # type: ignore[import-untyped]
    return weasyprint


def pdf_unavailable() -> str | None:
    """Returns one Swedish line saying why the summary's PDF cannot be written on this machine
    and what to install; None when WeasyPrint and the system libraries it needs load."""
    try:
        load_weasyprint()
    except (ImportError, OSError) as error:
        return _install_line(error)
    return None


def _install_line(error: ImportError | OSError) -> str:
    if isinstance(error, ImportError):
        return (
            "PDF:en skrevs inte: WeasyPrint saknas i programmets Python. Installera om programmet "
            "(pip install -r requirements.lock -e .) och kör kommandot igen; övriga filer skrevs."
        )
    return (
        f"PDF:en skrevs inte: installera Pango (Debian/Ubuntu: apt-get install {PANGO_PACKAGES} "
        "fonts-dejavu-core) och kör kommandot igen; övriga filer skrevs."
    )


def write_summary_pdf(html_path: Path, pdf_path: Path, *, created: dt.date | None = None) -> Path | None:
    """Returns `pdf_path`, the summary HTML at `html_path` written there atomically as a tagged
    PDF/A-2a on A4 with page numbers; None, with the install line in the log, when WeasyPrint
    cannot be loaded on this machine.

    The same HTML and `created` give the same bytes: the PDF's creation and modification date
    is `created` (the follow-up's as-of date, not the clock; none when None), and its file ID
    is a digest of its content. The HTML is read on its own: nothing is fetched from a network
    or the disk except inline `data:` resources.

    Args:
        html_path: the summary as `write_summary` wrote it.
        pdf_path: where the PDF goes, usually beside the HTML.
        created: the date the PDF's metadata gives as its creation date.
    """
    try:
        weasyprint = load_weasyprint()
    except (ImportError, OSError) as error:
        log.warning("%s (%s)", _install_line(error), error)
        return None
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data",))
    with _css_warnings_as_debug():
        document = weasyprint.HTML(filename=str(html_path), url_fetcher=fetcher).render(
            stylesheets=[weasyprint.CSS(string=PRINT_CSS)], pdf_variant=PDF_VARIANT, pdf_tags=True
        )
        document.metadata.lang = LANGUAGE
        if created is not None:
            document.metadata.created = document.metadata.modified = created.isoformat()
        with atomic_path(pdf_path) as tmp:
            document.write_pdf(tmp, pdf_variant=PDF_VARIANT, pdf_tags=True)
    return pdf_path


class _WarningsAsDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        log.debug("WeasyPrint: %s", record.getMessage())
        return False


@contextlib.contextmanager
def _css_warnings_as_debug() -> Iterator[None]:
    """WeasyPrint warns about every CSS property it does not know (the page's
    `print-color-adjust`, meant for browsers): while it renders, its warnings go to this
    module's debug log rather than the coordinator's terminal. Its errors stay errors."""
    weasy = logging.getLogger("weasyprint")
    quiet = _WarningsAsDebug()
    weasy.addFilter(quiet)
    try:
        yield
    finally:
        weasy.removeFilter(quiet)
