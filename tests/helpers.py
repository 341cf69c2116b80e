"""Helpers the tests import (conftest.py only declares fixtures)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from scripts.records import BENCH_FILE, SAMPLE_FILE  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "infra" / "events"


def run_module(*args: str, env: dict | None = None, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `python -m ...` as a user would, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_settings(model_dir, qdrant_path, **overrides):
    from handler.config import Settings

    base = dataclasses.replace(
        Settings.from_env(), model_dir=str(model_dir), qdrant_path=str(qdrant_path), qdrant_url="", qdrant_api_key="", collection_name="startups"
    )
    return dataclasses.replace(base, **overrides)


def load_event(name: str = "http_api_v2.json", path: str | None = None, query: dict | None = None, headers: dict | None = None) -> dict:
    """A real API Gateway event (made by `sam local generate-event`, see infra/events), with its
    path, query string and headers replaced where given, the way API Gateway fills them."""
    data = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    if data.get("version") == "2.0":
        if path:
            data["rawPath"] = data["requestContext"]["http"]["path"] = path
        if query is not None:
            data["queryStringParameters"] = dict(query) or None
            data["rawQueryString"] = urlencode(query)
    else:
        if path:
            data["path"] = path
            data["requestContext"]["path"] = f"/{data['requestContext']['stage']}{path}"
        if query is not None:
            data["queryStringParameters"] = dict(query) or None
            data["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if headers:
        data["headers"] = {**data.get("headers", {}), **headers}
        if "multiValueHeaders" in data:
            data["multiValueHeaders"] = {**data["multiValueHeaders"], **{k: [v] for k, v in headers.items()}}
    return data


# -- sockets and servers ---------------------------------------------------------------------------------

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


def local_server(collection: str = "startups"):
    """`ServerStorage` on qdrant-client's local mode (`QdrantClient(":memory:")`, Qdrant's Python
    implementation of the server API) through its client factory: one in-memory instance. Local
    mode builds no payload index and forgets them; a server lists them in the collection's
    `payload_schema` (the storage reads its layout from them), so they are recorded here, as the
    REST stand-in (tests/qdrant_standin.py) records them. Local mode raises ValueError where a
    server answers 404 or 400: `AnswersAsAServer`, a STAND-IN for the HTTP layer, turns those into
    the answers qdrant-client raises for a server's (as the REST stand-in does over HTTP)."""
    from qdrant_client import QdrantClient, models

    from handler.storage import ServerStorage

    class RecordingIndexes(QdrantClient):
        def __init__(self) -> None:
            super().__init__(":memory:")
            self.indexes: dict[str, dict] = {}

        def create_payload_index(self, collection_name, field_name, field_schema=None, **kwargs):
            self.indexes.setdefault(collection_name, {})[field_name] = field_schema
            return super().create_payload_index(collection_name, field_name, field_schema=field_schema, **kwargs)

        def delete_payload_index(self, collection_name, field_name, **kwargs):
            self.indexes.get(collection_name, {}).pop(field_name, None)
            return super().delete_payload_index(collection_name, field_name, **kwargs)

        def delete_collection(self, collection_name, **kwargs):
            self.indexes.pop(collection_name, None)
            return super().delete_collection(collection_name, **kwargs)

        def get_collection(self, collection_name):
            info = super().get_collection(collection_name)
            info.payload_schema = {
                field: models.PayloadIndexInfo(data_type=models.PayloadSchemaType(schema.type.value) if hasattr(schema, "type") else schema,
                                               params=schema if hasattr(schema, "type") else None, points=0)
                for field, schema in self.indexes.get(collection_name, {}).items()
            }
            return info

    local = AnswersAsAServer(RecordingIndexes())
    return ServerStorage("http://local-mode.invalid:6333", collection, client_factory=lambda: local)


class AnswersAsAServer:
    """Wraps a local-mode client: its ValueErrors become qdrant-client's UnexpectedResponse."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            from qdrant_client.http.exceptions import UnexpectedResponse

            try:
                return attribute(*args, **kwargs)
            except ValueError as exc:
                missing = "Collection" in str(exc) and "not found" in str(exc)
                status, phrase = (404, "Not Found") if missing else (400, "Bad Request")
                body = json.dumps({"status": {"error": f"{'Not found' if missing else 'Wrong input'}: {exc}"}}).encode()
                raise UnexpectedResponse(status_code=status, reason_phrase=phrase, content=body, headers={}) from exc

        return call


def int8_dot_here() -> bool:
    """Whether this CPU runs the `int8` variant exactly (handler/cpu.py): its export has `int8` and
    serves it; elsewhere the export leaves it out and `int8_blocks` is the CPU default."""
    from handler.cpu import INT8_DOT, missing

    return missing(INT8_DOT) is None


def cpu_variant() -> str:
    return "int8" if int8_dot_here() else "int8_blocks"


def served_variant(model_dir) -> tuple[str, dict]:
    """The variant `Encoder.from_export(model_dir)` serves on this CPU (handler.manifest's choice: the
    manifest's `defaults.cpu`, or `cpu_without_<need>` where this CPU lacks what that one needs),
    and its manifest entry."""
    from handler.manifest import choose_variant, read_manifest

    manifest = read_manifest(model_dir)
    name = choose_variant(manifest, None, "cpu")[0]
    return name, manifest["variants"][name]
