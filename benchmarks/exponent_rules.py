"""Direct-quantization accuracy of every exponent rule at every width: is more bits ever worse?

    python benchmarks/exponent_rules.py [--model examples/allcnn_c.onnx] [--act-bits 16] [--samples 10000]

For each scheme and width (DFP 2-8, Po2 2-6: Po2-7/8 need accumulators past 64 bits, which
only the slow Python-integer path holds) and each rule (max, paper, mse, output), the model
is quantized directly (no training) with activation formats calibrated on 512 training
images (max-abs) and scored by the bit-exact simulator on the test split. Printed: the
accuracy table, which rule is best per width, whether each rule's accuracy is non-decreasing
in bits, and the output rule's margin over the best of the other three (issue 18's targets:
non-decreasing, and at least the best of the three at every width).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import accuracy, load_dataset  # noqa: E402
from wqrc.sim import simulate_float  # noqa: E402

RULES = ("max", "paper", "mse", "output")
WIDTHS = {"dfp": range(2, 9), "po2": range(2, 7)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/allcnn_c.onnx")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--act-bits", type=int, default=16)
    ap.add_argument("--samples", type=int, default=10000, help="test images scored")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    g = wqrc.load_model(args.model)
    ds = load_dataset(args.data)
    x_cal = ds.validation_split()[0][:512]
    x, y = ds.x_test[:args.samples], ds.y_test[:args.samples]
    t0 = time.time()
    acc = {}
    for scheme, widths in WIDTHS.items():
        for b in widths:
            for rule in RULES:
                qm = wqrc.quantize(g, scheme=scheme, bits=b, act_bits=args.act_bits, exponent=rule, calib=x_cal)
                acc[scheme, b, rule] = accuracy(simulate_float(qm, x), y)
            row = "  ".join(f"{r} {100 * acc[scheme, b, r]:6.2f}" for r in RULES)
            print(f"{scheme.upper()}-{b}: {row}", flush=True)
    print(f"\n{args.model}, a{args.act_bits}, {len(y)} test images, {time.time() - t0:.0f} s\n")
    print("| weights | " + " | ".join(f"`{r}`" for r in RULES) + " | best |")
    print("|---|" + "---|" * (len(RULES) + 1))
    for scheme, widths in WIDTHS.items():
        for b in widths:
            vals = [acc[scheme, b, r] for r in RULES]
            best = RULES[vals.index(max(vals))]
            print(f"| {scheme.upper()}-{b} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + f" | {best} |")
    print()
    for rule in RULES:
        drops = [f"{s.upper()}-{b - 1}->{b}" for s, widths in WIDTHS.items() for b in list(widths)[1:]
                 if acc[s, b, rule] < acc[s, b - 1, rule]]
        print(f"{rule:>6}: non-decreasing in bits: {'yes' if not drops else 'no (' + ', '.join(drops) + ')'}")
    margins = [acc[s, b, "output"] - max(acc[s, b, r] for r in RULES if r != "output")
               for s, widths in WIDTHS.items() for b in widths]
    print(f"output vs the best of max/paper/mse per width: min {100 * min(margins):+.2f}, "
          f"mean {100 * sum(margins) / len(margins):+.2f} points")


if __name__ == "__main__":
    main()
