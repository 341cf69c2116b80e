"""One way to shorten a value a client chose (a path, a header, a parameter) before it goes into a
log line or an error body: never the whole input, and always how much was left out."""

from __future__ import annotations

MAX_VALUE = 200  # characters of one value, unless the caller says otherwise


def cut(value, limit: int = MAX_VALUE):
    """A string at most `limit` characters long, saying how much was left out; other values as they are."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...(+{len(value) - limit} chars)"
    return value
