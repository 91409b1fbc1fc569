"""wqrc: weight quantization (DFP, power-of-two) compiled to bit-exact hardware code.

The public names are imported on first use (PEP 562), so that ``import wqrc.cli``
and ``wqrc --help`` load neither torch nor onnxruntime.
"""
from __future__ import annotations

import importlib

from wqrc.errors import WqrcError  # noqa: F401 (public)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "from_torch": "wqrc.api",
    "load_model": "wqrc.api",
    "quantize": "wqrc.api",
    "QModel": "wqrc.quant.qmodel",
    "simulate": "wqrc.sim",
    "simulate_float": "wqrc.sim",
    "simulate_outputs": "wqrc.sim",
    "QuantRegularizer": "wqrc.train.regularizers",
}
__all__ = sorted([*_LAZY, "WqrcError"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wqrc' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
