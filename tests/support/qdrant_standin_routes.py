"""The routes of the Qdrant REST STAND-IN (see `tests.support.qdrant_standin`): each request body is parsed
with qdrant-client's own REST models and executed by qdrant-client's local mode
(`QdrantClient(":memory:")`), and the answer is written the way a Qdrant server writes it. What local
mode does not keep (shard_number, replication_factor, hnsw/optimizer/WAL config, payload indexes) is
kept here and reported by GET /collections/{name}. No HNSW, no sharding, no index is ever built.

Only the routes that handler/storage/server.py (and so scripts.upload and scripts.sync) and the
tests call are served; any other answers 501."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from qdrant_client import QdrantClient
from qdrant_client import models as m

JSON = b"application/json"
ROUTES: list[tuple[str, tuple[str, ...], Callable, TypeAdapter | None]] = []
# what a server reports for a collection created without these settings
SERVER_DEFAULTS = {"params": {"shard_number": 1, "replication_factor": 1, "write_consistency_factor": 1, "on_disk_payload": True},
                   "hnsw_config": {"on_disk": False}}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def route(method: str, path: str, body: Any = None):
    def register(fn):
        ROUTES.append((method, tuple(s for s in path.split("/") if s), fn, TypeAdapter(body) if body is not None else None))
        return fn
    return register


@dataclass
class ServerSide:
    """Per collection, what a server keeps and local mode drops: config diffs given at creation or by PATCH, and payload indexes."""

    diffs: dict[str, dict] = field(default_factory=lambda: {"params": dict(SERVER_DEFAULTS["params"]), "hnsw_config": dict(SERVER_DEFAULTS["hnsw_config"]),
                                                            "optimizer_config": {}, "wal_config": {}})
    indexes: dict[str, Any] = field(default_factory=dict)

    def merge(self, section: str, diff: Any) -> None:
        if diff is not None:
            self.diffs[section].update(diff.model_dump(exclude_none=True, mode="json"))


def server_error(exc: Exception) -> HttpError:
    """Local mode's exceptions, in the server's words and status codes."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if found := re.fullmatch(r"Collection (.+) not found", text):
        return HttpError(404, f"Not found: Collection `{found[1]}` doesn't exist!")
    if found := re.fullmatch(r"Collection (.+) already exists", text):
        return HttpError(400, f"Wrong input: Collection `{found[1]}` already exists!")
    if found := re.fullmatch(r"(?:Sparse |Dense |Multi)?[vV]ector (\S+) (?:is not found|not found|does not exist).*", text):
        return HttpError(400, f"Wrong input: Not existing vector name error: {found[1]}")
    return HttpError(400, text if text.startswith(("Wrong input", "Bad request")) else f"Bad request: {text}")


