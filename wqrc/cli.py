"""Command line: parses options and calls the Python API, nothing more.

Every user mistake is one line on stderr and a non-zero exit: a
:class:`WqrcError` or a bad option value (exit 2). Anything else is a wqrc bug:
one line saying so (exit 70), with the traceback under ``wqrc --debug``.
Heavy libraries (torch, onnxruntime) are imported by the commands that need
them, so ``wqrc --help`` starts fast.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import warnings

import click

from wqrc import cli_checks as checks
from wqrc import cli_options as opt
from wqrc.console import SIGNALS, on_sigint
from wqrc.errors import WqrcError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 70
_STATE = {"debug": bool(os.environ.get("WQRC_DEBUG"))}


def _quantize_from_options(model, o) -> tuple:
    from wqrc import api
    from wqrc.data import check_fits, load_dataset
    from wqrc.quant.plan import parse_bits

    graph = api.load_model(model, o["input_shape"])
    calib = None
    if o["calib"]:
        ds = load_dataset(o["calib"])
        check_fits(ds, graph.input_shape, layout=graph.input_layout)
        calib = ds.x_train[: o["calib_samples"]]
    qm = api.quantize(graph, scheme=o["scheme"], bits=parse_bits(o["bits"]), act_bits=o["act_bits"],
                      exponent=o["exponent"], granularity=o["granularity"], calib=calib,
                      input_range=o["input_range"], percentile=o["percentile"], act_rule=o["act_rule"])
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

    checks.early(o["scheme"], o["bits"], {"--calib": o["calib"]})
    _, qm = _quantize_from_options(model, o)
    with atomic_file(output) as tmp:
        qm.save(tmp)
    click.echo(f"wrote {output}: {len(qm.layers)} weighted layers, input {qm.input_format.describe()}, "
               f"output {qm.output_format.describe()}")


@cli.command()
@click.argument("qmodel")
@opt.SIMULATE_OPTIONS
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
@opt.INSPECT_OPTIONS
def inspect(model, data, word_bits, as_json, **o):
    """Per-layer table (docs/format.md §5) for a float MODEL (quantized with the options) or a .wqrc.npz."""
    from wqrc import api
    from wqrc.quant.qmodel import QModel
    from wqrc.report import build_report, render

    if model.endswith(".npz") or os.path.isdir(model):
        graph, qm = None, QModel.load(model)
    else:
        opt.InputFile().convert(model, None, None)
        checks.early(o["scheme"], o["bits"], {"--calib": o["calib"], "--data": data})
        graph, qm = _quantize_from_options(model, o)
    acc = api.accuracy(graph, qm, data) if data else None
    rep = build_report(qm, int(word_bits), acc)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        render(rep)


@cli.command()
@click.argument("model", type=opt.InputFile())
@opt.LPS_OPTIONS
@opt.output_file("Plan file to write (.json).")
def lps(model, plot_path, output, input_shape, **o):
    """Layer-wise precision scaling: per-layer bit-widths for the least weight memory within an accuracy budget
    (--max-drop), or the most accurate within a memory budget (--min-cr)."""
    checks.early(o["scheme"], o["start_bits"], {"--data": o["data"]}, bits_option="--start-bits")
    from wqrc import api
    from wqrc.outputs import atomic_file
    from wqrc.plan_search import check_search, search_plan
    from wqrc.search.display import search_bar

    check_search(o["method"], o["max_drop"], o["min_cr"], o["scheme"])

    if plot_path:
        _needs("matplotlib", "--plot")
    graph = api.load_model(model, input_shape)
    with search_bar(graph, o["start_bits"], o["min_bits"]) if o["method"] != "sqnr" else \
            contextlib.nullcontext(None) as progress:
        found = search_plan(graph, progress=progress, on_note=click.echo, **o)
    with atomic_file(output) as tmp:
        with open(tmp, "w") as fh:
            json.dump(found.doc, fh, indent=2)
            fh.write("\n")
    if plot_path and found.result is not None:
        from wqrc.search.plot import plot_search
        with atomic_file(plot_path) as tmp:
            plot_search(found.result, found.equal, tmp + ".png",
                        title=f"{model}: {o['scheme']}, " + (f"max drop {o['max_drop']:g}" if o["min_cr"] is None
                                                         else f"CR >= {o['min_cr']:g}"))
            os.replace(tmp + ".png", tmp)
    for line in found.summary:
        click.echo(line)
    click.echo(f"wrote {output}" + (f" and {plot_path}" if plot_path and found.result is not None else ""))


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
def finetune(model, data, scheme, bits, recipe, resume, plots_dir, output, **o):
    """Fine-tune MODEL with QR/WQR (or STE), then quantize: the paper's trained quantization."""
    checks.early(scheme, bits, {"--data": data})
    from wqrc import api
    from wqrc.train.display import FinetuneDisplay, result_lines
    from wqrc.train.options import config_from_options

    ctx = click.get_current_context()
    explicit = {p for p in o if ctx.get_parameter_source(p) != click.core.ParameterSource.DEFAULT}
    cfg = config_from_options(recipe, explicit, **o)
    if plots_dir:
        _needs("matplotlib", "--plots")
    base = os.path.splitext(output)[0]
    from wqrc.train import distributed
    from wqrc.train.finetune import training_device
    world, _ = distributed.join(training_device(cfg))
    if not world.main:   # torchrun's other processes: train their share, print and write nothing
        api.finetune(model, data, output=output, scheme=scheme, bits=bits, config=cfg, resume=resume)
        return
    if world.parallel:
        click.echo(world.describe())
    with FinetuneDisplay(cfg, scheme, recipe) as show:
        try:
            res = api.finetune(model, data, output=output, scheme=scheme, bits=bits, config=cfg, resume=resume,
                               **show.callbacks)
        except KeyboardInterrupt:
            raise WqrcError(f"interrupted: the checkpoint {base}.ckpt.pt holds the last state; "
                            f"continue with --resume {base}.ckpt.pt") from None
    for line in result_lines(res, cfg, output, base, data):
        show.print(line)
    if plots_dir:
        from wqrc.train.plots import write_plots
        h = res.history
        files = write_plots(h, h.plan, cfg.exponent, plots_dir, title=f"{os.path.basename(model)}: {scheme} {cfg.method}")
        show.print("plots: " + ", ".join(files))


