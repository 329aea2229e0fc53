"""The summary for KS: figures in words, escaping, self-containment and determinism."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline import combine as k
from pipeline import contract as c
from pipeline.config import Settings
from pipeline.demo import example_submissions
from pipeline.plan import Plan
from pipeline.report.charts import matrix_heatmap_svg, status_bars_svg
from pipeline.report.summary import (
    first_sentence,
    format_kronor,
    format_percent,
    status_counts_in_words,
    submitted_sentence,
    summary_context,
    write_summary,
)
from pipeline.text import count_phrase, department_label, percent, without_place
from tests.test_report_workbooks import example_consolidated

YEAR = 2027
AS_OF = dt.date(2027, 3, 1)
SCRIPT = "<script>alert(1)</script>"
LINK = "[klicka](http://evil.example) | x"


@pytest.fixture(scope="module")
def example(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> k.Consolidated:
    """The consolidated plan of the demo examples: SOC, UTB, FoK accepted, KS rejected, SBF missing."""
    return example_consolidated(plan, tmp_path_factory.mktemp("summary"))


def _summary(consolidated: k.Consolidated, outbox: Path) -> tuple[Path, Path]:
    """Returns the summary's paths (HTML, Markdown), written where Settings names them in `outbox`."""
    settings = Settings(outbox=outbox)
    year = consolidated.year
    return write_summary(
        consolidated, settings.summary_file(year, ".html"), settings.summary_file(year, ".md")
    )


