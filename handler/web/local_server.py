"""The local server's HTTP perimeter: uvicorn, hardened for a server that faces clients directly
(`python -m handler` runs it; the Lambda artifact never carries this module or uvicorn):

- a client has HEADER_TIMEOUT_S to send a request's headers (slowloris), and an idle keep-alive
  connection is closed after KEEP_ALIVE_S;
- a request's head (request line and headers) is capped at MAX_HEAD_BYTES however its bytes
  arrive: a JSON 431 beyond; a request h11 cannot read as HTTP/1.x (1.1, or 1.0, which is served) gets a JSON 400, and so
  does one with both Content-Length and Transfer-Encoding (RFC 9112: a request smuggler's head);
- no WebSocket: an upgrade request is an HTTP request like another (`ws="none"`), refused by the
  app's Perimeter with a JSON 403;
- every log line is one JSON object on stdout, uvicorn's included (`handler.common.logs`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http import HTTPStatus

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from handler.common import cut, say, server_logging
from handler.web.responses import PERIMETER_ERRORS

HEADER_TIMEOUT_S = 10
KEEP_ALIVE_S = 5
MAX_HEAD_BYTES = 16 * 1024
END_OF_HEAD = re.compile(rb"\n\r?\n")  # what h11 takes as the blank line that ends a head

log = logging.getLogger("handler")


def head_bytes(buffer: bytes) -> int:
    """Bytes of the request head at the start of `buffer`: up to its blank line, or all of it
    while the head is incomplete."""
    end = END_OF_HEAD.search(buffer)
    return end.end() if end else len(buffer)


def _framed_twice(headers) -> bool:
    """A head that says its body's length twice (Content-Length and Transfer-Encoding): h11 reads it
    as chunked, a proxy in front may read the length; RFC 9112 6.3 lets a server reject it, and the
    connection is closed after the refusal."""
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


def protocol_with_header_timeout():
    """uvicorn's h11 protocol, hardened:

    - a deadline for each request's head: uvicorn's own keep-alive timer is reset by every byte,
      so a client trickling one header byte a second would hold the connection forever. The
      deadline starts when the connection opens and again after each response, and is cancelled
      once a whole request head has arrived;
    - the head cap: h11's max_incomplete_event_size bounds only a head that is still incomplete
      after a read, so a 64 KB head in one read passed. Before h11 parses a head, the bytes of it
      that are buffered (the whole head, however many reads it took) are counted: 431 over the cap;
    - refusals in JSON: uvicorn writes its 400 in plain text.
    """
    class HeaderTimeoutH11Protocol(H11Protocol):
        _head_deadline = None
        _refusal: Exception | None = None  # why the request in hand is refused

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            parse = self.conn.next_event

            def next_event():
                conn = self.conn
                try:
                    if conn.their_state is h11.IDLE and head_bytes(conn.trailing_data[0]) > MAX_HEAD_BYTES:
                        raise h11.RemoteProtocolError("request head over the cap", error_status_hint=431)
                    event = parse()
                    if isinstance(event, h11.Request) and _framed_twice(event.headers):
                        raise h11.RemoteProtocolError("both Content-Length and Transfer-Encoding", error_status_hint=400)
                    return event
                except h11.RemoteProtocolError as exc:  # uvicorn answers it with send_400_response
                    self._refusal = exc
                    raise

            self.conn.next_event = next_event

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_deadline()

        def _arm_head_deadline(self) -> None:
            self._cancel_head_deadline()
            self._head_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._head_timed_out)

        def _cancel_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timed_out(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not None and self.cycle is not cycle:  # a request head was parsed
                self._cancel_head_deadline()

        def send_400_response(self, msg: str) -> None:
            """The refusal of a request h11 could not take, in JSON, written as raw bytes (h11 may
            be in no state to frame a response); the connection is then closed."""
            refusal = self._refusal
            status = 431 if getattr(refusal, "error_status_hint", 400) == 431 else 400
            code = "head_too_large" if status == 431 else "bad_request"
            body = json.dumps({"error": code, "detail": PERIMETER_ERRORS[code][1].format(limit=MAX_HEAD_BYTES)}).encode()
            head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                    "cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n")
            if not self.transport.is_closing():
                self.transport.write(head.encode() + body)
                self.transport.close()
            log.warning(json.dumps({"event": "request", "status": status, "error": code, "reason": cut(str(refusal), 100),
                                    "head_bytes": head_bytes(self.conn.trailing_data[0])}))

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_deadline()

        def connection_lost(self, exc) -> None:
            self._cancel_head_deadline()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol


def server_options() -> dict:
    """uvicorn's settings for `python -m handler` (the tests serve with the same)."""
    return {
        "http": protocol_with_header_timeout(),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,  # h11's own bound, behind ours
        "proxy_headers": False,  # nothing in front of it to trust
        "server_header": False,
        "log_config": server_logging(),
        "log_level": "warning",
        "access_log": False,  # the RequestLog middleware writes one line per request
        "ws": "none",  # no WebSocket endpoint: an upgrade request reaches the app as HTTP, which refuses it in JSON (Perimeter)
    }


def serve(app, host: str, port: int, listening: socket.socket) -> None:
    """Run uvicorn on the bound socket until it stops; "serving" is said only once it accepts."""

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # the log says it in JSON; a person reads stderr
                log.info(json.dumps({"event": "listening", "host": host, "port": port}))
                say(f"serving on http://{host}:{port} (search: /api/search?q=..., docs: /docs)")

    Server(uvicorn.Config(app, **server_options())).run(sockets=[listening])
