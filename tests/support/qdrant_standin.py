"""A STAND-IN for a Qdrant server, for tests: no Qdrant server binary can run here.

It is an HTTP server on 127.0.0.1 (uvicorn, in a background thread) that answers the Qdrant REST
routes qdrant-client calls with `prefer_grpc=False`, by running each request on qdrant-client's own
local mode (`QdrantClient(":memory:")`, Qdrant's Python implementation of the server API).

What is real: qdrant-client's HTTP transport (httpx, headers, timeouts, its parsing of
answers and errors), its REST request/response models (every body is parsed with
`qdrant_client.http.models`, every answer is a model it must parse back), and local mode's query
semantics (filters, dense/sparse/IDF scoring, scroll, count, facet). The routes are those the
service's ServerStorage and the tests call (`tests.support.qdrant_standin_routes`); hybrid search fuses its
two lists in the service (handler/storage/searches.py), so no prefetch or fusion is asked of it.

What is NOT: the server's engine. There is no HNSW graph (local mode searches exactly; `hnsw_ef`
and `exact` change nothing), no sharding, no replication, no optimizer, no WAL, no persistence,
no payload index (local mode ignores them, except text indexes with `scoring`), no strict mode,
no gRPC, no snapshots, aliases or cluster routes. shard_number, replication_factor, the
hnsw/optimizer/WAL config and payload indexes are only *recorded* (at creation and by PATCH) and
reported back by GET /collections/{name}, so a test can check what a client asked for, not that a
server would honour it. Writes are applied at once whatever `wait` says (`wait=false` answers
`acknowledged`), and a collection is always green. Error texts follow the server's for the common cases (404 for a missing
collection, 400 "Wrong input: ..." or "Format error in JSON body: ..."), not in every detail. A
route the stand-in does not serve answers 501, so it cannot pass for a missing collection. With
an api key, a request without it or with a wrong one gets the server's 401 and plain-text reason.

Usage:
    with QdrantStandin(api_key="secret") as qdrant:
        client = QdrantClient(url=qdrant.url, api_key="secret", prefer_grpc=False)
        ...
        assert all(r.headers.get("api-key") == "secret" for r in qdrant.requests)

Faults, switchable while it runs: `hang(route)` (hold matching requests unanswered until
`release()` or stop; other requests are still served), `fail_next(n, status, route)` (the next
n matching requests get `status`) and `garble_next(n, body, route)` (the next n matching requests
get 200 with `body` as it is: what a proxy's HTML page or a broken server sends) and
`slow(seconds, route)` (every matching request is answered, `seconds` late). Faults are decided when a request arrives; a held request,
once released, is executed and answered (a held upsert is applied then), whether or not its
client is still waiting.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn

from tests.support.qdrant_standin_routes import LocalBackend

OPEN_PATHS = {"/"}  # a server with an api key answers its version (and health probes) without one


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int | None = None  # None while unanswered (hung, or in progress)


@dataclass
class _Failure:
    remaining: int
    status: int
    route: str | None
    message: str = field(default="")
    raw: bytes | None = None  # garble_next: this body, as it is
    content_type: bytes = b"application/json"


class QdrantStandin:
    """A Qdrant REST STAND-IN (see the module docstring): start/stop, or use as a context manager.

    api_key: when set, every request but GET / needs it in `api-key` (or `Authorization: Bearer`),
      else 401 with the server's plain-text reason.
    """

    VERSION = "1.16.0"  # what GET / reports

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.backend = LocalBackend(self.VERSION)
        self._log: list[LoggedRequest] = []
        self._failures: list[_Failure] = []
        self._hang_route: str | None = None
        self._slow: tuple[float, str] | None = None
        self._gate = threading.Event()
        self._mutex = threading.Lock()  # guards the log and the fault switches
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    # -- lifecycle --
    def start(self) -> QdrantStandin:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", interface="asgi3", proxy_headers=False, access_log=False, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, name="qdrant-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Qdrant stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.release()  # hung requests finish, so the shutdown need not wait for them
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._sock.close()
            self._server = None
            self.backend.local.close()

    def __enter__(self) -> QdrantStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- observability --
    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, in order (a copy of the list; `status` fills in when answered)."""
        with self._mutex:
            return list(self._log)

    def clear_log(self) -> None:
        with self._mutex:
            self._log.clear()

    # -- faults --
    def hang(self, route: str | None = None) -> None:
        """Hold every new request whose "METHOD /path" contains `route` (all when None) without an
        answer until release() or stop(); the others are served meanwhile."""
        with self._mutex:
            self._gate = threading.Event()
            self._hang_route = route or ""

    def release(self) -> None:
        """Let held requests go on (they are then answered normally) and stop holding new ones."""
        with self._mutex:
            self._hang_route = None
            self._gate.set()

    def fail_next(self, n: int = 1, status: int = 503, route: str | None = None, message: str = "") -> None:
        """Answer the next n requests matching `route` (all when None) with `status` and a
        server-shaped error body, without executing them."""
        with self._mutex:
            self._failures.append(_Failure(n, status, route, message or f"Qdrant stand-in: injected {status}"))

    def garble_next(self, n: int = 1, body: bytes = b"{}", route: str | None = None, *, status: int = 200,
                    content_type: bytes = b"application/json") -> None:
        """Answer the next n requests matching `route` (all when None) with `status` and `body`
        verbatim (an HTML error page, `{}`, `{"result": null}`), without executing them."""
        with self._mutex:
            self._failures.append(_Failure(n, status, route, raw=body, content_type=content_type))

    def slow(self, seconds: float, route: str | None = None) -> None:
        """Answer every new request whose "METHOD /path" contains `route` (all when None) `seconds`
        late (a slow server that answers within the client's timeout); 0 stops it."""
        with self._mutex:
            self._slow = (seconds, route or "") if seconds > 0 else None

    def reset_faults(self) -> None:
        self.release()
        with self._mutex:
            self._failures.clear()
            self._slow = None

    # -- the ASGI app --
    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).split(b"?")[0]
        request = LoggedRequest(
            method=scope["method"],
            path=raw_path.decode("latin-1"),
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"))),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        with self._mutex:
            self._log.append(request)
        status, content_type, payload = await self._answer(request)
        request.status = status
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, request: LoggedRequest) -> tuple[int, bytes, bytes]:
        target = f"{request.method} {request.path}"
        with self._mutex:  # every fault is decided on arrival: a request released later takes no fault set meanwhile
            gate, hang_route, slow = self._gate, self._hang_route, self._slow
            failure = next((f for f in self._failures if f.remaining > 0 and (f.route is None or f.route in target)), None)
            if failure is not None:
                failure.remaining -= 1
        if slow is not None and slow[1] in target:
            await asyncio.sleep(slow[0])
        if hang_route is not None and hang_route in target:
            while not gate.is_set():  # polled: the event loop must stay free for the other connections
                await asyncio.sleep(0.02)
        if failure is not None and failure.raw is not None:
            return failure.status, failure.content_type, failure.raw
        if failure is not None:
            return failure.status, b"application/json", json.dumps({"status": {"error": failure.message}, "time": 0.0}).encode()
        if self.api_key is not None and request.path not in OPEN_PATHS:
            bearer = request.headers.get("authorization", "")
            key = request.headers.get("api-key") or (bearer[7:] if bearer.startswith("Bearer ") else None)
            if key is None:
                return 401, b"text/plain; charset=utf-8", b"Must provide an API key or an Authorization bearer token"
            if key != self.api_key:
                return 401, b"text/plain; charset=utf-8", b"Invalid API key or JWT"
        segments = [s for s in request.path.split("/") if s]
        # local mode blocks: run it off the event loop (the backend serializes the calls with its lock)
        return await asyncio.to_thread(self.backend.handle, request.method, segments, request.query, request.body)
