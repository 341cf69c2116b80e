"""The layering rules, read from the source with `ast` (nothing is imported):

    handler/  the runtime (what ships)   imports nothing of ours but handler
    scripts/  batch jobs, benchmarks     imports handler
    export/   the build                  imports handler, scripts
    infra/    packaging, local invoke    imports handler

No package imports `tests`, and no module of ours reads os.environ but handler/config.py.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

LAYERS = {"handler": set(), "scripts": {"handler"}, "export": {"handler", "scripts"}, "infra": {"handler"}}
OURS = set(LAYERS) | {"tests"}


def python_files(package: str):
    return sorted(p for p in (REPO / package).rglob("*.py") if "build" not in p.relative_to(REPO).parts)


def imports_of(path: Path) -> set[str]:
    """Top-level names of our packages that a file imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in OURS}
    return found


def import_graph() -> dict[str, set[str]]:
    return {package: set().union(*(imports_of(p) for p in python_files(package))) - {package} for package in LAYERS}


def test_each_layer_imports_only_the_layers_below_it():
    graph = import_graph()
    wrong = {package: sorted(used - LAYERS[package]) for package, used in graph.items() if used - LAYERS[package]}
    assert wrong == {}, f"imports against the layering: {wrong}"


def test_the_import_graph_has_no_cycle():
    graph = import_graph()

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    assert [p for p in graph if reaches(p, p)] == []


@pytest.mark.parametrize("rule, path, expected", [
    ("upward", "handler/x.py", "from scripts.records import FIELDS\n"),
    ("tests", "scripts/x.py", "import tests.helpers\n"),
])
def test_the_checker_sees_a_bad_import(tmp_path, rule, path, expected):
    """The rules above are only worth something if a bad import is found: plant one and look."""
    planted = tmp_path / path
    planted.parent.mkdir(parents=True)
    planted.write_text(expected)
    assert imports_of(planted) - LAYERS[path.split("/")[0]], rule


def environ_uses(path: Path) -> list[int]:
    """Lines that touch the process environment: os.environ or os.getenv."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and isinstance(node.value, ast.Name) and node.value.id == "os"
    ]


def test_only_the_config_table_reads_the_environment():
    """One home for settings: everything else calls handler.config.env(NAME) (KeyError for a name
    not in the table). Writing the environment for a child process is fine; reading is not."""
    readers = {}
    for package in LAYERS:
        for path in python_files(package):
            if path == REPO / "handler" / "config.py":
                continue
            source = path.read_text()
            for lineno in environ_uses(path):
                line = source.splitlines()[lineno - 1]
                # os.environ.setdefault(...) / os.environ.update(...) set values for libraries or children
                if ".setdefault(" in line or ".update(" in line or "{**os.environ" in line:
                    continue
                readers.setdefault(str(path.relative_to(REPO)), []).append(lineno)
    assert readers == {}


def test_the_environment_checker_sees_a_read(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("import os\nurl = os.environ.get('QDRANT_URL', '')\n")
    assert environ_uses(planted) == [2]


def test_ruff_finds_nothing():
    """Unused imports and names, undefined names, syntax errors (rules in pyproject.toml)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is installed by the dev extra"
    result = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_name_imported_from_our_modules_exists():
    """`from handler.x import y` inside a function is read only when the function runs: a name that
    moved would fail there, in a job or a deploy, not at import. Checked here for every file. A
    submodule is found, not imported: importing handler.lambda_entry builds the app (a model)."""
    import importlib
    import importlib.util

    def submodule(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent is a module, not a package
            return False

    missing = []
    for package in (*LAYERS, "tests"):
        for path in python_files(package):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] in OURS - {"infra"}:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        if alias.name != "*" and not hasattr(module, alias.name) and not submodule(f"{node.module}.{alias.name}"):
                            missing.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == []
