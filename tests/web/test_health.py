"""/health: what a load balancer needs and nothing more, degraded when the collection is unusable or the model thread is gone, details only when asked for. Real model, real Qdrant Edge."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from handler.model import model_files, read_manifest
from handler.storage import EdgeStorage
from handler.web import create_app
from tests.support.helpers import make_settings

SECRET_URL = "http://admin:S3cret@127.0.0.1:9/"


def test_degraded_health_shows_no_internals(model_dir, tmp_path, logged):
    client = TestClient(create_app(make_settings(model_dir, tmp_path, qdrant_url=SECRET_URL, qdrant_timeout=1.0)))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "model": "ok", "collection": "unreachable",
                               "reason": "Qdrant did not answer in time or cannot be reached"}
    logged = "\n".join(logged)
    assert "unreachable" in logged and "S3cret" not in logged and "admin" not in logged


def test_healthy_health_shows_no_file_names_or_hashes(client, service):
    body = client.get("/health").json()
    assert body == {"status": "ok", "model": "ok", "collection": "ok"}
    shown = json.dumps(body)
    assert service.encoder.sha256 not in shown and ".onnx" not in shown
    assert all(file.sha256 not in shown for file in model_files(service.settings.model_dir, read_manifest(service.settings.model_dir)["variants"][service.encoder.variant]))


def test_health_details_are_an_explicit_opt_in(service):
    private = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, health_details=True), service))
    details = private.get("/health").json()["details"]
    assert details["points"] == 259 and details["model"]["variant"] == service.encoder.variant


def test_empty_collection_is_degraded(model_dir, tmp_path, logged):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(384)
    storage.close()
    response = TestClient(create_app(make_settings(model_dir, tmp_path))).get("/health")
    assert response.status_code == 503 and response.json()["collection"] == "empty"
    assert any('"collection": "empty"' in line for line in logged)


def test_health_says_when_the_model_thread_is_gone(service):
    from fastapi.testclient import TestClient

    from handler.web import create_app

    app = create_app(service.settings, service, concurrency="worker")
    client = TestClient(app)
    assert client.get("/health").json()["model"] == "ok"
    app.state.runner.jobs.put(None)  # the model thread ends
    app.state.runner.model.join(timeout=5)
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["model"] == "stopped" and response.json()["status"] == "degraded"
    assert response.json()["reason"] == "the model thread stopped: no query can be embedded"
    app.state.runner.close()


def test_a_busy_instance_says_busy_with_a_200(service):
    """InFlightLimit tells the route the searches fill their limit (`tests.web.test_health_limit`
    shows it does, over real sockets): the probe says so, and a load balancer keeps the instance."""
    app = create_app(service.settings, service)  # inline: no InFlightLimit here to say otherwise

    async def at_the_limit(scope, receive, send):
        scope.setdefault("state", {})["busy"] = True
        await app(scope, receive, send)

    with TestClient(at_the_limit) as busy:
        response = busy.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "busy", "model": "ok", "collection": "ok"}


def test_openapi_lists_every_health_status(client):
    document = client.get("/openapi.json").json()
    health = document["components"]["schemas"]["HealthResponse"]["properties"]
    assert health["status"]["enum"] == ["ok", "busy", "degraded"] and "reason" in health
    answers = document["paths"]["/health"]["get"]["responses"]
    assert "busy" in answers["200"]["description"] and "degraded" in answers["503"]["description"]


def test_a_damaged_shard_is_degraded_with_the_reason(model_dir, tmp_path, logged):
    """A shard that lost points under the count its upload recorded (a lost segment, a truncated id
    tracker): before, /health said ok."""
    import numpy as np

    from handler.storage import PointData
    from tests.support.storage_cases import point_id

    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(384)
    vectors = np.random.default_rng(3).standard_normal((4, 384)).astype(np.float32)
    storage.upsert([PointData(point_id(i), v / np.linalg.norm(v), {"name": f"startup {i}"}) for i, v in enumerate(vectors)])
    storage.record(points=4)
    storage.delete([point_id(0)])
    storage.close()
    response = TestClient(create_app(make_settings(model_dir, tmp_path))).get("/health")
    assert response.status_code == 503 and response.json()["collection"] == "damaged"
    assert "upload" in response.json()["reason"] and "3 points" not in response.text  # the count goes to the log only
    assert any("the shard holds 3 points, but 4 were written" in line for line in logged)
