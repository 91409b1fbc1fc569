"""The command-line options, each defined once: name, type, default, help and validation.

Commands compose these; an option shared by several commands (scheme, bits,
act-bits, exponent, calib, data, input-range, force, output) therefore has the
same meaning and default everywhere. Values are validated here, before any work
starts, so that a bad value is a one-line error naming the option.
"""
from __future__ import annotations

import math
import os

import click

from wqrc.holdout import DEFAULT_VAL_SPLIT
from wqrc.plan_search import METHODS as SEARCH_METHODS
from wqrc.quant.exponent import AUTO, GRANULARITIES, RULES as EXPONENT_RULES
from wqrc.quant.plan import MIXED_PO2_MAX_BITS, PLAN_SCHEMES

# The default exponent rule of the commands that quantize once (quantize, compile) and of the
# searches: `auto` = `output` with --calib, `mse` without (and in a search, which quantizes per
# candidate): chosen by measurement on held-out models (docs/results.md, issue 35).
DEFAULT_EXPONENT = AUTO
# finetune's: every fine-tuning result in docs/results.md was trained from `mse`'s levels, and no
# measurement yet says `output`'s levels train better (docs/training.md).
TRAIN_EXPONENT_DEFAULT = "mse"


class Number(click.ParamType):
    """A finite float inside an optional (open or closed) interval; NaN and inf are refused."""

    name = "number"

    def __init__(self, lo=None, hi=None, lo_open=False, hi_open=False):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def _describe(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return "a finite number" + (" " + " and ".join(parts) if parts else "")

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"'{value}' is not {self._describe()}", param, ctx)
        bad = not math.isfinite(v)
        if self.lo is not None:
            bad = bad or (v <= self.lo if self.lo_open else v < self.lo)
        if self.hi is not None:
            bad = bad or (v >= self.hi if self.hi_open else v > self.hi)
        if bad:
            self.fail(f"'{value}' is not {self._describe()}", param, ctx)
        return v


class CommaList(click.ParamType):
    """``n`` comma-separated values, each read by ``cast`` and accepted by ``ok``, as a tuple
    (--input-range LO,HI; --input-shape C,H,W); ``what`` says what a good value is."""

    def __init__(self, n: int, cast, ok, what: str, name: str):
        self.n, self.cast, self.ok, self.what, self.name = n, cast, ok, what, name

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            vals = tuple(self.cast(v) for v in str(value).split(","))
        except ValueError:
            vals = ()
        if len(vals) != self.n or not all(self.ok(v) for v in vals):
            self.fail(f"'{value}' is not {self.what}", param, ctx)
        return vals


def Numbers(n: int) -> CommaList:
    """``n`` comma-separated finite numbers, as floats."""
    return CommaList(n, float, math.isfinite, f"{n} comma-separated finite numbers", "numbers")


def Shape() -> CommaList:
    """C,H,W: three positive integers (a TorchScript model's input shape)."""
    return CommaList(3, int, lambda v: 1 <= v <= 1 << 16,
                     "C,H,W (three positive integers) such as 1,28,28", "C,H,W")


class _Path(click.ParamType):
    """A path option: never empty; ``check`` returns what is wrong with it, or None."""

    name = "path"

    def convert(self, value, param, ctx):
        path = os.fspath(value)
        problem = "the path is empty" if not path else self.check(path)
        if problem:
            self.fail(problem, param, ctx)
        return path

    def check(self, path: str):
        raise NotImplementedError


class OutputFile(_Path):
    """A file to write: its folder must exist, and it must not be a folder itself."""

    name = "file"

    def check(self, path):
        if path.endswith(os.sep) or os.path.isdir(path):
            return f"'{path}' is a folder, not a file"
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return f"'{path}': folder {os.path.dirname(path) or '.'} does not exist"
        return None


class OutputFolder(_Path):
    """A folder to write into: it must not be an existing file (or under one)."""

    name = "folder"

    def check(self, path):
        probe = os.path.abspath(path)
        while not os.path.exists(probe) and os.path.dirname(probe) != probe:
            probe = os.path.dirname(probe)
        if os.path.exists(probe) and not os.path.isdir(probe):
            return f"'{path}': {probe} is a file, not a folder"
        return None


