"""The summary and a rejected submission's feedback meet WCAG 2.1 AA: axe-core in Chromium.

axe-core (bundled with axe-playwright-python) runs in the system's Chromium, driven by
Playwright, against the demo's summary and KS's feedback (the demo's rejected submission).
What axe cannot judge is checked here too: the page never scrolls sideways at 320 CSS px
(400 % zoom), the focus ring shows, the structure (one h1, headings in order, landmarks,
captions and header cells), no content made by CSS, and the charts' colours and patterns.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from pipeline import check, intake
from pipeline.config import Settings
from pipeline.feedback import FeedbackInput, write_feedback
from pipeline.plan import Plan
from pipeline.records import utc_iso
from pipeline.report import charts
from pipeline.report.charts import STATUS_CHART
from pipeline.report.summary import write_summary
from tests.test_report_workbooks import YEAR, example_consolidated

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
EXPERIMENTAL_WCAG_RULES = ("td-has-header", "table-fake-caption", "p-as-heading")
"""axe's rules for WCAG 1.3.1 still marked experimental, so off unless named: a data cell
without its header, a caption faked with a cell, a paragraph made to look like a heading."""
AXE_OPTIONS: dict[str, Any] = {
    "runOnly": {"type": "tag", "values": WCAG_TAGS},
    "rules": {rule: {"enabled": True} for rule in EXPERIMENTAL_WCAG_RULES},
    "resultTypes": ["violations"],
}
NARROW: ViewportSize = {"width": 320, "height": 640}
WIDE: ViewportSize = {"width": 1280, "height": 900}
WHITE = "#FFFFFF"

browser_test = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium (chromium) missing")


@pytest.fixture(scope="module")
def outputs(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo's summary and KS's feedback (rejected), written where a run writes them."""
    root = tmp_path_factory.mktemp("tillganglighet")
    settings = Settings(inbox=root / "inbox", outbox=root / "outbox")
    consolidated = example_consolidated(plan, root)
    summary, _ = write_summary(
        consolidated, settings.summary_file(YEAR, ".html"), settings.summary_file(YEAR, ".md")
    )
    rejected = settings.inbox / "KS handlingsplan 2027.xlsx"
    checked = check.check_submission(
        rejected, rejected.name, check.Plans(plan, settings.plans_dir), YEAR, consolidated.as_of
    )
    assert not checked.accepted
    digest = intake.sha256_file(rejected)
    feedback = write_feedback(
        FeedbackInput(
            display_name=rejected.name,
            digest=digest,
            department_code=checked.department,
            department_name=checked.department_name,
            year=checked.year,
            accepted=False,
            received=utc_iso(rejected.stat().st_mtime),
            problems=checked.problems,
            workbook=rejected,
            plan_version=checked.plan_version,
        ),
        settings.feedback_paths(YEAR, checked.department, digest),
    )
    return {"sammanfattning": summary, "aterkoppling": feedback.html}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:
    """One tab for the whole module; each test sets the viewport and the page it needs."""
    tab = browser.new_page()
    yield tab
    tab.close()


def opened(page: Page, path: Path, viewport: ViewportSize = WIDE) -> Page:
    page.set_viewport_size(viewport)
    page.goto(path.as_uri())
    return page


def shown(page: Page, html: str) -> Page:
    """Returns `page` showing `html` (a page made from a real one), at the wide viewport."""
    page.set_viewport_size(WIDE)
    page.set_content(html)
    return page


def violations(page: Page) -> list[dict[str, Any]]:
    """Returns axe-core's WCAG 2.1 A/AA violations on the page as it is shown now."""
    return list(Axe().run(page, options=AXE_OPTIONS).response["violations"])


