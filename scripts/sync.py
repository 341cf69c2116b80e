"""`scripts.upload --sync`: the collection follows its input exactly.

Every point is written with its content hash (`Hasher`: of its dense vector and what its BM25
vector is made of, and of its payload; kept in the payload under FOLDED.HASH, so it travels with
the point on every backend and is written in the same upsert as what it describes). A sync reads back only each
stored point's id and hash (`Storage.fields`), and compares them with the input's:
- added: ids the collection lacks;
- updated: ids whose hash differs ("payload only" when the vectors' half is equal: a new city or
  a fixed link under a stable --id-field, whose text, and so vector, did not change);
- unchanged: equal hashes, so the point is neither read back nor written;
- deleted: ids the input lacks.
A point written by an earlier version has no hash: it is read back in full (payload, dense and
BM25 vectors) and compared as before, and rewritten with its hash when equal ("hashed"), so the
next sync reads none of it back.
Nothing is written before the whole plan is known, so --dry-run and the mass-delete guard see
all of it. The plan is made from what the collection holds, not from what a run meant to do, so
a sync that failed or was interrupted part-way, run again, ends in the same state.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from handler.common import FOLDED, SparseMissing, UsageError, title_key
from handler.storage import SPARSE, PointData

# Fixed namespace: the same record gets the same point id on every run and every machine.
POINT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://qdrant.tech/documentation/tutorials/neural-search/")
DENSE_TOLERANCE = 1e-5  # Qdrant re-normalizes cosine vectors on write: an equal vector may differ in its last bits
SPARSE_TOLERANCE = 1e-6  # relative: BM25 weights are stored as float32
HASH = "_hash"  # under FOLDED (the store's part of a payload, never shown): the point's content hash
HASH_FIELD = f"{FOLDED}.{HASH}"


def canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def point_id(record: dict, id_field: str | None = None) -> str:
    """A record's point id: derived from its whole content, or from its `id_field` value (a stable key)."""
    if id_field is None:
        return str(uuid.uuid5(POINT_ID_NAMESPACE, canonical(record)))
    return str(uuid.uuid5(POINT_ID_NAMESPACE, canonical({id_field: record[id_field]})))


class PointIds:
    """Point ids for one input; with a stable key, two different records under one key are refused."""

    def __init__(self, id_field: str | None) -> None:
        self.id_field = id_field
        self._first: dict[str, tuple[object, bytes]] = {}  # id -> (where, content digest) of the first record

    def of(self, record: dict, where) -> str:
        if self.id_field is None:
            return point_id(record)
        if self.id_field not in record:
            raise UsageError(f"--id-field {self.id_field}: {where_text(where)} has no field '{self.id_field}' (it has: {', '.join(record)})")
        value = record[self.id_field]
        if not (isinstance(value, (str, int)) and not isinstance(value, bool)) or (isinstance(value, str) and not value.strip()):
            raise UsageError(f"--id-field {self.id_field}: {where_text(where)} has {self.id_field}={json.dumps(value)[:40]}; "
                             "a stable key is a non-empty string or an integer")
        pid = point_id(record, self.id_field)
        digest = hashlib.sha256(canonical(record).encode()).digest()
        first = self._first.setdefault(pid, (where, digest))
        if first[1] != digest:
            raise UsageError(f"--id-field {self.id_field} is not unique: {where_text(first[0])} and {where_text(where)} are different records "
                             f"with {self.id_field}={json.dumps(value)[:60]}")
        return pid


def where_text(where) -> str:
    """A record's place: a line of scripts.embed's input, or (file, line) of scripts.embed_ray's."""
    return f"line {where[1]} of {where[0]}" if isinstance(where, tuple) else f"line {where}"


PROBE = "Naïve cafés: 42 rockets, launching small-satellite services for the city's bike-sharing"  # BM25's numbers, checked


class Hasher:
    """Each point's content hash, `<vectors>-<payload>`, 96 bits of blake2b each:
    - vectors: the dense vector's float32 bytes, and what its BM25 vector is made of (the schema's
      indexed text and the title, with the BM25 encoder's numbers on PROBE: an encoder that counts
      otherwise changes every hash), so the BM25 vector of an unchanged point is never computed;
    - payload: the canonical payload (its hash left out).
    Exact bytes: a text embedded again (not from the vector cache) may differ in its last bits and
    is then rewritten, never wrongly kept."""

    def __init__(self, schema, bm25) -> None:
        self.schema = schema
        self._bm25 = repr((bm25.document(PROBE), bm25.title_grams(title_key(PROBE)))).encode()

    def __call__(self, point: PointData, record: dict) -> str:
        vectors = hashlib.blake2b(np.ascontiguousarray(point.vector, dtype=np.float32).tobytes(), digest_size=12)
        source = f"{self.schema.indexed_text(record)}\x00{record.get(self.schema.title) or ''}"
        vectors.update(source.encode("utf-8", "surrogatepass"))
        vectors.update(self._bm25)
        payload = hashlib.blake2b(canonical(without_hash(point.payload)).encode("utf-8", "surrogatepass"), digest_size=12)
        return f"{vectors.hexdigest()}-{payload.hexdigest()}"

    def hashed(self, point: PointData, record: dict) -> PointData:
        """The point with its content hash in its payload (what every upload writes)."""
        folded = {**point.payload.get(FOLDED, {}), HASH: self(point, record)}
        return PointData(point.id, point.vector, {**point.payload, FOLDED: folded}, point.sparse)


