"""The public edge with the real service (issue 19): the real model, Qdrant Edge on the sample,
the app in-process, through Mangum with real API Gateway events, and `python -m handler` as a
user starts it, on real sockets. The protocol-level findings are in tests/test_edge.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from handler.api import create_app
from handler.files import sha256_file
from handler.service import SearchService, StartupError
from tests.helpers import REPO, load_event, make_settings, served_variant
from tests.servers import free_port, HandlerProcess

# 3. and 6. the model's files ---------------------------------------------------------------------------------


def served_file(model_dir) -> str:
    """The model file this CPU serves (int8's, or int8_blocks' where int8 is not exact here)."""
    return served_variant(model_dir)[1]["file"]


def model_copy(model_dir, tmp_path, damage: str | None = None):
    """The served files of the export (manifest, tokenizer, the CPU default's model) in tmp_path/model, one of them damaged."""
    out = tmp_path / "model"
    out.mkdir()
    model = served_file(model_dir)
    for name in ("manifest.json", "tokenizer.json", model):
        shutil.copy(model_dir / name, out / name)
    if damage == "model":  # same size, other bytes: what the size check let through
        data = bytearray((out / model).read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 1 for b in data[middle : middle + 64])
        (out / model).write_bytes(bytes(data))
    elif damage in ("tokenizer", "manifest"):
        path = out / f"{damage}.json"
        path.write_bytes(path.read_bytes()[: 300 if damage == "manifest" else 5000])  # cut short, as a failed copy leaves it
    return out


def run_handler(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handler"], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HOST": "127.0.0.1", "PORT": str(free_port()), "QDRANT_URL": "", **env})


def test_a_model_file_with_other_bytes_never_serves(model_dir, loaded_qdrant, tmp_path):
    damaged, model = model_copy(model_dir, tmp_path, "model"), served_file(model_dir)
    assert (damaged / model).stat().st_size == (model_dir / model).stat().st_size
    with pytest.raises(StartupError, match=rf"{re.escape(model)} has sha256 .* but .*manifest.json says"):
        SearchService.start(make_settings(damaged, tmp_path / "store"))
    result = run_handler({"MODEL_DIR": str(damaged), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and model in result.stderr and "python -m export" in result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage, file", [("tokenizer", "tokenizer.json"), ("manifest", "manifest.json")])
def test_a_damaged_file_is_named_with_the_fix(model_dir, tmp_path, damage, file):
    result = run_handler({"MODEL_DIR": str(model_copy(model_dir, tmp_path, damage)), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2, result.stderr
    assert f"model/{file}" in result.stderr and "python -m export" in result.stderr, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


def test_health_details_name_what_was_verified(service):
    client = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, health_details=True), service))
    model = client.get("/health").json()["details"]["model"]
    served = service.encoder.model_path
    assert model["file"] == served.name and model["sha256"] == sha256_file(served)
    assert "computed at start" in model["verified"]


# 5., 7., 8. and 9. one error contract, HEAD, headers, strict integers --------------------------------------------

def test_every_error_body_is_json_with_error_and_detail(client, service):
    for method, path, status in (("GET", "/nope", 404), ("POST", "/api/search?q=x", 405), ("DELETE", "/health", 405),
                                 ("GET", "/api/search", 422), ("GET", "/static/nope.js", 404), ("GET", "/api/similar?id=00000000-0000-0000-0000-000000000000", 404)):
        response = client.request(method, path)
        assert response.status_code == status, (method, path)
        assert response.headers["content-type"] == "application/json" and {"error", "detail"} <= set(response.json()), (method, path)
        assert response.headers["cache-control"] == "no-store"
    assert client.post("/health").headers["allow"] == "GET, HEAD"
    cors = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, cors_allow_origins=("https://app.example.com",)), service))
    refused = cors.options("/api/search", headers={"origin": "https://evil.example", "access-control-request-method": "GET"})
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "cors_refused" and "origin" in refused.json()["detail"]
    allowed = cors.options("/api/search", headers={"origin": "https://app.example.com", "access-control-request-method": "GET"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example.com"


@pytest.mark.parametrize("path", ["/", "/health", "/api/search?q=fintech", "/api/cities", "/docs", "/static/app.js", "/openapi.json"])
def test_head_wherever_get_is_served(client, path):
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] and int(head.headers["content-length"]) > 0
    if "search" not in path:  # a search's body holds its timings: its length varies
        assert head.headers["content-length"] == got.headers["content-length"]


def test_head_on_lambda(service):
    handler = Mangum(create_app(service.settings, service), lifespan="off")
    event = load_event("http_api_v2.json", path="/health", query={})
    event["requestContext"]["http"]["method"] = "HEAD"
    response = handler(event, None)
    assert response["statusCode"] == 200 and response["body"] == ""


def test_cache_control(client, service):
    for path in ("/api/search?q=fintech", "/api/cities", f"/api/similar?id={client.get('/api/search?q=fintech').json()['hits'][0]['id']}"):
        assert client.get(path).headers["cache-control"] == "public, max-age=60", path
    for path in ("/health", "/api/search?q=", "/api/search?q=x&limit=0", "/nope"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    uncached = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, cache_max_age=0), service))
    assert uncached.get("/api/search?q=fintech").headers["cache-control"] == "no-store"


