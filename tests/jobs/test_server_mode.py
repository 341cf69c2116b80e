"""Server mode over real HTTP, end to end: `scripts.upload` and `python -m handler` with
QDRANT_URL, against the Qdrant REST STAND-IN (`tests.support.qdrant_standin`: qdrant-client's local mode
behind a uvicorn server; no Qdrant server can run here, so the engine is local mode's, and
shards, replicas and the HNSW graph are recorded, not built). The Lambda artifact's server mode
against the same stand-in is in test_artifact.py.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.support.helpers import run_module
from tests.support.qdrant_standin import QdrantStandin
from tests.support.servers import HandlerProcess, Listener

API_KEY = "k3y-test-8f2c"
QUERIES = [
    {"q": "QR codes for restaurants during COVID", "mode": "neural"},
    {"q": "vegan food delivery"},
    {"q": "software", "city": "London", "limit": 20},
    {"q": "hospital", "mode": "text", "limit": 50},
    {"q": "payments for small business", "mode": "hybrid", "limit": 10},
]


@pytest.fixture(scope="module")
def qdrant():
    with QdrantStandin(api_key=API_KEY) as standin:
        yield standin


@pytest.fixture(scope="module")
def uploaded(qdrant, sample_file, sample_vectors):
    """The sample, uploaded as at scale: 2 shards, 1 replica, 2 upsert streams, the index deferred."""
    return run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors),
                      "--shards", "2", "--replicas", "1", "--parallel", "2", "--defer-index",
                      env={"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": API_KEY})


def service_env(qdrant, model_dir, **extra) -> dict:
    return {"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": API_KEY, "MODEL_DIR": str(model_dir), "LOG_LEVEL": "INFO", **extra}


def test_upload_at_scale_lands_every_point_and_restores_the_index(qdrant, uploaded):
    assert uploaded.returncode == 0, uploaded.stderr
    assert "259 of them found by count" in uploaded.stdout
    created = [json.loads(r.body) for r in qdrant.requests if r.method == "PUT" and r.path == "/collections/startups"]
    assert len(created) == 1 and created[0]["hnsw_config"]["m"] == 0
    assert (created[0]["shard_number"], created[0]["replication_factor"]) == (2, 1)
    upserts = [r for r in qdrant.requests if r.method == "PUT" and r.path == "/collections/startups/points"]
    assert len(upserts) == 2  # 259 points in batches of 256
    info = httpx.get(f"{qdrant.url}/collections/startups", headers={"api-key": API_KEY}).json()["result"]
    assert info["points_count"] == 259 and info["config"]["hnsw_config"]["m"] == 16
    from handler.common import load_schema
    from handler.storage import payload_indexes

    assert set(info["payload_schema"]) == set(payload_indexes(load_schema())) >= {"city", "_folded.city", "_folded._title", "name"}


def test_the_service_answers_as_the_embedded_engine_does(qdrant, uploaded, model_dir, client):
    assert uploaded.returncode == 0
    qdrant.clear_log()
    with HandlerProcess(service_env(qdrant, model_dir)) as url:
        for params in QUERIES:
            served = httpx.get(f"{url}/api/search", params=params, timeout=30).json()
            assert served["mode"] == client.get("/api/search", params=params).json()["mode"]
            assert [h["id"] for h in served["hits"]] == [h["id"] for h in client.get("/api/search", params=params).json()["hits"]], params
        anchor = served["hits"][0]["id"]
        served, embedded = (c.get(f"{prefix}/api/similar", params={"id": anchor}).json()["hits"] for c, prefix in ((httpx, url), (client, "")))
        assert [h["id"] for h in served] == [h["id"] for h in embedded]
        assert [h["score"] for h in served] == pytest.approx([h["score"] for h in embedded], abs=1e-6)  # float32 on one engine, float64 on the other
        assert httpx.get(f"{url}/api/cities").json() == client.get("/api/cities").json()
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "model": "ok", "collection": "ok"}
    asked = qdrant.requests
    assert asked and all(r.headers.get("api-key") == API_KEY for r in asked)  # the key on every request
    assert all(r.status == 200 for r in asked), [(r.method, r.path, r.status) for r in asked if r.status != 200]


def test_the_api_key_is_never_printed(qdrant, uploaded, model_dir):
    handler = HandlerProcess(service_env(qdrant, model_dir, LOG_LEVEL="DEBUG", HEALTH_DETAILS="1"))
    with handler as url:
        bodies = [httpx.get(f"{url}{path}").text for path in ("/health", "/api/search?q=x", "/openapi.json")]
    assert API_KEY not in handler.output and API_KEY not in "".join(bodies)
    assert '"event": "settings"' in handler.output  # DEBUG logged the settings, masked


def search_path(i: int) -> str:
    return f"/api/search?q=query+number+{i}&mode={'neural' if i % 2 else 'hybrid'}"


def searches_at_once(url: str, n: int) -> list[tuple[int, float, dict]]:
    """n searches and one /health, all sent at once; each answer's status, seconds and body."""
    results: list = [None] * (n + 1)

    def ask(i: int) -> None:
        path = "/health" if i == n else search_path(i)
        started = time.perf_counter()
        response = httpx.get(f"{url}{path}", timeout=30)
        results[i] = (response.status_code, time.perf_counter() - started, response.json())

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


