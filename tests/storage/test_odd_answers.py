"""A Qdrant (or a proxy in front of it) that answers 200 with a body that is not Qdrant's JSON: an
HTML error page, `{}`, `"result": null`, a result of the wrong shape. Each is the contract's
StorageError with the code `qdrant_error` (a 503 on the API), counted by the breaker, and never
what qdrant-client raised (JSONDecodeError, AssertionError, a pydantic error: a 500). The REST
STAND-IN (`tests.support.qdrant_standin`) sends the bodies; the client and its parsing are real.
No model."""

from __future__ import annotations

import numpy as np
import pytest

from handler.common import StorageAnswerInvalid, StorageError
from handler.storage import ServerStorage
from tests.support.storage_cases import dense, loaded_standin, points

pytestmark = [pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant"),
              pytest.mark.filterwarnings("ignore:Local mode performs exact")]

BODIES = {  # body -> (the bytes, their content type)
    "html": (b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"text/html"),
    "empty object": (b"{}", b"application/json"),
    "null result": (b'{"result": null, "status": "ok", "time": 0.001}', b"application/json"),
    "wrong shape": (b'{"result": {"points": "not a list"}, "status": "ok", "time": 0.001}', b"application/json"),
    "not utf-8": (b"\xff\xfe\x00garbage", b"application/octet-stream"),
    "empty body": (b"", b"application/json"),
}


def garble(qdrant, body: str) -> None:
    content, content_type = BODIES[body]
    qdrant.garble_next(1, content, content_type=content_type)
CALLS = {
    "collection_info": lambda s: s.collection_info(),
    "count": lambda s: s.count(),
    "search": lambda s: s.search(dense(0), 3),
    "facet": lambda s: s.facet("city", 5),
    "metadata": lambda s: s.metadata(),
    "check_layout": lambda s: s.check_layout(),
}


@pytest.fixture(scope="module")
def qdrant():
    with loaded_standin() as standin:
        yield standin


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("body", BODIES)
def test_an_answer_that_is_not_qdrants_is_a_qdrant_error_the_breaker_counts(qdrant, body, call):
    storage = ServerStorage(qdrant.url, "startups", timeout=5, cooldown=30)
    garble(qdrant, body)
    with pytest.raises(StorageError) as caught:
        CALLS[call](storage)
    assert type(caught.value) is StorageAnswerInvalid and caught.value.code == "qdrant_error"
    assert "not what qdrant-client expects" in str(caught.value)
    assert storage.breaker.is_open  # counted: the next calls do not wait on a server that answers nonsense
    with pytest.raises(StorageAnswerInvalid, match="next try in"):  # said as what opened it, not as a timeout
        storage.count()
    qdrant.reset_faults()
    storage.close()


def test_a_good_answer_after_the_cooldown_closes_the_circuit(qdrant):
    storage = ServerStorage(qdrant.url, "startups", timeout=5, cooldown=0.2)
    qdrant.garble_next(1, b"{}")
    with pytest.raises(StorageAnswerInvalid):
        storage.count()
    import time

    time.sleep(0.25)
    assert storage.count() == len(points())
    assert not storage.breaker.is_open
    storage.close()


def test_an_odd_answer_names_the_call_and_never_the_credentials(qdrant):
    url = qdrant.url.replace("http://", "http://admin:S3cret@")
    storage = ServerStorage(url, "startups", timeout=5)
    garble(qdrant, "html")
    with pytest.raises(StorageAnswerInvalid) as caught:
        storage.search(np.asarray(dense(1)), 3)
    assert "query_points" in str(caught.value) and "S3cret" not in str(caught.value)
    storage.close()
