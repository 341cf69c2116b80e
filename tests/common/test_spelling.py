"""slips (the optimal string alignment distance) against the textbook table, on every pair of short
spellings over a small alphabet, where repeated letters make cutting the common ends risky."""

import itertools
import random

import pytest

from handler.common import slips


def textbook(a: str, b: str) -> int:
    """The whole table, nothing cut or stopped early (Damerau's swaps of neighbours included)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def spellings(alphabet: str, longest: int):
    for n in range(longest + 1):
        yield from ("".join(letters) for letters in itertools.product(alphabet, repeat=n))


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_every_short_pair_over_two_letters(limit):
    words = list(spellings("ab", 5))
    wrong = [(a, b) for a in words for b in words if slips(a, b, limit) != min(textbook(a, b), limit + 1)]
    assert not wrong, wrong[:10]


def test_random_words_over_three_letters():
    rng = random.Random(7)
    for _ in range(20000):
        a, b = ("".join(rng.choice("abc") for _ in range(rng.randint(0, 9))) for _ in range(2))
        for limit in (1, 2):
            assert slips(a, b, limit) == min(textbook(a, b), limit + 1), (a, b, limit)
