"""One small storage interface, two backends: embedded Qdrant Edge, or a Qdrant server.

Each backend's client library is imported only when that backend is opened:
`import qdrant_client` costs about 1.4 s, `import qdrant_edge` about 0.02 s.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from handler.config import redact_url
from handler.errors import NeuralSearchError

CITY_FIELD = "city"
TEXT_FIELD = "description"
DISTANCE = "Cosine"  # the model's vectors are L2-normalized: cosine = dot product
SPARSE = "bm25"  # the named sparse vector beside the default dense one (hybrid search)
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.), the same on both backends


def prefetch_limit(limit: int) -> int:
    """How many candidates each side of a hybrid query contributes to the fusion."""
    return min(max(4 * limit, 40), 400)


class StorageError(NeuralSearchError):
    """Base class: something is wrong with the vector store."""


class StorageUnavailable(StorageError):
    """Qdrant cannot be reached or did not answer in time (transient: retry, or 503)."""


class CollectionMissing(StorageError):
    """The collection does not exist yet."""


class CollectionMismatch(StorageError):
    """The collection exists with another vector size or distance."""


class ShardLocked(StorageError):
    """Another process holds the embedded shard (Qdrant Edge opens a shard in one process only)."""


class SparseMissing(StorageError):
    """The collection predates hybrid search: it has no `bm25` sparse vectors."""


class PointNotFound(StorageError):
    """No point has that id."""


@dataclass(frozen=True)
class Hit:
    id: str
    score: float | None  # None for text mode: a full-text match has no similarity score
    payload: dict


@dataclass(frozen=True)
class PointData:
    id: str  # UUID string
    vector: np.ndarray
    payload: dict
    sparse: tuple[list[int], list[float]] | None = None  # BM25 (indices, values) of the same text


class Storage(Protocol):
    backend: str
    collection: str
    where: str  # for messages: which QDRANT_URL / QDRANT_PATH

    def collection_info(self) -> dict | None: ...  # {"dim", "distance", "sparse": [names]} or None
    def ensure_collection(self, dim: int, recreate: bool = False) -> bool: ...
    def check_collection(self, dim: int) -> int: ...
    def upsert(self, points: Sequence[PointData]) -> None: ...
    def finish_upload(self) -> None: ...
    def search(self, vector: np.ndarray, limit: int, city: str | None = None, *, hnsw_ef: int | None = None, exact: bool = False) -> list[Hit]: ...
    def hybrid_search(self, vector: np.ndarray, sparse: tuple[list[int], list[float]], limit: int, city: str | None = None) -> list[Hit]: ...
    def text_search(self, text: str, limit: int, city: str | None = None) -> list[Hit]: ...
    def similar(self, point_id: str, limit: int, city: str | None = None) -> list[Hit]: ...
    def cities(self, limit: int) -> list[tuple[str, int]]: ...
    def count(self, ids: Sequence[str] | None = None) -> int: ...
    def close(self) -> None: ...


def _missing_message(collection: str, where: str) -> str:
    return (
        f"collection '{collection}' does not exist at {where}; load it with "
        "`python -m scripts.embed ...` then `python -m scripts.upload ...` (see README)"
    )


def require_match(storage: "Storage", info: dict, dim: int) -> None:
    """CollectionMismatch unless the collection holds `dim`-dim DISTANCE vectors: the one check
    behind upload (ensure_collection), the service's start and /health (check_collection)."""
    if info["dim"] != dim or info["distance"] != DISTANCE:
        raise CollectionMismatch(
            f"collection '{storage.collection}' at {storage.where} holds {info['dim']}-dim {info['distance']} vectors, "
            f"but the model makes {dim}-dim {DISTANCE} vectors; use another COLLECTION_NAME or delete the collection "
            "(it is never recreated automatically)"
        )


def sparse_missing_message(storage: "Storage") -> str:
    return (
        f"collection '{storage.collection}' at {storage.where} has no '{SPARSE}' sparse vectors (it was uploaded before hybrid "
        "search existed); upload it again with `python -m scripts.upload --input FILE --vectors DIR --recreate`"
    )


def check_collection(storage: "Storage", dim: int) -> int:
    """The collection's point count; CollectionMissing / CollectionMismatch when it is not usable."""
    info = storage.collection_info()
    if info is None:
        raise CollectionMissing(_missing_message(storage.collection, storage.where))
    require_match(storage, info, dim)
    return storage.count()


