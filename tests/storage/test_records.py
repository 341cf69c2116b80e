"""Records: reading JSON lines, validating each one (the field and what is wrong with it), the text templates and the two texts made from a record. Fast tier."""

from __future__ import annotations

import json

import pytest

from handler.common import TemplateError
from handler.storage import DEFAULT_TEXT_TEMPLATE, indexed_text, read_records, record_text, template_fields, validate

RECORD = {"name": "Acme", "images": "https://x/logo.png", "alt": "Acme", "description": "rockets", "link": "https://acme.example", "city": "Berlin"}


@pytest.mark.parametrize("data, reason", [
    (RECORD, None),
    ([1, 2], "expected a JSON object, got list"),
    ({k: v for k, v in RECORD.items() if k != "city"}, "missing field(s): city"),
    ({**RECORD, "description": 42}, "field 'description' must be a string, got int"),
    ({**RECORD, "alt": " ", "description": ""}, "nothing to embed: field(s) alt, description are all empty"),
    ({**RECORD, "alt": "", "description": "only the description"}, None),
])
def test_validate_names_the_field(data, reason):
    assert validate(data, ["alt", "description"]) == reason


def test_template_fields_and_text():
    assert template_fields(DEFAULT_TEXT_TEMPLATE) == ["name", "alt", "description"]
    assert record_text(RECORD) == "Acme. Acme. rockets"
    with pytest.raises(TemplateError, match="unknown: nope"):
        template_fields("{alt} {nope}")
    with pytest.raises(TemplateError, match="not valid"):
        template_fields("{alt")


def test_the_indexed_text_always_holds_the_name():
    """BM25 indexes the embedded text with the name in front, unless the template embeds it already."""
    assert indexed_text(RECORD) == record_text(RECORD)
    assert indexed_text(RECORD, "{alt}. {description}") == "Acme. Acme. rockets"
    assert indexed_text({**RECORD, "name": "NowBoarding ✈️"}, "{description}") == "NowBoarding ✈️. rockets"
    assert indexed_text({**RECORD, "name": "  "}, "{description}") == "rockets"


def test_read_records_counts_every_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([json.dumps(RECORD).encode(), b"", b"{oops", b"\xff\xfe", json.dumps([1]).encode()]) + b"\n")
    good, bad = read_records(path)
    assert [r.line for r in good] == [1]
    assert [(r.line, r.reason.split(":")[0]) for r in bad] == [(3, "invalid JSON"), (4, "not valid UTF-8 at byte 0"), (5, "expected a JSON object, got list")]
