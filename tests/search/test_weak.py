"""weak_match's rule on its own (no model): the calibration's two thresholds, the word test with
slips of the fingers, and null where a collection keeps no calibration."""

from __future__ import annotations

import pytest

from handler.common import slips
from handler.search import Calibration, shares_word, weak
from handler.search.weak import same_word
from handler.storage import Bm25Encoder

CAL = Calibration(far=0.2, close=0.5, facts={})


@pytest.mark.parametrize("a, b, distance", [
    ("food", "food", 0), ("fod", "food", 1), ("delivry", "delivery", 1), ("teh", "the", 1),  # a swap is one slip
    ("analitycs", "analytics", 2), ("kitten", "sitting", 3), ("", "abc", 3),
])
def test_slips_counts_insertions_deletions_substitutions_and_swaps(a, b, distance):
    assert slips(a, b, limit=3) == distance == slips(b, a, limit=3)


def test_slips_stops_past_its_limit():
    assert slips("abcdefgh", "zyxwvuts", limit=2) == 3


def words(text: str) -> list[tuple[str, str]]:
    return list(Bm25Encoder().words(text))


@pytest.mark.parametrize("query, answer", [
    ("fod", "food"), ("delivry", "delivery"), ("phto", "photo"), ("analitycs", "analytics"),
    ("deliveries", "delivered"),  # one stem begins the other
])
def test_a_misspelt_word_is_the_same_word(query, answer):
    assert same_word(words(query)[0], words(answer)[0])


@pytest.mark.parametrize("query, answer", [("cat", "car"), ("art", "ant"), ("yoga", "toga"), ("bank", "band")])
def test_short_words_a_letter_apart_are_other_words(query, answer):
    """A slip in a short word makes another word as often as a typo: only a missing letter counts there."""
    assert not same_word(words(query)[0], words(answer)[0])


def test_shares_word_reads_every_word_of_the_query():
    answers = set(words("Real Food Blends: meals through a feeding tube"))
    assert shares_word(words("vegan fod delivry"), answers)
    assert not shares_word(words("radiology imaging"), answers)


def test_weak_is_null_without_a_calibration():
    asked = []
    assert weak(0.9, lambda: asked.append(1) or True, None) is None and asked == []


def test_weak_reads_the_words_only_between_the_thresholds():
    asked = []

    def shared():
        asked.append(1)
        return True

    assert weak(None, shared, CAL) is True and weak(0.1, shared, CAL) is True  # no hit; below far, whatever the words
    assert weak(0.6, shared, CAL) is False and asked == []  # from close on: close
    assert weak(0.3, shared, CAL) is False and weak(0.3, lambda: False, CAL) is True and asked == [1]


@pytest.mark.parametrize("kept", [None, {}, {"far": 0.3}, {"far": "x", "close": 0.5}, {"far": 0.6, "close": 0.5}, {"far": -1, "close": 0.5}])
def test_a_missing_or_unreadable_calibration_is_none(kept):
    assert Calibration.of(kept) is None


def test_a_calibration_round_trips_with_its_facts():
    cal = Calibration.of({"far": 0.21, "close": 0.47, "probes": 49, "variant": "int8"})
    assert (cal.far, cal.close, cal.facts) == (0.21, 0.47, {"probes": 49, "variant": "int8"})
    assert Calibration.of(cal.kept()) == cal


def test_the_api_schema_says_weak_match_may_be_null():
    from handler.web.responses import SearchResponse

    field = SearchResponse.model_json_schema()["properties"]["weak_match"]
    assert {"type": "boolean"} in field["anyOf"] and {"type": "null"} in field["anyOf"]
    assert "null when the collection keeps no calibration" in field["description"]


def test_shares_word_says_what_same_word_says_pair_by_pair():
    """shares_word asks same_word's rules of all the answers at once (grouped by length, stems
    apart): on query words and answers made from them by a slip or two (or a cut), where stems,
    prefixes and slips collide often, it agrees with same_word asked of every pair."""
    import random

    rng = random.Random(3)

    def stemmed(word):
        return word, word[:rng.randint(max(1, len(word) - 3), len(word))]  # a stem is a word's beginning, as a stemmer's mostly is

    def slipped(word):
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(word) + 1)
            kind = rng.choice(("insert", "delete", "substitute", "swap", "cut", "grow"))
            if kind == "insert" or not word:
                word = word[:i] + rng.choice("abcde") + word[i:]
            elif kind == "delete":
                word = word[:i] + word[i + 1:]
            elif kind == "substitute":
                word = word[:i] + rng.choice("abcde") + word[i + 1:]
            elif kind == "swap" and i + 1 < len(word):
                word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            elif kind == "cut":
                word = word[:max(1, i)]
            else:
                word = word + "".join(rng.choice("abcde") for _ in range(rng.randint(1, 4)))
        return word or "a"

    for _ in range(6000):
        words = ["".join(rng.choice("abcde") for _ in range(rng.randint(2, 12))) for _ in range(rng.randint(1, 3))]
        query = [stemmed(word) for word in words]
        answers = {stemmed(slipped(rng.choice(words))) for _ in range(rng.randint(0, 4))}
        answers |= {stemmed("".join(rng.choice("abcde") for _ in range(rng.randint(1, 12)))) for _ in range(rng.randint(0, 6))}
        expected = any(same_word(q, a) for q in query for a in answers)
        assert shares_word(query, answers) == expected, (query, answers)
