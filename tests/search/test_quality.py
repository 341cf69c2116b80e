"""Search people trust, through the API on the real model and the real Qdrant Edge engine loaded
with the sample: text mode finds any of the words (every word first), weak matches are said,
pages are slices of one ranking, and the tutorial's demo frontend works out of the box."""

from __future__ import annotations

import re

import pytest

from handler.common import StartupError
from handler.search import SearchService
from handler.storage import read_records
from scripts.query_sets.startups import NONSENSE, OFF_TOPIC, REAL, TYPO
from tests.support.helpers import make_settings, run_module


def names(body: dict) -> list[str]:
    return [r["name"] for r in body["result"]]


def words_of(record: dict) -> set[str]:
    """The words of a record's text fields as Qdrant's word tokenizer sees them (lowercased)."""
    return {w.lower() for field in ("name", "alt", "description") for w in re.findall(r"[^\W_]+", record[field])}


def search(client, **params) -> dict:
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# -- text mode ------------------------------------------------------------------------------------------

def test_text_mode_finds_any_of_the_words(client):
    """'food delivery' used to find nothing (no description holds both words); now every startup
    holding either, ranked by BM25."""
    food, delivery = (search(client, q=word, mode="text", limit=100)["result"] for word in ("food", "delivery"))
    both = search(client, q="food delivery", mode="text", limit=100)
    assert len(food) >= 7 and len(delivery) >= 2
    assert {r["name"] for r in both["result"]} == {r["name"] for r in food + delivery}
    scores = [h["score"] for h in both["hits"]]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)  # nobody holds both: one BM25 ranking
    assert both["weak_match"] is True  # ... and so the match is said to be weak


def test_text_mode_puts_the_startups_holding_every_word_first(client):
    """On the sample, BM25 alone ranks first a startup that holds only one of the two words."""
    body = search(client, q="social network", mode="text", limit=100)
    holding = [{"social", "network"} <= words_of(r) for r in body["result"]]
    assert holding.count(True) >= 2 and holding.count(False) >= 2
    assert holding == sorted(holding, reverse=True)  # all of them first
    cut = holding.count(True)
    for group in (body["hits"][:cut], body["hits"][cut:]):  # each group by BM25 score
        assert [h["score"] for h in group] == sorted((h["score"] for h in group), reverse=True)
    assert body["weak_match"] is False


def test_the_demo_frontends_text_search_is_text_mode(client):
    demo = search(client, q="food delivery", neural="false", limit=20)
    plain = search(client, q="food delivery", mode="text", limit=20)
    assert demo["mode"] == "text" and [h["id"] for h in demo["hits"]] == [h["id"] for h in plain["hits"]]


# -- weak matches ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["neural", "hybrid"])
def test_weak_match_tells_real_queries_from_nonsense(client, mode):
    """The calibration sets of scripts/query_sets/startups.py, on the sample, with the calibration
    the upload measured: every real query and every typo that finds good answers gets a close match,
    every nonsense and off-topic query is said to be weak (docs/quality.md has the margins)."""
    said_weak = [q for q in REAL + TYPO if search(client, q=q, mode=mode)["weak_match"]]
    said_close = [q for q in NONSENSE + OFF_TOPIC if not search(client, q=q, mode=mode)["weak_match"]]
    assert said_weak == [] and said_close == []


def test_weak_match_in_text_mode_and_for_similar(client):
    nothing = search(client, q="qwxzv", mode="text")
    assert nothing["result"] == [] and nothing["weak_match"] is True
    assert search(client, q="hospital", mode="text")["weak_match"] is False  # startups hold the word
    assert search(client, q="fintech", city="Atlantis")["weak_match"] is True  # no startup at all in that city
    anchor = search(client, q="hospital")["hits"][0]["id"]
    assert client.get("/api/similar", params={"id": anchor}).json()["weak_match"] is False


# -- pages --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["hybrid", "neural", "text"])
def test_a_page_is_the_same_slice_of_a_longer_limit(client, mode):
    whole = search(client, q="software for small businesses", mode=mode, limit=100)
    assert len(whole["hits"]) > 50
    for offset, limit in ((0, 10), (10, 10), (35, 10), (40, 7), (95, 5)):  # hybrid's fused lists end near the 40th-80th
        page = search(client, q="software for small businesses", mode=mode, limit=limit, offset=offset)
        assert [h["id"] for h in page["hits"]] == [h["id"] for h in whole["hits"][offset:offset + limit]], (offset, limit)
        assert page["weak_match"] == whole["weak_match"]
    assert search(client, q="software", mode=mode, city="London", offset=100)["result"] == []


def test_similar_pages_too(client):
    anchor = search(client, q="QR codes for restaurants during COVID", mode="neural")["hits"][0]["id"]
    whole = client.get("/api/similar", params={"id": anchor, "limit": 30}).json()
    page = client.get("/api/similar", params={"id": anchor, "limit": 10, "offset": 20}).json()
    assert [h["id"] for h in page["hits"]] == [h["id"] for h in whole["hits"][20:30]]


