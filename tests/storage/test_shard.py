"""Embedded mode's shard: packed into the Lambda artifact, unpacked at start, opened by one
process only. Real Qdrant Edge shards (4-dim, written by EdgeStorage), no model needed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from handler.common import ShardLocked, ShardSourceError
from handler.storage import EdgeStorage, PointData, pack_shard, provision_shard
from tests.support.helpers import REPO


@pytest.fixture
def shard(tmp_path) -> Path:
    storage = EdgeStorage(tmp_path / "qdrant", "startups")
    storage.ensure_collection(4)
    storage.upsert([PointData(str(uuid.uuid4()), np.eye(4, dtype=np.float32)[i % 4], {"city": f"c{i}", "description": f"d {i}"}) for i in range(20)])
    storage.finish_upload()
    storage.close()
    return tmp_path / "qdrant" / "startups"


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_pack_and_unpack_give_back_every_byte_and_keep_holes(shard, tmp_path):
    archive = tmp_path / "shard.zip"
    report = pack_shard(shard, archive)
    assert report["archive_bytes"] < report["apparent_bytes"] / 20  # the preallocated zeros cost nothing
    assert provision_shard(str(archive), tmp_path / "unpacked", "startups") is True
    restored = tmp_path / "unpacked" / "startups"
    assert files_of(restored) == files_of(shard)
    on_disk = sum(p.stat().st_blocks * 512 for p in restored.rglob("*") if p.is_file())
    assert on_disk < report["apparent_bytes"] / 4  # holes stayed holes
    storage = EdgeStorage(tmp_path / "unpacked", "startups")
    assert storage.count() == 20
    storage.close()


def test_provisioning_is_skipped_when_the_shard_is_there(shard, tmp_path):
    pack_shard(shard, tmp_path / "shard.zip")
    assert provision_shard(str(tmp_path / "shard.zip"), shard.parent, "startups") is False


def test_a_directory_source_is_copied(shard, tmp_path):
    assert provision_shard(str(shard), tmp_path / "copy", "startups") is True
    assert files_of(tmp_path / "copy" / "startups") == files_of(shard)


def test_s3_source_with_a_local_stand_in_for_the_download(shard, tmp_path):
    """STAND-IN: no S3 here. The download function is replaced by a copy of a local archive;
    everything after the download (unpack, checks, rename) is the real code."""
    pack_shard(shard, tmp_path / "in-s3.zip")
    asked = []

    def local_stand_in_for_s3(uri: str, target: Path) -> None:
        asked.append(uri)
        target.write_bytes((tmp_path / "in-s3.zip").read_bytes())

    assert provision_shard("s3://bucket/shards/startups.zip", tmp_path / "q", "startups", download=local_stand_in_for_s3)
    assert asked == ["s3://bucket/shards/startups.zip"]
    assert files_of(tmp_path / "q" / "startups") == files_of(shard)

    def denied(uri: str, target: Path) -> None:
        raise PermissionError("AccessDenied")

    with pytest.raises(ShardSourceError, match="cannot download the shard from QDRANT_SHARD_SOURCE=s3://bucket/x.zip: PermissionError"):
        provision_shard("s3://bucket/x.zip", tmp_path / "q2", "startups", download=denied)
    assert not (tmp_path / "q2" / "startups").exists() and list((tmp_path / "q2").iterdir()) == []  # nothing half-made


def plain_file(d: Path) -> Path:
    (d / "not.zip").write_text("plain text")
    return d / "not.zip"


def empty_dir(d: Path) -> Path:
    (d / "empty").mkdir()
    return d / "empty"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.zip", "neither a shard archive"),
    (plain_file, "is not a shard archive"),
    (empty_dir, "neither a shard archive"),
])
def test_bad_sources_are_named(tmp_path, make, message):
    with pytest.raises(ShardSourceError, match=message):
        provision_shard(str(make(tmp_path)), tmp_path / "q", "startups")


HOLDER = """
import sys, time
from handler.storage import EdgeStorage
storage = EdgeStorage(sys.argv[1], "startups")
storage.open()
print("holding", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_told_who_holds_the_shard(shard):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(shard.parent)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ShardLocked, match="another process holds the Qdrant Edge collection at .*use a Qdrant server"):
            EdgeStorage(shard.parent, "startups").open()
    finally:
        holder.kill()
        holder.wait()
    storage = EdgeStorage(shard.parent, "startups")  # free again once the holder is gone
    assert storage.count() == 20
    storage.close()

