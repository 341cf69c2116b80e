"""Records in the tutorial's startups schema (`handler.storage.record`): reading JSON lines,
validating them. The batch jobs and the export's gate read their input with it."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

from handler.common import TemplateError
from handler.storage.record import DEFAULT_TEXT_TEMPLATE, FIELDS


@dataclass(frozen=True)
class Rejected:
    line: int  # 1-based line number in the input file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line number: the record's stable position in its file
    data: dict


def template_fields(template: str) -> list[str]:
    """The fields a text template uses; a clear error for an unknown one or a broken template."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise TemplateError(f"text template '{template}' is not valid: {exc}") from exc
    unknown = [name for name in names if name not in FIELDS]
    if not names or unknown:
        raise TemplateError(
            f"text template '{template}' must use fields among {', '.join(FIELDS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return names


def validate(data: object, text_fields: list[str]) -> str | None:
    """None when the record is usable, else the reason (field and what is wrong with it)."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    missing = [name for name in FIELDS if name not in data]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    for name in FIELDS:
        if not isinstance(data[name], str):
            return f"field '{name}' must be a string, got {type(data[name]).__name__}"
    if not any(data[name].strip() for name in text_fields):
        return f"nothing to embed: field(s) {', '.join(text_fields)} are all empty"
    return None


def parse_line(raw: bytes, line_no: int, text_fields: list[str]) -> Record | Rejected | None:
    """One line of a JSON-lines file: a Record, the Rejected reason, or None for a blank line."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Rejected(line_no, f"not valid UTF-8 at byte {exc.start}")
    except json.JSONDecodeError as exc:
        return Rejected(line_no, f"invalid JSON: {exc.msg} at column {exc.colno}")
    reason = validate(data, text_fields)
    return Rejected(line_no, reason) if reason else Record(line_no, data)


def read_records(path: str | Path, template: str = DEFAULT_TEXT_TEMPLATE) -> tuple[list[Record], list[Rejected]]:
    """All records of a JSON-lines file, with every rejected line and its reason. Blank lines are not records."""
    text_fields = template_fields(template)
    good: list[Record] = []
    bad: list[Rejected] = []
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            parsed = parse_line(raw, line_no, text_fields)
            if isinstance(parsed, Record):
                good.append(parsed)
            elif parsed is not None:
                bad.append(parsed)
    return good, bad
