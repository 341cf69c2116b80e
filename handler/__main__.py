"""`python -m handler`: serve the search API on HOST:PORT (127.0.0.1:8000 by default), like the
tutorial's `python service.py`, hardened for a server that faces clients directly:

- it listens on 127.0.0.1 unless HOST says otherwise (HOST=0.0.0.0 in a container);
- a client has HEADER_TIMEOUT_S to send a request's headers (slowloris), and an idle keep-alive
  connection is closed after KEEP_ALIVE_S;
- at most MAX_CONNECTIONS requests are in flight (503 beyond), request heads are capped at 16 KB;
- the model and the store are used by one worker thread (see handler.api.Worker).
"""

from __future__ import annotations

import sys

from handler.cli import cli, say

HEADER_TIMEOUT_S = 10
KEEP_ALIVE_S = 5
MAX_CONNECTIONS = 64
MAX_HEAD_BYTES = 16 * 1024


def protocol_with_header_timeout():
    """uvicorn's h11 protocol, plus a deadline for each request's head: uvicorn's own keep-alive
    timer is reset by every byte, so a client trickling one header byte a second would hold the
    connection forever. The deadline starts when the connection opens and again after each
    response, and is cancelled once a whole request head has arrived."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _head_deadline = None

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

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_deadline()

        def connection_lost(self, exc) -> None:
            self._cancel_head_deadline()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol


@cli()
def main(argv: list[str] | None = None) -> int:
    from handler.api import create_app
    from handler.config import Settings

    settings = Settings.from_env()
    app = create_app(settings, concurrency="worker")
    import uvicorn

    say(f"serving on http://{settings.host}:{settings.port} (search: /api/search?q=..., docs: /docs)")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        http=protocol_with_header_timeout(),
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        proxy_headers=False,  # nothing in front of it to trust
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
