"""Qdrant Edge: Qdrant's own engine in-process, one shard directory per collection.

`qdrant_edge` is imported when a storage is built, never by the server backend.
A shard is opened by one process at a time (its WAL is locked); within the process, calls are
serialized by a lock, since the service may call from several threads.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from handler.common import CollectionMissing, Schema, ShardLocked, StorageError, atomic_write_json, load_schema
from handler.storage.base import Conditions, Storage
from handler.storage.contract import (
    FLOAT,
    FULL_TEXT,
    HNSW_M,
    INTEGER,
    KEYWORD,
    SPARSE,
    CollectionInfo,
    Hit,
    Layout,
    Nearest,
    PointData,
    SparseVector,
)

CONFIG_FILE = "edge_config.json"  # every shard directory has it
METADATA_FILE = "collection.json"  # ours, beside it: what the collection keeps about itself (travels with the shard's archive)
# Qdrant counts a deleted or replaced point in BM25's IDF until the vacuum optimizer rewrites its
# segment, by default only past 20% deleted in a segment of 1000+ vectors. With 0 and 0, every
# optimize (finish_upload) vacuums each segment that holds one: the collection then scores as a
# fresh load of the same points would.
VACUUM = {"deleted_threshold": 0.0, "vacuum_min_vector_number": 0}


class EdgeConditions(Conditions):
    """Qdrant Edge's filter models."""

    def __init__(self, q) -> None:
        self._q = q

    def match_value(self, key, value):
        return self._q.FieldCondition(key=key, match=self._q.MatchValue(value))

    def match_any(self, key, values):
        return self._q.FieldCondition(key=key, match=self._q.MatchAny(list(values)))

    def match_text(self, key, word):
        return self._q.FieldCondition(key=key, match=self._q.MatchText(word))

    def range(self, key, low, high):
        return self._q.FieldCondition(key=key, range=self._q.RangeFloat(gte=low, lte=high))

    def has_id(self, ids):
        return self._q.HasIdCondition(set(ids))

    def filter(self, must=None, must_not=None, should=None):
        return self._q.Filter(must=must, must_not=must_not, should=should)


