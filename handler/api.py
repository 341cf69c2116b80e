"""The FastAPI app: GET /api/search, GET /health, /docs (self-hosted assets) and /openapi.json.

Errors are JSON and never carry a stack trace or internals: 422 names the bad parameter (echoing
at most a short prefix of the value), 503 says which part is not usable, 500 says only that
something unexpected happened and quotes the request id. OpenAPI documents every one of them.

The request path is built for Lambda, where every millisecond is billed: async endpoints (no
thread hop), a pure ASGI middleware for the request id, the timing headers and the one log line
(no BaseHTTPMiddleware task and stream), and responses rendered directly (no response-model
validation of what the service built itself).
"""


import asyncio
import functools
import json
import logging
import queue
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, Field

from handler.config import Settings, redact_url
from handler.service import SearchRequest, SearchService
from handler.storage import CollectionMismatch, CollectionMissing, PointNotFound, SparseMissing, StorageError, StorageUnavailable
from handler.text import NOT_BLANK_PATTERN, normalize, preview

log = logging.getLogger("handler")
MAX_LIMIT = 100
MAX_CITY_CHARS = 100
MAX_CITIES = 1000
Mode = Literal["neural", "text", "hybrid"]
# Measured with `python -m scripts.eval_modes` (README): hybrid finds a startup by its name and
# keeps the meaning queries' answers, so it is what a search box should do by default.
DEFAULT_MODE = "hybrid"
STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# The tutorial's demo frontend (qdrant_demo) reads these names; DEMO_FIELD_ALIASES=1 adds them.
DEMO_ALIASES = {"document": "description", "short_description": "description", "logo_url": "images", "homepage_url": "link"}
# A client's X-Request-Id is kept only if it looks like an id: short, no spaces, no markup.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


# -- response bodies, for the OpenAPI schema -----------------------------------------------------------

class HitInfo(BaseModel):
    id: str = Field(description="Qdrant point id (a UUID derived from the record's content): what /api/similar takes")
    score: float | None = Field(description="cosine similarity (neural, similar), fused reciprocal-rank score (hybrid), null for text (a full-text match has no score)")


class SearchResponse(BaseModel):
    result: list[dict] = Field(description="the matching records (payloads), best first: the tutorial's response shape")
    hits: list[HitInfo] = Field(description="id and score of each entry of `result`, in the same order")
    mode: Literal["neural", "text", "hybrid", "similar"]
    took_ms: dict[str, float] = Field(description="embed and search time inside the service")


class CityCount(BaseModel):
    city: str
    count: int


class CitiesResponse(BaseModel):
    cities: list[CityCount] = Field(description="each city with its number of startups, biggest first")


class ErrorResponse(BaseModel):
    error: str = Field(description="machine-readable reason: qdrant_unavailable, collection_missing, collection_mismatch, hybrid_unavailable, qdrant_error, not_found, internal_error")
    detail: str = Field(description="what happened and what to do, in words")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='where: ["query", "<parameter>"]')
    msg: str
    type: str
    input: object | None = Field(None, description="the value received, cut to its first 40 characters")


class ValidationErrorResponse(BaseModel):
    detail: list[ValidationIssue]


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    model: Literal["ok"]
    collection: Literal["ok", "empty", "missing", "mismatch", "unreachable", "error"]
    details: dict | None = Field(None, description="only with HEALTH_DETAILS=1")


ERRORS = {
    422: {"model": ValidationErrorResponse, "description": "a parameter is invalid (named in `detail[].loc`)"},
    500: {"model": ErrorResponse, "description": "unexpected error (the body quotes the request id; the log has the rest)"},
    503: {"model": ErrorResponse, "description": "Qdrant unreachable, or the collection missing or of another size"},
}


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def _not_blank(parameter: str):
    def check(value):
        if isinstance(value, str):
            value = normalize(value)
            if not value:
                raise ValueError(f"{parameter} must not be blank (control, format and whitespace characters do not count)")
        return value

    return BeforeValidator(check)


def _normalized(value):
    return normalize(value) if isinstance(value, str) else value


# -- where the CPU-bound work runs ----------------------------------------------------------------------

