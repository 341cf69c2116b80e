"""Shared fixtures. The model is exported once per test session with the real CLI.

Set TEST_MODEL_DIR to an existing export to skip that step while iterating locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
