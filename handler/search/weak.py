"""weak_match: "nothing is really close: these are only the nearest there are".

A search with a dense list (neural, hybrid) reads two signals: its best cosine, and whether a word
of the query (stemmed, as BM25 compares words; or one typing slip away from one) occurs in the
answers it shows. Two cosines, calibrated per collection, decide:

- below `far`, nothing is close (whatever the words);
- from `close` on, the nearest is close (a paraphrase shares no word with what it means);
- between the two, it is close only when the answers share a word with the query (a typo that
  still finds good answers does; nonsense and an off-topic query's nearest do not).

The calibration is measured on the collection itself when it is uploaded or synced
(`scripts.weak_calibration`) and kept with it; a collection without one has weak_match null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from handler.common import slips

FUZZY_MIN = 5  # words this long match a slip of the fingers apart (`same_word`; shorter ones only a letter short: `fod`, `food`)
TWO_SLIPS_FROM = 8  # words this long match two slips apart
MOST_SLIPS = 2  # no two words further apart in length are ever the same word
PREFIX_MIN = 5  # a stem this long matches the stems it begins
SHOWN_ANSWERS = 5  # the answers whose words count: the first of the page (what a person reads first)
MEMO = 1024  # answers' texts whose words are kept (`TextWords`): about 6 MB for the 40k bench corpus's texts (22.6 MB at 4,096)


@dataclass(frozen=True)
class Calibration:
    far: float
    close: float
    facts: dict  # how it was measured (probes, model variant): for /health's details and docs

    KEY = "weak"  # where the collection keeps it (`Storage.record`)

    @classmethod
    def of(cls, kept: dict | None) -> "Calibration | None":
        """The calibration a collection keeps; None when it keeps none (or one this version cannot read)."""
        try:
            far, close = float(kept["far"]), float(kept["close"])
        except (TypeError, KeyError, ValueError):
            return None
        return cls(far, close, {k: v for k, v in kept.items() if k not in ("far", "close")}) if 0 <= far <= close <= 1 else None

    def kept(self) -> dict:
        return {"far": self.far, "close": self.close, **self.facts}


def same_word(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two (word, stem) pairs of one word, slips of the fingers allowed: the same stem; one stem
    the start of the other, PREFIX_MIN letters or more (the stemmer cuts a misspelt word
    elsewhere: `delivry` -> delivri, `delivered` -> deliv); or the words a slip apart, the longer
    FUZZY_MIN letters or more (`phto`, `photo`; shorter words only a letter short: `fod`, `food`),
    two when both are TWO_SLIPS_FROM letters or longer (`analitycs`, `analytics`)."""
    (word, stem), (other, other_stem) = a, b
    return stem == other_stem or _stem_begins(stem, other_stem) or _slipped(word, other)


def _stem_begins(stem: str, other: str) -> bool:
    short, long = (stem, other) if len(stem) <= len(other) else (other, stem)
    return len(short) >= PREFIX_MIN and long.startswith(short)


def _slipped(word: str, other: str) -> bool:
    shortest, longest = (len(word), len(other)) if len(word) <= len(other) else (len(other), len(word))
    if longest - shortest > MOST_SLIPS:
        return False
    if shortest >= TWO_SLIPS_FROM:
        allowed = 2
    elif (longest >= FUZZY_MIN and shortest >= FUZZY_MIN - 1) or (shortest >= 3 and longest == shortest + 1):
        allowed = 1
    else:
        return False
    return slips(word, other, allowed) <= allowed


def shares_word(query: Iterable[tuple[str, str]], answers: set[tuple[str, str]]) -> bool:
    """Whether a word of the query is the same word as one of the answers' (`same_word`); each a
    (word, stem) pair. The rules of `same_word`, each asked of the answers at once: exact stems
    first, then stems that begin one another (both PREFIX_MIN letters or more), then spellings,
    only of the answers' words near the query word's length (tests/search/test_weak.py holds
    this to `same_word` pair by pair)."""
    query = tuple(query)
    answer_stems = {stem for _, stem in answers}
    if any(stem in answer_stems for _, stem in query):  # the common case, before any word is compared letter by letter
        return True
    long_stems = [stem for stem in answer_stems if len(stem) >= PREFIX_MIN]
    by_length: dict[int, list[str]] = {}
    for word, _ in answers:
        by_length.setdefault(len(word), []).append(word)
    for word, stem in query:
        if len(stem) >= PREFIX_MIN and any(other.startswith(stem) or stem.startswith(other) for other in long_stems):
            return True
        for length in range(len(word) - MOST_SLIPS, len(word) + MOST_SLIPS + 1):
            if any(_slipped(word, other) for other in by_length.get(length, ())):
                return True
    return False


class TextWords:
    """`words(text)`, remembered for the last MEMO texts: the answers shown come again and again
    (the same records answer many queries), and their words cost more than the comparison. Keyed by
    the text itself, so a record that changes is read anew."""

    def __init__(self, words: Callable[[str], set[tuple[str, str]]]) -> None:
        self.words = words
        self._memo: dict[str, frozenset] = {}

    def __call__(self, text: str) -> frozenset:
        found = self._memo.get(text)
        if found is None:
            if len(self._memo) >= MEMO:  # bounded: start over rather than grow
                self._memo.clear()
            found = self._memo[text] = frozenset(self.words(text))
        return found


def answers_share_word(q: str, hits, fields: tuple[str, ...], words: Callable[[str], set[tuple[str, str]]],
                       query_words: Callable[[str], set[tuple[str, str]]] | None = None) -> bool:
    """Whether the first SHOWN_ANSWERS hits share a word with the query: their `fields` (the
    schema's text fields) and the query, each as `words` (BM25's tokens and stems) makes them; the
    query by `query_words` where given (the service remembers answers' words, never queries')."""
    answers = frozenset().union(*(words(" ".join(str(hit.payload.get(name) or "") for name in fields)) for hit in hits[:SHOWN_ANSWERS]))
    return shares_word((query_words or words)(q), answers)


def weak(nearest: float | None, shared: Callable[[], bool], calibration: Calibration | None) -> bool | None:
    """The weak_match of a search with a dense list: `nearest` its best cosine (None: no hit at
    all), `shared()` whether the answers share a word with the query (asked only between the
    thresholds); None without a calibration."""
    if calibration is None:
        return None
    if nearest is None or nearest < calibration.far:
        return True
    return nearest < calibration.close and not shared()
