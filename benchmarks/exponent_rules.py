"""Direct-quantization accuracy of every exponent rule at every width: is more bits ever worse?

    python benchmarks/exponent_rules.py [--models examples/allcnn_c.onnx:fashion-mnist,...] [--act-bits 8,16]
        [--rules max,paper,mse,output] [--samples 10000] [--json FILE]

For each scheme and width (DFP 2-8, Po2 2-6: Po2-7/8 need accumulators past 64 bits, which
only the slow Python-integer path holds) and each rule (max, paper, mse, output), the model
is quantized directly (no training) with activation formats calibrated on 512 training
images (max-abs) and scored by the bit-exact simulator on the test split. Printed: the
accuracy table, which rule is best per width, whether each rule's accuracy is non-decreasing
in bits, and, per model, activation width and rule, the largest loss from one more bit against
issue 35's limit (0.3 points) with the seconds the rule's quantizations took (the cost of its
evaluations).
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


TOLERANCE = 0.003   # issue 35: more bits never worse by more than 0.3 points


def sweep(model: str, data: str, act_bits: int, samples: int, rules, widths) -> dict:
    """{(scheme, bits, rule): accuracy} for one model at one activation width, and its seconds."""
    g = wqrc.load_model(model)
    ds = load_dataset(data)
    x_cal = ds.validation_split()[0][:512]
    x, y = ds.x_test[:samples], ds.y_test[:samples]
    acc, seconds = {}, {r: 0.0 for r in rules}
    for scheme, ws in widths.items():
        for b in ws:
            for rule in rules:
                t0 = time.time()
                qm = wqrc.quantize(g, scheme=scheme, bits=b, act_bits=act_bits, exponent=rule, calib=x_cal)
                seconds[rule] += time.time() - t0
                acc[scheme, b, rule] = accuracy(simulate_float(qm, x), y)
            row = "  ".join(f"{r} {100 * acc[scheme, b, r]:6.2f}" for r in rules)
            print(f"{os.path.basename(model)} a{act_bits} {scheme.upper()}-{b}: {row}", flush=True)
    return dict(acc=acc, seconds=seconds, test=len(y))


def worst_drop(acc: dict, rule: str, widths) -> tuple[float, str]:
    """The largest accuracy loss from b-1 to b bits (0 where none), and where."""
    drops = [(acc[s, b - 1, rule] - acc[s, b, rule], f"{s.upper()}-{b - 1}->{b}")
             for s, ws in widths.items() for b in list(ws)[1:]]
    d, where = max(drops)
    return max(d, 0.0), where if d > 0 else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="examples/allcnn_c.onnx:fashion-mnist",
                    help="MODEL:DATASET pairs, comma-separated")
    ap.add_argument("--act-bits", default="16", help="activation widths, comma-separated")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--samples", type=int, default=10000, help="test images scored")
    ap.add_argument("--schemes", default="dfp,po2")
    ap.add_argument("--json", default=None, help="write every accuracy here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rules = tuple(args.rules.split(","))
    widths = {s: WIDTHS[s] for s in args.schemes.split(",")}
    summary, dump = [], []
    for pair in args.models.split(","):
        model, data = pair.rsplit(":", 1)
        for a in (int(v) for v in args.act_bits.split(",")):
            res = sweep(model, data, a, args.samples, rules, widths)
            acc = res["acc"]
            print(f"\n{model}, a{a}, {res['test']} test images\n")
            print("| weights | " + " | ".join(f"`{r}`" for r in rules) + " | best |")
            print("|---|" + "---|" * (len(rules) + 1))
            for scheme, ws in widths.items():
                for b in ws:
                    vals = [acc[scheme, b, r] for r in rules]
                    best = rules[vals.index(max(vals))]
                    print(f"| {scheme.upper()}-{b} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + f" | {best} |")
            for rule in rules:
                d, where = worst_drop(acc, rule, widths)
                summary.append((os.path.basename(model), a, rule, d, where, res["seconds"][rule]))
            dump.append(dict(model=model, data=data, act_bits=a, test=res["test"], seconds=res["seconds"],
                             acc={f"{s}-{b}-{r}": v for (s, b, r), v in acc.items()}))
    print(f"\nlargest loss from one more bit (the limit: {100 * TOLERANCE:.1f} points), and the rule's quantize time")
    print("| model | act bits | rule | largest loss | where | within limit | quantize s (all widths) |")
    print("|---|---|---|---|---|---|---|")
    for model, a, rule, d, where, sec in summary:
        print(f"| {model} | {a} | `{rule}` | {100 * d:.2f} | {where or '-'} | {'yes' if d <= TOLERANCE + 1e-9 else 'NO'} | "
              f"{sec:.0f} |")
    if args.json:
        import json
        with open(args.json, "w") as fh:
            json.dump(dump, fh, indent=1)


if __name__ == "__main__":
    main()
