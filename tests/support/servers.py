"""Servers the tests start and stand-ins for broken ones, on free 127.0.0.1 ports: uvicorn in a
thread, `python -m handler` as a process, and listeners that hang up or never answer."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import handler.web.local_server as local_server
from tests.support.helpers import REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UvicornThread:
    """A real uvicorn server on a free 127.0.0.1 port, in a thread: `with UvicornThread(app) as url:`."""

    def __init__(self, app, **config) -> None:
        import uvicorn

        self.port = config.pop("port", None) or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off", **config))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start within 15 s"
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


class Listener:
    """A STAND-IN for a broken server, with no protocol at all: a TCP listener on 127.0.0.1 that
    either accepts and closes every connection at once (`hang_up=True`: what a dead keep-alive
    socket or a crashed server looks like) or accepts and never answers (a hung server). Counts
    the connections it accepted."""

    def __init__(self, hang_up: bool) -> None:
        self.hang_up = hang_up
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close() if self.hang_up else self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HandlerProcess:
    """`python -m handler` as a user starts it, on a free port: `with HandlerProcess(env) as url:`.
    Its output is read as it comes, by threads of its own, so a chatty server never blocks on a
    full pipe: `.output` holds what it wrote so far (stdout and stderr together, or stdout alone
    with `stderr_apart`, stderr then in `.errors`), all of it once it has stopped. `preexec_fn`
    runs in the child before it starts (resource limits)."""

    def __init__(self, env: dict, ready_timeout: float = 60, *, stderr_apart: bool = False, preexec_fn=None) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", **env}
        self.ready_timeout = ready_timeout
        self.stderr_apart = stderr_apart
        self.preexec_fn = preexec_fn
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self._out)

    @property
    def errors(self) -> str:
        return "".join(self._err)

    @staticmethod
    def _drain(stream, lines: list[str]) -> None:
        for line in stream:  # each line as it comes, until the process closes its end
            lines.append(line)

    def __enter__(self) -> str:
        self.process = subprocess.Popen([sys.executable, "-m", "handler"], cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE if self.stderr_apart else subprocess.STDOUT, text=True,
                                        preexec_fn=self.preexec_fn)
        for stream, lines in ((self.process.stdout, self._out), (self.process.stderr, self._err)):
            if stream is not None:
                self._readers.append(threading.Thread(target=self._drain, args=(stream, lines), name="handler-output", daemon=True))
                self._readers[-1].start()
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"python -m handler exited with {self.process.returncode}:\n{self.output}{self.errors}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"python -m handler did not listen within {self.ready_timeout} s:\n{self.output}{self.errors}")

    def stop(self) -> None:
        """Terminate it (kill after 10 s) and read the rest of its output; again is harmless."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __exit__(self, *exc) -> None:
        self.stop()


async def hello_app(scope, receive, send):
    """A trivial ASGI app, for tests of the protocol rather than of the search."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def perimeter_server(app=hello_app, **overrides) -> UvicornThread:
    """`app` behind `python -m handler`'s own protocol and limits (logging left to the test process)."""
    options = {**local_server.server_options(), **overrides}
    options.pop("log_config"), options.pop("log_level")
    return UvicornThread(app, **options)
