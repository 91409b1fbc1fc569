"""What both RTL forms (wqrc/backend/rtl.py, one engine per layer, and wqrc/backend/rtl_seq.py,
the descriptor-driven engines) share: the files their Makefile builds, the ROM image they quote,
the output stream's format and what it carries, and the small helpers that write .mem files."""
from __future__ import annotations

import numpy as np

from wqrc.backend.common import extra_outputs
from wqrc.quant.qmodel import QModel

# What the written Makefile builds (`make clean`); a later --force may remove these with the output.
BUILD_PRODUCTS = ("obj_dir", "obj_dir_axis", "tb.vvp", "tb_axis.vvp", "sim.log", "sim_axis.log", "sim.json", "sim_out.txt", "trace.txt", "verilator.log", "*.asc",
                  "ice40.json", "ecp5.json", "stat_*.json", "nextpnr_ice40.*", "nextpnr_ecp5.*", "nextpnr_icebreaker.*", "*.bin", "yosys_*.log")
ROM_FILE = "../rom/weights.mem"   # the packer's image, next to rtl/ in OUT, which the hardware reads
UNLOAD_CYCLES = 3   # per output element with the consumer always ready: fetch, read, beat


def clog2(n: int) -> int:
    return max(1, (max(n, 1) - 1).bit_length())


def hex_words(values, bits: int) -> list[str]:
    digits = -(-bits // 4)
    mask = (1 << bits) - 1
    return [format(int(v) & mask, f"0{digits}x") for v in values]


def output_stream(qm: QModel) -> tuple[int, bool]:
    """The output stream's width and signedness: every graph output's values fit it (an unsigned
    one beside signed ones gets a bit more); the outputs go one after another (docs/targets.md)."""
    fmts = [qm.formats[t] for t in qm.outputs]
    signed = any(f.signed for f in fmts)
    return max(f.bits + int(signed and not f.signed) for f in fmts), signed


def unloaded(qm: QModel, xin: np.ndarray, first: np.ndarray) -> np.ndarray:
    """What the output stream carries per sample: the first output (``first``, already simulated),
    then each further one, in C order; (samples, elements)."""
    from wqrc.sim.simulator import one_after_another
    return one_after_another([first] + [np.asarray(o["vec"], dtype=np.int64) for o in extra_outputs(qm, xin)],
                             len(xin))


def write_lines(folder: str, name: str, lines: list[str]) -> None:
    with open(f"{folder}/{name}", "w") as fh:
        fh.write("".join(line + "\n" for line in lines))
