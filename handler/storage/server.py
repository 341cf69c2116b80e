"""A Qdrant server over HTTP through qdrant-client (Qdrant 1.12+: the query API and facets).

`qdrant_client` is imported when a storage is built (its import is a cold-start cost), never by
the embedded backend.
Every call goes through `_call`, which turns what the client raises into the contract's errors,
retries a dropped connection once, and keeps a circuit breaker: after a timeout or a failed
connect, calls fail at once for a cool-down instead of each waiting QDRANT_TIMEOUT.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from handler.common import (
    CircuitOpen,
    CollectionMissing,
    Schema,
    SparseMissing,
    StorageError,
    StorageUnavailable,
    check_deadline,
    load_schema,
    redact_url,
)
from handler.storage.base import Conditions, Storage
from handler.storage.breaker import Breaker
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


class ServerConditions(Conditions):
    """qdrant-client's filter models."""

    def __init__(self, models) -> None:
        self._m = models

    def match_value(self, key, value):
        return self._m.FieldCondition(key=key, match=self._m.MatchValue(value=value))

    def match_any(self, key, values):
        return self._m.FieldCondition(key=key, match=self._m.MatchAny(any=list(values)))

    def match_text(self, key, word):
        return self._m.FieldCondition(key=key, match=self._m.MatchText(text=word))

    def range(self, key, low, high):
        return self._m.FieldCondition(key=key, range=self._m.Range(gte=low, lte=high))

    def has_id(self, ids):
        return self._m.HasIdCondition(has_id=list(ids))

    def filter(self, must=None, must_not=None, should=None):
        return self._m.Filter(must=must, must_not=must_not, should=should)