@cli.command(name="compile")
@click.argument("model", type=opt.InputFile())
@opt.COMPILE_QUANT_OPTIONS
@opt.COMPILE_OPTIONS
def compile_cmd(model, targets, out, force, word_bits, vectors, data, parallelism, io_mode, lanes, rtl_form, fpga,
                weight_store, measure, max_drop, min_cr, **o):
    """Quantize MODEL and write the targets: C for MCUs, HLS C++ and Verilog for FPGAs, ROM images."""
    from wqrc.compile import resolve_targets

    targets, measure = resolve_targets(targets, measure)
    checks.target_options(targets)
    quantized = model.endswith(".npz")   # an already quantized model: --bits does not apply
    if quantized:
        checks.refuse_quant_options(model)
    if o["bits"] == "auto" and not quantized:
        _check_auto_budget(data, max_drop, min_cr, o["scheme"])
    elif min_cr is not None or max_drop is not None:
        raise WqrcError(f"{'--min-cr' if min_cr is not None else '--max-drop'} is the budget of --bits auto")
    checks.early(o["scheme"], None if quantized else o["bits"], {"--calib": o["calib"], "--data": data},
                 allow_auto=True)

    from wqrc import api
    from wqrc.compile import compile_model
    from wqrc.data import load_dataset
    from wqrc.outputs import check_output_folder
    from wqrc.quant.qmodel import QModel
    from wqrc.report import render, target_summary

    if out is None:
        out = os.path.splitext(os.path.basename(model))[0] + "_wqrc"
    inputs = [model, o["calib"], data, o["bits"]]
    check_output_folder(out, force=force, inputs=inputs)
    if not o["calib"] and data:
        o["calib"] = data
    plan_doc = None
    if o["bits"] == "auto":
        plan_doc = _auto_plan(model, o, data, max_drop, min_cr)
        o["bits"] = plan_doc
    if model.endswith(".npz"):   # an already quantized model is written as it is
        graph, qm = None, QModel.load(model)
    else:
        graph, qm = _quantize_from_options(model, o)
    x_vec, acc, health = None, None, None
    if data:   # test vectors and the accuracy from the test split
        x_vec, acc = load_dataset(data).split("test")[0], api.accuracy(graph, qm, data)
    if graph is not None and o["calib"]:   # each tensor against float on calibration samples
        from wqrc.quant import health as quant_health
        x_cal = load_dataset(o["calib"]).x_train[: o["calib_samples"]]
        h = quant_health.measure(graph, qm, x_cal)
        health = h.as_json()
        if h.warning():
            warnings.warn(h.warning(), quant_health.QuantizationHealthWarning)
        if graph.act_formats or graph.weight_formats:   # a QONNX model: against its own values
            ref = quant_health.against_qonnx(model, qm, x_cal)
            health["qonnx_reference"] = ref.as_json() if ref else "pip install qonnx to compare with the model's own"
        if model.endswith(".tflite"):   # against LiteRT running the model's own integers
            ref = quant_health.against_litert(model, qm, x_cal)
            health["litert_reference"] = ref.as_json() if ref else "pip install ai-edge-litert to compare with LiteRT"
    rep = compile_model(qm, out, targets, word_bits=int(word_bits), vectors=vectors, data=x_vec, force=force,
                        accuracy=acc, hls_options=dict(parallelism=parallelism, io=io_mode),
                        rtl_options=dict(lanes=lanes, form=rtl_form, weights=weight_store, fpga=fpga), measure=measure,
                        extra_json={"plan.json": plan_doc} if plan_doc else None, inputs=inputs, health=health)
    render(rep)
    click.echo(target_summary(rep, out))


