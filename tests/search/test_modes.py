"""Hybrid search, find-similar, the city facet, the tutorial demo's spelling, CORS and the
collection schema, on the real model and the real Qdrant Edge engine loaded with the sample."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from handler.common import StartupError
from handler.search import SearchService
from handler.storage import FUSION, EdgeStorage, PointData, read_records
from handler.web import create_app
from tests.support.helpers import load_event, make_settings, run_module


def names(response) -> list[str]:
    return [r["name"] for r in response.json()["result"]]


# -- hybrid -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["hybrid", "neural", "text"])
def test_every_startup_is_found_by_its_name_in_every_mode(client, sample_file, mode):
    """The name is indexed (BM25 and full text) and embedded, so a startup's name alone finds it:
    'NowBoarding ✈️', whose name is nowhere in its alt text or description, included."""
    records, _ = read_records(sample_file)
    missed = [r.data["name"] for r in records if r.data["name"] not in names(client.get("/api/search", params={"q": r.data["name"], "limit": 3, "mode": mode}))]
    assert missed == []
    assert names(client.get("/api/search", params={"q": "nowboarding", "mode": mode}))[0] == "NowBoarding ✈️"


@pytest.mark.parametrize("query, expected", [
    ("QR codes for restaurants during COVID", "SaferCodes"),
    ("personalized online shopping for fashion and lifestyle", "StyleSeek"),
    ("physician referrals inside hospitals", "Human Practice"),
])
def test_meaning_queries_stay_in_the_top_5_with_hybrid(client, query, expected):
    assert expected in names(client.get("/api/search", params={"q": query, "mode": "hybrid"}))


def test_hybrid_scores_are_fused_ranks_and_the_city_filter_holds(client):
    body = client.get("/api/search", params={"q": "software", "mode": "hybrid", "city": "London", "limit": 20}).json()
    assert body["mode"] == "hybrid" and {r["city"] for r in body["result"]} == {"London"}
    scores = [h["score"] for h in body["hits"]]
    fusion = FUSION
    assert scores == sorted(scores, reverse=True) and all(0 < s <= (1 + fusion.words) / fusion.k + 1e-9 for s in scores)  # weighted RRF, two lists


def test_a_collection_without_bm25_is_refused_at_start_and_upload_says_how_to_fix_it(model_dir, sample_file, sample_vectors, tmp_path):
    """An older collection (dense only, as uploaded before hybrid search): the service refuses to
    start and an upload refuses to add to it, each naming --recreate; re-uploading with --recreate
    fixes it, hybrid included. (A collection without `bm25` that passes the start-up check, such
    as one whose indexes a user made by hand, still answers hybrid 503 naming the fix: the contract
    suite tests that on both engines.)"""
    import qdrant_edge as q

    vectors = np.load(sample_vectors / "vectors.npy")
    records, _ = read_records(sample_file)
    shard = q.EdgeShard.create(str(tmp_path / "startups"), q.EdgeConfig(vectors=q.EdgeVectorParams(size=384, distance=q.Distance.Cosine)))
    shard.update(q.UpdateOperation.upsert_points([q.Point(str(uuid.uuid4()), v.tolist(), r.data) for v, r in zip(vectors, records)]))
    shard.close()
    with pytest.raises(StartupError, match="--recreate"):
        SearchService.start(make_settings(model_dir, tmp_path))

    upload = ["scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors)]
    refused = run_module(*upload, env={"QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""})
    assert refused.returncode == 1 and "--recreate" in refused.stderr and "no 'bm25' sparse vectors" in refused.stderr
    fixed = run_module(*upload, "--recreate", env={"QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""})
    assert fixed.returncode == 0, fixed.stderr
    client = TestClient(create_app(make_settings(model_dir, tmp_path)))
    assert client.get("/api/search", params={"q": "fintech", "mode": "hybrid"}).status_code == 200
    client.app.state.service.storage.close()


# -- similar and cities ------------------------------------------------------------------------------------

def test_similar_excludes_the_point_itself_and_filters_by_city(client):
    first = client.get("/api/search", params={"q": "QR codes for restaurants during COVID", "mode": "neural"}).json()
    anchor = first["hits"][0]["id"]
    similar = client.get("/api/similar", params={"id": anchor, "limit": 10})
    assert similar.status_code == 200 and similar.json()["mode"] == "similar"
    assert anchor not in [h["id"] for h in similar.json()["hits"]] and len(similar.json()["hits"]) == 10
    london = client.get("/api/similar", params={"id": anchor, "city": "London", "limit": 10}).json()
    assert london["result"] and {r["city"] for r in london["result"]} == {"London"}


def test_similar_with_an_unknown_or_malformed_id(client):
    unknown = client.get("/api/similar", params={"id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    malformed = client.get("/api/similar", params={"id": "not-a-uuid"})
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"] == ["query", "id"]


def test_cities_are_the_facet_biggest_first(client, sample_file):
    records, _ = read_records(sample_file)
    body = client.get("/api/cities").json()
    counts = [c["count"] for c in body["cities"]]
    assert counts == sorted(counts, reverse=True) and sum(counts) == len(records)
    assert {c["city"] for c in body["cities"]} == {r.data["city"] for r in records}  # Londo included: it is in the data
    assert len(client.get("/api/cities", params={"limit": 1}).json()["cities"]) == 1
    assert client.get("/api/cities", params={"limit": 0}).status_code == 422


# -- the tutorial's demo frontend as a client -------------------------------------------------------------------

def test_the_demo_frontends_neural_switch(client):
    assert client.get("/api/search", params={"q": "hospital", "neural": "false"}).json()["mode"] == "text"
    assert client.get("/api/search", params={"q": "hospital", "neural": "true"}).json()["mode"] == "neural"
    clash = client.get("/api/search", params={"q": "hospital", "neural": "true", "mode": "text"})
    assert clash.status_code == 422 and clash.json()["detail"][0]["loc"] == ["query", "neural"]
    assert client.get("/api/search", params={"q": "hospital", "neural": "maybe"}).status_code == 422


def test_unknown_parameters_are_refused_naming_them_and_the_known_ones(client):
    """A mistyped filter (`citty=`) must never return unfiltered results: 422, naming it and the
    parameters the route takes. (Before schemas, unknown parameters were ignored.)"""
    for path, params in (("/api/search", {"q": "payments", "citty": "London"}), ("/api/similar", {"id": str(uuid.uuid4()), "fuzzy": "yes"}),
                         ("/api/cities", {"limt": "3"})):
        response = client.get(path, params=params)
        issue = response.json()["detail"][0]
        assert response.status_code == 422 and issue["type"] == "unknown_parameter" and issue["loc"][1] in ("citty", "fuzzy", "limt"), response.text
        assert "unknown parameter; this route takes:" in issue["msg"] and "limit" in issue["msg"]
    demo = client.get("/api/search", params={"q": "payments", "neural": "true"})  # the tutorial demo's parameters stay accepted
    assert demo.status_code == 200
    newer = client.get("/api/search", params={"q": "payments", "mode": "semantic"})  # and the newer demo frontend's mode names
    assert newer.status_code == 200 and newer.json()["mode"] == "neural"


def test_a_city_filter_ignores_case_and_surrounding_spaces(client):
    exact = client.get("/api/search", params={"q": "software", "city": "London", "limit": 20}).json()
    loose = client.get("/api/search", params={"q": "software", "city": "  lOnDoN ", "limit": 20}).json()
    assert exact["hits"] and [h["id"] for h in loose["hits"]] == [h["id"] for h in exact["hits"]]
    (first, _), (second, _) = [(c["city"], c["count"]) for c in client.get("/api/cities", params={"limit": 2}).json()["cities"]]
    both = client.get("/api/search", params=[("q", "software"), ("city", first), ("city", second), ("limit", "100"), ("mode", "neural")]).json()
    assert {r["city"] for r in both["result"]} == {first, second}


def test_demo_field_aliases_can_be_forced_on(service, client):
    assert "logo_url" not in client.get("/api/search", params={"q": "payments"}).json()["result"][0]
    demo = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, demo_field_aliases=True), service))
    body = demo.get("/api/search", params={"q": "payments"}).json()
    first, hit = body["result"][0], body["hits"][0]
    assert first["document"] == first["short_description"] == first["description"]
    assert first["logo_url"] == first["images"] and first["homepage_url"] == first["link"] and first["uuid"] == hit["id"]


# -- CORS, with a real preflight ------------------------------------------------------------------------------

def test_cors_is_off_by_default_and_configurable(service, client):
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "GET"}
    assert "access-control-allow-origin" not in client.options("/api/search", headers=preflight).headers
    cors = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, cors_allow_origins=("https://app.example.com",)), service))
    allowed = cors.options("/api/search", headers=preflight)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "GET" in allowed.headers["access-control-allow-methods"]
    other = cors.options("/api/search", headers={**preflight, "origin": "https://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = cors.get("/api/search", params={"q": "payments"}, headers={"origin": "https://app.example.com"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in simple.headers["access-control-expose-headers"]


# -- the page's URL root behind a REST stage -------------------------------------------------------------------

def test_the_page_is_relative_to_the_stage_it_is_served_under(service):
    from mangum import Mangum

    handler = Mangum(create_app(service.settings, service), lifespan="off")
    rest = handler(load_event("rest_api_v1.json", path="/", query={}), None)
    assert rest["statusCode"] == 200 and '<base href="/Prod/">' in rest["body"]
    http = handler(load_event("http_api_v2.json", path="/", query={}), None)
    assert '<base href="/">' in http["body"]
    assert 'src="http' not in http["body"] and 'href="http' not in http["body"]  # nothing from a CDN
    script = handler(load_event("http_api_v2.json", path="/static/app.js", query={}), None)
    assert script["statusCode"] == 200 and "javascript" in script["headers"]["content-type"]


def test_eval_modes_prints_the_table(model_dir, tmp_path):
    result = run_module("scripts.eval_modes", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--json", str(tmp_path / "f.json"), timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "f.json").read_text())
    assert set(figures) == {"neural", "text", "hybrid"}
    assert all(figures[mode]["titles"]["hits@1"] >= 0.99 for mode in figures)  # names are indexed and embedded
    assert all(figures[mode]["meaning"]["hits@5"] >= 0.75 for mode in figures)  # text mode finds by any of the words
    hybrid, neural = figures["hybrid"], figures["neural"]
    assert hybrid["meaning"]["hits@1"] >= neural["meaning"]["hits@1"]  # the tuned fusion (docs/quality.md#fusion)
    assert hybrid["titles typed part-way"]["hits@5"] >= 0.95 and hybrid["titles with a slip"]["hits@5"] >= 0.95  # near titles


def test_a_point_without_a_sparse_vector_is_still_found_by_neural(tmp_path):
    """Upserts without BM25 (a caller that does not compute it) keep working for dense search."""
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(4)
    storage.upsert([PointData(str(uuid.uuid4()), np.array([1, 0, 0, 0], np.float32), {"city": "x", "description": "d"})])
    assert len(storage.search(np.array([1, 0, 0, 0], np.float32), 1)) == 1
    storage.close()
