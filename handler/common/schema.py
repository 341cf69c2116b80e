"""The catalogue's schema: what a record holds, which text its dense vector embeds, which fields
are searched, filtered, counted and shown. One TOML file (docs/schema.md describes every key), given
as SCHEMA_FILE or `--schema`; the tutorial's startups schema is built in (`startups.toml` beside this
module) and is the default.

    collection = "packages"          # the default collection name (COLLECTION_NAME overrides)
    key = "package"                  # optional: a field holding a stable unique key; point ids come from it
    title = "package"                # what people look a record up by: BM25- and full-text indexed, the card's heading
    embed = "{package}: {summary}"   # the text the dense vector embeds (fields of [fields] only)

    [fields]                         # every field a record has; a type ending in "?" may be null or missing
    package = "text"
    released = "keyword?"
    downloads_rank = "integer?"

    [display]                        # optional: what the page shows where
    body = "summary"

A schema that cannot serve is refused when it is read (SchemaError: the file, the key and the fix);
a record that does not fit is refused with the field and what is wrong with it (`Schema.problem`).
"""

from __future__ import annotations

import json
import math
import re
import string
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from handler.common.errors import SchemaError
from handler.common.text import normalize

BUILT_IN = Path(__file__).resolve().parent / "startups.toml"
# type -> what it is for (docs/schema.md says the same, at length)
TYPES = {
    "text": "stored, shown, full-text indexed (text mode) and in the BM25 text",
    "string": "stored and shown only",
    "keyword": "an exact-value filter (?field=value, repeatable) and facet counts; case and surrounding spaces ignored",
    "integer": "a range filter (?field_min= / ?field_max=, inclusive)",
    "float": "a range filter (?field_min= / ?field_max=, inclusive)",
    "url": "a link, stored and shown",
    "image": "an image URL, stored and shown",
}
STRINGS = ("text", "string", "keyword", "url", "image")  # types whose values are strings
NUMBERS = ("integer", "float")
TOP_KEYS = ("collection", "key", "title", "embed", "fields", "display")
DISPLAY_KEYS = {
    "heading": "the page's heading",
    "tagline": "the line under the heading",
    "noun": "what one record is called, in the singular (\"startup\", \"package\")",
    "placeholder": "the search box's example text",
    "examples": "example queries the page offers (a list of strings)",
    "subtitle": "the field shown under a card's title",
    "body": "the field shown as a card's text",
    "image": "an image field shown on each card",
    "link": "a url field each card links to",
}
# Query parameters of the API: no field may take their name.
RESERVED = ("q", "limit", "offset", "mode", "neural", "id")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
FOLDED = "_folded"  # the payload key holding each keyword's folded copy (filters match it; facets count the stored spelling)
TITLE_KEY = "_title"  # under FOLDED: the title's key (no field can take the name: field names begin with a letter)
_NOT_ALNUM = re.compile(r"[\W_]+")


def fold(value: str) -> str:
    """A keyword as filters compare it: the text rule (control characters out, whitespace collapsed
    and trimmed), then case folded. `London`, ` london ` and `LONDON` are one value."""
    return normalize(value).casefold()


def title_key(value: str) -> str:
    """A title as an exact-title lookup compares it: case folded, every space and punctuation mark
    (`@ / - _ .`) gone. `types-requests`, `Types Requests` and `types_requests` are one title."""
    return _NOT_ALNUM.sub("", normalize(value).casefold())


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    optional: bool = False

    @property
    def declared(self) -> str:
        return self.type + ("?" if self.optional else "")


