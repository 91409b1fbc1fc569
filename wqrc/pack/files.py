"""ROM image files: .bin, .mem ($readmemh), .coe (Xilinx), .mif (Intel), manifest.json."""
from __future__ import annotations

import json
import os

import numpy as np

from wqrc.pack.rom import Rom


def _hex_lines(rom: Rom, chunk: int = 1 << 16):
    """The words as fixed-width hex, in chunks of lines built in bulk (a ResNet-18 has millions
    of words: a Python string per word cost hundreds of MB)."""
    big = rom.words.astype(f">u{rom.word_bits // 8}")
    digits = rom.word_bits // 4
    for i in range(0, len(big), chunk):
        yield np.frombuffer(big[i:i + chunk].tobytes().hex().encode(), dtype=f"S{digits}")


def write_rom_files(rom: Rom, folder: str, basename: str = "weights") -> list[str]:
    os.makedirs(folder, exist_ok=True)
    path = lambda ext: os.path.join(folder, f"{basename}.{ext}")  # noqa: E731
    n = len(rom.words)
    with open(path("bin"), "wb") as fh:
        fh.write(rom.words.astype(f"<u{rom.word_bits // 8}").tobytes())
    with open(path("mem"), "wb") as fh:
        fh.write(f"// wqrc weight ROM: {n} words of {rom.word_bits} bits; see manifest.json\n".encode())
        for part in _hex_lines(rom):
            fh.write(b"\n".join(part) + b"\n")
    with open(path("coe"), "wb") as fh:
        fh.write(f"; wqrc weight ROM: {n} words of {rom.word_bits} bits\n".encode())
        fh.write(b"memory_initialization_radix=16;\nmemory_initialization_vector=\n")
        if n == 0:
            fh.write(b"0;\n")
        for k, part in enumerate(_hex_lines(rom)):
            last = (k + 1) * (1 << 16) >= n
            fh.write(b",\n".join(part) + (b";\n" if last else b",\n"))
    with open(path("mif"), "wb") as fh:
        fh.write(f"-- wqrc weight ROM\nWIDTH={rom.word_bits};\nDEPTH={max(n, 1)};\n".encode())
        fh.write(b"ADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n")
        if n == 0:
            fh.write(b"  0 : 0;\n")
        i = 0
        for part in _hex_lines(rom):
            fh.write("".join(f"  {i + j:x} : {w};\n" for j, w in enumerate(part.astype(str))).encode())
            i += len(part)
        fh.write(b"END;\n")
    with open(os.path.join(folder, "manifest.json"), "w") as fh:
        json.dump(rom.manifest(), fh, indent=2)
        fh.write("\n")
    return [path(e) for e in ("bin", "mem", "coe", "mif")] + [os.path.join(folder, "manifest.json")]


def read_bin(path: str, word_bits: int) -> np.ndarray:
    return np.fromfile(path, dtype=f"<u{word_bits // 8}").astype(np.uint64)


def read_mem(path: str) -> np.ndarray:
    with open(path) as fh:
        return np.array([int(l, 16) for l in fh if l.strip() and not l.startswith("//")], np.uint64)
