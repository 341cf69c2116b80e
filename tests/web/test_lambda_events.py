"""handler.lambda_handler through Mangum with real API Gateway events (infra/events, made by
`sam local generate-event`): HTTP API v2 with the $default stage, and REST API v1 with a stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from mangum import Mangum

from handler.web import create_app, guarded
from tests.support.helpers import EVENTS, REPO, load_event

HEAVY = ("torch", "transformers", "optimum", "sentence_transformers")


@pytest.fixture(scope="module")
def lambda_handler(service):
    # The same object handler.lambda_entry builds at import, around the session's service
    # (the embedded shard can be opened once per process).
    return guarded(Mangum(create_app(service.settings, service), lifespan="off"))


@pytest.mark.parametrize("name", ["http_api_v2.json", "rest_api_v1.json"])
def test_search_event(lambda_handler, name):
    response = lambda_handler(load_event(name), None)
    assert response["statusCode"] == 200
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    body = json.loads(response["body"])
    assert len(body["result"]) == 3 and body["result"][0]["name"] == "SaferCodes"


@pytest.mark.parametrize("name, openapi_url", [("http_api_v2.json", '"/openapi.json"'), ("rest_api_v1.json", '"/Prod/openapi.json"')])
def test_docs_point_at_the_right_openapi_url(lambda_handler, name, openapi_url):
    response = lambda_handler(load_event(name, path="/docs", query={}), None)
    assert response["statusCode"] == 200 and openapi_url in response["body"]
    spec = lambda_handler(load_event(name, path="/openapi.json", query={}), None)
    assert spec["statusCode"] == 200 and "/api/search" in json.loads(spec["body"])["paths"]


@pytest.mark.parametrize("name", ["http_api_v2.json", "rest_api_v1.json"])
def test_invalid_query_event_gets_422(lambda_handler, name):
    response = lambda_handler(load_event(name, query={"q": "x", "limit": "1000"}), None)
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["detail"][0]["loc"] == ["query", "limit"]


def test_health_event(lambda_handler):
    response = lambda_handler(load_event("http_api_v2.json", path="/health", query={}), None)
    assert response["statusCode"] == 200 and json.loads(response["body"])["collection"] == "ok"


def test_serving_path_imports_no_torch_transformers_or_optimum(model_dir, tmp_path):
    """Import the real Lambda entry point as AWS does, answer an event in a fresh interpreter, and
    check that `handler.app` / `handler.lambda_handler` name one object each, whichever is imported first."""
    code = textwrap.dedent(f"""
        import json, sys
        import handler.lambda_entry
        import handler
        from fastapi import FastAPI
        same = handler.app is handler.lambda_entry.app and handler.lambda_handler is handler.lambda_entry.lambda_handler
        assert same and isinstance(handler.app, FastAPI), (type(handler.app), type(handler.lambda_handler))
        response = handler.lambda_handler(json.load(open({str(EVENTS / 'http_api_v2.json')!r})), None)
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})
        print(json.dumps({{"status": response["statusCode"], "heavy": heavy}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": ""})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["status"] == 503  # empty QDRANT_PATH: the collection is missing, said as 503
