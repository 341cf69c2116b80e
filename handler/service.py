"""The search service's state: one encoder and one storage client per process (per Lambda
execution environment), built once, never per request."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from handler.config import Settings
from handler.encoder import Encoder, EncoderError
from handler.errors import UsageError
from handler.storage import (
    CollectionMismatch,
    CollectionMissing,
    Hit,
    ShardLocked,
    SparseMissing,
    Storage,
    StorageError,
    StorageUnavailable,
    open_storage,
    require_match,
)

log = logging.getLogger("handler")
# Written by infra/build_artifact.py into a Lambda artifact's root: {"mode": "server"|"embedded", ...}
ARTIFACT_INFO = Path(__file__).resolve().parents[1] / "artifact.json"


def check_artifact_mode(settings: Settings) -> None:
    """A Lambda artifact serves the storage mode it was built for; say so at start otherwise."""
    if not ARTIFACT_INFO.is_file():
        return  # not a Lambda artifact: a checkout, any mode
    mode = json.loads(ARTIFACT_INFO.read_text()).get("mode")
    if mode == "server" and not settings.qdrant_url:
        raise StartupError("this Lambda artifact was built with --mode server and needs QDRANT_URL; build it with --mode embedded for Qdrant Edge")
    if mode == "embedded" and settings.qdrant_url:
        raise StartupError("this Lambda artifact was built with --mode embedded and needs QDRANT_URL empty; build it with --mode server for a Qdrant server")


class StartupError(UsageError):
    """The service must not start: say why (bad model directory, dimension mismatch)."""


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: str
    embed_ms: float
    search_ms: float


MODES = ("neural", "text", "hybrid")


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder, storage: Storage, bm25=None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.storage = storage
        self.bm25 = bm25 if bm25 is not None else _bm25_or_none()

    @classmethod
    def start(cls, settings: Settings) -> "SearchService":
        """Load the model, open the store, warm both up: everything a request needs, built once.

        Refuses to start (StartupError) when the model cannot load, the collection holds vectors of
        another size, or the embedded shard is held by another process. A Qdrant server that does
        not answer now is only logged: requests answer 503 until it is back.
        """
        started = time.perf_counter()
        check_artifact_mode(settings)
        try:
            encoder = Encoder.from_export(
                settings.model_dir, settings.embed_variant or None, device="cpu", threads=settings.ort_threads or None, verify="size"
            )
        except EncoderError as exc:
            raise StartupError(f"cannot load the model: {exc}") from exc
        if not settings.qdrant_url and settings.qdrant_shard_source:
            from handler.shard import provision_shard

            provision_shard(settings.qdrant_shard_source, settings.qdrant_path, settings.collection_name)
        try:
            storage = open_storage(settings)
        except StorageError as exc:  # the backend's library is missing: an artifact of the other mode
            raise StartupError(str(exc)) from exc
        points = None
        try:
            info = storage.collection_info()
            if info is not None:
                require_match(storage, info, encoder.dim)
                points = storage.count()  # opens the shard / connection now, not in the first request
        except CollectionMismatch as exc:
            raise StartupError(f"{exc}; refusing to start") from exc
        except ShardLocked as exc:
            raise StartupError(str(exc)) from exc
        except StorageError as exc:  # unreachable now: requests will answer 503 until it is back
            log.warning(json.dumps({"event": "startup", "qdrant": "unavailable", "detail": str(exc)}))
        service = cls(settings, encoder, storage)
        service.warm_up(search=bool(points))
        log.info(json.dumps({
            "event": "startup", "variant": encoder.variant, "provider": encoder.provider, "backend": storage.backend,
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
        if hasattr(self.storage, "reconnect"):
            self.storage.close()

    def after_restore(self) -> None:
        """Each restored environment gets its own connections and its own random state (the
        snapshot's would be shared by every environment restored from it)."""
        random.seed()
        if hasattr(self.storage, "reconnect"):
            self.storage.reconnect()

    def search(self, q: str, *, limit: int, city: str | None, mode: str) -> SearchResult:
        """One query: embed it (unless mode=text) and ask the store. The Lambda path."""
        started = time.perf_counter()
        vector = None if mode == "text" else self.encoder.embed_one(q)
        embedded = time.perf_counter()
        hits = self._ask(q, vector, limit, city, mode)
        done = time.perf_counter()
        return SearchResult(hits, mode, (embedded - started) * 1000, (done - embedded) * 1000)

    def _ask(self, q: str, vector, limit: int, city: str | None, mode: str) -> list[Hit]:
        if mode == "text":
            return self.storage.text_search(q, limit, city)
        if mode == "hybrid":
            if self.bm25 is None:
                raise SparseMissing("hybrid search needs mmh3 and py-rust-stemmers to encode BM25 queries, and this deployment has none")
            return self.storage.hybrid_search(vector, self.bm25.query(q), limit, city)
        return self.storage.search(vector, limit, city)

    def similar(self, point_id: str, *, limit: int, city: str | None) -> SearchResult:
        started = time.perf_counter()
        hits = self.storage.similar(point_id, limit, city)
        return SearchResult(hits, "similar", 0.0, (time.perf_counter() - started) * 1000)

    def cities(self, limit: int) -> list[tuple[str, int]]:
        return self.storage.cities(limit)

    def search_many(self, requests: list[SearchRequest]) -> list[SearchResult | Exception]:
        """Several queries at once, as the local server's worker collects them: every text that
        needs a vector goes through onnxruntime in one call (each request is charged that call's
        time as its embed_ms), then each asks the store. A failure is returned in place, so one
        bad request does not fail its batch-mates."""
        if len(requests) == 1:
            only = requests[0]
            return [_attempt(lambda: self.search(only.q, limit=only.limit, city=only.city, mode=only.mode))]
        started = time.perf_counter()
        neural = [i for i, r in enumerate(requests) if r.mode != "text"]
        vectors = dict(zip(neural, self.encoder.embed([requests[i].q for i in neural]))) if neural else {}
        embed_ms = (time.perf_counter() - started) * 1000 if neural else 0.0
        results: list[SearchResult | Exception] = []
        for i, request in enumerate(requests):
            begun = time.perf_counter()
            outcome = _attempt(lambda: self._ask(request.q, vectors.get(i), request.limit, request.city, request.mode))
            took = (time.perf_counter() - begun) * 1000
            results.append(outcome if isinstance(outcome, Exception) else SearchResult(outcome, request.mode, embed_ms if i in vectors else 0.0, took))
        return results

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
            report["details"] = {"model": self.encoder.describe(), **detail}
        return report


@dataclass(frozen=True)
class SearchRequest:
    q: str
    limit: int
    city: str | None
    mode: str


def _bm25_or_none():
    """The BM25 encoder for hybrid queries; without its libraries mode=hybrid answers 503 saying so."""
    from handler.bm25 import Bm25Encoder

    try:
        return Bm25Encoder()
    except StorageError:
        return None


def _attempt(fn):
    try:
        return fn()
    except Exception as exc:  # handed back to the request it belongs to, raised there
        return exc
