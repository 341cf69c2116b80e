"""/api/search's fast lane (`handler.web.routes.FastLane`) reads a plain query string as FastAPI's
route would, and hands everything else to the route: on a corpus of query strings, valid and
not, for the startups schema and one with numeric ranges, the request the runner gets and the
answer the client gets are the same with the lane as without it (the route alone).

The service is a STAND-IN (a runner that records each request and answers with no hits): what is
compared is the reading of parameters, which needs no model."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from handler.common import Settings, load_schema
from handler.search import SearchResult
from handler.web import create_app
from handler.web.routes import FastLane
from scripts.bench_framework import Answered
from tests.support.helpers import REPO


class Recorded(Answered):
    """A runner (bench_framework's stand-in) that keeps what it is asked and answers with no hits."""

    def __init__(self) -> None:
        super().__init__(None)
        self.asked = []

    async def run(self, request):
        self.asked.append(request)
        return SearchResult([], request.mode, 0.0, 0.0, None)


class NoService:
    """What create_app reads of a service before any request: its settings (the rest is never asked here)."""

    def __init__(self, settings) -> None:
        self.settings = settings


def app_for(schema_file: str | None, lane: bool):
    settings = Settings.from_env()
    if schema_file:
        settings = dataclasses.replace(settings, schema=load_schema(schema_file), collection_name="packages")
    app = create_app(settings, NoService(settings))
    app.state.runner = Recorded()
    route = next(r for r in app.routes if getattr(r, "path", None) == "/api/search")
    assert isinstance(route.app, FastLane), "the fast lane is not in front of /api/search"
    if not lane:
        route.app = route.app.route_app
    return app


STARTUPS = [
    "q=vegan%20food", "q=vegan+food&limit=10", "q=a&limit=100&offset=100", "q=a&limit=0", "q=a&limit=101", "q=a&offset=101",
    "q=a&limit=05", "q=a&limit=%2B5", "q=a&limit=5_0", "q=a&limit=1.0", "q=a&limit=", "q=a&limit=%D9%A5", "q=a&limit=5&limit=6",
    "q=", "q=%20%20", "q=%E2%80%8B", "q=%00abc", "q=a%09%09b", "q=" + "x" * 200, "q=" + "x" * 201, "q=" + "x" * 199 + "%20%20y",
    "q=a&mode=neural", "q=a&mode=text", "q=a&mode=hybrid", "q=a&mode=semantic", "q=a&mode=keyword", "q=a&mode=Neural", "q=a&mode=",
    "q=a&mode=neural&mode=text", "q=a&neural=true", "q=a&neural=false&mode=text", "q=a&neural=true&mode=text",
    "q=a&city=Berlin", "q=a&city=Berlin&city=%20Paris%20", "q=a&city=", "q=a&city=" + "b" * 100, "q=a&city=" + "b" * 101,
    "q=a&" + "&".join(f"city=c{i}" for i in range(20)), "q=a&" + "&".join(f"city=c{i}" for i in range(21)),
    "q=a&cty=Berlin", "q=a&q=b", "limit=5", "", "q=a&city=%E2%80%8BBerlin", "q=caf%C3%A9&city=M%C3%BCnchen",
    "q=a&offset=0&limit=1", "q=a&offset=-1", "q=a&Limit=5", "q=%F0%9F%9A%80",
    "q=a&limit=" + "9" * 4301, "q=a&limit=" + "0" * 4300 + "5", "q=a&offset=" + "0" * 4301, "q=a&limit=0005", "q=a&offset=0100",
    "q=" + "x" * 1000, "q=" + "x" * 1001, "q=" + "x" * 999 + "%20%20y", "q=%20" + "x" * 1000 + "%20", "q=" + "%C3%A9" * 1000,
]
PACKAGES = [
    "q=json", "q=json&downloads_rank_min=1", "q=json&downloads_rank_max=100&downloads_rank_min=5", "q=json&downloads_rank_min=10&downloads_rank_max=5",
    "q=json&downloads_rank_min=-3", "q=json&downloads_rank_min=1.5", "q=json&downloads_rank_min=", "q=json&downloads_rank_min=1e3",
    "q=json&downloads_rank_min=1&downloads_rank_min=2", "q=json&downloads_rank_min=" + "9" * 19, "q=json&downloads_rank_min=" + "9" * 18,
    "q=json&downloads_rank_max=%2B5", "q=json&city=Berlin", "q=json&mode=text&limit=3&offset=2",
]


def both(schema_file, query):
    answers = []
    for lane in (True, False):
        app = app_for(schema_file, lane)
        response = TestClient(app).get(f"/api/search?{query}" if query else "/api/search")
        body = response.json()
        answers.append((response.status_code, body, app.state.runner.asked))
    return answers


@pytest.mark.parametrize("query", STARTUPS)
def test_the_lane_reads_the_startups_parameters_as_the_route_does(query):
    (status, body, asked), (route_status, route_body, route_asked) = both(None, query)
    assert (status, body) == (route_status, route_body)
    assert asked == route_asked


@pytest.mark.parametrize("query", PACKAGES)
def test_the_lane_reads_numeric_ranges_as_the_route_does(query):
    packages = str(REPO / "examples" / "packages.toml")
    (status, body, asked), (route_status, route_body, route_asked) = both(packages, query)
    assert (status, body) == (route_status, route_body)
    assert asked == route_asked


def test_counts_of_thousands_of_digits_are_read_not_a_500():
    """int() refuses strings of over 4,300 digits: too large is a 422 naming the parameter, leading
    zeros are only zeros, and neither reading turns one into a 500."""
    client = TestClient(app_for(None, lane=True))
    response = client.get("/api/search?q=a&limit=" + "9" * 4301)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limit"], response.text
    for name, value, read in (("limit", "0" * 4300 + "5", 5), ("offset", "0" * 4301, 0)):
        response = client.get(f"/api/search?q=a&{name}={value}")
        assert response.status_code == 200, response.text
        asked = client.app.state.runner.asked[-1]
        assert getattr(asked, name) == read


def test_the_lane_takes_the_plain_requests_and_leaves_the_rest():
    """Not a speed test: which requests the lane answers itself (the route's dependencies never run for them)."""
    app = app_for(None, lane=True)
    route = next(r for r in app.routes if getattr(r, "path", None) == "/api/search")
    handed = []
    inner = route.app.route_app

    async def counting(scope, receive, send):
        handed.append(scope["query_string"])
        await inner(scope, receive, send)

    route.app.route_app = counting
    client = TestClient(app)
    for query in ("q=vegan+food", "q=a&city=Berlin&limit=10&mode=text", "q=a&limit=0", "q=a&neural=true", "q=a&cty=x"):
        client.get(f"/api/search?{query}")
    assert handed == [b"q=a&limit=0", b"q=a&neural=true", b"q=a&cty=x"]
