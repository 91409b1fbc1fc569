"""Trained quantization: the paper's Algorithm 2, a straight-through baseline and a float control.

Start from the float model, fix every layer's level set Q_n (its exponent, chosen
once by the exponent rule), train with ``loss = CE + λ1(epoch)·QR + λ2(epoch)·WQR``
(``method="wqr"``), with straight-through fake-quantized weights (``"ste"``) or
plainly (``"float"``, the control with the same budget), and quantize at the end:
the returned graph's weights are the quantization levels themselves. With
activations of at most 16 bits the forward pass also fake-quantizes every tensor
to the integer graph's formats (activation-aware), so what is trained is what
the simulator runs. With ``distill`` (α > 0) the cross-entropy is blended with the
float model's softened outputs, the model as given acting as a frozen teacher
(wqrc/train/distill.py).

Data: training uses the training split less a held-out validation slice; every
epoch logs the paper's Table II metrics on that slice (acc_M float, acc_Mq
quantized with the bit-exact simulator) with acc_tr, QR, WQR, loss and the λs,
and the kept epoch is chosen on it. The test split is never read here.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from wqrc.data import Dataset, accuracy
from wqrc.errors import WqrcError
from wqrc.holdout import DEFAULT_VAL_SPLIT
from wqrc.ir.graph import Graph, fit_input
from wqrc.ir.to_torch import GraphModule
from wqrc.quant.exponent import GRANULARITIES
from wqrc.quant.plan import LayerSpec
from wqrc.quant.qmodel import activation_grid
from wqrc.quant.quantize import quantize_channels, quantize_graph, quantize_weights
from wqrc.quant.ranges import calibrate
from wqrc.sim import simulate_float
from wqrc.train import distributed
from wqrc.train.distill import DEFAULT_TEMPERATURE, frozen_teacher, task_loss
from wqrc.train.regularizers import QuantRegularizer, quantize_tensor, ste_weights
from wqrc.train.scales import LearnedScales, load_scales_state, scales_state
from wqrc.train.schedule import parse_schedule

METHODS = ("wqr", "ste", "float")
SCALES = ("fixed", "reestimate", "learned")
KEEP = ("best", "last")
DEVICES = ("cpu", "cuda", "auto")
LOG_COLUMNS = ("epoch", "lr", "lambda1", "lambda2", "loss", "qr", "wqr", "lambda2_wqr", "acc_tr", "acc_M", "acc_Mq",
               "mean_distance", "relevels")
ACT_AWARE_MAX_BITS = 16  # wider activations are float for every practical purpose: no fake quantization


@dataclass
class FinetuneConfig:
    epochs: int = 10
    lr: float = 1e-3
    lr_drops: list = field(default_factory=list)  # [(epoch, lr), ...]
    optimizer: str = "adam"
    momentum: float = 0.9
    batch: int = 64
    lambda1: str = "0"
    lambda2: str = "0"
    method: str = "wqr"
    ste_from: Optional[int] = None   # method wqr: from this 0-based epoch the forward pass is STE (recipes
                                     # wqr-ste, wqr-then-ste), the regularizers applying as scheduled
    flip: bool = False
    shift: int = 0
    seed: int = 0
    exponent: str = "mse"
    granularity: str = "layer"  # channel: each output channel's own exponent, chosen once (docs/format.md §1c)
    act_bits: int = 8
    act_aware: bool = True  # fake-quantize activations in training when act_bits <= ACT_AWARE_MAX_BITS
    scale: str = "fixed"  # fixed: exponents chosen once; reestimate: after each epoch, with hysteresis; learned
    scale_lr: float = 1.0  # learned: the exponents' learning rate, as a multiple of the weights'
    scale_stable: float = 0.0  # learned: from this fraction of the budget on, exponents frozen at their average (0: never)
    relevel_margin: float = 0.1  # reestimate: a new exponent must cut the squared quantization error by 10%
    wqr_weight: str = "full"  # full: d|W|/dW in WQR's gradient (eq. 11 as written); detached: |W| as a constant
    val_split: float = DEFAULT_VAL_SPLIT  # held out of the training split: every choice (best epoch) is made on it
    val_samples: int = 0  # 0: the whole held-out slice
    keep: str = "best"  # best: the epoch with the best validation accuracy (quantized; float for method float)
    calib_samples: int = 512
    calib_percentile: Optional[float] = None  # None: max-abs calibration of activation formats
    snapshot_epochs: int = 4  # weight snapshots kept for the histogram figure
    device: str = "cpu"  # where training runs: cpu, cuda or auto; scoring is the NumPy simulator's, on the host
    distill: float = 0.0  # α: the weight of the float model's soft outputs in the loss (wqrc/train/distill.py)
    distill_temperature: float = DEFAULT_TEMPERATURE


def model_signature(graph: Graph) -> str:
    text = ";".join(f"{n.name}:{tuple(n.weight.shape)}" for n in graph.weighted_nodes())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_lr_drops(text: str) -> list:
    """'200:1e-5' or '100:1e-4,200:1e-5' -> [(200, 1e-5)]."""
    if not text:
        return []
    out = []
    for part in text.split(","):
        try:
            ep, lr = part.split(":")
            ep, lr = int(ep), float(lr)
        except ValueError:
            raise WqrcError(f"--lr-drop: cannot read '{part}' (use EPOCH:LR, e.g. 200:1e-5)") from None
        if ep < 0 or not math.isfinite(lr) or lr <= 0:
            raise WqrcError(f"--lr-drop: '{part}' needs an epoch >= 0 and a finite learning rate > 0")
        out.append((ep, lr))
    return sorted(out)


def _augment(x: torch.Tensor, cfg: FinetuneConfig, gen: torch.Generator) -> torch.Tensor:
    if cfg.flip:
        mask = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    if cfg.shift:
        s = cfg.shift
        padded = F.pad(x, (s, s, s, s))
        dy, dx = torch.randint(0, 2 * s + 1, (2,), generator=gen).tolist()
        x = padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return x


def training_device(cfg: FinetuneConfig) -> torch.device:
    """The torch device training runs on. Only the float forward and backward passes move: the
    level choices, the regularizers' levels and every score stay on the host, so a run's result
    depends on the device only through floating-point summation order."""
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise WqrcError("--device cuda: torch sees no CUDA device here (use --device cpu or auto)")
    return torch.device(cfg.device)


def lr_at(cfg: FinetuneConfig, epoch: int) -> float:
    lr = cfg.lr
    for ep, value in cfg.lr_drops:
        if epoch >= ep:
            lr = value
    return lr


# -- level sets ---------------------------------------------------------------

def pin_levels(graph: Graph, plan: dict[str, LayerSpec], rule: str, x: Optional[np.ndarray] = None,
               granularity: str = "layer") -> dict[str, LayerSpec]:
    """The plan with every layer's top exponent n1 (its level set Q_n) chosen once, by ``rule``;
    with ``granularity`` channel, each output channel's (``channel_n1``), as quantize chooses them.

    Algorithm 2 takes Q_n as an input. Re-choosing it from max|W| every mini-batch
    is a ratchet: once WQR pulls the largest weight onto the top level, a small
    dip below the rule's boundary halves every level of the layer, and nothing
    pulls it back. Layers the plan already pins keep their exponent. The ``output`` rule
    needs the calibration inputs ``x``.
    """
    narrow = next((n for n, s in plan.items() if s.levels is not None), None)
    if narrow is not None:
        raise WqrcError(f"layer '{narrow}': levels {plan[narrow].levels}: fine-tuning trains towards a layer's own "
                        f"{plan[narrow].bits}-bit levels; drop 'levels' from the plan (or give bits "
                        f"{plan[narrow].levels})")
    if all(s.pinned for s in plan.values()):
        return dict(plan)
    if granularity == "channel":
        return {n.name: _pin_channels(n.name, np.asarray(n.weight, np.float64), plan[n.name], rule)
                for n in graph.weighted_nodes()}
    if rule == "output" and x is not None:
        from wqrc.quant.output_rule import pin_by_output_error
        # the levels training pulls towards are the bits' own (no narrower set: that is for direct quantization)
        return pin_by_output_error(graph, plan, x, nested=False)
    out = {}
    for n in graph.weighted_nodes():
        spec = plan[n.name]
        if not spec.pinned:
            n1, _, _ = quantize_weights(n.name, np.asarray(n.weight, np.float64), spec, rule)
            spec = LayerSpec(spec.scheme, spec.bits, n1)
        out[n.name] = spec
    return out


def _pin_channels(name: str, w: np.ndarray, spec: LayerSpec, rule: str) -> LayerSpec:
    if spec.pinned:
        return spec
    n1s, _ = quantize_channels(name, w, spec, rule)
    return LayerSpec(spec.scheme, spec.bits, None, tuple(int(v) for v in n1s))


def _sq_error(w: np.ndarray, spec: LayerSpec, name: str) -> float:
    q, _ = quantize_tensor(torch.from_numpy(w), spec, "mse", name)
    return float(((torch.from_numpy(w) - q) ** 2).sum())


def relevel(params, plan: dict[str, LayerSpec], rule: str, margin: float) -> tuple[dict[str, LayerSpec], list]:
    """Re-choose exponents by ``rule``, with hysteresis: a layer moves to the rule's new
    exponent only if that cuts its squared quantization error by more than ``margin``."""
    plan, moved = dict(plan), []
    for name, w in params:
        spec = plan[name]
        arr = w.detach().cpu().numpy().astype(np.float64)
        cand, _, _ = quantize_weights(name, arr, LayerSpec(spec.scheme, spec.bits), rule)
        if cand == spec.n1:
            continue
        new = LayerSpec(spec.scheme, spec.bits, cand)
        if _sq_error(arr, new, name) < (1.0 - margin) * _sq_error(arr, spec, name):
            plan[name] = new
            moved.append((name, spec.n1, cand))
    return plan, moved


def quantize_module_graph(module: GraphModule, plan: dict[str, LayerSpec], rule: str) -> Graph:
    """The module's graph with every weight replaced by its quantized value ("quantize at the end")."""
    g = module.to_graph()
    for n in g.weighted_nodes():
        q, _ = quantize_tensor(torch.from_numpy(n.weight), plan[n.name], rule, n.name)
        n.params["weight"] = q.numpy().astype(np.float32)
    return g


