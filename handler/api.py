"""The FastAPI app: `create_app` wires the parts together.

- routes: handler/routes.py (the API), handler/pages.py (the page, /docs and their files);
- responses and the error table: handler/responses.py;
- middleware and logging: handler/middleware.py;
- where the work runs: handler/runners.py (`inline` on Lambda, `worker` in `python -m handler`).

Errors are JSON and never carry a stack trace or internals: 422 names the bad parameter (echoing
at most a short prefix of the value), 404/503 come from one table, 500 says only that something
unexpected happened and quotes the request id.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from handler.config import Settings, redact_url
from handler.middleware import CancelOnDisconnect, RequestLog, StageRootPath, configure_logging
from handler.pages import add_page_routes
from handler.responses import ERROR_TABLE, error_for, error_response
from handler.routes import add_api_routes
from handler.runners import RUNNERS
from handler.service import SearchService
from handler.text import preview

log = logging.getLogger("handler")
CORS_METHODS = ["GET"]  # what a browser on another origin may do; template.yaml's CorsConfiguration says the same (tests/test_infra.py)
CORS_HEADERS = ["x-request-id"]
CORS_EXPOSE = ["x-request-id", "server-timing"]
CORS_MAX_AGE = 600


def create_app(settings: Settings | None = None, service: SearchService | None = None, *, concurrency: str = "inline") -> FastAPI:
    """Build the app. The service (model + Qdrant client) is built here, once, not per request.
    concurrency: "inline" (Lambda, tests) or "worker" (`python -m handler`); see handler/runners.py."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    service = service or SearchService.start(settings)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(json.dumps({"event": "settings", **{k: redact_url(str(v)) for k, v in settings.public().items()}}))

    app = FastAPI(
        title="Neural search: startups",
        version="0.2.0",
        description="Semantic search over startup descriptions with all-MiniLM-L6-v2 (ONNX) and Qdrant. "
        "`mode=hybrid` (default) fuses meaning (the ONNX encoder) and words (Qdrant's BM25) by reciprocal rank; "
        "`mode=neural` ranks by meaning alone; `mode=text` by words alone (any of them, BM25, the startups holding all of them first). "
        "Text parameters follow one rule: control, format and whitespace characters are removed or "
        "collapsed first, and a `q` with nothing left is refused (422).",
        docs_url=None,  # served by handler/pages.py with local assets
        redoc_url=None,  # ReDoc would load from a CDN: not offered
        redirect_slashes=False,  # a redirect built from the client's Host header could point anywhere
    )
    app.state.settings = settings
    app.state.service = service
    app.state.runner = RUNNERS[concurrency](service, timeout=settings.request_timeout)
    add_api_routes(app, settings)
    add_page_routes(app, settings.query_max_chars)

    if settings.cors_allow_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_allow_origins), allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
                           expose_headers=CORS_EXPOSE, max_age=CORS_MAX_AGE)
    if concurrency == "worker":
        app.add_middleware(CancelOnDisconnect)
    app.add_middleware(RequestLog)
    app.add_middleware(StageRootPath)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        issues = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:200], "type": e.get("type", "value_error"), "input": preview(e.get("input"))}
                  for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": issues})

    async def known(request: Request, exc: Exception):
        status, error, detail = error_for(exc)
        return error_response(status, error, detail.format(collection=settings.collection_name))

    for exception in ERROR_TABLE:
        app.add_exception_handler(exception, known)
    return app
