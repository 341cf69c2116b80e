"""Request ids: API Gateway's on Lambda, a client's X-Request-Id only when it looks like an id, else a new one. Real model, real Qdrant Edge, real Mangum events."""

from __future__ import annotations

import json

from mangum import Mangum

from handler.web import create_app
from tests.support.helpers import load_event


class FakeLambdaContext:
    """STAND-IN for the context object the Lambda runtime passes (only the attribute we read)."""

    aws_request_id = "6f1c2d4e-0000-4000-8000-000000000001"


def test_a_client_request_id_is_used_only_if_it_looks_like_one(client, logged):
    kept = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": "trace-42.a:b"})
    assert kept.headers["x-request-id"] == "trace-42.a:b"
    huge = "A" * 60_190
    refused = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": huge})
    assert refused.headers["x-request-id"] != huge and len(refused.headers["x-request-id"]) <= 64
    line = json.loads(logged[-1])
    assert line["client_request_id"] == "refused: not an id" and len(logged[-1]) < 600
    script = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": "<script>alert(1)</script>"})
    assert "<" not in script.headers["x-request-id"]


def test_on_lambda_the_api_gateway_request_id_is_the_request_id(service, logged):
    handler = Mangum(create_app(service.settings, service), lifespan="off")
    event = load_event("http_api_v2.json", headers={"x-request-id": "client-7"})
    response = handler(event, FakeLambdaContext())
    gateway_id = event["requestContext"]["requestId"]
    assert response["headers"]["x-request-id"] == gateway_id
    line = json.loads(logged[-1])
    assert line["request_id"] == gateway_id and line["aws_request_id"] == FakeLambdaContext.aws_request_id
    assert line["client_request_id"] == "client-7"
