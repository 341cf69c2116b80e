"""Embedded mode on Lambda: the collection's shard travels with the function and is copied to a
writable place at start.

Qdrant Edge opens a shard read-write (its WAL), and /var/task is read-only, so the shard built
by `scripts.upload` is copied to QDRANT_PATH (under /tmp) once per execution environment, before
it is opened. It travels as a zip archive: Qdrant Edge preallocates its files (WAL segments,
mmap chunks, payload pages: 32 MB each, mostly holes), so 259 points are 1.5 MB on disk but
180 MB of apparent size, and Lambda's 250 MB limit counts apparent size. The archive keeps each
file's non-zero blocks and where they go (`index.json`), so unpacking writes ~1 MB and leaves
the rest as holes: milliseconds at start instead of inflating 180 MB of zeros.

QDRANT_SHARD_SOURCE is one of: a shard archive (`.zip`, baked into the artifact by
`infra/build_artifact.py --shard`), s3://bucket/key.zip (the same archive in S3), or a shard
directory (local use).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

from handler.common import ShardSourceError
from handler.storage.edge import CONFIG_FILE as MARKER  # every Qdrant Edge shard directory has it

log = logging.getLogger("handler")
BLOCK = 1 << 20  # copy granularity
PACK_BLOCK = 1 << 16  # the archive's hole granularity


def _write_sparse(reader, target: Path) -> int:
    """Copy a stream into target, seeking over all-zero blocks so they stay holes on disk."""
    size = 0
    zero = bytes(BLOCK)
    with open(target, "wb") as out:
        while block := reader.read(BLOCK):
            if block == zero[: len(block)]:
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
            size += len(block)
        out.truncate(size)
    return size


def pack_shard(shard_dir: Path, archive: Path) -> dict:
    """A shard directory into an archive: per file, its size and its non-zero blocks."""
    shard_dir = Path(shard_dir)
    if not (shard_dir / MARKER).is_file():
        raise ShardSourceError(f"'{shard_dir}' is not a Qdrant Edge collection directory (no {MARKER}); pass QDRANT_PATH/<collection>")
    index, apparent = {}, 0
    zero = bytes(PACK_BLOCK)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
        for number, path in enumerate(sorted(p for p in shard_dir.rglob("*") if p.is_file())):
            blocks, data = [], bytearray()
            with open(path, "rb") as reader:
                offset = 0
                while block := reader.read(PACK_BLOCK):
                    if block != zero[: len(block)]:
                        blocks.append([offset, len(block)])
                        data += block
                    offset += len(block)
            member = f"data/{number}"
            zipped.writestr(member, bytes(data))
            index[path.relative_to(shard_dir).as_posix()] = {"size": offset, "blocks": blocks, "member": member}
            apparent += offset
        zipped.writestr("index.json", json.dumps(index))
    return {"files": len(index), "apparent_bytes": apparent, "archive_bytes": archive.stat().st_size}


def unpack_shard(archive: Path, target: Path) -> int:
    """Recreate the shard directory of an archive in target (holes stay holes); returns the file count."""
    with zipfile.ZipFile(archive) as zipped:
        try:
            index = json.loads(zipped.read("index.json"))
        except KeyError:
            raise ShardSourceError(f"{archive} is a zip but not a shard archive (no index.json): make it with infra/build_artifact.py --shard") from None
        for name, entry in index.items():
            destination = (target / name).resolve()
            if not destination.is_relative_to(target.resolve()):  # no entry may write outside target
                raise ShardSourceError(f"shard archive {archive} has an entry outside its root: {name!r}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            data = zipped.read(entry["member"])
            with open(destination, "wb") as out:
                position = 0
                for offset, length in entry["blocks"]:
                    out.seek(offset)
                    out.write(data[position : position + length])
                    position += length
                out.truncate(entry["size"])
    return len(index)


def copy_shard_dir(source: Path, target: Path) -> int:
    """Copy a shard directory file by file (sparse); returns the number of files."""
    count = 0
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as reader:
                _write_sparse(reader, destination)
            count += 1
    return count


def download_s3_object(uri: str, target: Path) -> None:
    """s3://bucket/key into the file target (boto3 is in the Lambda Python runtime)."""
    import boto3  # optional: only for an s3:// source; the Lambda runtime has it, other installs need not

    bucket, _, key = uri[len("s3://"):].partition("/")
    boto3.client("s3").download_file(bucket, key, str(target))


def provision_shard(source: str, qdrant_path: str | Path, collection: str, *, download: Callable[[str, Path], None] = download_s3_object) -> bool:
    """Put the shard from `source` at QDRANT_PATH/collection unless one is there already; True
    when copied. It lands in a sibling temporary directory first, then is renamed, so a crash
    half-way never leaves a half shard that looks complete."""
    target = Path(qdrant_path) / collection
    if (target / MARKER).is_file():
        return False
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{collection}.partial-", dir=target.parent))
    try:
        if source.startswith("s3://"):
            archive = staging / "shard.zip.download"
            try:
                download(source, archive)
            except Exception as exc:  # boto3's errors: no credentials, AccessDenied, NoSuchKey
                raise ShardSourceError(f"cannot download the shard from QDRANT_SHARD_SOURCE={source}: {type(exc).__name__}: {exc}") from exc
            files = _unpack_checked(archive, staging, source)
            archive.unlink()
        elif Path(source).is_file():
            files = _unpack_checked(Path(source), staging, source)
        elif (Path(source) / MARKER).is_file():
            files = copy_shard_dir(Path(source), staging)
        else:
            raise ShardSourceError(f"QDRANT_SHARD_SOURCE={source} is neither a shard archive, an s3:// URI nor a shard directory")
        if not (staging / MARKER).is_file():
            raise ShardSourceError(f"QDRANT_SHARD_SOURCE={source} holds no Qdrant Edge shard (no {MARKER} among {files} files)")
        staging.rename(target)
        staging = None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    log.info(json.dumps({"event": "shard_provisioned", "source": source, "files": files, "ms": round((time.perf_counter() - started) * 1000, 1)}))
    return True


def _unpack_checked(archive: Path, target: Path, source: str) -> int:
    try:
        return unpack_shard(archive, target)
    except zipfile.BadZipFile as exc:
        raise ShardSourceError(f"QDRANT_SHARD_SOURCE={source} is not a shard archive (zip): {exc}") from exc
