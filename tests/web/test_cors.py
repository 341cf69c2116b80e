"""CORS preflights answer as docs/api.md's table says: each row replayed against the app. Real model, real Qdrant Edge."""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient

from handler.web import create_app
from tests.support.helpers import REPO

ROW = re.compile(r"^\| `(?P<method>[A-Z]+)` from `(?P<origin>[^`]+)` \| (?:\*\(empty\)\*|`(?P<allowed>[^`]+)`) \| (?P<status>\d{3})(?P<rest>.*) \|$")


def table_rows() -> list[dict]:
    text = (REPO / "docs" / "api.md").read_text()
    rows = [m.groupdict() for m in map(ROW.match, text.splitlines()) if m]
    assert len(rows) >= 5, "docs/api.md's CORS table is gone or changed shape"
    return rows


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: f"{r['method']}-{r['origin']}-{r['allowed'] or 'none'}")
def test_each_preflight_answers_as_the_docs_say(service, row):
    settings = dataclasses.replace(service.settings, cors_allow_origins=(row["allowed"],) if row["allowed"] else ())
    client = TestClient(create_app(settings, service))
    response = client.options("/api/search", headers={"origin": row["origin"], "access-control-request-method": row["method"]})
    assert response.status_code == int(row["status"]), response.text
    error = re.search(r"`([a-z_]+)`", row["rest"])
    header = re.search(r"`Access-Control-Allow-Origin: ([^`]+)`", row["rest"])
    if error:
        assert response.headers["content-type"] == "application/json" and response.json()["error"] == error[1]
    if header:
        assert response.headers["access-control-allow-origin"] == header[1]


def test_an_options_that_is_no_preflight_is_405(client):
    response = client.options("/api/search")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
