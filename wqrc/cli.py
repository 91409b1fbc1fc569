"""Command line: parses options and calls the Python API, nothing more.

User mistakes (:class:`WqrcError`, bad options) print one line to stderr and
exit non-zero; anything else is a wqrc bug and keeps its traceback.
"""
from __future__ import annotations

import json
import sys
import warnings

import click
import numpy as np

from wqrc import api
from wqrc.errors import WqrcError

EXIT_USER_ERROR = 2


def _floats(text: str, what: str, n: int) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise WqrcError(f"{what}: '{text}' is not {n} comma-separated numbers") from None
    if len(vals) != n:
        raise WqrcError(f"{what}: '{text}' is not {n} comma-separated numbers")
    return vals


def _shape(text):
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise WqrcError(f"--input-shape: '{text}' is not a comma list of integers such as 1,28,28") from None


def quant_options(f):
    """Options shared by every command that quantizes a float model."""
    opts = [
        click.option("--scheme", type=click.Choice(["dfp", "po2"]), default="dfp", show_default=True,
                     help="Weight scheme for all layers (a plan file may mix them)."),
        click.option("--bits", default="8", show_default=True,
                     help="Weight bit-width: one value, a comma list per weighted layer, a plan .json "
                          "(from wqrc lps), or auto (compile: search with --data and --max-drop)."),
        click.option("--act-bits", type=int, default=8, show_default=True, help="Activation bit-width (2..32)."),
        click.option("--exponent", type=click.Choice(["paper", "max", "mse"]), default="mse", show_default=True,
                     help="Exponent rule (SPEC §1): paper = eq. 2, max = no clipping, mse = least squared error."),
        click.option("--calib", "calib", default=None,
                     help="Calibration data: digits, digits-padded, fashion-mnist, or an .npz with x."),
        click.option("--calib-samples", type=int, default=512, show_default=True,
                     help="How many training samples calibrate the activation formats."),
        click.option("--percentile", type=float, default=None,
                     help="Calibrate to this percentile of |x| instead of max-abs."),
        click.option("--input-range", default="-1,1", show_default=True,
                     help="Input range LO,HI for the static range analysis used without --calib."),
        click.option("--input-shape", default=None, help="C,H,W of a TorchScript model's input."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _quantize_from_options(model, o) -> tuple:
    from wqrc.data import load_dataset
    from wqrc.quant.plan import parse_bits

    graph = api.load_model(model, _shape(o["input_shape"]))
    calib = None
    if o["calib"]:
        ds = load_dataset(o["calib"])
        from wqrc.data import check_fits
        check_fits(ds, graph.input_shape)
        if o["calib_samples"] < 1:
            raise WqrcError("--calib-samples must be at least 1")
        calib = ds.x_train[: o["calib_samples"]]
    qm = api.quantize(graph, scheme=o["scheme"], bits=parse_bits(o["bits"]), act_bits=o["act_bits"],
                      exponent=o["exponent"], calib=calib,
                      input_range=_floats(o["input_range"], "--input-range", 2), percentile=o["percentile"])
    return graph, qm


def _accuracy(graph, qm, data: str) -> dict:
    from wqrc.data import accuracy, check_fits, load_dataset
    from wqrc.ir.to_torch import run_float
    from wqrc.sim import simulate_float

    ds = load_dataset(data)
    check_fits(ds, qm.input_shape, int(np.prod(qm.output_shape)))
    x, y = ds.split("test")
    res = {"data": f"{data} test split ({len(y)} samples)"}
    if graph is not None:
        res["acc_M"] = accuracy(run_float(graph, x), y)
    res["acc_Mq"] = accuracy(simulate_float(qm, x), y)
    if "acc_M" in res:
        res["delta_acc"] = res["acc_Mq"] - res["acc_M"]
    return res


@click.group()
@click.version_option(package_name="wqrc")
def cli():
    """wqrc: quantize CNN weights (DFP, power-of-two) and compile them to bit-exact hardware code."""


@cli.command()
@click.argument("model")
@quant_options
@click.option("-o", "--output", required=True, help="Quantized model file to write (.wqrc.npz).")
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
@click.option("--input", "input_path", required=True, help=".npy input: float values, or integer codes.")
@click.option("--output", "output_path", required=True, help=".npy file for the outputs.")
@click.option("--float", "as_float", is_flag=True, help="Write outputs dequantized (q * 2**f).")
@click.option("--trace", "trace_path", default=None, help="Also write every tensor's integers to this .npz.")
def simulate(qmodel, input_path, output_path, as_float, trace_path):
    """Run the bit-exact integer simulator on QMODEL (a .wqrc.npz or a compile folder)."""
    from wqrc.outputs import atomic_file
    from wqrc.quant.qmodel import QModel
    from wqrc.sim import simulate as run

    qm = QModel.load(qmodel)
    x = _load_npy(input_path)
    if not np.issubdtype(x.dtype, np.integer):
        x = qm.quantize_input(x)
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


def _load_npy(path: str) -> np.ndarray:
    import os
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise WqrcError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None


@cli.command()
@click.argument("model")
@quant_options
@click.option("--data", default=None, help="Also measure float and quantized accuracy on this data's test split.")
@click.option("--word-bits", type=click.Choice(["8", "16", "32", "64"]), default="32", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect(model, data, word_bits, as_json, **o):
    """Per-layer table of SPEC §5 for a float MODEL (quantized with the options) or a .wqrc.npz."""
    from wqrc.quant.qmodel import QModel
    from wqrc.report import build_report, render

    if model.endswith(".npz"):
        graph, qm = None, QModel.load(model)
    else:
        graph, qm = _quantize_from_options(model, o)
    acc = _accuracy(graph, qm, data) if data else None
    rep = build_report(qm, int(word_bits), acc)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        render(rep)


def _run_search(model_graph, data, scheme, max_drop, start_bits, min_bits, criterion, act_bits, exponent,
                val_split, val_samples, calib_samples):
    """The precision search with a rich progress display; returns (result, evaluator)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wqrc.data import check_fits, load_dataset
    from wqrc.quant.plan import parse_bits

    ds = load_dataset(data)
    check_fits(ds, model_graph.input_shape)
    layers = len(model_graph.weighted_nodes())
    start = parse_bits(start_bits)
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
                                          calib_samples=calib_samples, progress=progress)
        bar.update(task, completed=total)
    return result, ev


def search_options(f):
    opts = [
        click.option("--data", required=True, help="Data whose training split is searched on (a validation slice of it)."),
        click.option("--max-drop", type=float, required=True,
                     help="Largest accuracy drop allowed against float, as a fraction (0.005 = 0.5 points)."),
        click.option("--start-bits", default="8", show_default=True, help="Starting bit-widths: one or a list."),
        click.option("--min-bits", type=int, default=2, show_default=True),
        click.option("--criterion", type=click.Choice(["paper", "ratio"]), default="paper", show_default=True,
                     help="paper: smallest dacc * W_mem; ratio: smallest accuracy lost per bit saved."),
        click.option("--val-split", type=float, default=0.2, show_default=True,
                     help="Share of the training data held out for the search (never the test split)."),
        click.option("--val-samples", type=int, default=None, help="Use only this many validation samples."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@cli.command()
@click.argument("model")
@search_options
@click.option("--scheme", type=click.Choice(["dfp", "po2"]), default="dfp", show_default=True)
@click.option("--act-bits", type=int, default=8, show_default=True)
@click.option("--exponent", type=click.Choice(["paper", "max", "mse"]), default="mse", show_default=True)
@click.option("--calib-samples", type=int, default=512, show_default=True)
@click.option("--input-shape", default=None, help="C,H,W of a TorchScript model's input.")
@click.option("--plot", "plot_path", default=None, help="Also write the accuracy/CR figure (PNG).")
@click.option("-o", "--output", required=True, help="Plan file to write (.json).")
def lps(model, data, max_drop, start_bits, min_bits, criterion, val_split, val_samples, scheme, act_bits, exponent,
        calib_samples, input_shape, plot_path, output):
    """Layer-wise precision scaling: per-layer bit-widths for the least weight memory within --max-drop."""
    from wqrc.outputs import atomic_file
    from wqrc.search import best_equal_within, equal_bitwidth_curve

    graph = api.load_model(model, _shape(input_shape))
    result, ev = _run_search(graph, data, scheme, max_drop, start_bits, min_bits, criterion, act_bits, exponent,
                             val_split, val_samples, calib_samples)
    from wqrc.quant.schemes import SCHEMES
    top = max(result.steps[0].bits.values())
    equal = equal_bitwidth_curve(ev, range(top, max(min_bits, SCHEMES[scheme].min_bits) - 1, -1))
    best_eq = best_equal_within(equal, max_drop)
    doc = result.plan_json(dict(
        equal_bitwidths=[dict(bits=next(iter(s.bits.values())), compression_ratio=s.compression_ratio,
                              accuracy=s.accuracy, delta_acc=s.delta_acc) for s in equal],
        data=data, val_split=val_split, act_bits=act_bits, exponent_rule=exponent))
    with atomic_file(output) as tmp:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    if plot_path:
        from wqrc.search.plot import plot_search
        with atomic_file(plot_path) as tmp:
            plot_search(result, equal, tmp + ".png", title=f"{model}: {scheme}, max drop {max_drop:g}")
            import os
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


@cli.command()
@click.argument("model")
@click.option("--data", required=True, help="Training data: digits, digits-padded, fashion-mnist or an .npz.")
@click.option("--scheme", type=click.Choice(["dfp", "po2"]), default="po2", show_default=True)
@click.option("--bits", default="4", show_default=True, help="One width, a comma list per layer, or a plan .json.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--lr-drop", default="", help="Step drops EPOCH:LR[,EPOCH:LR] (the paper: 200:1e-5).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option("--batch", type=int, default=64, show_default=True)
@click.option("--lambda1", default="0", show_default=True, help="λ1 (QR) schedule: 0.5, 10*epoch, '0 until 150 then 100'.")
@click.option("--lambda2", default="10*epoch", show_default=True, help="λ2 (WQR) schedule, same forms.")
@click.option("--method", type=click.Choice(["wqr", "ste"]), default="wqr", show_default=True,
              help="wqr: the paper's regularized loss; ste: straight-through fake quantization (baseline).")
@click.option("--flip", is_flag=True, help="Augment with random horizontal flips.")
@click.option("--shift", type=int, default=0, show_default=True, help="Augment with random shifts of up to N pixels.")
@click.option("--exponent", type=click.Choice(["paper", "max", "mse"]), default="paper", show_default=True)
@click.option("--act-bits", type=int, default=8, show_default=True, help="Activation bits for acc_Mq.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", default=None, help="Continue from this checkpoint (OUT.ckpt.pt).")
@click.option("--plots", "plots_dir", default=None, help="Write Fig. 8 and Fig. 9 PNGs into this folder.")
@click.option("-o", "--output", required=True, help="Output ONNX (weights on the quantization levels).")
def finetune(model, data, scheme, bits, epochs, lr, lr_drop, optimizer, batch, lambda1, lambda2, method, flip, shift,
             exponent, act_bits, seed, resume, plots_dir, output):
    """Fine-tune MODEL with QR/WQR (or STE), then quantize: the paper's trained quantization."""
    import os

    import onnx
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wqrc.data import check_fits, load_dataset
    from wqrc.ir.to_onnx import graph_to_onnx
    from wqrc.outputs import atomic_file
    from wqrc.quant.plan import make_plan, parse_bits
    from wqrc.train.finetune import FinetuneConfig, evaluate, finetune as run, parse_lr_drops
    from wqrc.train.schedule import parse_schedule

    parse_schedule(lambda1, "--lambda1")
    parse_schedule(lambda2, "--lambda2")
    if epochs < 1 or batch < 1:
        raise WqrcError("--epochs and --batch must be at least 1")
    graph = api.load_model(model)
    ds = load_dataset(data)
    check_fits(ds, graph.input_shape, int(np.prod(graph.shapes[graph.output])))
    plan = make_plan(graph, scheme, parse_bits(bits))
    cfg = FinetuneConfig(epochs=epochs, lr=lr, lr_drops=parse_lr_drops(lr_drop), optimizer=optimizer, batch=batch,
                         lambda1=lambda1, lambda2=lambda2, method=method, flip=flip, shift=shift, seed=seed,
                         exponent=exponent, act_bits=act_bits)
    base = os.path.splitext(output)[0]
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    acc_m, acc_init = evaluate(graph, plan, cfg, ds)
    console.print(f"float acc_M {acc_m:.2%}; direct quantization acc_init {acc_init:.2%} "
                  f"({scheme}, bits {[s.bits for s in plan.values()]}, {method})")
    with Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("train", total=1, epoch=0, loss=0.0)

        def on_batch(epoch, b, n, loss):
            bar.update(task, completed=b, total=n, epoch=f"{epoch + 1}/{epochs}", loss=loss)

        def on_epoch(r):
            bar.console.print(
                f"epoch {r['epoch']:>3}: loss {r['loss']:.4f} QR {r['qr']:.4f} WQR {r['wqr']:.5f} "
                f"λ1 {r['lambda1']:g} λ2 {r['lambda2']:g} acc_tr {r['acc_tr']:.2%} acc_M {r['acc_M']:.2%} "
                f"acc_Mq {r['acc_Mq']:.2%} mean|W-Q(W)| {r['mean_distance']:.5f}")

        try:
            trained, history = run(graph, ds, plan, cfg, checkpoint=base + ".ckpt.pt", resume=resume,
                                   log_csv=base + ".log.csv", on_batch=on_batch, on_epoch=on_epoch)
        except KeyboardInterrupt:
            raise WqrcError(f"interrupted: the checkpoint {base}.ckpt.pt holds the last state; "
                            f"continue with --resume {base}.ckpt.pt") from None
    model_proto = graph_to_onnx(trained)
    with atomic_file(output) as tmp:
        onnx.save(model_proto, tmp)
    final_m, final_q = evaluate(trained, plan, cfg, ds)
    console.print(f"acc_M {acc_m:.2%} -> acc_Mq {final_q:.2%} after {len(history.rows)} epochs "
                  f"(direct: {acc_init:.2%}, Δacc {final_q - acc_m:+.2%}); wrote {output}, {base}.log.csv")
    if plots_dir:
        from wqrc.train.plots import write_plots
        files = write_plots(history, plan, exponent, plots_dir, title=f"{os.path.basename(model)}: {scheme} {method}")
        console.print("plots: " + ", ".join(files))


@cli.command(name="compile")
@click.argument("model")
@quant_options
@click.option("--target", "targets", multiple=True, default=["all"], show_default=True,
              help="c, rom, hls or all (repeat or comma-separate).")
@click.option("-o", "--output", "out", default=None, help="Output folder [default: MODEL name + '_wqrc'].")
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--word-bits", type=click.Choice(["8", "16", "32", "64"]), default="32", show_default=True,
              help="ROM word width.")
@click.option("--vectors", type=int, default=8, show_default=True, help="Test vectors in the testbenches.")
@click.option("--data", default=None, help="Measure accuracy on this data's test split and draw test vectors from it.")
@click.option("--parallelism", default="1", show_default=True,
              help="HLS: output channels computed in parallel per layer (one value or a comma list).")
@click.option("--io", "io_mode", type=click.Choice(["array", "stream"]), default="array", show_default=True,
              help="HLS top-level interface.")
@click.option("--max-drop", type=float, default=None, help="With --bits auto: the search's accuracy budget.")
def compile_cmd(model, targets, out, force, word_bits, vectors, data, parallelism, io_mode, max_drop, **o):
    """Quantize MODEL and write the targets: C for MCUs, HLS C++ for FPGAs, ROM images."""
    import os

    from wqrc.compile import compile_model, parse_targets
    from wqrc.report import render

    targets = parse_targets(targets)
    if vectors < 1:
        raise WqrcError("--vectors must be at least 1")
    if out is None:
        out = os.path.splitext(os.path.basename(model))[0] + "_wqrc"
    if not o["calib"] and data:
        o["calib"] = data
    if o["bits"] == "auto":
        o["bits"] = _auto_plan(model, o, data, max_drop, out)
    graph, qm = _quantize_from_options(model, o)
    x_vec, acc = None, None
    if data:
        from wqrc.data import load_dataset
        x_vec = load_dataset(data).split("test")[0]
        acc = _accuracy(graph, qm, data)
    rep = compile_model(qm, out, targets, word_bits=int(word_bits), vectors=vectors, data=x_vec, force=force,
                        accuracy=acc, hls_options=dict(parallelism=parallelism, io=io_mode))
    render(rep)
    _print_target_summary(rep, out)


def _auto_plan(model, o, data, max_drop, out) -> str:
    """--bits auto: run the precision search, keep its plan file next to the output folder."""
    import os
    import tempfile

    if not data or max_drop is None:
        raise WqrcError("--bits auto needs --data DATA and --max-drop EPS")
    graph = api.load_model(model, _shape(o["input_shape"]))
    result, _ = _run_search(graph, data, o["scheme"], max_drop, "8", 2, "paper", o["act_bits"], o["exponent"],
                            0.2, None, o["calib_samples"])
    fd, path = tempfile.mkstemp(prefix="wqrc-plan-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(result.plan_json(), fh)
    f = result.final
    click.echo(f"--bits auto: {f.bits} (CR {f.compression_ratio:.2f}, validation dacc {f.delta_acc:+.4f})")
    return path


def _print_target_summary(rep: dict, out: str) -> None:
    lines = [f"wrote {out}/: model.wqrc.npz, report.json, rom/ "
             f"({rep['totals']['rom_bits']} ROM bits in {rep['word_bits']}-bit words, W_mem {rep['totals']['w_mem_bits']})"]
    if "c" in rep:
        c = rep["c"]
        mcu = c.get("mcu")
        extra = (f"; Cortex-M4: flash {mcu['flash_bytes']} B, RAM {mcu['ram_bytes']} B" if mcu else "")
        lines.append(f"  c/: activation RAM {c['ram_bytes']} B{extra}; run: make -C {out}/c run")
    if "hls" in rep:
        lines.append(f"  hls/: C simulation: make -C {out}/hls csim; synthesis: vitis_hls -f {out}/hls/run_hls.tcl")
    click.echo("\n".join(lines))


@cli.command()
@click.argument("qmodel")
@click.option("--input", "input_path", required=True, help=".npy inputs given to the hardware (codes or floats).")
@click.option("--outputs", "outputs_path", required=True, help=".npy integer outputs captured from the hardware.")
@click.option("--trace", "trace_path", default=None,
              help=".npz of captured per-layer outputs (keys: node names, as 'wqrc simulate --trace' writes).")
def verify(qmodel, input_path, outputs_path, trace_path):
    """Check outputs captured from hardware (or generated code) against the simulator, bit for bit."""
    from wqrc.quant.qmodel import QModel
    from wqrc.sim import simulate as run
    from wqrc.verify import compare_outputs, first_divergent_layer

    qm = QModel.load(qmodel)
    x = _load_npy(input_path)
    if not np.issubdtype(x.dtype, np.integer):
        x = qm.quantize_input(x)
    got = _load_npy(outputs_path)
    env = run(qm, x, trace=True)
    result = compare_outputs(env[qm.output], got)
    if result is None:
        click.echo(f"verify: PASS: {len(x)} samples, every output element equal to the simulator")
        return
    click.echo(result)
    if trace_path:
        click.echo(first_divergent_layer(qm, env, trace_path))
    raise SystemExit(1)


def main(argv=None) -> int:
    def show_warning(message, category, filename, lineno, file=None, line=None):
        click.echo(f"wqrc: warning: {message}", err=True)

    warnings.showwarning = show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        cli.main(args=argv, prog_name="wqrc", standalone_mode=False)
    except WqrcError as exc:
        click.echo(f"wqrc: error: {exc}", err=True)
        return EXIT_USER_ERROR
    except click.exceptions.Abort:
        click.echo("wqrc: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        click.echo("wqrc: interrupted", err=True)
        return 130
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
