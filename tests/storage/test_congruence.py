"""The two backends answer alike: the 259-record sample uploaded by `scripts.upload`'s own code into
Qdrant Edge and into qdrant-client's local mode (Qdrant's Python implementation of the server API,
behind `ServerStorage`), then the same queries in every mode, page by page, must give the same ids
in the same order, and see the same beyond the page (the signals of weak_match). Scores may differ
in the last float digits (float32 on one engine, float64 on the other)."""

from __future__ import annotations

import numpy as np
import pytest

from handler.model import Encoder
from handler.storage import NO_FILTERS, Bm25Encoder, EdgeStorage, read_records
from scripts.query_sets.startups import MEANING
from scripts.upload import load_embedded, upload
from tests.support.helpers import local_server
from tests.support.storage_cases import city as in_city

# no filter, two cities (one spelt as a user might), and two cities at once
CITIES = [NO_FILTERS, in_city("London"), in_city(" san FRANCISCO "), in_city("Berlin", "Paris")]


@pytest.fixture(scope="module")
def backends(sample_file, sample_vectors, tmp_path_factory):
    _, items, vectors = load_embedded(sample_file, sample_vectors)
    edge = EdgeStorage(tmp_path_factory.mktemp("congruence"), "startups")
    server = local_server()
    for storage in (edge, server):
        upload(storage, items, vectors)
    yield edge, server
    edge.close()
    server.close()


@pytest.fixture(scope="module")
def queries(sample_file):
    records, _ = read_records(sample_file)
    names = [r.data["name"] for r in records[::7]]
    words = ["food delivery", "hospital", "payments", "machine learning", "app", "the", "data analytics platform", "qwxzv", "🍕🚀",
             "for the people", "e-commerce fashion", "NowBoarding flights", "доставка еды"]
    return [q for q, _ in MEANING] + names + words


def same(a, b) -> bool:
    """The same page on both engines: ids in order, and what each saw beyond it."""
    nearest = a.nearest == b.nearest or (a.nearest is not None and b.nearest is not None and abs(a.nearest - b.nearest) < 1e-6)
    return [h.id for h in a] == [h.id for h in b] and nearest and (a.words, a.all_words) == (b.words, b.all_words)


def test_every_mode_gives_the_same_answer_on_both_engines(backends, queries, model_dir):
    edge, server = backends
    encoder = Encoder.from_export(model_dir, verify="size")
    bm25 = Bm25Encoder()
    vectors = encoder.embed(queries)
    compared = {"neural": 0, "hybrid": 0, "text": 0, "similar": 0}
    for query, vector in zip(queries, vectors):
        sparse = bm25.query(query)
        for city in CITIES:
            for limit, offset in ((5, 0), (20, 0), (5, 5), (10, 35)):  # the last page crosses the end of hybrid's fused lists
                assert same(edge.search(vector, limit, city, offset=offset), server.search(vector, limit, city, offset=offset)), (query, city, offset)
                assert same(edge.hybrid_search(vector, sparse, limit, city, offset=offset),
                            server.hybrid_search(vector, sparse, limit, city, offset=offset)), (query, city, offset)
                assert same(edge.text_search(query, limit, city, sparse=sparse, offset=offset),
                            server.text_search(query, limit, city, sparse=sparse, offset=offset)), (query, city, offset)
                compared["neural"] += 1
                compared["hybrid"] += 1
                compared["text"] += 1
            assert edge.words_found(sparse, city) == server.words_found(sparse, city), (query, city)
    for anchor in [h.id for h in edge.search(vectors[0], 10)]:
        for city in CITIES:
            for offset in (0, 5):
                assert same(edge.similar(anchor, 10, city, offset=offset), server.similar(anchor, 10, city, offset=offset))
                compared["similar"] += 1
    assert edge.cities(1000) == server.cities(1000) and edge.cities(3) == server.cities(3)
    print(f"identical answers on both engines: {compared}, cities")


def test_scores_agree_to_float_precision(backends, model_dir):
    edge, server = backends
    vector = Encoder.from_export(model_dir, verify="size").embed_one("software for hospitals")
    assert np.allclose([h.score for h in edge.search(vector, 20)], [h.score for h in server.search(vector, 20)], atol=1e-6)
