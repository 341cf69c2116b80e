"""The layering rules, read from the source with `ast` (nothing is imported but the faces' `__all__`):

    handler/    the runtime (what ships)   imports nothing of ours but handler
    reference/  the yardsticks             imports handler
    scripts/    batch jobs, benchmarks     imports handler, reference
    export/     the build                  imports handler, reference
    infra/      packaging, local invoke    imports handler

Inside handler/, the wings import one way only (web -> search -> {model, storage} -> common); a wing
or a folder outside handler/ imports another wing only through its face (`from handler.<wing>
import <a name of its __all__>`), and a wing imports no module of ours inside a function (a late
import that dodges a loop hides the loop). No package imports `tests`, and no module of ours reads
os.environ but `handler.common.config`.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import REPO

LAYERS = {"handler": set(), "reference": {"handler"}, "scripts": {"handler", "reference"}, "export": {"handler", "reference"}, "infra": {"handler"}}
OURS = set(LAYERS) | {"tests"}
# What each wing may import (the wings below it); the entry points at handler/'s top may import any.
WINGS = {"common": set(), "model": {"common"}, "storage": {"common"}, "search": {"model", "storage", "common"},
         "web": {"search", "model", "storage", "common"}}
ENTRY_POINTS = {"__init__.py", "__main__.py", "lambda_entry.py", "api.py"}
# The one wing module an entry point imports past the face: the local server's uvicorn protocol,
# which the web face leaves out so that the Lambda never loads uvicorn.
PAST_THE_FACE = {"handler.web.local_server"}


def python_files(package: str):
    return sorted(p for p in (REPO / package).rglob("*.py") if "build" not in p.relative_to(REPO).parts)


def imports(path: Path):
    """(node, module, names, inside a function) for every import of a module of ours."""
    tree = ast.parse(path.read_text(), str(path))
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function |= {id(n) for n in ast.walk(node) if n is not node}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OURS:
                    yield node, alias.name, [], id(node) in in_function
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] in OURS:
            yield node, node.module, [a.name for a in node.names], id(node) in in_function


def imports_of(path: Path) -> set[str]:
    """Top-level names of our packages that a file imports (at any depth of the file)."""
    return {module.split(".")[0] for _, module, _, _ in imports(path)}


def import_graph() -> dict[str, set[str]]:
    return {package: set().union(*(imports_of(p) for p in python_files(package))) - {package} for package in LAYERS}


def wing_of(path: Path) -> str | None:
    parts = path.relative_to(REPO / "handler").parts
    return parts[0] if len(parts) > 1 else None


def face(wing: str) -> set[str]:
    """The names a wing's __init__ lists in __all__, read without importing it."""
    for node in ast.parse((REPO / "handler" / wing / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def wrong_wing_imports(path: Path) -> list[str]:
    """What a file imports of handler's wings against the rules (order, face, no late import)."""
    problems = []
    own = wing_of(path) if path.is_relative_to(REPO / "handler") else None
    entry = path.parent == REPO / "handler" and path.name in ENTRY_POINTS
    for node, module, names, late in imports(path):
        parts = module.split(".")
        if parts[0] != "handler":
            continue
        where = f"{path.relative_to(REPO)}:{node.lineno}"
        if len(parts) == 1:
            if not entry:
                problems.append(f"{where}: imports handler itself (name a wing)")
            continue
        wing = parts[1]
        if own is not None and late:
            problems.append(f"{where}: imports {module} inside a function")
        if wing == own:
            continue  # inside a wing: any module, at the top
        if wing not in WINGS:
            problems.append(f"{where}: handler.{wing} is not a wing")
            continue
        if own is not None and wing not in WINGS[own]:
            problems.append(f"{where}: the {own} wing imports the {wing} wing (order: web -> search -> {{model, storage}} -> common)")
        if entry and module in PAST_THE_FACE:
            continue
        if len(parts) > 2:
            problems.append(f"{where}: {module} is inside the {wing} wing; import from its face, handler.{wing}")
        elif not names:
            problems.append(f"{where}: `import {module}`: import names from its face")
        else:
            problems += [f"{where}: handler.{wing} does not offer {name} (not in its __all__)" for name in names if name not in face(wing)]
    return problems


def test_each_layer_imports_only_the_layers_below_it():
    graph = import_graph()
    wrong = {package: sorted(used - LAYERS[package]) for package, used in graph.items() if used - LAYERS[package]}
    assert wrong == {}, f"imports against the layering: {wrong}"


def test_the_import_graph_has_no_cycle():
    graph = import_graph()

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    assert [p for p in graph if reaches(p, p)] == []


def test_handler_is_five_wings():
    wings = sorted(p.name for p in (REPO / "handler").iterdir() if (p / "__init__.py").is_file())
    assert wings == sorted(WINGS)
    assert {p.name for p in (REPO / "handler").glob("*.py")} == ENTRY_POINTS  # nothing else at the top


def test_the_wings_import_one_way_through_their_faces():
    problems = [problem for package in LAYERS for path in python_files(package) for problem in wrong_wing_imports(path)]
    assert problems == []


def test_every_name_of_a_face_exists():
    import importlib

    missing = [f"handler.{wing}.{name}" for wing in WINGS for name in face(wing) if not hasattr(importlib.import_module(f"handler.{wing}"), name)]
    assert missing == []


def test_deferred_imports_in_the_wings_say_why():
    """A third-party import inside a function of a wing (an optional or per-artifact dependency, or
    a cold-start cost) carries a comment saying which, on its line or the line above."""
    silent = []
    for path in python_files("handler"):
        if wing_of(path) is None:
            continue
        source = path.read_text().splitlines()
        tree = ast.parse("\n".join(source))
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    line = node.lineno - 1  # the comment may sit on the first line of a group of imports, or above it
                    while "#" not in source[line] and source[line - 1].strip().startswith(("import ", "from ")):
                        line -= 1
                    if "#" not in source[line] and not source[line - 1].strip().startswith(("#", "try:  #")):
                        silent.append(f"{path.relative_to(REPO)}:{node.lineno}: {source[node.lineno - 1].strip()}")
    assert silent == []


@pytest.mark.parametrize("rule, path, planted", [
    ("upward", "handler/common/x.py", "from scripts.sync import make_plan\n"),
    ("tests", "scripts/x.py", "import tests.support.helpers\n"),
    ("the wrong way", "handler/storage/x.py", "from handler.search import SearchService\n"),
    ("past the face", "scripts/x.py", "from handler.storage.edge import EdgeStorage\n"),
    ("not in the face", "scripts/x.py", "from handler.storage import Searches\n"),
    ("late", "handler/web/x.py", "def f():\n    from handler.search import SearchService\n"),
])
def test_the_checker_sees_a_bad_import(tmp_path, monkeypatch, rule, path, planted):
    """The rules above are only worth something if a bad import is found: plant one and look."""
    import tests.test_layers as rules

    for wing in WINGS:  # the faces, as they are
        (tmp_path / "handler" / wing).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "handler" / wing / "__init__.py", tmp_path / "handler" / wing / "__init__.py")
    monkeypatch.setattr(rules, "REPO", tmp_path)
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(planted)
    layer = path.split("/")[0]
    assert (imports_of(target) - LAYERS[layer]) or rules.wrong_wing_imports(target), rule


def environ_uses(path: Path) -> list[int]:
    """Lines that touch the process environment: os.environ or os.getenv."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and isinstance(node.value, ast.Name) and node.value.id == "os"
    ]


def test_only_the_config_table_reads_the_environment():
    """One home for settings: everything else calls handler.common.env(NAME) (KeyError for a name
    not in the table). Writing the environment for a child process is fine; reading is not."""
    readers = {}
    for package in LAYERS:
        for path in python_files(package):
            if path == REPO / "handler" / "common" / "config.py":
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
    """`from handler.x import y` inside a function, or in a program a benchmark hands a child process,
    is read only when it runs: a name that moved would fail there, in a job or a deploy, not at
    import. Checked here for every file. A submodule is found, not imported: importing
    handler.lambda_entry builds the app (a model)."""
    import importlib
    import importlib.util

    def submodule(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent is a module, not a package
            return False

    def trees(path: Path):
        """The file's own code, and the code it hands a child process as a string (the benchmarks'
        `python -c` programs), which only a run of that benchmark would otherwise read."""
        tree = ast.parse(path.read_text(), str(path))
        yield tree
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) and "import " in node.value.value:
                try:
                    yield ast.parse(node.value.value)
                except SyntaxError:
                    continue

    missing = []
    for package in (*LAYERS, "tests"):
        for path in python_files(package):
            for tree in trees(path):
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] in OURS - {"infra"}:
                        if not submodule(node.module):
                            missing.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module}")
                            continue
                        module = importlib.import_module(node.module)
                        for alias in node.names:
                            if alias.name != "*" and not hasattr(module, alias.name) and not submodule(f"{node.module}.{alias.name}"):
                                missing.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == []
