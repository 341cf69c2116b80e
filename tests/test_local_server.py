"""`python -m handler`'s uvicorn set-up, on a real uvicorn server and real sockets (a trivial ASGI
app stands in for ours: what is tested is the protocol, not the search)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

import handler.__main__ as local_server


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(local_server, "HEADER_TIMEOUT_S", 1)
    config = uvicorn.Config(hello, host="127.0.0.1", port=0, log_level="error", http=local_server.protocol_with_header_timeout(),
                            timeout_keep_alive=local_server.KEEP_ALIVE_S, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield port
    server.should_exit = True
    thread.join(timeout=5)


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