def test_security_headers_on_the_page_and_the_docs(client):
    for path in ("/", "/docs"):
        headers = client.get(path).headers
        csp = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'", path
        assert "unsafe-inline" not in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in client.get("/docs").text  # no inline script: the CSP would block it
    assert client.get("/api/search?q=fintech").headers["x-content-type-options"] == "nosniff"


# a raw "+" in a query string is a space; %2B is a "+"
@pytest.mark.parametrize("value", ["5_0", "+5", "%2B5", "1.0", "5e1", "0x5", "%D9%A3", "%C2%B2", "-1", "5%20", ""])
@pytest.mark.parametrize("path, parameter", [("/api/search?q=x&limit=", "limit"), ("/api/cities?limit=", "limit"),
                                             ("/api/similar?id=00000000-0000-0000-0000-000000000000&limit=", "limit")])
def test_counts_take_ascii_digits_only(client, path, parameter, value):
    response = client.get(path + value)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameter" and response.json()["detail"][0]["loc"] == ["query", parameter]


def test_counts_with_leading_zeros_are_numbers(client):
    assert len(client.get("/api/search?q=software&limit=007").json()["hits"]) == 7


# 1. and 5. `python -m handler` on real sockets: idle connections, JSON lines on stdout ------------------------------

@pytest.fixture(scope="module")
def served(model_dir, loaded_qdrant, tmp_path_factory):
    """`python -m handler` on a copy of the sample shard (the session's service holds the original),
    stdout and stderr apart, started with a soft limit of 256 open files (as a shell's 1,024 would be)."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    store = tmp_path_factory.mktemp("edge-store")
    shutil.copytree(loaded_qdrant / "startups", store / "startups")
    process = HandlerProcess({"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(store), "QDRANT_URL": "", "LOG_LEVEL": "INFO"},
                             stderr_apart=True, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    with process as url:
        deadline = time.time() + 60
        while not healthy(url):
            assert process.process.poll() is None and time.time() < deadline, f"not healthy within 60 s:\n{process.output}{process.errors}"
            time.sleep(0.2)
        yield process, url, process.port


def healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    return False


def test_300_idle_connections_do_not_stop_searches(served):
    """More idle connections than the soft limit of open files the server was started with."""
    _, url, port = served
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    try:
        with httpx.Client(timeout=10) as client:
            statuses = [client.get(f"{url}/api/search", params={"q": "vegan food delivery"}).status_code for _ in range(10)]
    finally:
        for sock in idle:
            sock.close()
    assert statuses == [200] * 10


def test_every_log_line_is_json_on_stdout(served):
    process, url, port = served
    httpx.get(f"{url}/api/search", params={"q": "fintech"})
    httpx.get(f"{url}/{'p' * 15_000}")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        sock.recv(1000)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
        sock.recv(1000)

    def statuses() -> list:
        return [json.loads(line).get("status") for line in process.output.splitlines() if '"event": "request"' in line]

    deadline = time.time() + 10  # each line is written once its answer is sent
    while not {200, 404, 400, 431} <= set(statuses()) and time.time() < deadline:
        time.sleep(0.05)
    process.stop()
    out, err = process.output, process.errors
    lines = [json.loads(line) for line in out.splitlines()]  # every line parses
    assert all(len(line) < 2000 for line in out.splitlines())
    assert {200, 404, 400, 431} <= set(statuses()), statuses()
    assert lines[0]["event"] == "startup" and any(line["event"] == "listening" for line in lines)
    assert err.strip().splitlines() == [f"serving on {url} (search: /api/search?q=..., docs: /docs)"], err