class InputFile(_Path):
    """An existing file (not a folder)."""

    name = "file"

    def check(self, path):
        if not os.path.exists(path):
            return f"{path}: no such file"
        if os.path.isdir(path):
            return f"{path}: is a folder, not a file"
        return None


def compose(*decorators):
    """Apply options in the order they are listed (so --help lists them in that order)."""
    def wrap(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return wrap


SCHEME = click.option("--scheme", type=click.Choice(PLAN_SCHEMES), default="dfp", show_default=True,
                      help="Weight scheme for all layers (a plan file may mix them); mixed = po2 for layers of "
                           f"{MIXED_PO2_MAX_BITS} bits or fewer, dfp above (not for the searches).")
BITS_HELP = "Weight bit-width: one value, a comma list per weighted layer, or a plan .json (from wqrc lps)"
BITS = click.option("--bits", default="8", show_default=True, help=BITS_HELP + ".")
BITS_OR_AUTO = click.option("--bits", default="8", show_default=True,
                            help=BITS_HELP + "; auto searches a plan with --data and --max-drop (written to "
                                 "OUT/plan.json).")
VAL_SPLIT = click.option("--val-split", type=Number(0, 1, lo_open=True, hi_open=True), default=DEFAULT_VAL_SPLIT,
                         show_default=True,
                         help="Share of the training data held out for every choice made on data (search plans, "
                              "the kept fine-tuning epoch); never the test split.")
ACT_BITS = click.option("--act-bits", type=click.IntRange(2, 32), default=8, show_default=True,
                        help="Activation bit-width (2..32).")
_EXPONENT_HELP = ("Exponent rule (docs/format.md §1): paper = eq. 2, max = no clipping, "
                  "mse = least squared weight error, output = least change of the network's output on "
                  "the calibration data")
EXPONENT = click.option("--exponent", type=click.Choice(EXPONENT_RULES + (AUTO,)), default=DEFAULT_EXPONENT,
                        show_default=True,
                        help=_EXPONENT_HELP + "; auto = output with --calib (per-layer exponents), else mse "
                             "(mse is the faster: a second, against up to a minute for a large model).")
TRAIN_EXPONENT = click.option("--exponent", type=click.Choice(EXPONENT_RULES), default=TRAIN_EXPONENT_DEFAULT,
                              show_default=True, help=_EXPONENT_HELP + ".")
_GRANULARITY_HELP = ("One weight exponent per layer (the paper) or per output channel "
                     "(docs/format.md §1c: for BatchNorm-folded layers whose channels differ in scale)")
GRANULARITY = click.option("--granularity", type=click.Choice((AUTO,) + GRANULARITIES), default=AUTO, show_default=True,
                           help=_GRANULARITY_HELP + "; auto = channel where the model's own weights had a scale per "
                                "channel (an int8 TFLite model), else layer.")
TRAIN_GRANULARITY = click.option("--granularity", type=click.Choice(GRANULARITIES), default="layer",
                                 show_default=True, help=_GRANULARITY_HELP + "; fixed through training.")
CALIB = click.option("--calib", "calib", default=None,
                     help="Calibration data: digits, digits-padded, fashion-mnist, or an .npz with x.")
CALIB_SAMPLES = click.option("--calib-samples", type=click.IntRange(min=1), default=512, show_default=True,
                             help="How many training samples calibrate the activation formats.")
PERCENTILE = click.option("--percentile", type=Number(0, 100, lo_open=True), default=None,
                          help="Calibrate to this percentile (0 < P <= 100) of |x| instead of max-abs.")
ACT_RULE = click.option("--act-rule", type=click.Choice(["auto", "max", "mse"]), default="auto", show_default=True,
                        help="With --calib: each activation format from the tensor's max-abs, from the format of "
                             "least squared error on the data (mse), or whichever of the two puts the model's "
                             "output nearer the float model's on the calibration samples (auto).")
INPUT_RANGE = click.option("--input-range", type=Numbers(2), default="-1,1", show_default=True,
                           help="Input range LO,HI for the static range analysis used without --calib.")
INPUT_SHAPE = click.option("--input-shape", type=Shape(), default=None,
                           help="C,H,W of a TorchScript model's input.")
DATA = click.option("--data", default=None,
                    help="Data (digits, digits-padded, fashion-mnist or an .npz with x and y): "
                         "measure accuracy on its test split.")
DATA_REQUIRED = click.option("--data", required=True,
                             help="Data (digits, digits-padded, fashion-mnist or an .npz with x and y) "
                                  "whose training split is used (a validation slice of it is held out).")
FORCE = click.option("--force", is_flag=True,
                     help="Replace an output folder that an earlier wqrc run wrote (never anything else).")


def output_file(help_text: str, required: bool = True):
    return click.option("-o", "--output", type=OutputFile(), required=required, help=help_text)


# The options of every command that quantizes a float model, in --help order.
QUANT_OPTIONS = compose(SCHEME, BITS, ACT_BITS, EXPONENT, GRANULARITY, CALIB, CALIB_SAMPLES, PERCENTILE, ACT_RULE,
                        INPUT_RANGE, INPUT_SHAPE)
# compile's: the same, with --bits auto (the search that only compile runs)
COMPILE_QUANT_OPTIONS = compose(SCHEME, BITS_OR_AUTO, ACT_BITS, EXPONENT, GRANULARITY, CALIB, CALIB_SAMPLES,
                                PERCENTILE, ACT_RULE, INPUT_RANGE, INPUT_SHAPE)


MAX_DROP = click.option("--max-drop", type=Number(0, 1),
                        help="Largest accuracy drop allowed against float, as a fraction (0.005 = 0.5 points).")
MIN_CR = click.option("--min-cr", type=Number(1, 1000), default=None,
                      help="A memory budget in place of --max-drop (greedy search): the most accurate plan the "
                           "search's path finds with a compression ratio of at least this (32 / mean weight bits, "
                           "e.g. 10.67 = 3-bit weights).")
SEARCH_OPTIONS = compose(
    click.option("--start-bits", default="8", show_default=True, help="Starting bit-widths: one or a list."),
    click.option("--min-bits", type=click.IntRange(2, 16), default=2, show_default=True,
                 help="No layer goes below this bit-width."),
    click.option("--criterion", type=click.Choice(["paper", "ratio"]), default="paper", show_default=True,
                 help="paper: smallest dacc * W_mem; ratio: smallest accuracy lost per bit saved."),
    VAL_SPLIT,
    click.option("--val-samples", type=click.IntRange(min=1), default=None,
                 help="Use only this many validation samples."),
)


# wqrc finetune's own options (trained quantization, docs/training.md)
FINETUNE_OPTIONS = compose(
    click.option("--epochs", type=click.IntRange(1, 100000), default=10, show_default=True,
                 help="Training budget in passes over the training split (less its validation slice)."),
    # wqrc.train.recipes.RECIPES, named here so that --help does not import torch (tests/test_train.py
    # checks the two lists agree)
    click.option("--recipe", type=click.Choice(["constant", "float", "paper", "qr", "ste", "wqr-ste", "wqr-then-ste"]),
                 default=None,
                 help="A preset for --method, --lambda1, --lambda2 and --lr-drop: paper = the paper's 200-epoch "
                      "schedule scaled to --epochs (λ2 ramp, QR with λ1 = 100 in the last quarter); qr = the QR "
                      "term alone on that ramp; constant = λ2 50; ste; float = the same budget of float training "
                      "(the control); wqr-ste = paper's terms on a straight-through forward; wqr-then-ste = "
                      "WQR's ramp for the first half, then STE. Every preset drops the learning rate x0.1 for the "
                      "last quarter."),
    click.option("--lr", type=Number(0, lo_open=True), default=1e-3, show_default=True,
                 help="Learning rate (before any --lr-drop)."),
    click.option("--lr-drop", default="", help="Step drops EPOCH:LR[,EPOCH:LR] (the paper: 200:1e-5)."),
    click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
                 help="adam, or sgd with momentum 0.9."),
    click.option("--batch", type=click.IntRange(1, 1 << 20), default=64, show_default=True,
                 help="Samples per training step."),
    click.option("--lambda1", default="0", show_default=True, help="λ1 (QR) schedule: 0.5, 10*epoch, '0 until 150 then 100'."),
    click.option("--lambda2", default="10*epoch", show_default=True, help="λ2 (WQR) schedule, same forms."),
    click.option("--method", type=click.Choice(["wqr", "ste", "float"]), default="wqr", show_default=True,
                 help="wqr: the paper's regularized loss; ste: straight-through fake quantization; float: plain "
                      "training, quantized at the end (the control)."),
    click.option("--scale", type=click.Choice(["fixed", "reestimate", "learned"]), default="fixed", show_default=True,
                 help="Each layer's exponent (its level set): fixed = chosen once, at the start; reestimate = re-chosen "
                      "after each epoch, kept only where it cuts the squared quantization error by 10%; learned = "
                      "trained with the weights (Bae et al.'s learned power-of-two scales; with --method ste)."),
    click.option("--scale-lr", type=float, default=1.0, show_default=True,
                 help="With --scale learned: the exponents' learning rate as a multiple of --lr (Adam moves a parameter "
                      "about lr per step, so at 1 an exponent moves at most ~lr x steps over the whole budget)."),
    click.option("--scale-stable", type=float, default=0.0, show_default=True,
                 help="With --scale learned: from this fraction of --epochs on, each exponent is frozen at its running "
                      "average, rounded (Bae et al.'s stable scale exponent); 0 = never."),
    click.option("--wqr-weight", type=click.Choice(["full", "detached"]), default="full", show_default=True,
                 help="WQR's |W| factor: full = differentiated (eq. 11 as written); detached = a constant weight."),
    click.option("--act-aware/--no-act-aware", default=True, show_default=True,
                 help="With --act-bits <= 16, fake-quantize activations to the integer graph's formats in training."),
    click.option("--distill", type=Number(0, 1), default=0.0, show_default=True,
                 help="Weight of the float model's softened outputs in the loss (knowledge distillation: the model "
                      "being quantized learns what the float one outputs, not the labels alone); 0 = labels alone."),
    click.option("--distill-temperature", type=Number(0, lo_open=True), default=4.0, show_default=True,
                 help="With --distill: the softmax temperature of the teacher's and the student's outputs."),
    click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
                 help="Which epoch's weights to keep: best on the validation slice, or the last."),
    VAL_SPLIT,
    click.option("--flip", is_flag=True, help="Augment with random horizontal flips."),
    click.option("--shift", type=click.IntRange(0, 64), default=0, show_default=True,
                 help="Augment with random shifts of up to N pixels."),
    TRAIN_EXPONENT,
    TRAIN_GRANULARITY,
    ACT_BITS,
    click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
                 help="Seed of torch and of the batch order and augmentation: equal seeds, equal runs (the validation "
                      "slice is the same for every seed)."),
    click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
                 help="Where the training passes run (auto: a CUDA GPU if torch sees one). Scoring stays on the host."),
    click.option("--resume", type=InputFile(), default=None, help="Continue from this checkpoint (OUT.ckpt.pt)."),
    click.option("--plots", "plots_dir", type=OutputFolder(), default=None,
                 help="Write Fig. 8 and Fig. 9 PNGs into this folder."),
)


