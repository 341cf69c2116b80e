"""The vector cache of the batch embedding jobs (scripts.embed and scripts.embed_ray), in --out.

A vector depends on the model file and the exact text embedded, so that is its key:
sha256(model sha256, text), cut to 16 bytes. Another variant or a changed text template never
meets a vector it did not make; an unchanged text is never embedded twice.

The cache is a folder of segments: `<name>.vectors.npy` beside `<name>.keys.npy`. Each file is
written atomically (`handler.common.files`), the vectors first and the keys last, so a segment exists
once its keys file does: a crash leaves whole segments or none. Finished chunks of a run are
segments too, which is how a killed run resumes. At the end of a run `keep_only` leaves the
segment(s) holding exactly that run's vectors, so the cache holds the last finished run (plus
the chunks of an unfinished one).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

from handler.common import atomic_save_npy

FOLDER = "cache"
KEY = np.dtype("V16")


def new_name() -> str:
    """A segment name no other writer (process, Ray actor, earlier run) uses."""
    return uuid.uuid4().hex[:16]


class VectorCache:
    def __init__(self, out_dir: Path, model_sha256: str, dim: int) -> None:
        self.folder = Path(out_dir) / FOLDER
        self.model_sha256, self.dim = model_sha256, dim
        self._segments: list[np.ndarray] = []  # memory-mapped vectors, one per segment
        keys, where = [], []
        for keys_file in sorted(self.folder.glob("*.keys.npy")):
            vectors_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".vectors.npy"))
            segment_keys = np.load(keys_file)
            vectors = np.load(vectors_file, mmap_mode="r") if vectors_file.is_file() else None
            if vectors is None or vectors.shape != (len(segment_keys), dim) or segment_keys.dtype != KEY:
                continue  # another model's size, or not a segment of ours: never read
            where.append(np.stack([np.full(len(segment_keys), len(self._segments)), np.arange(len(segment_keys))], axis=1))
            keys.append(segment_keys)
            self._segments.append(vectors)
        all_keys = np.concatenate(keys) if keys else np.empty(0, KEY)
        all_where = np.concatenate(where) if where else np.empty((0, 2), np.int64)
        self._keys, first = np.unique(all_keys, return_index=True)  # sorted, for searchsorted
        self._where = all_where[first]

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self, texts: list[str]) -> np.ndarray:
        prefix = f"{self.model_sha256}\n".encode()
        return np.array([hashlib.sha256(prefix + text.encode("utf-8", "surrogatepass")).digest()[:16] for text in texts], dtype=KEY)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """For each key, True when the cache holds its vector."""
        if not len(self._keys):
            return np.zeros(len(keys), bool)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[at] == keys

    def take(self, keys: np.ndarray) -> np.ndarray:
        """The vectors of keys that find() said are cached."""
        at = np.searchsorted(self._keys, keys)
        where = self._where[at]
        out = np.empty((len(keys), self.dim), np.float32)
        for segment in np.unique(where[:, 0]):
            rows = where[:, 0] == segment
            out[rows] = self._segments[segment][where[rows, 1]]
        return out

    def add(self, keys: np.ndarray, vectors: np.ndarray, name: str | None = None) -> str:
        """A new segment (its name returned): vectors first, keys last, each atomically."""
        name = name or new_name()
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(self.folder / f"{name}.vectors.npy", np.asarray(vectors, dtype=np.float32))
        atomic_save_npy(self.folder / f"{name}.keys.npy", np.asarray(keys, dtype=KEY))
        return name



def keep_only(out_dir: Path, names: set[str]) -> None:
    """Delete every segment of out_dir's cache but these (and any half-written file): the keys
    files first, so a crash part-way leaves whole segments."""
    folder = Path(out_dir) / FOLDER
    if not folder.is_dir():
        return
    for file in sorted(folder.iterdir(), key=lambda f: not f.name.endswith(".keys.npy")):
        if file.name.split(".")[0] not in names or file.name.endswith(".part"):
            file.unlink(missing_ok=True)
