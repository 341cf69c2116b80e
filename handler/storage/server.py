"""A Qdrant server over HTTP through qdrant-client (Qdrant 1.12+: the query API and facets).

`qdrant_client` is imported when a storage is built (its import is a cold-start cost), never by
the embedded backend.
Every call goes through `_call`, which turns what the client raises into the contract's errors,
retries a dropped connection once, and keeps a circuit breaker: after a timeout or a failed
connect, calls fail at once for a cool-down instead of each waiting QDRANT_TIMEOUT.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from handler.common import (
    CircuitOpen,
    CollectionMissing,
    RequestExpired,
    Schema,
    SparseMissing,
    StorageAnswerInvalid,
    StorageError,
    StorageUnavailable,
    check_deadline,
    cut,
    overdue,
    load_schema,
    redact_url,
    remaining,
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


log = logging.getLogger("handler")

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
            lambda: quiet(lambda: QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False, prefer_grpc=False,
                                               event_hooks={"request": [cut_to_deadline]}))
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
    def _call(self, what: str, fn: Callable[[], Any], read: Callable[[Any], Any] | None = None):
        """Run a client call, turning its failures into the contract's errors. A connection that
        drops before any answer (a stale keep-alive socket, a refused connect) is tried once more at
        once; a timeout is not (it already cost QDRANT_TIMEOUT), and opens the breaker. `read`
        turns the client's answer into ours: an answer it cannot read is the server's doing too."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse  # deferred: as above

        check_deadline(what)  # no call starts after the request's deadline
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:  # said as the failure that opened it: an unreadable answer stays a qdrant_error
            raise (self.breaker.kind or StorageUnavailable)(f"Qdrant at {self.url} ({what}): {exc}") from None
        for attempt in (1, 2):
            try:
                result = fn()
            except UnexpectedResponse as exc:
                self.breaker.succeeded()  # it answered: reachable
                raise self._refused(what, exc.status_code, exc.reason_phrase, exc.content.decode("utf-8", "replace")) from exc
            except Exception as exc:  # httpx's errors, raw or wrapped by qdrant-client
                if overdue() and timed_out(exc):  # cut short by the deadline (cut_to_deadline): the budget is spent, not one call's QDRANT_TIMEOUT
                    self.breaker.failed(f"{what} ran past the request's deadline", StorageUnavailable)
                    raise RequestExpired(f"the request ran out of time during {what}") from exc
                if isinstance(exc, ValueError) and str(exc).startswith("Collection ") and str(exc).endswith(" not found"):
                    self.breaker.succeeded()
                    raise CollectionMissing(self.missing_message()) from exc  # qdrant-client's local mode (scripts' stand-in for a server)
                if unreadable(exc):
                    raise self._unreadable(what, exc) from exc
                if type(exc).__name__ == "ResourceExhaustedResponse":  # a 429 with Retry-After
                    self.breaker.succeeded()
                    raise StorageUnavailable(f"Qdrant at {self.url} answered 429 to {what}") from exc
                transport = isinstance(exc, (ResponseHandlingException, OSError, TimeoutError)) or type(exc).__module__.startswith(("httpx", "httpcore"))
                if not transport:  # not the network's doing nor the answer's (a bug): nothing for the breaker to learn
                    self.breaker.succeeded()
                    raise
                if attempt == 1 and connection_dropped(exc):
                    continue
                reason = f"{type(exc).__name__}: {redact_url(str(exc))}"
                self.breaker.failed(reason)
                raise StorageUnavailable(f"Qdrant at {self.url} is unreachable ({what}): {reason}") from exc
            if read is not None:
                try:
                    result = read(result)
                except (AttributeError, TypeError, KeyError, ValueError, AssertionError) as exc:
                    raise self._unreadable(what, exc) from exc
            if overdue():  # it answered, but after the request's budget was spent: slow enough to count, like a timeout
                self.breaker.failed(f"{what} answered after the request's deadline", StorageUnavailable)
            else:
                self.breaker.succeeded()
            return result

    def _unreadable(self, what: str, exc: BaseException) -> StorageAnswerInvalid:
        """An answer qdrant-client (or `read`) cannot use: the breaker counts it as a failure (a
        proxy's error page is no healthier than a timeout), and the message names the call and the
        kind of error, never the body (it may echo anything)."""
        source = getattr(exc, "source", None) or exc
        reason = f"{type(source).__name__} ({cut(str(source).splitlines()[0] if str(source) else '', 80)})"
        self.breaker.failed(f"an unreadable answer to {what}", StorageAnswerInvalid)
        return StorageAnswerInvalid(f"Qdrant at {self.url} answered {what} with a body that is not what qdrant-client expects: "
                                    f"{redact_url(reason)}; is QDRANT_URL a Qdrant server, not a proxy's page?")

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
            return self._call("get_collection", lambda: self._client.get_collection(self.collection), read_info)
        except CollectionMissing:
            return None

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
        return self._call("get_collection", lambda: self._client.get_collection(self.collection), lambda info: dict(info.config.metadata or {}))

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
        return self._call("count", lambda: self._client.count(self.collection, count_filter=flt, exact=True), lambda answer: int(answer.count))

    def delete(self, ids: Sequence[str]) -> None:
        """A server keeps counting deleted points in BM25's IDF until its vacuum optimizer rewrites
        their segments, by its own thresholds (the collection's optimizers_config; see README)."""
        if ids:
            selector = self._models.PointIdsList(points=list(ids))
            self._call("delete", lambda: self._client.delete(self.collection, points_selector=selector, wait=True))

    def _scroll_page(self, offset, limit, flt=None, *, vectors, payload=True):
        return self._call("scroll", lambda: self._client.scroll(self.collection, scroll_filter=flt, offset=offset, limit=limit,
                                                                with_payload=payload, with_vectors=vectors))

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
        return self._call("query_points", lambda: self._client.query_batch_points(self.collection, requests=requests),
                          lambda answers: [[Hit(str(p.id), float(p.score), p.payload or {}) for p in answer.points] for answer in answers])

    def _retrieve(self, ids, *, payload, vectors):
        return self._call("retrieve", lambda: self._client.retrieve(self.collection, ids=list(ids), with_payload=payload, with_vectors=vectors))

    def _layout(self) -> tuple[dict[str, str], dict]:
        def read(info):
            indexes = {field: str(getattr(index.data_type, "value", index.data_type)) for field, index in (info.payload_schema or {}).items()}
            return indexes, dict(info.config.metadata or {})

        return self._call("get_collection", lambda: self._client.get_collection(self.collection), read)

    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]:
        return self._call("facet", lambda: self._client.facet(self.collection, key=field, limit=limit, exact=True),
                          lambda response: [(str(hit.value), int(hit.count)) for hit in response.hits])


