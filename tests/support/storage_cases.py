"""The contract suite's small collection and its backends, shared by `tests.storage.test_contract`,
`tests.storage.test_listing_and_deleting` and `tests.storage.test_searches`: eight short texts with deterministic
vectors and real BM25 vectors, on `EdgeStorage` (Qdrant Edge), on `ServerStorage` over
qdrant-client's local mode (tests.support.helpers.local_server), and on a real Qdrant server when
QDRANT_URL names one. The test files that use the fixtures `storage` and `loaded` bind them to
those names (pytest finds a fixture by its name in the test's module)."""

from __future__ import annotations

import contextlib
import os
import uuid

import numpy as np
import pytest

from handler.common import load_schema
from handler.storage import Bm25Encoder, EdgeStorage, Filters, PointData, ServerStorage
from tests.support.helpers import local_server

DIM = 8
TEXTS = [
    ("Acme", "London", "rockets and launch services for small satellites"),
    ("Brewly", "Berlin", "craft beer delivery to your door"),
    ("Cargoo", "London", "freight delivery by cargo bike in the city"),
    ("Dosely", "Paris", "medication reminders for patients and hospitals"),
    ("Eatwell", "Berlin", "vegan food delivery and meal plans"),
    ("Finch", "London", "payments for freelancers and small businesses"),
    ("Gridly", "Paris", "energy savings for power plants"),
    ("Hoppa", "Berlin", "bike sharing in the city"),
]


def point_id(i: int) -> str:
    return str(uuid.UUID(int=1000 + i))


def dense(i: int) -> np.ndarray:
    vector = np.random.default_rng(i).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def points(bm25=Bm25Encoder()) -> list[PointData]:
    """The points as scripts.upload makes them: payloads as the startups schema keeps them (the
    city's folded copy beside it, which its filter matches)."""
    return [PointData(point_id(i), dense(i), load_schema().payload({"name": name, "city": city, "description": text}), bm25.document(f"{name}. {text}"))
            for i, (name, city, text) in enumerate(TEXTS)]


def city(*names: str) -> Filters:
    """The startups schema's city filter: any of these cities."""
    return Filters.of({"city": list(names)})


def real_server(prefix: str = "contract", schema=None) -> ServerStorage:
    """A real Qdrant server, when QDRANT_URL names one (a collection of its own, dropped after)."""
    if not os.environ.get("QDRANT_URL"):
        pytest.skip("needs a real Qdrant server at QDRANT_URL")
    return ServerStorage(os.environ["QDRANT_URL"], f"{prefix}_{uuid.uuid4().hex[:8]}", os.environ.get("QDRANT_API_KEY"), schema=schema)


BACKENDS = ["edge", "server", pytest.param("real-server", marks=pytest.mark.qdrant_server)]  # the params of a fixture over each backend


def backend(kind: str, tmp_path, collection: str = "startups", schema=None):
    """A storage of that kind (one of BACKENDS) for a collection: Qdrant Edge under tmp_path,
    qdrant-client's local mode, or a real server (a collection named after `collection`)."""
    return {
        "edge": lambda: EdgeStorage(tmp_path, collection, schema),
        "server": lambda: local_server(collection, schema=schema),
        "real-server": lambda: real_server(collection, schema),
    }[kind]()


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path):
    store = backend(request.param, tmp_path)
    yield store
    if request.param == "real-server" and store.collection_info() is not None:
        store._drop()
    store.close()


@pytest.fixture
def loaded(storage):
    assert storage.ensure_collection(DIM) is True
    storage.upsert(points())
    storage.finish_upload()
    return storage


@contextlib.contextmanager
def loaded_standin():
    """The REST stand-in (`tests.support.qdrant_standin`, a STAND-IN for a Qdrant server) holding
    the contract collection as `startups`, for tests that make it answer oddly or slowly."""
    from tests.support.qdrant_standin import QdrantStandin

    with QdrantStandin() as standin:
        storage = ServerStorage(standin.url, "startups", timeout=5)
        storage.ensure_collection(DIM)
        storage.upsert(points())
        storage.close()
        yield standin


def another(storage, tmp_path):
    """A second, empty storage of the same backend (a fresh load to compare with)."""
    if isinstance(storage, EdgeStorage):
        return EdgeStorage(tmp_path / "fresh", "startups")
    return local_server() if storage.url == "http://local-mode.invalid:6333" else real_server()