@dataclass(frozen=True)
class Schema:
    collection: str
    title: str
    embed: str
    fields: tuple[Field, ...]
    key: str | None = None
    display: dict = field(default_factory=dict, compare=False, hash=False)
    source: str = "the built-in startups schema"

    # -- what the rest of the code asks --------------------------------------------------------------
    def of_type(self, *types: str) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.type in types)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def text_fields(self) -> tuple[str, ...]:
        """Full-text indexed (text mode): every text field, and the title whatever its type."""
        return tuple(dict.fromkeys((self.title, *self.of_type("text"))))

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.of_type("keyword")

    @property
    def ranges(self) -> dict[str, str]:
        """Numeric fields and their type."""
        return {f.name: f.type for f in self.fields if f.type in NUMBERS}

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def template_fields(self, template: str | None = None) -> list[str]:
        return placeholders(template or self.embed)

    def with_template(self, template: str | None) -> "Schema":
        """This schema embedding another text (scripts' --text-template); checked like `embed`."""
        if not template or template == self.embed:
            return self
        check_template(template, self.names, f"--text-template '{template}'")
        return replace(self, embed=template)

    def with_key(self, key: str | None) -> "Schema":
        """This schema with another stable key (scripts' --id-field)."""
        if not key or key == self.key:
            return self
        if key not in self.names:
            raise SchemaError(f"--id-field {key}: {self.source} has no field '{key}' (fields: {', '.join(self.names)})")
        return replace(self, key=key)

    # -- records -------------------------------------------------------------------------------------
    def problem(self, record: object) -> str | None:
        """Why a record does not fit (the field and what is wrong with it); None when it does."""
        if not isinstance(record, dict):
            return f"expected a JSON object, got {type(record).__name__}"
        missing = [f.name for f in self.fields if not f.optional and f.name not in record]
        if missing:
            return f"missing field(s): {', '.join(missing)}"
        for f in self.fields:
            value = record.get(f.name)
            if value is None:
                if f.name in record and not f.optional:
                    return f"field '{f.name}' is null, but it is required (declare it \"{f.type}?\" to allow null)"
                continue
            wrong = _wrong_type(f, value)
            if wrong:
                return wrong
        embedded = self.template_fields()
        if not any(str(record.get(name) or "").strip() for name in embedded):
            return f"nothing to embed: field(s) {', '.join(embedded)} are all empty"
        return None

    def embed_text(self, record: dict) -> str:
        """The text a record's dense vector embeds (a missing or null field is empty)."""
        return self.embed.format(**{name: _shown(record.get(name)) for name in self.names})

    def indexed_text(self, record: dict) -> str:
        """The text BM25 indexes: the embedded text, with every text field it leaves out (the title
        first) in front, so that a record is always found by its title's words."""
        used = set(self.template_fields())
        left_out = [_shown(record.get(name)).strip() for name in self.text_fields if name not in used]
        return ". ".join([part for part in left_out if part] + [self.embed_text(record)])

    def payload(self, record: dict) -> dict:
        """What the store keeps of a record: the record, each keyword's folded copy (what filters
        match; an empty value counts as missing) and its title's key (what exact-title lookups match)."""
        folded = {name: fold(record[name]) for name in self.keywords if isinstance(record.get(name), str) and fold(record[name])}
        key = title_key(_shown(record.get(self.title)))
        if key:
            folded[TITLE_KEY] = key
        return {**record, FOLDED: folded} if folded else dict(record)

    # -- comparing two schemas -----------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """What a collection or an artifact built with this schema must agree on: the fields and
        their types, the title and the key (a changed `embed` only means re-embedding)."""
        return {"fields": {f.name: f.declared for f in self.fields}, "title": self.title, "key": self.key}

    def differences(self, other: dict, *, key: bool = True) -> list[str]:
        """How a fingerprint (another schema's) differs from this one, field by field, in words
        (`key=False`: not the key, which decides point ids but no text or vector)."""
        mine, theirs = self.fingerprint(), other or {}
        found = []
        ours_f, their_f = mine["fields"], theirs.get("fields") or {}
        for name in sorted(set(ours_f) | set(their_f)):
            if ours_f.get(name) != their_f.get(name):
                found.append(f"{name}: {ours_f.get(name) or 'absent'} here, {their_f.get(name) or 'absent'} there")
        for name in ("title", "key") if key else ("title",):
            if mine[name] != theirs.get(name):
                found.append(f"{name}: {mine[name]!r} here, {theirs.get(name)!r} there")
        return found

    def describe(self) -> dict:
        """The schema as the page and the API's documentation read it."""
        shown = {**default_display(self), **self.display}
        return {"collection": self.collection, "title": self.title, "key": self.key, "fields": {f.name: f.declared for f in self.fields},
                "keywords": list(self.keywords), "ranges": self.ranges, "display": shown}


def _shown(value) -> str:
    return "" if value is None else str(value)


def _wrong_type(f: Field, value) -> str | None:
    if f.type in STRINGS:
        ok, wanted = isinstance(value, str), f"a string ({f.type})"
    elif f.type == "integer":
        ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
    else:
        ok, wanted = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), "a finite number (float)"
    if ok:
        return None
    preview = json.dumps(value, ensure_ascii=False)  # only for the message: every field of every line passes here
    preview = preview if len(preview) <= 40 else preview[:40] + "…"
    return f"field '{f.name}' must be {wanted}, got {type(value).__name__} {preview}"


def placeholders(template: str) -> list[str]:
    """The field names a template uses, in order (ValueError for a broken template)."""
    return list(_placeholders(template))


@lru_cache(maxsize=64)
def _placeholders(template: str) -> tuple[str, ...]:  # asked for each record of a catalogue: parsed once
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name is not None)


