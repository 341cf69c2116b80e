"""Metrics: on Lambda, CloudWatch EMF inside the request's own log line (checked against the EMF
specification's required keys); in `python -m handler`, /metrics in Prometheus' text format (read by
prometheus_client's parser), to loopback clients unless METRICS says otherwise. Real model, real
Qdrant Edge, real API Gateway events through Mangum."""

from __future__ import annotations

import dataclasses
import json
import logging
import urllib.request

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum
from prometheus_client.parser import text_string_to_metric_families

from handler.common.logs import MAX_LINE, JsonLines
from handler.web import METRICS, NAMESPACE, create_app
from tests.support.emf import emf_metrics
from tests.support.helpers import load_event, make_settings


class LambdaContext:
    """STAND-IN for the context the Lambda runtime passes (the attributes the service reads)."""

    aws_request_id = "6f1c2d4e-0000-4000-8000-000000000002"
    function_name = "search-SearchFunction-abc"


@pytest.fixture
def lines():
    """The service's log lines as they reach stdout (JsonLines-formatted)."""
    caught: list[str] = []
    collector = logging.Handler()
    collector.setFormatter(JsonLines())
    collector.emit = lambda record: caught.append(collector.format(record))
    logger = logging.getLogger("handler")
    logger.addHandler(collector)
    yield caught
    logger.removeHandler(collector)


@pytest.fixture(scope="module")
def lambda_handler(service):
    return Mangum(create_app(service.settings, service), lifespan="off")


def request_line(lines: list[str]) -> str:
    """The one request line (metrics ride on it: no second line)."""
    found = [line for line in lines if '"event": "request"' in line]
    assert len(found) == 1, lines
    return found[0]


def test_a_search_on_lambda_carries_its_metrics_in_its_own_log_line(lambda_handler, service, lines):
    event = load_event("http_api_v2.json", query={"q": "QR codes for restaurants", "limit": "3", "mode": "hybrid"})
    assert lambda_handler(event, LambdaContext())["statusCode"] == 200
    line = request_line(lines)
    assert len(line) <= MAX_LINE and "restaurants" not in line  # never the query
    values = emf_metrics(line)
    document = json.loads(line)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE and ["Service"] in directive["Dimensions"]
    assert {"Service": document["Service"], "Route": document["Route"], "Mode": document["Mode"], "Variant": document["Variant"]} == {
        "Service": LambdaContext.function_name, "Route": "/api/search", "Mode": "hybrid", "Variant": service.encoder.variant}
    assert set(values) <= set(METRICS)
    assert {"Requests", "Latency", "EmbedTime", "SearchTime", "ZeroResults", "WeakMatches", "ClientErrors", "ServerErrors", "QdrantErrors"} <= set(values)
    assert values["Requests"] == 1 and values["ServerErrors"] == 0 and values["ZeroResults"] == 0
    assert values["Latency"] >= values["EmbedTime"] and document["status"] == 200
    lines.clear()
    assert lambda_handler(event, LambdaContext())["statusCode"] == 200  # the same query again: from the query cache
    assert emf_metrics(request_line(lines))["QueryCacheHits"] == 1


def test_refusals_and_other_routes_are_counted_by_their_route_template(lambda_handler, lines):
    lambda_handler(load_event("http_api_v2.json", query={"q": "x", "limit": "1000"}), LambdaContext())
    refused = json.loads(request_line(lines))
    assert emf_metrics(request_line(lines))["ClientErrors"] == 1 and refused["Route"] == "/api/search" and refused["Mode"] == "none"
    lines.clear()
    lambda_handler(load_event("http_api_v2.json", path="/api/facets/city", query={}), LambdaContext())
    facets = json.loads(request_line(lines))
    assert facets["Route"] == "/api/facets/{field}" and "EmbedTime" not in emf_metrics(request_line(lines))
    lines.clear()
    lambda_handler(load_event("http_api_v2.json", path="/no/such/" + "x" * 300, query={}), LambdaContext())
    unknown = json.loads(request_line(lines))
    assert unknown["Route"] == "other" and emf_metrics(request_line(lines))["ClientErrors"] == 1 and len(request_line(lines)) <= MAX_LINE


def test_the_metrics_are_written_whatever_log_level_hides(lambda_handler, lines):
    logger = logging.getLogger("handler")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        lambda_handler(load_event("http_api_v2.json"), LambdaContext())
    finally:
        logger.setLevel(level)
    assert emf_metrics(request_line(lines))["Requests"] == 1


def test_outside_lambda_the_log_line_carries_no_metrics(client, lines):
    assert client.get("/api/search", params={"q": "fintech"}).status_code == 200
    assert "_aws" not in json.loads(request_line(lines))


def test_a_failing_qdrant_counts_as_a_qdrant_error_and_opens_the_breaker(model_dir, tmp_path, lines):
    settings = make_settings(model_dir, tmp_path, qdrant_url="http://127.0.0.1:9", qdrant_timeout=1.0, qdrant_cooldown=30.0)
    handler = Mangum(create_app(settings), lifespan="off")  # starts although Qdrant is down
    lines.clear()
    assert handler(load_event("http_api_v2.json"), LambdaContext())["statusCode"] == 503
    values = emf_metrics(request_line(lines))
    assert values["QdrantErrors"] == 1 and values["ServerErrors"] == 1 and values["BreakerOpen"] == 1


def prometheus_samples(text: str) -> dict:
    """{(sample name, frozenset of labels): value} as prometheus_client's parser reads the text."""
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_endpoint_serves_prometheus_text_to_a_loopback_client(site):
    for _ in range(2):
        with urllib.request.urlopen(f"{site}/api/search?q=fintech&mode=neural") as response:
            assert response.status == 200
    urllib.request.urlopen(f"{site}/metrics").read()  # a scrape is not a request of the service
    with urllib.request.urlopen(f"{site}/metrics") as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = prometheus_samples(text)
    searches = {labels: value for (name, labels), value in samples.items() if name == "neural_search_requests_total"}
    route = [value for labels, value in searches.items() if ("route", "/api/search") in labels and ("mode", "neural") in labels]
    assert route == [2.0]
    assert not any(("route", "/metrics") in labels for _, labels in samples)
    counts = [v for (name, labels), v in samples.items() if name == "neural_search_latency_milliseconds_count" and ("route", "/api/search") in labels]
    assert counts == [2.0]
    assert any(name == "neural_search_query_cache_hits_total" for name, _ in samples)
    every = {family.name for family in text_string_to_metric_families(text)}
    names = {m.prometheus.removesuffix("_total") for m in METRICS.values() if m.name != "BreakerOpen"}  # the breaker: server mode only
    assert names <= every


@pytest.mark.parametrize("metrics, status", [("loopback", 404), ("anyone", 200), ("off", 404)])
def test_who_metrics_answers(service, metrics, status):
    """TestClient's client is no loopback address: METRICS decides."""
    settings = dataclasses.replace(service.settings, metrics=metrics)
    with TestClient(create_app(settings, service, concurrency="worker")) as client:
        response = client.get("/metrics")
    assert response.status_code == status
    if status == 404:
        assert response.json()["error"] == "not_found"
    else:
        assert "neural_search_requests_total" in response.text


def test_lambda_serves_no_metrics_route(lambda_handler):
    response = lambda_handler(load_event("http_api_v2.json", path="/metrics", query={}), LambdaContext())
    assert response["statusCode"] == 404
