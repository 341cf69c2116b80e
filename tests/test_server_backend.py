"""The Qdrant server backend's transport handling against protocol-less TCP listeners (STAND-INS for
a dead keep-alive socket and for a hung server; tests/servers.py): the retry of a dropped
connection, no retry of a timeout, the circuit breaker, credentials never shown. No model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from handler.storage import ServerStorage, StorageUnavailable
from handler.storage.breaker import Breaker, CircuitOpen
from handler.storage.server import connection_dropped
from tests.servers import Listener


def test_a_dropped_connection_is_retried_once_then_is_a_503_error():
    with Listener(hang_up=True) as hang_up:
        storage = ServerStorage(hang_up.url, "startups", timeout=2)
        with pytest.raises(StorageUnavailable, match="unreachable"):
            storage.search(np.ones(4, np.float32), 5)
        assert hang_up.accepted == 2  # the first try and exactly one retry
        storage.close()


def test_a_timeout_is_not_retried_and_opens_the_breaker():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.5, cooldown=30)
        started = time.perf_counter()
        with pytest.raises(StorageUnavailable) as caught:
            storage.count()
        assert not connection_dropped(caught.value.__cause__) and silent.accepted == 1
        assert 0.4 < time.perf_counter() - started < 2
        started = time.perf_counter()
        for _ in range(5):  # answered at once, without asking the server
            with pytest.raises(StorageUnavailable, match="next try in"):
                storage.count()
        assert time.perf_counter() - started < 0.5 and silent.accepted == 1  # less than one timeout for all five
        storage.close()


def test_without_a_cooldown_every_call_asks():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.3, cooldown=0)
        for _ in range(2):
            with pytest.raises(StorageUnavailable):
                storage.count()
        assert silent.accepted == 2
        storage.close()


def test_the_breaker_lets_one_call_try_after_the_cooldown():
    now = [0.0]
    breaker = Breaker(5, clock=lambda: now[0])
    breaker.before_call()
    breaker.failed("ReadTimeout")
    with pytest.raises(CircuitOpen, match="ReadTimeout"):
        breaker.before_call()
    now[0] = 5.1
    breaker.before_call()  # the trial call
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # others still wait while it tries
    breaker.succeeded()
    breaker.before_call()
    assert not breaker.is_open


def test_reconnect_gives_a_fresh_client_and_credentials_never_show():
    with Listener(hang_up=True) as hang_up:
        url = hang_up.url.replace("http://", "http://admin:S3cret@")
        storage = ServerStorage(url, "startups", timeout=2)
        first = storage._client
        storage.reconnect()
        assert storage._client is not first
        with pytest.raises(StorageUnavailable) as caught:
            storage.count()
        assert "S3cret" not in str(caught.value) and "S3cret" not in storage.where
        storage.close()
