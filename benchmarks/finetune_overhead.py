"""Training-step time with the QR+WQR terms beside a plain step (and STE, and activation-aware steps).

    python benchmarks/finetune_overhead.py [--model examples/fashion_allconv.onnx] [--batch 128]

Target (issue 5): QR+WQR step <= 1.15x a plain cross-entropy step on the
Fashion-MNIST network at batch 128. The levels are fixed as `wqrc finetune`
fixes them (each layer's exponent chosen once). "qr+wqr a8" adds the
activation-aware forward pass (every tensor fake-quantized to the integer
graph's 8-bit formats). Also printed: the epoch time these steps imply for
54,000 images (issue 17: at most 30 s for the converged baseline). Median of
--steps steps each, after warm-up, same data, Adam; the kinds run round-robin
three times and each keeps its best median.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402
from wqrc.ir.to_torch import GraphModule  # noqa: E402
from wqrc.quant.plan import make_plan  # noqa: E402
from wqrc.train.finetune import FinetuneConfig, activation_grid, pin_levels, quantized_model  # noqa: E402
from wqrc.train.regularizers import QuantRegularizer, ste_weights  # noqa: E402


def timed_steps(module, opt, x, y, steps, extra):
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = extra(module, x, y)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/fashion_allconv.onnx")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--scheme", default="po2")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--exponent", default="mse")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ds = load_dataset(args.data)
    g = wqrc.load_model(args.model)
    plan = pin_levels(g, make_plan(g, args.scheme, args.bits), args.exponent)
    grid = activation_grid(quantized_model(g, plan, FinetuneConfig(exponent=args.exponent, act_bits=8), ds.x_train))
    x, y = torch.from_numpy(ds.x_train[: args.batch]), torch.from_numpy(ds.y_train[: args.batch])
    results = {}
    for name in ("plain", "qr+wqr", "ste", "qr+wqr a8") * 3:  # round-robin, best of three: order, warm-up cancel
        torch.manual_seed(0)
        module = GraphModule(g)
        if name.endswith("a8"):
            module.act_quant = grid
        opt = torch.optim.Adam(module.parameters(), lr=1e-4)
        reg = QuantRegularizer(module, plan, lambda1="1", lambda2="10*epoch", rule=args.exponent)
        if name == "plain":
            fn = lambda m, xb, yb: F.cross_entropy(m(xb), yb)  # noqa: E731
        elif name.startswith("qr+wqr"):
            fn = lambda m, xb, yb: F.cross_entropy(m(xb), yb) + reg(5)  # noqa: E731
        else:
            fn = lambda m, xb, yb: F.cross_entropy(m(xb, weights=ste_weights(m, plan, args.exponent)), yb)  # noqa: E731
        t = timed_steps(module, opt, x, y, args.steps, fn)
        results[name] = min(t, results.get(name, t))
    weights = sum(n.weight.size for n in g.weighted_nodes())
    print(f"model {args.model} ({weights} weights), batch {args.batch}, {args.scheme}{args.bits}, "
          f"exponent rule {args.exponent}, {torch.get_num_threads()} threads")
    print(f"{'step':<10}{'ms':>8}{'vs plain':>10}{'s / 54k epoch':>15}")
    for name, t in results.items():
        print(f"{name:<10}{1000 * t:>8.2f}{t / results['plain']:>10.3f}{t * 54000 / args.batch:>15.1f}")
    print("targets: qr+wqr <= 1.15x plain; an epoch <= 30 s (the converged baseline)")


if __name__ == "__main__":
    main()
