"""The HTTP perimeter with the real service: the real model, Qdrant Edge on the sample,
the app in-process, through Mangum with real API Gateway events, and `python -m handler` as a
user starts it, on real sockets. The protocol-level findings are in `tests.web.test_perimeter`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from handler.web import create_app
from tests.support.helpers import load_event, make_settings
from tests.support.servers import HandlerProcess

# 5., 7., 8. and 9. one error contract, HEAD, headers, strict integers --------------------------------------------


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


def test_a_query_too_long_is_said_in_characters(client):
    """pydantic says "Value should have at most 1000 items after validation" of a validated str."""
    response = client.get("/api/search", params={"q": "é" * 1001})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "q must be at most 1000 characters, not 1001"


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
    answered, and `tests.support.servers.HandlerProcess` has read the lines as they came."""
    env = {"MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": "", "LOG_LEVEL": "INFO"}
    process = HandlerProcess(env)
    with process as url, httpx.Client(timeout=10) as client:
        for _ in range(5000):
            assert client.get(f"{url}/health").status_code == 503  # degraded: no collection here (and each one logged)
            if len(process.output) > 256 * 1024:
                break
        assert len(process.output) > 256 * 1024, len(process.output)
    assert process.output.count('"event": "request"') > 256 * 1024 // 1000
