"""ROM image files: .bin, .mem ($readmemh), .coe (Xilinx), .mif (Intel), manifest.json."""
from __future__ import annotations

import json
import os

import numpy as np

from wqrc.pack.rom import Rom


def _hex_words(rom: Rom) -> list[str]:
    digits = rom.word_bits // 4
    return [format(int(w), f"0{digits}x") for w in rom.words]


def write_rom_files(rom: Rom, folder: str, basename: str = "weights") -> list[str]:
    os.makedirs(folder, exist_ok=True)
    path = lambda ext: os.path.join(folder, f"{basename}.{ext}")  # noqa: E731
    words = _hex_words(rom)
    with open(path("bin"), "wb") as fh:
        fh.write(rom.words.astype(f"<u{rom.word_bits // 8}").tobytes())
    with open(path("mem"), "w") as fh:
        fh.write(f"// wqrc weight ROM: {len(words)} words of {rom.word_bits} bits; see manifest.json\n")
        fh.write("".join(w + "\n" for w in words))
    with open(path("coe"), "w") as fh:
        fh.write(f"; wqrc weight ROM: {len(words)} words of {rom.word_bits} bits\n")
        fh.write("memory_initialization_radix=16;\nmemory_initialization_vector=\n")
        fh.write(",\n".join(words or ["0"]) + ";\n")
    with open(path("mif"), "w") as fh:
        fh.write(f"-- wqrc weight ROM\nWIDTH={rom.word_bits};\nDEPTH={max(len(words), 1)};\n")
        fh.write("ADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n")
        fh.write("".join(f"  {i:x} : {w};\n" for i, w in enumerate(words)) or "  0 : 0;\n")
        fh.write("END;\n")
    with open(os.path.join(folder, "manifest.json"), "w") as fh:
        json.dump(rom.manifest(), fh, indent=2)
        fh.write("\n")
    return [path(e) for e in ("bin", "mem", "coe", "mif")] + [os.path.join(folder, "manifest.json")]


def read_bin(path: str, word_bits: int) -> np.ndarray:
    return np.fromfile(path, dtype=f"<u{word_bits // 8}").astype(np.uint64)


def read_mem(path: str) -> np.ndarray:
    with open(path) as fh:
        return np.array([int(l, 16) for l in fh if l.strip() and not l.startswith("//")], np.uint64)