QDRANT_TIMEOUT, QDRANT_COOLDOWN = 1, 2


def test_a_hung_qdrant_is_answered_503_within_2_seconds(qdrant, uploaded, model_dir):
    """QDRANT_TIMEOUT=1 and 8 searches in flight against a server that takes requests and never
    answers: every search and /health answer 503 within 2 s, and the service recovers when the
    server does (after the cool-down). The same 8 searches and /health are asked first, with the
    server well: every path is warm and every query's vector in the query cache, so the 2 s are
    Qdrant's timeout and the service's own handling, never the model's work."""
    env = service_env(qdrant, model_dir, QDRANT_TIMEOUT=str(QDRANT_TIMEOUT), QDRANT_COOLDOWN=str(QDRANT_COOLDOWN), QUERY_CACHE_SIZE="64")
    with HandlerProcess(env) as url:
        assert [status for status, _, _ in searches_at_once(url, 8)] == [200] * 9
        qdrant.hang()
        try:
            results = searches_at_once(url, 8)
        finally:
            qdrant.release()
        assert [status for status, _, _ in results] == [503] * 9
        assert max(seconds for _, seconds, _ in results) < QDRANT_TIMEOUT + 1, results
        assert {body.get("error") for _, _, body in results[:-1]} == {"qdrant_unavailable"}
        assert results[-1][2]["collection"] == "unreachable"
        time.sleep(QDRANT_COOLDOWN + 0.2)  # the cool-down: a wait the service sets, not a guess
        assert httpx.get(f"{url}/api/search", params={"q": "warm"}, timeout=30).status_code == 200


def test_the_service_starts_while_qdrant_hangs_and_health_says_so(model_dir):
    with Listener(hang_up=False) as silent:
        started = time.perf_counter()
        handler = HandlerProcess({"QDRANT_URL": silent.url, "MODEL_DIR": str(model_dir), "QDRANT_TIMEOUT": "1", "QDRANT_COOLDOWN": "30"})
        with handler as url:
            took = time.perf_counter() - started
            health = httpx.get(f"{url}/health", timeout=10)
            search = httpx.get(f"{url}/api/search", params={"q": "x"}, timeout=10)
    assert took < 30
    assert health.status_code == 503 and health.json()["collection"] == "unreachable"
    assert search.status_code == 503 and search.json()["error"] == "qdrant_unavailable"
    assert '"qdrant": "unavailable"' in handler.output and "Traceback" not in handler.output


def test_a_collection_without_bm25_is_hybrid_unavailable_on_the_server_too(qdrant, model_dir):
    from qdrant_client import QdrantClient, models

    from handler.common import load_schema
    from handler.storage import payload_indexes

    client = QdrantClient(url=qdrant.url, api_key=API_KEY, check_compatibility=False)
    client.create_collection("dense_only", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    kinds = {"text": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, lowercase=True),
             "keyword": models.PayloadSchemaType.KEYWORD}
    for field, kind in payload_indexes(load_schema()).items():  # the layout the service checks at start, by hand: only bm25 is missing
        client.create_payload_index("dense_only", field, kinds[kind], wait=True)
    client.upsert("dense_only", [models.PointStruct(id=1, vector=[1.0] + [0.0] * 383, payload={"city": "x", "description": "fintech"})])
    with HandlerProcess(service_env(qdrant, model_dir, COLLECTION_NAME="dense_only")) as url:
        hybrid = httpx.get(f"{url}/api/search", params={"q": "fintech", "mode": "hybrid"})
        neural = httpx.get(f"{url}/api/search", params={"q": "fintech", "mode": "neural"})
    assert hybrid.status_code == 503 and hybrid.json()["error"] == "hybrid_unavailable" and "--recreate" in hybrid.json()["detail"]
    assert neural.status_code == 200 and len(neural.json()["hits"]) == 1