def quiet(build: Callable[[], Any]):
    """`build()`, its Python warnings (qdrant-client's "Api key is used with an insecure
    connection.", two plain-text stderr lines on Lambda) said as one JSON log line each instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build()
    for warning in caught:
        log.warning(json.dumps({"event": "qdrant_client", "warning": str(warning.message),
                                **({"why": "the API key travels unencrypted: use https:// in QDRANT_URL"} if "insecure" in str(warning.message) else {})}))
    return built


def read_info(info) -> CollectionInfo:
    """What the service needs of qdrant-client's CollectionInfo."""
    params, sparse = info.config.params.vectors, tuple(sorted(info.config.params.sparse_vectors or {}))
    hnsw_m = info.config.hnsw_config.m if info.config.hnsw_config else None
    if isinstance(params, dict):  # named dense vectors: not ours
        return CollectionInfo(None, f"named vectors {sorted(params)}", sparse, hnsw_m)
    distance = params.distance.value if hasattr(params.distance, "value") else str(params.distance)
    return CollectionInfo(params.size, distance, sparse, hnsw_m)


def unreadable(exc: BaseException) -> bool:
    """True when the client got an answer it could not read: a body that is not JSON
    (JSONDecodeError, UnicodeDecodeError), JSON of another shape (pydantic's ValidationError,
    raw or wrapped in ResponseHandlingException) or no result at all (qdrant-client asserts it
    got one: `{}`, `"result": null`)."""
    source = getattr(exc, "source", None) if type(exc).__name__ == "ResponseHandlingException" else exc
    return isinstance(source, (ValueError, AssertionError))  # json's and pydantic's errors are ValueErrors


def cut_to_deadline(request) -> None:
    """An httpx request hook (qdrant-client hands unknown arguments to httpx.Client): each phase of
    the request (connect, write, each read) gets at most what is left of the deadline in force
    (`handler.common.until`), so a call already started ends with its request's budget (start-up's
    one QDRANT_TIMEOUT, a search's REQUEST_TIMEOUT), not QDRANT_TIMEOUT after it started. A hook,
    not a transport: a transport of our own would make httpx drop its proxies from the environment
    and qdrant-client's connection limits. httpx's sync client runs hooks in the calling thread,
    where the deadline's context variable is set."""
    left = remaining()
    if left is not None:
        left = max(left, 0.001)  # already past: fail at once, as a timeout
        limits = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
        request.extensions["timeout"] = {phase: left if limit is None else min(limit, left) for phase, limit in limits.items()}


def _causes(exc: BaseException | None):
    """exc and what it wraps: qdrant-client's `source`, else the cause or context; each once."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = getattr(exc, "source", None) or exc.__cause__ or exc.__context__


def timed_out(exc: BaseException) -> bool:
    """True when a request failed by a timeout (httpx's, raw or wrapped by qdrant-client)."""
    import httpx  # deferred: as above

    return any(isinstance(cause, (httpx.TimeoutException, TimeoutError)) for cause in _causes(exc))


def connection_dropped(exc: BaseException) -> bool:
    """True when a request failed at the connection level (refused, reset, closed without an
    answer), False for a timeout or anything else: the former is worth one immediate retry."""
    import httpx  # deferred: qdrant-client's transport, present wherever this backend runs

    for cause in _causes(exc):
        if isinstance(cause, (httpx.TimeoutException, TimeoutError)):
            return False
        if isinstance(cause, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, ConnectionError)):
            return True
    return False
