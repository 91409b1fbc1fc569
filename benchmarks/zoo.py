"""The model zoo: compile time and memory, accuracy of the integer graph, and MCU size, per model.

    python benchmarks/zoo.py [--models ds_cnn,resnet8,mobilenet_v1_025,mobilenet_v2_035,autoencoder,resnet18]

For each model of wqrc.zoo (seeded random weights, random normal calibration
and test inputs), exported to ONNX as a user's model would be:

* compile: `wqrc compile MODEL.onnx --scheme dfp --bits 8 --target c` run as a
  separate process (load, quantize at 8-bit activations, pack, write C): wall
  seconds and peak resident memory (the issue's targets for ResNet-18: <= 30 s
  and <= 1 GB), and the peak memory of gcc -O2 building the generated C
  (<= 500 MB);
* error: the simulator's dequantized output against onnxruntime's float run,
  at DFP-8 weights with 16-bit activations and at DFP-4 with 8-bit ones, with one
  exponent per layer and per output channel (--granularity channel,
  docs/format.md §1c), as the largest absolute error over the largest output
  magnitude (the issue's target for ResNet-18 per channel at DFP-8/a16: <= 1%);
* Cortex-M4: flash and RAM of the model's own objects at DFP-8 and DFP-4 with
  8-bit activations (`make size`; needs arm-none-eabi-gcc). Memory is read by GNU time
  (`/usr/bin/time`, Debian package `time`).
"""
from __future__ import annotations

import argparse
import json
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
from wqrc import zoo  # noqa: E402
from wqrc.compile import compile_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_of(cmd: list[str], cwd: str | None = None) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of a command, by GNU time."""
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr[-1000:]}")
    return time.perf_counter() - t0, int(res.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ds_cnn,resnet8,mobilenet_v1_025,mobilenet_v2_035,autoencoder,resnet18")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import onnxruntime as ort
    import torch

    from wqrc.frontend.torch import _export

    arm = shutil.which("arm-none-eabi-gcc") is not None
    print(f"{'model':<18}{'MACs':>12}{'weights':>10}{'compile s':>11}{'peak MB':>9}{'gcc MB':>8}"
          f"{'err dfp8/a16 layer/chan':>24}{'err dfp4/a8 layer/chan':>24}{'M4 flash/RAM dfp8':>20}"
          f"{'M4 flash/RAM dfp4':>20}")
    for name in args.models.split(","):
        module, shape = zoo.build(name)
        x = np.random.default_rng(1).standard_normal((72,) + shape).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = os.path.join(tmp, f"{name}.onnx")
            with open(onnx_path, "wb") as f:
                f.write(_export(module, torch.from_numpy(x[:1]), name).SerializeToString())
            calib = os.path.join(tmp, "calib.npz")
            np.savez(calib, x_train=x[:64], y_train=np.zeros(64, np.int64), x_test=x[64:], y_test=np.zeros(8, np.int64))
            out = os.path.join(tmp, "out")
            secs, peak = peak_of([sys.executable, "-m", "wqrc", "compile", onnx_path, "--scheme", "dfp", "--bits", "8",
                                  "--act-bits", "8", "--calib", calib, "--target", "c", "-o", out], cwd=ROOT)
            _, gcc_mb = peak_of(["make", "-s", "-C", os.path.join(out, "c"), "wqrc_test"])
            g = wqrc.load_model(onnx_path)
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            want = sess.run(None, {sess.get_inputs()[0].name: x[64:]})[0]
            errs = {}
            for bits, act in ((8, 16), (4, 8)):
                for gran in ("layer", "channel"):
                    qm = wqrc.quantize(g, scheme="dfp", bits=bits, act_bits=act, calib=x[:64], granularity=gran)
                    errs[bits, gran] = np.abs(wqrc.simulate_float(qm, x[64:]) - want).max() / np.abs(want).max()
            sizes = []
            for bits in (8, 4):
                if not arm:
                    sizes.append("-")
                    continue
                q = wqrc.quantize(g, scheme="dfp", bits=bits, act_bits=8, calib=x[:64])
                o = os.path.join(tmp, f"m{bits}")
                rep = compile_model(q, o, ["c"], vectors=1, data=x[64:])
                # the model's own objects (the whole test image of a model beyond the QEMU board's
                # 4 MB of flash would not link)
                c = os.path.join(o, "c")
                objs = ["mcu/wqrc_model.o", "mcu/wqrc_weights.o"]
                subprocess.run(["make", "-s", "-C", c, *objs], capture_output=True, check=True)
                text = subprocess.run(["arm-none-eabi-size", "-B", "-d", "-t", *objs], cwd=c, capture_output=True,
                                      text=True, check=True).stdout
                t, d, _ = (int(v) for v in next(l for l in text.splitlines() if l.endswith("(TOTALS)")).split()[:3])
                sizes.append(f"{(t + d) / 1024:.0f}K/{rep['c']['ram_bytes'] / 1024:.0f}K")
            with open(os.path.join(out, "report.json")) as f:
                macs = json.load(f)["totals"]["macs"]
            weights = sum(l.codes.size for l in qm.layers.values())
            e8 = f"{errs[8, 'layer']:.4f}/{errs[8, 'channel']:.4f}"
            e4 = f"{errs[4, 'layer']:.4f}/{errs[4, 'channel']:.4f}"
            print(f"{name:<18}{macs:>12}{weights:>10}{secs:>11.1f}{peak:>9.0f}{gcc_mb:>8.0f}{e8:>24}{e4:>24}"
                  f"{sizes[0]:>20}{sizes[1]:>20}", flush=True)
    if not arm:
        print("(arm-none-eabi-gcc not installed: the Cortex-M4 columns are skipped)")


if __name__ == "__main__":
    main()