@pytest.mark.parametrize("offset", ["-1", "101", "x", "1.5"])
def test_offset_is_bounded(client, offset):
    for path, params in (("/api/search", {"q": "apps"}), ("/api/similar", {"id": "4467450f-6634-57d6-95f0-d72772dafaff"})):
        response = client.get(path, params={**params, "offset": offset})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "offset"], path


def test_openapi_documents_offset_and_weak_match(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/search", "/api/similar"):
        assert "offset" in {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
    assert "weak_match" in spec["components"]["schemas"]["SearchResponse"]["required"]


# -- the tutorial's demo frontend ----------------------------------------------------------------------

def test_a_search_with_neural_gets_the_demo_field_names(client):
    for neural in ("true", "false"):
        body = search(client, q="payments", neural=neural)
        first, hit = body["result"][0], body["hits"][0]
        assert first["document"] == first["short_description"] == first["description"], neural
        assert first["logo_url"] == first["images"] and first["homepage_url"] == first["link"] and first["uuid"] == hit["id"]
    assert "logo_url" not in search(client, q="payments", mode="neural")["result"][0]  # without neural=: the plain shape


# -- the layout --------------------------------------------------------------------------------------------

def test_a_collection_of_an_earlier_version_is_refused_at_start_and_brought_up_to_date_by_a_sync(model_dir, sample_file, sample_vectors, tmp_path):
    """What an upload by an earlier version left: no full-text index on the name (before names were
    indexed), no folded copy of the city and no index on it (before keyword filters ignored case),
    no schema kept. The service refuses to start, naming the fix; `scripts.upload --sync` adds the
    indexes and rewrites the payloads alone (no vector changes); then a city filter ignores case."""
    import qdrant_edge as q

    env = {"QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""}
    upload = ["scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors)]
    assert run_module(*upload, env=env).returncode == 0
    shard = q.EdgeShard.load(str(tmp_path / "startups"))
    for index in ("name", "_folded.city"):
        shard.update(q.UpdateOperation.delete_field_index(index))
    shard.update(q.UpdateOperation.delete_payload_by_filter(q.Filter(must=[q.FieldCondition(key="city", match=q.MatchExcept([""]))]), ["_folded"]))
    shard.close()
    (tmp_path / "startups" / "collection.json").unlink()
    with pytest.raises(StartupError, match=r"lacks the payload index\(es\) name \(text\), _folded.city \(keyword\).*--sync"):
        SearchService.start(make_settings(model_dir, tmp_path))
    synced = run_module(*upload, "--sync", env=env)
    records, _ = read_records(sample_file)
    assert synced.returncode == 0 and f"0 added, {len(records)} updated ({len(records)} payload only), 0 unchanged, 0 deleted" in synced.stdout, synced.stderr
    service = SearchService.start(make_settings(model_dir, tmp_path))
    try:
        found = service.search("software", limit=10, city=" LONDON ", mode="neural")
        assert found.hits and {hit.payload["city"] for hit in found.hits} == {"London"}
    finally:
        service.storage.close()


# -- the calibration kept with the collection ---------------------------------------------------------------

def test_the_upload_keeps_a_calibration_measured_on_the_collection(service):
    from handler.search import Calibration
    from scripts.weak_calibration import PROBES

    kept = service.storage.metadata()[Calibration.KEY]
    calibration = Calibration.of(kept)
    assert calibration is not None and 0 < calibration.far < calibration.close < 1
    assert kept["probes"] == len(PROBES) and kept["variant"] == service.encoder.variant
    assert service.calibration == calibration


def test_without_a_calibration_weak_match_is_null_until_a_sync_measures_one(model_dir, sample_file, sample_vectors, tmp_path):
    """Uploaded with no model to calibrate with: neural and hybrid say null (not a guess); text
    mode still says whether some record holds every word. A --sync with the model measures it."""
    from fastapi.testclient import TestClient

    from handler.web import create_app

    env = {"QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""}
    bare = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--model-dir", str(tmp_path / "none"), env=env)
    assert bare.returncode == 0, bare.stderr
    assert "no model to calibrate weak_match with" in bare.stderr and "weak_match null" in bare.stderr

    def answers(mode: str, queries=("vegan food delivery", "qwxzv")):
        service = SearchService.start(make_settings(model_dir, tmp_path))
        try:
            with TestClient(create_app(service.settings, service)) as client:
                return [search(client, q=q, mode=mode)["weak_match"] for q in queries]
        finally:
            service.storage.close()

    assert answers("neural") == [None, None] and answers("hybrid") == [None, None]
    assert answers("text", ("hospital", "qwxzv")) == [False, True]
    synced = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--model-dir", str(model_dir), "--sync",
                        env=env)
    assert synced.returncode == 0, synced.stderr
    assert "weak_match calibrated on the collection" in synced.stderr
    assert answers("neural") == [False, True] and answers("hybrid") == [False, True]
