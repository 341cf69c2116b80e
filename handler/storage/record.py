"""A record of the tutorial's startups schema: its fields and the texts made from them.

The one home of these facts: the batch jobs read and validate records with them
(`handler.storage.records`), the storage layer indexes and filters the fields named here, and the
export's gate embeds the same text.

Two texts come from a record: the text its dense vector embeds (`record_text`, from a template)
and the text BM25 indexes (`indexed_text`): the same, with the record's name always in it,
because people look a startup up by its name. The default template embeds the name too:
`python -m scripts.eval_modes` found that meaning queries do not get worse with it (docs/quality.md).
"""

from __future__ import annotations

import string

FIELDS = ("name", "images", "alt", "description", "link", "city")
NAME_FIELD = "name"
CITY_FIELD = "city"  # filtered on (keyword index) and counted (facets)
# Each has a full-text index (Qdrant's word tokenizer, lowercased): text mode puts the records that
# hold every query word, each in one of these fields, first. The name's index also marks a
# collection uploaded since names were indexed (scripts.upload refuses an older one).
TEXT_FIELDS = ("name", "alt", "description")
# The tutorial embeds `alt + ". " + description`; the name in front makes every startup findable by it.
DEFAULT_TEXT_TEMPLATE = "{name}. {alt}. {description}"


def record_text(data: dict, template: str = DEFAULT_TEXT_TEMPLATE) -> str:
    """The text a record is embedded from."""
    return template.format(**{name: data.get(name, "") for name in FIELDS})


def indexed_text(data: dict, template: str = DEFAULT_TEXT_TEMPLATE) -> str:
    """The text a record is BM25-indexed from: its embedded text, with its name in front when the
    template leaves the name out."""
    text = record_text(data, template)
    name = str(data.get(NAME_FIELD) or "").strip()
    uses_name = any(field == NAME_FIELD for _, field, _, _ in string.Formatter().parse(template))
    return text if uses_name or not name else f"{name}. {text}"
