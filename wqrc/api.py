"""The Python API: every CLI command is one of these calls (the CLI parses, calls, prints).

    g  = wqrc.load_model("model.onnx")              # or wqrc.from_torch(module, x)
    qm = wqrc.quantize(g, scheme="po2", bits=4, calib=x_calib)
    y  = wqrc.simulate(qm, qm.quantize_input(x))
    api.compile(qm, ["c", "rtl"], "out")           # the targets on disk
    res = api.finetune("model.onnx", "digits", output="tuned.onnx", scheme="po2", bits=3)
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from wqrc.errors import WqrcError
from wqrc.holdout import DEFAULT_VAL_SPLIT
from wqrc.frontend.onnx import load_onnx
from wqrc.frontend.torch import from_torch as _from_torch, load_torchscript
from wqrc.ir.graph import Graph, fit_input
from wqrc.passes import canonicalize
from wqrc.quant.exponent import AUTO, resolve_rule
from wqrc.quant.plan import make_plan
from wqrc.quant.qmodel import QModel
from wqrc.quant.quantize import quantize_graph
from wqrc.quant.ranges import ACT_RULES, calibrate, static_ranges


class CalibrationWarning(UserWarning):
    """Activation formats came from a static range analysis, not from data."""


def load_model(path: str, input_shape: Optional[Sequence[int]] = None) -> Graph:
    """Read ONNX (``.onnx``), TFLite (``.tflite``) or TorchScript (``.pt``/``.pth``, needs ``input_shape``)
    as a canonical graph."""
    if path.endswith((".pt", ".pth", ".ts")):
        from wqrc.frontend.torch_file import TORCHSCRIPT, explain, torch_file_kind
        kind = torch_file_kind(path)
        if kind != TORCHSCRIPT:
            raise WqrcError(explain(path, kind))
        if not input_shape:
            raise WqrcError(f"{path}: a TorchScript model needs --input-shape C,H,W")
        return canonicalize(load_torchscript(path, tuple(input_shape)))
    if path.endswith(".npz"):
        raise WqrcError(f"{path}: this is a quantized model; the command needs a float model (.onnx or .pt)")
    if path.endswith(".tflite"):
        from wqrc.frontend.tflite import load_tflite
        return canonicalize(load_tflite(path))
    return canonicalize(load_onnx(path))


def from_torch(module, example_input) -> Graph:
    """Canonical graph of a ``torch.nn.Module`` traced on ``example_input``."""
    return canonicalize(_from_torch(module, example_input))


def quantize(graph: Graph, *, scheme: str = "dfp", bits=8, act_bits: int = 8, exponent: str = AUTO,
             calib: Optional[np.ndarray] = None, input_range: tuple[float, float] = (-1.0, 1.0),
             percentile: Optional[float] = None, granularity: str = AUTO, act_rule: str = "auto") -> QModel:
    """Quantize a float graph. ``bits``: int, per-layer list, or plan-file path; ``granularity``:
    one weight exponent per layer or per output channel (docs/format.md §1c); "auto" (the default)
    is the model's own grouping where wqrc quantizes weights it held quantized (per channel for an
    int8 TFLite model's per-channel scales), per layer otherwise.

    ``exponent`` (docs/format.md §1): "auto" (the default) is "output" where ``calib`` is given,
    exponents are per layer and the rule's estimated time fits output_rule.AUTO_BUDGET_SECONDS (a
    minute on 2 cores), "mse" otherwise (a note says so where the budget decided).

    ``act_rule`` (with calibration data, no percentile): "max" takes each tensor's max-abs,
    "mse" the format of least squared error on the data (wqrc.quant.ranges), "auto" both and
    keeps the one whose model output is nearer the float model's on the calibration samples
    (its SQNR, wqrc.quant.health; two quantizations and two runs of 64 samples).

    With ``calib`` (float inputs) activation formats come from the data;
    without, from a static range analysis of ``input_range`` (coarser: a
    :class:`CalibrationWarning` says so).
    """
    if not graph.weighted_nodes():
        raise WqrcError(f"{graph.source or 'the model'}: has no conv or dense layer, so there are no weights "
                        f"to quantize")
    if isinstance(act_bits, bool) or not isinstance(act_bits, (int, np.integer)) or not 2 <= act_bits <= 32:
        raise WqrcError(f"act_bits {act_bits!r} is not an integer in 2..32")
    if percentile is not None and not (np.isfinite(percentile) and 0 < percentile <= 100):
        raise WqrcError(f"percentile {percentile!r} is not in (0, 100]")
    if act_rule not in ACT_RULES:
        raise WqrcError(f"--act-rule: unknown value '{act_rule}' (use {', '.join(ACT_RULES)})")
    if granularity == AUTO:
        granularity = graph.weight_granularity
    if graph.weight_formats and granularity != "layer":
        raise WqrcError(f"--granularity {granularity}: the model's own quantizers (QONNX) fix its weight exponents")
    plan = make_plan(graph, scheme, bits)
    auto_note, asked = None, exponent
    exponent = resolve_rule(exponent, calib is not None, granularity)
    if calib is not None:
        calib = np.asarray(calib)
        if calib.dtype.kind not in "biuf" or calib.size == 0:
            raise WqrcError(f"calibration data must be a non-empty array of real numbers (got {calib.dtype}, "
                            f"shape {calib.shape})")
        calib = fit_input(calib.astype(np.float32), graph.input_shape, graph.input_layout)
        if not np.all(np.isfinite(calib)):
            raise WqrcError("calibration data holds NaN or infinite values")
        if tuple(calib.shape[1:]) != tuple(graph.input_shape):
            raise WqrcError(f"calibration data has samples of shape {calib.shape[1:]}, "
                            f"the model expects {tuple(graph.input_shape)}")
        if asked == AUTO and exponent == "output":   # within a time budget (a note where it decides)
            from wqrc.quant.output_rule import over_budget
            auto_note = over_budget(graph, plan, len(calib))
            if auto_note:
                exponent = "mse"
        ranges = calibrate(graph, calib, percentile)
        how = f"calibrated on {len(calib)} samples" + (f" (percentile {percentile})" if percentile else " (max-abs)")
        if percentile is None and act_rule != "max":
            candidates = {"max": ranges, "mse": calibrate(graph, calib, None, "mse", act_bits)}
            if act_rule == "mse":
                ranges, how = candidates["mse"], f"calibrated on {len(calib)} samples (least squared error)"
    else:
        lo, hi = input_range
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise WqrcError(f"--input-range: [{lo}, {hi}] must be finite")
        if not lo < hi:
            raise WqrcError(f"--input-range: low {lo} must be below high {hi}")
        warnings.warn("no calibration data: activation formats come from a static range analysis of the "
                      f"input range [{lo}, {hi}]; --calib DATA gives finer formats", CalibrationWarning)
        ranges = static_ranges(graph, lo, hi)
        how = f"static range analysis of input range [{lo}, {hi}]"
    meta = {"source": os.path.basename(graph.source) if graph.source else "", "activation_ranges": how}
    if exponent == "output":
        if calib is None:
            raise WqrcError("--exponent output chooses each layer's exponent by its output error on calibration "
                            "data: give --calib, or use another rule")
        from wqrc.quant.output_rule import activation_grid_at, pin_by_output_error
        if granularity == "layer":  # per channel, quantize_graph refuses the rule in one line
            # scored with activations rounded as the integer graph will round them (its formats
            # from the ranges the act rule starts from: least squared error unless max or percentile)
            grid = activation_grid_at(graph, plan, candidates["mse"] if percentile is None and act_rule != "max"
                                      else ranges, act_bits)
            plan = pin_by_output_error(graph, plan, calib, act_grid=grid)
    if calib is not None and percentile is None and act_rule == "auto":
        qm = _better_act_rule(graph, plan, calib, candidates, dict(rule=exponent, act_bits=act_bits, meta=meta,
                                                                   granularity=granularity))
    else:
        qm = quantize_graph(graph, plan, rule=exponent, act_bits=act_bits, ranges=ranges, meta=meta,
                            granularity=granularity)
    if auto_note:
        qm.notes.append(auto_note)
    return qm


def _better_act_rule(graph: Graph, plan, calib: np.ndarray, candidates: dict, kw: dict) -> QModel:
    """Both activation rules' models; the one whose output has the higher SQNR against the float
    model on the first calibration samples (max-abs on a tie)."""
    from wqrc.ir.to_torch import run_float
    from wqrc.quant.health import SAMPLES, sqnr_db
    from wqrc.sim import simulate_float

    x = calib[:SAMPLES]
    ref = run_float(graph, x)
    scored = {}
    for rule, ranges in candidates.items():
        qm = quantize_graph(graph, plan, ranges=ranges, **{**kw, "meta": dict(kw["meta"])})
        scored[rule] = (sqnr_db(ref, simulate_float(qm, x)), qm)
    rule = "mse" if scored["mse"][0] > scored["max"][0] else "max"
    db, qm = scored[rule]
    other = scored["max" if rule == "mse" else "mse"][0]
    names = {"max": "max-abs", "mse": "least squared error"}
    qm.meta["activation_ranges"] = (f"calibrated on {len(calib)} samples ({names[rule]}: output SQNR {db:.1f} dB "
                                    f"against {other:.1f} dB by {names['max' if rule == 'mse' else 'mse']} on "
                                    f"{len(x)} samples)")
    qm.meta["act_rule"] = rule
    return qm


def precision_search(graph: Graph, dataset, *, scheme: str = "dfp", max_drop: float = 0.005,
                     start_bits=8, min_bits: int = 2, criterion: str = "paper", act_bits: int = 8,
                     exponent: str = AUTO, val_split: float = DEFAULT_VAL_SPLIT, val_samples: Optional[int] = None,
                     calib_samples: int = 512, progress=None, method: str = "greedy",
                     min_cr: Optional[float] = None):
    """Layer-wise precision scaling on a validation split of ``dataset``'s training data.

    ``method``: ``greedy`` (the paper's Algorithm 1, wqrc/search/lps.py) or ``ranked`` (the SQNR
    plan, then layers ranked by their SQNR cost and verified by bisection: wqrc/search/ranked.py,
    for networks of many layers). The validation split (``val_split`` of the training data,
    seeded) is never the test split; calibration uses the rest of the training data. Returns
    (SearchResult, PlanEvaluator). With ``min_cr`` (greedy only) the budget is a compression
    ratio instead of ``max_drop``: the most accurate plan the greedy path finds at CR >= min_cr.
    """
    from wqrc.plan_search import check_search
    from wqrc.quant.plan import make_plan
    from wqrc.search import PlanEvaluator, layerwise_precision_scaling

    exponent = resolve_rule(exponent, calibrated=False)   # a search quantizes per candidate: auto is mse
    if not 0 < val_split < 1:
        raise WqrcError(f"--val-split: {val_split} must be between 0 and 1")
    if max_drop < 0:
        raise WqrcError(f"--max-drop: {max_drop} must be >= 0")
    check_search(method, None, min_cr, scheme)
    x_fit, _, x_val, y_val = dataset.validation_split(val_split)
    if val_samples:
        x_val, y_val = x_val[:val_samples], y_val[:val_samples]
    start = {n: s.bits for n, s in make_plan(graph, scheme, start_bits).items()}
    ranges = calibrate(graph, x_fit[:calib_samples])
    if method == "ranked":
        if exponent == "output":
            raise WqrcError("lps --method ranked ranks layers by the SQNR of their weights; --exponent output "
                            "needs data per trial: use --exponent mse (or the greedy search)")
        if len(set(start.values())) != 1:
            raise WqrcError("--start-bits: the ranked search takes one width, the widest it may use")
    ev = PlanEvaluator(graph, scheme, x_val, y_val, ranges=ranges, act_bits=act_bits, exponent=exponent,
                       start_bits=max(start.values()))
    if method == "ranked":
        from wqrc.search.ranked import ranked_search
        from wqrc.search.sqnr import sqnr_search, sqnr_table

        table = sqnr_table(graph, scheme, exponent, range(max(start.values()), min_bits - 1, -1))
        sq = sqnr_search(table, accuracy=ev.commit, float_acc=ev.float_acc, max_drop=max_drop)
        result = ranked_search(ev, table, max_drop=max_drop, start_bits=sq.bits, min_bits=min_bits,
                               progress=progress)
        return result, ev
    if method != "greedy":
        raise WqrcError(f"precision search method '{method}': use greedy or ranked")
    result = layerwise_precision_scaling(ev, max_drop=max_drop, start_bits=start, min_bits=min_bits,
                                         criterion=criterion, progress=progress, min_cr=min_cr)
    return result, ev


def sqnr_allocation(graph: Graph, *, scheme: str = "dfp", exponent: str = AUTO, start_bits: int = 8,
                    min_bits: int = 2, target_db: Optional[float] = None, max_w_mem: Optional[int] = None,
                    dataset=None, max_drop: Optional[float] = None, act_bits: int = 8, val_split: float = DEFAULT_VAL_SPLIT,
                    val_samples: Optional[int] = None, calib_samples: int = 512):
    """Lin et al.'s SQNR bit allocation (wqrc/search/sqnr.py), widths min_bits..start_bits.

    With ``target_db`` or ``max_w_mem`` the plan comes from the weights alone; with
    ``dataset`` and ``max_drop`` the trade-off curve is bisected on a validation split of the
    training data (never the test split). Returns an SqnrResult."""
    from wqrc.search import PlanEvaluator
    from wqrc.search.sqnr import sqnr_search, sqnr_table

    exponent = resolve_rule(exponent, calibrated=False)   # from the weights alone: auto is mse
    if exponent == "output":
        raise WqrcError("--method sqnr measures each layer's SQNR from its weights alone; --exponent output "
                        "needs data: use --exponent mse (or the greedy search)")
    table = sqnr_table(graph, scheme, exponent, range(start_bits, min_bits - 1, -1))
    if target_db is not None or max_w_mem is not None or dataset is None:
        return sqnr_search(table, target_db=target_db, max_w_mem=max_w_mem, max_drop=max_drop)
    if max_drop is None or max_drop < 0:
        raise WqrcError("the SQNR allocation with --data needs --max-drop >= 0")
    if not 0 < val_split < 1:
        raise WqrcError(f"--val-split: {val_split} must be between 0 and 1")
    x_fit, _, x_val, y_val = dataset.validation_split(val_split)
    if val_samples:
        x_val, y_val = x_val[:val_samples], y_val[:val_samples]
    ev = PlanEvaluator(graph, scheme, x_val, y_val, ranges=calibrate(graph, x_fit[:calib_samples]),
                       act_bits=act_bits, exponent=exponent, start_bits=start_bits)
    res = sqnr_search(table, accuracy=ev.commit, float_acc=ev.float_acc, max_drop=max_drop)
    res.accuracy = ev.commit(res.bits)
    res.float_accuracy = ev.float_acc
    return res


def compile(model, targets: Sequence[str] = ("all",), out: str = "out", *, force: bool = False,
            word_bits: int = 32, vectors: int = 8, data: Optional[np.ndarray] = None, parallelism: str = "1",
            io: str = "array", lanes: int = 1, rtl_form: str = "layers", weight_store: str = "rom",
            fpga: str = "up5k", measure: Sequence[str] = ()) -> dict:
    """Write the hardware targets of a quantized model into the folder ``out``; returns the report
    (also written as ``out/report.json``).

    ``model`` is a :class:`QModel` (from :func:`quantize`) or the path of a ``.wqrc.npz`` (or of a
    folder an earlier compile wrote); ``targets`` any of ``c``, ``rom``, ``hls``, ``rtl``, ``qonnx``
    and ``all``; ``data`` float samples the test vectors are drawn from. The folder is written all
    or nothing, and ``force`` replaces one only when it holds nothing but an earlier output
    (docs/targets.md). ``rtl_form`` is ``layers`` (an engine per layer), ``seq`` (the
    descriptor-driven engines) or ``auto`` (seq unless a layer has no engine there), ``weight_store`` ``rom`` or ``flash`` and ``fpga`` the part it must
    fit (seq only); ``measure`` runs the RTL's simulation and synthesis (``sim``,
    ``ice40``, ``xilinx``, ``all``).
    """
    from wqrc.compile import compile_model, resolve_targets

    chosen, measured = resolve_targets(targets, measure)
    qm = model if isinstance(model, QModel) else QModel.load(os.fspath(model))
    return compile_model(qm, os.fspath(out), chosen, word_bits=int(word_bits), vectors=vectors, data=data,
                         force=force, hls_options=dict(parallelism=parallelism, io=io),
                         rtl_options=dict(lanes=lanes, form=rtl_form, weights=weight_store, fpga=fpga),
                         measure=measured,
                         inputs=[None if isinstance(model, QModel) else os.fspath(model)])


@dataclass
class FinetuneResult:
    """What :func:`finetune` did: the trained graph and the plan its weights sit on, the per-epoch
    history, accuracies (validation slice before training; test split for float, direct
    quantization and the kept epoch) and the files written."""
    graph: Graph
    plan: dict
    history: object
    val_float: float
    val_direct: float
    test_float: float
    test_direct: float
    test_final: float
    files: dict = field(default_factory=dict)   # "model", "plan", "log", "checkpoint" -> path


def finetune(model, dataset, *, output: str, scheme: str = "dfp", bits="8", config=None,
             resume: Optional[str] = None, on_start=None, on_batch=None, on_epoch=None) -> FinetuneResult:
    """Fine-tune a float model with QR/WQR (or STE) at fixed levels, then write it: the paper's
    trained quantization (docs/training.md).

    ``model``: a path or a :class:`Graph`; ``dataset``: a :class:`wqrc.data.Dataset` or a dataset
    spec (``digits``, ``fashion-mnist``, an ``.npz``); ``config``: a
    :class:`wqrc.train.finetune.FinetuneConfig`. Writes ``output`` (ONNX, weights on their levels)
    and, beside it, ``.plan.json`` (the levels), ``.log.csv`` and the ``.ckpt.pt`` checkpoint
    ``resume`` continues from. ``on_start(plan, val_float, val_direct)`` is called before training,
    ``on_batch``/``on_epoch`` during it. Under torchrun the processes train data-parallel
    (wqrc/train/distributed.py): rank 0 returns the result and writes the files, the others None.
    """
    import json

    import onnx

    from wqrc.data import Dataset, check_fits, load_dataset
    from wqrc.ir.to_onnx import graph_to_onnx
    from wqrc.outputs import atomic_file
    from wqrc.quant.plan import parse_bits, plan_to_json
    from wqrc.train import distributed
    from wqrc.train.finetune import FinetuneConfig, check_config, evaluate, finetune as run, training_device

    graph = model if isinstance(model, Graph) else load_model(os.fspath(model))
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    check_fits(ds, graph.input_shape, int(np.prod(graph.shapes[graph.output])), layout=graph.input_layout)
    plan = make_plan(graph, scheme, parse_bits(bits) if isinstance(bits, str) else bits)
    cfg = config or FinetuneConfig()
    check_config(cfg)
    base = os.path.splitext(output)[0]
    files = dict(model=output, plan=base + ".plan.json", log=base + ".log.csv", checkpoint=base + ".ckpt.pt")
    world, _ = distributed.join(training_device(cfg))   # torchrun's processes: data-parallel
    if not world.main:   # a helper process: it trains its share; rank 0 scores and writes
        run(graph, ds, plan, cfg, resume=resume)
        distributed.leave(world)
        return None
    val_float, val_direct = evaluate(graph, plan, cfg, ds, split="val")
    if on_start:
        on_start(plan, val_float, val_direct)
    trained, history = run(graph, ds, plan, cfg, checkpoint=files["checkpoint"], resume=resume,
                           log_csv=files["log"], on_batch=on_batch, on_epoch=on_epoch)
    distributed.leave(world)
    with atomic_file(output) as tmp:
        onnx.save(graph_to_onnx(trained), tmp)
    with atomic_file(files["plan"]) as tmp:
        with open(tmp, "w") as fh:
            json.dump(plan_to_json(history.plan), fh, indent=1)
    # the test split, read once: the float model, its direct quantization and the kept epoch
    test_float, test_direct = evaluate(graph, plan, cfg, ds)
    _, test_final = evaluate(trained, history.plan, cfg, ds)
    return FinetuneResult(trained, history.plan, history, val_float, val_direct, test_float, test_direct, test_final,
                          files)


def accuracy(graph, qm, data: str) -> dict:
    """Test-split accuracy of the float graph (when given) and of the integer model, on a dataset spec."""
    from wqrc.data import accuracy, check_fits, load_dataset
    from wqrc.ir.to_torch import run_float
    from wqrc.sim import simulate_float

    ds = load_dataset(data)
    check_fits(ds, qm.input_shape, math.prod(qm.output_shape), layout=qm.input_layout)
    x, y = ds.split("test")
    res = {"data": f"{data} test split ({len(y)} samples)"}
    if graph is not None:
        res["acc_M"] = accuracy(run_float(graph, x), y)
    res["acc_Mq"] = accuracy(simulate_float(qm, x), y)
    if "acc_M" in res:
        res["delta_acc"] = res["acc_Mq"] - res["acc_M"]
    return res