class Inline:
    """Lambda: an execution environment serves one request at a time, so the search runs right in
    the event loop's thread. A thread hop would only add latency: nothing else is waiting."""

    def __init__(self, service: SearchService) -> None:
        self.service = service

    async def search(self, request: SearchRequest):
        return self.service.search(request.q, limit=request.limit, city=request.city, mode=request.mode)

    async def call(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def close(self) -> None:
        pass


class Worker:
    """`python -m handler`: many connections share one process, so the event loop must stay free.
    One worker thread owns the model and the store: onnxruntime already spreads one inference over
    every core, and more threads would only fight over them. Searches that arrive while it works
    are taken together, up to `max_batch`, and embedded in one onnxruntime call (micro-batching,
    as TEI and infinity do): under load that is more texts per second, and alone a request never
    waits for company."""

    def __init__(self, service: SearchService, max_batch: int = 16) -> None:
        self.service = service
        self.max_batch = max_batch
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="search-worker", daemon=True)
        self.thread.start()

    async def search(self, request: SearchRequest):
        return await self._submit("search", request)

    async def call(self, fn, *args, **kwargs):
        return await self._submit("call", lambda: fn(*args, **kwargs))

    async def _submit(self, kind: str, payload):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((kind, payload, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            searches, calls = [], []
            (searches if job[0] == "search" else calls).append(job)
            while len(searches) < self.max_batch:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                (searches if more[0] == "search" else calls).append(more)
            if searches:
                outcomes = self.service.search_many([payload for _, payload, _, _ in searches])
                for (_, _, future, loop), outcome in zip(searches, outcomes):
                    _resolve(loop, future, outcome)
            for _, fn, future, loop in calls:
                try:
                    outcome = fn()
                except Exception as exc:
                    outcome = exc
                _resolve(loop, future, outcome)

    def close(self) -> None:
        self.jobs.put(None)


def _resolve(loop, future, outcome) -> None:
    def settle():
        if not future.done():  # the client may have gone away
            future.set_exception(outcome) if isinstance(outcome, BaseException) else future.set_result(outcome)

    loop.call_soon_threadsafe(settle)


RUNNERS = {"inline": Inline, "worker": Worker}


# -- pure ASGI middleware ---------------------------------------------------------------------------------

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


def request_ids(scope) -> dict:
    """The request id the response and the log carry: on Lambda the API Gateway request id (what
    API Gateway's own logs show), else a client's X-Request-Id when it looks like an id, else a
    new one. A client's id that is not used as such is logged beside, if it is safe to log."""
    ids: dict = {}
    client = None
    for key, value in scope.get("headers") or ():
        if key == b"x-request-id":
            client = value.decode("latin-1")
            break
    safe_client = client if client is not None and SAFE_REQUEST_ID.fullmatch(client) else None
    event = scope.get("aws.event")
    gateway = ((event or {}).get("requestContext") or {}).get("requestId") if isinstance(event, dict) else None
    context = scope.get("aws.context")
    if getattr(context, "aws_request_id", None):
        ids["aws_request_id"] = context.aws_request_id
    if isinstance(gateway, str) and SAFE_REQUEST_ID.fullmatch(gateway):
        ids["request_id"] = gateway
        if safe_client:
            ids["client_request_id"] = safe_client
    else:
        ids["request_id"] = safe_client or uuid.uuid4().hex[:16]
    if client is not None and not safe_client:
        ids["client_request_id"] = "refused: not an id"
    return ids


class RequestLog:
    """One JSON log line per request (method, path, status, timings, ids; never the query text),
    `x-request-id` and `Server-Timing` headers on the response, and the last-resort 500: an
    exception no handler took becomes a plain JSON 500; its traceback goes to the log only."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        ids = request_ids(scope)
        request_id = ids["request_id"]
        timing: dict = {}
        scope.setdefault("state", {})["timing"] = timing  # request.state.timing in the endpoints
        status = 0

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if "embed_ms" in timing:
                    headers.append((b"server-timing", f"embed;dur={timing['embed_ms']}, search;dur={timing['search_ms']}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception(json.dumps({"event": "unhandled", "path": scope.get("path"), **ids}))
            if status == 0:
                body = json.dumps({"error": "internal_error", "detail": f"unexpected error; quote request id {request_id}"}).encode()
                await send_with_headers({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            if log.isEnabledFor(logging.INFO):
                line = {"event": "request", "method": scope.get("method"), "path": scope.get("path"), "status": status or 500,
                        "total_ms": round((time.perf_counter() - started) * 1000, 2), **ids, **timing}
                log.info(json.dumps(line))


def configure_logging(level: str) -> None:
    """One JSON line per event on stdout (CloudWatch on Lambda); other libraries' loggers untouched."""
    if not log.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(stream)
        log.propagate = False
    log.setLevel(level)


# -- the docs page, its assets served by the app itself --------------------------------------------------

DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"}


@functools.lru_cache(maxsize=None)
def _file_bytes(path: Path) -> bytes:
    """A file the app serves, read once per process (a handful of small, fixed files)."""
    return path.read_bytes()


def _docs_asset_dir() -> Path | None:
    try:  # pinned in pyproject.toml and the Lambda requirements: Swagger UI's files, no CDN
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(swagger_ui_path)


def create_app(settings: Settings | None = None, service: SearchService | None = None, *, concurrency: str = "inline") -> FastAPI:
    """Build the app. The service (model + Qdrant client) is built here, once, not per request.
    concurrency: "inline" (Lambda, tests) or "worker" (`python -m handler`); see Inline / Worker."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    service = service or SearchService.start(settings)
    runner = RUNNERS[concurrency](service)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(json.dumps({"event": "settings", **{k: redact_url(str(v)) for k, v in settings.public().items()}}))

    app = FastAPI(
        title="Neural search: startups",
        version="0.2.0",
        description="Semantic search over startup descriptions with all-MiniLM-L6-v2 (ONNX) and Qdrant. "
        "`mode=hybrid` (default) fuses meaning (the ONNX encoder) and words (Qdrant's BM25) by reciprocal rank; "
        "`mode=neural` ranks by meaning alone; `mode=text` is Qdrant's full-text match on the description. "
        "Text parameters follow one rule: control, format and whitespace characters are removed or "
        "collapsed first, and a `q` with nothing left is refused (422).",
        docs_url=None,  # served below with local assets
        redoc_url=None,  # ReDoc would load from a CDN: not offered
        redirect_slashes=False,  # a redirect built from the client's Host header could point anywhere
    )
    app.state.service = service
    app.state.runner = runner
    if settings.cors_allow_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_allow_origins), allow_methods=["GET"], allow_headers=["x-request-id"],
                           expose_headers=["x-request-id", "server-timing"], max_age=600)
    app.add_middleware(RequestLog)
    app.add_middleware(StageRootPath)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        issues = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:200], "type": e.get("type", "value_error"), "input": preview(e.get("input"))} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": issues})

    @app.exception_handler(StorageUnavailable)
    async def _unavailable(request: Request, exc: StorageUnavailable):
        return _error(503, "qdrant_unavailable", f"Qdrant ({service.storage.backend}) did not answer; try again later")

    @app.exception_handler(CollectionMissing)
    async def _missing(request: Request, exc: CollectionMissing):
        return _error(503, "collection_missing", f"collection '{settings.collection_name}' does not exist yet; load it with scripts.embed and scripts.upload (see README)")

    @app.exception_handler(CollectionMismatch)
    async def _mismatch(request: Request, exc: CollectionMismatch):
        return _error(503, "collection_mismatch", f"collection '{settings.collection_name}' holds vectors of another size or distance than the model's; see the service log")

    @app.exception_handler(SparseMissing)
    async def _sparse_missing(request: Request, exc: SparseMissing):
        if service.bm25 is None:
            why = "this deployment cannot encode BM25 queries (mmh3 and py-rust-stemmers are not installed)"
        else:
            why = "the collection has no BM25 vectors yet; upload it again with `python -m scripts.upload ... --recreate` (see README)"
        return _error(503, "hybrid_unavailable", f"hybrid search is not available: {why}; mode=neural and mode=text work")

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError):
        return _error(503, "qdrant_error", f"Qdrant ({service.storage.backend}) failed to answer")

    def search_body(found, mode: str, request: Request, q_chars: int = 0) -> JSONResponse:
        embed_ms, search_ms = round(found.embed_ms, 2), round(found.search_ms, 2)
        request.state.timing.update(mode=mode, embed_ms=embed_ms, search_ms=search_ms, hits=len(found.hits), q_chars=q_chars)
        result = [hit.payload for hit in found.hits]
        if settings.demo_field_aliases:
            result = [{**payload, **{alias: payload.get(field) for alias, field in DEMO_ALIASES.items()}, "uuid": hit.id} for payload, hit in zip(result, found.hits)]
        # Rendered directly: the body is built here from typed parts, so validating it again
        # against SearchResponse (which documents it) would only cost time.
        return JSONResponse({
            "result": result,
            "hits": [{"id": hit.id, "score": hit.score} for hit in found.hits],
            "mode": mode,
            "took_ms": {"embed": embed_ms, "search": search_ms},
        })

    City = Annotated[str | None, BeforeValidator(_normalized), Query(
        max_length=MAX_CITY_CHARS, description=f"only startups in this city (exact match on the `city` field, see /api/cities), up to {MAX_CITY_CHARS} characters; blank = any city",
        examples=["Berlin"],
    )]
    Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"number of results, 1 to {MAX_LIMIT}")]

    @app.get("/api/search", response_model=SearchResponse, responses=ERRORS, summary="Search startups by meaning, by words, or both (hybrid)")
    async def search(
        request: Request,
        q: Annotated[str, _not_blank("q"), Query(
            min_length=1, max_length=settings.query_max_chars, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
            description=f"what to look for, 1 to {settings.query_max_chars} characters (QUERY_MAX_CHARS) after the text rule; not blank",
            examples=["vegan food delivery"],
        )],
        city: City = None,
        limit: Limit = 5,
        mode: Mode | None = Query(None, description="`hybrid` (default): meaning and words fused by reciprocal rank; `neural`: vector search with the ONNX encoder; `text`: full-text match on the description"),
        neural: bool | None = Query(None, description="the tutorial demo's spelling of the mode: `true` = `mode=neural`, `false` = `mode=text`; must agree with `mode` when both are given"),
    ):
        if neural is not None:
            implied = "neural" if neural else "text"
            if mode is not None and mode != implied:
                return JSONResponse(status_code=422, content={"detail": [{"loc": ["query", "neural"], "msg": f"neural={str(neural).lower()} means mode={implied}, but mode={mode} was given", "type": "value_error", "input": str(neural).lower()}]})
            mode = implied
        mode = mode or DEFAULT_MODE
        found = await runner.search(SearchRequest(q, limit, city or None, mode))  # a blank city filters nothing
        return search_body(found, mode, request, len(q))

    @app.get("/api/similar", response_model=SearchResponse, responses={**ERRORS, 404: {"model": ErrorResponse, "description": "no startup has that id"}},
             summary="Startups most like a stored one (itself excluded)")
    async def similar(
        request: Request,
        id: uuid.UUID = Query(description="a startup's point id: `hits[i].id` of a search", examples=["4467450f-6634-57d6-95f0-d72772dafaff"]),
        city: City = None,
        limit: Limit = 5,
    ):
        try:
            found = await runner.call(service.similar, str(id), limit=limit, city=city or None)
        except PointNotFound:
            return _error(404, "not_found", f"no startup has id {id}")
        return search_body(found, "similar", request)

    @app.get("/api/cities", response_model=CitiesResponse, responses=ERRORS,
             summary="The cities in the collection, with their number of startups, biggest first")
    async def cities(limit: int = Query(100, ge=1, le=MAX_CITIES, description=f"how many cities, 1 to {MAX_CITIES}")):
        counts = await runner.call(service.cities, limit)
        return JSONResponse({"cities": [{"city": city, "count": count} for city, count in counts]}, headers={"cache-control": "public, max-age=60"})

    @app.get("/health", response_model=HealthResponse, summary="Is the service usable: model loaded, collection reachable and not empty",
             responses={503: {"model": HealthResponse, "description": "degraded: the collection is unreachable, missing, empty or of another size"}})
    async def health():
        report = await runner.call(service.health, settings.health_details)
        return JSONResponse(status_code=200 if report["status"] == "ok" else 503, content=report)

    page = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        # <base> makes every URL of the page relative to where the app is mounted (/Prod/ behind a REST stage)
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(page.replace("<base href=\"/\">", f"<base href=\"{root}/\">", 1), headers={"cache-control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in PAGE_FILES:
            return _error(404, "not_found", "no such file")
        return Response(_file_bytes(STATIC / name), media_type=PAGE_FILES[name], headers={"cache-control": "public, max-age=300"})

    assets = _docs_asset_dir()

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - docs",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js", swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS or assets is None or not (assets / name).is_file():
            return _error(404, "not_found", "no such asset")
        return Response(_file_bytes(assets / name), media_type=DOCS_ASSETS[name], headers={"cache-control": "public, max-age=86400"})

    return app
