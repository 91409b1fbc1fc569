"""The one escaping layer between model names and generated text, one function per context.

Node, tensor and file names come from model files that users download from
anywhere, so they can be anything: ``*/ system("rm -rf /"); /*``, ``int``,
``strlen``, ``input``, a name that is another's name plus ``_bias``, non-ASCII
text. Nothing from a model reaches generated C, C++, Tcl, Make or Verilog
except through these functions, each designed so that no input can leave its
context:

* :func:`identifier`: a fixed prefix (so no keyword, libc, template-local or
  wqrc name can ever be hit), letters, digits and single underscores only, and
  a collision check that also covers the names the backends derive from it
  (``<id>_bias``, ``<id>_cfg``, ...).
* :func:`comment`: a restricted character set that contains no comment
  delimiter, no backslash (line continuation), no ``?`` (trigraphs), no quote,
  brace or ``$``; every other character is written as ``%XX`` bytes of its
  UTF-8 encoding, so the name can still be read back and the text is ASCII.
  Safe in C/C++/Verilog ``//`` and ``/* */`` comments, Tcl and Make ``#``
  comments.
* :func:`c_string`: a C/C++ string literal with three-digit octal escapes for
  every byte outside a small safe set (octal escapes end after three digits,
  unlike ``\\x``), at most :data:`MAX_STRING_BYTES` bytes of the name, so that
  even fully escaped it stays within the 4095 characters ISO C99 guarantees
  (``-Werror=overlength-strings``); where :func:`cut` says a name was cut, the
  C target writes it whole in an escaped comment beside the literal.

Comments are cut too (:data:`MAX_COMMENT`): Icarus Verilog gives up on a
comment line of 20,000 characters.
"""
from __future__ import annotations

import re

# The prefix of every model-derived identifier: C, C++ and Verilog reserve no
# name that starts with it, and neither wqrc's kernels nor the templates use it.
PREFIX = "l_"
# Names the backends derive from a layer's identifier; claimed together with it.
DERIVED_SUFFIXES = ("_bias", "_div_r", "_div_s", "_cfg", "_rom", "_base", "_out", "_t")
MAX_LEN = 48
MAX_STRING_BYTES = 1000    # escaped, at most 4 characters a byte: under C99's 4095
MAX_COMMENT = 1000         # characters of a comment, escapes included

_COMMENT_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;=+()[]<>@&!~^|")
_STRING_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;=+()[]<>@&!~^|#")


def identifier(name: str, used: set[str]) -> str:
    """A unique identifier ``l_<name mangled>`` whose derived names are unique too; claims them in ``used``."""
    base = re.sub(r"[^0-9A-Za-z]+", "_", str(name)).strip("_") or "layer"
    base = (PREFIX + base)[:MAX_LEN].rstrip("_")
    out, k = base, 2
    while out in used or any(out + s in used for s in DERIVED_SUFFIXES):
        out = f"{base}_{k}"
        k += 1
    used.add(out)
    used.update(out + s for s in DERIVED_SUFFIXES)
    return out


def comment(text: str, limit: int | None = MAX_COMMENT) -> str:
    """``text`` as ASCII that cannot end or escape a comment in any generated language; longer than
    ``limit`` characters, its start and how long it was (None: whole, for C, whose compilers take any)."""
    out = []
    for ch in str(text):
        if ch in _COMMENT_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    whole = "".join(out)
    if limit is None or len(whole) <= limit:
        return whole
    start = whole[:limit]
    if "%" in start[-2:]:   # never half an escape
        start = start[:start.rindex("%")]
    return f"{start}... ({len(str(text))} characters)"


def cut(text: str) -> bool:
    """Whether :func:`c_string` shortens ``text``."""
    return len(str(text).encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES


def c_string(text: str) -> str:
    """A C/C++ string literal holding ``text``'s UTF-8 bytes exactly, or its first
    :data:`MAX_STRING_BYTES` bytes (whole characters) and ``...`` when it is longer."""
    data = b""
    for ch in str(text):   # whole characters, as many as fit
        enc = ch.encode("utf-8", "surrogatepass")
        if len(data) + len(enc) > MAX_STRING_BYTES:
            data += b"..."
            break
        data += enc
    out = []
    for b in data:
        ch = chr(b)
        out.append(ch if ch in _STRING_SAFE else f"\\{b:03o}")
    return '"' + "".join(out) + '"'
