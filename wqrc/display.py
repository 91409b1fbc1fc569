"""Model text on a terminal: names from model files can hold characters that break a line or
hide (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR, U+0085 NEXT LINE, U+FEFF, control
and format characters), so a one-line message or a table row would no longer be one line or
would show something else. Every such character is written as a visible escape."""
from __future__ import annotations

MAX_NAME = 200   # characters of one name in a table; the report files keep it whole


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every non-printable character as ``\\uXXXX`` (``\\xXX`` below 256), cut to
    ``limit`` characters with a note of the whole length."""
    text = str(text)
    out = "".join(ch if ch.isprintable() else (f"\\x{ord(ch):02x}" if ord(ch) < 256 else
                                               f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
                  for ch in text)
    if limit is not None and len(out) > limit:
        return f"{out[:limit]}... ({len(text)} characters)"
    return out
