"""One rule for the text users send (`q`, `city`), applied before validation:

1. remove control characters (other than whitespace), format characters (zero-width space, BOM,
   bidi marks, soft hyphen, ...) and U+FFFD, which is what invalid UTF-8 decodes to;
2. collapse every run of Unicode whitespace (tabs, newlines, NBSP, ideographic space, ...) to one
   space, and trim the ends.

A value that is empty after this is blank: `q` is then refused (422), `city` means "no filter".
The characters of step 1 are listed below as ranges (computing them from `unicodedata` at import
would cost a third of a second of cold start); a test checks the list against the running
Python's Unicode database.
"""

from __future__ import annotations

import re

# Cc (but whitespace), Cf and U+FFFD, as code point ranges: Unicode 14 (Python 3.11) plus the
# format controls that Unicode 15 (Python 3.12, the Lambda runtime) added.
REMOVED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0008), (0x000E, 0x001B), (0x007F, 0x0084), (0x0086, 0x009F), (0x00AD, 0x00AD),
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0xFFFD, 0xFFFD), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
# What Python's str.split() splits on (str.isspace), for the OpenAPI pattern below.
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

_CLASS = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in REMOVED_RANGES)
_REMOVE = re.compile(f"[{_CLASS}]")
# "Not blank" for the OpenAPI schema: at least one character the rule keeps.
NOT_BLANK_PATTERN = f"[^{_CLASS}{re.escape(WHITESPACE)}]"


def normalize(text: str) -> str:
    """The rule above."""
    return " ".join(_REMOVE.sub("", text).split())

