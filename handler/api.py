"""The FastAPI app: GET /api/search, GET /health, /docs and /openapi.json.

Errors are JSON and never carry a stack trace: 422 names the bad parameter, 503 says which
Qdrant or collection is missing, 500 says only that something unexpected happened.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from handler.config import Settings
from handler.service import SearchService
from handler.storage import CollectionMismatch, CollectionMissing, StorageError, StorageUnavailable

log = logging.getLogger("handler")
MAX_LIMIT = 100


class HitInfo(BaseModel):
    id: str = Field(description="Qdrant point id (a UUID derived from the record's content)")
    score: float | None = Field(description="cosine similarity for mode=neural; null for mode=text (a full-text match has no score)")


class SearchResponse(BaseModel):
    result: list[dict] = Field(description="the matching records (payloads), best first: the tutorial's response shape")
    hits: list[HitInfo] = Field(description="id and score of each entry of `result`, in the same order")
    mode: Literal["neural", "text"]
    took_ms: dict[str, float] = Field(description="embed and search time inside the service")


class ErrorResponse(BaseModel):
    error: str
    detail: str | list


def _validation_error(parameter: str, message: str) -> JSONResponse:
    # Same shape as FastAPI's own 422 body, so clients handle both alike.
    return JSONResponse(status_code=422, content={"detail": [{"loc": ["query", parameter], "msg": message, "type": "value_error"}]})


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


class StageRootPath:
    """Behind a REST API (v1 events) the stage is part of the URL (/Prod/docs) but not of the
    event's path, so FastAPI must be told the prefix or /docs points at a wrong openapi.json."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        event = scope.get("aws.event") if scope["type"] == "http" else None
        if isinstance(event, dict) and "httpMethod" in event:
            context = event.get("requestContext") or {}
            stage = context.get("stage") or ""
            if stage and stage != "$default" and str(context.get("path", "")).startswith(f"/{stage}/"):
                scope = {**scope, "root_path": f"/{stage}"}
        await self.app(scope, receive, send)


def configure_logging(level: str) -> None:
    """One JSON line per event on stdout (CloudWatch on Lambda); other libraries' loggers untouched."""
    if not log.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(stream)
        log.propagate = False
    log.setLevel(level)


def create_app(settings: Settings | None = None, service: SearchService | None = None) -> FastAPI:
    """Build the app. The service (model + Qdrant client) is built here, once, not per request."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    service = service or SearchService.start(settings)

    app = FastAPI(
        title="Neural search: startups",
        version="0.1.0",
        description="Semantic search over startup descriptions with all-MiniLM-L6-v2 (ONNX) and Qdrant. "
        "`mode=neural` ranks by meaning; `mode=text` is Qdrant's full-text match on the description.",
    )
    app.state.service = service
    app.add_middleware(StageRootPath)

    @app.middleware("http")
    async def request_log(request: Request, call_next):
        started = time.perf_counter()
        request.state.timing = {}
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        try:
            response = await call_next(request)
        except Exception:  # last resort: the client gets a plain 500, the log keeps the traceback
            log.exception(json.dumps({"event": "unhandled", "path": request.url.path, "request_id": request_id}))
            response = _error(500, "internal_error", f"unexpected error; quote request id {request_id}")
        line = {
            "event": "request",
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "total_ms": round((time.perf_counter() - started) * 1000, 2),
            "request_id": request_id,
            **request.state.timing,
        }
        log.info(json.dumps(line))
        response.headers["x-request-id"] = request_id
        return response

    @app.exception_handler(StorageUnavailable)
    async def _unavailable(request: Request, exc: StorageUnavailable):
        return _error(503, "qdrant_unavailable", f"Qdrant ({service.storage.backend}) did not answer; try again later")

    @app.exception_handler(CollectionMissing)
    async def _missing(request: Request, exc: CollectionMissing):
        return _error(503, "collection_missing", f"collection '{settings.collection_name}' does not exist yet; load it with scripts.embed and scripts.upload (see README)")

    @app.exception_handler(CollectionMismatch)
    async def _mismatch(request: Request, exc: CollectionMismatch):
        return _error(503, "collection_mismatch", str(exc))

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError):
        return _error(503, "qdrant_error", f"Qdrant ({service.storage.backend}) failed to answer")

    @app.get(
        "/api/search",
        response_model=SearchResponse,
        responses={422: {"description": "a parameter is invalid (named in `detail[].loc`)"}, 503: {"model": ErrorResponse, "description": "Qdrant unreachable or collection missing"}},
        summary="Search startups by meaning (or by words with mode=text)",
    )
    def search(
        request: Request,
        q: str = Query(min_length=1, max_length=settings.query_max_chars, description=f"what to look for, 1 to {settings.query_max_chars} characters (QUERY_MAX_CHARS), not blank", examples=["vegan food delivery"]),
        city: str | None = Query(None, description="only startups in this city (exact match on the `city` field)", examples=["Berlin"]),
        limit: int = Query(5, ge=1, le=MAX_LIMIT, description=f"number of results, 1 to {MAX_LIMIT}"),
        mode: Literal["neural", "text"] = Query("neural", description="`neural`: vector search with the ONNX encoder; `text`: full-text match on the description"),
    ):
        if not q.strip():
            return _validation_error("q", "q must not be blank")
        city = city if city and city.strip() else None
        found = service.search(q, limit=limit, city=city, mode=mode)
        request.state.timing.update(mode=mode, embed_ms=round(found.embed_ms, 2), search_ms=round(found.search_ms, 2), hits=len(found.hits), q_chars=len(q))
        return {
            "result": [hit.payload for hit in found.hits],
            "hits": [{"id": hit.id, "score": hit.score} for hit in found.hits],
            "mode": mode,
            "took_ms": {"embed": round(found.embed_ms, 2), "search": round(found.search_ms, 2)},
        }

    @app.get("/health", summary="Model loaded, Qdrant reachable, collection point count", responses={503: {"description": "degraded: Qdrant or the collection is not usable"}})
    def health():
        report = service.health()
        return JSONResponse(status_code=200 if report["status"] == "ok" else 503, content=report)

    return app
