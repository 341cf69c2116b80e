"""The one normalisation rule for user text (`handler.common.text`)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from handler.common import NOT_BLANK_PATTERN, normalize
from handler.common.text import REMOVED_RANGES, WHITESPACE


def removed_by_the_rule(c: str) -> bool:
    category = unicodedata.category(c)
    return (category == "Cc" and not c.isspace()) or category == "Cf" or c == "\ufffd"


def test_the_ranges_match_this_pythons_unicode_database():
    listed = {cp for a, b in REMOVED_RANGES for cp in range(a, b + 1)}
    wanted = {cp for cp in range(sys.maxunicode + 1) if removed_by_the_rule(chr(cp))}
    assert wanted - listed == set(), f"Unicode {unicodedata.unidata_version} has more: {sorted(map(hex, wanted - listed))}"
    extra = {cp for cp in listed - wanted if unicodedata.category(chr(cp)) != "Cn"}  # unassigned here, assigned in a newer Unicode
    assert extra == set(), sorted(map(hex, extra))
    assert set(WHITESPACE) == {chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).isspace()}


@pytest.mark.parametrize("raw, expected", [
    ("vegan  food\tdelivery", "vegan food delivery"),
    ("  padded  ", "padded"),
    ("\u00a0\u3000nbsp and ideographic\u3000space", "nbsp and ideographic space"),
    ("zero\u200bwidth", "zerowidth"),
    ("\ufeffbom", "bom"),
    ("nul\x00inside", "nulinside"),
    ("caf\ufffd", "caf"),  # what invalid UTF-8 (%ff) decodes to
    ("\x00\x01\x1b", ""),
    ("\u200b\u200c\u200d\ufeff", ""),
    (" \t\n\u00a0\u3000", ""),
    ("東京 スタートアップ", "東京 スタートアップ"),
    ("crème brûlée 🚀", "crème brûlée 🚀"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_the_schema_pattern_says_the_same_as_the_rule():
    pattern = re.compile(NOT_BLANK_PATTERN)
    samples = ["a", " a ", "\u200ba", "\x00", "", " \u3000", "\ufffd", "\ufeff\u200b", "東", "🚀", "\x85\x1c"]
    for sample in samples:
        assert bool(pattern.search(sample)) == bool(normalize(sample)), repr(sample)


