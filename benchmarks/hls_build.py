"""g++ build time and peak memory of the generated HLS C simulation.

    python benchmarks/hls_build.py

For the bundled example and for a ~50k-parameter CNN on 1x28x28 inputs (the
size for which hls4ml's unrolled conv code needs about 200 s and 2.2 GB of
g++), with plain integer types and with ap_int.h (if build/ap_types has it).
Target (issue 4): 10 s and 300 MB or less. Peak memory is the compiler's max
RSS (getrusage of the child), time is wall time of one `make csim_tb`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.backend.hls import generate_hls  # noqa: E402
from wqrc.pack import pack  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AP_TYPES = os.environ.get("WQRC_AP_TYPES", os.path.join(ROOT, "build", "ap_types"))


def cnn_50k() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 10))




def main() -> None:
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    models = {"digits example": (wqrc.load_model(os.path.join(ROOT, "examples", "digits_cnn.onnx")), (1, 8, 8))}
    big = cnn_50k().eval()
    models["50k-param CNN"] = (wqrc.from_torch(big, torch.rand(1, 1, 28, 28)), (1, 28, 28))
    have_ap = os.path.isfile(os.path.join(AP_TYPES, "ap_int.h"))
    print(f"{'model':<16}{'params':>8}{'types':>8}{'build s':>9}{'peak MB':>9}  (target: <= 10 s, <= 300 MB)")
    for name, (g, shape) in models.items():
        params = sum(n.weight.size for n in g.weighted_nodes())
        qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8,
                           calib=np.random.default_rng(0).random((32,) + shape, np.float32))
        for types, target in (("plain", "csim_tb"), ("ap_int", "csim_ap_tb")):
            if types == "ap_int" and not have_ap:
                continue
            # a fresh folder per build, so each measurement is one compiler run and its own peak
            with tempfile.TemporaryDirectory() as tmp:
                generate_hls(qm, pack(qm), tmp, vectors=2)
                dt, mb = measure(tmp, target)
            print(f"{name:<16}{params:>8}{types:>8}{dt:>9.1f}{mb:>9.0f}")


def measure(folder: str, target: str) -> tuple[float, float]:
    """Run the build in a child Python so getrusage's max RSS belongs to this build alone."""
    code = ("import resource,subprocess,sys,time;t=time.perf_counter();"
            f"subprocess.run(['make','-s','-C',{folder!r},{target!r},'AP_TYPES={AP_TYPES}'],check=True);"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]) / 1024


if __name__ == "__main__":
    main()
