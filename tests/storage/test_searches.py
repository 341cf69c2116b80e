"""The searches' finer points, on both backends of the contract suite (`tests.support.storage_cases`:
its collection of eight small texts, on `EdgeStorage` and on `ServerStorage` over qdrant-client's
local mode): text mode's tiers and its stopword fallback, pages as slices of a longer limit, the
hybrid ranking past its fused lists, and what a search saw beyond its page (weak_match's signals)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handler.storage import Bm25Encoder, EdgeStorage, Fusion, PointData
from tests.support import storage_cases as contract
from tests.support.storage_cases import city
from tests.support.helpers import local_server

TEXTS, dense, point_id = contract.TEXTS, contract.dense, contract.point_id


@pytest.fixture(params=["edge", "server"])
def loaded(request, tmp_path):
    storage = EdgeStorage(tmp_path, "startups") if request.param == "edge" else local_server()
    storage.ensure_collection(contract.DIM)
    storage.upsert(contract.points())
    storage.finish_upload()
    yield storage
    storage.close()


def test_text_puts_the_records_holding_every_word_first_even_with_a_lower_bm25_score(loaded):
    """A long description holding both words scores lower in BM25 than short ones holding one of
    them, yet comes first: each word is in one of the text fields (here one in the name)."""
    long_one = PointData(point_id(50), dense(50), {"name": "Rocketfreight", "city": "Oslo", "description": "freight " + "lorem " * 1000},
                         Bm25Encoder().document("Rocketfreight. freight " + "lorem " * 1000))
    loaded.upsert([long_one])
    apart = loaded.text_search("rocketfreight cargo", 10)  # nobody holds both: BM25 alone, the short text first
    assert [h.payload["name"] for h in apart] == ["Cargoo", "Rocketfreight"] and apart.all_words is False
    both = loaded.text_search("rocketfreight freight", 10)  # one word in the name, one in the description
    assert [h.payload["name"] for h in both] == ["Rocketfreight", "Cargoo"] and both.all_words
    mixed = loaded.text_search("freight rockets", 10)  # nobody holds both: the short texts first
    assert [h.payload["name"] for h in mixed][-1] == "Rocketfreight"
    loaded.upsert([replace(long_one, payload={**long_one.payload, "description": "freight rockets " + "lorem " * 1000},
                           sparse=Bm25Encoder().document("Rocketfreight. freight rockets " + "lorem " * 1000))])
    mixed = loaded.text_search("freight rockets", 10)  # now it holds both: first, though its BM25 score is the lowest
    assert [h.payload["name"] for h in mixed][0] == "Rocketfreight" and mixed[0].score < min(h.score for h in mixed[1:])


def test_text_of_stopwords_alone_is_a_full_text_match_by_id(loaded):
    hits = loaded.text_search("for", 10)  # a stopword: BM25 cannot rank it; every text holding it, by point id
    assert {h.payload["name"] for h in hits} == {"Acme", "Dosely", "Finch", "Gridly"} and [h.id for h in hits] == sorted(h.id for h in hits)
    assert all(h.score is None for h in hits) and hits.all_words
    assert [h.id for h in loaded.text_search("for", 2, offset=1)] == [h.id for h in hits[1:3]]
    assert loaded.text_search("for the", 10) == []  # no text holds both
    assert loaded.text_search("🍕🚀", 10) == []


def test_a_page_is_the_same_slice_of_a_longer_limit(loaded):
    bm25 = Bm25Encoder()
    searches = {
        "neural": lambda limit, offset=0: loaded.search(dense(1), limit, offset=offset),
        "hybrid": lambda limit, offset=0: loaded.hybrid_search(dense(1), bm25.query("delivery city"), limit, offset=offset),
        "similar": lambda limit, offset=0: loaded.similar(point_id(1), limit, offset=offset),
        "text": lambda limit, offset=0: loaded.text_search("delivery city bike", limit, offset=offset),
    }
    for mode, search in searches.items():
        whole = search(len(TEXTS))
        for offset, limit in ((0, 3), (2, 3), (3, 2), (5, 5), (len(TEXTS), 2)):
            page = search(limit, offset)
            assert [h.id for h in page] == [h.id for h in whole[offset:offset + limit]], (mode, offset, limit)
            assert [h.score for h in page] == pytest.approx([h.score for h in whole[offset:offset + limit]], abs=1e-6), mode
            assert all(h.payload.get("name") for h in page), mode
            assert page.nearest == pytest.approx(whole.nearest, abs=1e-6) and page.words == whole.words, mode  # what was seen beyond the page: the whole ranking's


def test_hybrid_goes_on_by_the_dense_list_past_the_fused_lists(loaded, monkeypatch):
    """With lists of 2 candidates, the fused ranking holds at most 4 points; the rest follow in
    dense order, scored as their rank would be in the lighter list, below every fused score."""
    fusion = Fusion("rrf", 60, 2)
    monkeypatch.setattr(loaded, "fusion", fusion)
    bm25 = Bm25Encoder()
    dense_order = [h.id for h in loaded.search(dense(6), len(TEXTS))]
    hits = loaded.hybrid_search(dense(6), bm25.query("delivery"), len(TEXTS))
    fused = {h.id for h in hits if h.score > min(1, fusion.words) / (60 + 2) + 1e-12}  # the fused: at least that over (60 + 1)
    assert len(hits) == len(TEXTS) and fused >= set(dense_order[:2])
    assert [h.id for h in hits[len(fused):]] == [i for i in dense_order if i not in fused]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for offset in range(len(TEXTS)):
        assert [h.id for h in loaded.hybrid_search(dense(6), bm25.query("delivery"), 2, offset=offset)] == [h.id for h in hits[offset:offset + 2]]


def test_what_a_search_saw_beyond_its_page(loaded):
    near = loaded.search(dense(2), 1)
    assert abs(near.nearest - 1.0) < 1e-5 and near.words is None
    bm25 = Bm25Encoder()
    assert loaded.hybrid_search(dense(2), bm25.query("cargo"), 1).words is True
    assert loaded.hybrid_search(dense(2), bm25.query("zeppelin"), 1).words is False
    assert loaded.hybrid_search(dense(2), bm25.query("🍕"), 1).words is False
    assert loaded.words_found(bm25.query("zeppelin cargo")) is True and loaded.words_found(bm25.query("zeppelin")) is False
    assert loaded.words_found(bm25.query("cargo"), city("Paris")) is False  # within the city