class EdgeStorage(Storage):
    backend = "qdrant-edge"

    def __init__(self, path: str | Path, collection: str, schema: Schema | None = None) -> None:
        """schema: the catalogue's (default: the built-in startups schema)."""
        super().__init__(schema or load_schema())
        try:
            import qdrant_edge  # deferred: only the embedded artifact carries it
        except ImportError as exc:
            raise StorageError(
                f"QDRANT_URL is empty (embedded mode) but qdrant-edge-py cannot be imported ({exc}): a Lambda artifact built "
                "with --mode server needs QDRANT_URL; build it with --mode embedded (or pip install qdrant-edge-py)"
            ) from exc
        self._q = qdrant_edge
        self.conditions = EdgeConditions(qdrant_edge)
        self.collection = collection
        self.root = Path(path)
        self.shard_dir = self.root / collection
        self.where = f"QDRANT_PATH={self.root}"
        self._shard = None
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        self._open()

    def _open(self):
        with self._lock:
            if self._shard is None:
                if self._info() is None:
                    raise CollectionMissing(self.missing_message())
                try:
                    self._shard = self._q.EdgeShard.load(str(self.shard_dir))
                except Exception as exc:  # qdrant_edge raises plain Exception with the engine's message
                    if "WouldBlock" in str(exc):  # the WAL's file lock: another process has the shard open
                        raise ShardLocked(
                            f"another process holds the Qdrant Edge collection at {self.shard_dir} (a shard is opened by one "
                            "process at a time): stop that process, give this one a copy of the directory, or use a Qdrant server (QDRANT_URL)"
                        ) from exc
                    raise StorageError(f"cannot open Qdrant Edge collection at {self.shard_dir}: {exc}") from exc
            return self._shard

    def _call(self, method: str, *args):
        """A shard call; what the engine raises (a plain Exception with its message) becomes the
        contract's StorageError: a 503 saying Qdrant failed, never a 500."""
        with self._lock:
            shard = self._open()
            try:
                return getattr(shard, method)(*args)
            except Exception as exc:
                raise StorageError(f"Qdrant Edge failed ({method}) on {self.shard_dir}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._has_sparse = False
            if self._shard is not None:
                self._shard.close()
                self._shard = None

    # -- the collection ----------------------------------------------------------------------------
    def _info(self) -> CollectionInfo | None:
        config_file = self.shard_dir / CONFIG_FILE
        if not config_file.is_file():
            return None
        try:
            config = json.loads(config_file.read_text())
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {config_file} ({exc}): the shard is damaged; upload the collection again") from exc
        vector = config.get("vectors", {}).get("", {})
        hnsw = config.get("hnsw_config") or {}
        return CollectionInfo(vector.get("size"), vector.get("distance"), tuple(sorted(config.get("sparse_vectors") or {})), hnsw.get("m", HNSW_M))

    def _create(self, dim: int, layout: Layout, indexes: dict[str, str]) -> None:
        if not layout.is_default:
            raise StorageError("the embedded Qdrant Edge is one shard in one process: shards, replicas and a deferred index need a Qdrant server (QDRANT_URL)")
        q = self._q
        config = self._config(dim)
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            self._shard = q.EdgeShard.create(str(self.shard_dir), config)
            self._add_indexes(indexes)

    def _add_indexes(self, indexes: dict[str, str]) -> None:
        q = self._q
        kinds = {KEYWORD: q.PayloadSchemaType.Keyword, INTEGER: q.PayloadSchemaType.Integer, FLOAT: q.PayloadSchemaType.Float}
        for field, kind in indexes.items():
            schema = q.TextIndexParams(tokenizer=q.TokenizerType.Word, lowercase=True) if kind == FULL_TEXT else kinds[kind]
            self._call("update", q.UpdateOperation.create_field_index(field, schema))

    def _read_metadata(self) -> dict:
        file = self.shard_dir / METADATA_FILE
        if not file.is_file():
            return {}
        try:
            return json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {file} ({exc}): the shard is damaged; upload the collection again") from exc

    def damage(self) -> str | None:
        """A shard's files can be damaged under it (overwritten pages, a lost segment, a truncated
        id tracker) and still open: the point count is compared with the one the upload or --sync
        recorded beside it (collection.json, in the artifact's archive too), and one stored point is
        read back: its vector of norm 1, its payload with the schema's title (every record has one)."""
        recorded, count = self._read_metadata().get("points"), self.count()
        if isinstance(recorded, int) and count != recorded:
            return f"the shard holds {count} points, but {recorded} were written to it; upload the collection again"
        found, _ = self._scroll(None, 1)
        if found:
            point = found[0]
            norm = float(np.linalg.norm(point.vector.astype(np.float64))) if point.vector.size else 0.0
            if not abs(norm - 1.0) < 1e-3:  # NaN fails too
                return f"point {point.id}'s stored vector has norm {norm:.3g}, not 1; upload the collection again"
            if self.schema.title not in point.payload:
                return f"point {point.id}'s stored payload lacks its title ({self.schema.title}); upload the collection again"
        return None

    def _write_metadata(self, metadata: dict) -> None:
        atomic_write_json(self.shard_dir / METADATA_FILE, metadata)

    def _config(self, dim: int, optimizers: dict | None = None):
        q = self._q
        return q.EdgeConfig(
            vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine),
            sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
            optimizers=q.EdgeOptimizersConfig(**{**(optimizers or {}), **VACUUM}),
        )

    def _require_vacuum(self) -> None:
        """A shard created before VACUUM (or by other code) gets it, its other optimizer settings
        kept: reopened once with it, which persists it in the shard's config."""
        persisted = json.loads((self.shard_dir / CONFIG_FILE).read_text()).get("optimizers") or {}
        if all(persisted.get(key) == value for key, value in VACUUM.items()):
            return
        info = self._info()
        self.close()
        self._shard = self._q.EdgeShard.load(str(self.shard_dir), self._config(info.dim, persisted))

    def _drop(self) -> None:
        with self._lock:
            self.close()
            shutil.rmtree(self.shard_dir)

    # -- data --------------------------------------------------------------------------------------
    def _sparse(self, sparse: SparseVector):
        return self._q.SparseVector(list(sparse.indices), list(sparse.values))

    def upsert(self, points: Sequence[PointData]) -> None:
        q = self._q
        batch = [q.Point(p.id, {"": p.vector.tolist(), **({SPARSE: self._sparse(p.sparse)} if p.sparse else {})}, p.payload) for p in points]
        self._call("update", q.UpdateOperation.upsert_points(batch))

    def finish_upload(self) -> None:
        """Build the HNSW index, merge segments and vacuum deleted points (VACUUM), then persist:
        searches are fast from the first one, and score as on a fresh load."""
        with self._lock:
            self._open()
            self._require_vacuum()
            shard = self._open()
            shard.optimize()
            shard.flush()

    def _count(self, flt) -> int:
        return int(self._call("count", self._q.CountRequest(exact=True, filter=flt)))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("update", self._q.UpdateOperation.delete_points(list(ids)))

    def _scroll_page(self, offset, limit, flt=None, *, vectors, payload=True):
        return self._call("scroll", self._q.ScrollRequest(offset=offset, limit=limit, filter=flt, with_payload=payload, with_vector=vectors))

    # -- queries -----------------------------------------------------------------------------------
    def _request(self, query: Nearest):
        q = self._q
        if query.vector is None:
            nearest = None
        elif query.using:
            nearest = q.Query.Nearest(self._sparse(query.vector), using=SPARSE)
        else:
            nearest = q.Query.Nearest(np.asarray(query.vector, dtype=np.float32).tolist())
        params = q.SearchParams(hnsw_ef=query.hnsw_ef, exact=query.exact) if query.hnsw_ef is not None or query.exact else None
        return q.QueryRequest(limit=query.limit, query=nearest, with_payload=query.with_payload,
                              filter=self._query_filter(query), params=params)

    def _query(self, queries: Sequence[Nearest]) -> list[list[Hit]]:
        q = self._q
        answers = self._call("query_batch", q.QueryBatchRequest([self._request(query) for query in queries]))
        return [[Hit(str(p.id), float(p.score), p.payload or {}) for p in points] for points in answers]

    def _retrieve(self, ids, *, payload, vectors):
        return self._call("retrieve", list(ids), payload, vectors)

    def _layout(self) -> tuple[dict[str, str], dict]:
        indexes = {field: str(index.data_type).rpartition(".")[2].lower() for field, index in self._call("info").payload_schema.items()}
        return indexes, self._read_metadata()

    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]:
        response = self._call("facet", self._q.FacetRequest(key=field, limit=limit, exact=True))
        return [(str(hit.value), int(hit.count)) for hit in response.hits]
