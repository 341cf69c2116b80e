"""Records against a schema: reading JSON lines, each record fitting or refused with the field and
what is wrong with it, and the texts and payload made from a record. Fast tier."""

from __future__ import annotations

import json

import pytest

from handler.common import FOLDED, TITLE_KEY, SchemaError, load_schema, parse_schema, title_key
from handler.storage import DEFAULT_TEXT_TEMPLATE, indexed_text, read_records, record_text

RECORD = {"name": "Acme", "images": "https://x/logo.png", "alt": "Acme", "description": "rockets", "link": "https://acme.example", "city": "Berlin"}
STARTUPS = load_schema()
PACKAGES = parse_schema({
    "collection": "packages", "key": "package", "title": "package", "embed": "{package}: {summary}",
    "fields": {"package": "text", "summary": "text", "version": "string", "released": "keyword?", "downloads_rank": "integer?", "score": "float?",
               "home": "url?"},
}, "test packages schema")
PACKAGE = {"package": "requests", "version": "2.32.3", "released": "2024-05", "downloads_rank": 4, "summary": "HTTP for Humans."}


@pytest.mark.parametrize("data, reason", [
    (RECORD, None),
    ([1, 2], "expected a JSON object, got list"),
    ({k: v for k, v in RECORD.items() if k != "city"}, "missing field(s): city"),
    ({**RECORD, "description": 42}, "field 'description' must be a string (text), got int 42"),
    ({**RECORD, "city": None}, "field 'city' is null, but it is required (declare it \"keyword?\" to allow null)"),
    ({**RECORD, "name": " ", "alt": " ", "description": ""}, "nothing to embed: field(s) name, alt, description are all empty"),
    ({**RECORD, "alt": "", "description": "only the description"}, None),
    ({**RECORD, "extra": "kept in the payload"}, None),
])
def test_a_startups_record_fits_or_is_refused_naming_the_field(data, reason):
    assert STARTUPS.problem(data) == reason


@pytest.mark.parametrize("data, reason", [
    (PACKAGE, None),
    ({**PACKAGE, "downloads_rank": None, "released": None}, None),  # optional: null
    ({k: v for k, v in PACKAGE.items() if k not in ("downloads_rank", "released")}, None),  # optional: missing
    ({**PACKAGE, "downloads_rank": "12"}, "field 'downloads_rank' must be an integer, got str \"12\""),
    ({**PACKAGE, "downloads_rank": 1.5}, "field 'downloads_rank' must be an integer, got float 1.5"),
    ({**PACKAGE, "downloads_rank": True}, "field 'downloads_rank' must be an integer, got bool true"),
    ({**PACKAGE, "score": float("nan")}, "field 'score' must be a finite number (float), got float NaN"),
    ({**PACKAGE, "score": "high"}, "field 'score' must be a finite number (float), got str \"high\""),
    ({**PACKAGE, "released": 2024}, "field 'released' must be a string (keyword), got int 2024"),
    ({k: v for k, v in PACKAGE.items() if k != "version"}, "missing field(s): version"),
])
def test_a_record_of_another_schema_fits_or_is_refused_naming_the_field(data, reason):
    assert PACKAGES.problem(data) == reason


def test_the_texts_of_a_record():
    assert STARTUPS.embed == DEFAULT_TEXT_TEMPLATE == "{name}. {alt}. {description}"
    assert record_text(RECORD) == STARTUPS.embed_text(RECORD) == "Acme. Acme. rockets"
    assert PACKAGES.embed_text(PACKAGE) == "requests: HTTP for Humans."
    assert PACKAGES.embed_text({**PACKAGE, "summary": None}) == "requests: "  # a missing field is empty


def test_the_indexed_text_holds_every_text_field_the_title_first():
    """BM25 indexes the embedded text with every text field it leaves out in front, the title
    first: a record is always found by its title's words."""
    assert indexed_text(RECORD) == record_text(RECORD)
    assert indexed_text(RECORD, "{alt}. {description}") == "Acme. Acme. rockets"
    assert indexed_text({**RECORD, "name": "NowBoarding ✈️"}, "{description}") == "NowBoarding ✈️. Acme. rockets"
    assert indexed_text({**RECORD, "name": "  ", "alt": ""}, "{description}") == "rockets"
    assert PACKAGES.with_template("{summary}").indexed_text(PACKAGE) == "requests. HTTP for Humans."


def test_the_payload_keeps_the_record_each_keywords_folded_copy_and_its_titles_key():
    assert STARTUPS.payload({**RECORD, "city": "  New\u00a0 York "}) == {**RECORD, "city": "  New\u00a0 York ",
                                                                       FOLDED: {"city": "new york", TITLE_KEY: title_key(RECORD["name"])}}
    assert PACKAGES.payload({**PACKAGE, "released": ""}) == {**PACKAGE, "released": "", FOLDED: {TITLE_KEY: "requests"}}  # an empty keyword counts as missing
    assert PACKAGES.payload({**PACKAGE, "package": "Types_Requests-2.0"})[FOLDED] == {"released": "2024-05", TITLE_KEY: "typesrequests20"}
    assert FOLDED not in PACKAGES.payload({**PACKAGE, "released": None, "package": "@-/"})  # a title of punctuation alone has no key


def test_a_titles_key_ignores_case_spaces_and_punctuation():
    assert {title_key(t) for t in ("types-requests", "Types Requests", "types_requests", "TYPES.requests", " types/requests@ ")} == {"typesrequests"}
    assert title_key("NowBoarding ✈️") == "nowboarding" and title_key("Straße") == "strasse" and title_key("🍕") == ""


def test_overrides_of_the_template_and_the_key_are_checked_like_the_schema():
    with pytest.raises(SchemaError, match=r"uses \{nope\}, which is not a field of \[fields\]"):
        STARTUPS.with_template("{alt} {nope}")
    with pytest.raises(SchemaError, match="not a valid template"):
        STARTUPS.with_template("{alt")
    with pytest.raises(SchemaError, match="--id-field nope: .* has no field 'nope'"):
        STARTUPS.with_key("nope")
    assert STARTUPS.with_key("name").key == "name"


def test_read_records_counts_every_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([json.dumps(RECORD).encode(), b"", b"{oops", b"\xff\xfe", json.dumps([1]).encode()]) + b"\n")
    good, bad = read_records(path)
    assert [r.line for r in good] == [1]
    assert [(r.line, r.reason.split(":")[0]) for r in bad] == [(3, "invalid JSON"), (4, "not valid UTF-8 at byte 0"), (5, "expected a JSON object, got list")]
    packages = tmp_path / "packages.jsonl"
    packages.write_text("\n".join(json.dumps(r) for r in [PACKAGE, {**PACKAGE, "downloads_rank": "12"}, RECORD]) + "\n")
    good, bad = read_records(packages, PACKAGES)
    assert [r.line for r in good] == [1]
    assert [(r.line, r.reason) for r in bad] == [(2, "field 'downloads_rank' must be an integer, got str \"12\""),
                                                 (3, "missing field(s): package, summary, version")]
