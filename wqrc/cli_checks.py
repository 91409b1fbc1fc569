"""What the arguments alone show, checked before a model is loaded or torch imported, so that a
mistake answers at once (benchmarks/cli_startup.py: within 10x of `python -c pass`): --bits
against the scheme, data names and files, options of a target that is not written, and
quantization options given for a model that is quantized already."""
from __future__ import annotations

import click

from wqrc.errors import WqrcError


def early(scheme: str, bits, datasets: dict, allow_auto: bool = False, bits_option: str = "--bits") -> None:
    """The mistakes the arguments alone show, found before a model (or torch) is loaded, so they
    answer at once: --bits against the scheme, and each data option's name or file."""
    from wqrc.data import check_spec
    from wqrc.quant.plan import check_bits_option

    if bits is not None:
        check_bits_option(bits, scheme, allow_auto, bits_option)
    for option, spec in datasets.items():
        if spec:
            check_spec(spec, option)


# the quantization options: a .wqrc.npz is quantized already, so none of them can apply to it
QUANT_NAMES = ("scheme", "bits", "act_bits", "exponent", "granularity", "calib", "calib_samples", "percentile",
               "act_rule", "input_range", "input_shape")


def _given(name: str):
    """The flag of option ``name`` of the running command if the user gave it, else None."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
        return None
    return next(p for p in ctx.command.params if p.name == name).opts[-1]


def refuse_quant_options(model: str) -> None:
    for name in QUANT_NAMES:
        flag = _given(name)
        if flag:
            raise WqrcError(f"{flag}: {model} is quantized already; quantize the float model again to change it")


# compile's options that only one target reads, and that target
TARGET_OPTIONS = {"parallelism": "hls", "io_mode": "hls", "lanes": "rtl", "rtl_form": "rtl", "fpga": "rtl",
                  "weight_store": "rtl"}


def target_options(targets) -> None:
    """An option given for a target that is not being written is a mistake (it would do nothing)."""
    for name, target in TARGET_OPTIONS.items():
        flag = _given(name) if target not in targets else None
        if flag:
            raise WqrcError(f"{flag} applies to --target {target}, which is not among the targets "
                            f"({','.join(targets)})")