# -- data splits and scoring ----------------------------------------------------

def splits(ds: Dataset, cfg: FinetuneConfig, graph: Optional[Graph] = None):
    """(x_fit, y_fit, x_val, y_val): training never sees the validation slice, nothing here reads the test split.
    With ``graph``, samples in the exporter's layout ((N, C, L), (N, H, W, C)) are put in the graph's."""
    x_fit, y_fit, x_val, y_val = ds.validation_split(cfg.val_split)
    if cfg.val_samples:
        x_val, y_val = x_val[:cfg.val_samples], y_val[:cfg.val_samples]
    if graph is not None:
        x_fit, x_val = (fit_input(x, graph.input_shape, graph.input_layout) for x in (x_fit, x_val))
    return x_fit, y_fit, x_val, y_val


def quantized_model(graph: Graph, plan, cfg: FinetuneConfig, x_calib: np.ndarray):
    """The integer model of ``graph`` under ``plan``; unpinned exponents are chosen by cfg.exponent
    (on ``x_calib`` for the output rule), pinned ones kept."""
    ranges = calibrate(graph, x_calib[: cfg.calib_samples], cfg.calib_percentile)
    plan = pin_levels(graph, plan, cfg.exponent, x_calib, cfg.granularity)
    return quantize_graph(graph, plan, rule=cfg.exponent, act_bits=cfg.act_bits, ranges=ranges)


