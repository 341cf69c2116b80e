"""The Qdrant server backend's transport handling, against a real local TCP listener that accepts
a connection and closes it without a word: a STAND-IN for a dead keep-alive socket (what a
SnapStart restore leaves), with no Qdrant semantics at all. No Qdrant server can run here; tests
that need one are in test_upload.py and run when QDRANT_URL is set."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from handler.storage import ServerStorage, StorageUnavailable, connection_dropped


class HangUpListener:
    """Accepts every connection and closes it at once; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def hang_up():
    listener = HangUpListener()
    yield listener
    listener.close()


def test_a_dropped_connection_is_retried_once_then_is_a_503_error(hang_up):
    storage = ServerStorage(hang_up.url, "startups", timeout=2)
    with pytest.raises(StorageUnavailable, match="unreachable"):
        storage.search(np.ones(4, np.float32), 5)
    assert hang_up.accepted == 2  # the first try and exactly one retry
    storage.close()


def test_a_timeout_is_not_retried(tmp_path):
    silent = socket.socket()  # accepts (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        storage = ServerStorage(f"http://127.0.0.1:{silent.getsockname()[1]}", "startups", timeout=0.5)
        with pytest.raises(StorageUnavailable) as caught:
            storage.count()
        assert not connection_dropped(caught.value.__cause__)
        storage.close()
    finally:
        silent.close()


def test_reconnect_gives_a_fresh_client_and_credentials_never_show(hang_up):
    url = hang_up.url.replace("http://", "http://admin:S3cret@")
    storage = ServerStorage(url, "startups", timeout=2)
    first = storage._client
    storage.reconnect()
    assert storage._client is not first
    with pytest.raises(StorageUnavailable) as caught:
        storage.count()
    assert "S3cret" not in str(caught.value) and "S3cret" not in storage.where
    storage.close()
