"""The paper's Table V for All-CNN-C on Fashion-MNIST, WQR beside a straight-through baseline,
and the equivalents of its Figs. 4-6 and 8-10.

    python benchmarks/paper_tables.py                           # every row; cached results are reused
    python benchmarks/paper_tables.py --rows po2-eq3 --fresh    # re-run one row from scratch

Data: Fashion-MNIST (Debian's dataset-fashion-mnist). The network was trained on 48,000
training images; the other 12,000 (``Dataset.validation_split(0.2)``, seeded) are the slice
the precision search scores plans on (2,000 of them). Test accuracies use all 10,000 test
images; acc_tr uses 2,000 training images (the per-epoch curves 2,000 test images). Two activation settings:
  a32  float32 activations, quantized weights: the paper's setting;
  a8   8-bit activations, run by the bit-exact simulator, activation formats calibrated on
       512 training images to the 99.99th percentile of |x| (max-abs loses ~2 points here).
Exponent rule: mse everywhere (search, fine-tuning, evaluation).

Every expensive result (the search, each fine-tuned model and its history, each row's
evaluation) is cached under --cache, keyed by the row's settings, so the table can be
built across several runs and any row re-run alone. Seeded: a re-run reproduces a row.
Writes docs/results/table_v.md, docs/results/results.json and docs/results/fig*.png.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import Dataset, accuracy, load_dataset  # noqa: E402
from wqrc.ir.to_onnx import graph_to_onnx  # noqa: E402
from wqrc.ir.to_torch import run_float  # noqa: E402
from wqrc.quant.plan import LayerSpec  # noqa: E402
from wqrc.quant.quantize import quantize_graph  # noqa: E402
from wqrc.quant.ranges import calibrate  # noqa: E402
from wqrc.report import build_report  # noqa: E402
from wqrc.search import PlanEvaluator, layerwise_precision_scaling  # noqa: E402
from wqrc.search.lps import equal_bitwidth_curve  # noqa: E402
from wqrc.sim import simulate_float  # noqa: E402
from wqrc.train.finetune import FinetuneConfig, finetune  # noqa: E402
from wqrc.train.regularizers import quantize_tensor  # noqa: E402

RULE = "mse"
PERCENTILE = 99.99
VAL_SAMPLES = 2000
TRAIN_EVAL = 2000
LOOP_TEST = 2000  # test images scored after each fine-tuning epoch (the curves); the table uses all
SEARCH_MAX_DROP = 0.08


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    scheme: Optional[str] = None   # None: the float model
    bits: Optional[int] = None     # equal width; or
    pick: Optional[str] = None     # a plan from the search's trajectory: lossless | cr8 | sub3
    epochs: int = 0                # fine-tuning budget (epochs over the 48,000 training images)


ROWS = [
    Row("float", "float"),
    Row("dfp-eq8", "DFP-eq 8", "dfp", bits=8),
    Row("dfp-eq4", "DFP-eq 4", "dfp", bits=4, epochs=2),
    Row("dfp-lw-lossless", "DFP-lw (near lossless)", "dfp", pick="lossless", epochs=1),
    Row("dfp-lw-cr8", "DFP-lw (CR near 8)", "dfp", pick="cr8", epochs=2),
    Row("po2-eq4", "Po2-eq 4", "po2", bits=4, epochs=3),
    Row("po2-eq3", "Po2-eq 3", "po2", bits=3, epochs=3),
    Row("dfp-lw-sub3", "DFP-lw (below 3 bits)", "dfp", pick="sub3", epochs=3),
]


WQR_LAMBDA2 = "50"


def finetune_config(method: str, epochs: int, lambda2: str = WQR_LAMBDA2) -> FinetuneConfig:
    """One budget for WQR and its straight-through baseline: same optimizer, data, augmentation."""
    return FinetuneConfig(epochs=epochs, lr=5e-4, batch=128, method=method, lambda1="0",
                          lambda2=lambda2 if method == "wqr" else "0", flip=True, shift=3, seed=0,
                          exponent=RULE, act_bits=8, calib_percentile=PERCENTILE)


class Bench:
    def __init__(self, model: str, cache: str, fresh: bool, lambda2: str = WQR_LAMBDA2):
        self.model, self.cache, self.fresh, self.lambda2 = model, cache, fresh, lambda2
        # a non-default λ2 is a separate experiment with its own cache entries
        self.variant = "" if lambda2 == WQR_LAMBDA2 else f"_l{lambda2.replace(' ', '').replace('*', 'x')}"
        os.makedirs(cache, exist_ok=True)
        full = load_dataset("fashion-mnist")
        x_fit, y_fit, x_val, y_val = full.validation_split(0.2)
        self.full = full
        self.fit = Dataset("fashion-mnist (fit)", x_fit, y_fit, full.x_test, full.y_test)
        self.x_val, self.y_val = x_val[:VAL_SAMPLES], y_val[:VAL_SAMPLES]
        self.x_tr, self.y_tr = x_fit[:TRAIN_EVAL], y_fit[:TRAIN_EVAL]
        self.graph = wqrc.load_model(model)
        self.layers = [n.name for n in self.graph.weighted_nodes()]
        with open(model, "rb") as fh:
            self.model_hash = hashlib.sha256(fh.read()).hexdigest()[:12]

    # ---- cache -------------------------------------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.cache, f"{self.model_hash}_{name}")

    def cached_json(self, name: str, compute):
        p = self.path(name + ".json")
        if os.path.isfile(p) and not self.fresh:
            with open(p) as fh:
                return json.load(fh)
        value = compute()
        with open(p + ".tmp", "w") as fh:
            json.dump(value, fh, indent=1)
        os.replace(p + ".tmp", p)
        return value

    # ---- quantization and evaluation ----------------------------------------------------------
    def plan(self, scheme: str, bits: dict) -> dict:
        return {n: LayerSpec(scheme, int(bits[n])) for n in self.layers}

    def ranges(self, graph):
        return calibrate(graph, self.fit.x_train[:512], PERCENTILE)

    def weights_quantized(self, graph, plan):
        g = graph.copy()
        for n in g.weighted_nodes():
            q, _ = quantize_tensor(torch.from_numpy(n.weight), plan[n.name], RULE, n.name)
            n.params["weight"] = q.numpy().astype(np.float32)
        return g

    def evaluate(self, graph, plan: Optional[dict]) -> dict:
        """Accuracies (test, train subset, validation subset) at a32 and a8, and the Table V figures."""
        splits = dict(test=(self.fit.x_test, self.fit.y_test), tr=(self.x_tr, self.y_tr), val=(self.x_val, self.y_val))
        g32 = graph if plan is None else self.weights_quantized(graph, plan)
        out = {f"a32_{k}": accuracy(run_float(g32, x), y) for k, (x, y) in splits.items()}
        if plan is None:
            return out
        qm = quantize_graph(graph, plan, rule=RULE, act_bits=8, ranges=self.ranges(graph))
        out.update({f"a8_{k}": accuracy(simulate_float(qm, x), y) for k, (x, y) in splits.items()})
        t = build_report(qm)["totals"]
        out.update(bits=[plan[n].bits for n in self.layers], w_mem_bits=t["w_mem_bits"], weights=t["weights"],
                   cr=t["compression_ratio"], sparsity=t["sparsity"], macs=t["macs"],
                   nonzero_macs=t["nonzero_macs"], mac_sparsity=t["mac_sparsity"])
        return out

    # ---- the precision search -----------------------------------------------------------------
    def search(self) -> dict:
        """DFP: the equal-width curve and the layer-wise search path; Po2: the equal-width curve.

        Po2 stops at 6 bits: at 7 and 8 bits its multipliers (up to 2^62, 2^126) need
        accumulators beyond 64 bits, which only the Python-int simulator path holds (slow).
        """
        ranges = self.ranges(self.graph)

        def dfp():
            t0 = time.time()
            ev = PlanEvaluator(self.graph, "dfp", self.x_val, self.y_val, ranges=ranges, act_bits=8,
                               exponent=RULE, start_bits=8)
            equal = [asdict(s) for s in equal_bitwidth_curve(ev, range(8, 1, -1))]
            r = layerwise_precision_scaling(
                ev, max_drop=SEARCH_MAX_DROP, start_bits={n: 8 for n in ev.layers}, min_bits=2,
                progress=lambda s, n: print(f"  search: CR {s.compression_ratio:.2f}, val {100 * s.accuracy:.2f}%, "
                                            f"{n} evaluations, {time.time() - t0:.0f} s", flush=True))
            return dict(equal_dfp=equal, lps=dict(steps=[asdict(s) for s in r.steps], stopped_because=r.stopped_because,
                                                  evaluations=r.evaluations, float_val=r.float_accuracy),
                        seconds=time.time() - t0)

        def po2():
            ev = PlanEvaluator(self.graph, "po2", self.x_val, self.y_val, ranges=ranges, act_bits=8,
                               exponent=RULE, start_bits=6)
            return dict(equal_po2=[asdict(s) for s in equal_bitwidth_curve(ev, range(6, 1, -1))])
        return dict(self.cached_json("search_dfp", dfp), **self.cached_json("equal_po2", po2))

    def picked(self, pick: str) -> dict:
        steps = self.search()["lps"]["steps"]
        total = sum(int(n.weight.size) for n in self.graph.weighted_nodes())
        if pick == "lossless":  # the last plan within 0.1 point of the 8-bit start plan
            ok = [s for s in steps if s["accuracy"] >= steps[0]["accuracy"] - 0.001 - 1e-9]
            return ok[-1]
        if pick == "cr8":
            ok = [s for s in steps if s["compression_ratio"] >= 8]
        else:  # sub3: average bits per weight below 3
            ok = [s for s in steps if s["w_mem"] / total < 3]
        return ok[0] if ok else steps[-1]

    # ---- fine-tuning --------------------------------------------------------------------------
    def tuned(self, row: Row, plan: dict, method: str):
        """The fine-tuned graph and its history; cached (an interrupted run resumes by epoch)."""
        base = self.path(f"{row.key}_{method}_e{row.epochs}{self.variant if method == 'wqr' else ''}")
        onnx_path, hist_path, ckpt = base + ".onnx", base + ".history.pt", base + ".ckpt.pt"
        if self.fresh:
            for p in (onnx_path, hist_path, ckpt):
                if os.path.exists(p):
                    os.remove(p)
        if os.path.isfile(onnx_path) and os.path.isfile(hist_path):
            return wqrc.load_model(onnx_path), torch.load(hist_path, weights_only=False)
        cfg = finetune_config(method, row.epochs, self.lambda2)
        t0 = time.time()
        loop = Dataset("fit", self.fit.x_train, self.fit.y_train, self.fit.x_test[:LOOP_TEST],
                       self.fit.y_test[:LOOP_TEST])
        graph, hist = finetune(self.graph, loop, plan, cfg, checkpoint=ckpt,
                               resume=ckpt if os.path.isfile(ckpt) else None,
                               on_epoch=lambda r: print(f"    {row.key} {method} epoch {r['epoch']}: "
                                                        f"acc_Mq(a8) {r['acc_Mq']:.4f} WQR {r['wqr']:.4f}",
                                                        flush=True))
        hist_obj = dict(rows=hist.rows, snapshots=hist.snapshots, seconds=time.time() - t0)
        import onnx

        onnx.save(graph_to_onnx(graph), onnx_path)
        torch.save(hist_obj, hist_path)
        return wqrc.load_model(onnx_path), hist_obj

    def row(self, row: Row) -> dict:
        if row.scheme is None:
            return self.cached_json("row_float", lambda: self.evaluate(self.graph, None))
        if row.pick:
            step = self.picked(row.pick)
            bits = step["bits"]
        else:
            bits = {n: row.bits for n in self.layers}
        plan = self.plan(row.scheme, bits)
        tag = hashlib.sha256(json.dumps([row.scheme, [bits[n] for n in self.layers], row.epochs]).encode()
                             ).hexdigest()[:8]

        def compute():
            t0 = time.time()
            res = dict(init=self.evaluate(self.graph, plan), budget_epochs=row.epochs)
            for method in ("wqr", "ste") if row.epochs else ():
                graph, hist = self.tuned(row, plan, method)
                res[method] = self.evaluate(graph, plan)
                res[method]["finetune_seconds"] = hist["seconds"]
            res["seconds"] = time.time() - t0
            return res
        return self.cached_json(f"row_{row.key}_{tag}{self.variant}", compute)


# ---- the table ------------------------------------------------------------------------------
def pct(v: Optional[float]) -> str:
    return "" if v is None else f"{100 * v:.2f}"


def table(rows: list[tuple[Row, dict]], act: str, weights: int) -> str:
    head = ("| row | b_n (per layer) | type | W_mem (KiB) | CR | sparsity | non-0 MACs | MAC sparsity | "
            "budget | acc_tr | acc_init | acc_Mq WQR | acc_Mq STE |")
    lines = [head, "|" + "---|" * 13]
    for row, r in rows:
        if row.scheme is None:
            lines.append(f"| float | 32 | float | {weights * 4 / 1024:.1f} | 1.00 | | | | | "
                         f"{pct(r['a32_tr'])} | | {pct(r['a32_test'])} (float) | |")
            continue
        best = r.get("wqr", r["init"])  # the figures describe the WQR-tuned model where there is one
        lines.append(
            f"| {row.label} | {','.join(str(b) for b in best['bits'])} | {row.scheme.upper()} | "
            f"{best['w_mem_bits'] / 8 / 1024:.1f} | {best['cr']:.2f} | {100 * best['sparsity']:.1f}% | "
            f"{best['nonzero_macs'] / 1e6:.2f} M | {100 * best['mac_sparsity']:.1f}% | "
            f"{row.epochs} ep | {pct(best[f'{act}_tr'])} | {pct(r['init'][f'{act}_test'])} | "
            f"{pct(r['wqr'][f'{act}_test']) if 'wqr' in r else pct(r['init'][f'{act}_test']) + ' (direct)'} | "
            f"{pct(r['ste'][f'{act}_test']) if 'ste' in r else ''} |")
    return "\n".join(lines)


# ---- figures --------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def fig_layer_sweep(bench: Bench, folder: str) -> list[str]:
    """Figs. 4 and 5: quantization MSE and sparsity against bit-width, for the largest layer."""
    from wqrc.quant.quantize import quantize_weights

    plt = _plt()
    node = max(bench.graph.weighted_nodes(), key=lambda n: n.weight.size)
    w = node.weight.astype(np.float64)
    res = {}
    for scheme, bits in (("dfp", range(2, 9)), ("po2", range(2, 9))):
        for b in bits:
            q, _ = quantize_tensor(torch.from_numpy(w), LayerSpec(scheme, b), RULE, node.name)
            _, _, codes = quantize_weights(node.name, w, LayerSpec(scheme, b), RULE)
            res.setdefault(scheme, []).append((b, float(np.mean((q.numpy() - w) ** 2)), float(np.mean(codes == 0))))
    paths = []
    for idx, (ylabel, fname, log) in enumerate((("MSE of quantized weights", "fig4_mse.png", True),
                                                ("sparsity (zero codes)", "fig5_sparsity.png", False))):
        fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=120)
        for scheme, pts in res.items():
            ax.plot([p[0] for p in pts], [p[1 + idx] * (1 if log else 100) for p in pts], marker="o",
                    label=scheme.upper())
        ax.set_xlabel("bit-width b")
        ax.set_ylabel(ylabel + ("" if log else " (%)"))
        if log:
            ax.set_yscale("log")
        ax.set_title(f"layer {node.name} ({w.size} weights), rule {RULE}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        p = os.path.join(folder, fname)
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths


def fig_acc_vs_cr(bench: Bench, results: list[tuple[Row, dict]], folder: str) -> str:
    """Fig. 6: validation accuracy (a8) against CR: equal widths and the search, direct and trained."""
    plt = _plt()
    s = bench.search()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for scheme, style in (("dfp", "o-"), ("po2", "s-")):
        pts = s[f"equal_{scheme}"]
        ax.plot([p["compression_ratio"] for p in pts], [100 * p["accuracy"] for p in pts], style, ms=4,
                label=f"{scheme.upper()} equal width, direct")
    lps = s["lps"]["steps"]
    ax.plot([p["compression_ratio"] for p in lps], [100 * p["accuracy"] for p in lps], ".-", ms=3,
            label="DFP layer-wise (search path), direct")
    for row, r in results:
        if row.scheme and "wqr" in r:
            ax.plot(r["wqr"]["cr"], 100 * r["wqr"]["a8_val"], "*", ms=10, label=f"{row.label}, WQR")
    ax.axhline(100 * s["lps"]["float_val"], color="gray", ls="--", lw=0.8, label="float")
    ax.set_xlabel("compression ratio (32-bit weights / W_mem)")
    ax.set_ylabel("validation accuracy, 8-bit act. (%)")
    ax.set_ylim(max(0, 100 * s["lps"]["float_val"] - 25), 100 * s["lps"]["float_val"] + 2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    p = os.path.join(folder, "fig6_acc_vs_cr.png")
    fig.savefig(p)
    plt.close(fig)
    return p


def fig_finetune(bench: Bench, folder: str) -> list[str]:
    """Figs. 8-10: accuracy over fine-tuning epochs (WQR and STE) and weight histograms."""
    from wqrc.train.plots import plot_histograms

    plt = _plt()
    paths = []
    row = next(r for r in ROWS if r.key == "po2-eq3")
    plan = bench.plan("po2", {n: 3 for n in bench.layers})
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=120)
    for method, color in (("wqr", "tab:blue"), ("ste", "tab:orange")):
        _, hist = bench.tuned(row, plan, method)
        ep = [0] + [h["epoch"] for h in hist["rows"]]
        init = bench.row(row)["init"]["a8_test"]
        ax.plot(ep, [100 * init] + [100 * h["acc_Mq"] for h in hist["rows"]], "o-", color=color,
                label=f"{method.upper()} acc_Mq (a8)")
        ax.plot(ep[1:], [100 * h["acc_M"] for h in hist["rows"]], "x--", color=color,
                label=f"{method.upper()} acc_M (float weights)")
        if method == "wqr":
            hp = os.path.join(folder, "fig9_histograms_po2eq3.png")
            plot_histograms(hist["snapshots"], plan, RULE, hp)
            paths.append(hp)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"accuracy on {LOOP_TEST} test images (%)")
    ax.set_title("Po2-eq 3 fine-tuning, All-CNN-C / Fashion-MNIST (Fig. 8)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = os.path.join(folder, "fig8_finetune_po2eq3.png")
    fig.savefig(p)
    plt.close(fig)
    return [p] + paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/allcnn_c.onnx")
    ap.add_argument("--cache", default="benchmarks/.cache/paper_tables")
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--rows", default="all", help="comma-separated row keys: " + ", ".join(r.key for r in ROWS))
    ap.add_argument("--fresh", action="store_true", help="recompute the rows asked for instead of reusing the cache")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--wqr-lambda2", default=WQR_LAMBDA2,
                    help="λ2 schedule of the WQR runs (a non-default value is cached separately)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    wanted = [r for r in ROWS if args.rows == "all" or r.key in args.rows.split(",")]
    unknown = set(args.rows.split(",")) - {r.key for r in ROWS} - {"all"}
    if unknown:
        sys.exit(f"--rows: unknown {sorted(unknown)}")
    bench = Bench(args.model, args.cache, args.fresh, args.wqr_lambda2)
    t_start = time.time()
    print(f"model {args.model} ({sum(n.weight.size for n in bench.graph.weighted_nodes())} weights); "
          f"cache {args.cache}", flush=True)
    if any(r.pick for r in wanted):
        s = bench.search()
        print(f"search: {len(s['lps']['steps'])} steps, {s['lps']['evaluations']} evaluations, "
              f"{s['seconds']:.0f} s ({s['lps']['stopped_because']})", flush=True)
    results = []
    for row in wanted:
        t0 = time.time()
        r = bench.row(row)
        results.append((row, r))
        a32 = r.get("wqr", r.get("init", r)).get("a32_test")
        print(f"{row.label:<24} a32 test {pct(a32)}  ({time.time() - t0:.0f} s)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    if args.rows == "all":
        n_weights = sum(int(n.weight.size) for n in bench.graph.weighted_nodes())
        md = [f"All-CNN-C on Fashion-MNIST; model `{args.model}` (sha256 {bench.model_hash}...).", "",
              "### Activations at 32 bits (float32, the paper's setting)", "", table(results, "a32", n_weights), "",
              "### Activations at 8 bits (bit-exact simulator)", "", table(results, "a8", n_weights), ""]
        with open(os.path.join(args.out, "table_v.md"), "w") as fh:
            fh.write("\n".join(md))
        payload = dict(model=args.model, model_sha256_12=bench.model_hash, search=bench.search(),
                       rows={row.key: dict(asdict(row), **r) for row, r in results},
                       finetune={m: asdict(finetune_config(m, 1)) for m in ("wqr", "ste")})
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump(payload, fh, indent=1)
        print("\n" + "\n".join(md))
        if not args.no_figures:
            figs = fig_layer_sweep(bench, args.out) + [fig_acc_vs_cr(bench, results, args.out)]
            figs += fig_finetune(bench, args.out)
            print("figures: " + ", ".join(figs))
    print(f"wall time {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
