"""The search service: one encoder and one storage per process (per Lambda execution
environment), built once, never per request. It knows nothing of HTTP (the web wing) or of how
requests are scheduled (the web wing's runners).

A request is answered in up to three named steps, which Lambda runs in one go (`run`) and
`python -m handler` runs apart (the cache on the event loop, the model on its thread, the store on
a pool): `cached_vector` (the query cache), `embed_queries` (the model, filling the cache) and
`answer` (the store).
"""

from __future__ import annotations

import json
import logging
import random
import time

import numpy as np

from handler.common import (
    Bm25Unavailable,
    CollectionMismatch,
    CollectionMissing,
    CollectionOutdated,
    EncoderError,
    ModelFileError,
    RequestExpired,
    SchemaMismatch,
    Settings,
    ShardLocked,
    StartupError,
    StorageError,
    StorageUnavailable,
    check_artifact_mode,
    until,
)
from handler.model import DEFAULT_BATCH_ROWS, Encoder, ModelCheck
from handler.search.query_cache import QueryCache
from handler.search.requests import FacetRequest, FacetResult, SearchRequest, SearchResult, SimilarRequest
from handler.search.weak import SHOWN_ANSWERS, Calibration, TextWords, answers_share_word, weak
from handler.storage import NO_FILTERS, Bm25Encoder, Filters, SparseVector, Storage, open_storage

