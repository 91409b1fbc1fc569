"""Model names -> safe C/C++ identifiers, comments and string literals.

Node names come from the model file and can be anything (``x; system("rm -rf /"); //``,
``int``, ``*/``). Nothing from the model is pasted into generated code unescaped.
"""
from __future__ import annotations

import re

C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Bool _Complex _Imaginary alignas alignof and asm bool catch class constexpr const_cast
decltype delete dynamic_cast explicit export false friend mutable namespace new noexcept not nullptr operator
or private protected public reinterpret_cast static_assert static_cast template this thread_local throw true
try typeid typename using virtual wchar_t xor main""".split())


def identifier(name: str, used: set[str], prefix: str = "") -> str:
    """A unique identifier of letters, digits and '_', never a keyword or reserved name."""
    base = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "layer"
    base = re.sub(r"_+", "_", base)
    if base[0].isdigit() or base in C_KEYWORDS or base.startswith(("wqrc", "WQRC")):
        base = "l_" + base
    base = (prefix + base)[:48]
    out, k = base, 2
    while out in used:
        out = f"{base}_{k}"
        k += 1
    used.add(out)
    return out


def comment(text: str) -> str:
    """Text safe inside a /* */ or // comment: printable ASCII, no comment delimiters."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text))
    return text.replace("*/", "* /").replace("/*", "/ *").replace("\\", "/")


def c_string(text: str) -> str:
    """A C string literal for ``text`` (octal escapes for anything unusual, no trigraphs)."""
    out = []
    for b in str(text).encode("utf-8"):
        ch = chr(b)
        if ch.isalnum() or ch in " _-.:/,()[]+=<>#@!%&*;":
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'
