"""What every code backend shares: templates and kernels, element types, test vectors."""
from __future__ import annotations

import os
from importlib import resources
from typing import Iterable, Optional

import jinja2
import numpy as np

from wqrc.contract.formats import TensorFormat
from wqrc.pack.rom import Rom
from wqrc.quant.qmodel import QModel
from wqrc.backend import names
from wqrc.sim import simulate, simulate_outputs


def environment(subdir: str, package: str = "wqrc.templates") -> jinja2.Environment:
    """The Jinja environment of one target's templates (``templates/<subdir>``, shipped as
    ``wqrc.templates``: found through importlib in a wheel and in the source tree alike), or
    of hand-written kernels with type placeholders (``package="wqrc.hw"``, ``hw/<subdir>``)."""
    return jinja2.Environment(loader=jinja2.PackageLoader(package, subdir),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def render_files(env: jinja2.Environment, pairs: Iterable[tuple[str, str]], folder: str, args: dict) -> None:
    """Render each (template, output path relative to ``folder``) with the same arguments."""
    for template, out in pairs:
        path = os.path.join(folder, out)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(env.get_template(template).render(**args))


def copy_kernels(subdir: str, names: Iterable[str], folder: str) -> None:
    """Copy hand-written kernels from ``hw/<subdir>`` (shipped as ``wqrc.hw``) into ``folder``."""
    src = resources.files("wqrc.hw").joinpath(subdir)
    for name in names:
        data = src.joinpath(name).read_bytes()
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)


def ctype(fmt: TensorFormat) -> str:
    width = next(w for w in (8, 16, 32) if fmt.bits <= w)
    return f"{'int' if fmt.signed else 'uint'}{width}_t"


def short(fmt: TensorFormat) -> str:
    width = next(w for w in (8, 16, 32) if fmt.bits <= w)
    return f"{'s' if fmt.signed else 'u'}{width}"


def test_vectors(qm: QModel, n: int, x: Optional[np.ndarray] = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (integer codes) and the simulator's outputs: all-max, all-min, then data or random samples."""
    f = qm.input_format
    shape = tuple(qm.input_shape)
    rng = np.random.default_rng(seed)
    rows = [np.full(shape, f.qmax), np.full(shape, f.qmin)]
    if x is not None and len(x):
        rows += list(qm.quantize_input(x[: max(0, n - 2)]))
    while len(rows) < n:
        rows.append(rng.integers(f.qmin, f.qmax + 1, shape))
    xin = np.stack(rows[:max(n, 1)]).astype(np.int64)
    return xin, simulate(qm, xin).reshape(len(xin), -1)


def extra_outputs(qm: QModel, xin: np.ndarray) -> list[dict]:
    """The further graph outputs (k = 1, 2, ...) with the simulator's values on the test inputs
    ``xin``: what the C and HLS test benches compare besides the first output."""
    if not qm.extra_outputs:
        return []
    ys = simulate_outputs(qm, xin)[1:]
    return [dict(k=k, tensor=t, about=names.comment(t), shape=qm.shapes[t], fmt=qm.formats[t],
                 size=int(np.prod(qm.shapes[t])), vec=y.reshape(len(xin), -1).tolist())
            for k, (t, y) in enumerate(zip(qm.extra_outputs, ys), start=1)]


def c_int(v: int, bits: int = 64) -> str:
    return f"INT{bits}_C({int(v)})"


def read_ports(bits: int, word_bits: int) -> tuple[int, int]:
    """(words one code read touches, the tap loop's II): a lane ROM is rom_1p when no code
    straddles words (b divides the word width), rom_2p when codes may straddle two; codes
    wider than words may touch three, which two ports serve in two cycles."""
    if bits <= word_bits and word_bits % bits == 0:
        return 1, 1
    wpc = -(-bits // word_bits) + 1
    return wpc, -(-wpc // 2)


def lane_roms(rom: Rom, seg, bits: int, fan: int, out_c: int, lanes: int) -> dict:
    """Each lane's slice of a segment's packed words, for the HLS and RTL targets' lanes: lane p
    computes output channels p*OCL .. p*OCL + OCL - 1 (OCL = ceil(out_c / lanes)), whose codes are
    one bit range of the segment; its slice is the words that range touches (the packer's words,
    unchanged; a word at a boundary is in both lanes' slices; all slices padded with zero words
    to one length), ``first`` and ``count`` their place in the ROM image, and ``base`` the range's
    first bit in the slice's first word."""
    words = rom.words[seg.word_offset: seg.word_offset + seg.word_count]
    wb, ocl = rom.word_bits, -(-out_c // lanes)
    roms, base, first = [], [], []
    for p in range(lanes):
        start, end = min(p * ocl, out_c) * fan * bits, min((p + 1) * ocl, out_c) * fan * bits
        roms.append(words[start // wb: -(-end // wb)])
        base.append(start % wb)
        first.append(seg.word_offset + start // wb)
    n = max(1, max(len(r) for r in roms))
    return dict(roms=[list(r) + [0] * (n - len(r)) for r in roms], base=base, first=first,
                count=[len(r) for r in roms], words=n)
