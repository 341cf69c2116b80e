"""The query-vector cache (`handler.search.query_cache`): bounded in entries and bytes, least recently
used out first, off at 0; in the service, a repeated query skips the model and answers the same."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from handler.search import QueryCache, SearchRequest
from handler.web.runners import Worker


def vector(value: float) -> np.ndarray:
    return np.full(384, value, dtype=np.float32)


def test_least_recently_used_goes_first():
    cache = QueryCache(2)
    cache.put("int8", "a", vector(1))
    cache.put("int8", "b", vector(2))
    assert cache.get("int8", "a")[0] == 1  # a is now the most recent
    cache.put("int8", "c", vector(3))
    assert cache.get("int8", "b") is None and cache.get("int8", "a") is not None and len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 1)


def test_a_vector_belongs_to_its_variant_and_cannot_be_changed_by_a_caller():
    cache = QueryCache(4)
    original = vector(1)
    cache.put("int8", "a", original)
    original[0] = 9  # the caller's array: the cache holds a copy
    assert cache.get("fp32", "a") is None
    kept = cache.get("int8", "a")
    assert kept[0] == 1
    with pytest.raises(ValueError):
        kept[0] = 5


def test_bytes_are_bounded_whatever_the_entries():
    cache = QueryCache(10_000, max_bytes=20_000)
    for i in range(100):
        cache.put("int8", f"query {i} " + "x" * 500, vector(i))
    assert cache.bytes <= 20_000 and 0 < len(cache) < 10
    cache.put("int8", "y" * 10_000, vector(0))  # larger than the whole budget: not kept
    assert cache.get("int8", "y" * 10_000) is None and cache.bytes <= 20_000


def test_zero_is_off():
    cache = QueryCache(0)
    cache.put("int8", "a", vector(1))
    assert cache.get("int8", "a") is None and len(cache) == 0


class CountingEncoder:
    """Wraps the real encoder and counts its single-query calls."""

    def __init__(self, encoder) -> None:
        self.encoder, self.calls = encoder, 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def embed_one(self, text, **kwargs):
        self.calls += 1
        return self.encoder.embed_one(text, **kwargs)

    def embed(self, texts, **kwargs):
        self.calls += len(texts)
        return self.encoder.embed(texts, **kwargs)


@pytest.mark.parametrize("size", [0, 64])
def test_a_repeated_query_skips_the_model_and_answers_the_same(service, size):
    from handler.search import SearchService

    counting = CountingEncoder(service.encoder)
    cached = SearchService(dataclasses.replace(service.settings, query_cache_size=size), counting, service.storage)
    first = cached.search("vegan food delivery", limit=5, city=None, mode="hybrid")
    again = cached.search("vegan food delivery", limit=5, city=None, mode="neural")
    assert counting.calls == (2 if size == 0 else 1)
    assert [h.id for h in again.hits] == [h.id for h in service.search("vegan food delivery", limit=5, city=None, mode="neural").hits]
    assert first.hits
    worker = Worker(cached, timeout=10)
    asyncio.run(worker.run(SearchRequest("vegan food delivery", mode="neural")))
    asyncio.run(worker.run(SearchRequest("a new query for the worker", mode="neural")))
    asyncio.run(worker.run(SearchRequest("a new query for the worker", mode="neural")))
    worker.close()
    assert counting.calls == (5 if size == 0 else 2)


def test_a_query_cache_that_fails_never_fails_an_answer():
    """The service puts each vector in the query cache before it answers; a cache that raises costs
    a model call later, never the answer (a STAND-IN encoder: the cache is what is tested)."""
    from handler.search import SearchService
    from tests.support.helpers import make_settings

    class Encoder:
        variant = "stand-in"

        def embed(self, texts, **_):
            return np.ones((len(texts), 2), np.float32)

        def embed_one(self, text, **_):
            return np.ones(2, np.float32)

    class BrokenCache:
        def get(self, variant, text):
            return None

        def put(self, variant, text, vector):
            raise RuntimeError("the cache broke")

    service = SearchService(make_settings("model", "qdrant"), Encoder(), storage=None)
    service.cache = BrokenCache()
    assert service.embed_queries(["one", "two"]).shape == (2, 2) and service.embed_queries(["three"]).shape == (1, 2)
