"""What a sync (scripts.sync, `scripts.upload --sync`) needs of the storage, on every backend of the
contract suite (`tests.support.storage_cases`): listing every point as stored, deleting, and deleted or
replaced points leaving no trace in the scores (BM25's IDF) once the upload is finished."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from handler.common import PointNotFound
from handler.storage import Bm25Encoder, EdgeStorage, Nearest, PointData
from tests.support import storage_cases
from tests.support.storage_cases import DIM, TEXTS, another, dense, point_id, points

storage, loaded = storage_cases.storage, storage_cases.loaded  # the fixtures: a storage on each backend, empty or loaded


def test_points_lists_every_point_as_stored_page_by_page(loaded):
    stored = list(loaded.points(page=3))
    expected = {p.id: p for p in points()}
    assert [p.id for p in stored] == sorted(expected)  # id order, each once, across pages
    for point in stored:
        assert point.payload == expected[point.id].payload
        assert np.abs(point.vector - expected[point.id].vector).max() < 1e-6
        assert point.sparse.indices == expected[point.id].sparse.indices
        assert point.sparse.values == pytest.approx(expected[point.id].sparse.values, rel=1e-6)


def test_points_of_an_empty_collection(storage):
    storage.ensure_collection(DIM)
    assert list(storage.points()) == []


def test_delete_removes_points_from_every_answer(loaded):
    gone = [point_id(1), point_id(4)]  # Brewly and Eatwell: Berlin, both with "delivery"
    loaded.delete([*gone, str(uuid.uuid4())])  # an unknown id is no error
    loaded.delete([])
    loaded.finish_upload()
    assert loaded.count() == len(TEXTS) - 2 and loaded.count(gone) == 0
    assert sorted(p.id for p in loaded.points()) == sorted(set(p.id for p in points()) - set(gone))
    assert {h.payload["name"] for h in loaded.text_search("delivery", 10)} == {"Cargoo"}
    assert not set(gone) & {h.id for h in loaded.search(dense(1), len(TEXTS))}
    assert loaded.cities(10) == [("London", 3), ("Paris", 2), ("Berlin", 1)]
    with pytest.raises(PointNotFound):
        loaded.similar(point_id(1), 5)


def test_deleted_and_replaced_points_leave_bm25s_idf(loaded, tmp_path):
    """After deletes and an in-place update, finish_upload() leaves a collection that scores as a
    fresh load of the same points: Qdrant counts deleted points in BM25's IDF until their segment
    is vacuumed (Qdrant Edge: the shard's vacuum thresholds; local mode: live statistics)."""
    final = [p for p in points() if p.id not in (point_id(1), point_id(6))]
    changed = PointData(point_id(3), dense(30), {"name": "Dosely", "city": "Paris", "description": "delivery of medication"},
                        Bm25Encoder().document("Dosely. delivery of medication"))
    final = [changed if p.id == changed.id else p for p in final]
    loaded.delete([point_id(1), point_id(6)])
    loaded.upsert([changed])
    loaded.finish_upload()
    fresh = another(loaded, tmp_path)
    try:
        fresh.ensure_collection(DIM)
        fresh.upsert(final)
        fresh.finish_upload()
        bm25 = Bm25Encoder()

        def same(a: list, b: list) -> bool:  # two fresh loads differ by float32 rounding (Qdrant Edge's sums vary in order)
            return [h.id for h in a] == [h.id for h in b] and [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-6)

        for words in ("delivery", "city bike", "small businesses payments", "medication"):
            for limit in (1, 3, 6):
                assert same(loaded.hybrid_search(dense(2), bm25.query(words), limit), fresh.hybrid_search(dense(2), bm25.query(words), limit)), words
            sparse = Nearest(bm25.query(words), len(TEXTS), with_payload=False)
            assert same(loaded._ranked(sparse), fresh._ranked(sparse)), words
            text, again = loaded.text_search(words, 10), fresh.text_search(words, 10)
            assert same(text, again) and [h.payload for h in text] == [h.payload for h in again], words
        assert loaded.cities(10) == fresh.cities(10)
    finally:
        if fresh.collection_info() is not None and not isinstance(fresh, EdgeStorage):
            fresh._drop()
        fresh.close()