class EdgeStorage:
    """Qdrant Edge: Qdrant's own engine in-process, one shard directory per collection."""

    backend = "qdrant-edge"

    def __init__(self, path: str | Path, collection: str) -> None:
        try:
            import qdrant_edge
        except ImportError as exc:
            raise StorageError(
                f"QDRANT_URL is empty (embedded mode) but qdrant-edge-py cannot be imported ({exc}): a Lambda artifact built "
                "with --mode server needs QDRANT_URL; build it with --mode embedded (or pip install qdrant-edge-py)"
            ) from exc

        self._q = qdrant_edge
        self.collection = collection
        self.root = Path(path)
        self.shard_dir = self.root / collection
        self.where = f"QDRANT_PATH={self.root}"
        self._shard = None
        self._has_sparse = False

    def open(self) -> None:
        """Open the shard now (the service does it at start, so a problem is said once, there)."""
        self._open()

    # -- collection -------------------------------------------------------------------------------
    def collection_info(self) -> dict | None:
        config_file = self.shard_dir / "edge_config.json"
        if not config_file.is_file():
            return None
        config = json.loads(config_file.read_text())
        vector = config.get("vectors", {}).get("", {})
        return {"dim": vector.get("size"), "distance": vector.get("distance"), "sparse": sorted(config.get("sparse_vectors") or {})}

    def _open(self):
        if self._shard is None:
            if self.collection_info() is None:
                raise CollectionMissing(_missing_message(self.collection, self.where))
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

    def ensure_collection(self, dim: int, recreate: bool = False) -> bool:
        """Create the collection (dense + bm25 vectors, payload indexes) when absent; True if
        created. An existing one of another schema is an error, replaced only when `recreate`."""
        info = self.collection_info()
        if info is not None and not recreate:
            require_match(self, info, dim)
            if SPARSE not in info["sparse"]:
                raise SparseMissing(sparse_missing_message(self))
            self._open()
            return False
        if info is not None:
            self.close()
            shutil.rmtree(self.shard_dir)
        q = self._q
        config = q.EdgeConfig(
            vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine),
            sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self._shard = q.EdgeShard.create(str(self.shard_dir), config)
        self._shard.update(q.UpdateOperation.create_field_index(CITY_FIELD, q.PayloadSchemaType.Keyword))
        self._shard.update(
            q.UpdateOperation.create_field_index(TEXT_FIELD, q.TextIndexParams(tokenizer=q.TokenizerType.Word, lowercase=True))
        )
        return True

    def check_collection(self, dim: int) -> int:
        return check_collection(self, dim)

    # -- data -------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[PointData]) -> None:
        q = self._q
        batch = [
            q.Point(p.id, {"": p.vector.tolist(), **({SPARSE: q.SparseVector(*p.sparse)} if p.sparse else {})}, p.payload)
            for p in points
        ]
        self._open().update(q.UpdateOperation.upsert_points(batch))

    def finish_upload(self) -> None:
        """Build the HNSW index and merge segments, then persist: searches are fast from the first one."""
        shard = self._open()
        shard.optimize()
        shard.flush()

    def _filter(self, city: str | None, text: str | None = None, exclude: str | None = None):
        q = self._q
        must = []
        if city is not None:
            must.append(q.FieldCondition(key=CITY_FIELD, match=q.MatchValue(city)))
        if text is not None:
            must.append(q.FieldCondition(key=TEXT_FIELD, match=q.MatchText(text)))
        must_not = [q.HasIdCondition({exclude})] if exclude is not None else None
        return q.Filter(must=must or None, must_not=must_not) if must or must_not else None

    def _hits(self, request) -> list[Hit]:
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in self._open().query(request)]

    def search(self, vector: np.ndarray, limit: int, city: str | None = None, *, hnsw_ef: int | None = None, exact: bool = False) -> list[Hit]:
        """Nearest neighbours; hnsw_ef / exact tune the search (scripts.quality measures them)."""
        q = self._q
        params = q.SearchParams(hnsw_ef=hnsw_ef, exact=exact) if hnsw_ef is not None or exact else None
        request = q.QueryRequest(
            limit=limit, query=q.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()), with_payload=True, filter=self._filter(city), params=params
        )
        return self._hits(request)

    def _require_sparse(self) -> None:
        """Read the shard's config once per opening, not per hybrid query (only this process can
        change it: the shard is locked to it)."""
        if not self._has_sparse:
            info = self.collection_info()
            if info is not None and SPARSE not in info["sparse"]:
                raise SparseMissing(sparse_missing_message(self))
            self._has_sparse = info is not None

    def hybrid_search(self, vector: np.ndarray, sparse: tuple[list[int], list[float]], limit: int, city: str | None = None) -> list[Hit]:
        """Dense and BM25 candidates (each filtered by city), fused by reciprocal rank."""
        q = self._q
        self._require_sparse()
        flt, depth = self._filter(city), prefetch_limit(limit)
        prefetches = [
            q.Prefetch(limit=depth, query=q.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()), filter=flt),
            q.Prefetch(limit=depth, query=q.Query.Nearest(q.SparseVector(*sparse), using=SPARSE), filter=flt),
        ]
        return self._hits(q.QueryRequest(limit=limit, prefetches=prefetches, query=q.Fusion.Rrf(k=RRF_K), with_payload=True))

    def similar(self, point_id: str, limit: int, city: str | None = None) -> list[Hit]:
        """The points nearest to a stored one, itself excluded (Edge has no query-by-id: the
        vector is retrieved first)."""
        q = self._q
        found = self._open().retrieve([point_id], with_payload=False, with_vector=True)
        if not found:
            raise PointNotFound(f"no point with id {point_id}")
        vector = found[0].vector
        vector = vector[""] if isinstance(vector, dict) else vector
        return self._hits(q.QueryRequest(limit=limit, query=q.Query.Nearest(list(vector)), with_payload=True, filter=self._filter(city, exclude=point_id)))

    def cities(self, limit: int) -> list[tuple[str, int]]:
        q = self._q
        response = self._open().facet(q.FacetRequest(key=CITY_FIELD, limit=limit, exact=True))
        return [(str(hit.value), int(hit.count)) for hit in response.hits]

    def text_search(self, text: str, limit: int, city: str | None = None) -> list[Hit]:
        q = self._q
        request = q.QueryRequest(limit=limit, with_payload=True, filter=self._filter(city, text))
        return [Hit(str(p.id), None, p.payload or {}) for p in self._open().query(request)]

    def count(self, ids: Sequence[str] | None = None) -> int:
        q = self._q
        flt = q.Filter(must=[q.HasIdCondition(set(ids))]) if ids is not None else None
        return int(self._open().count(q.CountRequest(exact=True, filter=flt)))

    def close(self) -> None:
        self._has_sparse = False
        if self._shard is not None:
            self._shard.close()
            self._shard = None


