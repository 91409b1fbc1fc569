"""Lin et al.'s SQNR allocation against equal bit-widths: W_mem at the same accuracy.

    python benchmarks/sqnr_allocation.py [--model examples/allcnn_c.onnx] [--data fashion-mnist]

The issue's target: >= 20% less W_mem than the best equal bit-width at the same
accuracy, the allocation computed in under 1 s for All-CNN-C. Direct
quantization (no fine-tuning), 16-bit activations, DFP with the `mse` exponent
rule. For each equal bit-width b, the plan chosen is the smallest-W_mem plan
on the SQNR trade-off curve whose *validation* accuracy (2,000 held-out
training images) is at least the equal bit-width's validation accuracy; both
are then reported on the test set, which chose nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402
from wqrc.quant.ranges import calibrate  # noqa: E402
from wqrc.search import PlanEvaluator  # noqa: E402
from wqrc.search.sqnr import sqnr_table, trade_off  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/allcnn_c.onnx")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--scheme", default="dfp")
    ap.add_argument("--act-bits", type=int, default=16)
    ap.add_argument("--widths", default="8,7,6,5,4,3")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ds = load_dataset(args.data)
    g = wqrc.load_model(args.model)
    x_fit, _, x_val, y_val = ds.validation_split(0.2)
    x_val, y_val = x_val[:2000], y_val[:2000]
    ranges = calibrate(g, x_fit[:512])
    t0 = time.perf_counter()
    table = sqnr_table(g, args.scheme, "mse", range(8, 1, -1))
    plans = trade_off(table)
    seconds = time.perf_counter() - t0
    val = PlanEvaluator(g, args.scheme, x_val, y_val, ranges=ranges, act_bits=args.act_bits, start_bits=8)
    test = PlanEvaluator(g, args.scheme, ds.x_test, ds.y_test, ranges=ranges, act_bits=args.act_bits, start_bits=8)
    total = sum(table.sizes.values())
    print(f"{args.model}: {len(table.sizes)} layers, {total} weights; SQNR table and trade-off curve "
          f"({len(plans)} plans) in {seconds:.2f} s; float test accuracy {test.float_acc:.2%}")
    print(f"{'equal b':>8}{'W_mem':>10}{'val':>8}{'test':>8} | {'SQNR plan bits':<34}{'W_mem':>10}{'val':>8}"
          f"{'test':>8}{'W_mem saved':>13}")
    val_acc = {}
    for b in (int(v) for v in args.widths.split(",")):
        eq = {n: b for n in table.sizes}
        a_val, a_test = val.commit(eq), test.commit(eq)
        best = None
        for p in plans:  # the curve is sorted by W_mem: the first plan that reaches the accuracy
            if table.w_mem(p) > table.w_mem(eq):
                break
            key = tuple(sorted(p.items()))
            if key not in val_acc:
                val_acc[key] = val.commit(p)
            if val_acc[key] >= a_val:
                best = p
                break
        line = f"{b:>8}{table.w_mem(eq):>10}{a_val:>8.2%}{a_test:>8.2%} | "
        if best is None:
            print(line + "(no plan below this W_mem reaches its validation accuracy)")
            continue
        t = test.commit(best)
        saved = 1 - table.w_mem(best) / table.w_mem(eq)
        print(line + f"{str(list(best.values())):<34}{table.w_mem(best):>10}{val_acc[tuple(sorted(best.items()))]:>8.2%}"
              f"{t:>8.2%}{saved:>13.1%}")
    print(f"validation evaluations of SQNR plans: {len(val_acc)}")


if __name__ == "__main__":
    np.set_printoptions(linewidth=200)
    main()
