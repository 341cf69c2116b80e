"""The app's pure ASGI middleware (no BaseHTTPMiddleware task and stream: every millisecond is
billed on Lambda), outermost first:

- `StageRootPath`: the REST API stage prefix (/Prod) as the app's root path;
- `RequestLog`: the request id, the timing headers, one JSON log line per request, the last-resort 500;
- `Perimeter`: HEAD wherever GET is served; `nosniff` on every response, `no-store` on every error;
- `InFlightLimit` (`python -m handler` only): at most N requests in flight, a JSON 503 beyond
  (/health has a small bound of its own, so a busy instance still says it is healthy);
- `CancelOnDisconnect` (`python -m handler` only): a request whose client left is cancelled;
- `JsonCors` (when CORS_ALLOW_ORIGINS is set): Starlette's CORS, refusals in JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.middleware.cors import CORSMiddleware

from handler.common import cut
from handler.web.responses import INTERNAL, PERIMETER_ERRORS, error_response, perimeter_error

log = logging.getLogger("handler")
# A client's X-Request-Id is kept only if it looks like an id: short, no spaces, no markup.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
CLIENT_CLOSED = 499  # logged for a request whose client left before its answer (nginx's convention)
MAX_IN_FLIGHT = 64  # `python -m handler`: requests served at once (the model thread and Qdrant's pool serve them)
MAX_HEALTH_IN_FLIGHT = 8  # /health probes in flight, apart from the searches (a load balancer sends a few, not hundreds)
HEALTH_PATHS = frozenset({"/health"})


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
    `x-request-id` and (with TIMING_DETAILS=1) `Server-Timing` headers on the response, and the last-resort 500: an
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
        state = scope.setdefault("state", {})
        state["timing"] = timing  # request.state.timing in the endpoints
        status = 0

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if "server_timing" in state:  # TIMING_DETAILS=1 only: the route sets it
                    headers.append((b"server-timing", state["server_timing"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception(json.dumps({"event": "unhandled", "path": cut(scope.get("path")), **ids}))
            if status == 0:
                code, error, detail = INTERNAL
                body = json.dumps({"error": error, "detail": detail.format(request_id=request_id)}).encode()
                await send_with_headers({"type": "http.response.start", "status": code,
                                         "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            final = CLIENT_CLOSED if state.get("client_left") else status or INTERNAL[0]
            total_ms = round((time.perf_counter() - started) * 1000, 2)
            metrics = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
            emf = metrics.observe(scope, final, total_ms, timing) if metrics else None  # Lambda: CloudWatch EMF members (handler.web.metrics)
            if emf or log.isEnabledFor(logging.INFO):
                line = json.dumps({"event": "request", "method": cut(scope.get("method"), 16), "path": cut(scope.get("path")), "status": final,
                                   "total_ms": total_ms, **ids, **timing})
                if emf:
                    line = f"{line[:-1]}, {emf}}}"
                # the metrics ride on this line: written at INFO whatever LOG_LEVEL hides
                log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, line, None, None))


class CancelOnDisconnect:
    """When a client leaves before its answer, its request is cancelled: work queued for it in
    the Worker runner is then never started. The app reads the request's messages through
    this middleware, which listens for the disconnect meanwhile."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        messages: asyncio.Queue = asyncio.Queue()

        async def listen() -> None:
            while True:
                message = await receive()
                messages.put_nowait(message)
                if message["type"] == "http.disconnect":
                    return

        handling = asyncio.ensure_future(self.app(scope, messages.get, send))
        listening = asyncio.ensure_future(listen())
        try:
            await asyncio.wait({handling, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
        if not handling.done():  # the client left first
            scope.setdefault("state", {})["client_left"] = True
            handling.cancel()
            try:
                await handling
            except asyncio.CancelledError:
                pass
            return
        handling.result()  # its exception, if any, to RequestLog


class Perimeter:
    """HEAD wherever GET is served (uptime probes and load balancers send HEAD): the request runs
    as GET and its body is dropped, so the headers, Content-Length included, are GET's. Every
    response gets `X-Content-Type-Options: nosniff`; every error `Cache-Control: no-store`, whatever
    the route set, so a CDN never keeps a 503 or a 404."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":  # a server that speaks WebSocket (not `python -m handler`'s: ws="none")
            return await refuse_websocket(scope, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_guarded(message):
            if message["type"] == "http.response.start":
                error = message["status"] >= 400
                headers = [(k, v) for k, v in message.get("headers", ()) if not (error and k.lower() == b"cache-control")]
                headers.append((b"x-content-type-options", b"nosniff"))
                if error:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        if wants_websocket(scope):  # no WebSocket endpoint: refused in JSON, not with a bare 403
            return await perimeter_error("websocket_refused")(scope, receive, send_guarded)
        await self.app(scope, receive, send_guarded)


def wants_websocket(scope) -> bool:
    """An HTTP request asking to become a WebSocket (`Connection: upgrade`, `Upgrade: websocket`)."""
    headers = dict(scope.get("headers") or ())
    return b"websocket" in headers.get(b"upgrade", b"").lower() and b"upgrade" in headers.get(b"connection", b"").lower()


async def refuse_websocket(scope, send) -> None:
    """A WebSocket handshake refused with the JSON 403 (ASGI's websocket.http.response extension),
    or closed where the server lacks it."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        return await send({"type": "websocket.close", "code": 1008})
    status, detail = PERIMETER_ERRORS["websocket_refused"]
    body = json.dumps({"error": "websocket_refused", "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"x-content-type-options", b"nosniff"),
               (b"cache-control", b"no-store"), (b"x-request-id", request_ids(scope)["request_id"].encode())]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


class InFlightLimit:
    """`python -m handler`: at most `limit` requests in flight; beyond, a JSON 503 (`overloaded`)
    at once, which RequestLog logs. Requests are counted, not connections: an idle or slow
    connection costs a socket, never another client's answer (uvicorn's limit_concurrency counts
    connections, idle ones included). Lambda serves one request at a time and needs none.

    /health is counted apart, against a small bound of its own (`health_limit`), so a load
    balancer's probe is answered while searches fill the limit: the route reads `busy` (whether
    the searches are at their limit) from the request's state and says so."""

    def __init__(self, app, limit: int, health_limit: int = MAX_HEALTH_IN_FLIGHT) -> None:
        self.app = app
        self.limit = limit
        self.health_limit = health_limit
        self.in_flight = 0
        self.health_in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("path") in HEALTH_PATHS:
            return await self._health(scope, receive, send)
        if self.in_flight >= self.limit:
            return await perimeter_error("overloaded", {"retry-after": "1"})(scope, receive, send)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _health(self, scope, receive, send):
        if self.health_in_flight >= self.health_limit:
            return await perimeter_error("overloaded", {"retry-after": "1"})(scope, receive, send)
        scope.setdefault("state", {})["busy"] = self.in_flight >= self.limit
        self.health_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.health_in_flight -= 1


class JsonCors(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflight (400) is plain text: the same refusal in JSON."""

    def preflight_response(self, request_headers):
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = response.body.decode().removeprefix("Disallowed CORS ")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        status, detail = PERIMETER_ERRORS["cors_refused"]
        return error_response(status, "cors_refused", f"{detail} (refused: {refused})", headers)
