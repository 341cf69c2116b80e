"""One contract, two backends: the same behaviour tests on `EdgeStorage` (Qdrant Edge, Qdrant's
engine in-process) and on `ServerStorage` over qdrant-client's local mode (`QdrantClient(":memory:")`,
Qdrant's own Python implementation of the server API, passed in through the client factory), and on
a real Qdrant server when QDRANT_URL is set (the collection and backends: `tests.support.storage_cases`).
No model: small deterministic vectors and the real BM25 encoder. What a sync needs (listing,
deleting, deleted points leaving the scores) is in test_storage_sync.py; the same code over real
HTTP in test_server_mode.py; the two engines' answers on the real sample, in test_congruence.py;
text mode's tiers, pages and what a search sees beyond its page, in test_storage_search.py.
"""

from __future__ import annotations

import uuid

import pytest

from handler.common import CollectionMismatch, CollectionMissing, CollectionOutdated, PointNotFound, SparseMissing, StorageError
from handler.storage import FUSION, Bm25Encoder, EdgeStorage, Layout, PointData, SparseVector
from tests.support import storage_cases
from tests.support.storage_cases import DIM, TEXTS, city, dense, point_id, points

storage, loaded = storage_cases.storage, storage_cases.loaded  # the fixtures: a storage on each backend, empty or loaded


# -- the collection ---------------------------------------------------------------------------------------

def test_a_missing_collection(storage):
    assert storage.collection_info() is None
    with pytest.raises(CollectionMissing, match="scripts.upload"):
        storage.check_collection(DIM)


def test_create_then_exists(storage):
    assert storage.ensure_collection(DIM) is True
    assert storage.ensure_collection(DIM) is False
    info = storage.collection_info()
    assert (info.dim, info.distance, info.sparse) == (DIM, "Cosine", ("bm25",))
    assert storage.check_collection(DIM) == 0


def test_another_size_is_refused_never_recreated(loaded):
    with pytest.raises(CollectionMismatch, match="never recreated"):
        loaded.ensure_collection(DIM * 2)
    with pytest.raises(CollectionMismatch):
        loaded.check_collection(DIM * 2)
    assert loaded.count() == len(TEXTS)


def test_recreate_drops_and_creates(loaded):
    assert loaded.ensure_collection(DIM * 2, recreate=True) is True
    assert loaded.collection_info().dim == DIM * 2 and loaded.count() == 0


def test_upsert_is_idempotent_and_count_by_ids(loaded):
    loaded.upsert(points()[:3])
    assert loaded.count() == len(TEXTS)
    assert loaded.count([point_id(0), point_id(1), str(uuid.uuid4())]) == 2


def test_a_layout_is_a_servers(storage):
    if isinstance(storage, EdgeStorage):
        with pytest.raises(StorageError, match="one shard in one process"):
            storage.ensure_collection(DIM, layout=Layout(shards=2))
    else:
        assert storage.ensure_collection(DIM, layout=Layout(shards=2, replicas=1, defer_index=True)) is True


# -- searches -----------------------------------------------------------------------------------------------

def test_search_ranks_by_cosine_and_filters_by_city(loaded):
    hits = loaded.search(dense(3), 3)
    assert hits[0].id == point_id(3) and abs(hits[0].score - 1.0) < 1e-5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].payload["name"] == "Dosely"
    london = loaded.search(dense(3), 10, city("London"))
    assert {h.payload["city"] for h in london} == {"London"} and len(london) == 3
    assert loaded.search(dense(3), 5, city("Atlantis")) == []


def test_search_params_keep_the_answer(loaded):
    plain = [h.id for h in loaded.search(dense(5), 4)]
    assert [h.id for h in loaded.search(dense(5), 4, exact=True)] == plain
    assert [h.id for h in loaded.search(dense(5), 4, hnsw_ef=64)] == plain


def test_hybrid_fuses_both_lists_within_the_city(loaded):
    bm25 = Bm25Encoder()
    hits = loaded.hybrid_search(dense(0), bm25.query("delivery"), len(TEXTS))
    dense_rank = {h.id: rank for rank, h in enumerate(loaded.search(dense(0), len(TEXTS)))}
    k, w = FUSION.k, FUSION.words
    words = {h.id: h.score - 1 / (k + dense_rank[h.id]) for h in hits}  # what BM25 added: w / (k + its rank), or nothing
    delivery = {point_id(1), point_id(2), point_id(4)}  # the three texts with the word
    assert sorted(round(w / words[i]) for i in delivery) == [k, k + 1, k + 2]
    assert all(abs(words[i]) < 1e-9 for i in words if i not in delivery)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True) and all(h.payload for h in hits)
    berlin = loaded.hybrid_search(dense(0), bm25.query("delivery"), 5, city("Berlin"))
    assert {h.payload["city"] for h in berlin} == {"Berlin"} and len(berlin) == 3