def score(graph: Graph, plan, cfg: FinetuneConfig, x: np.ndarray, y: np.ndarray, x_calib: np.ndarray):
    """(float accuracy, quantized accuracy with the bit-exact simulator, the quantized model)."""
    from wqrc.ir.to_torch import run_float

    qm = quantized_model(graph, plan, cfg, x_calib)
    return accuracy(run_float(graph, x), y), accuracy(simulate_float(qm, x), y), qm


def evaluate(graph: Graph, plan, cfg: FinetuneConfig, ds: Dataset, split: str = "test") -> tuple[float, float]:
    """(acc_M float accuracy, acc_Mq quantized accuracy with the bit-exact simulator) on ``split``
    ("val": the held-out slice of the training split; "test": the test split). Calibration
    uses the training samples that fine-tuning trains on."""
    x_fit, _, x_val, y_val = splits(ds, cfg, graph)
    x, y = (x_val, y_val) if split == "val" else ds.split("test")
    acc_m, acc_mq, _ = score(graph, plan, cfg, x, y, x_fit)
    return acc_m, acc_mq


@dataclass
class History:
    rows: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)  # epoch -> {layer: weights}
    plan: dict = field(default_factory=dict)  # the pinned plan the result is quantized with
    best_epoch: int = 0  # the epoch whose weights were kept; 0: none beat the model as given (direct quantization)
    start_score: Optional[float] = None  # epoch 0's validation score (keep="best"): what an epoch must beat
    float_graph: Optional[Graph] = None  # the kept epoch's float weights (before the final quantization)


