"""The compile driver: QModel -> an output folder with the targets asked for.

OUT/ model.wqrc.npz (the simulator's model), report.json, rom/, c/, hls/.
Everything is written into a temporary folder that replaces OUT only on
success, and contains no timestamps or absolute paths, so the same inputs
give byte-identical outputs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Optional, Sequence

import numpy as np

from wqrc.errors import WqrcError
from wqrc.outputs import atomic_dir
from wqrc.pack import pack, write_rom_files
from wqrc.quant.qmodel import QModel
from wqrc.report import build_report

TARGETS = ("c", "rom", "hls")


def parse_targets(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        for t in v.split(","):
            t = t.strip()
            if t == "all":
                out += list(TARGETS)
            elif t in TARGETS:
                out.append(t)
            else:
                raise WqrcError(f"--target: unknown target '{t}' (use c, rom, hls or all)")
    return [t for t in TARGETS if t in out]


def mcu_size(c_folder: str) -> Optional[dict]:
    """Flash and RAM of the model's objects for Cortex-M4, when arm-none-eabi-gcc is installed."""
    if not shutil.which("arm-none-eabi-gcc") or not shutil.which("arm-none-eabi-size"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        objs = []
        for src in ("wqrc_model.c", "wqrc_weights.c"):
            obj = os.path.join(tmp, src.replace(".c", ".o"))
            res = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-O2",
                                  "-ffunction-sections", "-fdata-sections", "-c", src, "-o", obj],
                                 cwd=c_folder, capture_output=True, text=True)
            if res.returncode:
                raise WqrcError(f"arm-none-eabi-gcc failed on the generated {src}: {res.stderr.strip()[:300]}")
            objs.append(obj)
        res = subprocess.run(["arm-none-eabi-size", "-B", "-d"] + objs, capture_output=True, text=True, check=True)
    text = data = bss = 0
    for line in res.stdout.splitlines()[1:]:
        parts = line.split()
        text, data, bss = text + int(parts[0]), data + int(parts[1]), bss + int(parts[2])
    return {"toolchain": "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2", "flash_bytes": text + data,
            "ram_bytes": data + bss, "text": text, "data": data, "bss": bss}


def compile_model(qm: QModel, out: str, targets: Sequence[str], *, word_bits: int = 32, vectors: int = 8,
                  data: Optional[np.ndarray] = None, force: bool = False, accuracy: Optional[dict] = None,
                  hls_options: Optional[dict] = None) -> dict:
    """Write OUT; returns the report (also written as OUT/report.json)."""
    from wqrc.backend.c import generate_c

    rom = pack(qm, word_bits)
    report = build_report(qm, word_bits, accuracy)
    report["targets"] = list(targets)
    with atomic_dir(out, force=force) as tmp:
        qm.save(os.path.join(tmp, "model.wqrc.npz"))
        write_rom_files(rom, os.path.join(tmp, "rom"))
        if "c" in targets:
            c_info = generate_c(qm, rom, os.path.join(tmp, "c"), vectors=vectors, data=data)
            c_info["mcu"] = mcu_size(os.path.join(tmp, "c"))
            report["c"] = c_info
        if "hls" in targets:
            from wqrc.backend.hls import generate_hls
            report["hls"] = generate_hls(qm, rom, os.path.join(tmp, "hls"), vectors=vectors, data=data,
                                         **(hls_options or {}))
        with open(os.path.join(tmp, "report.json"), "w") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
            fh.write("\n")
    return report
