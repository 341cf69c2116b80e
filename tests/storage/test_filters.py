"""A catalogue of another schema on both backends of the contract suite (`EdgeStorage`, and
`ServerStorage` over qdrant-client's local mode; a real server when QDRANT_URL is set): keyword
filters ignoring case and surrounding spaces, any of several values, integer and float ranges with
nulls left out, every filter combined with AND, the facet of each keyword (the stored spelling,
biggest first, ties by value), and a collection that keeps its schema and refuses another. No
model: deterministic vectors and the real BM25 encoder."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from handler.common import CollectionOutdated, SchemaMismatch, parse_schema
from handler.storage import Bm25Encoder, EdgeStorage, Filters, PointData, payload_indexes
from tests.support.storage_cases import BACKENDS, backend

SCHEMA = parse_schema({
    "collection": "packages", "key": "package", "title": "package", "embed": "{package}: {summary}",
    "fields": {"package": "text", "summary": "text", "released": "keyword?", "downloads_rank": "integer?", "stars": "float?"},
}, "the test packages schema")
PACKAGES = [  # package, released, downloads_rank, stars, summary
    ("requests", "2024-05", 4, 4.8, "HTTP for humans"),
    ("httpx", "2024-05", 90, 4.6, "a next generation HTTP client"),
    ("urllib3", " 2024-05 ", 2, None, "HTTP library with thread-safe connection pooling"),
    ("aiohttp", "2023-11", 30, 4.1, "async HTTP client and server"),
    ("pytest-cov", "2023-11", 60, None, "coverage plugin for pytest"),
    ("pytest", "2024-09", 12, 4.9, "simple powerful testing with Python"),
    ("tomli", None, None, 3.2, "a lil' TOML parser"),
    ("obscure-http", "2019-01", None, None, "an HTTP toy"),
]
DIM = 8


def vector(i: int) -> np.ndarray:
    v = np.random.default_rng(100 + i).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def points() -> list[PointData]:
    bm25 = Bm25Encoder()
    found = []
    for i, (package, released, rank, stars, summary) in enumerate(PACKAGES):
        record = {"package": package, "summary": summary, "released": released, "downloads_rank": rank, "stars": stars}
        found.append(PointData(str(uuid.UUID(int=i + 1)), vector(i), SCHEMA.payload(record), bm25.document(SCHEMA.indexed_text(record))))
    return found


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path):
    store = backend(request.param, tmp_path, "packages", SCHEMA)
    store.ensure_collection(DIM)
    store.upsert(points())
    store.finish_upload()
    yield store
    if request.param == "real-server":
        store._drop()
    store.close()


def names(hits) -> set[str]:
    return {hit.payload["package"] for hit in hits}


def test_the_collection_has_the_schemas_indexes_and_keeps_the_schema(storage):
    have, metadata = storage._layout()
    assert payload_indexes(SCHEMA) == {"package": "text", "summary": "text", "released": "keyword", "_folded.released": "keyword", "_folded._title": "keyword",
                                       "downloads_rank": "integer", "stars": "float"}
    assert all(have.get(name) == kind for name, kind in payload_indexes(SCHEMA).items())
    assert metadata["schema"] == SCHEMA.fingerprint()
    storage.check_layout()


def test_a_keyword_filter_ignores_case_and_spaces_and_takes_any_of_several(storage):
    may = Filters.of({"released": [" 2024-05"]})
    assert names(storage.search(vector(0), 10, may)) == {"requests", "httpx", "urllib3"}
    assert names(storage.search(vector(0), 10, Filters.of({"released": ["2024-05", "2023-11"]}))) == {"requests", "httpx", "urllib3", "aiohttp", "pytest-cov"}
    assert storage.search(vector(0), 10, Filters.of({"released": ["1999-01"]})) == []


def test_ranges_are_inclusive_and_leave_out_records_without_a_value(storage):
    top = Filters.of(ranges={"downloads_rank": (1, 12)})
    assert names(storage.search(vector(0), 10, top)) == {"requests", "urllib3", "pytest"}
    assert names(storage.search(vector(0), 10, Filters.of(ranges={"downloads_rank": (None, 4)}))) == {"requests", "urllib3"}
    assert names(storage.search(vector(0), 10, Filters.of(ranges={"stars": (4.6, None)}))) == {"requests", "httpx", "pytest"}


def test_every_filter_is_combined_with_and_in_every_search(storage):
    both = Filters.of({"released": ["2024-05"]}, {"downloads_rank": (1, 50)})
    assert names(storage.search(vector(1), 10, both)) == {"requests", "urllib3"}
    sparse = Bm25Encoder().query("http")
    assert names(storage.hybrid_search(vector(1), sparse, 10, both)) == {"requests", "urllib3"}
    assert names(storage.text_search("http", 10, both)) == {"requests", "urllib3"}
    assert names(storage.similar(str(uuid.UUID(int=2)), 10, both)) == {"requests", "urllib3"}
    assert storage.words_found(Bm25Encoder().query("toml"), both) is False and storage.words_found(Bm25Encoder().query("toml")) is True


def test_facets_count_the_stored_spelling_biggest_first_then_by_value(storage):
    assert storage.facet("released", 10) == [("2023-11", 2), ("2024-05", 2), (" 2024-05 ", 1), ("2019-01", 1), ("2024-09", 1)]
    assert storage.facet("released", 2) == [("2023-11", 2), ("2024-05", 2)]


def test_a_collection_of_another_schema_is_refused_naming_the_fields(storage):
    other = parse_schema({"title": "package", "fields": {"package": "text", "summary": "text", "released": "integer?"}}, "another schema")
    storage.schema = other
    with pytest.raises(SchemaMismatch, match=r"another schema \(downloads_rank: absent here, integer\? there; released: integer\? here, keyword\? there;"):
        storage.check_layout()
    with pytest.raises(SchemaMismatch):
        storage.ensure_collection(DIM)


def test_a_collection_lacking_an_index_is_outdated_and_an_upload_adds_it(storage):
    storage._write_metadata({})  # as an earlier version left it: no schema kept
    if isinstance(storage, EdgeStorage):
        import qdrant_edge as q

        storage._call("update", q.UpdateOperation.delete_field_index("_folded.released"))
    else:
        storage._client.delete_payload_index(storage.collection, "_folded.released")
    with pytest.raises(CollectionOutdated, match=r"_folded.released \(keyword\).*--sync"):
        storage.check_layout()
    assert storage.ensure_collection(DIM) is False  # what an upload does first
    storage.check_layout()
    assert storage.metadata()["schema"] == SCHEMA.fingerprint()
