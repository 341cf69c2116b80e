"""The schema file: every rule refused when the file is read (SchemaError, exit status 2 at start:
the file, the key and the fix named), the built-in startups schema, and what the rest of the code
reads from a schema. Fast tier."""

from __future__ import annotations

import pytest

from handler.common import BUILT_IN, SchemaError, load_schema, parse_schema
from tests.support.helpers import REPO, run_module

GOOD = {"collection": "packages", "key": "package", "title": "package", "embed": "{package}: {summary}",
        "fields": {"package": "text", "summary": "text", "version": "string", "released": "keyword?", "downloads_rank": "integer?"},
        "display": {"subtitle": "version", "body": "summary"}}


def parse(**changes):
    data = {**GOOD, **changes}
    return parse_schema({k: v for k, v in data.items() if v is not None}, "schema file x.toml")


@pytest.mark.parametrize("changes, where, what", [
    ({"titel": "package"}, "titel", "unknown key"),
    ({"fields": {}}, r"\[fields\]", "missing or empty"),
    ({"fields": None}, r"\[fields\]", "missing or empty"),
    ({"fields": {**GOOD["fields"], "size": "number"}}, "fields.size", "unknown type 'number': one of text, string, keyword, integer, float, url, image"),
    ({"fields": {**GOOD["fields"], "size": 3}}, "fields.size", "unknown type 3"),
    ({"fields": {**GOOD["fields"], "2nd": "text"}}, "fields.2nd", "a field name is a letter"),
    ({"fields": {**GOOD["fields"], "limit": "integer"}}, "fields.limit", "one of the API's own parameters"),
    ({"fields": {**GOOD["fields"], "downloads_rank_min": "text"}}, "fields.downloads_rank", "_min= / \\?downloads_rank_max="),
    ({"fields": {"version": "string", "released": "keyword"}, "title": "version", "key": None, "embed": "{version}", "display": None},
     r"\[fields\]", "no text field"),
    ({"title": None}, "title", "missing: name the field people look a record up by"),
    ({"title": "name"}, "title", "'name' is not a field of \\[fields\\]"),
    ({"title": "downloads_rank"}, "title", "is integer: a title is text, string or keyword"),
    ({"key": "name"}, "key", "'name' is not a field"),
    ({"key": "released"}, "key", "may be missing \\(keyword\\?\\): a stable key must be in every record"),
    ({"embed": "{package}: {description}"}, "embed", "uses \\{description\\}, which is not a field"),
    ({"embed": "{package"}, "embed", "is not a valid template"),
    ({"embed": "package and summary"}, "embed", "uses no field"),
    ({"embed": "{downloads_rank:05d}"}, "embed", "formats a field; write it as \\{downloads_rank\\}"),
    ({"collection": "my packages!"}, "collection", "letters, digits, _ or -"),
    ({"display": {"heading": 3}}, "display.heading", "a string"),
    ({"display": {"subtitle": "nope"}}, "display.subtitle", "'nope' is not a field"),
    ({"display": {"image": "summary"}}, "display.image", "is text: the card's image is an image field"),
    ({"display": {"link": "version"}}, "display.link", "is string: the card's link is a url field"),
    ({"display": {"examples": "parse json"}}, "display.examples", "a list of example queries"),
    ({"display": {"colour": "red"}}, "display.colour", "unknown key"),
])
def test_every_rule_is_refused_naming_the_file_the_key_and_the_fix(changes, where, what):
    with pytest.raises(SchemaError, match=rf"^schema file x\.toml: {where}: .*{what}"):
        parse(**changes)


def test_a_good_schema_and_what_the_code_reads_from_it():
    schema = parse()
    assert (schema.collection, schema.title, schema.key, schema.embed) == ("packages", "package", "package", "{package}: {summary}")
    assert schema.text_fields == ("package", "summary") and schema.keywords == ("released",) and schema.ranges == {"downloads_rank": "integer"}
    assert schema.fingerprint() == {"fields": GOOD["fields"], "title": "package", "key": "package"}
    display = schema.describe()["display"]
    assert (display["heading"], display["noun"], display["subtitle"], display["body"], display["image"], display["link"]) == (
        "Package search", "package", "version", "summary", None, None)
    assert parse(embed=None).embed == "{package}. {summary}"  # no embed: the title and every text field


def test_differences_name_each_field():
    schema = parse()
    other = {"fields": {**GOOD["fields"], "released": "string", "size": "integer"}, "title": "package", "key": None}
    assert schema.differences(other) == ["released: keyword? here, string there", "size: absent here, integer there", "key: 'package' here, None there"]
    assert schema.differences(schema.fingerprint()) == []


def test_the_built_in_schema_is_the_tutorials(monkeypatch):
    schema = load_schema()
    assert schema.source == "the built-in startups schema" and BUILT_IN.is_file() and BUILT_IN.is_relative_to(REPO / "handler")
    assert schema.fingerprint() == {"fields": {"name": "text", "images": "image", "alt": "text", "description": "text", "link": "url", "city": "keyword"},
                                    "title": "name", "key": None}
    assert schema.embed == "{name}. {alt}. {description}" and schema.keywords == ("city",) and schema.ranges == {}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist: set SCHEMA_FILE (or --schema) to a TOML file"),
    ("title = [", "is not valid TOML"),
    ("title = \"x\"\n", "[fields]: missing or empty"),
])
def test_a_schema_file_that_cannot_serve_is_named(tmp_path, content, message):
    path = tmp_path / "schema.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SchemaError) as refused:
        load_schema(str(path))
    assert str(refused.value).startswith(f"schema file {path}") and message in str(refused.value)


def test_the_service_stops_on_it_with_exit_2_and_one_line(tmp_path):
    result = run_module("handler", env={"SCHEMA_FILE": str(tmp_path / "nowhere.toml"), "PORT": "0"}, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith(f"error: schema file {tmp_path / 'nowhere.toml'} does not exist")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_file_is_read_once(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('title = "t"\n[fields]\nt = "text"\n')
    assert load_schema(str(path)) is load_schema(str(path)) and load_schema(str(path)).collection == "s"