def test_text_finds_any_word_ranked_by_bm25_within_the_city(loaded):
    hits = loaded.text_search("delivery", 10)
    assert {h.payload["name"] for h in hits} == {"Brewly", "Cargoo", "Eatwell"} and hits.all_words and hits.words
    assert all(h.score > 0 for h in hits) and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.payload["name"] for h in loaded.text_search("delivery", 10, city("Berlin"))} == {"Brewly", "Eatwell"}
    vegan = loaded.text_search("vegan delivery", 10)  # any of the words, the startup holding both first
    assert [h.payload["name"] for h in vegan][0] == "Eatwell" and {h.payload["name"] for h in vegan} == {"Brewly", "Cargoo", "Eatwell"}
    nothing = loaded.text_search("zeppelin", 10)
    assert nothing == [] and not nothing.words and not nothing.all_words


def test_similar_excludes_itself_filters_and_refuses_unknown_ids(loaded):
    hits = loaded.similar(point_id(2), 10)
    assert point_id(2) not in [h.id for h in hits] and len(hits) == len(TEXTS) - 1
    assert [h.id for h in hits] == [h.id for h in loaded.search(dense(2), len(TEXTS))][1:]
    assert {h.payload["city"] for h in loaded.similar(point_id(2), 10, city("Paris"))} == {"Paris"}
    with pytest.raises(PointNotFound):
        loaded.similar(str(uuid.uuid4()), 5)


def test_cities_are_counted_biggest_first(loaded):
    assert loaded.cities(10) == [("Berlin", 3), ("London", 3), ("Paris", 2)]
    assert loaded.cities(1) == [("Berlin", 3)]


def test_equal_scores_are_ordered_by_id_at_every_cut(storage):
    """Twelve points with one vector: the engine's own cut may take any of them, the answer may not."""
    storage.ensure_collection(DIM)
    same = dense(0)
    ids = [str(uuid.UUID(int=n)) for n in (97, 5, 61, 12, 33, 88, 41, 70, 2, 19, 54, 26)]
    storage.upsert([PointData(i, same, {"city": "x", "description": "same words here"}, Bm25Encoder().document("same words here")) for i in ids])
    storage.finish_upload()
    for limit in (1, 3, 5, 11):
        assert [h.id for h in storage.search(same, limit)] == sorted(ids)[:limit]
        assert [h.id for h in storage.hybrid_search(same, Bm25Encoder().query("words"), limit)] == sorted(ids)[:limit]


# -- a collection from before hybrid search ------------------------------------------------------------------

def dense_only(storage) -> None:
    """A collection as uploaded before hybrid search: the dense vector only."""
    if isinstance(storage, EdgeStorage):
        import qdrant_edge as q

        storage.root.mkdir(parents=True, exist_ok=True)
        q.EdgeShard.create(str(storage.shard_dir), q.EdgeConfig(vectors=q.EdgeVectorParams(size=DIM, distance=q.Distance.Cosine))).close()
    else:
        from qdrant_client import models

        storage._client.create_collection(storage.collection, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    storage.upsert([PointData(p.id, p.vector, p.payload) for p in points()])


def test_without_bm25_hybrid_is_refused_and_the_rest_works(storage):
    dense_only(storage)
    with pytest.raises(SparseMissing, match="--recreate"):
        storage.hybrid_search(dense(0), Bm25Encoder().query("delivery"), 5)
    with pytest.raises(SparseMissing, match="--recreate"):
        storage.ensure_collection(DIM)
    assert storage.search(dense(0), 1)[0].id == point_id(0)
    assert len(storage.text_search("delivery", 10)) == 3  # without BM25: the full-text match of every word, by id
    assert storage.words_found(Bm25Encoder().query("delivery")) is None  # cannot tell


def test_a_collection_from_before_names_were_indexed_is_outdated_until_an_upload_adds_the_index(loaded):
    """A collection lacking a payload index its schema needs (here: the name's full text, which an
    upload before names were indexed lacked) is outdated: the service refuses it at start (the
    check below), naming the index and the fix; an upload into it adds the index."""
    if isinstance(loaded, EdgeStorage):
        import qdrant_edge as q

        loaded._call("update", q.UpdateOperation.delete_field_index("name"))
    else:
        loaded._client.delete_payload_index(loaded.collection, "name")
    with pytest.raises(CollectionOutdated, match=r"lacks the payload index\(es\) name \(text\).*--sync"):
        loaded.check_layout()
    assert loaded.ensure_collection(DIM) is False  # what an upload does first: the index added
    loaded.check_layout()
    assert {h.payload["name"] for h in loaded.text_search("acme", 5)} == {"Acme"}


def test_a_sparse_vector_travels_as_its_own_type():
    vector = Bm25Encoder().document("delivery delivery bikes")
    assert isinstance(vector, SparseVector) and len(vector.indices) == len(vector.values) == 2
