"""Model text on a terminal: names from model files can hold characters that break a line or
hide (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR, U+0085 NEXT LINE, U+FEFF, control
and format characters), so a one-line message or a table row would no longer be one line or
would show something else. Every such character is written as a visible escape."""
from __future__ import annotations

MAX_NAME = 200   # characters of one name in a table; the report files keep it whole
LOG_WIDTH = 220  # columns of a rich table written to a log or a pipe (not squeezed to 80)


def log_console():
    """A rich Console at the terminal's width, or LOG_WIDTH columns where output goes to a log or a pipe."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=LOG_WIDTH)


def print_line(console, text: str) -> None:
    """One line of plain text (no rich markup), never hard-wrapped: a path or a command in it must
    copy whole from a log, where rich would break it at the console's width."""
    console.print(text, markup=False, soft_wrap=True)


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
