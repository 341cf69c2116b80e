"""Titles first, on both backends of the contract suite (`EdgeStorage`, and `ServerStorage` over
qdrant-client's local mode; a real server when QDRANT_URL is set), in a catalogue whose titles
collide as PyPI's do (`types-*`, `pytest-*`, `azure-storage-*`, two spellings of one key): a
query equal to a title, ignoring case, spaces and punctuation, puts that record first in hybrid
and text modes; a title typed part-way or with a slip is near it, right after. No model:
deterministic vectors (meaning that points nowhere in particular) and the real BM25 encoder."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from handler.common import parse_schema
from handler.storage import TITLE_SCORE, Bm25Encoder, Filters, PointData
from tests.support.storage_cases import BACKENDS, backend

SCHEMA = parse_schema({
    "collection": "packages", "key": "package", "title": "package", "embed": "{package}: {summary}",
    "fields": {"package": "text", "summary": "text", "released": "keyword?"},
}, "the test packages schema")
PACKAGES = [  # package, released, summary: every summary shares the words of the titles around it
    ("requests", "2024-05", "HTTP requests for humans"),
    ("types-requests", "2024-05", "typing stubs for requests"),
    ("types_requests", "2019-01", "old typing stubs for requests, another spelling"),
    ("types-requests-oauthlib", "2024-05", "typing stubs for requests oauthlib"),
    ("requests-toolbelt", "2023-11", "a toolbelt of utilities for python requests"),
    ("types-pyyaml", "2024-05", "typing stubs for pyyaml types"),
    ("pytest", "2024-09", "pytest: simple powerful testing with python"),
    ("pytest-cov", "2023-11", "pytest plugin for measuring coverage"),
    ("pytest-covers", "2020-02", "pytest plugin for cover pages"),
    ("pytest-asyncio", "2024-09", "pytest support for asyncio"),
    ("azure-storage-blob", "2024-05", "microsoft azure storage blob client library"),
    ("azure-storage-queue", "2024-05", "microsoft azure storage queue client library"),
    ("azure-storage-file-share", "2024-05", "microsoft azure storage file share client library"),
    ("google-cloud-storage", "2024-05", "google cloud storage api client library"),
    ("the-who", "2020-02", "the who and the what"),
]
DIM = 8


def vector(i: int) -> np.ndarray:
    v = np.random.default_rng(300 + i).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def point_of(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


@pytest.fixture(params=BACKENDS)
def loaded(request, tmp_path):
    store = backend(request.param, tmp_path, "packages", SCHEMA)
    store.ensure_collection(DIM)
    bm25 = Bm25Encoder()
    records = [{"package": package, "released": released, "summary": summary} for package, released, summary in PACKAGES]
    store.upsert([PointData(point_of(i), vector(i), SCHEMA.payload(r), bm25.record(SCHEMA, r)) for i, r in enumerate(records)])
    store.finish_upload()
    yield store
    if request.param == "real-server":
        store._drop()
    store.close()


def search(storage, mode: str, q: str, limit: int = 5, filters: Filters = Filters(), offset: int = 0):
    if mode == "text":
        return storage.text_search(q, limit, filters, offset=offset)
    return storage.hybrid_search(vector(99), Bm25Encoder().query(q), limit, filters, offset=offset, text=q)


def titles(hits) -> list[str]:
    return [hit.payload["package"] for hit in hits]


@pytest.mark.parametrize("mode", ["hybrid", "text"])
def test_a_query_equal_to_a_title_puts_it_first_ignoring_case_spaces_and_punctuation(loaded, mode):
    for q in ("pytest-cov", "PyTest Cov", "pytest_cov", "pytest.cov", "google-cloud-storage", "Google Cloud Storage", "azure/storage@blob", "requests"):
        hits = search(loaded, mode, q)
        key = q.lower().replace(" ", "").replace("_", "").replace(".", "").replace("-", "").replace("/", "").replace("@", "")
        assert titles(hits)[0].replace("-", "") == key, (q, titles(hits))
        assert hits.titled
        if mode == "hybrid":  # above every fused score
            assert hits[0].score >= TITLE_SCORE and all(hit.score < TITLE_SCORE for hit in hits if not hit.payload["package"].startswith(titles(hits)[0]))
        else:  # found by title, not ranked by BM25
            assert hits[0].score is None
    # two records share the key `typesrequests`: the one spelled as typed (but for case) first, then the other
    assert titles(search(loaded, mode, "types-requests"))[:2] == ["types-requests", "types_requests"]
    assert titles(search(loaded, mode, "TYPES_REQUESTS"))[:2] == ["types_requests", "types-requests"]


@pytest.mark.parametrize("mode", ["hybrid", "text"])
def test_a_title_typed_part_way_or_with_a_slip_is_in_the_top_5(loaded, mode):
    for q, title in [("azure-storage-bl", "azure-storage-blob"), ("google-cloud-sto", "google-cloud-storage"), ("types-requests-oau", "types-requests-oauthlib"),
                     ("pytset-cov", "pytest-cov"), ("azure-storage-blbo", "azure-storage-blob"), ("googel-cloud-storage", "google-cloud-storage"),
                     ("pytest-asyncoi", "pytest-asyncio")]:
        hits = search(loaded, mode, q)
        assert title in titles(hits), (q, titles(hits))
        assert hits.titled


@pytest.mark.parametrize("mode", ["hybrid", "text"])
def test_titles_keep_to_the_filters_and_pages_slice_one_ranking(loaded, mode):
    old = Filters.of({"released": ["2019-01"]})
    assert titles(search(loaded, mode, "types-requests", filters=old))[0] == "types_requests"  # the other spelling is filtered out
    assert "pytest-cov" not in titles(search(loaded, mode, "pytest-cov", filters=Filters.of({"released": ["2024-05"]})))
    whole = titles(search(loaded, mode, "pytest-cov", limit=8))
    assert [t for offset in range(0, 8, 2) for t in titles(search(loaded, mode, "pytest-cov", limit=2, offset=offset))] == whole


def test_a_title_of_stopwords_is_still_found_first_in_text_mode(loaded):
    """`the who` is all stopwords: BM25 cannot rank it, text mode matches its words by id, and the
    record titled so still comes first."""
    assert titles(loaded.text_search("The Who", 5))[0] == "the-who"


@pytest.mark.parametrize("mode", ["hybrid", "text"])
def test_a_query_like_no_title_gets_no_title_first(loaded, mode):
    hits = search(loaded, mode, "coverage plugin")
    assert not hits.titled and all(hit.score is not None for hit in hits)
    if mode == "hybrid":
        assert all(hit.score < TITLE_SCORE for hit in hits)
    assert not search(loaded, mode, "py").titled  # too short to begin a title: 3 characters at least
