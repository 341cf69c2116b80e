"""Helpers the tests import (conftest.py only declares fixtures; the servers and stand-ins for broken
ones are in `tests.support.servers`)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

from reference import BENCH_FILE, PACKAGES_FILE, SAMPLE_FILE  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]
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
    from handler.common import Settings

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


def local_server(collection: str = "startups", schema=None):
    """`ServerStorage` on qdrant-client's local mode (`QdrantClient(":memory:")`, Qdrant's Python
    implementation of the server API) through its client factory: one in-memory instance. Local
    mode builds no payload index and forgets them; a server lists them in the collection's
    `payload_schema` (the storage reads its layout from them), so they are recorded here, as the
    REST stand-in (`tests.support.qdrant_standin`) records them. Local mode raises ValueError where a
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
    return ServerStorage("http://local-mode.invalid:6333", collection, client_factory=lambda: local, schema=schema)


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
    """Whether this CPU runs the `int8` variant exactly (`handler.model.cpu`): its export has `int8` and
    serves it; elsewhere the export leaves it out and `int8_unsigned` is the CPU default."""
    from handler.model import INT8_DOT, missing

    return missing(INT8_DOT) is None


def cpu_variant() -> str:
    return "int8" if int8_dot_here() else "int8_unsigned"


def served_variant(model_dir) -> tuple[str, dict]:
    """The variant `Encoder.from_export(model_dir)` serves on this CPU (`handler.model.manifest`'s choice: the
    manifest's `defaults.cpu`, or `cpu_without_<need>` where this CPU lacks what that one needs),
    and its manifest entry."""
    from handler.model import choose_variant, read_manifest

    manifest = read_manifest(model_dir)
    name = choose_variant(manifest, None, "cpu")[0]
    return name, manifest["variants"][name]
