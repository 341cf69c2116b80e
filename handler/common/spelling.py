"""How far apart two spellings are, in slips of the fingers: the optimal string alignment
distance (an insertion, a deletion, a substitution or a swap of neighbours each count one). The
near-title lookup (`handler.storage.searches`) and weak_match's word test (`handler.search.weak`)
both read it.
"""

from __future__ import annotations


def slips(a: str, b: str, limit: int = 2) -> int:
    """The distance between a and b, or limit + 1 as soon as it is known to exceed `limit`.

    The letters a and b begin and end with alike are cut first (they change no distance; rapidfuzz
    does the same): a slip is mostly in one place, so what is left is a letter or two, and the
    table below, quadratic in what is left, is all but skipped (weak_match compares a query's
    words with a hundred of the answers' on every search)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    start, shorter = 0, min(len(a), len(b))
    while start < shorter and a[start] == b[start]:
        start += 1
    end = 0
    while end < shorter - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start:len(a) - end], b[start:len(b) - end]
    if not a or not b:  # what is left is only inserted (or only deleted)
        return min(len(a) + len(b), limit + 1)
    if limit <= 1 or len(a) + len(b) <= 2:  # one slip leaves one letter each (a substitution) or two swapped; else it is two or more
        return 1 if (len(a) == len(b) == 1 or (len(a) == len(b) == 2 and a == b[::-1])) else min(2, limit + 1)
    return _table(a, b, limit)


def _table(a: str, b: str, limit: int) -> int:
    """The optimal string alignment distance by its table (Damerau's swaps of neighbours included); a and b not empty."""
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return min(row[-1], limit + 1)
