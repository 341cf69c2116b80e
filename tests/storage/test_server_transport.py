"""The Qdrant server backend's transport handling against protocol-less TCP listeners (STAND-INS for
a dead keep-alive socket and for a hung server; `tests.support.servers`): the retry of a dropped
connection, no retry of a timeout, the circuit breaker, credentials never shown. No model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from handler.common import CircuitOpen, RequestExpired, StorageUnavailable, until
from handler.storage import ServerStorage, connection_dropped
from handler.storage.breaker import Breaker
from tests.support.servers import Listener


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


def test_the_breaker_closes_after_a_trial_call_that_fails_for_another_reason():
    """The trial call after the cool-down fails with a bug, not the network: the next call must
    still reach the server (before, the circuit stayed open for good)."""
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.3, cooldown=0.3)
        with pytest.raises(StorageUnavailable):
            storage.count()  # a timeout: the circuit opens
        time.sleep(0.35)

        class Broken:  # STAND-IN for a client with a bug
            def count(self, *args, **kwargs):
                raise KeyError("a bug")

            def close(self):
                pass

        real, storage._client = storage._client, Broken()
        with pytest.raises(KeyError):
            storage.count()
        storage._client = real
        with pytest.raises(StorageUnavailable, match="unreachable"):  # asked again: the server, not the breaker, answered
            storage.count()
        assert silent.accepted == 2
        storage.close()


def test_a_restored_environment_starts_with_a_closed_circuit():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=0.3, cooldown=60)
        with pytest.raises(StorageUnavailable):
            storage.count()
        assert storage.breaker.is_open
        storage.after_restore()  # SnapStart: new client, new breaker
        assert not storage.breaker.is_open
        storage.close()


def test_no_qdrant_call_starts_after_the_deadline():
    with Listener(hang_up=False) as silent:
        storage = ServerStorage(silent.url, "startups", timeout=5)
        with until(time.monotonic() - 0.001), pytest.raises(RequestExpired, match="ran out of time before count"):
            storage.count()
        assert silent.accepted == 0
        storage.close()


def test_qdrant_clients_insecure_key_warning_is_one_json_log_line(logged, recwarn):
    """qdrant-client warns in two plain-text stderr lines when an API key goes over http://; the
    storage says it as one JSON line of the service's log, with the fix, and the warning goes no further."""
    with Listener(hang_up=True) as hang_up:
        storage = ServerStorage(hang_up.url, "startups", api_key="k3y", timeout=1)
        storage.close()
    assert not [w for w in recwarn if "insecure" in str(w.message)]
    lines = [line for line in logged if '"qdrant_client"' in line]
    assert len(lines) == 1 and "insecure connection" in lines[0] and "https://" in lines[0] and "k3y" not in lines[0]


def test_the_environment_s_proxy_still_carries_the_calls(monkeypatch):
    """The deadline is cut in a request hook: a transport of our own made httpx drop HTTP_PROXY
    (a Qdrant reachable only through a proxy then failed every call, connecting directly)."""
    with Listener(hang_up=True) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        storage = ServerStorage("http://qdrant.invalid:6333", "startups", timeout=2)
        with until(time.monotonic() + 2), pytest.raises(StorageUnavailable):
            storage.count()
        assert proxy.accepted >= 1  # asked through the proxy, not at qdrant.invalid
        storage.close()
