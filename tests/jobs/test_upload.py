"""Upload into the real embedded Qdrant Edge engine (and a real server when QDRANT_URL is set)."""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest

from handler.common import StorageError, StorageUnavailable
from handler.storage import EdgeStorage, Filters, ServerStorage
from scripts.upload import point_id, with_retries
from tests.support.helpers import run_module


def upload(sample_file, vectors, qdrant_path, *extra, env=None):
    return run_module(
        "scripts.upload", "--input", str(sample_file), "--vectors", str(vectors), *extra,
        env={"QDRANT_PATH": str(qdrant_path), "QDRANT_URL": "", **(env or {})},
    )


def test_uploading_twice_leaves_exactly_259_points(sample_file, sample_vectors, tmp_path):
    for _ in range(2):
        result = upload(sample_file, sample_vectors, tmp_path / "q")
        assert result.returncode == 0, result.stderr
        assert "259 of them found by count; collection holds 259" in result.stdout
    storage = EdgeStorage(tmp_path / "q", "startups")
    assert storage.check_collection(384) == 259
    schema = storage._open().info().payload_schema
    assert {"city", "description"} <= set(schema)
    storage.close()


def test_point_ids_are_deterministic_and_content_based():
    record = {"name": "A", "images": "", "alt": "a", "description": "d", "link": "", "city": "Berlin"}
    assert point_id(record) == point_id(dict(reversed(list(record.items()))))
    assert point_id(record) != point_id({**record, "city": "London"})
    uuid.UUID(point_id(record))


def test_vectors_from_another_file_are_refused(sample_file, sample_vectors, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text(sample_file.read_text().replace("London", "Paris"))
    result = upload(other, sample_vectors, tmp_path / "q")
    assert result.returncode == 2 and "not the file these vectors were made from" in result.stderr


def test_search_filter_and_text_match_on_qdrant_edge(sample_file, sample_vectors, model_dir, tmp_path):
    assert upload(sample_file, sample_vectors, tmp_path / "q").returncode == 0
    from handler.model import Encoder

    encoder = Encoder.from_export(model_dir)
    storage = EdgeStorage(tmp_path / "q", "startups")
    hits = storage.search(encoder.embed_one("QR codes for restaurants during COVID"), limit=5)
    assert "SaferCodes" in [h.payload["name"] for h in hits]
    london = storage.search(encoder.embed_one("software"), limit=10, filters=Filters.of({"city": ["london"]}))  # case ignored
    assert london and all(h.payload["city"] == "London" for h in london)
    text = storage.text_search("hospital", limit=50)
    assert text and all("hospital" in (h.payload["name"] + h.payload["alt"] + h.payload["description"]).lower() for h in text)  # BM25: hospital(s)
    storage.close()


def test_upload_to_unreachable_server_exits_1_after_retries(sample_file, sample_vectors, tmp_path):
    result = upload(sample_file, sample_vectors, tmp_path / "q", "--retries", "3", env={"QDRANT_URL": "http://127.0.0.1:9", "QDRANT_TIMEOUT": "1"})
    assert result.returncode == 1 and "unreachable" in result.stderr and "Traceback" not in result.stderr
    # the first request (creating the collection) is retried, then the error is final
    assert "creating the collection failed" in result.stderr
    assert "retry 1/2" in result.stderr and "retry 2/2" in result.stderr and "retry 3/" not in result.stderr


@pytest.mark.qdrant_server
@pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="needs a real Qdrant server at QDRANT_URL")
def test_upload_twice_to_a_real_server(sample_file, sample_vectors):
    collection = f"test_startups_{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        result = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--collection", collection)
        assert result.returncode == 0, result.stderr
    storage = ServerStorage(os.environ["QDRANT_URL"], collection, os.environ.get("QDRANT_API_KEY"))
    try:
        assert storage.check_collection(384) == 259
        assert all(h.payload["city"] == "London" for h in storage.search(np.ones(384, np.float32) / 384**0.5, 5, Filters.of({"city": ["London"]})))
    finally:
        storage._client.delete_collection(collection)
        storage.close()


def test_server_only_upload_options_need_a_server(tmp_path):
    result = run_module("scripts.upload", "--vectors", str(tmp_path), "--shards", "4", env={"QDRANT_URL": ""})
    assert result.returncode == 2 and "--shards configure a Qdrant server's collection: set QDRANT_URL" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--dry-run"], "--dry-run only apply with --sync"),
    (["--max-delete", "0.9", "--allow-mass-delete"], "--max-delete, --allow-mass-delete only apply with --sync"),
    (["--sync", "--recreate"], "--sync keeps the collection and --recreate drops it"),
    (["--sync", "--max-delete", "1.5"], "--max-delete is a fraction of the collection, from 0 to 1, got 1.5"),
])
def test_sync_options_are_checked_before_anything_is_read(args, message, tmp_path):
    result = run_module("scripts.upload", "--vectors", str(tmp_path), *args, env={"QDRANT_URL": "", "QDRANT_PATH": str(tmp_path / "q")})
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "q").exists()


def test_a_model_export_passed_as_vectors_is_refused_clearly(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"variants": {}, "defaults": {}}))
    result = run_module("scripts.upload", "--vectors", str(tmp_path), env={"QDRANT_URL": "", "QDRANT_PATH": str(tmp_path / "q")})
    assert result.returncode == 2 and "holds a manifest.json that is not scripts.embed_ray's (a model export?)" in result.stderr


def flaky(failures: int, error=StorageUnavailable):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"down (call {len(calls)})")
        return "ok"

    return call, calls


def test_with_retries_retries_transient_failures_then_succeeds():
    call, calls = flaky(2)
    seen = []
    assert with_retries(call, attempts=3, base_delay=0, on_retry=lambda attempt, exc: seen.append(attempt)) == "ok"
    assert len(calls) == 3 and seen == [1, 2]


def test_with_retries_gives_up_after_the_last_attempt():
    call, calls = flaky(10)
    with pytest.raises(StorageUnavailable, match="call 4"):
        with_retries(call, attempts=4, base_delay=0)
    assert len(calls) == 4


def test_with_retries_does_not_retry_a_permanent_error():
    call, calls = flaky(10, error=StorageError)
    with pytest.raises(StorageError):
        with_retries(call, attempts=4, base_delay=0)
    assert len(calls) == 1


def test_zero_points_create_or_sync_nothing_unless_told(sample_file, tmp_path):
    """An embed run holding no points (an earlier version wrote one for a file of rejected lines):
    an upload or a sync of it would leave the collection empty and searches answering nothing;
    refused (exit 2) unless --allow-empty."""
    import hashlib

    vectors = tmp_path / "vectors"
    vectors.mkdir()
    np.save(vectors / "vectors.npy", np.empty((0, 384), np.float32))
    np.save(vectors / "lines.npy", np.empty(0, np.int64))
    (vectors / "report.json").write_text(json.dumps({"input": str(sample_file), "input_sha256": hashlib.sha256(sample_file.read_bytes()).hexdigest(),
                                                     "template": "{name}. {alt}. {description}", "embedded": 0, "reused": 0}))
    for extra in ((), ("--sync",)):
        refused = upload(sample_file, vectors, tmp_path / "q", *extra)
        assert refused.returncode == 2 and "holds no points" in refused.stderr and "--allow-empty" in refused.stderr, refused.stderr
        assert not (tmp_path / "q" / "startups").exists()
    allowed = upload(sample_file, vectors, tmp_path / "q", "--allow-empty")
    assert allowed.returncode == 0 and "uploaded 0 points" in allowed.stdout, allowed.stderr
