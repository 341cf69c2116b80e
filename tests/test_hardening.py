"""Findings of the outside test (issue: hardening), one test each, plus a table of hostile inputs
and schemathesis against the app in-process. Real model, real Qdrant Edge, real Mangum events."""

from __future__ import annotations

import json
import logging
import os
import socket

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from mangum import Mangum

from handler.api import create_app
from handler.storage import EdgeStorage
from tests.helpers import load_event, make_settings
from tests.servers import HandlerProcess

SECRET_URL = "http://admin:S3cret@127.0.0.1:9/"


@pytest.fixture
def records():
    """Every line the service logs during the test."""
    caught = []
    collector = logging.Handler()
    collector.emit = lambda record: caught.append(record.getMessage())
    logging.getLogger("handler").addHandler(collector)
    yield caught
    logging.getLogger("handler").removeHandler(collector)


# 1. /health says only what a load balancer needs; details go to the log, redacted ---------------

def test_degraded_health_shows_no_internals(model_dir, tmp_path, records):
    client = TestClient(create_app(make_settings(model_dir, tmp_path, qdrant_url=SECRET_URL, qdrant_timeout=1.0)))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "model": "ok", "collection": "unreachable"}
    logged = "\n".join(records)
    assert "unreachable" in logged and "S3cret" not in logged and "admin" not in logged


def test_healthy_health_shows_no_file_names_or_hashes(client, service):
    body = client.get("/health").json()
    assert body == {"status": "ok", "model": "ok", "collection": "ok"}
    assert service.encoder.sha256 not in json.dumps(body)


def test_health_details_are_an_explicit_opt_in(service):
    private = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, health_details=True), service))
    details = private.get("/health").json()["details"]
    assert details["points"] == 259 and details["model"]["variant"] == service.encoder.variant


# 2. request ids ------------------------------------------------------------------------------------------

def test_a_client_request_id_is_used_only_if_it_looks_like_one(client, records):
    kept = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": "trace-42.a:b"})
    assert kept.headers["x-request-id"] == "trace-42.a:b"
    huge = "A" * 60_190
    refused = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": huge})
    assert refused.headers["x-request-id"] != huge and len(refused.headers["x-request-id"]) <= 64
    line = json.loads(records[-1])
    assert line["client_request_id"] == "refused: not an id" and len(records[-1]) < 600
    script = client.get("/api/search", params={"q": "fintech"}, headers={"x-request-id": "<script>alert(1)</script>"})
    assert "<" not in script.headers["x-request-id"]


class FakeLambdaContext:
    """STAND-IN for the context object the Lambda runtime passes (only the attribute we read)."""

    aws_request_id = "6f1c2d4e-0000-4000-8000-000000000001"


def test_on_lambda_the_api_gateway_request_id_is_the_request_id(service, records):
    handler = Mangum(create_app(service.settings, service), lifespan="off")
    event = load_event("http_api_v2.json", headers={"x-request-id": "client-7"})
    response = handler(event, FakeLambdaContext())
    gateway_id = event["requestContext"]["requestId"]
    assert response["headers"]["x-request-id"] == gateway_id
    line = json.loads(records[-1])
    assert line["request_id"] == gateway_id and line["aws_request_id"] == FakeLambdaContext.aws_request_id
    assert line["client_request_id"] == "client-7"


# 3. and 4. one rule for blank, bounded fields and echoes: the hostile inputs, in a table --------------------

