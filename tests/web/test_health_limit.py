"""/health outside the in-flight limit of `python -m handler`: with the searches at their limit a
probe is still answered, and told the instance is busy; /health has a small bound of its own.
Real uvicorn with the server's own settings and the app's InFlightLimit; a trivial ASGI app stands
in for the search (the route's words are in `tests.web.test_health`). Fast tier."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx

from tests.support.servers import perimeter_server
from handler.web.middleware import InFlightLimit


def held_app(release: threading.Event, arrived: threading.Semaphore, hold_health: bool = False):
    """Searches (and /health when `hold_health`) wait for `release`; /health answers what the limit told it."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        health = scope["path"] == "/health"
        if not health or hold_health:
            arrived.release()
            while not release.is_set():
                await asyncio.sleep(0.02)
        body = json.dumps({"busy": scope.get("state", {}).get("busy")} if health else {"ok": True}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def fill(url: str, path: str, count: int, arrived: threading.Semaphore) -> list[threading.Thread]:
    pending = [threading.Thread(target=httpx.get, args=(f"{url}{path}",), kwargs={"timeout": 10}) for _ in range(count)]
    for thread in pending:
        thread.start()
    assert all(arrived.acquire(timeout=10) for _ in pending), f"the {path} requests never reached the app"
    return pending


def test_health_is_answered_and_says_busy_while_searches_fill_the_limit():
    release, arrived = threading.Event(), threading.Semaphore(0)
    with perimeter_server(InFlightLimit(held_app(release, arrived), limit=2)) as url:
        assert httpx.get(f"{url}/health").json() == {"busy": False}
        pending = fill(url, "/api/search?q=x", 2, arrived)
        refused = httpx.get(f"{url}/api/search?q=x", timeout=5)
        health = [httpx.get(f"{url}/health", timeout=5) for _ in range(5)]  # before: 503 overloaded, like the search
        release.set()
        for thread in pending:
            thread.join()
        after = httpx.get(f"{url}/health").json()
    assert refused.status_code == 503 and refused.json()["error"] == "overloaded"
    assert [r.status_code for r in health] == [200] * 5 and all(r.json() == {"busy": True} for r in health)
    assert after == {"busy": False}


def test_health_has_a_small_bound_of_its_own_and_never_takes_a_searchs_place():
    release, arrived = threading.Event(), threading.Semaphore(0)
    with perimeter_server(InFlightLimit(held_app(release, arrived, hold_health=True), limit=64, health_limit=3)) as url:
        pending = fill(url, "/health", 3, arrived)
        refused = httpx.get(f"{url}/health", timeout=5)
        search = threading.Thread(target=httpx.get, args=(f"{url}/api/search?q=x",), kwargs={"timeout": 10})
        search.start()
        assert arrived.acquire(timeout=10), "a search was refused while /health probes were in flight"
        release.set()
        for thread in (*pending, search):
            thread.join()
    assert refused.status_code == 503 and refused.json()["error"] == "overloaded" and refused.headers["retry-after"] == "1"