log = logging.getLogger("handler")


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder, storage: Storage, verified: dict | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.storage = storage
        self.verified = verified  # what start() checked of the model file (`handler.model.integrity`)
        self._bm25 = None
        self._answer_words = None  # the shown answers' words, remembered (weak_match's word test)
        self.cache = QueryCache(settings.query_cache_size)  # popular queries skip the model
        self._calibration: Calibration | None = None
        self._calibration_read = False  # read from the collection once it answers

    @classmethod
    def start(cls, settings: Settings) -> "SearchService":
        """Load the model, open the store, warm both up: everything a request needs, built once.

        Refuses to start (StartupError, naming the file and the fix) when a model file is damaged
        (the model's sha256 is checked, overlapped with the rest: `handler.model.integrity`) or cannot load,
        the collection holds vectors of another size, or the embedded shard is held by another
        process. A Qdrant server that does not answer now is only logged (and /health says so):
        requests answer 503 until it is back.
        """
        started = time.perf_counter()
        check_artifact_mode(settings, StartupError)
        try:
            check = ModelCheck(settings.model_dir, settings.embed_variant or None)  # starts hashing the model files
        except ModelFileError as exc:
            raise StartupError(str(exc)) from exc
        try:
            encoder = Encoder.from_export(  # the size only: the hash is check's, in its thread
                settings.model_dir, settings.embed_variant or None, device="cpu", threads=settings.ort_threads or None, verify="size",
                batch_size=DEFAULT_BATCH_ROWS,  # not bulk's per-CPU size: a micro-batch of queries is one call (`handler.web.runners`)
            )
        except EncoderError as exc:  # a damaged file can make every variant's known vector differ: name it first
            raise StartupError(check.damage() or f"cannot load the model: {exc}") from exc
        except Exception as exc:  # a file the encoder's libraries could not parse: name it
            raise StartupError(check.diagnose(exc)) from exc
        encoder.limit_tokens(settings.query_max_tokens)  # a query's cost bound; BM25 still reads the whole query
        try:
            storage = open_storage(settings)
        except StorageError as exc:  # the backend's library is missing: an artifact of the other mode
            raise StartupError(str(exc)) from exc
        points = None
        # a Qdrant server gets one QDRANT_TIMEOUT for all of start-up's calls, not one each: no call
        # starts past it (Lambda's init has 10 s); a slow one is then logged like an unreachable one
        with until(time.monotonic() + settings.qdrant_timeout):
            try:
                info = storage.collection_info()
                if info is not None:
                    storage.require_match(info, encoder.dim)
                    storage.check_layout()  # built with this schema, with the indexes its filters need
                    points = storage.count()  # opens the shard / connection now, not in the first request
            except (CollectionMismatch, SchemaMismatch, CollectionOutdated) as exc:
                raise StartupError(f"{exc}; refusing to start") from exc
            except ShardLocked as exc:
                raise StartupError(str(exc)) from exc
            except (StorageError, RequestExpired) as exc:  # unreachable or too slow now: requests answer 503 until it is back
                log.warning(json.dumps({"event": "startup", "qdrant": "unavailable", "detail": str(exc)}))
            service = cls(settings, encoder, storage)
            service.warm_up(search=bool(points))
        try:
            service.verified = check.verify(encoder.variant)
        except ModelFileError as exc:
            storage.close()
            raise StartupError(str(exc)) from exc
        log.info(json.dumps({
            "event": "startup", "variant": encoder.variant, "provider": encoder.provider, **({"fallback": encoder.fallback} if encoder.fallback else {}),
            "backend": storage.backend, "query_cache": settings.query_cache_size, "query_max_tokens": encoder.max_length,
            "collection": settings.collection_name, "points": points, "ms": round((time.perf_counter() - started) * 1000, 1),
        }))
        return service

    def warm_up(self, search: bool) -> None:
        """One query through the model (and the store, when it has points): onnxruntime's first run
        allocates its buffers, and on Lambda this happens in init, which SnapStart keeps."""
        vector = self.encoder.embed_one("warm up")
        if self.encoder.wide_from and self.encoder.wide_from <= (self.encoder.max_length or 0):  # long queries' session: its first run allocates too
            self.encoder.embed_one("warm up " * self.encoder.wide_from)
        if search:
            try:
                self.storage.search(vector, 1)
            except (StorageError, RequestExpired):
                pass

    # SnapStart (`handler.lambda_entry` registers these with the runtime's hooks)
    def before_snapshot(self) -> None:
        """Nothing open to the network may be in the snapshot: its sockets would be dead after a restore."""
        self.storage.before_snapshot()

    def after_restore(self) -> None:
        """Each restored environment gets its own connections and its own random state (the
        snapshot's would be shared by every environment restored from it)."""
        random.seed()
        self.storage.after_restore()

    # -- searching: three named steps, run in one go (Lambda) or apart (the web wing's Worker) -------
    def search(self, q: str, *, limit: int, city: str | None = None, mode: str, offset: int = 0, filters: Filters = NO_FILTERS) -> SearchResult:
        """One query: embed it (unless mode=text) and ask the store (for scripts and notebooks).
        `city` is the startups schema's city filter (`filters` holds any schema's)."""
        if city:
            filters = Filters((*filters.keywords, ("city", (city,))), filters.ranges)
        return self.run(SearchRequest(q, limit, filters, mode, offset))

    def run(self, request):
        """A whole request in this thread: the query cache, the model when it misses, the store."""
        vector, embed_ms = None, 0.0
        if request.needs_vector:
            started = time.perf_counter()
            vector = self.cached_vector(request.q)
            if vector is None:
                vector = self.embed_queries([request.q])[0]
            embed_ms = (time.perf_counter() - started) * 1000
        return self.answer(request, vector, embed_ms)

    def cached_vector(self, text: str) -> np.ndarray | None:
        """Step 1: the query's vector if the query cache holds it (cheap: on the event loop)."""
        return self.cache.get(self.encoder.variant, text)

    @property
    def model_threads(self) -> int:
        """How many queries the model runs at once in `python -m handler`: one per core it may use
        (each short query on one onnxruntime thread: `Encoder.session_for`)."""
        return self.encoder.threads if self.encoder.wide_from else 1

    @property
    def answers_in_process(self) -> bool:
        """Whether the store is an embedded shard (Qdrant Edge): no server that could hang, so a
        runner may answer from it on the thread that embedded the query."""
        return getattr(self.storage, "backend", "") == "qdrant-edge"

    def embed_queries(self, texts: list[str], wide: bool = True) -> np.ndarray:
        """Step 2: the vectors of several queries in one onnxruntime call (the int8 and fp32 variants
        are batch-invariant: each is the vector the query gets alone), each put in the query cache
        before it is returned, so the same query asked next finds it there. A cache that fails costs
        a model call later, never an answer. wide=False: on one core, whatever the call's size (other
        calls run beside it)."""
        vectors = self.encoder.embed(texts, wide=wide) if len(texts) > 1 else self.encoder.embed_one(texts[0], wide=wide)[None, :]
        for text, vector in zip(texts, vectors):
            try:
                self.cache.put(self.encoder.variant, text, vector)
            except Exception as exc:
                log.warning(json.dumps({"event": "query_cache", "error": type(exc).__name__}))
        return vectors

    def answer(self, request, vector: np.ndarray | None = None, embed_ms: float = 0.0):
        """Step 3: the store's answer to a request (a search given its query's vector; None for text)."""
        started = time.perf_counter()
        if isinstance(request, FacetRequest):
            return FacetResult(request.field, self.storage.facet(request.field, request.limit))
        if isinstance(request, SimilarRequest):  # never a weak match: the anchor is a real record
            hits, mode, weak_match = self.storage.similar(request.id, request.limit, request.filters, offset=request.offset), "similar", False
        else:
            hits, weak_match = self._ask(request, vector)
            mode = request.mode
        return SearchResult(hits, mode, embed_ms, (time.perf_counter() - started) * 1000, weak_match)

    def _ask(self, request: SearchRequest, vector: np.ndarray | None):
        """The page of hits and whether the match is weak (text: no record holds every word; never
        when a record is titled as the query)."""
        q, limit, filters, offset = request.q, request.limit, request.filters, request.offset
        if request.mode == "text":
            hits = self.storage.text_search(q, limit, filters, sparse=self._sparse(q) or SparseVector((), ()), offset=offset)
            return hits, not (hits.all_words or hits.titled)
        if request.mode == "hybrid":
            hits = self.storage.hybrid_search(vector, self.bm25().query(q), limit, filters, offset=offset, text=q)
            # the words of what meaning alone found: hybrid's own page shares a word by how BM25 chose it
            return hits, False if hits.titled else weak(hits.nearest, lambda: self._shares_word(q, self.storage.with_payloads(hits.dense[:SHOWN_ANSWERS])),
                                                        self.calibration)
        hits = self.storage.search(vector, limit, filters, offset=offset)
        return hits, weak(hits.nearest, lambda: self._shares_word(q, hits), self.calibration)

    @property
    def calibration(self) -> Calibration | None:
        """The collection's weak-match calibration (kept with it by upload and --sync), read once; None without one."""
        if not self._calibration_read:
            try:
                self._calibration = Calibration.of(self.storage.metadata().get(Calibration.KEY))
                self._calibration_read = True
            except StorageError:  # not reachable now: weak_match null until it is
                return None
        return self._calibration

    def _shares_word(self, q: str, hits) -> bool:
        """Whether the first answers shown share a word with the query (False when BM25's stemmer is missing)."""
        try:
            bm25 = self.bm25()
        except Bm25Unavailable:
            return False
        if self._answer_words is None:
            self._answer_words = TextWords(bm25.words)
        return answers_share_word(q, hits, self.settings.schema.text_fields, self._answer_words, query_words=bm25.words)

    def _sparse(self, q: str) -> SparseVector | None:
        """The query's BM25 vector; None where BM25 cannot be encoded (text mode then matches words without ranking them)."""
        try:
            return self.bm25().query(q)
        except Bm25Unavailable:
            return None

    def bm25(self):
        """The BM25 query encoder, built on first use; Bm25Unavailable (503) without its libraries."""
        if self._bm25 is None:
            self._bm25 = Bm25Encoder()
        return self._bm25

    def health(self, details: bool = False, *, model_running: bool = True) -> dict:
        """{"status": "ok"|"degraded", "model": "ok"|"stopped", "collection": "ok"|"empty"|"missing"|
        "mismatch"|"unreachable"|"error"|"damaged"}, and when degraded a `reason` in a client's words
        (HEALTH_REASONS): what a load balancer needs, and nothing about where the store is or what
        it said; that goes to the log, with credentials redacted. `model_running`: whether the
        runner's model thread runs (no search can be embedded without it)."""
        detail: dict = {"backend": self.storage.backend, "collection_name": self.settings.collection_name}
        said = ""  # what the store said: the log's, never the answer's (HEALTH_DETAILS shows the kind of error only)
        try:
            points = self.storage.check_collection(self.encoder.dim)
            detail["points"] = points
            collection = "ok" if points > 0 else "empty"
            if points > 0 and (damage := self.storage.damage()):
                collection, detail["error"], said = "damaged", "damaged", damage
        except StorageError as exc:
            collection = next(state for kind, state in HEALTH_STATES if isinstance(exc, kind))
            detail["error"], said = type(exc).__name__, str(exc)
        model = "ok" if model_running else "stopped"
        status = "ok" if collection == "ok" and model == "ok" else "degraded"
        if status != "ok":
            log.warning(json.dumps({"event": "health", "status": status, "model": model, "collection": collection, **detail,
                                    **({"reason": said} if said else {})}))
        report = {"status": status, "model": model, "collection": collection}
        if status != "ok":
            report["reason"] = HEALTH_REASONS["model_stopped" if model != "ok" else collection]
        if details:  # HEALTH_DETAILS=1: an opt-in, for private deployments
            report["details"] = {"model": {**self.encoder.describe(), **(self.verified or {"verified": "nothing: not started by start()"})}, **detail}
        return report


# what /health calls each failure of the store (the first that matches)
HEALTH_STATES = ((CollectionMissing, "missing"), (CollectionMismatch, "mismatch"), (StorageUnavailable, "unreachable"), (StorageError, "error"))
# /health's `reason` when degraded: a client's words, never what the store said (that is logged)
HEALTH_REASONS = {
    "model_stopped": "the model thread stopped: no query can be embedded",
    "unreachable": "Qdrant did not answer in time or cannot be reached",
    "missing": "the collection does not exist yet",
    "empty": "the collection holds no points",
    "mismatch": "the collection holds vectors of another size or distance than the model's",
    "error": "Qdrant answered, but not with anything the service can use",
    "damaged": "the stored collection is damaged (points lost or unreadable); it must be uploaded again",
}
