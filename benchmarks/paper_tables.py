"""The paper's Table V on a converged Fashion-MNIST baseline, every method under one budget, with a control.

    python benchmarks/paper_tables.py --jobs 2                  # the whole table; cached runs are reused
    python benchmarks/paper_tables.py --rows dfp-eq3 --methods wqr,float --seeds 0 --acts a8
    python benchmarks/paper_tables.py --report-only             # write the table from what is cached
    python benchmarks/paper_tables.py --rows dfp-eq3,po2-eq3 --methods float,ste,wqr,qr --acts a8 --epochs 6,12,24
                                                                # the budget sweep (issue 35)

Model: examples/fashion_allconv.onnx (examples/fashion_mnist/train_converged.py: trained
until its validation accuracy was flat). Data: Fashion-MNIST; fine-tuning trains on the
training split less the seeded 10% validation slice, every choice (the kept epoch, the
layer-wise plans) is made on that slice, and the test split (10,000 images) is read once
per finished model.

Rows: DFP-eq 4 and 3, Po2-eq 4, 3 and 2 (every layer the same width), DFP-lw and Po2-lw (the
layer-wise plan `wqrc lps` finds within SEARCH_MAX_DROP of float on the validation slice), and
for issue 18's comparison DFP-sqnr and DFP-ranked (Lin et al.'s SQNR allocation and the ranked
search, the same budget on the same slice). Writes accuracy_vs_wmem.png beside the table.
Methods, each under the same budget (epochs, Adam at LR with the paper's x0.1 drop for the
last quarter, batch, flips and shifts; wqrc/train/recipes.py):
  direct  quantize the baseline, no training;
  wqr     the paper's recipe (λ2 ramp, QR with λ1 = 100 in the last quarter);
  qr      the QR term alone on the same ramp;
  ste     straight-through fake quantization;
  float   the control: the same budget of float training, quantized directly. Δ against it
          separates what the method does from what more training does.
Ablations of WQR, opt in with --methods: wqr-paper-rule (exponents chosen by the paper's eq. 2
instead of mse: with the levels fixed, the ratchet that halved a layer's levels is gone),
wqr-detached (|W| in WQR as a constant), wqr-relevel (exponents re-chosen after each epoch);
and ste-learned (STE with Bae et al.'s learned exponents, wqrc/train/scales.py); ste-kd (STE
distilled from the float model, α = 0.5, T = 4: wqrc/train/distill.py); direct-channel and
ste-channel (each output channel's own exponent, chosen once by mse: --granularity channel).
Activations: a32 = float activations, quantized weights (the paper's setting; training sees
float activations); a8 = 8-bit activations run by the bit-exact simulator (training is
activation-aware: it sees the integer graph's formats). Seeds: SEEDS for the eq rows, seed 0
for the lw rows; the table reports mean ± std over seeds.

Every run is one job cached under --cache (a JSON result, and a per-epoch checkpoint that
an interrupted run resumes from), keyed by everything that changes it; runs recorded in the
committed docs/results/results.json count as cached too. So the table can be built across
several sessions, two jobs at a time with one thread each (--jobs 2).
Budgets: --epochs takes several (6,12,24,48): Table V (table_v.md, accuracy_vs_wmem.png) is the
EPOCHS budget's; every row measured at two or more budgets gets the budget sweep
(budget_sweep.md, accuracy_vs_budget.png): each method's accuracy per budget, the best method
per budget against the float control, and the budget (if any) at which WQR reaches STE.
Writes docs/results/table_v.md, docs/results/budget_sweep.md and docs/results/results.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODEL = "examples/fashion_allconv.onnx"
RULE = "mse"
PERCENTILE = 99.99
EPOCHS = 6
LR = 5e-4
BATCH = 128
SEEDS = (0, 1, 2)
SEARCH_MAX_DROP = 0.005
SEARCH_VAL_SAMPLES = 2000
ROWS = {  # key: (label, scheme, equal width, or the search that makes the per-layer plan)
    "dfp-eq4": ("DFP-eq 4", "dfp", 4), "dfp-eq3": ("DFP-eq 3", "dfp", 3),
    "po2-eq4": ("Po2-eq 4", "po2", 4), "po2-eq3": ("Po2-eq 3", "po2", 3),
    "dfp-lw": ("DFP-lw", "dfp", "greedy"), "po2-lw": ("Po2-lw", "po2", "greedy"),
    # issue 18's comparison: Lin et al.'s SQNR allocation and the ranked search beside the greedy
    # one (same budget, same validation slice), and Po2 at 2 bits for MSQE vs learned exponents
    "dfp-sqnr": ("DFP-sqnr", "dfp", "sqnr"), "dfp-ranked": ("DFP-ranked", "dfp", "ranked"),
    # the same three searches with a 3-point budget for direct quantization, a plan for fine-tuning
    # to recover (at 0.5 points each keeps 8 bits on this BatchNorm-folded network)
    "dfp-lw-3pt": ("DFP-lw 3pt", "dfp", ("greedy", 0.03)), "dfp-sqnr-3pt": ("DFP-sqnr 3pt", "dfp", ("sqnr", 0.03)),
    "dfp-ranked-3pt": ("DFP-ranked 3pt", "dfp", ("ranked", 0.03)),
    "po2-eq2": ("Po2-eq 2", "po2", 2),
    # issue 35's CR target (CR >= 10.67, what 3-bit weights give, within 0.5 points of float): the
    # greedy search's own path, with no accuracy limit, stopped at its first plan of that CR
    "dfp-lw-cr": ("DFP-lw CR 10.67", "dfp", ("greedy-cr", 32 / 3)),
    # the same path with what its last step over-saved given back (wqrc lps --min-cr 10.67)
    "dfp-lw-mincr": ("DFP-lw --min-cr 10.67", "dfp", ("min-cr", 32 / 3)),
    # that plan's widths under --scheme mixed: Po2 levels where a layer has 3 bits or fewer
    "mixed-lw-mincr": ("mixed-lw --min-cr 10.67", "mixed", ("min-cr", 32 / 3)),
}
METHODS = {"direct": None, "wqr": "paper", "qr": "qr", "ste": "ste", "float": "float"}
# ablations of WQR (opt in with --methods): the exponent rule, the |W| factor, re-estimated levels
ABLATIONS = {"wqr-paper-rule": ("paper", dict(exponent="paper")),
             "wqr-detached": ("paper", dict(wqr_weight="detached")),
             "wqr-relevel": ("paper", dict(scale="reestimate")),
             "ste-learned": ("ste", dict(scale="learned")),  # Bae et al.'s learned exponents (issue 18)
             # the same, exponents frozen at their running average for the last quarter (their stable exponent)
             "ste-learned-stable": ("ste", dict(scale="learned", scale_stable=0.75)),
             # the exponents at 20x the weights' learning rate: at 1x they cannot move one step in 6 epochs
             "ste-learned-lr20": ("ste", dict(scale="learned", scale_lr=20.0)),
             # issue 35: the regularizer on an STE forward, and WQR first with STE to finish
             "wqr-ste": ("wqr-ste", {}), "wqr-then-ste": ("wqr-then-ste", {}),
             # STE learning from the float model's softened outputs as well as the labels (wqrc/train/distill.py)
             "ste-kd": ("ste", dict(distill=0.5)),
             # each output channel's own exponent (docs/format.md §1c), fixed once as quantize
             # --granularity channel chooses them: untrained, and under STE
             "direct-channel": (None, dict(granularity="channel")),
             "ste-channel": ("ste", dict(granularity="channel"))}
DIRECT = ("direct", "direct-channel")  # no training: no budget, one seed
ACTS = {"a32": 32, "a8": 8}
VERSION = 1  # bump when a change invalidates cached runs


def model_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:12]


def cached(path: str, compute):
    if os.path.isfile(path):
        with open(path) as fh:
            return json.load(fh)
    value = compute()
    with open(path + ".tmp", "w") as fh:
        json.dump(value, fh, indent=1)
    os.replace(path + ".tmp", path)
    return value


def config(method: str, act: str, seed: int, epochs: int):
    from wqrc.train.finetune import FinetuneConfig
    from wqrc.train.recipes import recipe
    name, overrides = ABLATIONS[method] if method in ABLATIONS else (METHODS[method], {})
    r = recipe(name or "float", epochs, LR)  # direct: no training, only the data settings
    cfg = FinetuneConfig(epochs=epochs, lr=LR, lr_drops=r.lr_drops, batch=BATCH, method=r.method, lambda1=r.lambda1,
                         lambda2=r.lambda2, ste_from=r.ste_from, flip=True, shift=2, seed=seed, exponent=RULE, act_bits=ACTS[act],
                         calib_percentile=PERCENTILE)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def greedy_until_cr(ev, start_bits: dict, min_cr: float):
    """The first step of the greedy search's path (the paper's Algorithm 1, no accuracy limit)
    whose compression ratio is at least ``min_cr`` (before wqrc lps --min-cr gives back what that
    step over-saved)."""
    from wqrc.search import layerwise_precision_scaling
    from wqrc.search.lps import CR_TOLERANCE

    r = layerwise_precision_scaling(ev, max_drop=1.0, start_bits=start_bits, min_bits=2, min_cr=min_cr)
    return next(s for s in r.steps if s.compression_ratio >= min_cr - CR_TOLERANCE)


def layerwise_plan(model: str, scheme: str, cache: str, search="greedy") -> dict:
    """A per-layer plan (bits per layer) within SEARCH_MAX_DROP of float on the validation slice at
    a8: the greedy search (the paper's Algorithm 1), Lin et al.'s SQNR allocation bisected on the
    same slice, or the ranked search (wqrc lps --method ranked). ("greedy-cr", R): the greedy
    search with no accuracy limit, stopped at the first step of its path whose CR is at least R
    (the path does not depend on the limit, so this is where a larger limit would pass R)."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant.ranges import calibrate
    from wqrc.search import PlanEvaluator, layerwise_precision_scaling

    search, max_drop = (search, SEARCH_MAX_DROP) if isinstance(search, str) else search

    def compute():
        t0 = time.time()
        g = wqrc.load_model(model)
        ds = load_dataset("fashion-mnist")
        x_fit, _, x_val, y_val = ds.validation_split()
        start = 8 if scheme == "dfp" else 6  # Po2-7/8 need accumulators past 64 bits (slow Python ints)
        ev = PlanEvaluator(g, scheme, x_val[:SEARCH_VAL_SAMPLES], y_val[:SEARCH_VAL_SAMPLES],
                           ranges=calibrate(g, x_fit[:512], PERCENTILE), act_bits=8, exponent=RULE,
                           start_bits=start)
        if search in ("greedy-cr", "min-cr"):  # max_drop holds the ratio here
            if search == "greedy-cr":
                step = greedy_until_cr(ev, {n: start for n in ev.layers}, max_drop)
            else:
                step = layerwise_precision_scaling(ev, max_drop=1.0, start_bits={n: start for n in ev.layers},
                                                   min_bits=2, min_cr=max_drop).final
            return dict(bits=step.bits, val_accuracy=step.accuracy, float_val=ev.float_acc, cr=step.compression_ratio,
                        evaluations=ev.evaluations, seconds=time.time() - t0)
        if search == "greedy":
            r = layerwise_precision_scaling(ev, max_drop=max_drop, start_bits={n: start for n in ev.layers},
                                            min_bits=2)
            last = r.steps[-1]
            return dict(bits=last.bits, val_accuracy=last.accuracy, float_val=r.float_accuracy,
                        evaluations=r.evaluations, seconds=time.time() - t0)
        from wqrc.search.sqnr import sqnr_search, sqnr_table
        table = sqnr_table(g, scheme, RULE, range(start, 1, -1))
        sq = sqnr_search(table, accuracy=ev.commit, float_acc=ev.float_acc, max_drop=max_drop)
        if search == "sqnr":
            return dict(bits=dict(sq.bits), val_accuracy=ev.commit(sq.bits), float_val=ev.float_acc,
                        evaluations=ev.evaluations, seconds=time.time() - t0)
        from wqrc.search.ranked import ranked_search
        r = ranked_search(ev, table, max_drop=max_drop, start_bits=sq.bits, min_bits=2)
        last = r.steps[-1]
        return dict(bits=last.bits, val_accuracy=last.accuracy, float_val=r.float_accuracy,
                    evaluations=r.evaluations, seconds=time.time() - t0)
    suffix = ("" if search == "greedy" else f"_{search}") + ("" if max_drop == SEARCH_MAX_DROP else f"_{max_drop:g}")
    return cached(os.path.join(cache, f"{model_hash(model)}_search_{scheme}{suffix}_v{VERSION}.json"), compute)


def evaluate(graph, plan, act: str, x_fit, x, y) -> dict:
    """Test accuracy at the row's activations, and the Table V memory figures."""
    from wqrc.data import accuracy
    from wqrc.ir.to_torch import GraphModule, run_float
    from wqrc.quant.quantize import quantize_graph
    from wqrc.quant.ranges import calibrate
    from wqrc.report import build_report
    from wqrc.sim import simulate_float
    from wqrc.train.finetune import quantize_module_graph

    qm = quantize_graph(graph, plan, rule=RULE, act_bits=8, ranges=calibrate(graph, x_fit[:512], PERCENTILE))
    if ACTS[act] == 32:
        acc = accuracy(run_float(quantize_module_graph(GraphModule(graph), plan, RULE), x), y)
    else:
        acc = accuracy(simulate_float(qm, x), y)
    t = build_report(qm)["totals"]
    return dict(test=acc, cr=t["compression_ratio"], w_mem_bits=t["w_mem_bits"], sparsity=t["sparsity"])


def run_job(job: dict) -> dict:
    """One (row, method, act, seed) run; the float control is trained once per seed and quantized per row."""
    import torch
    warnings.simplefilter("ignore")
    torch.set_num_threads(job["threads"])
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.errors import WqrcError
    from wqrc.quant.plan import LayerSpec, layer_scheme
    from wqrc.train.finetune import finetune, pin_levels, splits, training_device

    t0 = time.time()
    g = wqrc.load_model(job["model"])
    ds = load_dataset("fashion-mnist")
    plan = {n: LayerSpec(layer_scheme(job["scheme"], int(b)), int(b)) for n, b in job["bits"].items()}   # mixed: by width
    cfg = config(job["method"], job["act"], job["seed"], job["epochs"])
    cfg.device = job["device"]
    x_fit = splits(ds, cfg)[0]
    out = dict(job={k: v for k, v in job.items() if k not in ("threads", "device")})
    if job["method"] in DIRECT:
        res = evaluate(g, pin_levels(g, plan, RULE, granularity=cfg.granularity), job["act"], x_fit, ds.x_test,
                       ds.y_test)
    else:
        ckpt = job["base"] + ".ckpt.pt"
        try:
            trained, hist = finetune(g, ds, plan, cfg, checkpoint=ckpt, resume=ckpt if os.path.isfile(ckpt) else None)
        except WqrcError:  # a checkpoint an older wqrc wrote: the run starts again
            os.remove(ckpt)
            trained, hist = finetune(g, ds, plan, cfg, checkpoint=ckpt)
        if job["method"] == "float":  # the control: the kept float weights, quantized directly
            res = evaluate(hist.float_graph, pin_levels(hist.float_graph, plan, RULE), job["act"], x_fit,
                           ds.x_test, ds.y_test)
            res["float_test"] = _float_test(hist.float_graph, ds)
        else:
            res = evaluate(trained, hist.plan, job["act"], x_fit, ds.x_test, ds.y_test)
        res.update(best_epoch=hist.best_epoch, val=[r["acc_Mq"] for r in hist.rows],
                   val_float=[r["acc_M"] for r in hist.rows], device=str(training_device(cfg)),
                   torch=torch.__version__)
    out.update(res, seconds=time.time() - t0)
    return out


def _float_test(graph, ds) -> float:
    from wqrc.data import accuracy
    from wqrc.ir.to_torch import run_float
    return accuracy(run_float(graph, ds.x_test), ds.y_test)


def plan_jobs(args, model: str, cache: str) -> list[dict]:
    import wqrc
    layers = [n.name for n in wqrc.load_model(model).weighted_nodes()]
    mh = model_hash(model)
    jobs = []
    for key, epochs in ((k, e) for e in args.epochs for k in args.rows):
        label, scheme, width = ROWS[key]
        equal = isinstance(width, int)
        bits = {n: width for n in layers} if equal else \
            layerwise_plan(model, "dfp" if scheme == "mixed" else scheme, cache, width)["bits"]   # mixed: DFP's search
        seeds = [s for s in args.seeds if equal or s == 0 or getattr(args, "plan_seeds", False)]
        for method in args.methods:
            for act in args.acts:
                for seed in (seeds if method not in DIRECT else [0]):
                    spec = dict(v=VERSION, model=mh, scheme=scheme, bits=[bits[n] for n in layers], method=method,
                                act=act, seed=seed, epochs=epochs, lr=LR, batch=BATCH)
                    if method == "float":  # one control per seed serves every row: its key omits the row
                        spec_train = dict(spec, scheme=None, bits=None, act=None)
                        tag = hashlib.sha256(json.dumps(spec_train, sort_keys=True).encode()).hexdigest()[:10]
                        base = os.path.join(cache, f"{mh}_float_s{seed}_{tag}")
                    else:
                        tag = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
                        base = os.path.join(cache, f"{mh}_{key}_{method}_{act}_s{seed}_{tag}")
                    rtag = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
                    jobs.append(dict(row=key, scheme=scheme, bits=bits, method=method, act=act, seed=seed,
                                     epochs=epochs, model=model, base=base,
                                     result=os.path.join(cache, f"{mh}_{key}_{method}_{act}_s{seed}_{rtag}.json"),
                                     threads=args.threads, device=getattr(args, "device", "cpu")))
    return jobs


def restore_from_results(jobs: list[dict], path: str) -> None:
    """Runs recorded in a committed results.json count as cached: the table grows across sessions
    (and machines) without rerunning what is already measured. A run is matched by its result key."""
    if not os.path.isfile(path):
        return
    with open(path) as fh:
        recorded = {os.path.basename(r["job"]["result"]): r for r in json.load(fh).get("runs", [])
                    if "result" in r.get("job", {})}
    for j in jobs:
        r = recorded.get(os.path.basename(j["result"]))
        if r is not None and not os.path.isfile(j["result"]):
            with open(j["result"], "w") as fh:
                json.dump(r, fh, indent=1)


def mean_std(values: list) -> str:
    if not values:
        return ""
    m = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{m:.2f}"
    return f"{m:.2f} ± {100 * statistics.stdev(values):.2f}"


def report(model: str, epochs: int, results: list[dict], baseline: dict) -> str:
    """Table V from every recorded run of this model and budget: rows, methods and activations as measured."""
    results = [r for r in results if r["job"]["epochs"] == epochs]
    methods = [m for m in {**METHODS, **ABLATIONS} if any(r["job"]["method"] == m for r in results)]
    seeds = sorted({r["job"]["seed"] for r in results})
    lines = [f"Converged baseline `{model}`: float test accuracy {100 * baseline['test']:.2f}% "
             f"({baseline['weights']} weights). Budget {epochs} epochs per method; seeds "
             f"{','.join(map(str, seeds))} where measured (a cell with one value: seed 0 only); mean ± std over "
             f"seeds; test split.", ""]
    by = {}
    for r in results:
        j = r["job"]
        by.setdefault((j["row"], j["act"]), {}).setdefault(j["method"], []).append(r)
    for act in ACTS:
        if not any(k[1] == act for k in by):
            continue
        lines += [f"### {act}: " + ("float activations (the paper's setting)" if act == "a32" else
                                     "8-bit activations, bit-exact simulator, activation-aware training"),
                  "", "| row | bits | CR | " + " | ".join(methods) + " | best | Δ best vs baseline | "
                  "Δ best vs float control |", "|" + "---|" * (6 + len(methods))]
        for key in ROWS:
            cell = by.get((key, act), {})
            if not cell:
                continue
            any_r = next(iter(cell.values()))[0]
            accs = {m: [r["test"] for r in cell.get(m, [])] for m in methods}
            means = {m: statistics.mean(v) for m, v in accs.items() if v and m in METHODS and m != "float"}
            best = max(means, key=means.get) if means else None
            ctl = accs.get("float") or []
            bits = list(any_r["job"]["bits"].values())
            bits_txt = str(bits[0]) if len(set(bits)) == 1 else ",".join(map(str, bits))
            row = [ROWS[key][0], bits_txt, f"{any_r['cr']:.2f}"] + [mean_std(accs[m]) for m in methods]
            row += [best or "", f"{100 * (means[best] - baseline['test']):+.2f}" if best else "",
                    f"{100 * (means[best] - statistics.mean(ctl)):+.2f}" if best and ctl else ""]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines + act_gap(by, methods))


