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
from wqrc.quant.exponent import GRANULARITIES, RULES as EXPONENT_RULES

# The one default exponent rule of every command: `mse` is never worse in weight
# error than `paper` and keeps Po2-2 far from chance where `paper` is not
# (docs/format.md §1, docs/training.md).
DEFAULT_EXPONENT = "mse"
SCHEMES = ("dfp", "po2")


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


SCHEME = click.option("--scheme", type=click.Choice(SCHEMES), default="dfp", show_default=True,
                      help="Weight scheme for all layers (a plan file may mix them).")
BITS = click.option("--bits", default="8", show_default=True,
                    help="Weight bit-width: one value, a comma list per weighted layer, a plan .json "
                         "(from wqrc lps), or auto (compile: search with --data and --max-drop).")
VAL_SPLIT = click.option("--val-split", type=Number(0, 1, lo_open=True, hi_open=True), default=DEFAULT_VAL_SPLIT,
                         show_default=True,
                         help="Share of the training data held out for every choice made on data (search plans, "
                              "the kept fine-tuning epoch); never the test split.")
ACT_BITS = click.option("--act-bits", type=click.IntRange(2, 32), default=8, show_default=True,
                        help="Activation bit-width (2..32).")
EXPONENT = click.option("--exponent", type=click.Choice(EXPONENT_RULES), default=DEFAULT_EXPONENT,
                        show_default=True,
                        help="Exponent rule (docs/format.md §1): paper = eq. 2, max = no clipping, "
                             "mse = least squared weight error, output = least change of the network's output on "
                             "the calibration data.")
GRANULARITY = click.option("--granularity", type=click.Choice(GRANULARITIES), default="layer", show_default=True,
                           help="One weight exponent per layer (the paper) or per output channel "
                                "(docs/format.md §1c: for BatchNorm-folded layers whose channels differ in scale).")
CALIB = click.option("--calib", "calib", default=None,
                     help="Calibration data: digits, digits-padded, fashion-mnist, or an .npz with x.")
CALIB_SAMPLES = click.option("--calib-samples", type=click.IntRange(min=1), default=512, show_default=True,
                             help="How many training samples calibrate the activation formats.")
PERCENTILE = click.option("--percentile", type=Number(0, 100, lo_open=True), default=None,
                          help="Calibrate to this percentile (0 < P <= 100) of |x| instead of max-abs.")
INPUT_RANGE = click.option("--input-range", default="-1,1", show_default=True,
                           help="Input range LO,HI for the static range analysis used without --calib.")
INPUT_SHAPE = click.option("--input-shape", default=None, help="C,H,W of a TorchScript model's input.")
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
QUANT_OPTIONS = compose(SCHEME, BITS, ACT_BITS, EXPONENT, GRANULARITY, CALIB, CALIB_SAMPLES, PERCENTILE, INPUT_RANGE,
                        INPUT_SHAPE)
