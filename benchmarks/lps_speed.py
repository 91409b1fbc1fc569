"""Wall time of a full layer-wise precision search, beside the naive cost.

    python benchmarks/lps_speed.py [--model examples/fashion_cnn.onnx] [--data fashion-mnist]

The search caches each layer's quantized weights per bit-width and re-runs
only the layers from the changed one on; the naive search quantizes the whole
model and simulates every trial from scratch. The naive cost is measured on a
sample of trials and scaled to the search's evaluation count.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402
from wqrc.quant.plan import make_plan  # noqa: E402
from wqrc.quant.quantize import quantize_graph  # noqa: E402
from wqrc.quant.ranges import calibrate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/fashion_cnn.onnx")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--scheme", default="dfp")
    ap.add_argument("--max-drop", type=float, default=0.005)
    ap.add_argument("--val-samples", type=int, default=4000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ds = load_dataset(args.data)
    g = wqrc.load_model(args.model)
    t0 = time.perf_counter()
    res, ev = wqrc.api.precision_search(g, ds, scheme=args.scheme, max_drop=args.max_drop,
                                        val_samples=args.val_samples)
    search_s = time.perf_counter() - t0
    # naive: every trial quantizes the whole model and simulates the validation set from scratch
    x_fit, _, x_val, y_val = ds.validation_split(0.2)
    x_val = x_val[: args.val_samples]
    ranges = calibrate(g, x_fit[:512])
    sample = res.steps[: min(4, len(res.steps))]
    t0 = time.perf_counter()
    for step in sample:
        plan = make_plan(g, args.scheme, [step.bits[n.name] for n in g.weighted_nodes()])
        qm = quantize_graph(g, plan, rule="mse", act_bits=8, ranges=ranges)
        wqrc.simulate(qm, qm.quantize_input(x_val), path="torch")
    per_naive = (time.perf_counter() - t0) / len(sample)
    naive_s = per_naive * res.evaluations
    f = res.final
    print(f"model {args.model}, {args.scheme}, max drop {args.max_drop}, {len(x_val)} validation samples")
    print(f"plan {list(f.bits.values())}: CR {f.compression_ratio:.2f}, dacc {f.delta_acc:+.4f}; "
          f"{len(res.steps) - 1} steps, {res.evaluations} evaluations")
    print(f"{'':<28}{'wall s':>8}{'per evaluation ms':>20}")
    print(f"{'search (cached, prefix reuse)':<28}{search_s:>8.1f}{1000 * search_s / res.evaluations:>20.1f}")
    print(f"{'naive (from scratch)':<28}{naive_s:>8.1f}{1000 * per_naive:>20.1f}")
    print(f"speed-up {naive_s / search_s:.2f}x")


if __name__ == "__main__":
    main()
