"""One exponent per layer against one per output channel, direct quantization of a trained network.

    python benchmarks/channel_exponents.py [--model examples/fashion_allconv.onnx] [--act-bits 8]

The converged Fashion-MNIST baseline (`examples/fashion_allconv.onnx`, 93.79% float;
BatchNorm folded into its convolutions, so its output channels differ in scale) is
quantized directly, no training, at DFP 2-8 and Po2 2-6 bits with each exponent
rule (paper, max, mse), once with `--granularity layer` and once with `channel`
(docs/format.md §1c); the bit-exact simulator's accuracy on the whole test split
(10,000 images) is printed side by side, with W_mem (per-channel exponents cost 8
bits per output channel) and the difference channel - layer for each rule.
Activation formats: calibrated on the first 512 training images (max-abs).
Deterministic: no seeds are involved.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RULES = ("paper", "max", "mse")
WIDTHS = {"dfp": range(2, 9), "po2": range(2, 7)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/fashion_allconv.onnx")
    ap.add_argument("--act-bits", type=int, default=8)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import wqrc
    from wqrc.data import accuracy, load_dataset
    from wqrc.ir.to_torch import run_float
    from wqrc.report import build_report

    t0 = time.time()
    g = wqrc.load_model(args.model)
    ds = load_dataset("fashion-mnist")
    x, y = ds.split("test")
    calib = ds.x_train[:512]
    print(f"{args.model}: float test accuracy {accuracy(run_float(g, x), y):.2%}; direct quantization, "
          f"a{args.act_bits}, test split ({len(y)} images)\n")
    print("| weights | W_mem layer | W_mem channel | " + " | ".join(
        f"{r} layer | {r} channel | Δ {r}" for r in RULES) + " | best layer | best channel |")
    print("|---" * (5 + 3 * len(RULES)) + "|")
    for scheme, widths in WIDTHS.items():
        for b in widths:
            cells, wmem, best = [], {}, {"layer": 0.0, "channel": 0.0}
            for rule in RULES:
                acc = {}
                for gran in ("layer", "channel"):
                    qm = wqrc.quantize(g, scheme=scheme, bits=b, act_bits=args.act_bits, calib=calib,
                                       exponent=rule, granularity=gran)
                    acc[gran] = accuracy(wqrc.simulate_float(qm, x), y)
                    wmem[gran] = build_report(qm)["totals"]["w_mem_bits"]
                    best[gran] = max(best[gran], acc[gran])
                cells += [f"{acc['layer']:.2%}", f"{acc['channel']:.2%}",
                          f"{100 * (acc['channel'] - acc['layer']):+.2f}"]
            print(f"| {scheme.upper()}-{b} | {wmem['layer']} | {wmem['channel']} | " + " | ".join(cells)
                  + f" | {best['layer']:.2%} | {best['channel']:.2%} |", flush=True)
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
