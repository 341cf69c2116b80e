"""The vector cache of the batch jobs (scripts/vector_cache.py) on its own: keys, segments on disk,
what a crash can leave behind. No model: the vectors are arrays made here; the cache's use by
scripts.embed and scripts.embed_ray runs the real model in test_embed.py, test_embed_ray.py and
test_sync.py."""

from __future__ import annotations

import numpy as np

from scripts.vector_cache import FOLDER, VectorCache, keep_only

DIM = 4


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def test_a_key_is_the_model_and_the_exact_text(tmp_path):
    cache, other = VectorCache(tmp_path, "a" * 64, DIM), VectorCache(tmp_path, "b" * 64, DIM)
    keys = cache.keys(["vegan food", "vegan food ", "Vegan food", "vegan food"])
    assert len({k.tobytes() for k in keys}) == 3 and keys[0] == keys[3]
    assert other.keys(["vegan food"])[0] != keys[0]  # another model file never meets these vectors


def test_segments_are_found_after_reopening_and_only_whole_ones(tmp_path):
    cache = VectorCache(tmp_path, "m" * 64, DIM)
    texts = [f"text {i}" for i in range(10)]
    keys, made = cache.keys(texts), vectors(10)
    first = cache.add(keys[:6], made[:6])
    cache.add(keys[4:], made[4:])  # overlapping: the same key, the same vector
    folder = tmp_path / FOLDER
    np.save(folder / "torn.vectors.npy", vectors(3, seed=1))  # a crash between a segment's two files: vectors, no keys
    (folder / "half.keys.npy.part").write_bytes(b"\x93NUMPY")  # a crash inside an atomic write
    np.save(folder / "other.keys.npy", np.zeros(2, "V16"))
    np.save(folder / "other.vectors.npy", vectors(2, seed=2)[:, :2])  # another model's size

    again = VectorCache(tmp_path, "m" * 64, DIM)
    assert len(again) == 10
    query = np.concatenate([keys[[9, 0, 5]], VectorCache(tmp_path, "m" * 64, DIM).keys(["never seen"])])
    assert again.find(query).tolist() == [True, True, True, False]
    assert np.array_equal(again.take(keys[[9, 0, 5]]), made[[9, 0, 5]])

    keep_only(tmp_path, {first})
    assert sorted(f.name for f in folder.iterdir()) == [f"{first}.keys.npy", f"{first}.vectors.npy"]
    assert len(VectorCache(tmp_path, "m" * 64, DIM)) == 6


def test_an_empty_or_missing_cache(tmp_path):
    cache = VectorCache(tmp_path / "nothing-here", "m" * 64, DIM)
    keys = cache.keys(["a", "b"])
    assert len(cache) == 0 and cache.find(keys).tolist() == [False, False]
    keep_only(tmp_path / "nothing-here", set())
    name = cache.add(keys[:0], vectors(0))
    assert len(VectorCache(tmp_path / "nothing-here", "m" * 64, DIM)) == 0 and name