def readable(found: list[dict[str, Any]]) -> str:
    """Returns axe's violations one per line: rule, impact, what it asks, and where."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(
            f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}" for node in violation["nodes"]
        )
    return "\n".join(lines)


PAGES = ("sammanfattning", "aterkoppling")


@browser_test
@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_wcag_21_aa_violation(name: str, outputs: dict[str, Path], page: Page) -> None:
    found = violations(opened(page, outputs[name]))
    assert not found, f"{outputs[name].name}:\n{readable(found)}"


@browser_test
@pytest.mark.parametrize("name", PAGES)
def test_at_320_px_only_a_wide_table_scrolls_in_its_own_box(
    name: str, outputs: dict[str, Path], page: Page
) -> None:
    narrow = opened(page, outputs[name], NARROW)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    boxes = narrow.evaluate(
        """[...document.querySelectorAll('table')].map(table => {
             const box = table.closest('[role=region]');
             return box && box.scrollWidth > box.clientWidth
               ? [box.tabIndex, box.getAttribute('aria-labelledby')] : null;
           }).filter(Boolean)"""
    )
    assert boxes, "no table is wider than the screen: the check below checks nothing"
    for tab_index, labelled_by in boxes:
        assert tab_index == 0 and narrow.locator(f"#{labelled_by}").count() == 1
    found = violations(narrow)  # also: a box that scrolls can be reached by keyboard
    assert not found, readable(found)


@browser_test
@pytest.mark.parametrize("name", PAGES)
def test_the_keyboard_focus_shows(name: str, outputs: dict[str, Path], page: Page) -> None:
    tab = opened(page, outputs[name], NARROW)
    tab.keyboard.press("Tab")
    ring = tab.evaluate(
        """(() => { const style = getComputedStyle(document.activeElement);
             return [document.activeElement.tagName, style.outlineStyle, parseFloat(style.outlineWidth)]; })()"""
    )
    assert ring[0] != "BODY" and ring[1] == "solid" and ring[2] >= 2, ring


@browser_test
@pytest.mark.parametrize("name", PAGES)
def test_structure_one_h1_headings_in_order_landmarks_captions_headers(
    name: str, outputs: dict[str, Path], page: Page
) -> None:
    tab = opened(page, outputs[name])
    assert tab.evaluate("document.documentElement.lang") == "sv"
    assert tab.title() and tab.title() == tab.locator("h1").inner_text()
    levels = [
        int(tag[1])
        for tag in tab.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => h.tagName)")
    ]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(after <= before + 1 for before, after in itertools.pairwise(levels)), levels
    for landmark in ("body > header", "body > main", "body > footer"):
        assert tab.locator(landmark).count() == 1, landmark
    assert table_problems(tab) == []


def table_problems(page: Page) -> list[str]:
    """Returns the tables without a caption or without header cells with a scope."""
    found: list[str] = page.evaluate(
        """[...document.querySelectorAll('table')].flatMap((table, i) => {
             const problems = [];
             if (!table.caption || !table.caption.textContent.trim()) problems.push(`table ${i}: no caption`);
             const headers = table.querySelectorAll('th');
             if (!headers.length || [...headers].some(th => !th.scope))
               problems.push(`table ${i}: header cells missing or without scope`);
             return problems;
           })"""
    )
    return found


@pytest.mark.parametrize("name", PAGES)
def test_no_content_comes_from_css_and_nothing_is_reordered(name: str, outputs: dict[str, Path]) -> None:
    # Read with the stylesheet off, the page says everything in the order it shows it.
    style = re.search(r"<style>(.*?)</style>", outputs[name].read_text(encoding="utf-8"), re.DOTALL)
    assert style is not None
    css = re.sub(r"@page\s*\{(?:[^{}]|\{[^{}]*\})*\}", "", style[1])  # the printed page's margins
    assert "content:" not in css
    assert not re.search(r"\border\s*:|-reverse|position\s*:\s*(absolute|fixed)|float\s*:", css)


@browser_test
def test_axe_notices_a_chart_without_its_text_alternative(outputs: dict[str, Path], page: Page) -> None:
    html = outputs["sammanfattning"].read_text(encoding="utf-8")
    title = re.compile(rf'<title id="{STATUS_CHART}-titel">.*?</title>')
    assert title.search(html) and f'aria-labelledby="{STATUS_CHART}-titel"' in html
    without = title.sub("", html).replace(f' aria-labelledby="{STATUS_CHART}-titel"', "")
    found = violations(shown(page, without))
    assert [(v["id"], len(v["nodes"])) for v in found] == [("svg-img-alt", 1)], readable(found)


@browser_test
def test_axe_notices_a_table_without_its_header_cells(outputs: dict[str, Path], page: Page) -> None:
    html = outputs["sammanfattning"].read_text(encoding="utf-8")
    table = re.search(r'<table class="small">\s*<caption id="tabell-status">.*?</table>', html, re.DOTALL)
    assert table is not None
    headless = re.sub(r'<th scope="col"( class="num")?>(.*?)</th>', r"<td\1>\2</td>", table[0])
    assert headless != table[0]
    found = violations(shown(page, html.replace(table[0], headless)))
    assert [(v["id"], len(v["nodes"])) for v in found] == [("td-has-header", 1)], readable(found)
    # with no header cell left at all, axe takes it for a layout table; the structure check does not
    bare = re.sub(r"<th\b[^>]*>(.*?)</th>", r"<td>\1</td>", table[0])
    problems = table_problems(shown(page, html.replace(table[0], bare)))
    assert problems == ["table 1: header cells missing or without scope"]


def contrast(one: str, other: str) -> float:
    """Returns the WCAG contrast ratio of two "#RRGGBB" colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_chart_text_has_at_least_4_5_to_1_contrast() -> None:
    # axe leaves text in an SVG unjudged ("incomplete"): each colour of text on what it stands on.
    pairs = [(charts.INK, WHITE), ("#555555", WHITE)]  # labels, legend, totals; "Inga åtgärder"
    pairs += [(ink, fill) for fill, ink in charts.MATRIX_SHADES]  # a matrix cell's count
    pairs.append((charts.MATRIX_SHADES[0][1], charts.MARKED_WITHOUT_ACTION))  # "0" in a pink cell
    low = [(ink, fill, round(contrast(ink, fill), 2)) for ink, fill in pairs if contrast(ink, fill) < 4.5]
    assert low == []
    assert contrast(charts.INK, WHITE) >= 4.5  # a bar's count stands on a white label


def test_every_status_has_its_own_pattern_beside_its_colour() -> None:
    patterns = [pattern for _, pattern in charts.STATUS_STYLE.values()]
    assert len(set(patterns)) == len(patterns)  # at most one plain fill: the rest hatched, dotted …
