"""Deep mobile networks at 8-bit activations: trained, then quantized with the defaults (issue 33).

    python benchmarks/quant_health.py                      # trains what is missing (about 15 min a model)
    python benchmarks/quant_health.py --models mobilenet_v3_small --epochs 8

For each network (MobileNetV3-Small and an EfficientNet-lite-style net of wqrc.zoo, one input
channel, stem stride 1), a Fashion-MNIST model trained by examples/fashion_mnist/train_converged.py
(--arch; cached under benchmarks/.cache/quant_health/, not committed: 2-6 MB of ONNX), then:
float test accuracy; DFP-8/a8 with wqrc's defaults (--act-rule auto) and with max-abs activation
formats (--act-rule max, the rule before issue 33); each one's output SQNR from the health check;
printed as the accuracy difference against float, the judge's limit being -1 point.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODELS = ("mobilenet_v3_small", "efficientnet_lite")
LIMIT = -0.01   # DFP-8/a8 top-1 within 1 point of float


def trained(name: str, cache: str, epochs: int, threads: int) -> str:
    path = os.path.join(cache, f"{name}_e{epochs}.onnx")
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        cmd = [sys.executable, os.path.join(ROOT, "examples", "fashion_mnist", "train_converged.py"), "--arch", name,
               "--epochs", str(epochs), "--threads", str(threads), "--resume", "-o", path]
        print("training:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join(ROOT, "benchmarks", ".cache", "quant_health"))
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()

    import wqrc
    from wqrc.data import accuracy, load_dataset
    from wqrc.ir.to_torch import run_float
    from wqrc.quant import health

    ds = load_dataset("fashion-mnist")
    x_test, y_test = ds.split("test")
    calib = ds.x_train[:512]
    rows = []
    for name in args.models.split(","):
        path = trained(name, args.cache, args.epochs, args.threads)
        g = wqrc.load_model(path)
        acc_f = accuracy(run_float(g, x_test), y_test)
        row = dict(model=name, epochs=args.epochs, float=acc_f)
        for rule in ("auto", "max"):
            t0 = time.time()
            qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=calib, act_rule=rule)
            seconds = time.time() - t0
            h = health.measure(g, qm, calib)
            acc_q = accuracy(wqrc.simulate_float(qm, x_test), y_test)
            row[rule] = dict(acc=acc_q, delta=acc_q - acc_f, output_sqnr_db=h.output_db, chosen=qm.meta.get("act_rule"),
                             worst=h.worst["name"] if h.worst else None, warns=not h.ok, quantize_s=seconds,
                             top1_agreement=h.top1_agreement)
        rows.append(row)
        d, m = row["auto"], row["max"]
        print(f"{name}: float {acc_f:.2%}; DFP-8/a8 defaults {d['acc']:.2%} ({d['delta'] * 100:+.2f} points, "
              f"limit {LIMIT * 100:+.0f}: {'met' if d['delta'] >= LIMIT else 'MISSED'}; act rule {d['chosen']}, "
              f"output SQNR {d['output_sqnr_db']:.1f} dB, top-1 as float's on {d['top1_agreement']:.0%} of "
              f"{h.samples} samples, {'warns' if d['warns'] else 'no warning'}, quantized in {d['quantize_s']:.1f} s); "
              f"max-abs formats {m['acc']:.2%} ({m['delta'] * 100:+.2f} points, {m['output_sqnr_db']:.1f} dB"
              f"{', warns' if m['warns'] else ''})", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