class ServerStorage:
    """A Qdrant server over HTTP through qdrant-client."""

    backend = "qdrant-server"

    def __init__(self, url: str, collection: str, api_key: str | None = None, timeout: float = 5.0) -> None:
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:
            raise StorageError(
                f"QDRANT_URL is set but qdrant-client cannot be imported ({exc}): a Lambda artifact built with --mode embedded "
                "needs QDRANT_URL empty; build it with --mode server (or pip install qdrant-client)"
            ) from exc
        self._models = models
        self.collection = collection
        self.url = redact_url(url)  # for messages and logs: never the credentials
        self.where = f"QDRANT_URL={self.url}"
        self.timeout = timeout
        self._connect = lambda: QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False, prefer_grpc=False)
        # check_compatibility=False: no version round-trip at start (it is a cold-start cost on Lambda).
        self._client = self._connect()

    def reconnect(self) -> None:
        """A fresh client (and connection pool): after a SnapStart restore the pooled sockets are dead."""
        self._client.close()
        self._client = self._connect()

    def _call(self, what: str, fn: Callable[[], Any]):
        """Run a client call, turning transport failures into StorageUnavailable. A connection that
        drops before any answer (a stale keep-alive socket, a refused connect) is tried once more at
        once; a timeout is not (it already cost QDRANT_TIMEOUT)."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        for attempt in (1, 2):
            try:
                return fn()
            except UnexpectedResponse as exc:
                if exc.status_code == 404:
                    raise CollectionMissing(_missing_message(self.collection, self.where)) from exc
                if exc.status_code in (429, 500, 502, 503, 504):
                    raise StorageUnavailable(f"Qdrant at {self.url} answered {exc.status_code} to {what}") from exc
                raise StorageError(f"Qdrant at {self.url} refused {what}: {exc.status_code} {exc.reason_phrase}") from exc
            except Exception as exc:  # httpx's errors, raw or wrapped by qdrant-client
                transport = isinstance(exc, (ResponseHandlingException, OSError, TimeoutError)) or type(exc).__module__.startswith(("httpx", "httpcore"))
                if not transport:
                    raise
                if attempt == 1 and connection_dropped(exc):
                    continue
                raise StorageUnavailable(f"Qdrant at {self.url} is unreachable ({what}): {type(exc).__name__}: {redact_url(str(exc))}") from exc

    def collection_info(self) -> dict | None:
        if not self._call("collection_exists", lambda: self._client.collection_exists(self.collection)):
            return None
        config = self._call("get_collection", lambda: self._client.get_collection(self.collection)).config.params
        params, sparse = config.vectors, sorted(config.sparse_vectors or {})
        if isinstance(params, dict):  # named dense vectors: not ours
            return {"dim": None, "distance": f"named vectors {sorted(params)}", "sparse": sparse}
        return {"dim": params.size, "distance": params.distance.value if hasattr(params.distance, "value") else str(params.distance), "sparse": sparse}

    def ensure_collection(self, dim: int, recreate: bool = False, *, shards: int | None = None, replicas: int | None = None,
                          defer_index: bool = False) -> bool:
        """As EdgeStorage.ensure_collection; payload indexes first, as Qdrant advises for bulk uploads.
        shards / replicas are fixed at creation; defer_index builds no HNSW graph (m=0) until
        finish_upload() restores m=16, so the server indexes once instead of during the upload."""
        m = self._models
        self._defer_index = defer_index
        info = self.collection_info()
        if info is not None and not recreate:
            require_match(self, info, dim)
            if SPARSE not in info["sparse"]:
                raise SparseMissing(sparse_missing_message(self))
            return False
        if info is not None:
            self._call("delete_collection", lambda: self._client.delete_collection(self.collection))
        self._call("create_collection", lambda: self._client.create_collection(
            self.collection,
            vectors_config=m.VectorParams(size=dim, distance=m.Distance.COSINE),
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            shard_number=shards,
            replication_factor=replicas,
            hnsw_config=m.HnswConfigDiff(m=0) if defer_index else None,
        ))
        self._call("create_payload_index", lambda: self._client.create_payload_index(self.collection, CITY_FIELD, m.PayloadSchemaType.KEYWORD, wait=True))
        text_index = m.TextIndexParams(type=m.TextIndexType.TEXT, tokenizer=m.TokenizerType.WORD, lowercase=True)
        self._call("create_payload_index", lambda: self._client.create_payload_index(self.collection, TEXT_FIELD, text_index, wait=True))
        return True

    def check_collection(self, dim: int) -> int:
        return check_collection(self, dim)

    def upsert(self, points: Sequence[PointData]) -> None:
        m = self._models
        structs = [
            m.PointStruct(id=p.id, vector={"": p.vector.tolist(), **({SPARSE: m.SparseVector(indices=p.sparse[0], values=p.sparse[1])} if p.sparse else {})}, payload=p.payload)
            for p in points
        ]
        self._call("upsert", lambda: self._client.upsert(self.collection, points=structs, wait=True))

    def finish_upload(self) -> None:
        """The server indexes in the background; a deferred index is switched back on here."""
        if getattr(self, "_defer_index", False):
            m = self._models
            self._call("update_collection", lambda: self._client.update_collection(self.collection, hnsw_config=m.HnswConfigDiff(m=16)))

    def _filter(self, city: str | None, text: str | None = None, exclude: str | None = None):
        m = self._models
        must = []
        if city is not None:
            must.append(m.FieldCondition(key=CITY_FIELD, match=m.MatchValue(value=city)))
        if text is not None:
            must.append(m.FieldCondition(key=TEXT_FIELD, match=m.MatchText(text=text)))
        must_not = [m.HasIdCondition(has_id=[exclude])] if exclude is not None else None
        return m.Filter(must=must or None, must_not=must_not) if must or must_not else None

    def search(self, vector: np.ndarray, limit: int, city: str | None = None, *, hnsw_ef: int | None = None, exact: bool = False) -> list[Hit]:
        m = self._models
        vector = np.asarray(vector, dtype=np.float32).tolist()
        params = m.SearchParams(hnsw_ef=hnsw_ef, exact=exact) if hnsw_ef is not None or exact else None
        response = self._call(
            "query_points",
            lambda: self._client.query_points(self.collection, query=vector, query_filter=self._filter(city), limit=limit, with_payload=True, search_params=params),
        )
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def hybrid_search(self, vector: np.ndarray, sparse: tuple[list[int], list[float]], limit: int, city: str | None = None) -> list[Hit]:
        m = self._models
        flt, depth = self._filter(city), prefetch_limit(limit)
        prefetch = [
            m.Prefetch(query=np.asarray(vector, dtype=np.float32).tolist(), limit=depth, filter=flt),
            m.Prefetch(query=m.SparseVector(indices=sparse[0], values=sparse[1]), using=SPARSE, limit=depth, filter=flt),
        ]
        try:
            response = self._call("query_points", lambda: self._client.query_points(
                self.collection, prefetch=prefetch, query=m.RrfQuery(rrf=m.Rrf(k=RRF_K)), limit=limit, with_payload=True))
        except StorageError as exc:
            if SPARSE in str(exc.__cause__ or ""):  # the server names the missing vector
                raise SparseMissing(sparse_missing_message(self)) from exc
            raise
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def similar(self, point_id: str, limit: int, city: str | None = None) -> list[Hit]:
        found = self._call("retrieve", lambda: self._client.retrieve(self.collection, ids=[point_id], with_vectors=True, with_payload=False))
        if not found:
            raise PointNotFound(f"no point with id {point_id}")
        vector = found[0].vector
        vector = vector[""] if isinstance(vector, dict) else vector
        response = self._call("query_points", lambda: self._client.query_points(
            self.collection, query=list(vector), query_filter=self._filter(city, exclude=point_id), limit=limit, with_payload=True))
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def cities(self, limit: int) -> list[tuple[str, int]]:
        response = self._call("facet", lambda: self._client.facet(self.collection, key=CITY_FIELD, limit=limit, exact=True))
        return [(str(hit.value), int(hit.count)) for hit in response.hits]

    def text_search(self, text: str, limit: int, city: str | None = None) -> list[Hit]:
        records, _ = self._call(
            "scroll", lambda: self._client.scroll(self.collection, scroll_filter=self._filter(city, text), limit=limit, with_payload=True)
        )
        return [Hit(str(r.id), None, r.payload or {}) for r in records]

    def count(self, ids: Sequence[str] | None = None) -> int:
        m = self._models
        flt = m.Filter(must=[m.HasIdCondition(has_id=list(ids))]) if ids is not None else None
        return int(self._call("count", lambda: self._client.count(self.collection, count_filter=flt, exact=True)).count)

    def close(self) -> None:
        self._client.close()


def connection_dropped(exc: BaseException) -> bool:
    """True when a request failed at the connection level (refused, reset, closed without an
    answer), False for a timeout or anything else: the former is worth one immediate retry."""
    import httpx

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
            return False
        if isinstance(exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, ConnectionError)):
            return True
        exc = getattr(exc, "source", None) or exc.__cause__ or exc.__context__
    return False


def open_storage(settings) -> Storage:
    """The backend the settings select: a server when QDRANT_URL is set, else embedded Qdrant Edge."""
    if settings.qdrant_url:
        return ServerStorage(settings.qdrant_url, settings.collection_name, settings.qdrant_api_key, settings.qdrant_timeout)
    return EdgeStorage(settings.qdrant_path, settings.collection_name)


def with_retries(fn: Callable[[], Any], *, attempts: int = 5, base_delay: float = 0.5, on_retry: Callable[[int, Exception], None] | None = None):
    """Retry transient failures (StorageUnavailable) with exponential backoff and jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except StorageUnavailable as exc:
            if attempt == attempts:
                raise
            if on_retry:
                on_retry(attempt, exc)
            time.sleep(base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))
