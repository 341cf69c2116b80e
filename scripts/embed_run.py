"""What the two batch embedding jobs (scripts.embed, scripts.embed_ray) share: their exit
statuses, the one rule for what is embedded and what is reused (the vector cache in --out,
scripts/vector_cache.py: it is also how a killed run resumes), and the counts they report.

Counts are per valid record: `embedded` were computed in this run, `reused` came from the cache,
and `read = embedded + reused + rejected` (blank lines are not records).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from handler.common import say
from scripts.vector_cache import VectorCache

EXIT_OK, EXIT_REJECTED = 0, 3  # 3: done, but some lines were rejected (each listed with its reason)


def exit_status(rejected: int) -> int:
    return EXIT_REJECTED if rejected else EXIT_OK


def summary(read: int, embedded: int, reused: int, rejected: int) -> str:
    return f"read {read} lines = {embedded} embedded + {reused} reused + {rejected} rejected"


def drop_legacy(out_dir: Path, names: tuple[str, ...]) -> None:
    """An --out written before the cache existed: its vectors carry no keys, so they cannot be
    matched to texts and are not reused. Its run state goes; the new run starts the cache."""
    found = [name for name in names if (out_dir / name).exists()]
    if not found:
        return
    say(f"--out '{out_dir}' was written by an earlier version without a vector cache ({', '.join(found)}): "
        "its vectors are not reused; this run embeds every text once and starts the cache")
    for name in found:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


@dataclass
class Embedded:
    keys: np.ndarray  # the cache key of each text
    vectors: np.ndarray  # float32, one row per text
    embedded: int  # texts whose vector was computed in this run
    reused: int  # texts whose vector came from the cache


def embed_with_cache(texts: list[str], cache: VectorCache, encoder, *, chunk_size: int | None = None, checkpoint: bool = False,
                     on_start: Callable[[int, int], None] | None = None, on_chunk: Callable[[int], None] | None = None) -> Embedded:
    """Every text's vector: from the cache when it holds the text's key, else computed, each
    distinct text once, in chunks of `chunk_size` in input order (a resumed run computes the same
    chunks). With `checkpoint`, each computed chunk is added to the cache at once. on_start(reused,
    distinct texts to compute) is called before the first chunk, on_chunk(texts) after each."""
    keys = cache.keys(texts)
    vectors = np.empty((len(texts), cache.dim), np.float32)
    cached = cache.find(keys)
    if cached.any():
        vectors[cached] = cache.take(keys[cached])
    missing = np.flatnonzero(~cached)
    distinct, first, inverse = np.unique(keys[missing], return_index=True, return_inverse=True)
    order = np.argsort(first)  # the distinct missing texts in input order
    if on_start:
        on_start(int(cached.sum()), len(order))
    computed = np.empty((len(distinct), cache.dim), np.float32)
    step = chunk_size or max(len(order), 1)
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        rows = missing[first[chunk]]
        computed[chunk] = encoder.embed([texts[i] for i in rows])
        if checkpoint:
            cache.add(keys[rows], computed[chunk])
        if on_chunk:
            on_chunk(len(chunk))
    vectors[missing] = computed[inverse.reshape(-1)]
    return Embedded(keys, vectors, int(len(missing)), int(cached.sum()))
