"""The export's parity gate: its arithmetic (figures, top-k overlap) and its refusal naming the variant, the figure, the value and the bound. Fast tier."""

from __future__ import annotations

import numpy as np
import pytest

from export import parity


def test_gate_names_variant_figure_value_and_bound():
    assert parity.failures("int8", {"mean_cosine": 0.999, "min_cosine": 0.99, "mean_top10_overlap": 0.99, "batch_invariance_max_abs_diff": 0.0}) == []
    assert parity.failures("int8", {"mean_cosine": 0.999, "min_cosine": 0.99, "mean_top10_overlap": 0.9}, where=" (held-out)") == ["int8: mean_top10_overlap (held-out) = 0.9, needs >= 0.95"]
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


def test_the_worst_text_is_floored_and_named():
    """A mean can hide one text far off (#29: int8 on "?!" * 150 at 0.906 while the mean held)."""
    assert parity.failures("int8", {"mean_cosine": 0.999, "min_cosine": 0.906, "mean_top10_overlap": 0.99, "batch_invariance_max_abs_diff": 0.0}) == [
        "int8: min_cosine = 0.906, needs >= 0.99"]
    assert parity.failures("int8_unsigned", {"mean_cosine": 0.999, "min_cosine": 0.97, "mean_top10_overlap": 0.99}, where=" (held-out)") == ["int8_unsigned: min_cosine (held-out) = 0.97, needs >= 0.99"]
    reference = np.eye(4, dtype=np.float32)
    candidate = reference.copy()
    candidate[2] = [0.6, 0, 0.8, 0]
    assert parity.figures(reference, candidate, ["a", "b", "?!" * 40, "d"])["worst_text"] == repr(("?!" * 40)[:60])
    assert all(text in parity.BUILTIN_PROBES for text in ("?!" * 150, "word " * 1000, "x"))


def test_calibration_sees_degenerate_text_the_gate_does_not():
    """int8's grids are calibrated on degenerate text too (else they clip it), never on the gate's own probes."""
    from export import calibration

    texts, description = calibration.texts(parity.BENCH_FILE, parity.HELD_OUT["first_line"])
    assert all(text in texts for text in calibration.DEGENERATE) and "degenerate" in description
    assert not set(calibration.DEGENERATE) & set(parity.BUILTIN_PROBES)
