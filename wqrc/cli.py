"""Command line: parses options and calls the Python API, nothing more.

Every user mistake is one line on stderr and a non-zero exit: a
:class:`WqrcError` or a bad option value (exit 2). Anything else is a wqrc bug:
one line saying so (exit 70), with the traceback under ``wqrc --debug``.
Heavy libraries (torch, onnxruntime) are imported by the commands that need
them, so ``wqrc --help`` starts fast.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import warnings

import click

from wqrc import cli_options as opt
from wqrc.errors import WqrcError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 70
_STATE = {"debug": bool(os.environ.get("WQRC_DEBUG"))}


def _floats(text: str, what: str, n: int) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise WqrcError(f"{what}: '{text}' is not {n} comma-separated finite numbers")
    return vals


def _shape(text):
    if not text:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or max(shape) > 1 << 16:
        raise WqrcError(f"--input-shape: '{text}' is not C,H,W (three positive integers) such as 1,28,28")
    return shape


def _quantize_from_options(model, o) -> tuple:
    from wqrc import api
    from wqrc.data import check_fits, load_dataset
    from wqrc.quant.plan import parse_bits

    input_range = _floats(o["input_range"], "--input-range", 2)
    graph = api.load_model(model, _shape(o["input_shape"]))
    calib = None
    if o["calib"]:
        ds = load_dataset(o["calib"])
        check_fits(ds, graph.input_shape, layout=graph.input_layout)
        calib = ds.x_train[: o["calib_samples"]]
    qm = api.quantize(graph, scheme=o["scheme"], bits=parse_bits(o["bits"]), act_bits=o["act_bits"],
                      exponent=o["exponent"], granularity=o["granularity"], calib=calib,
                      input_range=input_range, percentile=o["percentile"])
    return graph, qm


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wqrc")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def cli(debug):
    """wqrc: quantize CNN weights (DFP, power-of-two) and compile them to bit-exact hardware code."""
    _STATE["debug"] = _STATE["debug"] or debug


@cli.command()
@click.argument("model", type=opt.InputFile())
@opt.QUANT_OPTIONS
@opt.output_file("Quantized model file to write (.wqrc.npz).")
def quantize(model, output, **o):
    """Quantize MODEL (.onnx or TorchScript .pt) into a single-file integer model."""
    from wqrc.outputs import atomic_file

    _, qm = _quantize_from_options(model, o)
    with atomic_file(output) as tmp:
        qm.save(tmp)
    click.echo(f"wrote {output}: {len(qm.layers)} weighted layers, input {qm.input_format.describe()}, "
               f"output {qm.output_format.describe()}")


@cli.command()
@click.argument("qmodel")
@click.option("--input", "input_path", type=opt.InputFile(), required=True,
              help=".npy input: float values, or integer codes.")
@click.option("--output", "output_path", type=opt.OutputFile(), required=True, help=".npy file for the outputs.")
@click.option("--float", "as_float", is_flag=True, help="Write outputs dequantized (q * 2**f).")
@click.option("--trace", "trace_path", type=opt.OutputFile(), default=None,
              help="Also write every tensor's integers to this .npz.")
def simulate(qmodel, input_path, output_path, as_float, trace_path):
    """Run the bit-exact integer simulator on QMODEL (a .wqrc.npz or a compile folder)."""
    from wqrc.samples import load_npy, model_input
    import numpy as np

    from wqrc.outputs import atomic_file
    from wqrc.quant.qmodel import QModel
    from wqrc.sim import simulate as run

    qm = QModel.load(qmodel)
    x = model_input(qm, load_npy(input_path), input_path)
    if trace_path:
        env = run(qm, x, trace=True)
        y = env[qm.output]
        with atomic_file(trace_path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{f"{i:03d}_{n.name}": env[n.output] for i, n in enumerate(qm.nodes)})
    else:
        y = run(qm, x)
    out = qm.dequantize_output(y) if as_float else y
    with atomic_file(output_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, out)
    click.echo(f"wrote {output_path}: {out.shape} {'dequantized' if as_float else 'integer'} outputs "
               f"(format {qm.output_format.describe()})")


@cli.command()
@click.argument("model")
@opt.QUANT_OPTIONS
@opt.DATA
@click.option("--word-bits", type=click.Choice(["8", "16", "32", "64"]), default="32", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect(model, data, word_bits, as_json, **o):
    """Per-layer table (docs/format.md §5) for a float MODEL (quantized with the options) or a .wqrc.npz."""
    from wqrc import api
    from wqrc.quant.qmodel import QModel
    from wqrc.report import build_report, render

    if model.endswith(".npz") or os.path.isdir(model):
        graph, qm = None, QModel.load(model)
    else:
        opt.InputFile().convert(model, None, None)
        graph, qm = _quantize_from_options(model, o)
    acc = api.accuracy(graph, qm, data) if data else None
    rep = build_report(qm, int(word_bits), acc)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        render(rep)


def _run_search(model_graph, data, scheme, max_drop, start_bits, min_bits, criterion, act_bits, exponent,
                val_split, val_samples, calib_samples, method: str = "greedy"):
    """The precision search with a rich progress display; returns (result, evaluator)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wqrc import api
    from wqrc.data import check_fits, load_dataset
    from wqrc.quant.plan import parse_bits

    start = parse_bits(start_bits)
    ds = load_dataset(data)
    check_fits(ds, model_graph.input_shape, layout=model_graph.input_layout)
    layers = len(model_graph.weighted_nodes())
    top = max(start) if isinstance(start, list) else 8
    total = max(1, layers * (top - min_bits))
    with Progress(TextColumn("[bold]lps"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[best]}"), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("search", total=total, best="")
        result_steps: list = []

        def progress(step, evaluations):
            result_steps.append(step)
            bar.update(task, completed=min(total, len(result_steps) - 1),
                       best=f"CR {step.compression_ratio:.2f}, dacc {step.delta_acc:+.4f}, "
                            f"bits {list(step.bits.values())}, {evaluations} evals")

        result, ev = api.precision_search(model_graph, ds, scheme=scheme, max_drop=max_drop, start_bits=start,
                                          min_bits=min_bits, criterion=criterion, act_bits=act_bits,
                                          exponent=exponent, val_split=val_split, val_samples=val_samples,
                                          calib_samples=calib_samples, progress=progress, method=method)
        bar.update(task, completed=total)
    return result, ev


@cli.command()
@click.argument("model", type=opt.InputFile())
@click.option("--data", default=None,
              help="Data (digits, digits-padded, fashion-mnist or an .npz with x and y) whose training split is "
                   "used (a validation slice of it is held out). Needed by --method greedy, and by sqnr with "
                   "--max-drop.")
@opt.MAX_DROP
@click.option("--method", type=click.Choice(["greedy", "sqnr", "hybrid", "ranked"]), default="greedy",
              show_default=True,
              help="greedy: the paper's layer-wise precision scaling (evaluates the network per step); sqnr: "
                   "Lin et al.'s SQNR allocation from the weights (see --target-sqnr, --max-wmem); hybrid: the "
                   "SQNR plan within --max-drop, then the greedy search from it (far fewer evaluations); ranked: "
                   "the SQNR plan, then layers ranked by SQNR cost and verified by bisection with early "
                   "stopping (for networks of many layers).")
@click.option("--target-sqnr", type=opt.Number(-1000, 1000), default=None,
              help="sqnr: the fewest bits whose total weight SQNR reaches this many dB.")
@click.option("--max-wmem", type=click.IntRange(min=1), default=None,
              help="sqnr: the best total SQNR within this many bits of weight memory.")
@opt.SEARCH_OPTIONS
@opt.SCHEME
@opt.ACT_BITS
@opt.EXPONENT
@opt.CALIB_SAMPLES
@opt.INPUT_SHAPE
@click.option("--plot", "plot_path", type=opt.OutputFile(), default=None,
              help="Also write the accuracy/CR figure (PNG).")
@opt.output_file("Plan file to write (.json).")
def lps(model, data, max_drop, method, target_sqnr, max_wmem, start_bits, min_bits, criterion, val_split, val_samples,
        scheme, act_bits, exponent, calib_samples, input_shape, plot_path, output):
    """Layer-wise precision scaling: per-layer bit-widths for the least weight memory within a budget."""
    from wqrc import api
    from wqrc.outputs import atomic_file
    from wqrc.quant.schemes import SCHEMES
    from wqrc.search import best_equal_within, equal_bitwidth_curve

    if method == "sqnr":
        _lps_sqnr(model, data, max_drop, target_sqnr, max_wmem, start_bits, min_bits, val_split, val_samples, scheme,
                  act_bits, exponent, calib_samples, input_shape, output)
        return
    if target_sqnr is not None or max_wmem is not None:
        raise WqrcError("--target-sqnr and --max-wmem belong to --method sqnr")
    if data is None:
        raise WqrcError(f"lps --method {method} needs --data (its training split is searched on)")
    if max_drop is None:
        raise WqrcError("lps needs --max-drop (the accuracy budget, e.g. 0.005)")
    if plot_path:
        _needs("matplotlib", "--plot")
    graph = api.load_model(model, _shape(input_shape))
    start_info = {}
    if method == "hybrid":  # the SQNR curve bisected on the validation split, then the greedy search from there
        from wqrc.data import check_fits, load_dataset

        if not start_bits.isdigit():
            raise WqrcError(f"--start-bits: '{start_bits}': the hybrid search takes one width, the widest it may use")
        ds = load_dataset(data)
        check_fits(ds, graph.input_shape, layout=graph.input_layout)
        sq = api.sqnr_allocation(graph, scheme=scheme, exponent=exponent, start_bits=int(start_bits),
                                 min_bits=min_bits, dataset=ds, max_drop=max_drop, act_bits=act_bits,
                                 val_split=val_split, val_samples=val_samples, calib_samples=calib_samples)
        start_bits = ",".join(str(sq.bits[n.name]) for n in graph.weighted_nodes())
        start_info = dict(hybrid_start=dict(sq.bits), hybrid_start_evaluations=sq.evaluations + 1)
        click.echo(f"SQNR start plan: {sq.bits} ({sq.evaluations + 1} evaluations)")
    result, ev = _run_search(graph, data, scheme, max_drop, start_bits, min_bits, criterion, act_bits, exponent,
                             val_split, val_samples, calib_samples, method="ranked" if method == "ranked" else "greedy")
    top = max(result.steps[0].bits.values())
    equal = equal_bitwidth_curve(ev, range(top, max(min_bits, SCHEMES[scheme].min_bits) - 1, -1))
    best_eq = best_equal_within(equal, max_drop)
    doc = result.plan_json(dict(
        equal_bitwidths=[dict(bits=next(iter(s.bits.values())), compression_ratio=s.compression_ratio,
                              accuracy=s.accuracy, delta_acc=s.delta_acc) for s in equal],
        data=data, val_split=val_split, act_bits=act_bits, exponent_rule=exponent, **start_info))
    with atomic_file(output) as tmp:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    if plot_path:
        from wqrc.search.plot import plot_search
        with atomic_file(plot_path) as tmp:
            plot_search(result, equal, tmp + ".png", title=f"{model}: {scheme}, max drop {max_drop:g}")
            os.replace(tmp + ".png", tmp)
    f = result.final
    click.echo(f"float validation accuracy {result.float_accuracy:.2%}; search: {len(result.steps) - 1} steps, "
               f"{result.evaluations} evaluations; stopped: {result.stopped_because}")
    click.echo(f"plan: bits {f.bits}, W_mem {f.w_mem} bits, CR {f.compression_ratio:.2f}, "
               f"accuracy {f.accuracy:.2%} (dacc {f.delta_acc:+.4f})")
    if best_eq:
        click.echo(f"best equal bit-width within the budget: {next(iter(best_eq.bits.values()))} bits, "
                   f"CR {best_eq.compression_ratio:.2f}, accuracy {best_eq.accuracy:.2%} (dacc {best_eq.delta_acc:+.4f})")
    else:
        click.echo("no equal bit-width stays within the budget")
    click.echo(f"wrote {output}" + (f" and {plot_path}" if plot_path else ""))


def _needs(module: str, what: str) -> None:
    """A one-line error naming the package when an optional library of ``what`` is missing."""
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise WqrcError(f"{what} needs {module}: pip install {module}")


@cli.command()
@click.argument("model", type=opt.InputFile())
@opt.DATA_REQUIRED
@opt.SCHEME
@opt.BITS
@opt.FINETUNE_OPTIONS
@opt.output_file("Output ONNX (weights on the quantization levels); OUT.plan.json pins their exponents.")
def finetune(model, data, scheme, bits, epochs, recipe, lr, lr_drop, optimizer, batch, lambda1, lambda2, method, scale,
             scale_lr, scale_stable, wqr_weight, act_aware, keep, val_split, flip, shift, exponent, act_bits, seed, device, resume, plots_dir, output):
    """Fine-tune MODEL with QR/WQR (or STE), then quantize: the paper's trained quantization."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wqrc import api
    from wqrc.train.finetune import FinetuneConfig, check_config, parse_lr_drops
    from wqrc.train.recipes import recipe as preset, schedule_lines
    from wqrc.train.schedule import parse_schedule

    if recipe:
        ctx = click.get_current_context()
        clash = [f"--{p.replace('_', '-')}" for p in ("method", "lambda1", "lambda2", "lr_drop")
                 if ctx.get_parameter_source(p) != click.core.ParameterSource.DEFAULT]
        if clash:
            raise WqrcError(f"--recipe {recipe} sets {', '.join(clash)}: give one or the other")
        r = preset(recipe, epochs, lr)
        method, lambda1, lambda2, lr_drops = r.method, r.lambda1, r.lambda2, r.lr_drops
    else:
        parse_schedule(lambda1, "--lambda1")
        parse_schedule(lambda2, "--lambda2")
        lr_drops = parse_lr_drops(lr_drop)
    if plots_dir:
        _needs("matplotlib", "--plots")
    cfg = FinetuneConfig(epochs=epochs, lr=lr, lr_drops=lr_drops, optimizer=optimizer, batch=batch,
                         lambda1=lambda1, lambda2=lambda2, method=method, flip=flip, shift=shift, seed=seed,
                         exponent=exponent, act_bits=act_bits, act_aware=act_aware, scale=scale, scale_lr=scale_lr,
                         scale_stable=scale_stable, wqr_weight=wqr_weight, keep=keep, val_split=val_split,
                         device=device)
    check_config(cfg)
    base = os.path.splitext(output)[0]
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)

    def on_start(plan, acc_m, acc_init):
        console.print(f"{method}{f' (recipe {recipe})' if recipe else ''}, {scheme}, bits "
                      f"{[s.bits for s in plan.values()]}, a{act_bits}; on the "
                      f"validation slice ({val_split:g} of the training split): float {acc_m:.2%}, direct "
                      f"quantization {acc_init:.2%}. Schedule:", markup=False)
        for line in schedule_lines(cfg):
            console.print(line, markup=False)

    with Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("train", total=1, epoch=0, loss=0.0)

        def on_batch(epoch, b, n, loss):
            bar.update(task, completed=b, total=n, epoch=f"{epoch + 1}/{epochs}", loss=loss)

        def on_epoch(r):
            bar.console.print(
                f"epoch {r['epoch']:>3}: loss {r['loss']:.4f} QR {r['qr']:.4f} WQR {r['wqr']:.5f} "
                f"λ1 {r['lambda1']:g} λ2 {r['lambda2']:g} acc_tr {r['acc_tr']:.2%} val acc_M {r['acc_M']:.2%} "
                f"acc_Mq {r['acc_Mq']:.2%} mean|W-Q(W)| {r['mean_distance']:.5f}"
                + (f" relevelled {r['relevels']}" if r['relevels'] else ""), markup=False)

        try:
            res = api.finetune(model, data, output=output, scheme=scheme, bits=bits, config=cfg, resume=resume,
                               on_start=on_start, on_batch=on_batch, on_epoch=on_epoch)
        except KeyboardInterrupt:
            raise WqrcError(f"interrupted: the checkpoint {base}.ckpt.pt holds the last state; "
                            f"continue with --resume {base}.ckpt.pt") from None
    history = res.history
    console.print(f"test: float {res.test_float:.2%}, direct {res.test_direct:.2%}, fine-tuned acc_Mq "
                  f"{res.test_final:.2%} (Δacc {res.test_final - res.test_float:+.2%}) with epoch {history.best_epoch} "
                  f"of {len(history.rows)} ({keep} on validation); wrote {output}, {base}.plan.json, {base}.log.csv",
                  markup=False)
    console.print(f"compile with: wqrc compile {output} --bits {base}.plan.json --act-bits {act_bits} "
                  f"--exponent {exponent}", markup=False)
    if plots_dir:
        from wqrc.train.plots import write_plots
        files = write_plots(history, history.plan, exponent, plots_dir, title=f"{os.path.basename(model)}: {scheme} {method}")
        console.print("plots: " + ", ".join(files), markup=False)


@cli.command(name="compile")
@click.argument("model", type=opt.InputFile())
@opt.QUANT_OPTIONS
@opt.COMPILE_OPTIONS
def compile_cmd(model, targets, out, force, word_bits, vectors, data, parallelism, io_mode, lanes, measure,
                max_drop, **o):
    """Quantize MODEL and write the targets: C for MCUs, HLS C++ and Verilog for FPGAs, ROM images."""
    from wqrc import api
    from wqrc.compile import compile_model, resolve_targets
    from wqrc.outputs import check_output_folder
    from wqrc.quant.qmodel import QModel
    from wqrc.report import render, target_summary

    targets, measure = resolve_targets(targets, measure)
    if out is None:
        out = os.path.splitext(os.path.basename(model))[0] + "_wqrc"
    inputs = [model, o["calib"], data, o["bits"]]
    check_output_folder(out, force=force, inputs=inputs)
    if not o["calib"] and data:
        o["calib"] = data
    plan_doc = None
    if o["bits"] == "auto":
        plan_doc = _auto_plan(model, o, data, max_drop)
        o["bits"] = plan_doc
    if model.endswith(".npz"):   # an already quantized model is written as it is
        graph, qm = None, QModel.load(model)
    else:
        graph, qm = _quantize_from_options(model, o)
    x_vec, acc = None, None
    if data:
        from wqrc.data import load_dataset
        x_vec = load_dataset(data).split("test")[0]
        acc = api.accuracy(graph, qm, data)
    rep = compile_model(qm, out, targets, word_bits=int(word_bits), vectors=vectors, data=x_vec, force=force,
                        accuracy=acc, hls_options=dict(parallelism=parallelism, io=io_mode),
                        rtl_options=dict(lanes=lanes), measure=measure,
                        extra_json={"plan.json": plan_doc} if plan_doc else None, inputs=inputs)
    render(rep)
    click.echo(target_summary(rep, out))


def _auto_plan(model, o, data, max_drop) -> dict:
    """--bits auto: run the precision search; its plan is written to OUT/plan.json."""
    from wqrc import api

    if not data or max_drop is None:
        raise WqrcError("--bits auto needs --data DATA and --max-drop EPS")
    graph = api.load_model(model, _shape(o["input_shape"]))
    result, _ = _run_search(graph, data, o["scheme"], max_drop, "8", 2, "paper", o["act_bits"], o["exponent"],
                            0.2, None, o["calib_samples"])
    f = result.final
    click.echo(f"--bits auto: {f.bits} (CR {f.compression_ratio:.2f}, validation dacc {f.delta_acc:+.4f}); "
               f"plan in plan.json")
    return result.plan_json()


def _lps_sqnr(model, data, max_drop, target_sqnr, max_wmem, start_bits, min_bits, val_split, val_samples, scheme,
              act_bits, exponent, calib_samples, input_shape, output):
    """lps --method sqnr: Lin et al.'s allocation, from the weights or bisected on validation data."""
    import time

    from wqrc import api
    from wqrc.data import check_fits, load_dataset
    from wqrc.outputs import atomic_file

    knobs = [k for k, v in (("--target-sqnr", target_sqnr), ("--max-wmem", max_wmem), ("--max-drop", max_drop))
             if v is not None]
    if len(knobs) != 1:
        raise WqrcError("lps --method sqnr needs exactly one of --target-sqnr DB, --max-wmem BITS, --max-drop "
                        f"(with --data); got {', '.join(knobs) or 'none'}")
    if not start_bits.isdigit():
        raise WqrcError(f"--start-bits: '{start_bits}': the SQNR allocation takes one width, the widest it may use")
    graph = api.load_model(model, _shape(input_shape))
    ds = None
    if max_drop is not None:
        if data is None:
            raise WqrcError("lps --method sqnr --max-drop needs --data (its validation split is evaluated)")
        ds = load_dataset(data)
        check_fits(ds, graph.input_shape, layout=graph.input_layout)
    t0 = time.perf_counter()
    res = api.sqnr_allocation(graph, scheme=scheme, exponent=exponent, start_bits=int(start_bits), min_bits=min_bits,
                              target_db=target_sqnr, max_w_mem=max_wmem, dataset=ds, max_drop=max_drop,
                              act_bits=act_bits, val_split=val_split, val_samples=val_samples,
                              calib_samples=calib_samples)
    seconds = time.perf_counter() - t0
    doc = res.plan_json(dict(seconds=round(seconds, 3), data=data, val_split=val_split if ds else None,
                             act_bits=act_bits))
    with atomic_file(output) as tmp:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    s = doc["search"]
    click.echo(f"SQNR allocation ({res.target}): bits {res.bits}, W_mem {s['w_mem']} bits, "
               f"CR {s['compression_ratio']:.2f}, total weight SQNR {s['total_sqnr_db']:.1f} dB; "
               f"{res.evaluations} evaluations, {seconds:.2f} s")
    if res.accuracy is not None:
        click.echo(f"validation accuracy {res.accuracy:.2%} (float {res.float_accuracy:.2%}, "
                   f"dacc {res.float_accuracy - res.accuracy:+.4f})")
    click.echo(f"wrote {output}")


@cli.command()
@click.argument("qmodel")
@click.option("--input", "input_path", type=opt.InputFile(), required=True,
              help=".npy inputs given to the hardware (codes or floats).")
@click.option("--outputs", "outputs_path", type=opt.InputFile(), required=True,
              help=".npy integer outputs captured from the hardware, or .txt: one integer per line, in order "
                   "(as the RTL test bench writes); with several graph outputs, each sample's outputs one "
                   "after another.")
@click.option("--trace", "trace_path", type=opt.InputFile(), default=None,
              help=".npz of captured per-layer outputs (keys: node names, as 'wqrc simulate --trace' writes), "
                   "or .txt lines '<node index> <value>' (as the RTL test bench writes).")
def verify(qmodel, input_path, outputs_path, trace_path):
    """Check outputs captured from hardware (or generated code) against the simulator, bit for bit."""
    from wqrc.samples import load_npy, model_input
    from wqrc.quant.qmodel import QModel
    from wqrc.sim import simulate as run
    from wqrc.verify import compare_outputs, expected_outputs, first_divergent_layer, read_text_integers

    qm = QModel.load(qmodel)
    x = model_input(qm, load_npy(input_path), input_path)
    expect = len(x) * sum(math.prod(qm.shapes[t]) for t in qm.outputs)
    got = read_text_integers(outputs_path, expect) if outputs_path.endswith(".txt") else load_npy(outputs_path)
    if got.dtype.kind not in "iu" and not (got.dtype.kind == "O" and outputs_path.endswith(".txt")):
        raise WqrcError(f"{outputs_path}: captured outputs must be integers (got {got.dtype})")
    env = run(qm, x, trace=True)
    result = compare_outputs(expected_outputs(qm, env, len(x)), got)
    if result is None:
        click.echo(f"verify: PASS: {len(x)} samples, every output element equal to the simulator")
        return
    click.echo(result)
    if trace_path:
        click.echo(first_divergent_layer(qm, env, trace_path))
    raise SystemExit(1)


def _interrupted() -> int:
    """Say that Ctrl-C stopped the command, and whether an output was already put in place whole."""
    from wqrc.outputs import COMMITTED
    done = f" after {COMMITTED[-1]} was written whole" if COMMITTED else ""
    click.echo(f"wqrc: interrupted{done}", err=True)
    return 130


def _one_line(text: str) -> str:
    """A message as one terminal line: runs of ordinary whitespace become one space, and any
    character that breaks a line or hides (in a node name, say) a visible escape."""
    from wqrc.display import printable
    return printable(" ".join(str(text).split(" ")).replace("\n", " ").replace("\t", " ").replace("\r", " "))


def main(argv=None) -> int:
    def show_warning(message, category, filename, lineno, file=None, line=None):
        click.echo(f"wqrc: warning: {_one_line(message)}", err=True)

    def on_sigint(signum, frame):
        # remembered: an extension module being imported may turn the KeyboardInterrupt
        # into another error (onnxruntime: "ImportError: initialization failed")
        _STATE["interrupted"] = True
        raise KeyboardInterrupt

    warnings.showwarning = show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        cli.main(args=argv, prog_name="wqrc", standalone_mode=False)
    except WqrcError as exc:
        click.echo(f"wqrc: error: {_one_line(exc)}", err=True)
        return EXIT_USER_ERROR
    except click.exceptions.Abort:
        return _interrupted()
    except click.ClickException as exc:
        click.echo(f"wqrc: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:  # a wqrc bug: say so in one line, traceback on request
        if _STATE.get("interrupted"):
            return _interrupted()
        if _STATE["debug"]:
            raise
        click.echo(f"wqrc: internal error: {type(exc).__name__}: {_one_line(exc)[:300]} "
                   f"(a bug in wqrc: please report it with the command; wqrc --debug shows the traceback)", err=True)
        return EXIT_INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
