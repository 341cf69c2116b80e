"""A record of the tutorial's startups schema: its fields and the text made from them.

The one home of these facts: the batch jobs read and validate records with them
(scripts/records.py), the storage layer indexes and filters the fields named here, and the
export's gate embeds the same text.
"""

from __future__ import annotations

FIELDS = ("name", "images", "alt", "description", "link", "city")
CITY_FIELD = "city"  # filtered on (keyword index) and counted (facets)
TEXT_FIELD = "description"  # matched word by word in text mode (full-text index)
# The tutorial embeds `alt + ". " + description`.
DEFAULT_TEXT_TEMPLATE = "{alt}. {description}"


def record_text(data: dict, template: str = DEFAULT_TEXT_TEMPLATE) -> str:
    """The text a record is embedded (and BM25-indexed) from."""
    return template.format(**{name: data.get(name, "") for name in FIELDS})
