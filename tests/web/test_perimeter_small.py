"""The smaller points of the HTTP perimeter (#29.10), fast tier: real uvicorn with the server's own
settings (`handler.web.local_server.server_options`) and the app's own middleware around a trivial
ASGI app. A WebSocket upgrade is a JSON 403 (before: a bare 403, no JSON, no nosniff, no request
id); a head with both Content-Length and Transfer-Encoding is refused and the connection closed
(before: read as chunked on a connection kept open); HTTP/1.0 is served, as the docs now say."""

from __future__ import annotations

import json

import httpx

from handler.web.middleware import Perimeter, RequestLog
from tests.support.servers import UvicornThread, hello_app, perimeter_server
from tests.web.test_perimeter import exchange

UPGRADE = (b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def parts(reply: bytes) -> tuple[int, dict, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body) if body else {}


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_websocket_upgrade_is_a_json_403_with_nosniff_and_a_request_id():
    with perimeter_server(RequestLog(Perimeter(hello_app))) as url:
        status, headers, body = parts(exchange(port_of(url), UPGRADE))
    assert status == 403 and body["error"] == "websocket_refused" and body["detail"]
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff" and headers["x-request-id"]


def test_a_server_that_speaks_websocket_refuses_it_in_json_too():
    """uvicorn with a WebSocket library (not `python -m handler`'s ws="none"): the handshake reaches
    the app as a websocket scope and is refused through ASGI's websocket.http.response extension."""
    with UvicornThread(RequestLog(Perimeter(hello_app)), ws="wsproto") as url:
        status, headers, body = parts(exchange(port_of(url), UPGRADE))
    assert status == 403 and body["error"] == "websocket_refused"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-request-id"]


def test_content_length_beside_transfer_encoding_is_refused_and_the_connection_closed():
    smuggled = (b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    with perimeter_server() as url:
        reply = exchange(port_of(url), smuggled, until_closed=True)
    assert reply.count(b"\r\ncontent-type: ") == 1  # one answer, then closed: the second request is never read
    status, headers, body = parts(reply)
    assert status == 400 and body["error"] == "bad_request" and "Transfer-Encoding" in body["detail"]
    assert headers["connection"] == "close"


def test_http_1_0_is_served_and_raw_bytes_in_the_target_are_a_400():
    with perimeter_server() as url:
        old = exchange(port_of(url), b"GET /api/search?q=x HTTP/1.0\r\nHost: x\r\n\r\n", until_closed=True)
        raw_bytes = exchange(port_of(url), b"GET /api/search?q=caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")
        encoded = httpx.get(f"{url}/api/search?q=caf%C3%A9").status_code
    assert old.startswith(b"HTTP/1.1 200")  # HTTP/1.0 is served (the docs say so now)
    assert parts(raw_bytes)[0] == 400  # raw UTF-8 in the target is not HTTP (RFC 9112: ASCII); percent-encoded it is served
    assert encoded == 200
