"""The two texts of a record of the built-in startups schema, for code that reads the tutorial's
records without a schema of its own (the export's gate and calibration, the benchmarks). Any other
catalogue asks its `Schema` (`embed_text`, `indexed_text`)."""

from __future__ import annotations

from handler.common import load_schema

DEFAULT_TEXT_TEMPLATE = load_schema().embed  # "{name}. {alt}. {description}"


def record_text(data: dict, template: str | None = None) -> str:
    """The text a startups record is embedded from (its schema's `embed`, or `template`)."""
    return load_schema().with_template(template).embed_text(data)


def indexed_text(data: dict, template: str | None = None) -> str:
    """The text a startups record is BM25-indexed from: the embedded text, the name in front when the template leaves it out."""
    return load_schema().with_template(template).indexed_text(data)