def act_gap(by: dict, methods: list) -> list:
    """Issue 17's check, a8 against a32 per row and method: the mean over the seeds that both
    have (so that a seed measured at one width only does not move the difference)."""
    lines = ["### a8 against a32 (the seeds both have; the target: a8 no more than 0.3 points below)", "",
             "| row | method | seeds | a8 | a32 | Δ |", "|---|---|---|---|---|---|"]
    for key in ROWS:
        for m in methods:
            runs = {act: {r["job"]["seed"]: r["test"] for r in by.get((key, act), {}).get(m, [])} for act in ACTS}
            common = sorted(set(runs["a8"]) & set(runs["a32"]))
            if m == "float" or not common:
                continue
            a8, a32 = (statistics.mean(runs[act][s] for s in common) for act in ("a8", "a32"))
            lines.append(f"| {ROWS[key][0]} | {m} | {','.join(map(str, common))} | {100 * a8:.2f} | {100 * a32:.2f} | "
                         f"{100 * (a8 - a32):+.2f} |")
    return lines + [""] if len(lines) > 4 else []


def sweep_cells(results: list[dict]) -> dict:
    """(row, act) -> method -> epochs -> test accuracies over seeds, for the rows measured at two or
    more budgets (direct quantization has no budget and is left out); rows, activations and methods
    in the order ROWS, ACTS and the method tables declare them."""
    by = {}
    for r in results:
        j = r["job"]
        if j["method"] not in DIRECT:
            by.setdefault((j["row"], j["act"]), {}).setdefault(j["method"], {}).setdefault(j["epochs"], []).append(r["test"])
    rows, acts, methods = list(ROWS), list(ACTS), list({**METHODS, **ABLATIONS})
    return {k: dict(sorted(v.items(), key=lambda kv: methods.index(kv[0])))
            for k, v in sorted(by.items(), key=lambda kv: (rows.index(kv[0][0]), acts.index(kv[0][1])))
            if len({e for m in v.values() for e in m}) >= 2}