# wqrc compile's own options (targets, output folder, HLS and RTL knobs)
COMPILE_OPTIONS = compose(
    click.option("--target", "targets", multiple=True, default=["all"], show_default=True,
                 help="c, rom, hls, rtl, qonnx, or all (= c, rom, hls, rtl); repeat or comma-separate."),
    click.option("-o", "--output", "out", type=OutputFolder(), default=None,
                 help="Output folder [default: MODEL name + '_wqrc']."),
    FORCE,
    click.option("--word-bits", type=click.Choice(["8", "16", "32", "64"]), default="32", show_default=True,
                 help="ROM word width: weight codes are packed into words of this many bits."),
    click.option("--vectors", type=click.IntRange(1, 4096), default=8, show_default=True,
                 help="Test vectors in the testbenches."),
    click.option("--data", default=None, help="Measure accuracy on this data's test split and draw test vectors from it."),
    click.option("--parallelism", default="1", show_default=True,
                 help="HLS: output channels computed in parallel per layer (one value or a comma list)."),
    click.option("--io", "io_mode", type=click.Choice(["array", "stream"]), default="array", show_default=True,
                 help="HLS top-level interface."),
    click.option("--lanes", type=click.IntRange(1, 64), default=1, show_default=True,
                 help="RTL: processing elements per conv/dense engine."),
    click.option("--rtl-form", type=click.Choice(["layers", "seq", "auto"]), default="layers", show_default=True,
                 help="RTL: layers gives every layer its own engine (constants as wiring; area grows with depth); "
                      "seq runs every layer on one conv/dense engine and one vector engine from a descriptor "
                      "table, activations in four single-port banks (the UP5K's SPRAMs); auto takes seq unless a "
                      "layer has no engine there. report.json's rtl.form_reason says which and why."),
    click.option("--fpga", type=click.Choice(["up5k", "ecp5-25", "ecp5-45", "ecp5-85"]), default="up5k",
                 show_default=True,
                 help="RTL, --rtl-form seq: the part the design must fit (checked before anything is written) and "
                      "that make -C OUT/rtl synth places for (ECP5 through yowasp: pip install wqrc[fpga])."),
    click.option("--weight-store", type=click.Choice(["rom", "flash"]), default="rom", show_default=True,
                 help="RTL, --rtl-form seq: weights in on-chip block RAM, or streamed from the board's SPI flash "
                      "(write OUT/rom/weights.bin at byte 0x100000), for models whose weights do not fit on chip."),
    click.option("--measure", multiple=True, default=(),
                 help="RTL: run and report sim (Verilator cycles, bit-exactness), ice40 (yosys + nextpnr-ice40 "
                      "--up5k), xilinx (yosys synth_xilinx) or all; C: cortex-m4 (the model's flash and RAM, "
                      "arm-none-eabi-gcc -O2)."),
    MAX_DROP, MIN_CR,
)



