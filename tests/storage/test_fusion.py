"""Hybrid fusion on its own: weighted reciprocal rank fusion as Qdrant computes it, and
distribution-based score fusion (`handler.storage.searches.fuse`)."""

from __future__ import annotations

import pytest

from handler.storage import FUSION, Fusion, Hit
from handler.storage.searches import fuse


def hits(*pairs) -> list[Hit]:
    return [Hit(point_id, score) for point_id, score in pairs]


DENSE = hits(("a", 0.9), ("b", 0.8), ("c", 0.7))
WORDS = hits(("c", 12.0), ("d", 3.0))


def test_rrf_adds_each_lists_weight_over_k_plus_rank():
    fused = {h.id: h.score for h in fuse([DENSE, WORDS], 10, Fusion("rrf", k=5, words=0.3))}
    assert fused == pytest.approx({"a": 1 / 5, "b": 1 / 6, "c": 1 / 7 + 0.3 / 5, "d": 0.3 / 6})


def test_rrf_with_equal_weights_and_k_60_is_the_classic_one():
    fused = fuse([DENSE, WORDS], 2, Fusion("rrf", k=60, words=1.0))
    assert [h.id for h in fused] == ["c", "a"]  # in both lists beats first in one


def test_the_bm25_weight_decides_whether_words_beat_meaning():
    assert [h.id for h in fuse([DENSE, WORDS], 1, Fusion("rrf", k=5, words=0.3))] == ["c"]
    assert [h.id for h in fuse([DENSE, WORDS], 1, Fusion("rrf", k=5, words=0.1))] == ["a"]


def test_dbsf_maps_each_lists_scores_into_its_spread():
    fused = {h.id: h.score for h in fuse([DENSE, WORDS], 10, Fusion("dbsf", words=0.5))}
    sd = (2 * 0.1 ** 2 / 3) ** 0.5  # the dense scores' standard deviation (mean 0.8); the words': 4.5 (mean 7.5)
    dense = {i: (s - 0.8 + 3 * sd) / (6 * sd) for i, s in (("a", 0.9), ("b", 0.8), ("c", 0.7))}
    assert fused == pytest.approx({"a": dense["a"], "b": dense["b"], "c": dense["c"] + 0.5 * 18 / 27, "d": 0.5 * 9 / 27})
    assert fused["a"] > fused["b"]  # the dense order holds within its list


def test_ties_are_broken_by_id_and_the_limit_holds():
    assert [h.id for h in fuse([hits(("y", 1.0)), hits(("x", 1.0))], 2, Fusion("rrf", k=5, words=1.0))] == ["x", "y"]
    assert len(fuse([DENSE, WORDS], 2, FUSION)) == 2
