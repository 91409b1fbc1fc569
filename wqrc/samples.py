"""Sample arrays a user gives to `wqrc simulate` and `wqrc verify`: read, shaped to the model's
input (in either layout its exporter saw), and either quantized (floats) or checked against the
input format (integer codes)."""
from __future__ import annotations

import os

from wqrc.errors import WqrcError


def load_npy(path: str):
    """A .npy array a user gives (inputs, captured outputs), as a one-line error when it is not one."""
    import numpy as np

    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise WqrcError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None


def model_input(qm, x, path: str):
    """Integer codes as they are (checked against the input format), float values quantized."""
    import numpy as np

    if x.dtype.kind not in "iuf" or x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise WqrcError(f"{path}: inputs must be real integers or finite floats (got {x.dtype}"
                        f"{' with NaN/inf' if x.dtype.kind == 'f' else ''})")
    from wqrc.ir.graph import fit_input

    shape, layout = tuple(qm.input_shape), qm.input_layout
    batch = fit_input(x, shape, layout)   # a batch, also in the exporter's layout ((N, C, L), (N, H, W, C))
    if tuple(batch.shape[1:]) == shape:
        x = batch
    elif x.ndim in (len(shape), len(shape) - 1):  # one sample
        x = fit_input(x[None], shape, layout)
    if tuple(x.shape[1:]) != shape:
        raise WqrcError(f"{path}: inputs of shape {tuple(x.shape[1:])}, the model expects {tuple(qm.input_shape)}")
    if x.dtype.kind == "f":
        return qm.quantize_input(x)
    f = qm.input_format
    if x.size and (x.min() < f.qmin or x.max() > f.qmax):
        raise WqrcError(f"{path}: integer inputs outside the input format {f.describe()} "
                        f"([{f.qmin}, {f.qmax}])")
    return x.astype(np.int64)