# wqrc lps's options (the search, its budget and what it writes beside the plan)
LPS_OPTIONS = compose(
    click.option("--data", default=None,
                 help="Data (digits, digits-padded, fashion-mnist or an .npz with x and y) whose training split is "
                      "used (a validation slice of it is held out). Needed by --method greedy, and by sqnr with "
                      "--max-drop."),
    MAX_DROP,
    MIN_CR,
    click.option("--method", type=click.Choice(SEARCH_METHODS), default="greedy",
                 show_default=True,
                 help="greedy: the paper's layer-wise precision scaling (evaluates the network per step); sqnr: "
                      "Lin et al.'s SQNR allocation from the weights (see --target-sqnr, --max-wmem); hybrid: the "
                      "SQNR plan within --max-drop, then the greedy search from it (far fewer evaluations); ranked: "
                      "the SQNR plan, then layers ranked by SQNR cost and verified by bisection with early "
                      "stopping (for networks of many layers)."),
    click.option("--target-sqnr", type=Number(-1000, 1000), default=None,
                 help="sqnr: the fewest bits whose total weight SQNR reaches this many dB."),
    click.option("--max-wmem", type=click.IntRange(min=1), default=None,
                 help="sqnr: the best total SQNR within this many bits of weight memory."),
    SEARCH_OPTIONS, SCHEME, ACT_BITS, EXPONENT, CALIB_SAMPLES, INPUT_SHAPE,
    click.option("--plot", "plot_path", type=OutputFile(), default=None,
                 help="Also write the accuracy/CR figure (PNG)."),
)