def check_config(cfg: FinetuneConfig) -> None:
    """Every option error before any work starts (the CLI calls it first)."""
    if cfg.ste_from is not None and (cfg.method != "wqr" or cfg.ste_from < 0):
        raise WqrcError(f"ste_from {cfg.ste_from}: a straight-through switch needs method wqr and an epoch >= 0")
    for what, value, allowed in (("--method", cfg.method, METHODS), ("--optimizer", cfg.optimizer, ("adam", "sgd")),
                                 ("--scale", cfg.scale, SCALES), ("--keep", cfg.keep, KEEP),
                                 ("--device", cfg.device, DEVICES)):
        if value not in allowed:
            raise WqrcError(f"{what}: unknown '{value}' (use {', '.join(allowed)})")
    if not 0.0 <= cfg.distill <= 1.0:
        raise WqrcError(f"--distill: {cfg.distill} must be a weight in [0, 1] (0: labels alone, 1: the float "
                        f"model's outputs alone)")
    if not cfg.distill_temperature > 0:
        raise WqrcError(f"--distill-temperature: {cfg.distill_temperature} must be positive")
    if not 0.0 < cfg.val_split < 1.0:
        raise WqrcError(f"--val-split: {cfg.val_split} must be between 0 and 1")
    if cfg.scale == "reestimate" and cfg.exponent == "output":
        raise WqrcError("--scale reestimate re-chooses exponents from the weights alone: use it with --exponent "
                        "paper, max or mse, not output")
    if not 0.0 <= cfg.scale_stable < 1.0:
        raise WqrcError(f"--scale-stable: {cfg.scale_stable} must be a fraction of the budget in [0, 1)")
    if cfg.scale_lr <= 0:
        raise WqrcError(f"--scale-lr: {cfg.scale_lr} must be positive")
    training_device(cfg)  # --device cuda where torch sees none
    if cfg.scale_stable and cfg.scale != "learned":
        raise WqrcError("--scale-stable freezes learned exponents: use it with --scale learned")
    if cfg.granularity not in GRANULARITIES:
        raise WqrcError(f"--granularity: unknown '{cfg.granularity}' (use {', '.join(GRANULARITIES)})")
    if cfg.granularity == "channel" and cfg.exponent == "output":
        raise WqrcError("--granularity channel: --exponent output chooses one exponent per layer by the network's "
                        "output error; use mse, paper or max")
    if cfg.granularity == "channel" and cfg.scale != "fixed":
        raise WqrcError(f"--granularity channel keeps each channel's exponent fixed: --scale {cfg.scale} moves one "
                        f"exponent per layer (use --scale fixed)")
    if cfg.scale == "learned" and cfg.method != "ste":
        raise WqrcError(f"--scale learned trains the exponents through the quantized forward pass: use it with "
                        f"--method ste (not {cfg.method})")


