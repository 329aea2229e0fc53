"""The plan as data: the shipped plan, its checks and its version."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from pipeline.config import default_plan_file
from pipeline.errors import PlanError
from pipeline.plan import Plan, archive_plan, load_plan, parse_plan, plan_for_version


def _plan_data() -> dict:
    return yaml.safe_load(default_plan_file().read_text(encoding="utf-8"))


def _parse(data: dict) -> Plan:
    return parse_plan(yaml.safe_dump(data, allow_unicode=True), source="test.yaml")


def test_shipped_plan_has_six_areas_numbered_as_bilaga_1(plan: Plan) -> None:
    assert [a.label for a in plan.goal_areas] == [
        "1 Arbete och introduktion",
        "2 Socialt deltagande och inflytande",
        "3 Utbildning och språk",
        "4 Boende",
        "5 Attityd",
        "6 Kommunen som arbetsgivare – mångfaldspolicy",
    ]


def test_shipped_plan_has_31_goals_with_ids_in_document_order(plan: Plan) -> None:
    per_area = [len(a.goals) for a in plan.goal_areas]
    assert per_area == [8, 5, 4, 4, 5, 5]
    assert [g.id for g in plan.goals[:9]] == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "2.1"]
    assert plan.goals[-1].id == "6.5"


def test_goal_texts_are_verbatim_with_lines_joined(plan: Plan) -> None:
    assert plan.goal("1.3").text == (
        "Kvinnors situation måste särskilt uppmärksammas, så att grundläggande kunskaper i svenska "
        "språket och svenska samhällsförhållanden utvecklas."
    )
    assert plan.goal("1.5").text.startswith("Utbildnings- och praktikmodeller, som långsiktigt stärker")
    # The source has no full stop here; verbatim means none is added.
    assert plan.goal("4.1").text.endswith("bostadsstandarder")
    assert (
        plan.goal("2.2").text
        == "Att alla kalixbor ska aktivt stimuleras att delta i kommunens förenings-, idrotts- och kulturliv."
    )


def test_shipped_plan_texts_have_no_extraction_artifacts(plan: Plan) -> None:
    for goal in plan.goals:
        assert "  " not in goal.text and "☐" not in goal.text and goal.text == goal.text.strip()


def test_departments_and_metadata(plan: Plan) -> None:
    assert plan.department_codes == ("FoK", "KS", "SBF", "SOC", "UTB")
    assert plan.department("SOC").name == "Socialförvaltningen"
    assert plan.adopted == "KF 2015-02-09 § 34"
    assert plan.vision == "Omtänksamhet och framtidstro"
    assert len(plan.eu_principles) == 11
    assert plan.eu_principles[10].startswith("Att utarbeta tydliga mål, indikatorer")


def test_version_is_stable_and_ignores_comments_but_not_content() -> None:
    text = default_plan_file().read_text(encoding="utf-8")
    first = parse_plan(text).version
    assert parse_plan("# en kommentar\n" + text).version == first
    data = _plan_data()
    data["malomraden"][0]["delmal"][0]["text"] += " Ändrad."
    assert _parse(data).version != first
    assert len(first) == 12


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(PlanError, match=r"inte giltig YAML \(rad 3, kolumn 7\)"):
        parse_plan("plan:\n  namn: x\n   fel: indrag\n", source="trasig.yaml")


def test_missing_plan_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="finns inte"):
        load_plan(tmp_path / "saknas.yaml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["malomraden"][1]["delmal"][0].update(id="1.9"),
            r"malomraden\[1\]\.delmal\[0\]\.id: \"1\.9\" hör inte till målområde 2",
        ),
        (lambda d: d["malomraden"][0]["delmal"][1].update(id="1.1"), r"\"1\.1\" förekommer mer än en gång"),
        (
            lambda d: d["malomraden"][0]["delmal"][2].update(text="  "),
            r"malomraden\[0\]\.delmal\[2\]\.text: saknas eller är tom",
        ),
        (lambda d: d["malomraden"][0]["delmal"][2].update(id="1-3"), r"ska ha formen"),
        (
            lambda d: d["forvaltningar"][1].update(kod="FoK"),
            r"forvaltningar\[1\]\.kod: \"FoK\" förekommer mer än en gång",
        ),
        (lambda d: d["forvaltningar"][0].update(kod="Fo K"), r"får bara innehålla bokstäver"),
        (lambda d: d.pop("forvaltningar"), r"forvaltningar: ska vara en lista"),
        (lambda d: d["malomraden"][3].update(nr=1), r"målområde 1 förekommer mer än en gång"),
        (lambda d: d["plan"].pop("namn"), r"plan\.namn: saknas eller är tom"),
    ],
)
def test_broken_plan_gives_one_message_naming_the_key(edit, message: str) -> None:
    data = _plan_data()
    edit(data)
    with pytest.raises(PlanError, match=message):
        _parse(data)


def test_plan_with_other_departments_loads() -> None:
    data = _plan_data()
    data["forvaltningar"] = [
        {"kod": "BUN", "namn": "Barn- och utbildning"},
        {"kod": "VO2", "namn": "Vård och omsorg"},
    ]
    assert _parse(data).department_codes == ("BUN", "VO2")


def test_archived_plan_is_found_by_version(plan: Plan, tmp_path: Path) -> None:
    archive_plan(plan, tmp_path)
    data = _plan_data()
    data["malomraden"][0]["delmal"].append({"id": "1.9", "text": "Ett nytt delmål."})
    revised = _parse(data)
    assert plan_for_version(plan.version, tmp_path, revised) == load_plan(tmp_path / f"{plan.version}.yaml")
    assert plan_for_version(plan.version, tmp_path, revised).version == plan.version
    assert plan_for_version("000000000000", tmp_path, revised) is None


# Hostile plan files: bounded before they are parsed, refused with one Swedish line.


def _billion_laughs() -> str:
    """Returns the classic: ten anchored lists, each holding the one before nine times (10**9 leaves)."""
    names = "abcdefghij"
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['skratt'] * 9)}]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_before_it_expands() -> None:
    with pytest.raises(
        PlanError, match=r"inte giltig YAML \(rad 2, kolumn \d+\): YAML-alias \(\*\) används inte"
    ):
        parse_plan(_billion_laughs(), source="skratt.yaml")


def test_an_alias_in_an_otherwise_valid_plan_is_refused(tmp_path: Path) -> None:
    text = default_plan_file().read_text(encoding="utf-8")
    text = text.replace("plan:\n", "plan: &plan\n", 1) + "\nkopia: *plan\n"
    path = tmp_path / "alias.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        PlanError, match=r"^Planfilen .*alias\.yaml är inte giltig YAML \(rad \d+, kolumn 8\): YAML-alias"
    ):
        load_plan(path)


def test_deep_nesting_is_refused_without_a_recursion_error() -> None:
    with pytest.raises(PlanError, match=r"mer än 20 nivåer inuti varandra"):
        parse_plan("[" * 100_000 + "]" * 100_000, source="djup.yaml")


def test_a_plan_file_over_one_megabyte_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "stor.yaml"
    path.write_text(default_plan_file().read_text(encoding="utf-8") + "#" * 1_000_000, encoding="utf-8")
    with pytest.raises(PlanError, match=r"stor\.yaml är större än 1 MB och läses inte"):
        load_plan(path)
    with pytest.raises(PlanError, match=r"större än 1 MB"):
        parse_plan(path.read_text(encoding="utf-8"))


def test_an_integer_too_long_to_convert_is_a_plan_error() -> None:
    with pytest.raises(
        PlanError,
        match=r"^Planfilen lång\.yaml har ett värde som inte kan läsas, t\.ex\. ett tal med tusentals siffror\.$",
    ):
        parse_plan("plan:\n  nr: " + "9" * 5000 + "\n", source="lång.yaml")


def test_a_plan_file_that_is_not_utf8_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("plan:\n  namn: Åtgärder\n".encode("latin-1"))
    with pytest.raises(
        PlanError, match=r"latin1\.yaml kan inte läsas: den är inte sparad som UTF-8 \(fel vid byte 14\)\.$"
    ):
        load_plan(path)


@pytest.mark.parametrize(
    "version",
    [
        "../planer/" + "0" * 12,
        "../../etc/passwd",
        "/etc/passwd",
        "0" * 11,
        "0" * 13,
        "ABCDEF012345",
        "0" * 12 + "\n",
        "",
    ],
)
def test_a_version_that_is_not_a_version_names_no_file(tmp_path: Path, version: str) -> None:
    plans = tmp_path / "planer"
    plans.mkdir()
    crafted = _plan_data()
    crafted["plan"]["namn"] = "Inskickad plan"
    text = yaml.safe_dump(crafted, allow_unicode=True)
    # A plan file wherever the crafted version would lead, were it ever part of a path.
    for target in (plans / f"{'0' * 12}.yaml", tmp_path / "etc" / "passwd.yaml"):
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if "/" not in version and version.strip():
        (plans / f"{version.strip()}.yaml").write_text(text, encoding="utf-8")
    current = _parse(_plan_data())
    assert plan_for_version(version, plans, current) is None
    assert plan_for_version("0" * 12, plans, current).name == "Inskickad plan"  # the form itself is looked up


def test_an_absolute_version_is_refused_even_where_the_file_exists(plan: Plan, tmp_path: Path) -> None:
    path = archive_plan(plan, tmp_path)
    other = _parse({**_plan_data(), "eu_principer": None})
    assert plan_for_version(plan.version, tmp_path, other) is not None
    assert plan_for_version(str(path.with_suffix("")), tmp_path, other) is None