# wqrc simulate's and wqrc verify's files
SIMULATE_OPTIONS = compose(
    click.option("--input", "input_path", type=InputFile(), required=True,
                 help=".npy input: float values, or integer codes."),
    click.option("--output", "--outputs", "output_path", type=OutputFile(), required=True,
                 help=".npy file for the outputs."),
    click.option("--float", "as_float", is_flag=True, help="Write outputs dequantized (q * 2**f)."),
    click.option("--trace", "trace_path", type=OutputFile(), default=None,
                 help="Also write every tensor's integers to this .npz."),
)
VERIFY_OPTIONS = compose(
    click.option("--input", "input_path", type=InputFile(), required=True,
                 help=".npy inputs given to the hardware (codes or floats)."),
    click.option("--outputs", "--output", "outputs_path", type=InputFile(), required=True,
                 help=".npy integer outputs captured from the hardware, or .txt: one integer per line, in order "
                      "(as the RTL test bench writes); with several graph outputs, each sample's outputs one "
                      "after another."),
    click.option("--trace", "trace_path", type=InputFile(), default=None,
                 help=".npz of captured per-layer outputs (keys: node names, as 'wqrc simulate --trace' writes), "
                      "or .txt lines '<node index> <value>' (as the RTL test bench writes)."),
)
INSPECT_OPTIONS = compose(
    DATA,
    click.option("--word-bits", type=click.Choice(["8", "16", "32", "64"]), default="32", show_default=True,
                 help="ROM word width the W_mem and ROM-word figures are counted in."),
    click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
)
