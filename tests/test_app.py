"""The search service on the real embedded Qdrant Edge engine loaded with the startups sample."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from handler.api import create_app
from handler.service import StartupError
from handler.storage import EdgeStorage, PointData
from tests.helpers import make_settings, run_module
from tests.servers import Listener


def names(response) -> list[str]:
    return [r["name"] for r in response.json()["result"]]


# -- answers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "query, expected",
    [
        ("QR codes for restaurants during COVID", "SaferCodes"),
        ("personalized online shopping for fashion and lifestyle", "StyleSeek"),
        ("physician referrals inside hospitals", "Human Practice"),
    ],
)
def test_relevant_startup_is_in_the_top_5(client, query, expected):
    response = client.get("/api/search", params={"q": query})
    assert response.status_code == 200
    assert expected in names(response)


def test_response_keeps_the_tutorial_shape_and_adds_ids_scores_mode(client):
    body = client.get("/api/search", params={"q": "machine learning", "mode": "neural"}).json()
    assert set(body) == {"result", "hits", "mode", "weak_match", "took_ms"} and body["weak_match"] is False
    assert len(body["result"]) == len(body["hits"]) == 5
    assert set(body["result"][0]) == {"name", "images", "alt", "description", "link", "city"}
    scores = [hit["score"] for hit in body["hits"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1.0001 for s in scores)  # cosine
    assert body["mode"] == "neural"
    assert client.get("/api/search", params={"q": "machine learning"}).json()["mode"] == "hybrid"  # the default


def test_city_filter_returns_only_that_city(client):
    response = client.get("/api/search", params={"q": "software", "city": "London", "limit": 20})
    cities = {r["city"] for r in response.json()["result"]}
    assert response.status_code == 200 and cities == {"London"}
    assert len(response.json()["result"]) == 7  # every London startup of the sample, no more
    assert client.get("/api/search", params={"q": "software", "city": "Atlantis"}).json()["result"] == []


@pytest.mark.parametrize("limit", [1, 3, 17])
def test_limit_is_respected(client, limit):
    assert len(client.get("/api/search", params={"q": "apps", "limit": limit}).json()["result"]) == limit


def test_text_mode_matches_words(client):
    body = client.get("/api/search", params={"q": "hospital", "mode": "text", "limit": 50}).json()
    assert body["mode"] == "text" and body["result"]
    assert all("hospital" in (r["name"] + r["alt"] + r["description"]).lower() for r in body["result"])  # hospital, hospitals (BM25 stems)
    assert all(hit["score"] > 0 for hit in body["hits"])  # BM25
    london = client.get("/api/search", params={"q": "app", "mode": "text", "city": "London", "limit": 50}).json()["result"]
    assert all(r["city"] == "London" for r in london)


def test_health_reports_model_and_collection(client):
    assert client.get("/health").json() == {"status": "ok", "model": "ok", "collection": "ok"}


def test_docs_and_openapi_describe_every_parameter(client):
    assert client.get("/docs").status_code == 200 and "/openapi.json" in client.get("/docs").text
    spec = client.get("/openapi.json").json()
    parameters = spec["paths"]["/api/search"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"q", "city", "limit", "offset", "mode", "neural"}
    assert all(p.get("description") for p in parameters)


def test_one_structured_log_line_per_request(client):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("handler").addHandler(handler)
    try:
        client.get("/api/search", params={"q": "payments", "city": "Chicago"}, headers={"x-request-id": "abc123"})
    finally:
        logging.getLogger("handler").removeHandler(handler)
    lines = [json.loads(r.getMessage()) for r in records]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "request" and line["status"] == 200 and line["request_id"] == "abc123"
    assert line["embed_ms"] > 0 and line["search_ms"] > 0 and line["total_ms"] >= line["embed_ms"]
    assert "payments" not in json.dumps(line)  # the query text itself is not logged


# -- errors ---------------------------------------------------------------------------------------

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


def test_dimension_mismatch_refuses_to_start(model_dir, tmp_path):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(8)
    storage.upsert([PointData("00000000-0000-0000-0000-000000000001", __import__("numpy").ones(8, "float32"), {"city": "x", "description": "y"})])
    storage.close()
    with pytest.raises(StartupError, match="8-dim Cosine.*384-dim.*refusing to start"):
        create_app(make_settings(model_dir, tmp_path))
    result = run_module("handler", env={"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""}, timeout=60)
    assert result.returncode == 2 and "refusing to start" in result.stderr and "Traceback" not in result.stderr


def test_unexpected_failure_is_a_plain_500(client, service, monkeypatch):
    def broken(*args, **kwargs):  # stands in for a bug deep in a dependency
        raise RuntimeError("secret internals: /var/task/handler/storage.py line 42")

    monkeypatch.setattr(service.storage, "hybrid_search", broken)
    response = client.get("/api/search", params={"q": "fintech"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_a_second_process_on_the_same_shard_refuses_to_start(model_dir, loaded_qdrant, service):
    """The session's service holds the sample shard open; another `python -m handler` on the same
    QDRANT_PATH must say so at start, not answer 503 to every request."""
    result = run_module("handler", env={"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(loaded_qdrant), "QDRANT_URL": ""}, timeout=60)
    assert result.returncode == 2
    assert "another process holds the Qdrant Edge collection" in result.stderr and "Traceback" not in result.stderr
