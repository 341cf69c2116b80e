"""A Lambda artifact built for one architecture and deployed on the other says so at init, in
words, before any compiled library is imported (they would fail first, on an "invalid ELF
header"): `handler.common.check_artifact_arch`, called first by `handler.lambda_entry`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from handler.common import INFO_FILE, StartupError, check_artifact_arch, write_info

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("built,machine", [("aarch64", "x86_64"), ("x86_64", "aarch64"), ("x86_64", "arm64")])
def test_the_wrong_architecture_is_refused_with_the_fix(tmp_path, built, machine):
    write_info(tmp_path, "embedded", built, "int8")
    with pytest.raises(StartupError) as caught:
        check_artifact_arch(StartupError, tmp_path, machine=machine)
    message = str(caught.value)
    assert f"built for {built}" in message and "Architecture=" in message and "LAMBDA_ARCH=" in message
    assert str(tmp_path) not in message


@pytest.mark.parametrize("built,machine", [("aarch64", "aarch64"), ("aarch64", "arm64"), ("x86_64", "x86_64"), ("x86_64", "AMD64")])
def test_the_right_architecture_passes(tmp_path, built, machine):
    write_info(tmp_path, "server", built, "int8")
    check_artifact_arch(StartupError, tmp_path, machine=machine)


def test_a_checkout_is_not_an_artifact(tmp_path):
    assert not (tmp_path / INFO_FILE).exists()
    check_artifact_arch(StartupError, tmp_path, machine="sparc")


def test_lambda_entry_checks_before_importing_anything_compiled():
    """Only the standard library and handler.common (stdlib only at import) come before the call."""
    tree = ast.parse((ROOT / "handler" / "lambda_entry.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "check_artifact_arch":
            break
        if isinstance(node, ast.Import):
            assert all(alias.name in sys.stdlib_module_names for alias in node.names), ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module in sys.stdlib_module_names or node.module == "handler.common", ast.unparse(node)
    else:
        pytest.fail("handler.lambda_entry never calls check_artifact_arch")
    probe = "import sys, handler.common; bad = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'pydantic', 'pydantic_core', 'onnxruntime', 'fastapi')]; print(bad)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_the_artifact_records_its_architecture(tmp_path):
    write_info(tmp_path, "embedded", "aarch64", "int8")
    assert json.loads((tmp_path / INFO_FILE).read_text())["arch"] == "aarch64"


def test_an_artifact_of_the_other_architecture_fails_its_init_in_words(tmp_path):
    """The runtime's own code laid out as in an artifact (handler/ beside artifact.json), as
    Lambda's init imports it: the error names the architectures before numpy or pydantic load."""
    import platform
    import shutil

    shutil.copytree(ROOT / "handler", tmp_path / "handler", ignore=shutil.ignore_patterns("__pycache__"))
    other = "x86_64" if platform.machine() in ("aarch64", "arm64") else "aarch64"
    write_info(tmp_path, "embedded", other, "int8")
    probe = "import sys\ntry:\n    import handler.lambda_entry\nexcept Exception as exc:\n    print(type(exc).__name__, exc); print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pydantic', 'fastapi', 'onnxruntime')))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    assert out.startswith(f"StartupError this Lambda artifact was built for {other} but runs on "), out
    assert out.rstrip().endswith("[]"), out
