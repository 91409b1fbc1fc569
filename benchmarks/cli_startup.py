"""Start-up time of the command line, side by side with `python -c pass` and `wqrc --help`.

Targets on the 2-core CI machine when idle:
- `wqrc --help` <= 0.5 s (a fast CLI);
- a usage mistake the arguments alone show (`--bits 1`, `--calib mnist`, an option
  for a target not written) answers within 10x of `python -c pass` (issue 34);
- `wqrc verify` of a `.wqrc.npz` capture within 3x of `wqrc --help` (issue 34).
None of these import torch, onnx or onnxruntime (tests/test_cli.py checks that);
this prints the medians of REPEAT runs and the ratios against each target.

    python benchmarks/cli_startup.py [--repeat 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "digits_cnn.onnx")
LIMIT_S = 0.5
ERROR_X_PYTHON = 10   # a usage error within 10x of python -c pass
VERIFY_X_HELP = 3     # verify of a .wqrc.npz within 3x of wqrc --help


def wall(cmd: list[str], repeat: int, cwd=None, ok=(0,)) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        rc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - t)
        if rc not in ok:
            raise SystemExit(f"{' '.join(cmd)}: exit {rc}")
    return statistics.median(times)


def capture(tmp: str) -> None:
    """A quantized model, inputs and the simulator's outputs (as a board would send them back)."""
    import numpy as np
    wq = [sys.executable, "-m", "wqrc"]
    subprocess.run(wq + ["quantize", EXAMPLE, "--bits", "4", "--calib", "digits", "-o", "m.wqrc.npz"],
                   cwd=tmp, check=True, capture_output=True)
    np.save(os.path.join(tmp, "x.npy"), np.random.default_rng(0).uniform(0, 1, (8, 1, 8, 8)).astype(np.float32))
    subprocess.run(wq + ["simulate", "m.wqrc.npz", "--input", "x.npy", "--output", "y.npy"],
                   cwd=tmp, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    py, wq = [sys.executable], [sys.executable, "-m", "wqrc"]
    base = wall(py + ["-c", "pass"], args.repeat)
    help_s = wall(wq + ["--help"], args.repeat)
    torch_import = wall(py + ["-c", "import torch"], max(3, args.repeat // 5))
    print(f"{'command':<34}{'median s':>10}{'÷ python':>10}{'÷ help':>8}  target")
    row = lambda label, t, target="": print(f"{label:<34}{t:>10.3f}{t / base:>10.2f}{t / help_s:>8.2f}  {target}")
    row("python -c pass", base)
    row("wqrc --help", help_s, f"<= {LIMIT_S} s: {help_s / LIMIT_S:.2f} of it")
    for label, argv in (("wqrc --version", ["--version"]), ("wqrc compile --help", ["compile", "--help"])):
        row(label, wall(wq + argv, args.repeat))
    with tempfile.TemporaryDirectory() as tmp:
        for label, argv in (("compile --bits 1", ["--bits", "1"]), ("compile --calib mnist", ["--calib", "mnist"]),
                            ("compile --target c --lanes 4", ["--target", "c", "--lanes", "4"])):
            t = wall(wq + ["compile", EXAMPLE, *argv, "-o", "never"], args.repeat, tmp, ok=(2,))
            row(label, t, f"<= {ERROR_X_PYTHON}x python: {t / base / ERROR_X_PYTHON:.2f} of it")
        capture(tmp)
        t = wall(wq + ["verify", "m.wqrc.npz", "--input", "x.npy", "--outputs", "y.npy"], args.repeat, tmp)
        row("verify m.wqrc.npz (8 samples)", t, f"<= {VERIFY_X_HELP}x help: {t / help_s / VERIFY_X_HELP:.2f} of it")
    row("(python -c 'import torch')", torch_import)
    print("a figure 'of it' <= 1.00 meets its target")


if __name__ == "__main__":
    main()
