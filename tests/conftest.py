"""Shared fixtures. The model is exported once per test session with the real CLI.

Set TEST_MODEL_DIR to an existing export to skip that step while iterating locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dataclasses

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = SHARED_DATA / "startups_sample.jsonl"
BENCH = SHARED_DATA / "bench_corpus_40k.jsonl"


def run_module(*args: str, env: dict | None = None, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `python -m ...` as a user would, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def export_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess | None]:
    reuse = os.environ.get("TEST_MODEL_DIR")
    if reuse:
        return Path(reuse), None
    out = tmp_path_factory.mktemp("export") / "model"
    result = run_module("export", "--out", str(out))
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    return out, result


@pytest.fixture(scope="session")
def model_dir(export_run) -> Path:
    return export_run[0]


@pytest.fixture(scope="session")
def sample_file() -> Path:
    if not SAMPLE.is_file():
        pytest.fail(f"test data missing: {SAMPLE} (the shared data folder beside the repo)")
    return SAMPLE


@pytest.fixture(scope="session")
def loaded_qdrant(model_dir, sample_file, tmp_path_factory):
    """QDRANT_PATH holding the `startups` collection: the sample, embedded and uploaded by the scripts."""
    root = tmp_path_factory.mktemp("service")
    embedded = run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(sample_file), "--out", str(root / "vectors"))
    assert embedded.returncode == 0, embedded.stderr
    uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(root / "vectors"), env={"QDRANT_PATH": str(root / "qdrant"), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    return root / "qdrant"


def make_settings(model_dir, qdrant_path, **overrides):
    from handler.config import Settings

    base = dataclasses.replace(Settings.from_env(), model_dir=str(model_dir), qdrant_path=str(qdrant_path), qdrant_url="", qdrant_api_key="", collection_name="startups")
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="session")
def service(model_dir, loaded_qdrant):
    from handler.service import SearchService

    return SearchService.start(make_settings(model_dir, loaded_qdrant))


@pytest.fixture(scope="session")
def client(service):
    from fastapi.testclient import TestClient
    from handler.app import create_app

    return TestClient(create_app(service.settings, service))