def _check_auto_budget(data, max_drop, min_cr, scheme) -> None:
    from wqrc.plan_search import check_search
    if not data or (max_drop is None and min_cr is None):
        raise WqrcError("--bits auto needs --data DATA and a budget: --max-drop EPS or --min-cr R")
    check_search("greedy", max_drop, min_cr, scheme)


def _auto_plan(model, o, data, max_drop, min_cr) -> dict:
    """--bits auto: run the precision search (its budget checked by compile_cmd); its plan is written to
    OUT/plan.json."""
    from wqrc import api
    from wqrc.plan_search import load_checked
    from wqrc.search.display import search_bar

    graph = api.load_model(model, o["input_shape"])
    with search_bar(graph, "8", 2) as progress:
        result, _ = api.precision_search(graph, load_checked(data, graph), scheme=o["scheme"],
                                         max_drop=1.0 if max_drop is None else max_drop, min_cr=min_cr,
                                         start_bits=8, min_bits=2, act_bits=o["act_bits"], exponent=o["exponent"],
                                         val_split=0.2, calib_samples=o["calib_samples"], progress=progress)
    f = result.final
    click.echo(f"--bits auto: {f.bits} (CR {f.compression_ratio:.2f}, validation dacc {f.delta_acc:+.4f}); "
               f"plan in plan.json")
    return result.plan_json()


@cli.command()
@click.argument("qmodel")
@opt.VERIFY_OPTIONS
def verify(qmodel, input_path, outputs_path, trace_path):
    """Check outputs captured from hardware (or generated code) against the simulator, bit for bit."""
    from wqrc.verify import verify_capture

    samples, lines = verify_capture(qmodel, input_path, outputs_path, trace_path)
    if not lines:
        click.echo(f"verify: PASS: {samples} samples, every output element equal to the simulator")
        return
    for line in lines:
        click.echo(line)
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

    warnings.showwarning = show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)   # held back while a module is imported (console.py)
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
        if SIGNALS["interrupted"]:
            return _interrupted()
        if _STATE["debug"]:
            raise
        click.echo(f"wqrc: internal error: {type(exc).__name__}: {_one_line(exc)[:300]} "
                   f"(a bug in wqrc: please report it with the command; wqrc --debug shows the traceback)", err=True)
        return EXIT_INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
