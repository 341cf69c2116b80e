"""Records in JSON lines, read against the catalogue's schema (`handler.common.schema`): every line
is a record or a rejected line with its number and the reason (the field and what is wrong with
it); blank lines are neither. The batch jobs and the export's gate read their input with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from handler.common import Schema, load_schema


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


def parse_line(raw: bytes, line_no: int, schema: Schema) -> Record | Rejected | None:
    """One line of a JSON-lines file: a Record, the Rejected reason, or None for a blank line."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Rejected(line_no, f"not valid UTF-8 at byte {exc.start}")
    except json.JSONDecodeError as exc:
        return Rejected(line_no, f"invalid JSON: {exc.msg} at column {exc.colno}")
    reason = schema.problem(data)
    return Rejected(line_no, reason) if reason else Record(line_no, data)


def read_records(path: str | Path, schema: Schema | None = None) -> tuple[list[Record], list[Rejected]]:
    """All records of a JSON-lines file, with every rejected line and its reason (default: the
    built-in startups schema). Blank lines are not records."""
    schema = schema or load_schema()
    good: list[Record] = []
    bad: list[Rejected] = []
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            parsed = parse_line(raw, line_no, schema)
            if isinstance(parsed, Record):
                good.append(parsed)
            elif parsed is not None:
                bad.append(parsed)
    return good, bad