def stored_hash(payload: dict) -> str | None:
    value = (payload.get(FOLDED) or {}).get(HASH)
    return value if isinstance(value, str) else None


def without_hash(payload: dict) -> dict:
    """The payload as an earlier version stored it: no hash (and no FOLDED when that was all it held)."""
    if HASH not in (payload.get(FOLDED) or {}):
        return payload
    folded = {k: v for k, v in payload[FOLDED].items() if k != HASH}
    return {**{k: v for k, v in payload.items() if k != FOLDED}, **({FOLDED: folded} if folded else {})}


@dataclass(frozen=True)
class SyncRules:
    dry_run: bool = False
    max_delete: float = 0.5  # the largest fraction of the collection a sync may delete unasked
    allow_mass_delete: bool = False


@dataclass
class Plan:
    before: int = 0  # points the collection held
    added: list[PointData] = field(default_factory=list)
    updated: list[PointData] = field(default_factory=list)
    payload_only: int = 0  # of the updated
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    hashed: list[PointData] = field(default_factory=list)  # of the unchanged: written by an earlier version, rewritten with their hash
    read_back: int = 0  # points read back in full (those without a hash)

    @property
    def writes(self) -> list[PointData]:
        return self.added + self.updated + self.hashed

    def counts(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated ({self.payload_only} payload only), "
                f"{self.unchanged} unchanged, {len(self.deleted)} deleted")

    def legacy(self) -> str | None:
        """What the sync said about points without a content hash (None when there were none)."""
        if not self.read_back:
            return None
        return (f"{self.read_back} of the {self.before} stored points have no content hash (written by an earlier version): "
                f"read back in full and compared; {len(self.hashed)} unchanged ones are rewritten with their hash, "
                "so the next --sync reads none of them back")


def same_vectors(stored: PointData, new: PointData) -> bool:
    if stored.sparse is None or new.sparse is None or stored.sparse.indices != new.sparse.indices:
        return False
    if not np.allclose(stored.sparse.values, new.sparse.values, rtol=SPARSE_TOLERANCE, atol=0):
        return False
    return stored.vector.shape == new.vector.shape and float(np.abs(stored.vector - new.vector).max(initial=0)) <= DENSE_TOLERANCE


def make_plan(storage, points: Sequence[PointData], dim: int, complete=lambda point: point, page: int = 1000) -> Plan:
    """Compare the input's points (`Hasher.hashed`) with the collection's: each stored point's id
    and hash, and in full only those without one, page by page (nothing is written). The input's
    points may lack their BM25 vectors: `complete(point)` gives one with them, for the points
    compared in full."""
    info = storage.collection_info()
    if info is None:
        return Plan(added=list(points))
    storage.require_match(info, dim)
    if SPARSE not in info.sparse:
        raise SparseMissing(storage.sparse_missing_message())
    new = {p.id: p for p in points}
    plan, stored_ids, unhashed = Plan(), set(), []
    for pid, payload in storage.fields([HASH_FIELD]):
        plan.before += 1
        stored_ids.add(pid)
        point = new.get(pid)
        if point is None:
            plan.deleted.append(pid)
            continue
        old, now = stored_hash(payload), stored_hash(point.payload)
        if old is None:
            unhashed.append(point)
        elif old == now:
            plan.unchanged += 1
        else:
            plan.updated.append(point)
            plan.payload_only += old.split("-")[0] == now.split("-")[0]
    for start in range(0, len(unhashed), page):  # written by an earlier version: compared in full
        batch = {p.id: p for p in unhashed[start : start + page]}
        for stored in storage.points_of(list(batch)):
            plan.read_back += 1
            point = complete(batch.pop(stored.id))
            if not same_vectors(stored, point):
                plan.updated.append(point)
            elif without_hash(stored.payload) != without_hash(point.payload):
                plan.updated.append(point)
                plan.payload_only += 1
            else:
                plan.unchanged += 1
                plan.hashed.append(point)
        plan.updated.extend(batch.values())  # listed, then gone before they were read: written again
    plan.added = [p for p in points if p.id not in stored_ids]
    return plan


def check_deletions(plan: Plan, rules: SyncRules, collection: str) -> None:
    """Refuse to delete more than rules.max_delete of the collection unless told to, saying why."""
    if not plan.before or rules.allow_mass_delete or len(plan.deleted) <= rules.max_delete * plan.before:
        return
    raise UsageError(
        f"--sync would delete {len(plan.deleted)} of the {plan.before} points in '{collection}' ({len(plan.deleted) / plan.before:.0%}, "
        f"more than --max-delete {rules.max_delete:.0%}); nothing was changed. Is --input the whole dataset? Did the point ids change "
        "(they come from each record's content, or from --id-field)? If these deletions are meant, run again with --allow-mass-delete "
        "(--dry-run shows the counts)"
    )
