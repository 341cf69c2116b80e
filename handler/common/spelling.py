"""How far apart two spellings are, in slips of the fingers: the optimal string alignment
distance (an insertion, a deletion, a substitution or a swap of neighbours each count one). The
near-title lookup (`handler.storage.searches`) and weak_match's word test (`handler.search.weak`)
both read it.
"""

from __future__ import annotations


def slips(a: str, b: str, limit: int = 2) -> int:
    """The distance between a and b, or limit + 1 as soon as it is known to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
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
