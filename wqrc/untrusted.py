"""Reading array files that come from anywhere, with every allocation bounded before it is made.

A 6 MB ``.npz`` can declare a 6 GiB array: its deflated zeros cost nothing to
store. ``np.load`` then decompresses the whole member before any schema check
sees it. Here each member's ``.npy`` header (shape and dtype, a few hundred
bytes) is read first and checked against a limit the caller derives from what
the array must be (a layer's code count, a model's output size), and against
a ratio to the bytes the member occupies in the file; only then is it loaded.
"""
from __future__ import annotations

import math
import os
import zipfile
from typing import Callable, Optional

import numpy as np

from wqrc.errors import WqrcError

# An array may take this many bytes in memory however small its file is; beyond it, at most
# COMPRESSION_LIMIT times the bytes it occupies in the file (real data deflates far less).
FREE_BYTES = 256 << 20
COMPRESSION_LIMIT = 64


def npz_members(path: str) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """Each ``.npy`` member's declared (shape, dtype, stored bytes), read without its data."""
    members = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise ValueError(f"npy format version {version}")
                members[info.filename[:-4]] = (tuple(shape), dtype, info.compress_size)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise WqrcError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    return members


def check_member(path: str, name: str, shape: tuple[int, ...], dtype: np.dtype, stored: int,
                 max_elements: Optional[int] = None) -> None:
    """Refuse, in one line, a member whose declared size is more than its caller allows or than its
    file could plausibly hold."""
    if dtype.hasobject:
        raise WqrcError(f"{path}: '{name}' holds Python objects, not numbers")
    n = math.prod(shape)
    if max_elements is not None and n > max_elements:
        raise WqrcError(f"{path}: '{name}' declares {n} elements {shape}; at most {max_elements} belong there")
    nbytes = n * dtype.itemsize
    if nbytes > max(FREE_BYTES, COMPRESSION_LIMIT * stored):
        raise WqrcError(f"{path}: '{name}' declares {nbytes} bytes {shape} in {stored} stored bytes; "
                        f"refused as a decompression bomb")


def load_npz(path: str, limit: Callable[[str], Optional[int]] = lambda name: None,
             names: Optional[Callable[[str], bool]] = None) -> dict[str, np.ndarray]:
    """The members ``names`` selects (all by default), each bounded by ``limit(name)`` elements
    (None: only the compression bound) before it is decompressed."""
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such file")
    members = npz_members(path)
    wanted = [k for k in members if names is None or names(k)]
    for k in wanted:
        check_member(path, k, *members[k], max_elements=limit(k))
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in wanted}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise WqrcError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
