"""A Qdrant that answers slowly but within QDRANT_TIMEOUT: an answer that arrives after the
request's deadline (REQUEST_TIMEOUT) is still used, but counts for the breaker like a timeout, so
the next requests are answered 503 at once instead of each spending its whole budget waiting
(before: the breaker never opened and ~80% of searches waited 10 s for a 503 busy). The REST
STAND-IN answers late (`slow`); the client is real. No model."""

from __future__ import annotations

import time

import pytest

from handler.common import RequestExpired, StorageUnavailable, until
from handler.storage import ServerStorage
from tests.support.storage_cases import loaded_standin, points

pytestmark = [pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")]


@pytest.fixture(scope="module")
def qdrant():
    with loaded_standin() as standin:
        yield standin


def test_a_call_past_the_deadline_is_cut_there_and_opens_the_breaker(qdrant):
    """Before, the call ran to its answer at 0.6 s (within QDRANT_TIMEOUT) and the answer was used:
    a request could outlast its budget by a whole QDRANT_TIMEOUT."""
    storage = ServerStorage(qdrant.url, "startups", timeout=5, cooldown=30)
    assert storage.count() == len(points())  # connected, prompt
    qdrant.slow(0.6)
    try:
        started = time.perf_counter()
        with until(time.monotonic() + 0.3):
            with pytest.raises(RequestExpired, match="ran out of time during count"):
                storage.count()
            took = time.perf_counter() - started
            with pytest.raises(RequestExpired):
                storage.count()  # no call starts past the deadline
        assert 0.25 < took < 0.5, took  # cut at the deadline, not at the answer (0.6 s)
        assert storage.breaker.is_open
        asked = len(qdrant.requests)
        started = time.perf_counter()
        with pytest.raises(StorageUnavailable, match="past the request's deadline"):
            storage.count()  # the next request is answered at once, without asking
        assert time.perf_counter() - started < 0.3 and len(qdrant.requests) == asked
    finally:
        qdrant.reset_faults()
        storage.close()


def test_an_answer_within_the_deadline_keeps_the_circuit_closed(qdrant):
    storage = ServerStorage(qdrant.url, "startups", timeout=5, cooldown=30)
    qdrant.slow(0.2)
    try:
        with until(time.monotonic() + 3):
            assert storage.count() == len(points())
        assert not storage.breaker.is_open
    finally:
        qdrant.reset_faults()
        storage.close()
