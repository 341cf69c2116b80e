"""The log and what goes into it: one JSON object per line, bounded, values cut the one way."""

from __future__ import annotations

import json

from handler.common import cut


def test_cut_caps_what_is_echoed_and_says_how_much_is_left_out():
    assert cut("short", 40) == "short"
    assert cut("x" * 10_000, 40) == "x" * 40 + "...(+9960 chars)"
    assert cut(42, 40) == 42


def test_a_log_line_of_many_long_fields_stays_one_json_object():
    from handler.common import MAX_LINE, bounded

    line = bounded({f"field_{i}": "x" * 500 for i in range(60)})
    assert len(line) <= MAX_LINE and json.loads(line)["cut"] is True