class LocalBackend:
    """Executes REST calls on a local-mode client; one call at a time (local mode is not thread-safe)."""

    def __init__(self, version: str) -> None:
        self.local = QdrantClient(":memory:")
        self.lock = threading.RLock()
        self.server_side: dict[str, ServerSide] = {}
        self.version = version
        self._operation = 0

    def handle(self, method: str, segments: list[str], query: dict[str, str], raw: bytes) -> tuple[int, bytes, bytes]:
        started = time.perf_counter()
        for verb, pattern, fn, adapter in ROUTES:
            if verb != method or len(pattern) != len(segments):
                continue
            if not all(p.startswith("{") or p == s for p, s in zip(pattern, segments)):
                continue
            args = {p.strip("{}"): unquote(s) for p, s in zip(pattern, segments) if p.startswith("{")}
            try:
                body = None
                if adapter is not None:
                    try:
                        body = adapter.validate_python(json.loads(raw or b"null"))
                    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
                        raise HttpError(400, f"Format error in JSON body: {exc}") from exc
                with self.lock:
                    try:
                        result = fn(self, query, body, **args)
                    except (ValueError, KeyError, TypeError, NotImplementedError) as exc:
                        raise server_error(exc) from exc
            except HttpError as exc:
                return exc.status, JSON, json.dumps({"status": {"error": str(exc)}, "time": time.perf_counter() - started}).encode()
            except Exception as exc:  # a gap in the stand-in, not a client mistake: a 500 that says so
                return 500, JSON, json.dumps({"status": {"error": f"Service internal error: Qdrant stand-in: {exc!r}"}, "time": 0.0}).encode()
            if isinstance(result, m.VersionInfo):
                return 200, JSON, result.model_dump_json(exclude_none=True).encode()
            answer = {"result": to_jsonable_python(result, exclude_none=True), "status": "ok", "time": time.perf_counter() - started}
            return 200, JSON, json.dumps(answer).encode()
        # a route the stand-in lacks is loud: a 404 would pass for a missing collection
        return 501, JSON, json.dumps({"status": {"error": f"Qdrant stand-in: no route for {method} /{'/'.join(segments)}"}, "time": 0.0}).encode()

    def _updated(self, query: dict[str, str]) -> m.UpdateResult:
        """The server's answer to a write: local mode applies it at once, `wait=false` still answers `acknowledged`."""
        self._operation += 1
        status = m.UpdateStatus.COMPLETED if query.get("wait") == "true" else m.UpdateStatus.ACKNOWLEDGED
        return m.UpdateResult(operation_id=self._operation, status=status)

    def _side(self, name: str) -> ServerSide:
        return self.server_side.setdefault(name, ServerSide())

    # -- service --
    @route("GET", "/")
    def root(self, q, b):
        return m.VersionInfo(title="qdrant - vector search engine", version=self.version, commit=None)

    # -- collections --
    @route("GET", "/collections/{name}")
    def get_collection(self, q, b, name):
        info, side = self.local.get_collection(name), self._side(name)
        for section, diff in side.diffs.items():
            current = getattr(info.config, section)
            setattr(info.config, section, type(current).model_validate({**current.model_dump(), **diff}))
        info.payload_schema = {}
        for key, schema in side.indexes.items():
            has_value = m.Filter(must_not=[m.IsEmptyCondition(is_empty=m.PayloadField(key=key))])
            is_params = not isinstance(schema, m.PayloadSchemaType)  # KeywordIndexParams, TextIndexParams, ...
            info.payload_schema[key] = m.PayloadIndexInfo(
                data_type=m.PayloadSchemaType(schema.type.value) if is_params else schema,
                params=schema if is_params else None,
                points=self.local.count(name, count_filter=has_value).count,
            )
        return info

    @route("PUT", "/collections/{name}", m.CreateCollection)
    def create_collection(self, q, b, name):
        done = self.local.create_collection(name, vectors_config=b.vectors, sparse_vectors_config=b.sparse_vectors, metadata=b.metadata)
        side = self.server_side[name] = ServerSide()
        side.diffs["params"].update(b.model_dump(include={"shard_number", "replication_factor", "write_consistency_factor", "on_disk_payload"}, exclude_none=True))
        for section, diff in (("hnsw_config", b.hnsw_config), ("optimizer_config", b.optimizers_config), ("wal_config", b.wal_config)):
            side.merge(section, diff)
        return done

    @route("PATCH", "/collections/{name}", m.UpdateCollection)
    def update_collection(self, q, b, name):
        self.local.update_collection(name, sparse_vectors_config=b.sparse_vectors, metadata=b.metadata, vectors_config=b.vectors)
        side = self._side(name)
        for section, diff in (("params", b.params), ("hnsw_config", b.hnsw_config), ("optimizer_config", b.optimizers_config)):
            side.merge(section, diff)
        return True

    @route("DELETE", "/collections/{name}")
    def delete_collection(self, q, b, name):
        self.server_side.pop(name, None)
        return self.local.delete_collection(name)

    @route("PUT", "/collections/{name}/index", m.CreateFieldIndex)
    def create_index(self, q, b, name):
        self.local.create_payload_index(name, b.field_name, field_schema=b.field_schema)
        if b.field_schema is not None:
            self._side(name).indexes[b.field_name] = b.field_schema
        return self._updated(q)

    # -- points: writes --
    @route("PUT", "/collections/{name}/points", m.PointInsertOperations)
    def upsert(self, q, b, name):
        points = b.points if isinstance(b, m.PointsList) else b.batch
        self.local.upsert(name, points=points, update_filter=b.update_filter, update_mode=b.update_mode)
        return self._updated(q)

    @route("POST", "/collections/{name}/points/delete", m.PointsSelector)
    def delete_points(self, q, b, name):
        self.local.delete(name, points_selector=b)
        return self._updated(q)

    # -- points: reads (the server's defaults where a field is left out) --
    @route("POST", "/collections/{name}/points", m.PointRequest)
    def retrieve(self, q, b, name):
        return self.local.retrieve(name, ids=b.ids, with_payload=default(b.with_payload, True), with_vectors=default(b.with_vector, False))

    @route("POST", "/collections/{name}/points/scroll", m.ScrollRequest)
    def scroll(self, q, b, name):
        points, next_offset = self.local.scroll(
            name, scroll_filter=b.filter, limit=default(b.limit, 10), order_by=b.order_by, offset=b.offset,
            with_payload=default(b.with_payload, True), with_vectors=default(b.with_vector, False))
        return m.ScrollResult(points=points, next_page_offset=next_offset)

    @route("POST", "/collections/{name}/points/count", m.CountRequest)
    def count(self, q, b, name):
        return self.local.count(name, count_filter=b.filter, exact=default(b.exact, True))

    @route("POST", "/collections/{name}/facet", m.FacetRequest)
    def facet(self, q, b, name):
        return self.local.facet(name, key=b.key, facet_filter=b.filter, limit=default(b.limit, 10), exact=default(b.exact, False))

    @route("POST", "/collections/{name}/points/query/batch", m.QueryRequestBatch)
    def query_batch(self, q, b, name):
        return self.local.query_batch_points(name, requests=[with_server_defaults(r) for r in b.searches])


def default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def with_server_defaults(request: m.QueryRequest) -> m.QueryRequest:
    """A server answers 10 points without payload or vectors unless told otherwise."""
    return request.model_copy(update={"limit": default(request.limit, 10), "with_payload": default(request.with_payload, False),
                                      "with_vector": default(request.with_vector, False)})
