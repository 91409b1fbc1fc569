"""Bit-exact reference simulator of a QModel: the golden model of docs/format.md §3."""
from __future__ import annotations

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import fit_input
from wqrc.quant.qmodel import QModel
from wqrc.ops import op_def

# Below this many multiply-accumulates (samples x the model's MACs) "auto" runs the NumPy
# kernels: they answer in well under 0.2 s, sooner than torch or onnx could be imported
# (about a second each), so `wqrc verify` of a capture needs neither (docs/architecture.md).
NUMPY_MACS = 200_000_000


def model_macs(qm: QModel) -> int:
    """Multiply-accumulates of one inference."""
    return sum(qm.layer_macs(node, layer)[0] for node, layer in qm.weighted())


def _check_input(qm: QModel, x: np.ndarray) -> np.ndarray:
    x = fit_input(np.asarray(x), qm.input_shape, qm.input_layout)
    want = tuple(qm.input_shape)
    if x.shape[1:] != want:
        if x.shape == want:
            x = x[None]
        else:
            raise WqrcError(f"input has shape {x.shape}; the model expects (N,) + {want}")
    if not np.issubdtype(x.dtype, np.integer):
        raise WqrcError("integer simulation needs integer input codes; quantize floats with QModel.quantize_input")
    fmt = qm.input_format
    if x.size and (x.min() < fmt.qmin or x.max() > fmt.qmax):
        raise WqrcError(f"input codes outside the input format {fmt.describe()} [{fmt.qmin}, {fmt.qmax}]")
    return x  # in its own integer type: each executor converts once, to what it computes in


def simulate(qm: QModel, x: np.ndarray, *, trace: bool = False, path: str = "auto", batch: int = 2048):
    """Run integer inputs ``x`` (N, ...) through the integer graph.

    Returns the integer output, or with ``trace`` a dict of every tensor's
    integer values (input included), in graph order, for locating the first
    layer where an accelerator diverges. ``path="auto"`` runs a small job
    (``NUMPY_MACS``) on the NumPy kernels and otherwise uses, where the
    bounds prove it exact, onnxruntime on a float32 lowering
    (:mod:`wqrc.sim.ort_exec`, not for traces), else the torch executor of
    :mod:`wqrc.sim.fast` (``"ort"`` and ``"torch"`` force one), else
    the NumPy kernels with the cheapest exact dtype (``"numpy"`` forces them); ``"float32"``,
    ``"float64"``, ``"int64"`` or ``"object"`` force the NumPy kernels with
    that dtype (the tests compare every path element for element).
    """
    x = _check_input(qm, x)
    if path == "auto" and len(x) * model_macs(qm) <= NUMPY_MACS:
        path = "numpy"
    if path in ("auto", "ort") and not trace:
        run = _ort_runner(qm)
        if run is not None:
            if len(x) <= batch:
                return run(x)
            return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])
        if path == "ort":
            raise WqrcError("this model is not provably exact in float32; use path='auto'")
    if path in ("auto", "torch") and _fast().eligible(qm):
        run = _torch_runner(qm)
        if trace or len(x) <= batch:
            return run(x, trace=trace)
        return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])
    if path == "torch":
        raise WqrcError("the fast executor cannot prove this model exact; use path='auto'")
    if len(x) > batch and not trace:
        return np.concatenate([simulate(qm, x[i:i + batch], path=path, batch=batch)
                               for i in range(0, len(x), batch)])
    if path == "numpy":
        path = "auto"   # the NumPy kernels' own choice: the cheapest exact dtype per layer
    env = {qm.input: np.asarray(x, np.int64)}
    for node in qm.nodes:  # each op's integer kernel, through the registry
        env[node.output] = op_def(node).run_int(qm, node, [env[t] for t in node.inputs], path)
    return env if trace else env[qm.output]


def _ort_runner(qm: QModel):
    """The onnxruntime executor of qm's float32 lowering, or None where it is not provably exact."""
    if "ort" not in qm.runtime_cache:
        from wqrc.sim import ort_exec
        lowered = ort_exec.lower(qm)
        qm.runtime_cache["ort"] = None if lowered is None else ort_exec.OrtExecutor(lowered)
    return qm.runtime_cache["ort"]


def _fast():
    """wqrc.sim.fast, imported when first needed (it imports torch)."""
    from wqrc.sim import fast
    return fast


def _torch_runner(qm: QModel):
    """The torch executor of qm (built once; the caller has checked fast.eligible)."""
    if qm.runtime_cache.get("torch") is None:
        qm.runtime_cache["torch"] = _fast().FastExecutor(qm)
    return qm.runtime_cache["torch"]


def chosen_path(qm: QModel) -> str:
    """Which executor ``simulate(qm, x)`` runs (path="auto", no trace), in words: for reports
    and benchmarks."""
    run = _ort_runner(qm)
    if run is not None:
        return "onnxruntime float32" + ("/QLinearConv" if run.integer else "")
    if _fast().eligible(qm):
        kinds = {l.kind for l in _torch_runner(qm).layers.values()}
        return "torch " + "/".join(sorted(kinds))
    from wqrc.contract.kernels import choose_path
    return "numpy " + "/".join(sorted({choose_path(l.acc_bound) for l in qm.layers.values()}))


def simulate_outputs(qm: QModel, x: np.ndarray, **kw) -> list[np.ndarray]:
    """Every graph output (``qm.outputs``: the first, then the further ones) as integers."""
    if not qm.extra_outputs:
        return [simulate(qm, x, **kw)]
    env = simulate(qm, x, trace=True, **kw)
    return [env[t] for t in qm.outputs]


def one_after_another(ys: list[np.ndarray], n: int) -> np.ndarray:
    """Several outputs of n samples as one (n, elements) array: each sample's outputs one after
    another, the first first. The one home of that order: the RTL accelerator unloads in it, its
    test vectors are written in it, and ``wqrc verify`` compares captures in it (docs/targets.md)."""
    return np.concatenate([np.asarray(y).reshape(n, -1) for y in ys], axis=1)


def simulate_float(qm: QModel, x: np.ndarray, **kw) -> np.ndarray:
    """Quantize float inputs, simulate, and dequantize the output (for accuracy)."""
    return qm.dequantize_output(simulate(qm, qm.quantize_input(x), **kw))
