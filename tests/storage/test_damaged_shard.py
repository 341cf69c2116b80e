"""A damaged embedded shard that still opens is caught: /health compares the point count with the
one the upload recorded beside the shard and reads one stored point back (`EdgeStorage.damage`),
and a cosine score outside [-1, 1] is never served. The shard is real (Qdrant Edge), damaged on
disk as an unlucky operator's would be: points lost, vector pages overwritten. No model. (Before:
/health said ok, and neural search answered a score of 3.9e28.)"""

from __future__ import annotations

import pytest

from handler.common import StorageError
from handler.storage import EdgeStorage
from handler.storage.searches import cosines
from handler.storage.contract import Hit
from tests.support.storage_cases import DIM, dense, points


def written(tmp_path) -> EdgeStorage:
    """A shard as scripts.upload leaves it: the points, the index built, the count recorded."""
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(DIM)
    storage.upsert(points())
    storage.finish_upload()
    storage.record(points=storage.count())
    return storage


def test_a_sound_shard_has_no_damage(tmp_path):
    storage = written(tmp_path)
    assert storage.damage() is None
    storage.close()


def test_points_lost_under_the_recorded_count_are_damage(tmp_path):
    storage = written(tmp_path)
    storage.delete([points()[0].id, points()[1].id])  # lost without an upload recording it (a lost segment, a truncated id tracker)
    assert storage.damage() == f"the shard holds {len(points()) - 2} points, but {len(points())} were written to it; upload the collection again"
    storage.close()


def test_overwritten_vector_pages_are_damage_and_their_scores_never_served(tmp_path):
    written(tmp_path).close()
    segment = next((tmp_path / "startups" / "segments").iterdir())
    with open(segment / "vector_storage" / "vectors" / "chunk_0.mmap", "r+b") as chunk:
        chunk.write(b"\x70" * 1024)  # the first vectors' floats become ~1e29
    storage = EdgeStorage(tmp_path, "startups")
    assert "stored vector has norm" in storage.damage()
    with pytest.raises(StorageError, match="which no cosine can"):  # before: served with a score of 4.5e29
        storage.search(dense(0), 3)
    assert all(-1 <= hit.score <= 1 for hit in storage.similar(points()[5].id, 3))  # its own vector is damaged too: Qdrant scores 0
    storage.close()


def test_a_shard_without_a_recorded_count_is_read_back_only(tmp_path):
    """Shards written before the count was recorded: the point read back is still checked."""
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(DIM)
    storage.upsert(points())
    assert storage.damage() is None
    storage.close()


def test_cosines_pass_every_cosine_and_refuse_the_rest():
    assert cosines([Hit("a", 1.0000004), Hit("b", -1.0), Hit("c", 0.3)])
    for score in (3.9e28, float("nan"), -1.5):
        with pytest.raises(StorageError):
            cosines([Hit("a", score)])
