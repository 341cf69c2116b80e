"""The error contract through the API: every error body is JSON with error and detail, 422 names the parameter, an unreachable, hanging or empty Qdrant is a 503 within its timeout, anything unexpected a plain 500. Real model, real Qdrant Edge."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from handler.web import create_app
from tests.support.helpers import make_settings
from tests.support.servers import Listener


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "limit": 101}, "limit"),
        ({"q": "x", "limit": "many"}, "limit"),
        ({"q": "x", "mode": "fuzzy"}, "mode"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(client, params, parameter):
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", parameter]


def test_unreachable_qdrant_gives_503_within_the_timeout(model_dir, tmp_path):
    settings = make_settings(model_dir, tmp_path, qdrant_url="http://127.0.0.1:9", qdrant_timeout=1.0)
    client = TestClient(create_app(settings))  # starts although Qdrant is down
    started = time.perf_counter()
    response = client.get("/api/search", params={"q": "fintech"})
    assert response.status_code == 503 and response.json()["error"] == "qdrant_unavailable"
    assert time.perf_counter() - started < 3
    assert client.get("/health").status_code == 503


def test_hanging_qdrant_gives_503_within_the_configured_timeout(model_dir, tmp_path):
    """Lambda's runner: a hung Qdrant costs QDRANT_TIMEOUT once (at start), then the breaker answers at once."""
    with Listener(hang_up=False) as silent:
        settings = make_settings(model_dir, tmp_path, qdrant_url=silent.url, qdrant_timeout=1.0, qdrant_cooldown=30.0)
        client = TestClient(create_app(settings))
        for _ in range(3):
            started = time.perf_counter()
            response = client.get("/api/search", params={"q": "fintech"})
            elapsed = time.perf_counter() - started
            assert response.status_code == 503 and "Traceback" not in response.text
            assert elapsed < settings.qdrant_timeout, f"took {elapsed:.1f} s: the breaker should answer at once, not wait for Qdrant"
        assert silent.accepted == 1  # asked once, at start


def test_missing_collection_gives_503_naming_it(model_dir, tmp_path):
    client = TestClient(create_app(make_settings(model_dir, tmp_path / "empty")))
    response = client.get("/api/search", params={"q": "fintech"})
    assert response.status_code == 503
    assert response.json()["error"] == "collection_missing" and "'startups'" in response.json()["detail"]
    assert "scripts.upload" in response.json()["detail"]


def test_missing_collection_in_an_embedded_artifact_names_the_shard_not_the_scripts(model_dir, tmp_path, monkeypatch):
    """In an embedded Lambda artifact the collection comes from its shard: the 503 says how (QDRANT_SHARD_SOURCE)."""
    import json as json_

    import handler.common.artifact as artifact

    root = tmp_path / "task"
    root.mkdir()
    (root / artifact.INFO_FILE).write_text(json_.dumps({"mode": "embedded"}))
    (root / artifact.SHARD_ARCHIVE).write_bytes(b"PK\x05\x06" + b"\0" * 18)
    monkeypatch.setattr(artifact, "ARTIFACT_ROOT", root)
    client = TestClient(create_app(make_settings(model_dir, tmp_path / "empty", qdrant_shard_source="")))
    body = client.get("/api/search", params={"q": "fintech"}).json()
    assert body["error"] == "collection_missing" and "QDRANT_SHARD_SOURCE" in body["detail"] and "scripts.upload" not in body["detail"]
    assert str(root) not in body["detail"]


def test_unexpected_failure_is_a_plain_500(client, service, monkeypatch):
    def broken(*args, **kwargs):  # stands in for a bug deep in a dependency
        raise RuntimeError("secret internals: /var/task/handler/storage.py line 42")

    monkeypatch.setattr(service.storage, "hybrid_search", broken)
    response = client.get("/api/search", params={"q": "fintech"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_every_error_body_is_json_with_error_and_detail(client, service):
    for method, path, status in (("GET", "/nope", 404), ("POST", "/api/search?q=x", 405), ("DELETE", "/health", 405),
                                 ("GET", "/api/search", 422), ("GET", "/static/nope.js", 404), ("GET", "/api/similar?id=00000000-0000-0000-0000-000000000000", 404)):
        response = client.request(method, path)
        assert response.status_code == status, (method, path)
        assert response.headers["content-type"] == "application/json" and {"error", "detail"} <= set(response.json()), (method, path)
        assert response.headers["cache-control"] == "no-store"
    assert client.post("/health").headers["allow"] == "GET, HEAD"
    cors = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, cors_allow_origins=("https://app.example.com",)), service))
    refused = cors.options("/api/search", headers={"origin": "https://evil.example", "access-control-request-method": "GET"})
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "cors_refused" and "origin" in refused.json()["detail"]
    allowed = cors.options("/api/search", headers={"origin": "https://app.example.com", "access-control-request-method": "GET"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example.com"
