"""The FastAPI app: `create_app` wires the parts together.

- routes: `handler.web.routes` (the API), `handler.web.pages` (the page, /docs and their files);
- responses and the error table: `handler.web.responses`;
- middleware: `handler.web.middleware`; the log: `handler.common.logs`;
- where the work runs: `handler.web.runners` (`inline` on Lambda, `worker` in `python -m handler`).

Every error body is JSON with `error` (a code) and `detail`, and never carries a stack trace or
internals: 422 names the bad parameter in `detail[].loc` (echoing at most a short prefix of the
value), 404/503 come from one table (`handler.web.responses`), an unknown path or method is 404/405,
500 says only that something unexpected happened and quotes the request id.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from handler.common import CollectionMissing, Settings, StorageError, configure_logging, cut, missing_collection_fix, redact_url
from handler.search import SearchService
from handler.web.metrics import Metrics, add_metrics_route
from handler.web.middleware import MAX_IN_FLIGHT, CancelOnDisconnect, InFlightLimit, JsonCors, Perimeter, RequestLog, StageRootPath
from handler.web.pages import add_page_routes
from handler.web.responses import ERROR_TABLE, INVALID, PERIMETER_ERRORS, error_for, error_response, perimeter_error
from handler.web.routes import add_api_routes
from handler.web.runners import RUNNERS

log = logging.getLogger("handler")
CORS_METHODS = ["GET"]  # what a browser on another origin may do; template.yaml's CorsConfiguration says the same (a test checks)
CORS_HEADERS = ["x-request-id"]
CORS_EXPOSE = ["x-request-id", "server-timing"]
CORS_MAX_AGE = 600
INPUT_ECHO = 40  # characters of a refused value a 422 echoes back
# FastAPI's own OpenTelemetry (0.165 on) asks the global providers on every request whether to trace:
# off, the metrics are this app's (handler.web.metrics); an older FastAPI has no such argument.
NO_TELEMETRY = {"telemetry": {"tracing": False, "metrics": False, "logs": False}} if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {}


def _issue_message(e: dict) -> str:
    """pydantic's words, but a text's length said in characters: for a validated str it says
    "Value should have at most 1000 items after validation"."""
    ctx, value = e.get("ctx") or {}, e.get("input")
    if e.get("type") == "too_long" and isinstance(value, str) and "max_length" in ctx:
        return f"{(e.get('loc') or ('value',))[-1]} must be at most {ctx['max_length']} characters, not {ctx.get('actual_length', len(value))}"
    return str(e.get("msg", ""))


def create_app(settings: Settings | None = None, service: SearchService | None = None, *, concurrency: str = "inline") -> FastAPI:
    """Build the app. The service (model + Qdrant client) is built here, once, not per request.
    concurrency: "inline" (Lambda, tests) or "worker" (`python -m handler`); see `handler.web.runners`."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    owned = service is None  # what the app starts, it stops (a service passed in belongs to the caller)
    service = service or SearchService.start(settings)
    runner = RUNNERS[concurrency](service, timeout=settings.request_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        """`python -m handler` (uvicorn runs it; Mangum's is off: Lambda never shuts an environment
        down in a way it would wait for): the runner's threads and, if the app started it, the store."""
        yield
        runner.close()
        if owned:
            service.storage.close()
    if log.isEnabledFor(logging.DEBUG):
        log.debug(json.dumps({"event": "settings", **{k: redact_url(str(v)) for k, v in settings.public().items()}}))

    schema = settings.schema
    filters = ", ".join([f"`{name}`" for name in schema.keywords] + [f"`{name}_min` / `{name}_max`" for name in schema.ranges])
    app = FastAPI(
        title=f"Neural search: {schema.collection}",
        version="0.3.0",
        description=f"Semantic search over the `{schema.collection}` catalogue with all-MiniLM-L6-v2 (ONNX) and Qdrant. "
        "`mode=hybrid` (default) fuses meaning (the ONNX encoder) and words (Qdrant's BM25) by reciprocal rank; "
        "`mode=neural` ranks by meaning alone; `mode=text` by words alone (any of them, BM25, the records holding all of them first). "
        + (f"Filters (combined with AND): {filters}. " if filters else "")
        + "Text parameters follow one rule: control, format and whitespace characters are removed or "
        "collapsed first, and a `q` with nothing left is refused (422). A query parameter a route does not take is refused (422).",
        docs_url=None,  # served by handler.web.pages with local assets
        redoc_url=None,  # ReDoc would load from a CDN: not offered
        redirect_slashes=False,  # a redirect built from the client's Host header could point anywhere
        lifespan=lifespan,
        **NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.runner = runner
    add_api_routes(app, settings)
    add_page_routes(app, settings)
    serves_metrics = concurrency == "worker" and settings.metrics != "off"  # `python -m handler`; Lambda's go in its log (EMF)
    if serves_metrics:
        add_metrics_route(app, anyone=settings.metrics == "anyone")
    app.state.metrics = Metrics(app, prometheus=serves_metrics)
    app.openapi = _with_examples_from_the_data(app, service)

    # add_middleware wraps what is there: the last added runs first
    if settings.cors_allow_origins:
        app.add_middleware(JsonCors, allow_origins=list(settings.cors_allow_origins), allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
                           expose_headers=CORS_EXPOSE, max_age=CORS_MAX_AGE)
    if concurrency == "worker":
        app.add_middleware(CancelOnDisconnect)
        app.add_middleware(InFlightLimit, limit=MAX_IN_FLIGHT)
    app.add_middleware(Perimeter)
    app.add_middleware(RequestLog)
    app.add_middleware(StageRootPath)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        issues = [{"loc": list(e.get("loc", ())), "msg": _issue_message(e)[:200], "type": e.get("type", "value_error"), "input": cut(e.get("input"), INPUT_ECHO)}
                  for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": INVALID, "detail": issues})

    @app.exception_handler(StarletteHTTPException)
    async def routing(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return perimeter_error("not_found")
        if exc.status_code == 405:
            if request.method == "OPTIONS" and "origin" in request.headers and "access-control-request-method" in request.headers:
                # a preflight with no CORS_ALLOW_ORIGINS (else JsonCors answers it): refused as JsonCors refuses an origin
                status, detail = PERIMETER_ERRORS["cors_refused"]
                return error_response(status, "cors_refused", f"{detail} (refused: origin)")
            return perimeter_error("method_not_allowed", {"allow": "GET, HEAD"})
        return error_response(exc.status_code, "http_error", str(exc.detail)[:200])

    shard_fix = missing_collection_fix(settings)  # an embedded Lambda artifact: its collection comes from a shard, not the scripts

    async def known(request: Request, exc: Exception):
        status, error, detail = error_for(exc)
        if shard_fix and isinstance(exc, CollectionMissing):
            detail = "collection '{collection}' does not exist yet; " + shard_fix
        timing = getattr(request.state, "timing", None)
        if timing is not None:
            timing["error"] = error  # the log line's, and the metrics' (a Qdrant error is counted by its code)
        return error_response(status, error, detail.format(collection=settings.collection_name))

    for exception in ERROR_TABLE:
        app.add_exception_handler(exception, known)
    return app


# Pydantic writes a bound of a type with a validator in front (the strict counts) as its own keyword;
# JSON Schema (and so Swagger UI) reads these names.
JSON_SCHEMA_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _with_examples_from_the_data(app: FastAPI, service: SearchService):
    """app.openapi, whose parameters show their bounds as JSON Schema names them and whose keyword
    filters show a value the collection holds (its most common one), looked up once, when
    /openapi.json is first asked for (never at start: a cold-start cost)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = build()
            for path in document.get("paths", {}).values():
                for parameter in path.get("get", {}).get("parameters", []):
                    schema = parameter.get("schema", {})
                    for pydantic_name, json_name in JSON_SCHEMA_BOUNDS.items():
                        if pydantic_name in schema:
                            schema[json_name] = schema.pop(pydantic_name)
            examples = {}
            for name in service.settings.schema.keywords:
                try:
                    examples.update({name: value for value, _ in service.storage.facet(name, 1)})
                except StorageError:  # the docs still render; only the example is missing
                    continue
            for path in document.get("paths", {}).values():
                for parameter in path.get("get", {}).get("parameters", []):
                    if parameter.get("in") == "query" and parameter["name"] in examples:
                        parameter["examples"] = {"in the data": {"value": [examples[parameter["name"]]]}}
        return app.openapi_schema

    return openapi