HOSTILE = [
    # (description, query string, status, parameter named in the 422)
    ("spaces", "q=%20%20%20", 422, "q"),
    ("tabs and newlines", "q=%09%0A%0D", 422, "q"),
    ("NBSP and ideographic space", "q=%C2%A0%E3%80%80", 422, "q"),
    ("NUL", "q=%00", 422, "q"),
    ("other control characters", "q=%01%02%1B%7F", 422, "q"),
    ("zero-width space", "q=%E2%80%8B", 422, "q"),
    ("BOM", "q=%EF%BB%BF", 422, "q"),
    ("invalid UTF-8", "q=%ff%fe", 422, "q"),
    ("empty", "q=", 422, "q"),
    ("missing", "", 422, "q"),
    ("10,000 characters", "q=" + "x" * 10_000, 422, "q"),
    ("15,000-character city", "q=fintech&city=" + "L" * 15_000, 422, "city"),
    ("limit zero", "q=x&limit=0", 422, "limit"),
    ("limit not a number", "q=x&limit=many", 422, "limit"),
    ("unknown mode", "q=x&mode=fuzzy", 422, "mode"),
    ("text with a NUL inside", "q=fin%00tech", 200, None),
    ("text with invalid UTF-8 inside", "q=fintech%ff", 200, None),
    ("blank city is no filter", "q=fintech&city=%E2%80%8B", 200, None),
    ("SQL-looking text", "q=%27%20OR%201%3D1%20--", 200, None),
    ("markup", "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 200, None),
    ("emoji only", "q=%F0%9F%9A%80", 200, None),
]


@pytest.mark.parametrize("what, query, status, parameter", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_inputs(client, what, query, status, parameter):
    response = client.get(f"/api/search?{query}")
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text and response.headers["content-type"] == "application/json"
    if status == 422:
        body = response.json()
        assert [issue["loc"] for issue in body["detail"]] == [["query", parameter]]
        assert len(response.content) < 1000, "a 422 echoes at most a short prefix of the input"


def test_normalised_text_is_what_is_searched(client):
    plain = client.get("/api/search", params={"q": "physician referrals"}).json()
    noisy = client.get("/api/search", params={"q": "\u200bphysician\u00a0\u00a0referrals\ufeff "}).json()
    assert [h["id"] for h in noisy["hits"]] == [h["id"] for h in plain["hits"]]


# 5. the local server --------------------------------------------------------------------------------

def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port`, from the kernel's table."""
    found = set()
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]) if family == 4 else address)
    return found


def test_the_local_server_listens_on_loopback_by_default(model_dir, tmp_path):
    """`python -m handler` with HOST unset: the kernel shows one listening socket, on 127.0.0.1."""
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp to read listening sockets from (not Linux)")
    env = {"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""}
    process = HandlerProcess(env)
    del process.env["HOST"]
    with process as url:
        assert listening_addresses(process.port) == {"127.0.0.1"}
        assert httpx.get(f"{url}/health").status_code == 503  # up (and degraded: no collection here)


def test_a_chatty_server_never_blocks_on_its_output(model_dir, tmp_path):
    """Far more log than a pipe holds (64 KB on Linux) while the server runs: every request is still
    answered, and tests/servers.HandlerProcess has read the lines as they came."""
    env = {"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": "", "LOG_LEVEL": "INFO"}
    process = HandlerProcess(env)
    with process as url, httpx.Client(timeout=10) as client:
        for _ in range(5000):
            assert client.get(f"{url}/health").status_code == 503  # degraded: no collection here (and each one logged)
            if len(process.output) > 256 * 1024:
                break
        assert len(process.output) > 256 * 1024, len(process.output)
    assert process.output.count('"event": "request"') > 256 * 1024 // 1000


def test_a_trailing_slash_is_not_redirected_to_the_clients_host(client):
    response = client.get("/api/search/?q=a", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers


# 7. and 8. OpenAPI describes every error; the docs work offline -----------------------------------------------

def test_openapi_documents_every_error_body_and_the_blank_rule(client):
    spec = client.get("/openapi.json").json()
    search = spec["paths"]["/api/search"]["get"]
    for status in ("422", "500", "503"):
        assert "$ref" in search["responses"][status]["content"]["application/json"]["schema"], status
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert q["schema"]["pattern"] and "not blank" in q["description"]
    assert "$ref" in spec["paths"]["/health"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]


def test_docs_load_their_assets_from_the_app_itself(client):
    page = client.get("/docs").text
    assert "cdn." not in page and "/docs/assets/swagger-ui-bundle.js" in page and "/docs/assets/swagger-ui.css" in page
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"] and len(asset.content) > 10_000
    assert client.get("/docs/assets/..%2F..%2Fconfig.py").status_code == 404
    assert client.get("/redoc").status_code == 404


# 9. an empty collection is not healthy ------------------------------------------------------------------

def test_empty_collection_is_degraded(model_dir, tmp_path, records):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(384)
    storage.close()
    response = TestClient(create_app(make_settings(model_dir, tmp_path))).get("/health")
    assert response.status_code == 503 and response.json()["collection"] == "empty"
    assert any('"collection": "empty"' in line for line in records)


# schemathesis against the app in-process ----------------------------------------------------------------

def test_schemathesis(service):
    """Every operation of the OpenAPI document, positive and negative cases, a fixed seed
    (derandomize), bounded: no 5xx, and every response conforms to the documented status codes,
    bodies and content types. (Driven through hypothesis directly: schemathesis' pytest plugin
    reads a private attribute that pytest 9.2 removed.)"""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance

    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service.settings, service))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/search", "/health"}
    calls = []
    for operation in operations:
        has_parameters = any(True for _ in operation.iter_parameters())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_parameters else (GenerationMode.POSITIVE,):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
            def run(case):
                calls.append(case.call_and_validate(checks=checks).status_code)

            run()
    print(f"schemathesis: {len(calls)} calls, statuses {sorted(set(calls))}")
    assert len(calls) > 100
