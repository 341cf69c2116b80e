"""weak_match: "nothing is really close". The best dense score of a search (cosine) decides at
either end; between the two, a match counts as close only when some query word occurs in the
collection (BM25's vocabulary). Calibrated by `python -m scripts.calibrate_weak` on the queries
of `scripts.weak_queries`; docs/quality.md has the separation it measured.
"""

from __future__ import annotations

from typing import Callable

CLOSE_COSINE = 0.42
FAR_COSINE = 0.29


def weak(nearest: float | None, words: Callable[[], bool | None]) -> bool:
    """The weak_match rule for a search with a dense list (neural, hybrid): `nearest` is its best
    cosine (None: no hit at all), `words()` whether any query word occurs in the collection (None:
    the collection cannot tell), asked only when the cosine alone does not decide."""
    if nearest is None or nearest < FAR_COSINE:
        return True
    return nearest < CLOSE_COSINE and not words()
