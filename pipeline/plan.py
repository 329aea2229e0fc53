"""The integration plan as typed data: målområden, delmål, förvaltningar and bilagor.

`load_plan` reads the plan YAML, checks every rule a later stage relies on and returns a
`Plan`; a broken file gives one `PlanError` naming the key and the problem.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import PlanError
from pipeline.files import write_text_atomic

DEPARTMENT_CODE = re.compile(r"^[A-Za-z0-9]{1,12}$")
GOAL_ID = re.compile(r"^(\d+)\.(\d+)$")
VERSION_FORM = re.compile(r"[0-9a-f]{12}")
"""A plan version as `plan_version` makes it: the first 12 hex digits of a SHA-256."""
MAX_PLAN_BYTES = 1_000_000
"""Largest plan file read: the shipped plan is about 20 KB; a file of megabytes is not a plan."""
MAX_PLAN_DEPTH = 20
"""Deepest nesting of lists and mappings in a plan: the plan itself nests five levels."""


@dataclass(frozen=True)
class Department:
    """A förvaltning: its code (FoK, KS, …) and full name."""

    code: str
    name: str


@dataclass(frozen=True)
class Goal:
    """A delmål: id "<area>.<n>", its verbatim text and the number of its målområde."""

    id: str
    text: str
    area: int


@dataclass(frozen=True)
class GoalArea:
    """A målområde with its description and delmål, numbered as in Bilaga 1."""

    number: int
    name: str
    description: str
    goals: tuple[Goal, ...]

    @property
    def label(self) -> str:
        """Returns "1 Arbete och introduktion": number and name, as users see it."""
        return f"{self.number} {self.name}"


@dataclass(frozen=True)
class Plan:
    """The adopted plan: its texts, förvaltningar, målområden and a content version."""

    name: str
    municipality: str
    adopted: str
    vision: str
    purpose: str
    departments: tuple[Department, ...]
    goal_areas: tuple[GoalArea, ...]
    eu_principles: tuple[str, ...]
    version: str
    source: Mapping[str, Any]

    @functools.cached_property
    def archived_text(self) -> str:
        """Returns the YAML kept by `archive_plan`: the plan's data as it was read, keys in order."""
        return yaml.safe_dump(dict(self.source), allow_unicode=True, sort_keys=False, width=100)

    @property
    def goals(self) -> tuple[Goal, ...]:
        """Returns every delmål in plan order."""
        return tuple(goal for area in self.goal_areas for goal in area.goals)

    @property
    def department_codes(self) -> tuple[str, ...]:
        """Returns the förvaltning codes in plan order."""
        return tuple(d.code for d in self.departments)

    def department(self, code: str) -> Department:
        """Returns the förvaltning with this code (KeyError if the plan has none)."""
        for department in self.departments:
            if department.code == code:
                return department
        raise KeyError(code)

    def goal(self, goal_id: str) -> Goal:
        """Returns the delmål with this id (KeyError if the plan has none)."""
        for goal in self.goals:
            if goal.id == goal_id:
                return goal
        raise KeyError(goal_id)

    def area(self, number: int) -> GoalArea:
        """Returns the målområde with this number (KeyError if the plan has none)."""
        for area in self.goal_areas:
            if area.number == number:
                return area
        raise KeyError(number)


def plan_version(data: Mapping[str, Any]) -> str:
    """Returns a short hash of the plan's content: same content, same version.

    Hashes the parsed data, not the bytes, so comments and layout do not change it.
    """
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def load_plan(path: Path) -> Plan:
    """Returns the plan in `path`, checked; raises PlanError naming the key at fault.

    At most MAX_PLAN_BYTES are read: a larger file is refused before it is parsed.
    """
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise PlanError(f"Planfilen {path} finns inte.") from None
    except OSError as exc:
        raise PlanError(f"Planfilen {path} kan inte läsas: {exc.strerror or exc}") from None
    if len(data) > MAX_PLAN_BYTES:
        raise _too_large(str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"Planfilen {path} kan inte läsas: den är inte sparad som UTF-8 (fel vid byte {exc.start})."
        ) from None
    return parse_plan(text, source=str(path))


