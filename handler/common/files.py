"""File helpers shared by the runtime and the batch jobs: checksums and atomic writes."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, fsync, rename: readers see the old file or the new one, never half."""
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def atomic_save_npy(path: Path, array) -> None:
    import numpy as np  # deferred: this wing stays stdlib-only at import (infra/toolchain.py runs before any venv)

    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write(path, buffer.getvalue())
