"""`scripts.upload --sync` touches only what changed: each point carries its content hash
(scripts/sync.py), so a sync reads back each stored point's id and hash, never an unchanged
point's vectors or payload, and writes only the changed ones; a collection written before the
hashes (an earlier version) is read back in full once, said so, and gets them. Counted on the
real storage (Qdrant Edge, and qdrant-client's local mode behind ServerStorage), no model: small
deterministic vectors stand in for embeddings."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from handler.common import FOLDED, load_schema
from handler.storage import Bm25Encoder, PointData, SparseVector
from scripts.sync import HASH, Hasher, SyncRules, without_hash
from scripts.upload import upload
from tests.support import storage_cases

DIM = 8
COUNT = 30


@pytest.fixture(params=["edge", "server"])
def make_storage(request, tmp_path):
    """A storage factory on one backend: a collection of that name (each in memory for local mode)."""
    made = []

    def make(collection: str = "startups"):
        made.append(storage_cases.backend(request.param, tmp_path, collection))
        return made[-1]

    yield make
    for store in made:
        store.close()


def records(sample_file) -> list[dict]:
    return [json.loads(line) for line in sample_file.read_text().splitlines()[:COUNT]]


def vector_of(record: dict) -> np.ndarray:
    """A deterministic stand-in for the record's embedding (its embedded text's hash as the seed)."""
    seed = int.from_bytes(load_schema().embed_text(record).encode()[:8].ljust(8, b"\0"), "little") ^ len(load_schema().embed_text(record))
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


class Counting:
    """Counts what a sync reads back and writes, on the real storage underneath."""

    def __init__(self, storage) -> None:
        self.storage, self.read_in_full, self.written, self.deleted = storage, [], [], []
        retrieve, scroll, upsert, delete = storage._retrieve, storage._scroll_page, storage.upsert, storage.delete

        def counted_retrieve(ids, *, payload, vectors):
            found = retrieve(ids, payload=payload, vectors=vectors)
            if vectors or payload is True:
                self.read_in_full.extend(str(r.id) for r in found)
            return found

        def counted_scroll(offset, limit, flt=None, *, vectors, payload=True):
            found, next_offset = scroll(offset, limit, flt, vectors=vectors, payload=payload)
            if vectors or payload is True:
                self.read_in_full.extend(str(r.id) for r in found)
            return found, next_offset

        def counted_upsert(points):
            self.written.extend(p.id for p in points)
            upsert(points)

        def counted_delete(ids):
            self.deleted.extend(ids)
            delete(ids)

        storage._retrieve, storage._scroll_page, storage.upsert, storage.delete = counted_retrieve, counted_scroll, counted_upsert, counted_delete


def load(storage, data: list[dict], *, sync: bool = False, id_field: str | None = None) -> dict:
    items = [(line, record) for line, record in enumerate(data, start=1)]
    return upload(storage, items, np.stack([vector_of(r) for r in data]), schema=load_schema(), id_field=id_field,
                  sync=SyncRules() if sync else None)


def assert_same_points(storage, fresh) -> None:
    """The same ids, payloads (hashes included) and BM25 indices; numbers to float32 rounding
    (local mode normalizes a rewritten point's vector in float64)."""
    a, b = ({p.id: p for p in store.points()} for store in (storage, fresh))
    assert sorted(a) == sorted(b)
    for pid, point in a.items():
        other = b[pid]
        assert point.payload == other.payload and point.sparse.indices == other.sparse.indices
        assert np.allclose(point.vector, other.vector, atol=1e-6) and np.allclose(point.sparse.values, other.sparse.values, rtol=1e-6)


def test_a_sync_reads_back_and_writes_only_the_changed_points(make_storage, sample_file):
    data = records(sample_file)
    storage = make_storage()
    load(storage, data, id_field="name")
    changed = [dict(r) for r in data]
    changed[3]["description"] += " Now with AI."  # its vectors and payload change
    changed[7]["city"] = "Atlantis"  # its payload alone
    del changed[11]
    changed.append({**data[0], "name": data[0]["name"] + " 2"})
    counting = Counting(storage)
    result = load(storage, changed, sync=True, id_field="name")
    plan = result["plan"]
    assert plan.counts() == f"1 added, 2 updated (1 payload only), {COUNT - 3} unchanged, 1 deleted"
    assert counting.read_in_full == [] and plan.read_back == 0  # ids and hashes only
    by_name = {r["name"]: i for i, r in enumerate(changed)}
    written = {p.payload["name"] for p in plan.writes}
    assert written == {changed[3]["name"], changed[7]["name"], changed[-1]["name"]} and len(counting.written) == 3
    assert len(counting.deleted) == 1 and by_name.get(data[11]["name"]) is None

    fresh = make_storage("fresh")
    load(fresh, changed, id_field="name")
    assert_same_points(storage, fresh)  # the synced collection holds what a fresh load does, hashes included
    again = Counting(storage)
    assert load(storage, changed, sync=True, id_field="name")["plan"].counts() == f"0 added, 0 updated (0 payload only), {COUNT} unchanged, 0 deleted"
    assert again.read_in_full == again.written == again.deleted == []


def test_a_collection_without_hashes_is_read_back_in_full_once_and_gets_them(make_storage, sample_file):
    """As an earlier version wrote it: the same points, no hash in their payloads."""
    data = records(sample_file)
    storage = make_storage()
    load(storage, data, id_field="name")
    old = [PointData(p.id, p.vector, without_hash(p.payload), p.sparse) for p in storage.points()]
    assert all(HASH not in p.payload.get(FOLDED, {}) for p in old)
    storage.upsert(old)  # the same points, their hashes gone
    storage.finish_upload()
    changed = [dict(r) for r in data]
    changed[5]["city"] = "Atlantis"
    del changed[9]

    counting = Counting(storage)
    plan = load(storage, changed, sync=True, id_field="name")["plan"]
    assert plan.counts() == f"0 added, 1 updated (1 payload only), {COUNT - 2} unchanged, 1 deleted"
    assert plan.read_back == COUNT - 1 and sorted(counting.read_in_full) == sorted(p.id for p in old if p.payload["name"] != data[9]["name"])
    assert len(plan.hashed) == COUNT - 2 and len(counting.written) == COUNT - 1  # the unchanged get their hash, the moved one its city
    assert "have no content hash (written by an earlier version): read back in full" in plan.legacy()
    fresh = make_storage("fresh")
    load(fresh, changed, id_field="name")
    assert_same_points(storage, fresh)

    again = Counting(storage)
    plan = load(storage, changed, sync=True, id_field="name")["plan"]
    assert plan.read_back == 0 and plan.legacy() is None and again.read_in_full == again.written == []


def test_the_hash_changes_with_each_part_of_a_point(sample_file):
    """The vectors' half follows the dense vector and what BM25 reads (the indexed text, the title,
    the encoder's numbers); the payload's half every payload field, even one nothing indexes."""
    schema, bm25 = load_schema(), Bm25Encoder()
    record = records(sample_file)[0]
    point = PointData("x", vector_of(record), schema.payload(record), None)
    hashes = Hasher(schema, bm25)
    vectors, payload = hashes(point, record).split("-")
    assert hashes(point, record) == Hasher(schema, Bm25Encoder())(point, record)  # deterministic
    nudged = point.vector.copy()
    nudged[0] = np.nextafter(nudged[0], np.float32(2))
    assert hashes(replace(point, vector=nudged), record).split("-")[0] != vectors
    moved = {**record, "city": "Atlantis"}
    moved_vectors, moved_payload = hashes(replace(point, payload=schema.payload(moved)), moved).split("-")
    assert moved_vectors == vectors and moved_payload != payload
    renamed = {**record, "name": record["name"] + "x"}  # the title, which BM25 reads: the same dense vector here
    assert hashes(replace(point, payload=schema.payload(renamed)), renamed).split("-")[0] != vectors

    class OtherBm25(Bm25Encoder):
        def document(self, text: str) -> SparseVector:
            found = super().document(text)
            return SparseVector(found.indices, tuple(v * 1.01 for v in found.values))

    assert Hasher(schema, OtherBm25())(point, record).split("-")[0] != vectors
    assert hashes(point, record) == hashes(Hasher(schema, bm25).hashed(point, record), record)  # its own hash left out
