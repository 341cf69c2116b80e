"""Helpers the tests import (conftest.py only declares fixtures)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

from scripts.records import BENCH_FILE, SAMPLE_FILE  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "infra" / "events"


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


def make_settings(model_dir, qdrant_path, **overrides):
    from handler.config import Settings

    base = dataclasses.replace(
        Settings.from_env(), model_dir=str(model_dir), qdrant_path=str(qdrant_path), qdrant_url="", qdrant_api_key="", collection_name="startups"
    )
    return dataclasses.replace(base, **overrides)


def load_event(name: str = "http_api_v2.json", path: str | None = None, query: dict | None = None, headers: dict | None = None) -> dict:
    """A real API Gateway event (made by `sam local generate-event`, see infra/events), with its
    path, query string and headers replaced where given, the way API Gateway fills them."""
    data = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    if data.get("version") == "2.0":
        if path:
            data["rawPath"] = data["requestContext"]["http"]["path"] = path
        if query is not None:
            data["queryStringParameters"] = dict(query) or None
            data["rawQueryString"] = urlencode(query)
    else:
        if path:
            data["path"] = path
            data["requestContext"]["path"] = f"/{data['requestContext']['stage']}{path}"
        if query is not None:
            data["queryStringParameters"] = dict(query) or None
            data["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if headers:
        data["headers"] = {**data.get("headers", {}), **headers}
        if "multiValueHeaders" in data:
            data["multiValueHeaders"] = {**data["multiValueHeaders"], **{k: [v] for k, v in headers.items()}}
    return data
