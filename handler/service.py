"""The search service: one encoder and one storage per process (per Lambda execution
environment), built once, never per request. It knows nothing of HTTP (handler/api.py) or of
how requests are scheduled (handler/runners.py).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from handler.artifact import check_artifact_mode
from handler.bm25 import Bm25Encoder, Bm25Unavailable
from handler.config import Settings
from handler.encoder import Encoder, EncoderError
from handler.errors import UsageError
from handler.query_cache import QueryCache
from handler.integrity import ModelCheck
from handler.manifest import ModelFileError
from handler.storage import (
    CollectionMismatch, CollectionMissing, Hit, ShardLocked, SparseVector, Storage, StorageError, StorageUnavailable, open_storage,
)

log = logging.getLogger("handler")

# The search modes, what each does (the API's documentation and the page's switch read this), and
# the default: `python -m scripts.eval_modes` (README) measured hybrid best at finding a startup by
# its name while keeping the meaning queries' answers.
MODES = {
    "hybrid": "meaning and words together: the ONNX encoder's vector search and Qdrant's BM25, fused by reciprocal rank",
    "neural": "meaning alone: vector search with the ONNX encoder (the tutorial's search)",
    "text": "words alone: any of the words, ranked by BM25, the startups holding all of them first",
}
DEFAULT_MODE = "hybrid"
# weak_match: "nothing is really close". The best dense score of a search (cosine) decides at
# either end; between the two, a match counts as close only when some query word occurs in the
# collection (BM25's vocabulary). Calibrated by `python -m scripts.calibrate_weak` on the queries
# of scripts/weak_queries.py; README ("Weak matches") has the separation it measured.
CLOSE_COSINE = 0.42
FAR_COSINE = 0.29


class StartupError(UsageError):
    """The service must not start: say why (bad model directory, dimension mismatch)."""


@dataclass(frozen=True)
class SearchRequest:
    """One search, from the route to the storage call."""

    q: str
    limit: int = 5
    city: str | None = None
    mode: str = DEFAULT_MODE
    offset: int = 0  # the page: hits offset .. offset + limit - 1 of the ranking

    @property
    def needs_vector(self) -> bool:
        return self.mode != "text"


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: str
    embed_ms: float
    search_ms: float
    weak_match: bool = False  # nothing is really close: these are only the nearest


def weak(nearest: float | None, words: Callable[[], bool | None]) -> bool:
    """The weak_match rule for a search with a dense list (neural, hybrid): `nearest` is its best
    cosine (None: no hit at all), `words()` whether any query word occurs in the collection (None:
    the collection cannot tell), asked only when the cosine alone does not decide."""
    if nearest is None or nearest < FAR_COSINE:
        return True
    return nearest < CLOSE_COSINE and not words()


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder, storage: Storage, verified: dict | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.storage = storage
        self.verified = verified  # what start() checked of the model file (handler.integrity)
        self._bm25 = None
        self.cache = QueryCache(settings.query_cache_size)  # popular queries skip the model

    @classmethod
    def start(cls, settings: Settings) -> "SearchService":
        """Load the model, open the store, warm both up: everything a request needs, built once.

        Refuses to start (StartupError, naming the file and the fix) when a model file is damaged
        (the model's sha256 is checked, overlapped with the rest: handler.integrity) or cannot load,
        the collection holds vectors of another size, or the embedded shard is held by another
        process. A Qdrant server that does not answer now is only logged (and /health says so):
        requests answer 503 until it is back.
        """
        started = time.perf_counter()
        check_artifact_mode(settings, StartupError)
        try:
            check = ModelCheck(settings.model_dir, settings.embed_variant or None)  # starts hashing the model file
        except ModelFileError as exc:
            raise StartupError(str(exc)) from exc
        try:
            encoder = Encoder.from_export(  # the size only: the hash is check's, in its thread
                settings.model_dir, settings.embed_variant or None, device="cpu", threads=settings.ort_threads or None, verify="size"
            )
        except EncoderError as exc:
            raise StartupError(f"cannot load the model: {exc}") from exc
        except Exception as exc:  # a file the encoder's libraries could not parse: name it
            raise StartupError(check.diagnose(exc)) from exc
        try:
            storage = open_storage(settings)
        except StorageError as exc:  # the backend's library is missing: an artifact of the other mode
            raise StartupError(str(exc)) from exc
        points = None
        try:
            info = storage.collection_info()
            if info is not None:
                storage.require_match(info, encoder.dim)
                points = storage.count()  # opens the shard / connection now, not in the first request
        except CollectionMismatch as exc:
            raise StartupError(f"{exc}; refusing to start") from exc
        except ShardLocked as exc:
            raise StartupError(str(exc)) from exc
        except StorageError as exc:  # unreachable now: requests answer 503 until it is back
            log.warning(json.dumps({"event": "startup", "qdrant": "unavailable", "detail": str(exc)}))
        service = cls(settings, encoder, storage)
        service.warm_up(search=bool(points))
        try:
            service.verified = check.verify(encoder.model_path, encoder.sha256)
        except ModelFileError as exc:
            storage.close()
            raise StartupError(str(exc)) from exc
        log.info(json.dumps({
            "event": "startup", "variant": encoder.variant, "provider": encoder.provider, **({"fallback": encoder.fallback} if encoder.fallback else {}),
            "backend": storage.backend, "query_cache": settings.query_cache_size,
            "collection": settings.collection_name, "points": points, "ms": round((time.perf_counter() - started) * 1000, 1),
        }))
        return service

    def warm_up(self, search: bool) -> None:
        """One query through the model (and the store, when it has points): onnxruntime's first run
        allocates its buffers, and on Lambda this happens in init, which SnapStart keeps."""
        vector = self.encoder.embed_one("warm up")
        if search:
            try:
                self.storage.search(vector, 1, None)
            except StorageError:
                pass

    # SnapStart (handler.lambda_entry registers these with the runtime's hooks)
    def before_snapshot(self) -> None:
        """Nothing open to the network may be in the snapshot: its sockets would be dead after a restore."""
        self.storage.before_snapshot()

    def after_restore(self) -> None:
        """Each restored environment gets its own connections and its own random state (the
        snapshot's would be shared by every environment restored from it)."""
        random.seed()
        self.storage.after_restore()

    # -- searching: the whole of it (Lambda), or its two steps (handler.runners.Worker) -----------------
    def search(self, q: str, *, limit: int, city: str | None, mode: str, offset: int = 0) -> SearchResult:
        """One query: embed it (unless mode=text) and ask the store."""
        return self.run(SearchRequest(q, limit, city, mode, offset))

    def run(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        vector = self.embed_query(request.q) if request.needs_vector else None
        embedded = time.perf_counter()
        hits, weak_match = self.ask(request, vector)
        return SearchResult(hits, request.mode, (embedded - started) * 1000, (time.perf_counter() - embedded) * 1000, weak_match)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector: from the query cache, or the model (then kept in the cache)."""
        vector = self.cache.get(self.encoder.variant, text)
        if vector is None:
            vector = self.encoder.embed_one(text)
            self.cache.put(self.encoder.variant, text, vector)
        return vector

    def cached(self, text: str) -> np.ndarray | None:
        return self.cache.get(self.encoder.variant, text)

    def remember(self, text: str, vector: np.ndarray) -> None:
        self.cache.put(self.encoder.variant, text, vector)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Several queries' vectors in one onnxruntime call (the int8 and fp32 variants are
        batch-invariant: each vector is the one embed_one gives)."""
        return self.encoder.embed(texts)

    def ask(self, request: SearchRequest, vector: np.ndarray | None) -> tuple[list[Hit], bool]:
        """The storage step of a search, given the query's vector (None for text): the page of hits
        and whether the match is weak (text: no startup holds every word)."""
        q, limit, city, offset = request.q, request.limit, request.city, request.offset
        if request.mode == "text":
            hits = self.storage.text_search(q, limit, city, sparse=self._sparse(q) or SparseVector((), ()), offset=offset)
            return hits, not hits.all_words
        if request.mode == "hybrid":
            hits = self.storage.hybrid_search(vector, self.bm25().query(q), limit, city, offset=offset)
            return hits, weak(hits.nearest, lambda: hits.words)
        hits = self.storage.search(vector, limit, city, offset=offset)
        return hits, weak(hits.nearest, lambda: self._words_found(q, city))

    def _sparse(self, q: str) -> SparseVector | None:
        """The query's BM25 vector; None where BM25 cannot be encoded (text mode then matches words without ranking them)."""
        try:
            return self.bm25().query(q)
        except Bm25Unavailable:
            return None

    def _words_found(self, q: str, city: str | None) -> bool | None:
        sparse = self._sparse(q)
        return None if sparse is None else self.storage.words_found(sparse, city)

    def bm25(self):
        """The BM25 query encoder, built on first use; Bm25Unavailable (503) without its libraries."""
        if self._bm25 is None:
            self._bm25 = Bm25Encoder()
        return self._bm25

    def similar(self, point_id: str, *, limit: int, city: str | None, offset: int = 0) -> SearchResult:
        """The startups most like a stored one (never a weak match: the anchor is a real startup)."""
        started = time.perf_counter()
        hits = self.storage.similar(point_id, limit, city, offset=offset)
        return SearchResult(hits, "similar", 0.0, (time.perf_counter() - started) * 1000)

    def cities(self, limit: int) -> list[tuple[str, int]]:
        return self.storage.cities(limit)

    def health(self, details: bool = False) -> dict:
        """{"status": "ok"|"degraded", "model": "ok", "collection": "ok"|"empty"|"missing"|
        "mismatch"|"unreachable"|"error"}: what a load balancer needs, and nothing about where the
        store is or what it said; that goes to the log, with credentials redacted."""
        detail: dict = {"backend": self.storage.backend, "collection_name": self.settings.collection_name}
        try:
            points = self.storage.check_collection(self.encoder.dim)
            detail["points"] = points
            collection = "ok" if points > 0 else "empty"
        except CollectionMissing as exc:
            collection, detail["reason"] = "missing", str(exc)
        except CollectionMismatch as exc:
            collection, detail["reason"] = "mismatch", str(exc)
        except StorageUnavailable as exc:
            collection, detail["reason"] = "unreachable", str(exc)
        except StorageError as exc:
            collection, detail["reason"] = "error", str(exc)
        status = "ok" if collection == "ok" else "degraded"
        if status != "ok":
            log.warning(json.dumps({"event": "health", "status": status, "collection": collection, **detail}))
        report = {"status": status, "model": "ok", "collection": collection}
        if details:  # HEALTH_DETAILS=1: an opt-in, for private deployments
            report["details"] = {"model": {**self.encoder.describe(), **(self.verified or {"verified": "nothing: not started by start()"})}, **detail}
        return report
