"""The house plan, checked: stages import downward only, only the flows know Prefect and
executors, and no dependency is reached through a private name.

The table below is the drawing in the README ("Hur programmet hänger ihop"), as data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    # the foundation: no stage
    "errors": set(),
    "contract": set(),
    "records": set(),
    "config": {"errors"},
    "files": {"config", "errors", "records", "text"},
    "layout": {"contract"},
    "text": {"config"},
    "problems": set(),
    "plan": {"errors", "files"},
    # reading and checking one submission
    "sniff": {"problems"},
    "read": {"config", "contract", "problems"},
    "schemas": {"contract", "problems", "plan"},
    "validate": {"config", "contract", "plan", "problems", "read", "schemas"},
    "check": {"config", "contract", "plan", "problems", "read", "records", "sniff", "validate"},
    # the inbox, what is kept, and the pure combination
    "intake": {"config", "errors", "files", "records", "sniff", "text"},
    "store": {"config", "contract", "files", "records", "text"},
    "adoption": {"errors", "files", "records", "text"},
    "combine": {"adoption", "contract", "plan", "records", "text"},
    # writers
    "markup": {"problems"},
    "feedback": {"config", "contract", "files", "markup", "problems", "text"},
    "template": {"config", "contract", "files", "layout", "plan"},
    "report": {"adoption", "combine", "config", "contract", "files", "layout", "plan", "text", "report"},
    # example data, deployments, wiring and the command line
    "demo": {"config", "contract", "plan", "template"},
    "smtp": {"config", "errors"},
    # utskick: who, what each letter says, the send log
    "contacts": {"config", "files", "problems", "text"},
    "mailing": {"config", "files", "text"},
    "letters": {"contacts", "mailing", "plan", "records", "text"},
    "deployments": {"config", "errors"},
    "flows": {
        "adoption",
        "check",
        "combine",
        "config",
        "contacts",
        "errors",
        "feedback",
        "files",
        "intake",
        "isolate",
        "letters",
        "mailing",
        "plan",
        "problems",
        "records",
        "report",
        "smtp",
        "store",
        "template",
        "text",
    },
    "isolate": set(),
    "cli_text": {"errors", "text"},
    "cli": {
        "cli_text",
        "combine",
        "config",
        "demo",
        "deployments",
        "errors",
        "flows",
        "mailing",
        "problems",
        "records",
        "text",
    },
}
"""Each module (or package) of pipeline/ and schemas/, and the project modules it may import."""

ENGINE_MODULES = ("prefect", "prefect_dask", "dask", "distributed", "concurrent", "multiprocessing")
WIRING = {"flows", "deployments", "isolate"}
DEPENDENCIES = (
    "xlsxwriter",
    "openpyxl",
    "prefect",
    "pandas",
    "pandera",
    "python_calamine",
    "numpy",
    "typer",
    "weasyprint",
)


def _modules() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]):
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "schemas":
            name = "schemas"
        elif relative.name in ("__init__.py", "__main__.py") and len(relative.parts) == 2:
            continue
        else:
            name = relative.parts[1].removesuffix(".py")
        found.setdefault(name, []).append(path)
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _project_modules(imports: set[str]) -> set[str]:
    found = set()
    for name in imports:
        parts = name.split(".")
        if parts[0] == "schemas":
            found.add("schemas")
        elif parts[0] == "pipeline" and len(parts) > 1:
            found.add(parts[1])
    return found


def test_every_module_is_in_the_drawing() -> None:
    assert set(_modules()) == set(ALLOWED)


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_imports_point_down_only(module: str) -> None:
    used = set().union(*(_project_modules(_imports(p)) for p in _modules()[module])) - {module}
    assert used <= ALLOWED[module], f"{module} imports {sorted(used - ALLOWED[module])}"


@pytest.mark.parametrize("module", sorted(set(ALLOWED) - WIRING))
def test_only_the_wiring_knows_prefect_and_executors(module: str) -> None:
    imports = set().union(*(_imports(p) for p in _modules()[module]))
    engines = sorted(name for name in imports if name.split(".")[0] in ENGINE_MODULES)
    assert engines == [], f"{module} imports {engines}"


def _private_uses(path: Path) -> list[str]:
    """Returns dependency names reached through a leading underscore in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in DEPENDENCIES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    if alias.name.startswith("_") or any(p.startswith("_") for p in node.module.split(".")):
                        found.append(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and aliases.get(base.id, "").split(".")[0] in DEPENDENCIES:
                found.append(f"{aliases[base.id]}….{node.attr}")
        if isinstance(node, ast.ClassDef):
            for parent in node.bases:
                if isinstance(parent, ast.Name) and aliases.get(parent.id, "").split(".")[0] in DEPENDENCIES:
                    methods = [f.name for f in node.body if isinstance(f, ast.FunctionDef)]
                    found += [
                        f"{aliases[parent.id]}.{m}"
                        for m in methods
                        if m.startswith("_") and not m.startswith("__")
                    ]
    return found


@pytest.mark.parametrize(
    "path", sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]), ids=str
)
def test_no_private_names_of_a_dependency(path: Path) -> None:
    assert _private_uses(path) == []


def test_the_private_name_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from xlsxwriter.utility import _datetime_to_excel_datetime\n"
        "import xlsxwriter\n"
        "from xlsxwriter.worksheet import Worksheet\n"
        "class W(Worksheet):\n"
        "    def _write_rows(self): ...\n"
        "x = xlsxwriter.workbook._private\n",
        encoding="utf-8",
    )
    assert len(_private_uses(sample)) == 3
