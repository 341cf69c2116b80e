"""infra/local_invoke.py sets the function's storage as template.yaml does, and an embedded
artifact's missing collection is explained in its own terms. Real artifact layout on disk (files
only: the artifact tests run a built one through awslambdaric)."""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import sys
import time

import pytest

from handler.common import INFO_FILE, SHARD_ARCHIVE, Settings, missing_collection_fix
from tests.support.helpers import REPO

sys.path.insert(0, str(REPO / "infra"))
from local_invoke import RuntimeEmulator, function_environment  # noqa: E402


def artifact(tmp_path, mode: str, shard: bool):
    root = tmp_path / "artifact"
    root.mkdir(parents=True)
    (root / INFO_FILE).write_text(json.dumps({"mode": mode}))
    if shard:
        (root / SHARD_ARCHIVE).write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: only its presence matters here
    return root


@pytest.fixture
def unset(monkeypatch):
    for name in ("QDRANT_PATH", "QDRANT_SHARD_SOURCE", "QDRANT_URL", "QDRANT_API_KEY", "COLLECTION_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_an_embedded_artifact_reads_its_baked_shard_into_a_fresh_tmp(tmp_path, unset):
    root = artifact(tmp_path, "embedded", shard=True)
    env = function_environment(root, {}, tmp_path / "tmp")
    assert env["QDRANT_SHARD_SOURCE"] == str(root / SHARD_ARCHIVE)  # template.yaml: /var/task/qdrant_shard.zip
    assert env["QDRANT_PATH"] == str(tmp_path / "tmp" / "qdrant_storage")  # template.yaml: /tmp/qdrant_storage
    assert env["QDRANT_URL"] == ""


def test_what_is_set_by_hand_wins(tmp_path, unset, monkeypatch):
    root = artifact(tmp_path, "embedded", shard=True)
    assert function_environment(root, {"QDRANT_PATH": "/data/q"}, tmp_path)["QDRANT_PATH"] == "/data/q"
    monkeypatch.setenv("QDRANT_SHARD_SOURCE", "s3://bucket/shard.zip")
    assert function_environment(root, {}, tmp_path)["QDRANT_SHARD_SOURCE"] == "s3://bucket/shard.zip"


@pytest.mark.parametrize("mode, shard", [("server", False), ("embedded", False)])
def test_without_a_baked_shard_the_collection_at_qdrant_path(tmp_path, unset, mode, shard):
    env = function_environment(artifact(tmp_path, mode, shard), {}, tmp_path)
    assert env["QDRANT_SHARD_SOURCE"] == "" and env["QDRANT_PATH"].endswith("qdrant_storage") and env["QDRANT_PATH"].startswith("/")


def test_a_missing_collection_in_an_embedded_artifact_says_what_to_do_there(tmp_path, unset):
    settings = Settings.from_env()
    assert missing_collection_fix(settings, artifact(tmp_path / "server", "server", False)) is None  # scripts.upload into the server: the default words
    baked = artifact(tmp_path / "baked", "embedded", True)
    assert "QDRANT_SHARD_SOURCE is empty" in missing_collection_fix(settings, baked)
    bare = artifact(tmp_path / "bare", "embedded", False)
    assert "carries no shard" in missing_collection_fix(settings, bare) and "--shard" in missing_collection_fix(settings, bare)
    sourced = dataclasses.replace(settings, qdrant_shard_source="s3://bucket/shard.zip")
    assert "COLLECTION_NAME" in missing_collection_fix(sourced, baked)
    assert str(tmp_path) not in missing_collection_fix(settings, baked)  # no path goes to a client
    assert missing_collection_fix(settings, tmp_path) is None  # a checkout, not an artifact


def test_a_runtime_that_drops_its_connection_leaves_no_traceback(capsys):
    """A runtime stopped while its connection is open (close(), every emulated run's end) resets
    it: the emulator says nothing, where http.server printed a traceback that read like a failure."""
    emulator = RuntimeEmulator().start()
    try:
        with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
            sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n")  # a request line, then a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        printed, deadline = "", time.monotonic() + 2
        while time.monotonic() < deadline and "Traceback" not in printed:
            time.sleep(0.05)
            printed += capsys.readouterr().err
        assert "Traceback" not in printed, printed
    finally:
        emulator.stop()