def finetune(graph: Graph, ds: Dataset, plan: dict[str, LayerSpec], cfg: FinetuneConfig, *,
             checkpoint: Optional[str] = None, resume: Optional[str] = None, log_csv: Optional[str] = None,
             on_batch: Optional[Callable[[int, int, int, float], None]] = None,
             on_epoch: Optional[Callable[[dict], None]] = None) -> tuple[Graph, History]:
    """Fine-tune on the training split less the validation slice; return the kept epoch's
    weights on their levels and the history (``history.plan`` pins every layer's exponent:
    compile with it to store exactly the trained levels)."""
    check_config(cfg)
    world, device = distributed.join(training_device(cfg))
    lam1, lam2 = parse_schedule(cfg.lambda1, "--lambda1"), parse_schedule(cfg.lambda2, "--lambda2")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    module = GraphModule(graph).to(device)
    # the float model as given, whatever a resumed checkpoint holds: the students' teacher
    teacher = frozen_teacher(module) if cfg.distill else None
    # the module the training steps run: DDP all-reduces its gradients across the processes
    stepper = torch.nn.parallel.DistributedDataParallel(module) if world.parallel else module
    x_fit, y_fit, x_val, y_val = splits(ds, cfg, graph)
    plan = pin_levels(graph, plan, cfg.exponent, x_fit, cfg.granularity)
    reg = QuantRegularizer(module, plan, lambda1=cfg.lambda1, lambda2=cfg.lambda2, rule=cfg.exponent,
                           wqr_weight=cfg.wqr_weight)
    scales = LearnedScales(plan).to(device) if cfg.scale == "learned" else None
    # the learned exponents are a group of their own: their learning rate is the weights' times scale_lr
    params = [dict(params=list(module.parameters()), lr_mult=1.0)] + \
        ([dict(params=list(scales.parameters()), lr_mult=cfg.scale_lr)] if scales else [])
    opt = (torch.optim.Adam(params, lr=cfg.lr) if cfg.optimizer == "adam"
           else torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum))
    history, start, best = History(), 0, None  # best: (score, epoch, module state, plan, learned exponents)
    signature = model_signature(graph)
    if resume:
        state = _load_checkpoint(resume, signature)
        module.load_state_dict(state["module"])
        opt.load_state_dict(state["optimizer"])
        history = History(state["rows"], state.get("snapshots", {}))
        start = state["epoch"]
        plan = {n: LayerSpec(*spec) for n, spec in state["plan"].items()}
        best = state["best"]
        if scales:
            load_scales_state(scales, state["scales"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
    reg.plan = plan
    act_aware = cfg.act_aware and cfg.method != "float" and cfg.act_bits <= ACT_AWARE_MAX_BITS
    if act_aware:
        module.act_quant = distributed.from_main(
            activation_grid(quantized_model(module.to_graph(), plan, cfg, x_fit)) if world.main else None, world)
    if not resume and cfg.keep == "best" and world.main:
        # epoch 0, direct quantization of the model as given: an epoch is kept only if it beats it
        acc_m0, acc_mq0, _ = score(module.to_graph(), plan, cfg, x_val, y_val, x_fit)
        best = (acc_m0 if cfg.method == "float" else acc_mq0, 0,
                {k: v.detach().clone() for k, v in module.state_dict().items()}, _plan_tuples(plan),
                scales_state(scales) if scales else None)
    if best is not None and best[1] == 0:
        history.start_score = best[0]
    x_train, y_train = torch.from_numpy(x_fit), torch.from_numpy(y_fit)
    n_batches = -(-len(x_train) // cfg.batch)
    snap_every = max(1, cfg.epochs // max(1, cfg.snapshot_epochs - 1))
    if not history.snapshots:
        history.snapshots[0] = {n: w.detach().cpu().numpy().copy() for n, w in reg.params}

    def save(epoch_done: int) -> None:
        if checkpoint and world.main:
            _save_checkpoint(checkpoint, dict(module=module.state_dict(), optimizer=opt.state_dict(),
                                              epoch=epoch_done, rows=history.rows, snapshots=history.snapshots,
                                              plan=_plan_tuples(plan), best=best,
                                              scales=scales_state(scales) if scales else None, signature=signature, torch_rng=torch.get_rng_state(),
                                              gen_rng=gen.get_state(), config=asdict(cfg)))

    epoch, done = start, start
    try:
        for epoch in range(start, cfg.epochs):
            if scales and cfg.scale_stable and not scales.frozen and epoch >= math.ceil(cfg.scale_stable * cfg.epochs):
                scales.freeze()  # the stable exponents, for the rest of the budget
            lr = lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_mult"]
            module.train()
            order = torch.randperm(len(x_train), generator=gen)
            total_loss, correct, seen = 0.0, 0, 0
            for b in range(n_batches):
                idx = order[b * cfg.batch:(b + 1) * cfg.batch]
                xb = _augment(x_train[idx], cfg, gen)   # every process draws the whole batch alike
                yb = y_train[idx]
                mine = distributed.share(len(idx), world)
                xb, yb = xb[mine].to(device, non_blocking=True), yb[mine].to(device, non_blocking=True)
                share = len(yb) * world.size / len(idx)   # DDP averages: each part weighs by its size
                opt.zero_grad()
                if scales:
                    logits = stepper(xb, weights={n: scales.fake_quantized(n, w) for n, w in reg.params})
                    term = None
                elif cfg.method == "ste" or (cfg.ste_from is not None and epoch >= cfg.ste_from):
                    logits = stepper(xb, weights=ste_weights(module, plan, cfg.exponent))
                    term = reg(epoch) if cfg.method == "wqr" else None
                elif cfg.method == "float":
                    logits = stepper(xb)
                    term = None
                else:
                    logits = stepper(xb)
                    term = reg(epoch)
                with torch.no_grad():
                    soft = teacher(xb) if teacher is not None else None
                ce = task_loss(logits, yb, soft, cfg.distill, cfg.distill_temperature)
                loss = ce * share if term is None else ce * share + term
                loss.backward()
                opt.step()
                total_loss += (float(ce.detach()) + (0.0 if term is None else float(term.detach()))) * len(yb)
                correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(yb)
                if on_batch:
                    on_batch(epoch, b + 1, n_batches, total_loss / seen)
            total_loss, correct, seen = distributed.sum_all([total_loss, correct, seen], world)
            module.eval()
            moved = []
            if cfg.scale == "reestimate":
                plan, moved = relevel(reg.params, plan, cfg.exponent, cfg.relevel_margin)
            elif scales:
                new = scales.plan(dict(reg.params))
                moved = [(n, plan[n].n1, new[n].n1) for n in plan if new[n].n1 != plan[n].n1]
                plan = new
            reg.plan = plan
            qr, wqr = (float(t.detach()) for t in reg.terms())
            if not world.main:   # rank 0 alone scores; the others take its activation grid
                if act_aware:
                    module.act_quant = distributed.from_main(None, world)
                done = epoch + 1
                continue
            acc_m, acc_mq, qm = score(module.to_graph(), plan, cfg, x_val, y_val, x_fit)
            if act_aware:
                module.act_quant = distributed.from_main(activation_grid(qm), world)
            row = dict(epoch=epoch + 1, lr=lr, lambda1=lam1(epoch), lambda2=lam2(epoch), loss=total_loss / seen,
                       qr=qr, wqr=wqr, lambda2_wqr=lam2(epoch) * wqr, acc_tr=correct / seen, acc_M=acc_m,
                       acc_Mq=acc_mq, mean_distance=reg.mean_distance(), relevels=len(moved))
            history.rows.append(row)
            kept = acc_m if cfg.method == "float" else acc_mq
            # a later epoch wins a tie with an earlier one; direct quantization (epoch 0) must be beaten
            if cfg.keep == "last" or best is None or kept > best[0] or (kept == best[0] and best[1] > 0):
                best = (kept, epoch + 1, {k: v.detach().clone() for k, v in module.state_dict().items()},
                        _plan_tuples(plan), scales_state(scales) if scales else None)
            if (epoch + 1) % snap_every == 0 or epoch + 1 == cfg.epochs:
                history.snapshots[epoch + 1] = {n: w.detach().cpu().numpy().copy() for n, w in reg.params}
            if log_csv:
                _write_csv(log_csv, history.rows)
            save(epoch + 1)
            done = epoch + 1
            if on_epoch:
                on_epoch(row)
    except KeyboardInterrupt:
        if done != epoch + 1:  # interrupted inside an epoch: it restarts on --resume
            save(epoch)
        raise
    if not world.main:
        return None, None
    if best is not None:
        module.load_state_dict(best[2])
        history.best_epoch = best[1]
        plan = {n: LayerSpec(*spec) for n, spec in best[3].items()}
    history.plan = plan
    history.float_graph = module.to_graph()
    return quantize_module_graph(module, plan, cfg.exponent), history


def _plan_tuples(plan: dict[str, LayerSpec]) -> dict:
    return {n: (s.scheme, s.bits, s.n1, s.channel_n1) for n, s in plan.items()}


def _write_csv(path: str, rows: list) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, 0) for k in LOG_COLUMNS})
    os.replace(tmp, path)


def _save_checkpoint(path: str, state: dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: str, signature: str) -> dict:
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise WqrcError(f"{path}: not a wqrc checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("signature") != signature:
        raise WqrcError(f"{path}: this checkpoint is from another model (its layers or shapes differ)")
    best = state.get("best", ())
    if "plan" not in state or not (best is None or (isinstance(best, tuple) and len(best) == 5)):
        raise WqrcError(f"{path}: this checkpoint is from an older wqrc (no fixed level sets); start without --resume")
    return state
