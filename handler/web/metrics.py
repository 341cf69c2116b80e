"""The service's metrics, one table (`METRICS`) read by both outlets and by the template's alarms
and dashboard (`tests.jobs.test_infra` checks every metric they name is here):

- on Lambda, CloudWatch's embedded metric format (EMF) inside the request's own JSON log line
  (`RequestLog` merges `Metrics.observe`'s fields into it): CloudWatch Logs turns the line into
  metrics with no API call of ours;
- in `python -m handler`, `/metrics` in Prometheus' text format, answered to loopback clients
  unless METRICS says otherwise, and never counted in the request metrics.

Written here in a few lines rather than with aws-lambda-powertools' Metrics (1.0 MB wheel, 6.3 MB
installed with jmespath; about 0.1 s of imports; it prints a line of its own per flush) or
prometheus_client (0.5 MB installed, about 0.1 s of imports): docs/design.md has the figures.
Dimensions are low-cardinality only: the route's template (never the raw path), the mode, the
model variant; never the query.
"""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from handler.common import StorageError, StorageUnavailable
from handler.web.responses import perimeter_error

NAMESPACE = "NeuralSearch"  # CloudWatch namespace of every metric (template.yaml's alarms name it too)
METRICS_PATH = "/metrics"
QDRANT_ERRORS = frozenset({StorageError.code, StorageUnavailable.code})  # the store failed (not a missing collection: a setup problem)
BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)  # Prometheus histograms of milliseconds


@dataclass(frozen=True)
class Metric:
    name: str  # CloudWatch's name (EMF)
    unit: str  # CloudWatch's unit
    prometheus: str  # its name at /metrics
    kind: str  # counter | histogram | gauge (Prometheus; each request adds 0 or 1 to a counter, in EMF too)
    help: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("Requests", "Count", "neural_search_requests_total", "counter", "requests answered"),
    Metric("Latency", "Milliseconds", "neural_search_latency_milliseconds", "histogram", "time in the app, request to response"),
    Metric("EmbedTime", "Milliseconds", "neural_search_embed_milliseconds", "histogram", "time embedding the query (a query-cache hit included)"),
    Metric("SearchTime", "Milliseconds", "neural_search_search_milliseconds", "histogram", "time in the store"),
    Metric("ZeroResults", "Count", "neural_search_zero_results_total", "counter", "searches answered with no result"),
    Metric("WeakMatches", "Count", "neural_search_weak_matches_total", "counter", "searches whose best answer is not close (weak_match)"),
    Metric("ClientErrors", "Count", "neural_search_client_errors_total", "counter", "answers with a 4xx status"),
    Metric("ServerErrors", "Count", "neural_search_server_errors_total", "counter", "answers with a 5xx status"),
    Metric("QueryCacheHits", "Count", "neural_search_query_cache_hits_total", "counter", "queries whose vector came from the query cache"),
    Metric("QdrantErrors", "Count", "neural_search_qdrant_errors_total", "counter", "answers refused because Qdrant failed or did not answer"),
    Metric("BreakerOpen", "Count", "neural_search_breaker_open", "gauge", "1 while the Qdrant server's circuit breaker is open (server mode)"),
)}
# EMF dimension sets: one for alarms (the function alone), one per route, mode and variant for the dashboard.
DIMENSIONS = (("Service",), ("Service", "Route", "Mode", "Variant"))
NO_MODE = "none"  # the Mode of a route that has none (a dimension's value may not be empty)
OTHER = "other"  # the Route of a path no route serves


def route_table(app: FastAPI) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """The app's route templates: exact paths, and the fixed prefixes of the templates with a parameter."""
    exact, prefixes = {}, []
    for route in app.routes:
        path = getattr(route, "path", None)
        if not path:
            continue
        if "{" in path:
            prefixes.append((path.split("{", 1)[0], path))
        else:
            exact[path] = path
    return exact, tuple(sorted(prefixes, key=lambda p: -len(p[0])))


