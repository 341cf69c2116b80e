"""The Lambda artifact, built without Docker and run through AWS's runtime client (awslambdaric)
and the Runtime API emulator in infra/local_invoke.py: what a deployment would run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import EVENTS, REPO, run_module

RUNTIME_PYTHON = REPO / ".venv312" / "bin" / "python"
HEAVY = ("torch", "transformers", "optimum", "sentence_transformers")

sys.path.insert(0, str(REPO / "infra"))
from local_invoke import LocalLambda  # noqa: E402


@pytest.fixture(scope="module")
def artifact(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact") / "lambda"
    result = subprocess.run([sys.executable, "infra/build_artifact.py", "--out", str(out), "--model-dir", str(model_dir)],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    report = json.loads((out.parent / "lambda-report.json").read_text())
    return out, report


def test_artifact_holds_no_training_stack(artifact):
    out, _ = artifact
    present = [name for name in HEAVY if (out / name).exists()]
    assert present == []
    assert not list(out.glob("onnxruntime/capi/libonnxruntime.so*"))  # trimmed
    assert not (out / "huggingface_hub").exists()  # tokenizers installed without it
    assert sorted(p.name for p in (out / "model").iterdir()) == ["manifest.json", "model_int8.onnx", "tokenizer.json"]
    assert list((out / "handler" / "__pycache__").glob("*.cpython-312.pyc"))  # byte-compiled for 3.12


def test_size_and_glibc_within_lambda_limits(artifact):
    _, report = artifact
    print(f"artifact: {report['unzipped_mb']} MB unzipped, max glibc {report['max_glibc']}, largest {report['largest'][:5]}")
    assert report["unzipped_mb"] <= 250
    assert report["glibc_over_limit"] == []
    assert tuple(int(x) for x in report["max_glibc"].split(".")) <= (2, 34)


@pytest.fixture(scope="module")
def function(artifact, sample_vectors, sample_file, tmp_path_factory):
    if not RUNTIME_PYTHON.exists():
        pytest.skip("no .venv312 (Python 3.12 + awslambdaric): scripts/setup_env.sh makes it where Python 3.12 exists")
    qdrant = tmp_path_factory.mktemp("lambda-qdrant")  # its own copy: a shard is opened by one process at a time
    uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors),
                          env={"QDRANT_PATH": str(qdrant), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    local = LocalLambda(artifact[0], str(RUNTIME_PYTHON), {"QDRANT_PATH": str(qdrant)})
    init_s = local.wait_ready()
    yield local, init_s
    local.close()


def test_search_event_returns_results(function):
    local, init_s = function
    payload, headers, seconds = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
    print(f"init {init_s * 1000:.0f} ms, first invoke {seconds * 1000:.1f} ms")
    assert "X-Amz-Function-Error" not in headers, payload
    assert payload["statusCode"] == 200
    body = json.loads(payload["body"])
    assert body["result"][0]["name"] == "SaferCodes" and len(body["result"]) == 3
    rest, _, _ = local.invoke(json.loads((EVENTS / "rest_api_v1.json").read_text()))
    assert rest["statusCode"] == 200


def test_invalid_query_returns_the_422_body(function):
    local, _ = function
    event = json.loads((EVENTS / "http_api_v2.json").read_text())
    event["queryStringParameters"] = {"q": "   "}
    event["rawQueryString"] = "q=+++"
    payload, _, _ = local.invoke(event)
    assert payload["statusCode"] == 422
    assert json.loads(payload["body"])["detail"][0]["loc"] == ["query", "q"]


def test_event_not_from_api_gateway_gets_lambdas_error_shape(function):
    local, _ = function
    payload, headers, _ = local.invoke({"source": "aws.events", "detail": {}})
    assert headers.get("X-Amz-Function-Error") == "Unhandled"
    assert payload["errorType"] == "RuntimeError" and "unable to infer a handler" in payload["errorMessage"]
    assert isinstance(payload["stackTrace"], list)
    # the environment survives a bad event
    ok, _, _ = local.invoke(json.loads((EVENTS / "http_api_v2.json").read_text()))
    assert ok["statusCode"] == 200
