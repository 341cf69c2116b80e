"""The export's parity gate: its arithmetic (figures, top-k overlap) and its refusal naming the variant, the figure, the value and the bound. Fast tier."""

from __future__ import annotations

import numpy as np
import pytest

from export import parity


def test_gate_names_variant_figure_value_and_bound():
    assert parity.failures("int8", {"mean_cosine": 0.999, "mean_top10_overlap": 0.99, "batch_invariance_max_abs_diff": 0.0}) == []
    assert parity.failures("int8", {"mean_cosine": 0.999, "mean_top10_overlap": 0.9}, where=" (held-out)") == ["int8: mean_top10_overlap (held-out) = 0.9, needs >= 0.95"]
    missed = parity.failures("fp32", {"min_cosine": 0.9, "batch_invariance_max_abs_diff": 1e-3})
    assert missed == ["fp32: min_cosine = 0.9, needs >= 0.99999", "fp32: batch_invariance_max_abs_diff = 0.001, needs <= 1e-05"]
    assert parity.failures("fp16", {"min_cosine": float("nan")}) == ["fp16: min_cosine = nan, needs >= 0.999"]


def test_figures_and_top_k_overlap():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 8)).astype(np.float32)
    same = parity.figures(reference, reference.copy())
    assert same["min_cosine"] == pytest.approx(1.0) and same["mean_top10_overlap"] == 1.0 and same["max_abs_diff"] == 0
    shuffled = parity.figures(reference, rng.permutation(reference))
    assert shuffled["mean_top10_overlap"] < 0.9 and shuffled["min_cosine"] < 0.9
