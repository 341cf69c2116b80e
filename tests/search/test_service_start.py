"""The service refuses to start, naming why: a collection of another dimension, a shard another process holds. Real model, real Qdrant Edge."""

from __future__ import annotations

import pytest

from handler.common import StartupError
from handler.storage import EdgeStorage, PointData
from handler.web import create_app
from tests.support.helpers import make_settings, run_module


def test_dimension_mismatch_refuses_to_start(model_dir, tmp_path):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(8)
    storage.upsert([PointData("00000000-0000-0000-0000-000000000001", __import__("numpy").ones(8, "float32"), {"city": "x", "description": "y"})])
    storage.close()
    with pytest.raises(StartupError, match="8-dim Cosine.*384-dim.*refusing to start"):
        create_app(make_settings(model_dir, tmp_path))
    result = run_module("handler", env={"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""}, timeout=60)
    assert result.returncode == 2 and "refusing to start" in result.stderr and "Traceback" not in result.stderr


def test_a_second_process_on_the_same_shard_refuses_to_start(model_dir, loaded_qdrant, service):
    """The session's service holds the sample shard open; another `python -m handler` on the same
    QDRANT_PATH must say so at start, not answer 503 to every request."""
    result = run_module("handler", env={"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(loaded_qdrant), "QDRANT_URL": ""}, timeout=60)
    assert result.returncode == 2
    assert "another process holds the Qdrant Edge collection" in result.stderr and "Traceback" not in result.stderr
