"""Comparing captured hardware outputs with the simulator, and locating the first bad layer."""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.quant.qmodel import QModel


def compare_outputs(expected: np.ndarray, got: np.ndarray) -> Optional[str]:
    """None if equal element for element, else a report of what differs. Captured values are compared
    as the integers they are: a uint64 2^64-1 is a mismatch, never -1."""
    exp = expected.reshape(len(expected), -1)
    if got.ndim == 1 and got.size == exp.size:   # a flat text capture: samples one after another
        got = got.reshape(exp.shape)
    if got.shape[0] != exp.shape[0] or got.reshape(len(got), -1).shape != exp.shape:
        raise WqrcError(f"captured outputs have shape {got.shape}; the simulator gives {expected.shape}")
    g = got.reshape(exp.shape)
    top = np.iinfo(np.int64).max
    if g.dtype == np.uint64:
        beyond = g > top
    elif g.dtype == object:   # a text capture holding both negatives and values past 2^63
        beyond = np.vectorize(lambda v: not -top - 1 <= v <= top, otypes=[bool])(g)
    else:
        beyond = np.zeros(g.shape, bool)
    differ = (np.where(beyond, 0, g).astype(np.int64) != exp) | beyond
    bad = np.nonzero(differ.any(axis=1))[0]
    if not len(bad):
        return None
    s = int(bad[0])
    e = int(np.nonzero(differ[s])[0][0])
    return (f"verify: FAIL: {len(bad)} of {len(exp)} samples differ; first: sample {s}, element {e}: "
            f"hardware {int(g[s, e])}, simulator {int(exp[s, e])} "
            f"({int(differ[s].sum())} elements of that sample differ)")


def expected_outputs(qm: QModel, env: dict, n: int) -> np.ndarray:
    """What captured outputs are compared with: the graph's output, or with several outputs each
    sample's outputs one after another (how the RTL accelerator unloads them), (n, elements)."""
    from wqrc.sim.simulator import one_after_another
    if not qm.extra_outputs:
        return env[qm.output]
    return one_after_another([env[t] for t in qm.outputs], n)


def _integers(path: str, limit: int, fields: int):
    """Lines of ``fields`` integers each, at most ``limit`` lines (a capture can be no longer than what
    it captures), each value within 64 bits; one-line errors naming the line."""
    rows = []
    n = 0
    try:
        with open(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                vals = [int(v) for v in line.split()]
                if len(vals) != fields:
                    raise ValueError
                if any(not -(1 << 63) <= v < 1 << 64 for v in vals):
                    raise WqrcError(f"{path}: line {n}: a value beyond 64 bits")
                rows.append(vals)
                if len(rows) > limit:
                    raise WqrcError(f"{path}: more than the {limit} values the simulator gives; stopped at line {n}")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        what = "one integer" if fields == 1 else "'<node index> <value>'"
        raise WqrcError(f"{path}: line {n}: not {what} per line ({type(exc).__name__})") from None
    return rows


def read_text_integers(path: str, limit: int) -> np.ndarray:
    """Integers written one per line (the RTL test bench's sim_out.txt), at most ``limit`` of them."""
    vals = [v for (v,) in _integers(path, limit, 1)]
    if any(v > np.iinfo(np.int64).max for v in vals):
        return np.array(vals, dtype=np.uint64) if min(vals, default=0) >= 0 else np.array(vals, dtype=object)
    return np.array(vals, dtype=np.int64)


def read_text_trace(qm: QModel, path: str, limit: int) -> dict[str, np.ndarray]:
    """Per-layer outputs written as '<node index> <value>' lines, each layer's elements in C order,
    sample after sample (the RTL test bench's trace.txt), at most ``limit`` lines; keyed by node name."""
    values: dict[int, list[int]] = {}
    for k, v in _integers(path, limit, 2):
        if not 0 <= k < len(qm.nodes):
            raise WqrcError(f"{path}: node indices must lie in 0..{len(qm.nodes) - 1}")
        values.setdefault(k, []).append(v)
    return {qm.nodes[k].name: np.array(v, dtype=object if any(abs(x) >= 1 << 63 for x in v) else np.int64)
            for k, v in values.items()}


def first_divergent_layer(qm: QModel, env: dict, trace_path: str) -> str:
    sizes = {n.name: env[n.output].size for n in qm.nodes}   # what each captured layer can hold
    if trace_path.endswith(".txt"):
        captured = read_text_trace(qm, trace_path, sum(sizes.values()))
    else:
        from wqrc.untrusted import load_npz

        def node(key):
            return re.sub(r"^\d{3}_", "", key)
        arrays = load_npz(trace_path, limit=lambda k: sizes[node(k)], names=lambda k: node(k) in sizes)
        captured = {node(k): v for k, v in arrays.items()}
    for node in qm.nodes:
        if node.name not in captured:
            continue
        want = env[node.output]
        have = captured[node.name]
        if have.size != want.size or not np.array_equal(have.reshape(want.shape), want):
            return f"verify: first layer that differs: '{node.name}' ({node.op})"
    return "verify: every captured layer matches; the difference arises after the last captured layer"


def verify_capture(qmodel: str, input_path: str, outputs_path: str,
                   trace_path: Optional[str] = None) -> tuple[int, list[str]]:
    """`wqrc verify`: (samples, the lines to show), no lines when every captured output equals the simulator's.

    ``outputs_path``: .npy integers or a .txt of one integer a line (the RTL test bench's); with
    ``trace_path`` (captured per-layer outputs) a mismatch also names the first layer that differs."""
    import math

    from wqrc.samples import load_npy, model_input
    from wqrc.sim import simulate

    qm = QModel.load(qmodel)
    x = model_input(qm, load_npy(input_path), input_path)
    expect = len(x) * sum(math.prod(qm.shapes[t]) for t in qm.outputs)
    got = read_text_integers(outputs_path, expect) if outputs_path.endswith(".txt") else load_npy(outputs_path)
    if got.dtype.kind not in "iu" and not (got.dtype.kind == "O" and outputs_path.endswith(".txt")):
        raise WqrcError(f"{outputs_path}: captured outputs must be integers (got {got.dtype})")
    env = simulate(qm, x, trace=True)
    result = compare_outputs(expected_outputs(qm, env, len(x)), got)
    if result is None:
        return len(x), []
    return len(x), [result] + ([first_divergent_layer(qm, env, trace_path)] if trace_path else [])
