"""The search service's state: one encoder and one storage client per process (per Lambda
execution environment), built once, never per request."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from handler.config import Settings
from handler.encoder import Encoder, EncoderError
from handler.errors import UsageError
from handler.storage import CollectionMismatch, Hit, Storage, StorageError, StorageUnavailable, open_storage, require_match

log = logging.getLogger("handler")


class StartupError(UsageError):
    """The service must not start: say why (bad model directory, dimension mismatch)."""


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: str
    embed_ms: float
    search_ms: float


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder, storage: Storage) -> None:
        self.settings = settings
        self.encoder = encoder
        self.storage = storage

    @classmethod
    def start(cls, settings: Settings) -> "SearchService":
        started = time.perf_counter()
        try:
            encoder = Encoder.from_export(
                settings.model_dir, settings.embed_variant or None, device="cpu", threads=settings.ort_threads or None, verify="size"
            )
        except EncoderError as exc:
            raise StartupError(f"cannot load the model: {exc}") from exc
        storage = open_storage(settings)
        try:
            info = storage.collection_info()
        except StorageError as exc:  # unreachable now: requests will answer 503 until it is back
            log.warning('{"event": "startup", "qdrant": "unavailable", "detail": "%s"}', str(exc).replace('"', "'"))
            info = None
        if info is not None:
            try:
                require_match(storage, info, encoder.dim)
            except CollectionMismatch as exc:
                raise StartupError(f"{exc}; refusing to start") from exc
        points = None
        if info is not None:
            try:
                points = storage.count()  # opens the shard / connection now, not in the first request
            except StorageError:
                pass
        log.info(
            '{"event": "startup", "variant": "%s", "provider": "%s", "backend": "%s", "collection": "%s", "points": %s, "ms": %.1f}',
            encoder.variant, encoder.provider, storage.backend, settings.collection_name, json.dumps(points), (time.perf_counter() - started) * 1000,
        )
        return cls(settings, encoder, storage)

    def search(self, q: str, *, limit: int, city: str | None, mode: str) -> SearchResult:
        started = time.perf_counter()
        if mode == "text":
            embedded = started
            hits = self.storage.text_search(q, limit, city)
        else:
            vector = self.encoder.embed_one(q)
            embedded = time.perf_counter()
            hits = self.storage.search(vector, limit, city)
        done = time.perf_counter()
        return SearchResult(hits, mode, (embedded - started) * 1000, (done - embedded) * 1000)

    def health(self) -> dict:
        qdrant: dict = {"backend": self.storage.backend, "collection": self.settings.collection_name}
        try:
            qdrant["points"] = self.storage.check_collection(self.encoder.dim)
            qdrant["reachable"] = True
        except CollectionMismatch as exc:
            qdrant.update(reachable=True, error=str(exc))
        except StorageError as exc:
            qdrant.update(reachable=not isinstance(exc, StorageUnavailable), error=str(exc))
        ok = "error" not in qdrant
        return {"status": "ok" if ok else "degraded", "model": self.encoder.describe(), "qdrant": qdrant}
