"""The Lambda artifacts, one per storage mode, built without Docker and run through AWS's runtime
client (awslambdaric) and the Runtime API emulator in infra/local_invoke.py: what a deployment runs.

- embedded: Qdrant Edge with the sample's shard baked in, unpacked to a fresh /tmp-like directory
  at start, run through the SnapStart lifecycle (before-snapshot hooks, restore, after-restore hooks);
- server: qdrant-client, against the Qdrant REST STAND-IN (`tests.support.qdrant_standin`: qdrant-client's
  local mode behind a uvicorn server; no Qdrant server can run here) loaded with the sample by
  `scripts.upload`, through the SnapStart lifecycle; and against a port that refuses connections
  (init without a server, the 503 contract).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from handler.model import model_files
from tests.support.emf import emf_metrics
from tests.support.helpers import EVENTS, REPO, load_event, run_module
from tests.support.qdrant_standin import QdrantStandin

pytestmark = pytest.mark.slow  # every test here builds on the exported model (some through getfixturevalue)
RUNTIME_PYTHON = REPO / ".venv312" / "bin" / "python"
HEAVY = ("torch", "transformers", "optimum", "sentence_transformers")

sys.path.insert(0, str(REPO / "infra"))
from local_invoke import LocalLambda  # noqa: E402


def build(model_dir, out, mode, *extra):
    result = subprocess.run([sys.executable, "infra/build_artifact.py", "--mode", mode, "--out", str(out), "--model-dir", str(model_dir), *extra],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    return out, json.loads((out.parent / f"{out.name}-report.json").read_text())


@pytest.fixture(scope="module")
def embedded(model_dir, sample_file, sample_vectors, tmp_path_factory):
    # its own shard: the session's service holds loaded_qdrant open, and a shard is opened by one process
    qdrant = tmp_path_factory.mktemp("bake")
    uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), env={"QDRANT_PATH": str(qdrant), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    return build(model_dir, tmp_path_factory.mktemp("artifact") / "embedded", "embedded", "--shard", str(qdrant / "startups"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    return build(model_dir, tmp_path_factory.mktemp("artifact") / "server", "server")


def needs_runtime():
    if not RUNTIME_PYTHON.exists():
        pytest.skip("no .venv312 (Python 3.12 + awslambdaric): scripts/setup_env.sh makes it where Python 3.12 exists")


# -- contents ---------------------------------------------------------------------------------------

def test_each_mode_carries_only_its_backend(embedded, server):
    for out, _ in (embedded, server):
        assert [name for name in HEAVY if (out / name).exists()] == []
        assert not list(out.glob("onnxruntime/capi/libonnxruntime.so*"))  # trimmed
        assert not (out / "huggingface_hub").exists()  # tokenizers installed without it
        assert list((out / "handler" / "__pycache__").glob("*.cpython-312.pyc"))  # byte-compiled for 3.12
    assert (embedded[0] / "qdrant_edge").is_dir() and not (embedded[0] / "qdrant_client").exists() and not (embedded[0] / "grpc").exists()
    assert (server[0] / "qdrant_client").is_dir() and not (server[0] / "qdrant_edge").exists()
    assert (embedded[0] / "qdrant_shard.zip").is_file() and not (server[0] / "qdrant_shard.zip").exists()


def test_only_the_served_variants_ship(embedded):
    """x86_64 (this build): the one variant Lambda's AVX2 hosts serve, exact without VNNI, as the artifact's CPU default."""
    out, report = embedded
    manifest = json.loads((out / "model" / "manifest.json").read_text())
    assert list(manifest["variants"]) == [report["variant"]] == [manifest["defaults"]["cpu"]]
    assert not manifest["variants"][report["variant"]].get("requires")  # int8 (VNNI) would be dead weight there
    served = [file.path.name for file in model_files(out / "model", manifest["variants"][report["variant"]])]  # its graph and weights
    assert sorted(p.name for p in (out / "model").iterdir()) == sorted(["manifest.json", "tokenizer.json", *served])


@pytest.mark.parametrize("which", ["embedded", "server"])
def test_size_and_glibc_within_lambda_limits(which, request):
    _, report = request.getfixturevalue(which)
    print(f"{which}: {report['unzipped_mb']} MB unzipped, max glibc {report['max_glibc']}, largest {report['packages'][:6]}")
    assert report["unzipped_mb"] <= 250  # Lambda's hard limit (the 170 MB goal is reported by the build)
    assert report["glibc_over_limit"] == []
    assert tuple(int(x) for x in report["max_glibc"].split(".")) <= (2, 34)


# -- embedded: a deploy with no Qdrant server -----------------------------------------------------------

@pytest.fixture(scope="module")
def embedded_function(embedded, tmp_path_factory):
    """The function as `sam deploy` without QdrantUrl runs it: the baked shard unpacked into an
    empty writable directory at start, SnapStart's hooks around the snapshot."""
    needs_runtime()
    out, _ = embedded
    writable = tmp_path_factory.mktemp("tmp") / "qdrant_storage"  # /tmp/qdrant_storage on Lambda
    local = LocalLambda(out, str(RUNTIME_PYTHON), {"QDRANT_PATH": str(writable), "QDRANT_SHARD_SOURCE": str(out / "qdrant_shard.zip")}, snapstart=True)
    init_s = local.wait_ready()
    yield local, init_s
    local.close()