class ServerStorage(Storage):
    backend = "qdrant-server"

    def __init__(self, url: str, collection: str, api_key: str | None = None, timeout: float = 5.0, *, cooldown: float = 0.0,
                 client_factory: Callable[[], Any] | None = None, schema: Schema | None = None) -> None:
        """client_factory builds the qdrant-client object (tests pass one over qdrant-client's local
        mode); by default a REST client for `url`, without the version round trip at start (a
        cold-start cost on Lambda)."""
        super().__init__(schema or load_schema())
        try:
            from qdrant_client import (  # deferred: only the server artifact carries it (and its import is a cold-start cost)
                QdrantClient,
                models,
            )
        except ImportError as exc:
            raise StorageError(
                f"QDRANT_URL is set but qdrant-client cannot be imported ({exc}): a Lambda artifact built with --mode embedded "
                "needs QDRANT_URL empty; build it with --mode server (or pip install qdrant-client)"
            ) from exc
        self._models = models
        self.conditions = ServerConditions(models)
        self.collection = collection
        self.url = redact_url(url)  # for messages and logs: never the credentials
        self.where = f"QDRANT_URL={self.url}"
        self.timeout = timeout
        self._connect = client_factory or (
            lambda: QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False, prefer_grpc=False)
        )
        self.breaker = Breaker(cooldown)
        self._client = self._connect()

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def reconnect(self) -> None:
        """A fresh client, and a fresh breaker: a snapshot's open circuit says nothing of the
        network a restored environment sees."""
        self._client.close()
        self._client = self._connect()
        self.breaker = Breaker(self.breaker.cooldown)

    def before_snapshot(self) -> None:
        self.close()

    # -- every call --------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], Any]):
        """Run a client call, turning its failures into the contract's errors. A connection that
        drops before any answer (a stale keep-alive socket, a refused connect) is tried once more at
        once; a timeout is not (it already cost QDRANT_TIMEOUT), and opens the breaker."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse  # deferred: as above

        check_deadline(what)  # no call starts after the request's deadline
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise StorageUnavailable(f"Qdrant at {self.url} ({what}): {exc}") from None
        for attempt in (1, 2):
            try:
                result = fn()
            except UnexpectedResponse as exc:
                self.breaker.succeeded()  # it answered: reachable
                raise self._refused(what, exc.status_code, exc.reason_phrase, exc.content.decode("utf-8", "replace")) from exc
            except Exception as exc:  # httpx's errors, raw or wrapped by qdrant-client
                transport = isinstance(exc, (ResponseHandlingException, OSError, TimeoutError)) or type(exc).__module__.startswith(("httpx", "httpcore"))
                if not transport:  # not the network's doing (a bug, an answer that does not parse): nothing for the breaker to learn
                    self.breaker.succeeded()
                    if isinstance(exc, ValueError) and str(exc).startswith("Collection ") and str(exc).endswith(" not found"):
                        raise CollectionMissing(self.missing_message()) from exc  # qdrant-client's local mode (scripts' stand-in for a server)
                    raise
                if attempt == 1 and connection_dropped(exc):
                    continue
                reason = f"{type(exc).__name__}: {redact_url(str(exc))}"
                self.breaker.failed(reason)
                raise StorageUnavailable(f"Qdrant at {self.url} is unreachable ({what}): {reason}") from exc
            self.breaker.succeeded()
            return result

    def _refused(self, what: str, status: int, phrase: str, body: str) -> StorageError:
        """The contract's error for an answer that is an error."""
        if status == 404 and "ollection" in body:  # "Not found: Collection `x` doesn't exist!"
            return CollectionMissing(self.missing_message())
        if status == 404:  # no such route: a server older than the query API
            return StorageError(f"Qdrant at {self.url} has no route for {what}: this service needs Qdrant 1.12 or newer")
        if status == 400 and SPARSE in body:  # "Wrong input: Not existing vector name error: bm25"
            self._has_sparse = False
            return SparseMissing(self.sparse_missing_message())
        if status in (429, 500, 502, 503, 504):
            return StorageUnavailable(f"Qdrant at {self.url} answered {status} to {what}")
        return StorageError(f"Qdrant at {self.url} refused {what}: {status} {phrase}: {body[:300]}")

    # -- the collection ----------------------------------------------------------------------------
    def _info(self) -> CollectionInfo | None:
        try:
            info = self._call("get_collection", lambda: self._client.get_collection(self.collection))
        except CollectionMissing:
            return None
        params, sparse = info.config.params.vectors, tuple(sorted(info.config.params.sparse_vectors or {}))
        hnsw_m = info.config.hnsw_config.m if info.config.hnsw_config else None
        if isinstance(params, dict):  # named dense vectors: not ours
            return CollectionInfo(None, f"named vectors {sorted(params)}", sparse, hnsw_m)
        distance = params.distance.value if hasattr(params.distance, "value") else str(params.distance)
        return CollectionInfo(params.size, distance, sparse, hnsw_m)

    def _create(self, dim: int, layout: Layout, indexes: dict[str, str]) -> None:
        m = self._models
        self._call("create_collection", lambda: self._client.create_collection(
            self.collection,
            vectors_config=m.VectorParams(size=dim, distance=m.Distance.COSINE),
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            shard_number=layout.shards,
            replication_factor=layout.replicas,
            hnsw_config=m.HnswConfigDiff(m=0) if layout.defer_index else None,
        ))
        self._add_indexes(indexes)

    def _add_indexes(self, indexes: dict[str, str]) -> None:
        m = self._models
        kinds = {KEYWORD: m.PayloadSchemaType.KEYWORD, INTEGER: m.PayloadSchemaType.INTEGER, FLOAT: m.PayloadSchemaType.FLOAT}
        for field, kind in indexes.items():
            schema = m.TextIndexParams(type=m.TextIndexType.TEXT, tokenizer=m.TokenizerType.WORD, lowercase=True) if kind == FULL_TEXT else kinds[kind]
            self._call("create_payload_index", lambda: self._client.create_payload_index(self.collection, field, schema, wait=True))

    def _read_metadata(self) -> dict:
        """The collection's metadata (Qdrant 1.16+; an older server keeps none: {})."""
        return dict(self._call("get_collection", lambda: self._client.get_collection(self.collection)).config.metadata or {})

    def _write_metadata(self, metadata: dict) -> None:
        self._call("update_collection", lambda: self._client.update_collection(self.collection, metadata=metadata))

    def _drop(self) -> None:
        self._call("delete_collection", lambda: self._client.delete_collection(self.collection))

    # -- data --------------------------------------------------------------------------------------
    def _sparse(self, sparse: SparseVector):
        return self._models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))

    def upsert(self, points: Sequence[PointData]) -> None:
        m = self._models
        structs = [m.PointStruct(id=p.id, vector={"": p.vector.tolist(), **({SPARSE: self._sparse(p.sparse)} if p.sparse else {})}, payload=p.payload)
                   for p in points]
        self._call("upsert", lambda: self._client.upsert(self.collection, points=structs, wait=True))

    def finish_upload(self) -> None:
        """The server indexes in the background; an index deferred at creation (m=0) is switched on
        here, read from the collection itself, so running an interrupted upload again finishes it."""
        info = self._info()
        if info is not None and info.hnsw_m == 0:
            m = self._models
            self._call("update_collection", lambda: self._client.update_collection(self.collection, hnsw_config=m.HnswConfigDiff(m=HNSW_M)))

    def _count(self, flt) -> int:
        return int(self._call("count", lambda: self._client.count(self.collection, count_filter=flt, exact=True)).count)

    def delete(self, ids: Sequence[str]) -> None:
        """A server keeps counting deleted points in BM25's IDF until its vacuum optimizer rewrites
        their segments, by its own thresholds (the collection's optimizers_config; see README)."""
        if ids:
            selector = self._models.PointIdsList(points=list(ids))
            self._call("delete", lambda: self._client.delete(self.collection, points_selector=selector, wait=True))

    def _scroll_page(self, offset, limit, flt=None, *, vectors):
        return self._call("scroll", lambda: self._client.scroll(self.collection, scroll_filter=flt, offset=offset, limit=limit,
                                                                with_payload=True, with_vectors=vectors))

    # -- queries -----------------------------------------------------------------------------------
    def _request(self, query: Nearest):
        m = self._models
        if query.vector is None:
            vector = None
        else:
            vector = self._sparse(query.vector) if query.using else np.asarray(query.vector, dtype=np.float32).tolist()
        params = m.SearchParams(hnsw_ef=query.hnsw_ef, exact=query.exact) if query.hnsw_ef is not None or query.exact else None
        return m.QueryRequest(query=vector, using=query.using, filter=self._query_filter(query), limit=query.limit,
                              with_payload=query.with_payload, params=params)

    def _query(self, queries: Sequence[Nearest]) -> list[list[Hit]]:
        requests = [self._request(query) for query in queries]
        answers = self._call("query_points", lambda: self._client.query_batch_points(self.collection, requests=requests))
        return [[Hit(str(p.id), float(p.score), p.payload or {}) for p in answer.points] for answer in answers]

    def _retrieve(self, ids, *, payload, vectors):
        return self._call("retrieve", lambda: self._client.retrieve(self.collection, ids=list(ids), with_payload=payload, with_vectors=vectors))

    def _layout(self) -> tuple[dict[str, str], dict]:
        info = self._call("get_collection", lambda: self._client.get_collection(self.collection))
        indexes = {field: str(getattr(index.data_type, "value", index.data_type)) for field, index in (info.payload_schema or {}).items()}
        return indexes, dict(info.config.metadata or {})

    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]:
        response = self._call("facet", lambda: self._client.facet(self.collection, key=field, limit=limit, exact=True))
        return [(str(hit.value), int(hit.count)) for hit in response.hits]


def connection_dropped(exc: BaseException) -> bool:
    """True when a request failed at the connection level (refused, reset, closed without an
    answer), False for a timeout or anything else: the former is worth one immediate retry."""
    import httpx  # deferred: qdrant-client's transport, present wherever this backend runs

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
            return False
        if isinstance(exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, ConnectionError)):
            return True
        exc = getattr(exc, "source", None) or exc.__cause__ or exc.__context__
    return False
