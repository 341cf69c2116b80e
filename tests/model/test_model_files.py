"""The model directory's files are checked before they serve: a missing directory, a file with other bytes, a damaged file, each named with the fix; what was verified is shown only when asked for."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from handler.common import StartupError, sha256_file
from handler.search import SearchService
from handler.web import create_app
from tests.support.helpers import REPO, make_settings, served_variant
from tests.support.servers import free_port


def test_a_missing_model_directory_names_the_file_and_the_fix(tmp_path):
    """`python -m handler` with a model directory that does not exist: it fails (exit 2, naming
    the file), and said "serving" nowhere, although the socket was bound first."""
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "handler"], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "PORT": str(port), "MODEL_DIR": str(tmp_path / "none"), "QDRANT_PATH": str(tmp_path)})
    assert result.returncode == 2 and "no manifest.json in" in result.stderr and "python -m export" in result.stderr
    assert "serving" not in result.stderr + result.stdout


def served_file(model_dir) -> str:
    """The model file this CPU serves (int8's, or int8_blocks' where int8 is not exact here)."""
    return served_variant(model_dir)[1]["file"]


def model_copy(model_dir, tmp_path, damage: str | None = None):
    """The served files of the export (manifest, tokenizer, the CPU default's model) in tmp_path/model, one of them damaged."""
    out = tmp_path / "model"
    out.mkdir()
    model = served_file(model_dir)
    for name in ("manifest.json", "tokenizer.json", model):
        shutil.copy(model_dir / name, out / name)
    if damage == "model":  # same size, other bytes: what the size check let through
        data = bytearray((out / model).read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 1 for b in data[middle : middle + 64])
        (out / model).write_bytes(bytes(data))
    elif damage in ("tokenizer", "manifest"):
        path = out / f"{damage}.json"
        path.write_bytes(path.read_bytes()[: 300 if damage == "manifest" else 5000])  # cut short, as a failed copy leaves it
    return out


def run_handler(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handler"], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HOST": "127.0.0.1", "PORT": str(free_port()), "QDRANT_URL": "", **env})


def test_a_model_file_with_other_bytes_never_serves(model_dir, loaded_qdrant, tmp_path):
    damaged, model = model_copy(model_dir, tmp_path, "model"), served_file(model_dir)
    assert (damaged / model).stat().st_size == (model_dir / model).stat().st_size
    with pytest.raises(StartupError, match=rf"{re.escape(model)} has sha256 .* but .*manifest.json says"):
        SearchService.start(make_settings(damaged, tmp_path / "store"))
    result = run_handler({"MODEL_DIR": str(damaged), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and model in result.stderr and "python -m export" in result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage, file", [("tokenizer", "tokenizer.json"), ("manifest", "manifest.json")])
def test_a_damaged_file_is_named_with_the_fix(model_dir, tmp_path, damage, file):
    result = run_handler({"MODEL_DIR": str(model_copy(model_dir, tmp_path, damage)), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2, result.stderr
    assert f"model/{file}" in result.stderr and "python -m export" in result.stderr, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


def test_health_details_name_what_was_verified(service):
    client = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, health_details=True), service))
    model = client.get("/health").json()["details"]["model"]
    served = service.encoder.model_path
    assert model["file"] == served.name and model["sha256"] == sha256_file(served)
    assert "computed at start" in model["verified"]
