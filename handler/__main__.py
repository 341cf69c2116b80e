"""`python -m handler`: serve the search API on HOST:PORT (127.0.0.1:8000 by default), like the
tutorial's `python service.py`, hardened for a server that faces clients directly: it listens on
127.0.0.1 unless HOST says otherwise (HOST=0.0.0.0 in a container), binds before the model loads
(a taken port fails at once) and lifts the soft limit on open files (each connection holds a
descriptor), and serves through `handler.web.local_server` (header deadlines,
the head cap, JSON refusals, JSON log lines) with worker threads for the model and the store
(`handler.web.runners.Worker`) and a limit on requests in flight.
"""

from __future__ import annotations

import socket
import sys

from handler.common import Settings, UsageError, cli, configure_logging


def raise_open_files_limit() -> None:
    """Each connection holds a file descriptor: the soft limit (often 1,024) is lifted to the hard
    one, so idle connections meet the header deadline long before the process runs out of
    descriptors and stops accepting."""
    try:
        import resource  # deferred: POSIX only

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or a limit the kernel caps lower: keep the soft one
        pass


def bind(host: str, port: int) -> socket.socket:
    """The listening address, bound now (uvicorn listens on it once the app is built)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise UsageError(f"environment variable HOST={host!r} is not an address of this machine ({exc.strerror})") from None
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as exc:
        listening.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; set PORT to a free port (or HOST to an address of this machine)") from None
    return listening





@cli()
def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    listening = bind(settings.host, settings.port)  # before the model loads: a taken port fails in milliseconds
    raise_open_files_limit()
    # Deferred: the entry point binds the port before the app (and its model) is even imported.
    from handler.web import create_app
    from handler.web.local_server import serve

    configure_logging(settings.log_level, queued=True)  # a stdout nobody reads must not stall serving: a bounded queue, dropped lines counted
    serve(create_app(settings, concurrency="worker"), settings.host, settings.port, listening)
    return 0


if __name__ == "__main__":
    sys.exit(main())