def budget_report(results: list[dict], baseline: dict) -> str:
    """The budget sweep (issue 35): per row, each method's test accuracy (mean ± std over seeds, the
    number of seeds in brackets) at each budget; the best trained method per budget, its Δ against
    the baseline and against the float control of the same budget; WQR minus STE; and the budget,
    if any, at which WQR reaches STE. Empty where no row has two budgets."""
    cells = sweep_cells(results)
    if not cells:
        return ""
    lines = ["## The budget sweep", "", f"Converged baseline: float test accuracy {100 * baseline['test']:.2f}%. Each cell: "
             "test accuracy, mean ± std over seeds (the number of seeds in brackets); the same recipe scaled to "
             "each budget (wqrc/train/recipes.py); float = the float-continued control, quantized directly.", ""]
    for (row, act), cell in cells.items():
        budgets = sorted({e for m in cell.values() for e in m})
        methods = list(cell)
        lines += [f"### {ROWS[row][0]}, {act}", "", "| method | " + " | ".join(f"{e} epochs" for e in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(
                f"{mean_std(cell[m][e])} ({len(cell[m][e])})" if e in cell[m] else "" for e in budgets) + " |")
        mean = {(m, e): statistics.mean(v) for m, per in cell.items() for e, v in per.items()}
        best = {e: max((m for m in methods if m != "float" and (m, e) in mean), key=lambda m: mean[(m, e)], default=None)
                for e in budgets}
        lines.append("| best | " + " | ".join(best[e] or "" for e in budgets) + " |")
        lines.append("| Δ best vs baseline | " + " | ".join(
            f"{100 * (mean[(best[e], e)] - baseline['test']):+.2f}" if best[e] else "" for e in budgets) + " |")
        lines.append("| Δ best vs float control | " + " | ".join(
            f"{100 * (mean[(best[e], e)] - mean[('float', e)]):+.2f}" if best[e] and ("float", e) in mean else ""
            for e in budgets) + " |")
        gap = {e: mean[("wqr", e)] - mean[("ste", e)] for e in budgets if ("wqr", e) in mean and ("ste", e) in mean}
        if gap:
            lines.append("| WQR − STE | " + " | ".join(f"{100 * gap[e]:+.2f}" if e in gap else "" for e in budgets) + " |")
            caught = [e for e in sorted(gap) if gap[e] >= 0]
            closest = max(gap, key=gap.get)
            lines += ["", f"WQR reaches STE at {caught[0]} epochs." if caught else
                      f"WQR does not reach STE at any budget measured ({', '.join(map(str, sorted(gap)))} epochs); "
                      f"closest at {closest} epochs ({100 * gap[closest]:+.2f} points)."]
        lines.append("")
    return "\n".join(lines)


def plot_budget(results: list[dict], baseline: dict, path: str) -> None:
    """Accuracy against the budget (epochs, log scale), one panel per swept row and activation width,
    one line per method with its seeds' std as error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sweep_cells(results)
    fig, axes = plt.subplots(1, len(cells), figsize=(5.2 * len(cells), 4.2), squeeze=False)
    for ax, key in zip(axes[0], cells):
        for m, per in cells[key].items():
            es = sorted(per)
            mu = [100 * statistics.mean(per[e]) for e in es]
            sd = [100 * statistics.stdev(per[e]) if len(per[e]) > 1 else 0.0 for e in es]
            ax.errorbar(es, mu, yerr=sd, marker="o", capsize=3, label=m, ls="--" if m == "float" else "-")
        ax.axhline(100 * baseline["test"], color="grey", lw=0.8, ls=":", label="float baseline")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({e for per in cells[key].values() for e in per}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("fine-tuning budget (epochs)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{ROWS[key[0]][0]}, {key[1]}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(results: list[dict], baseline: dict, path: str) -> None:
    """Accuracy against W_mem at a8, every row: direct and each fine-tuning method (mean over seeds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {}
    for r in results:
        j = r["job"]
        if j["act"] == "a8" and j["method"] != "float":
            by.setdefault((j["row"], j["method"]), []).append(r)
    if not by:
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    markers = {"direct": "o", "wqr": "s", "qr": "D", "ste": "^", "ste-learned": "v", "ste-learned-stable": "<", "ste-learned-lr20": ">"}
    for method, marker in markers.items():
        pts = [(statistics.mean(x["w_mem_bits"] for x in v) / 8192, 100 * statistics.mean(x["test"] for x in v), row)
               for (row, m), v in by.items() if m == method]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=method)
            for x, y, row in pts:
                ax.annotate(ROWS[row][0], (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axhline(100 * baseline["test"], color="grey", lw=0.8, ls="--", label="float baseline")
    ax.set_xlabel("W_mem (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fashion-MNIST All-conv, 8-bit activations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--cache", default="benchmarks/.cache/paper_tables")
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--acts", default=",".join(ACTS))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--plan-seeds", action="store_true",
                    help="fine-tune the per-layer plan rows at every --seeds too (by default at seed 0 only)")
    ap.add_argument("--epochs", default=str(EPOCHS), help="the budget, or several for the sweep: 6,12,24,48")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (0: cores / jobs)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                    help="where training runs (wqrc finetune --device); not part of a run's cache key")
    ap.add_argument("--report-only", action="store_true", help="write the table from cached runs only")
    args = ap.parse_args()
    for name, allowed in (("rows", ROWS), ("methods", {**METHODS, **ABLATIONS}), ("acts", ACTS)):
        vals = getattr(args, name).split(",")
        bad = [v for v in vals if v not in allowed]
        if bad:
            sys.exit(f"--{name}: unknown {bad} (use {', '.join(allowed)})")
        setattr(args, name, vals)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    try:
        args.epochs = [int(e) for e in args.epochs.split(",")]
    except ValueError:
        sys.exit(f"--epochs: {args.epochs!r} is not a list of whole numbers of epochs (e.g. 6,12,24)")
    if any(e < 1 for e in args.epochs):
        sys.exit(f"--epochs: budgets are at least 1 epoch ({args.epochs})")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    warnings.simplefilter("ignore")
    os.makedirs(args.cache, exist_ok=True)
    t_start = time.time()
    jobs = plan_jobs(args, args.model, args.cache)
    restore_from_results(jobs, os.path.join(args.out, "results.json"))
    todo = [j for j in jobs if not os.path.isfile(j["result"])]
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} cached, {len(todo)} to do "
          f"({args.jobs} at a time, {args.threads} threads each)", flush=True)
    # phase 1 trains each float control once (one run per seed serves every row); phase 2 the rest
    first, seen = [], set()
    for j in todo:
        if j["method"] == "float" and j["base"] not in seen:
            seen.add(j["base"])
            first.append(j)
    phases = [first, [j for j in todo if j not in first]]
    for phase in phases if not args.report_only else ():
        # a CUDA context does not survive fork: runs that train on a GPU start in fresh processes
        ctx = multiprocessing.get_context("spawn" if args.device != "cpu" else None)
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
            futures = {pool.submit(run_job, j): j for j in phase}
            for f in as_completed(futures):
                j, r = futures[f], f.result()
                with open(j["result"] + ".tmp", "w") as fh:
                    json.dump(r, fh, indent=1)
                os.replace(j["result"] + ".tmp", j["result"])
                print(f"  {j['row']} {j['method']} {j['act']} seed {j['seed']}: test {100 * r['test']:.2f}% "
                      f"(CR {r['cr']:.2f}, {r['seconds']:.0f} s)", flush=True)
    results = {}
    out_json = os.path.join(args.out, "results.json")
    if os.path.isfile(out_json):  # runs recorded earlier (other rows, methods or seeds) stay in the table
        with open(out_json) as fh:
            recorded = json.load(fh)
        if recorded.get("model_sha256_12") == model_hash(args.model):
            results = {os.path.basename(r["job"]["result"]): r for r in recorded.get("runs", [])}
    for j in jobs:
        if os.path.isfile(j["result"]):
            with open(j["result"]) as fh:
                results[os.path.basename(j["result"])] = json.load(fh)
    results = list(results.values())
    import wqrc
    from wqrc.data import accuracy, load_dataset
    from wqrc.ir.to_torch import run_float
    g = wqrc.load_model(args.model)
    ds = load_dataset("fashion-mnist")
    baseline = dict(test=accuracy(run_float(g, ds.x_test), ds.y_test),
                    weights=int(sum(n.weight.size for n in g.weighted_nodes())))
    md = report(args.model, EPOCHS, results, baseline)
    sweep = budget_report(results, baseline)
    print("\n" + md + ("\n" + sweep if sweep else ""))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table_v.md"), "w") as fh:
        fh.write(md + "\n")
    plot([r for r in results if r["job"]["epochs"] == EPOCHS], baseline, os.path.join(args.out, "accuracy_vs_wmem.png"))
    if sweep:
        with open(os.path.join(args.out, "budget_sweep.md"), "w") as fh:
            fh.write(sweep + "\n")
        plot_budget(results, baseline, os.path.join(args.out, "accuracy_vs_budget.png"))
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def portable(run: dict) -> dict:
        """A run with its cache paths relative to the checkout (results.json is committed: no machine's paths)."""
        job = {k: os.path.relpath(v, here) if k in ("base", "result") and os.path.isabs(v) else v
               for k, v in run.get("job", {}).items()}
        return {**run, "job": job}

    results = [portable(r) for r in results]
    with open(out_json + ".tmp", "w") as fh:
        json.dump(dict(model=args.model, model_sha256_12=model_hash(args.model), baseline=baseline,
                       lr=LR, batch=BATCH, finetune={str(e): {m: asdict(config(m, "a8", 0, e))
                                                              for m in {**METHODS, **ABLATIONS} if m not in DIRECT}
                                                     for e in sorted({r["job"]["epochs"] for r in results})},
                       runs=results), fh, indent=1)
    os.replace(out_json + ".tmp", out_json)
    done = sum(os.path.isfile(j["result"]) for j in jobs)
    print(f"{done} of the {len(jobs)} runs asked for are done; {len(results)} runs in the table; "
          f"wall time {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
