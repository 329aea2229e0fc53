"""The corpus of hostile and careless input (tests/corpus.py): each case through collect.

One parametrized test: build the case into a fresh inbox, run collect, and assert the
file's state, the exact set of problem codes and, where the case names them, the
förvaltning, the values kept in the validated table and the submission in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import pipeline.flows
from pipeline.check import Checked
from pipeline.config import Settings
from pipeline.plan import Plan
from pipeline.records import FileReport
from tests import running
from tests.corpus import AS_OF, CASES, SOFFICE, YEAR, Case, Kit
from tests.workbooks import make_template


@pytest.fixture(scope="module")
def templates(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], Path]:
    """Returns a function giving the real template per (förvaltning, year), made once each."""
    folder = tmp_path_factory.mktemp("mallar")
    made: dict[tuple[str, int], Path] = {}

    def template(code: str, year: int) -> Path:
        if (code, year) not in made:
            made[(code, year)] = make_template(plan, code, year, folder / str(year))
        return made[(code, year)]

    return template


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Checked]]:
    """Records what the check returned for each file collect checked, by inbox name.

    The check itself runs in a child process (pipeline.isolate), which a patch of this
    process does not reach: what the child hands back is recorded where the flow receives it.
    """
    found: dict[str, Checked] = {}
    original = pipeline.flows._check_in_child

    def recording(batch: list[Any], *args: Any, **kwargs: Any) -> list[Checked]:
        results = original(batch, *args, **kwargs)
        found.update({item.name: checked for item, checked in zip(batch, results, strict=True)})
        return results

    monkeypatch.setattr(pipeline.flows, "_check_in_child", recording)
    yield found


def build(case: Case, kit: Kit) -> str:
    """Builds the case into the kit's inbox, sets modification times and returns the subject."""
    kit.inbox.mkdir(parents=True, exist_ok=True)
    kit.work.mkdir(parents=True, exist_ok=True)
    subject = case.builder(kit)
    kit.settle()
    return subject


def outcome_of(files: Sequence[FileReport], subject: str) -> FileReport:
    """Returns the report of the subject file: by its name or, for a name the run may show
    escaped (one that is not UTF-8), the only file of the inbox."""
    exact = [f for f in files if f.name == subject]
    if exact:
        return exact[0]
    assert len(files) == 1, ([f.name for f in files], subject)
    return files[0]


NO_LIBREOFFICE = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


def _params() -> list[object]:
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[
                *([pytest.mark.slow] if case.slow else []),
                *([NO_LIBREOFFICE] if case.libreoffice else []),
            ],
        )
        for case in CASES
    ]


def test_corpus_is_large_and_named_uniquely() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert all(case.builder.__name__ == case.name for case in CASES)
    assert all(case.about for case in CASES)


@pytest.mark.parametrize("case", _params())
def test_corpus_case(
    case: Case,
    plan: Plan,
    tmp_path: Path,
    templates: Callable[[str, int], Path],
    recorded: dict[str, Checked],
) -> None:
    kit = Kit(plan, tmp_path / "inbox", tmp_path / "scratch", templates)
    subject = build(case, kit)
    settings = Settings(inbox=kit.inbox, outbox=tmp_path / "outbox").with_overrides(**kit.options)

    result = running.collect(settings, YEAR, AS_OF)
    if kit.between:
        for step in kit.between:
            step(kit)
        recorded.clear()
        result = running.collect(settings, YEAR, AS_OF)

    outcome = outcome_of(result.files, subject)
    assert outcome.state == case.expected_state, outcome.message
    checked = recorded.get(outcome.name)
    codes = {p.code for p in checked.problems} if checked else set()
    assert codes == case.expected_codes, [p.text for p in checked.problems] if checked else outcome.message
    if case.expected_state in ("accepted", "rejected"):
        assert outcome.feedback is not None and outcome.feedback.is_file()
        # Named by the whole digest: no two submissions can share a feedback file (issue 18).
        assert outcome.digest is not None and outcome.digest in outcome.feedback.name
    else:
        assert checked is None
        assert outcome.message
    if case.expected_state == "rejected":
        assert outcome.message and outcome.errors > 0
    if case.department is not None:
        assert outcome.department == case.department
    if kit.kept:
        assert checked is not None and checked.validated is not None
        actions = checked.validated.actions
        assert {key: actions.at[key[1], key[0]] for key in kit.kept} == kit.kept
    for code, name in kit.in_force.items():
        assert result.in_force[code].original_name == name
    for check in kit.checks:
        check(outcome)


def test_docs_list_every_case_with_its_outcome() -> None:
    labels = {"accepted": "godkänd", "rejected": "avvisad", "ignored": "ignorerad"}
    labels |= {"waiting": "väntar", "duplicate": "dubblett"}
    rows = {
        line.split("|")[2].strip().split("`")[1]: line
        for line in (Path(__file__).parents[1] / "docs" / "korpus.md")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.startswith("| ") and "`" in line.split("|")[2]
    }
    assert set(rows) == {case.name for case in CASES}
    for case in CASES:
        cells = [cell.strip() for cell in rows[case.name].split("|")]
        label = labels[case.expected_state]
        if case.expected_state == "accepted" and case.expected_codes:
            label = "godkänd med varning"
        assert cells[4] == label, case.name
        assert cells[5] == (", ".join(f"`{code}`" for code in sorted(case.expected_codes)) or "–"), case.name