def test_snapstart_hooks_run_in_order_then_a_search_answers(embedded_function):
    local, init_s = embedded_function
    payload, headers, seconds = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
    print(f"init {init_s * 1000:.0f} ms, first invoke {seconds * 1000:.1f} ms")
    assert "X-Amz-Function-Error" not in headers, payload
    assert payload["statusCode"] == 200
    body = json.loads(payload["body"])
    assert body["result"][0]["name"] == "SaferCodes" and len(body["result"]) == 3
    events = [json.loads(line) for line in local.log if line.startswith("{")]
    order = [e.get("hook") or e["event"] for e in events if e["event"] in ("shard_provisioned", "startup", "snapstart")]
    assert order == ["shard_provisioned", "startup", "before_snapshot", "after_restore"]
    assert local.emulator.restored_at is not None and local.emulator.restore_error is None
    [request] = [line for line in local.log if '"event": "request"' in line]  # the search's metrics ride in its own log line (EMF)
    metrics = emf_metrics(request)
    assert metrics["Requests"] == 1 and metrics["ServerErrors"] == 0 and "EmbedTime" in metrics and "QR codes" not in request
    rest, _, _ = local.invoke(json.loads((EVENTS / "rest_api_v1.json").read_text()))
    assert rest["statusCode"] == 200


def test_invalid_query_returns_the_422_body(embedded_function):
    local, _ = embedded_function
    payload, _, _ = local.invoke(load_event(query={"q": "   "}))
    assert payload["statusCode"] == 422
    assert json.loads(payload["body"])["detail"][0]["loc"] == ["query", "q"]


def test_event_not_from_api_gateway_is_a_json_400_without_a_stack_trace(embedded_function):
    """Through AWS's runtime client: another service's event is answered in API Gateway's shape,
    naming the service, never the runtime's errorType and stackTrace (`handler.web.events`)."""
    local, _ = embedded_function
    payload, headers, _ = local.invoke({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    assert "X-Amz-Function-Error" not in headers and "stackTrace" not in payload and "errorType" not in payload
    assert payload["statusCode"] == 400 and json.loads(payload["body"])["error"] == "bad_event"
    assert "EventBridge" in json.loads(payload["body"])["detail"] and ".py" not in payload["body"]
    # the environment survives a bad event
    ok, _, _ = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
    assert ok["statusCode"] == 200


# -- server mode --------------------------------------------------------------------------------------

def refused_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_server_artifact_searches_a_qdrant_server_after_the_snapstart_hooks(server, sample_file, sample_vectors):
    """The server-mode function with QDRANT_URL: init, the before-snapshot hook (the client's
    connections closed), a restore, the after-restore hook (a new client), then searches with
    results, the API key on every request to Qdrant."""
    needs_runtime()
    key = "artifact-key-5e1"
    with QdrantStandin(api_key=key) as qdrant:
        uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors),
                              env={"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": key})
        assert uploaded.returncode == 0, uploaded.stderr
        qdrant.clear_log()
        local = LocalLambda(server[0], str(RUNTIME_PYTHON), {"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": key}, snapstart=True)
        try:
            local.wait_ready()
            payload, headers, _ = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
            assert "X-Amz-Function-Error" not in headers, payload
            assert payload["statusCode"] == 200, payload
            body = json.loads(payload["body"])
            assert body["result"][0]["name"] == "SaferCodes" and len(body["result"]) == 3
            similar, _, _ = local.invoke(load_event(path="/api/similar", query={"id": body["hits"][0]["id"]}))
            assert similar["statusCode"] == 200 and json.loads(similar["body"])["hits"]
        finally:
            local.close()
        events = [json.loads(line) for line in local.log if line.startswith("{")]
        assert [e["hook"] for e in events if e["event"] == "snapstart"] == ["before_snapshot", "after_restore"]
        assert qdrant.requests and all(r.headers.get("api-key") == key for r in qdrant.requests)
        assert key not in "".join(local.log)


def test_server_artifact_starts_without_a_server_and_answers_503(server):
    needs_runtime()
    local = LocalLambda(server[0], str(RUNTIME_PYTHON), {"QDRANT_URL": refused_url(), "QDRANT_TIMEOUT": "1"}, snapstart=True)
    try:
        local.wait_ready()
        payload, headers, _ = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
        assert "X-Amz-Function-Error" not in headers, payload
        assert payload["statusCode"] == 503 and json.loads(payload["body"])["error"] == "qdrant_unavailable"
        assert "Traceback" not in payload["body"]
    finally:
        local.close()


@pytest.mark.parametrize("which, env, message", [
    ("server", {"QDRANT_URL": ""}, "built with --mode server and needs QDRANT_URL"),
    ("embedded", {"QDRANT_URL": "http://127.0.0.1:9"}, "built with --mode embedded and needs QDRANT_URL empty"),
])
def test_an_artifact_of_the_other_mode_says_so_at_init(which, env, message, request, tmp_path):
    needs_runtime()
    out, _ = request.getfixturevalue(which)
    local = LocalLambda(out, str(RUNTIME_PYTHON), {"QDRANT_PATH": str(tmp_path), "QDRANT_SHARD_SOURCE": "", **env})
    try:
        with pytest.raises(RuntimeError, match=message):
            local.wait_ready(timeout_s=30)
    finally:
        local.close()


def test_make_invoke_on_an_embedded_artifact_reads_its_baked_shard_with_no_variable_set(embedded):
    """`make invoke` runs infra/local_invoke.py: QDRANT_SHARD_SOURCE and QDRANT_PATH as template.yaml sets them."""
    needs_runtime()
    out, _ = embedded
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT_") and k != "COLLECTION_NAME"}
    result = subprocess.run([sys.executable, "infra/local_invoke.py", "--artifact", str(out), "--python", str(RUNTIME_PYTHON),
                             "--event", str(EVENTS / "http_api_v2.json")], cwd=REPO, env=clean, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["statusCode"] == 200 and json.loads(payload["body"])["result"][0]["name"] == "SaferCodes"
