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
  unlike ``\\x``).
"""
from __future__ import annotations

import re

# The prefix of every model-derived identifier: C, C++ and Verilog reserve no
# name that starts with it, and neither wqrc's kernels nor the templates use it.
PREFIX = "l_"
# Names the backends derive from a layer's identifier; claimed together with it.
DERIVED_SUFFIXES = ("_bias", "_div_r", "_div_s", "_cfg", "_rom", "_base", "_out", "_t")
MAX_LEN = 48

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


def comment(text: str) -> str:
    """``text`` as ASCII that cannot end or escape a comment in any generated language."""
    out = []
    for ch in str(text):
        if ch in _COMMENT_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def c_string(text: str) -> str:
    """A C/C++ string literal holding ``text``'s UTF-8 bytes exactly."""
    out = []
    for b in str(text).encode("utf-8", "surrogatepass"):
        ch = chr(b)
        out.append(ch if ch in _STRING_SAFE else f"\\{b:03o}")
    return '"' + "".join(out) + '"'
