"""What keeps the service answering when a part misbehaves: the circuit breaker never sticks, no
Qdrant call starts past the request's deadline, the model thread survives an error and /health
says when it is gone, the engine's own errors stay 503s, log lines stay JSON, the BM25 memo stays
bounded. No model needed, but for the last test (the real service behind a worker)."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from handler.deadline import RequestExpired, until
from handler.storage import EdgeStorage, ServerStorage, StorageError, StorageUnavailable
from tests.helpers import local_server
from tests.servers import Listener


def test_the_breaker_closes_after_a_trial_call_that_fails_for_another_reason():
    """The trial call after the cool-down fails with a bug, not the network: the next call must
    still reach the server (before, the circuit stayed open for good)."""
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.3, cooldown=0.3)
        with pytest.raises(StorageUnavailable):
            storage.count()  # a timeout: the circuit opens
        time.sleep(0.35)

        class Broken:  # STAND-IN for a client with a bug
            def count(self, *args, **kwargs):
                raise KeyError("a bug")

            def close(self):
                pass

        real, storage._client = storage._client, Broken()
        with pytest.raises(KeyError):
            storage.count()
        storage._client = real
        with pytest.raises(StorageUnavailable, match="unreachable"):  # asked again: the server, not the breaker, answered
            storage.count()
        assert silent.accepted == 2
        storage.close()


def test_a_restored_environment_starts_with_a_closed_circuit():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.3, cooldown=60)
        with pytest.raises(StorageUnavailable):
            storage.count()
        assert storage.breaker.is_open
        storage.after_restore()  # SnapStart: new client, new breaker
        assert not storage.breaker.is_open
        storage.close()


def test_no_qdrant_call_starts_after_the_deadline():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=5)
        with until(time.monotonic() - 0.001), pytest.raises(RequestExpired, match="ran out of time before count"):
            storage.count()
        assert silent.accepted == 0
        storage.close()


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_what_the_engine_refuses_is_a_storage_error_never_a_500(backend, tmp_path):
    storage = EdgeStorage(tmp_path, "startups") if backend == "edge" else local_server()
    storage.ensure_collection(4)
    with pytest.raises(StorageError):
        storage.search(np.ones(5, np.float32), 3)  # a vector of the wrong size
    storage.close()


def test_a_damaged_shard_config_is_a_storage_error(tmp_path):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(4)
    storage.close()
    (tmp_path / "startups" / "edge_config.json").write_text("{not json")
    with pytest.raises(StorageError, match="damaged"):
        EdgeStorage(tmp_path, "startups").collection_info()


def test_the_model_thread_survives_an_error_after_embedding():
    from handler.runners import Worker
    from handler.service import SearchRequest

    class Service:  # STAND-IN for the service: the query cache fails after each batch
        def cached(self, text):
            return None

        def embed(self, texts):
            return np.ones((len(texts), 2), np.float32)

        def remember(self, text, vector):
            raise RuntimeError("the cache broke")

        def ask(self, request, vector):
            return [request.q], False

    worker = Worker(Service(), timeout=5)

    async def two():
        first = await worker.search(SearchRequest("one", mode="neural"))
        second = await worker.search(SearchRequest("two", mode="neural"))
        return first, second

    first, second = asyncio.run(two())
    assert (first.hits, second.hits) == (["one"], ["two"]) and worker.alive()
    worker.close()


def test_health_says_when_the_model_thread_is_gone(service):
    from fastapi.testclient import TestClient

    from handler.api import create_app

    app = create_app(service.settings, service, concurrency="worker")
    client = TestClient(app)
    assert client.get("/health").json()["model"] == "ok"
    app.state.runner.jobs.put(None)  # the model thread ends
    app.state.runner.model.join(timeout=5)
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["model"] == "stopped" and response.json()["status"] == "degraded"
    app.state.runner.close()


def test_a_log_line_of_many_long_fields_stays_one_json_object():
    from handler.logs import MAX_LINE, bounded

    line = bounded({f"field_{i}": "x" * 500 for i in range(60)})
    assert len(line) <= MAX_LINE and json.loads(line)["cut"] is True


def test_the_bm25_memo_is_bounded(monkeypatch):
    import handler.bm25 as bm25

    monkeypatch.setattr(bm25, "MEMO", 50)
    encoder = bm25.Bm25Encoder()
    reference = bm25.Bm25Encoder().query("word17 word333")
    for i in range(500):
        encoder.query(f"word{i}")
    assert len(encoder._ids) <= 50
    assert encoder.query("word17 word333") == reference  # the memo never changes an answer