@pytest.fixture(scope="module")
def written(example: k.Consolidated, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    html, markdown = _summary(example, tmp_path_factory.mktemp("out"))
    assert html.name == f"sammanfattning_{YEAR}.html" and markdown.name == f"sammanfattning_{YEAR}.md"
    return html.read_text(encoding="utf-8"), markdown.read_text(encoding="utf-8")


def _expected_counts(plan: Plan) -> tuple[int, int]:
    examples = example_submissions(YEAR)
    rejected = {"KS"}  # the example with typical mistakes
    accepted = [code for code in plan.department_codes if code in examples and code not in rejected]
    return len(accepted), len(plan.department_codes)


def test_submitted_sentence_in_both(written: tuple[str, str], plan: Plan) -> None:
    submitted, total = _expected_counts(plan)
    assert (submitted, total) == (3, 5)
    for text in written:
        assert f"{submitted} av {total} förvaltningar har lämnat in" in text


def test_key_facts_in_both(written: tuple[str, str], example: k.Consolidated) -> None:
    rejection = example.rejections[0]
    for text in written:
        assert "Sammanfattning: handlingsplan för integration 2027" in text
        assert "Läget per 1 mars 2027" in text
        assert "1 400 000 kr" in text
        assert "17\u00a0%" in text and "17 %" not in text and "17%" not in text
        for overdue_id in ("SOC-2027-002", "UTB-2027-006"):
            assert overdue_id in text
        # the last mention is the section's heading (the HTML's contents list names it first)
        after_heading = text.rsplit("Förvaltningar som inte har lämnat in", 1)[1]
        missing = after_heading.split("Avvisade inlämningar", 1)[0]
        assert "Samhällsbyggnadsförvaltningen" in missing and "Kommunstyrelsen" in missing
        rejected = text.rsplit("Avvisade inlämningar", 1)[1]
        assert "KS handlingsplan 2027.xlsx" in rejected
        assert "Förändringar sedan" not in text
    html, markdown = written
    reason = rejection.reasons[0]  # 'Åtgärder!G2: "ca 50000 kr" är inget belopp. Skriv …'
    assert reason.startswith("Åtgärder!G2: ")
    told = reason.removeprefix("Åtgärder!G2: ").split(". ", 1)[0] + "."
    assert told.replace('"', "&#34;") in html and told in markdown


def test_what_politicians_read_has_no_references_hashes_or_versions(
    written: tuple[str, str], example: k.Consolidated
) -> None:
    digests = [d.digest for d in example.departments if d.digest]
    assert digests
    for text in written:
        assert not re.search(r"[A-ZÅÄÖa-zåäö ]+![A-Z]{1,3}[0-9]+", text)  # no "Åtgärder!G2"
        assert "Kontrollsumma" not in text and "Planversion" not in text
        assert not any(digest[:8] in text for digest in digests)
        assert "Kommunstyrelsen (kommunledningsförvaltningen) (KS)" not in text
        assert "Kommunstyrelsen (kommunledningsförvaltningen)" in text
        assert "Samhällsbyggnadsförvaltningen (SBF)" in text


def test_reported_delayed_and_past_klart_are_named_apart(written: tuple[str, str]) -> None:
    for text in written:
        assert "Rapporterad status Försenad" in text
        assert "Klart-datum passerat, ej avslutad" in text
        assert not re.search(r"[Ff]örsenade åtgärder", text)


def test_markdown_lists_each_missing_department_on_its_own_line(written: tuple[str, str]) -> None:
    _, markdown = written
    section = markdown.split("## Förvaltningar som inte har lämnat in\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [
        "- Kommunstyrelsen (kommunledningsförvaltningen) – lämnade in, men filen avvisades",
        "- Samhällsbyggnadsförvaltningen (SBF)",
    ]
    assert "\n## Avvisade inlämningar\n" in markdown


def test_markdown_blocks_end_their_lines(written: tuple[str, str]) -> None:
    _, markdown = written
    for line in markdown.splitlines():
        # a bullet, a heading or a table row never runs on after other text on the same line
        assert not re.search(r"[\wåäö.)]- [A-ZÅÄÖ]|[^\s#]#{2,3} |\|\s*\|\s*\w", line), line
        assert not line.startswith("|") or line.endswith("|"), line


def test_only_the_rejections_given_are_told(plan: Plan, tmp_path: Path) -> None:
    result = _handmade(plan, previous=None, rejections=[])
    for path in _summary(result, tmp_path):
        text = path.read_text(encoding="utf-8")
        assert "avvisades" not in text and "lämna in igen" not in text and "Avvisade inlämningar" not in text
    nobody = k.Rejection("anteckningar.xlsx", None, "2027-02-01T10:00:00+00:00", 1, ("Okänd mall.",))
    unattributed = _handmade(plan, previous=None, rejections=[nobody])
    assert summary_context(unattributed)["rejections"] == []
    for path in _summary(unattributed, tmp_path / "okand"):
        text = path.read_text(encoding="utf-8")
        assert "anteckningar.xlsx" not in text and "avvisades" not in text


def test_html_is_self_contained(written: tuple[str, str]) -> None:
    html, _ = written
    assert '<html lang="sv">' in html and '<meta charset="utf-8">' in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and "url(http" not in html
    assert html.count("<svg") == 2
    assert "@media print" in html


def test_user_text_is_escaped(plan: Plan, tmp_path: Path) -> None:
    result = _handmade(plan, previous=None)
    html_path, md_path = _summary(result, tmp_path)
    html, markdown = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "[klicka](http://evil.example) | x" in html  # plain text in HTML, never a link
    assert not re.search(r'<a (?!href="#[a-z-]+">)', html)  # the only links: the page's own contents
    assert "&lt;img src=x&gt;" in html and "<img" not in html
    assert "\\<script\\>" in markdown and "<script>" not in markdown
    assert not re.search(r"(?<!\\)\]\(http", markdown)  # every "](" of a link is escaped
    assert "\\[klicka\\](http://evil.example) \\| x" in markdown
    assert "\\<img src=x\\>" in markdown and not re.search(r"(?<!\\)<img", markdown)


def test_same_input_same_bytes(example: k.Consolidated, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in _summary(example, tmp_path / "a")]
    second = [p.read_bytes() for p in _summary(example, tmp_path / "a")]
    third = [p.read_bytes() for p in _summary(example, tmp_path / "b")]
    assert first == second == third
    assert not list((tmp_path / "a").rglob(".*.tmp"))


def test_changes_only_with_previous_year(plan: Plan, tmp_path: Path) -> None:
    previous = pd.DataFrame(
        [
            _row("SOC-2026-001", "1.1", "Fortsätter", c.IN_PROGRESS, dept="SOC"),
            _row("SOC-2026-002", "1.2", "Avslutas i år", c.IN_PROGRESS, dept="SOC"),
            _row("SOC-2026-009", "1.3", "Försvann", c.IN_PROGRESS, dept="SOC"),
            _row("KS-2026-001", "1.4", "Ej inlämnad i år", c.IN_PROGRESS, dept="KS"),
            _row("UTB-2026-001", "1.5", "Ej inlämnad i år", c.NOT_STARTED, dept="UTB"),
        ],
        columns=list(k.ACTION_TABLE_COLUMNS),
        dtype=object,
    )
    with_changes = _handmade(plan, previous=previous)
    assert with_changes.changes is not None
    assert list(with_changes.changes.disappeared[c.ACTION_ID]) == ["SOC-2026-009"]
    assert with_changes.changes.pending == tuple(code for code in plan.department_codes if code != "SOC")
    html, markdown = (p.read_text(encoding="utf-8") for p in _summary(with_changes, tmp_path / "ny"))
    for text in (html, markdown):
        assert "Förändringar sedan 2026" in text
        assert "SOC-2026-009" in text and "SOC-2026-002" in text
        assert "KS-2026-001" not in text and "UTB-2026-001" not in text  # not handed in: not "gone"
        assert "har inte lämnat in i år" in text and "Kommunstyrelsen (kommunledningsförvaltningen), " in text
    without = _handmade(plan, previous=None)
    for path in _summary(without, tmp_path / "utan"):
        assert "Förändringar sedan" not in path.read_text(encoding="utf-8")


def test_all_submitted_wording() -> None:
    assert submitted_sentence(5, 5) == "Alla 5 förvaltningar har lämnat in"
    assert submitted_sentence(4, 5) == "4 av 5 förvaltningar har lämnat in"


def test_number_formats() -> None:
    assert format_kronor(1_400_000.0) == "1 400 000 kr"
    assert format_kronor(0.0) == "0 kr"
    assert format_percent(1 / 6) == percent(1 / 6) == "17\u00a0%"
    counts = [(c.IN_PROGRESS, 3), (c.COMPLETED, 1), (c.DELAYED, 0), (c.CANCELLED, 2)]
    assert status_counts_in_words(counts) == "3 pågår, 1 genomförd och 2 avbrutna"


def test_agreement_names_and_places() -> None:
    assert [count_phrase(n, "avvisad", "avvisade") for n in (0, 1, 2)] == [
        "0 avvisade",
        "1 avvisad",
        "2 avvisade",
    ]
    assert count_phrase(1, "ny inlämning", "nya inlämningar") == "1 ny inlämning"
    assert department_label("Socialförvaltningen", "SOC") == "Socialförvaltningen (SOC)"
    assert department_label("Kommunstyrelsen (kommunledningsförvaltningen)", "KS") == (
        "Kommunstyrelsen (kommunledningsförvaltningen)"
    )
    assert department_label("SOC Socialförvaltningen", "SOC") == "SOC Socialförvaltningen"
    assert without_place('Åtgärder!G2: "x" är fel.') == '"x" är fel.'
    assert without_place("Berör oss!D12: Svara Ja.") == "Svara Ja."
    assert without_place("Filen är tom: inget blad.") == "Filen är tom: inget blad."
    assert first_sentence("Fel belopp. Skriv t.ex. 5000. Mer.") == "Fel belopp."
    assert first_sentence("Skriv t.ex. 5000 kr") == "Skriv t.ex. 5000 kr"


def test_charts_escape_labels_and_are_accessible(example: k.Consolidated) -> None:
    frame = k.status_by_area(example).rename(index={"4 Boende": '4 <Boende> & "x"'})
    bars = status_bars_svg(frame)
    assert "&lt;Boende&gt; &amp; &quot;x&quot;" in bars and "<Boende>" not in bars
    heat = matrix_heatmap_svg(k.responsibility_matrix(example), example.plan)
    for svg, name in ((bars, "statusdiagram"), (heat, "matrisdiagram")):
        assert svg.startswith("<svg") and 'role="img"' in svg and "viewBox=" in svg
        assert f'aria-labelledby="{name}-titel"' in svg and f'<title id="{name}-titel">' in svg
    assert status_bars_svg(frame) == bars  # deterministic
    described = status_bars_svg(frame, chart_id="a", description="Totalt <5> åtgärder.")
    assert 'aria-describedby="a-beskrivning"' in described
    assert '<desc id="a-beskrivning">Totalt &lt;5&gt; åtgärder.</desc>' in described
    assert 'id="a-randig"' in described and "statusdiagram" not in described  # ids unique per chart


# Hand-made consolidated plans.


def _row(
    action_id: str | None, goal: str, text: str, status: str, dept: str | None = None, **extra: object
) -> dict:
    row: dict[str, object] = dict.fromkeys(c.ACTION_COLUMNS)
    row.update(
        {
            c.ACTION_ID: action_id,
            c.GOAL: goal,
            c.ACTION: text,
            c.OWNER: "Chef",
            c.START: dt.date(2027, 1, 1),
            c.DONE: dt.date(2027, 2, 1),
            c.COST: 1000.0,
            c.STATUS: status,
        }
    )
    if dept is not None:
        row[k.DEPARTMENT] = dept
    row.update(extra)
    return row


def _handmade(
    plan: Plan, previous: pd.DataFrame | None, rejections: list[k.Rejection] | None = None
) -> k.Consolidated:
    rows = [
        _row("SOC-2026-001", "1.1", SCRIPT, c.IN_PROGRESS),
        _row("SOC-2026-002", "1.2", LINK, c.COMPLETED),
        _row(None, "1.3", "Ny åtgärd", c.NOT_STARTED),
    ]
    actions = [{name: row.get(name) for name in c.ACTION_COLUMNS} for row in rows]
    goals: list[tuple[Any, Any]] = [("1.1", c.YES), ("1.2", c.YES)]
    departments = [
        k.DepartmentStatus(
            d.code, d.name, submitted=d.code == "SOC", file="a|b.xlsx" if d.code == "SOC" else None
        )
        for d in plan.departments
    ]
    if rejections is None:
        rejections = [
            k.Rejection("<img src=x>[x](http://y).xlsx", "KS", "2027-02-01T10:00:00+00:00", 1, (LINK,))
        ]
    return k.combine(plan, YEAR, AS_OF, {"SOC": (actions, goals)}, departments, rejections, previous)