def check_template(template: str, names, where: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SchemaError(f"{where}: is not a valid template: {exc} (write fields as {{name}}; a literal brace as {{{{ or }}}})") from None
    used = [name for _, name, _, _ in parts if name is not None]
    if not used:
        raise SchemaError(f"{where}: uses no field: write the fields to embed as {{name}}, for example \"{{{next(iter(names), 'title')}}}\"")
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in names:
            raise SchemaError(f"{where}: uses {{{name}}}, which is not a field of [fields] ({', '.join(names)})")
        if spec or conversion:
            raise SchemaError(f"{where}: {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} formats a field; write it as {{{name}}}")


def default_display(schema: Schema) -> dict:
    """What the page shows where the schema's [display] says nothing."""
    body = next((n for n in schema.of_type("text") if n != schema.title), None)
    images, links = schema.of_type("image"), schema.of_type("url")
    noun = schema.collection[:-1] if schema.collection.endswith("s") else schema.collection
    return {"heading": f"{noun.capitalize()} search", "tagline": "", "noun": noun, "placeholder": "", "examples": [],
            "subtitle": None, "body": body, "image": images[0] if images else None, "link": links[0] if links else None}


# -- reading a schema file ----------------------------------------------------------------------------
@lru_cache(maxsize=8)
def load_schema(path: str = "") -> Schema:
    """The schema in `path` (TOML), or the built-in startups schema for ''. Read once per path."""
    file = Path(path).expanduser() if path else BUILT_IN
    source = f"schema file {file}" if path else "the built-in startups schema"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{source} does not exist: set SCHEMA_FILE (or --schema) to a TOML file (docs/schema.md), or unset it for the startups schema") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read {source}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{source} is not valid TOML: {exc}") from None
    return parse_schema(data, source, default_collection=re.sub(r"[^A-Za-z0-9_-]", "_", file.stem))


def parse_schema(data: dict, source: str, default_collection: str = "documents") -> Schema:
    """A schema from its TOML table, every rule checked; SchemaError names the key and the fix."""

    def refuse(where: str, what: str):
        raise SchemaError(f"{source}: {where}: {what}")

    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        refuse(unknown[0], f"unknown key (a schema has {', '.join(TOP_KEYS)}); fields go under [fields]")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        refuse("[fields]", "missing or empty: declare every field a record has, for example name = \"text\"")
    fields = []
    for name, declared in raw_fields.items():
        where = f"fields.{name}"
        if not NAME.fullmatch(name):
            refuse(where, "a field name is a letter, then letters, digits or _ (at most 64): it is a query parameter and a {placeholder}")
        if name in RESERVED:
            refuse(where, f"'{name}' is one of the API's own parameters ({', '.join(RESERVED)}): rename the field")
        if not isinstance(declared, str) or declared.rstrip("?") not in TYPES:
            refuse(where, f"unknown type {declared!r}: one of {', '.join(TYPES)}, with \"?\" at the end when the field may be null or missing")
        fields.append(Field(name, declared.rstrip("?"), declared.endswith("?")))
    names = [f.name for f in fields]
    types = {f.name: f for f in fields}
    for f in fields:
        if f.type in NUMBERS and {f"{f.name}_min", f"{f.name}_max"} & set(names):
            refuse(f"fields.{f.name}", f"its range filter is ?{f.name}_min= / ?{f.name}_max=, and a field takes one of those names: rename one")
    if not any(f.type == "text" for f in fields):
        refuse("[fields]", "no text field: declare at least one field as \"text\" (it is what BM25 and text mode read)")
    collection = data.get("collection", default_collection)
    if not isinstance(collection, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", collection):
        refuse("collection", "a collection name is letters, digits, _ or - (for example collection = \"packages\")")
    title = data.get("title")
    if title is None:
        refuse("title", f"missing: name the field people look a record up by, for example title = \"{next(f.name for f in fields if f.type == 'text')}\"")
    if title not in types:
        refuse("title", f"'{title}' is not a field of [fields] ({', '.join(names)})")
    if types[title].type not in ("text", "string", "keyword"):
        refuse("title", f"'{title}' is {types[title].type}: a title is text, string or keyword")
    key = data.get("key")
    if key is not None:
        if key not in types:
            refuse("key", f"'{key}' is not a field of [fields] ({', '.join(names)})")
        if types[key].optional:
            refuse("key", f"'{key}' may be missing ({types[key].declared}): a stable key must be in every record (drop the \"?\")")
        if types[key].type not in ("text", "string", "keyword", "integer"):
            refuse("key", f"'{key}' is {types[key].type}: a key is a string or an integer")
    embed = data.get("embed") or ". ".join(f"{{{name}}}" for name in dict.fromkeys((title, *(f.name for f in fields if f.type == "text"))))
    if not isinstance(embed, str):
        refuse("embed", "a template string, for example embed = \"{title}: {summary}\"")
    check_template(embed, names, f"{source}: embed")
    display = data.get("display", {})
    if not isinstance(display, dict):
        refuse("display", "a table: [display] with subtitle = \"field\", body = \"field\", ...")
    for name, value in display.items():
        where = f"display.{name}"
        if name not in DISPLAY_KEYS:
            refuse(where, f"unknown key (display has {', '.join(DISPLAY_KEYS)})")
        if name in ("subtitle", "body", "image", "link"):
            if value not in types:
                refuse(where, f"'{value}' is not a field of [fields] ({', '.join(names)})")
            if name == "image" and types[value].type != "image":
                refuse(where, f"'{value}' is {types[value].type}: the card's image is an image field")
            if name == "link" and types[value].type != "url":
                refuse(where, f"'{value}' is {types[value].type}: the card's link is a url field")
        elif name == "examples":
            if not (isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)):
                refuse(where, "a list of example queries, for example examples = [\"parse command line arguments\"]")
        elif not isinstance(value, str):
            refuse(where, "a string")
    return Schema(collection, title, embed, tuple(fields), key, dict(display), source)
