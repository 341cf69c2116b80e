"""The search service on the real embedded Qdrant Edge engine loaded with the startups sample."""

from __future__ import annotations

import json
import logging

import pytest


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
    assert set(body) == {"result", "hits", "mode", "weak_match"} and body["weak_match"] is False  # no timings: TIMING_DETAILS is off
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
        # a text no other test asks: the session's query cache would answer a repeated one in ~0.003 ms, logged as 0.0
        client.get("/api/search", params={"q": "payments for the log line", "city": "Chicago"}, headers={"x-request-id": "abc123"})
    finally:
        logging.getLogger("handler").removeHandler(handler)
    lines = [json.loads(r.getMessage()) for r in records]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "request" and line["status"] == 200 and line["request_id"] == "abc123"
    assert line["embed_ms"] > 0 and line["search_ms"] > 0 and line["total_ms"] >= line["embed_ms"]
    assert "payments" not in json.dumps(line)  # the query text itself is not logged
    cached = []
    logging.getLogger("handler").addHandler(handler)
    handler.emit = cached.append
    try:  # the same text again: the cache's answer, its embed time near zero but still said
        client.get("/api/search", params={"q": "payments for the log line", "city": "Chicago"})
    finally:
        logging.getLogger("handler").removeHandler(handler)
    again = json.loads(cached[0].getMessage())
    assert again["status"] == 200 and 0 <= again["embed_ms"] < line["embed_ms"]


# -- errors ---------------------------------------------------------------------------------------