def _too_large(source: str) -> PlanError:
    return PlanError(
        f"Planfilen {source} är större än {MAX_PLAN_BYTES // 1_000_000} MB och läses inte; "
        "en integrationsplan är några tiotal kB."
    )


class _PlanLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (*namn) and with bounded nesting.

    An alias repeats a node without repeating its text: a few nested ones make a small
    file expand to gigabytes when the plan is walked or hashed. A plan never needs one,
    so every alias is refused, as is nesting deeper than MAX_PLAN_DEPTH (the composer
    recurses once per level).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _YamlRefused(
                "YAML-alias (*) används inte i en plan; skriv ut värdet där det behövs", event.start_mark
            )
        if self.depth >= MAX_PLAN_DEPTH:
            event = self.peek_event()
            raise _YamlRefused(f"mer än {MAX_PLAN_DEPTH} nivåer inuti varandra", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _YamlRefused(yaml.MarkedYAMLError):
    """A YAML construct the plan loader does not accept, with where it stands."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def parse_plan(text: str, source: str = "planen") -> Plan:
    """Returns the plan in YAML `text`, checked; raises PlanError naming the key at fault.

    A text over MAX_PLAN_BYTES, YAML aliases and deeper nesting than MAX_PLAN_DEPTH are refused.
    The same text is parsed once per process (every flow of a run reads the plan file): the
    Plan returned is shared and, like its frozen fields, never changed.
    """
    return _parse_plan(text, source)


@functools.lru_cache(maxsize=16)
def _parse_plan(text: str, source: str) -> Plan:
    if len(text) > MAX_PLAN_BYTES or len(text.encode("utf-8")) > MAX_PLAN_BYTES:
        raise _too_large(source)
    loader = _PlanLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (rad {mark.line + 1}, kolumn {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(f"Planfilen {source} är inte giltig YAML{where}: {problem}") from None
    except ValueError:  # e.g. an integer of more digits than Python converts (4 300)
        raise PlanError(
            f"Planfilen {source} har ett värde som inte kan läsas, t.ex. ett tal med tusentals siffror."
        ) from None
    finally:
        loader.dispose()
    return _build_plan(data, _Checker(source))


class _Checker:
    """Reads keys out of the parsed YAML and raises one clear PlanError on the first fault."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> PlanError:
        return PlanError(f"Planfilen {self.source}: {key}: {problem}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "ska vara en samling nycklar (nyckel: värde)")
        return value

    def items(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, "ska vara en lista med minst ett element")
        return value

    def text(self, parent: Mapping[str, Any], name: str, key: str, *, optional: bool = False) -> str:
        value = parent.get(name)
        if value is None and optional:
            return ""
        if not isinstance(value, str | int | float) or not str(value).strip():
            raise self.fail(f"{key}.{name}", "saknas eller är tom")
        return " ".join(str(value).split()) if "\n" not in str(value) else str(value).strip()

    def integer(self, parent: Mapping[str, Any], name: str, key: str) -> int:
        value = parent.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(f"{key}.{name}", f"ska vara ett positivt heltal, inte {value!r}")
        return value


def _build_plan(data: Any, check: _Checker) -> Plan:
    root = check.mapping(data, "(filen)")
    meta = check.mapping(root.get("plan"), "plan")
    departments = _departments(root.get("forvaltningar"), check)
    areas = _goal_areas(root.get("malomraden"), check)
    principles = _principles(root.get("eu_principer"), check)
    return Plan(
        name=check.text(meta, "namn", "plan"),
        municipality=check.text(meta, "kommun", "plan", optional=True),
        adopted=check.text(meta, "antagen", "plan"),
        vision=check.text(meta, "vision", "plan", optional=True),
        purpose=check.text(meta, "syfte", "plan", optional=True),
        departments=departments,
        goal_areas=areas,
        eu_principles=principles,
        version=plan_version(root),
        source=root,
    )


def _departments(value: Any, check: _Checker) -> tuple[Department, ...]:
    departments: list[Department] = []
    for index, item in enumerate(check.items(value, "forvaltningar")):
        key = f"forvaltningar[{index}]"
        entry = check.mapping(item, key)
        code = check.text(entry, "kod", key)
        if not DEPARTMENT_CODE.match(code):
            raise check.fail(f"{key}.kod", f'"{code}" får bara innehålla bokstäver a–z och siffror')
        if any(d.code.casefold() == code.casefold() for d in departments):
            raise check.fail(f"{key}.kod", f'"{code}" förekommer mer än en gång')
        departments.append(Department(code=code, name=check.text(entry, "namn", key)))
    return tuple(departments)


def _goal_areas(value: Any, check: _Checker) -> tuple[GoalArea, ...]:
    areas: list[GoalArea] = []
    seen_goals: set[str] = set()
    for index, item in enumerate(check.items(value, "malomraden")):
        key = f"malomraden[{index}]"
        entry = check.mapping(item, key)
        number = check.integer(entry, "nr", key)
        if any(a.number == number for a in areas):
            raise check.fail(f"{key}.nr", f"målområde {number} förekommer mer än en gång")
        goals = _goals(entry.get("delmal"), number, f"{key}.delmal", seen_goals, check)
        areas.append(
            GoalArea(
                number=number,
                name=check.text(entry, "namn", key),
                description=check.text(entry, "beskrivning", key, optional=True),
                goals=goals,
            )
        )
    return tuple(areas)


def _goals(value: Any, area: int, key: str, seen: set[str], check: _Checker) -> tuple[Goal, ...]:
    goals: list[Goal] = []
    for index, item in enumerate(check.items(value, key)):
        goal_key = f"{key}[{index}]"
        entry = check.mapping(item, goal_key)
        goal_id = check.text(entry, "id", goal_key)
        match = GOAL_ID.match(goal_id)
        if not match:
            raise check.fail(f"{goal_key}.id", f'"{goal_id}" ska ha formen <målområde>.<nummer>, t.ex. "1.3"')
        if int(match.group(1)) != area:
            raise check.fail(f"{goal_key}.id", f'"{goal_id}" hör inte till målområde {area}')
        if goal_id in seen:
            raise check.fail(f"{goal_key}.id", f'"{goal_id}" förekommer mer än en gång')
        seen.add(goal_id)
        goals.append(Goal(id=goal_id, text=check.text(entry, "text", goal_key), area=area))
    return tuple(goals)


def _principles(value: Any, check: _Checker) -> tuple[str, ...]:
    if value is None:
        return ()
    principles = []
    for index, item in enumerate(check.items(value, "eu_principer")):
        entry = check.mapping(item, f"eu_principer[{index}]")
        principles.append(check.text(entry, "text", f"eu_principer[{index}]"))
    return tuple(principles)


def archive_plan(plan: Plan, plans_dir: Path) -> Path:
    """Keeps a copy of the plan under its version, so older submissions can be read against it.

    Returns the path of `plans_dir/<version>.yaml`; an existing copy is left as it is.
    """
    target = plans_dir / f"{plan.version}.yaml"
    if not target.exists():
        write_text_atomic(target, plan.archived_text)
    return target


def plan_for_version(version: str, plans_dir: Path, current: Plan) -> Plan | None:
    """Returns the plan with this version: the current one or an archived copy; else None.

    `version` comes from a submitted file: it is looked up only when it has the form of a
    version (12 hex digits), so it never names another path than `plans_dir/<version>.yaml`.
    """
    if not isinstance(version, str) or not VERSION_FORM.fullmatch(version):
        return None
    if version == current.version:
        return current
    candidate = plans_dir / f"{version}.yaml"
    if candidate.is_file():
        return load_plan(candidate)
    return None
