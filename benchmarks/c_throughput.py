"""The generated C: host images/s beside onnxruntime, and Cortex-M4 flash/RAM and instructions per MAC.

    python benchmarks/c_throughput.py [--model examples/digits_cnn.onnx] [--data digits]

Host: the testbench built with -O2 runs its vectors R times; images/s beside
onnxruntime float on the same model (one image per call, as an MCU runs).
Cortex-M4: arm-none-eabi-size of the model objects, and instructions per
inference counted exactly by QEMU (single-stepped, one log line per executed
instruction, streamed to a counter), as the difference between 2 and 1
repetitions so start-up and semihosting I/O cancel out.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.compile import compile_model  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402


def host_rate(folder: str, n_vectors: int, seconds: float = 2.0) -> float:
    subprocess.run(["make", "-s", "-C", folder, "wqrc_test"], check=True)
    reps = 1
    while True:
        t0 = time.perf_counter()
        subprocess.run([os.path.join(folder, "wqrc_test"), str(reps)], check=True, capture_output=True)
        dt = time.perf_counter() - t0
        if dt > seconds / 4:
            return reps * n_vectors / dt
        reps *= 4


def qemu_instructions(folder: str, reps: int) -> int:
    cmd = (f"qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native "
           f"-kernel wqrc_test.elf -append {reps} -singlestep -d exec,nochain -D /dev/stdout | grep -c Trace")
    out = subprocess.run(["bash", "-c", cmd], cwd=folder, capture_output=True, text=True, timeout=3600)
    return int(out.stdout.strip().splitlines()[-1])


def mcu_size(folder: str) -> dict:
    """Flash and RAM of the model's own objects for Cortex-M4, from the generated 'make size'."""
    out = subprocess.run(["make", "-s", "-C", folder, "size"], capture_output=True, text=True, check=True).stdout
    total = next(line.split() for line in out.splitlines() if line.split()[-1:] == ["(TOTALS)"])
    text, data, bss = (int(v) for v in total[:3])
    return {"flash_bytes": text + data, "ram_bytes": data + bss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/digits_cnn.onnx")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--configs", default="dfp4,dfp8,po24", help="scheme+bits list, activations 8 bits")
    ap.add_argument("--vectors", type=int, default=4)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import onnxruntime as ort

    ds = load_dataset(args.data)
    g = wqrc.load_model(args.model)
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x1 = ds.x_test[:1].astype(np.float32)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        sess.run(None, {name: x1})
    ort_rate = n / (time.perf_counter() - t0)
    arm = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
    print(f"model {args.model}; host: gcc -O2, one image per call; onnxruntime float32 batch 1: {ort_rate:.0f} images/s")
    print(f"{'config':<8}{'host img/s':>12}{'vs ort':>8}{'W_mem B':>9}{'flash B':>9}{'code B':>8}{'RAM B':>7}"
          f"{'insn/inf':>11}{'MACs':>8}{'insn/MAC':>10}{'insn/nz-MAC':>12}")
    for cfg in args.configs.split(","):
        scheme, bits = cfg[:3], int(cfg[3:])
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=ds.x_train[:512])
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out")
            rep = compile_model(qm, out, ["c"], vectors=args.vectors, data=ds.x_test)
            folder = os.path.join(out, "c")
            rate = host_rate(folder, args.vectors)
            macs, nz = rep["totals"]["macs"], rep["totals"]["nonzero_macs"]
            w_bytes = rep["totals"]["rom_bits"] // 8
            line = f"{cfg:<8}{rate:>12.0f}{rate / ort_rate:>8.2f}{w_bytes:>9}"
            if arm:
                mcu = mcu_size(folder)
                subprocess.run(["make", "-s", "-C", folder, "mcu"], check=True)
                per_inf = (qemu_instructions(folder, 2) - qemu_instructions(folder, 1)) / args.vectors
                line += (f"{mcu['flash_bytes']:>9}{mcu['flash_bytes'] - w_bytes:>8}{mcu['ram_bytes']:>7}"
                         f"{per_inf:>11.0f}{macs:>8}{per_inf / macs:>10.2f}{per_inf / nz:>12.2f}")
            print(line)
    if not arm:
        print("(arm-none-eabi-gcc / qemu-system-arm not installed: Cortex-M columns skipped)")


if __name__ == "__main__":
    main()
