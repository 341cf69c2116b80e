"""`python -m handler`'s uvicorn set-up, on a real uvicorn server and real sockets (a trivial ASGI
app stands in for ours: what is tested is the protocol, not the search)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

import handler.web.local_server as local_server
from handler.web.middleware import CLIENT_CLOSED, CancelOnDisconnect, RequestLog
from tests.support.servers import UvicornThread


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(local_server, "HEADER_TIMEOUT_S", 1)
    running = UvicornThread(hello, http=local_server.protocol_with_header_timeout(), timeout_keep_alive=local_server.KEEP_ALIVE_S)
    with running:
        yield running.port


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closes the connection (None if it is still open after `seconds`);
    meanwhile send `trickle` one byte every 0.2 s, as a slowloris client does."""
    started = time.time()
    sock.settimeout(0.2)
    position = 0
    while time.time() - started < seconds:
        try:
            if sock.recv(1024) == b"":
                return time.time() - started
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.time() - started
        if position < len(trickle):
            try:
                sock.send(trickle[position : position + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.time() - started
            position += 1
    return None


def test_a_client_trickling_its_headers_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        took = closed_within(sock, 4, trickle=b"X-Slow: " + b"a" * 40)
    assert took is not None and took < 2.5, "a slowloris connection must not outlive the header deadline"


def test_a_silent_connection_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        took = closed_within(sock, 4)
    assert took is not None and took < 2.5


def test_normal_requests_on_one_connection_still_work(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        for _ in range(3):
            sock.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while not reply.endswith(b"ok"):
                reply += sock.recv(1024)
            assert reply.startswith(b"HTTP/1.1 200")
            time.sleep(0.4)  # idle between requests, well inside the keep-alive time


def test_a_request_whose_client_left_is_cancelled_and_logged_499(caplog):
    """The app awaits something slow (a queued search); the client hangs up: the app's task is
    cancelled (queued work for it is then skipped: `tests.web.test_runners`) and the log says 499."""
    arrived, cancelled = threading.Event(), threading.Event()

    async def slow(scope, receive, send):
        arrived.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caplog.set_level("INFO", logger="handler")
    with UvicornThread(RequestLog(CancelOnDisconnect(slow))) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.send(b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert arrived.wait(10), "the request never reached the app"
        deadline = time.time() + 5
        while not cancelled.is_set() and time.time() < deadline:
            time.sleep(0.05)
    assert cancelled.is_set()
    assert any(f'"status": {CLIENT_CLOSED}' in r.getMessage() for r in caplog.records)