class Metrics:
    """What one app counts. `observe` is called once per request by `RequestLog` (on the event loop
    thread, so the counters need no lock): it returns the EMF fields to merge into the request's log
    line when the request came through Lambda (Mangum's scope), and keeps the Prometheus counters
    when the app serves /metrics."""

    def __init__(self, app: FastAPI, *, prometheus: bool) -> None:
        self.app = app
        self.prometheus = prometheus
        self._routes = None
        self._last_cache_hits = 0
        self.counters: dict[tuple[str, tuple[str, str, str]], float] = {}
        self.histograms: dict[tuple[str, tuple[str, str, str]], list] = {}  # [bucket counts..., sum, count]
        self._service = None  # app.state.service, read on the first request (State's attribute lookup is slow)
        self._directives: dict[tuple[str, ...], str] = {}  # the CloudWatchMetrics JSON, once per set of names
        self._dimensions: dict[tuple[str, ...], str] = {}  # the dimensions' JSON members, once per value set

    def route_of(self, path: str) -> str:
        if self._routes is None:  # built on first use: every route is added by then
            self._routes = route_table(self.app)
        exact, prefixes = self._routes
        found = exact.get(path)
        if found:
            return found
        for prefix, template in prefixes:
            if path.startswith(prefix) and len(path) > len(prefix):
                return template
        return OTHER

    def values(self, status: int, total_ms: float, timing: dict) -> dict[str, float]:
        """The request's metric values (the names of METRICS), each a number."""
        service = self._service
        out = {"Requests": 1, "Latency": total_ms, "ClientErrors": int(400 <= status < 500), "ServerErrors": int(status >= 500),
               "QdrantErrors": int(timing.get("error") in QDRANT_ERRORS)}
        if "embed_ms" in timing:
            out["EmbedTime"], out["SearchTime"] = timing["embed_ms"], timing["search_ms"]
            out["ZeroResults"] = int(timing.get("hits") == 0)
            out["WeakMatches"] = int(bool(timing.get("weak_match")))
        hits = service.cache.hits  # on Lambda one request at a time: the hits since the last request are this one's
        if hits != self._last_cache_hits:
            out["QueryCacheHits"], self._last_cache_hits = hits - self._last_cache_hits, hits
        elif timing.get("mode") in ("neural", "hybrid"):
            out["QueryCacheHits"] = 0
        breaker = getattr(service.storage, "breaker", None)
        if breaker is not None:
            out["BreakerOpen"] = int(breaker.is_open)
        return out

    def observe(self, scope, status: int, total_ms: float, timing: dict) -> str | None:
        """Count one request; on Lambda return its EMF members, JSON text to close the log line's
        object with (`"_aws": {...}, "Service": ..., "Requests": 1, ...`). The metadata is written
        once per set of names and dimensions, so a request costs a small json.dumps."""
        path = scope.get("path") or ""
        if path == METRICS_PATH:
            return None
        event = scope.get("aws.event")
        if not self.prometheus and event is None:
            return None
        if self._service is None:
            self._service = self.app.state.service
        values = self.values(status, total_ms, timing)
        labels = (self.route_of(path), timing.get("mode") or NO_MODE, self._service.encoder.variant)
        if self.prometheus:
            self._count(labels, values)
        if event is None:
            return None
        context = scope.get("aws.context")
        return self.emf(values, getattr(context, "function_name", None) or "local", *labels)

    def emf(self, values: dict, service: str, route: str, mode: str, variant: str) -> str:
        """The EMF members: `_aws` (the metadata) and, at the top level, each dimension and each metric."""
        names = tuple(values)
        directive = self._directives.get(names)
        if directive is None:
            metrics = [{"Name": name, "Unit": METRICS[name].unit} for name in names]
            directive = self._directives[names] = json.dumps([{"Namespace": NAMESPACE, "Dimensions": DIMENSIONS, "Metrics": metrics}])
        key = (service, route, mode, variant)
        dimensions = self._dimensions.get(key)
        if dimensions is None:
            dimensions = self._dimensions[key] = json.dumps(dict(zip(("Service", "Route", "Mode", "Variant"), key)))[1:-1]
            if len(self._dimensions) > 10_000:  # bounded: routes x modes x variants is small; the function name is one
                self._dimensions.clear()
        return f'"_aws": {{"Timestamp": {int(time.time() * 1000)}, "CloudWatchMetrics": {directive}}}, {dimensions}, ' + ", ".join(
            [f'"{name}": {value}' for name, value in values.items()])  # names of METRICS, values ints and finite floats: JSON as they print

    # -- Prometheus ---------------------------------------------------------------------------------
    def _count(self, labels: tuple[str, str, str], values: dict) -> None:
        for name, value in values.items():
            kind = METRICS[name].kind
            if kind == "counter" and name != "QueryCacheHits":  # the cache's own counter is read at scrape time
                self.counters[(name, labels)] = self.counters.get((name, labels), 0) + value
            elif kind == "histogram":
                series = self.histograms.get((name, labels))
                if series is None:
                    series = self.histograms[(name, labels)] = [0] * (len(BUCKETS_MS) + 2)
                for i, bound in enumerate(BUCKETS_MS):
                    if value <= bound:
                        series[i] += 1
                series[-2] += value
                series[-1] += 1

    def exposition(self) -> str:
        """Prometheus' text format (version 0.0.4) of every metric."""
        service = self.app.state.service
        lines = []

        def head(metric: Metric) -> None:
            lines.append(f"# HELP {metric.prometheus} {metric.help}")
            lines.append(f"# TYPE {metric.prometheus} {metric.kind}")

        for metric in METRICS.values():
            if metric.kind == "counter" and metric.name != "QueryCacheHits":
                head(metric)
                for (name, labels), value in sorted(self.counters.items()):
                    if name == metric.name:
                        lines.append(f"{metric.prometheus}{_labels(labels)} {_number(value)}")
            elif metric.kind == "histogram":
                head(metric)
                for (name, labels), series in sorted(self.histograms.items()):
                    if name != metric.name:
                        continue
                    base = metric.prometheus
                    for bound, count in zip(BUCKETS_MS, series):
                        lines.append(f"{base}_bucket{_labels(labels, le=_number(bound))} {count}")
                    lines.append(f"{base}_bucket{_labels(labels, le='+Inf')} {series[-1]}")
                    lines.append(f"{base}_sum{_labels(labels)} {_number(series[-2])}")
                    lines.append(f"{base}_count{_labels(labels)} {series[-1]}")
        cache = METRICS["QueryCacheHits"]
        head(cache)
        lines.append(f'{cache.prometheus}{{variant="{_escape(service.encoder.variant)}"}} {service.cache.hits}')
        breaker = getattr(service.storage, "breaker", None)
        if breaker is not None:
            head(METRICS["BreakerOpen"])
            lines.append(f"{METRICS['BreakerOpen'].prometheus} {int(breaker.is_open)}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: tuple[str, str, str], **extra: str) -> str:
    pairs = [("route", labels[0]), ("mode", labels[1]), ("variant", labels[2]), *extra.items()]
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def is_loopback(scope) -> bool:
    client = scope.get("client")
    try:
        return bool(client) and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:  # not an IP address (a Unix socket's peer, a test client's name)
        return False


def add_metrics_route(app: FastAPI, anyone: bool) -> None:
    """GET /metrics: the Prometheus text of `app.state.metrics`; to loopback clients only unless
    `anyone` (METRICS=1), others get the 404 of a path that does not exist."""

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request):
        if not (anyone or is_loopback(request.scope)):
            return perimeter_error("not_found")
        return PlainTextResponse(request.app.state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8",
                                 headers={"cache-control": "no-store"})
