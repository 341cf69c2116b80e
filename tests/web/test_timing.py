"""No timing oracle: by default a search's answer carries no embed or search time (body or
`Server-Timing`), so a client cannot tell a query-cache hit (someone searched this recently) from
a miss by them; TIMING_DETAILS=1 shows them for a private deployment. Real model, real Qdrant Edge."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from handler.web import create_app
from tests.support.helpers import make_settings


def test_a_cache_hit_and_a_miss_answer_alike_by_default(client):
    q = f"robots that cook pasta {uuid.uuid4().hex[:6]}"  # never searched: the first is a miss, the second a hit
    first, second = (client.get("/api/search", params={"q": q, "mode": "neural"}) for _ in range(2))
    for response in (first, second):
        assert response.status_code == 200 and "took_ms" not in response.json()
        assert "server-timing" not in response.headers
    assert first.json() == second.json()
    assert set(first.headers) == set(second.headers)


def test_timing_details_is_an_explicit_opt_in(service):
    private = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, timing_details=True), service))
    response = private.get("/api/search", params={"q": f"solar panels {uuid.uuid4().hex[:6]}"})
    assert set(response.json()["took_ms"]) == {"embed", "search"}
    assert response.headers["server-timing"].startswith("embed;dur=")


def test_the_page_does_not_need_the_timings():
    from pathlib import Path

    import handler.web

    script = (Path(handler.web.__file__).parent / "static" / "app.js").read_text()
    assert "took_ms" not in script and "server-timing" not in script.lower()
