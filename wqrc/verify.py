"""Comparing captured hardware outputs with the simulator, and locating the first bad layer."""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.quant.qmodel import QModel


def compare_outputs(expected: np.ndarray, got: np.ndarray) -> Optional[str]:
    """None if equal element for element, else a report of what differs."""
    exp = expected.reshape(len(expected), -1)
    if got.ndim == 1 and got.size == exp.size:   # a flat text capture: samples one after another
        got = got.reshape(exp.shape)
    if got.shape[0] != exp.shape[0] or got.reshape(len(got), -1).shape != exp.shape:
        raise WqrcError(f"captured outputs have shape {got.shape}; the simulator gives {expected.shape}")
    g = got.reshape(exp.shape).astype(np.int64)
    bad = np.nonzero((g != exp).any(axis=1))[0]
    if not len(bad):
        return None
    s = int(bad[0])
    e = int(np.nonzero(g[s] != exp[s])[0][0])
    return (f"verify: FAIL: {len(bad)} of {len(exp)} samples differ; first: sample {s}, element {e}: "
            f"hardware {int(g[s, e])}, simulator {int(exp[s, e])} "
            f"({int((g[s] != exp[s]).sum())} elements of that sample differ)")


def expected_outputs(qm: QModel, env: dict, n: int) -> np.ndarray:
    """What captured outputs are compared with: the graph's output, or with several outputs each
    sample's outputs one after another (how the RTL accelerator unloads them), (n, elements)."""
    from wqrc.sim.simulator import one_after_another
    if not qm.extra_outputs:
        return env[qm.output]
    return one_after_another([env[t] for t in qm.outputs], n)


def read_text_integers(path: str) -> np.ndarray:
    """Integers written one per line (the RTL test bench's sim_out.txt)."""
    try:
        with open(path) as fh:
            return np.array([int(line) for line in fh if line.strip()], dtype=np.int64)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise WqrcError(f"{path}: not a text file of integers, one per line ({type(exc).__name__})") from None


def read_text_trace(qm: QModel, path: str) -> dict[str, np.ndarray]:
    """Per-layer outputs written as '<node index> <value>' lines, each layer's elements in C order,
    sample after sample (the RTL test bench's trace.txt); keyed by node name."""
    values: dict[int, list[int]] = {}
    try:
        with open(path) as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    k, v = line.split()
                    values.setdefault(int(k), []).append(int(v))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise WqrcError(f"{path}: line {n}: not '<node index> <value>' ({type(exc).__name__})") from None
    if any(not 0 <= k < len(qm.nodes) for k in values):
        raise WqrcError(f"{path}: node indices must lie in 0..{len(qm.nodes) - 1}")
    return {qm.nodes[k].name: np.array(v, dtype=np.int64) for k, v in values.items()}


def first_divergent_layer(qm: QModel, env: dict, trace_path: str) -> str:
    if trace_path.endswith(".txt"):
        captured = read_text_trace(qm, trace_path)
    else:
        try:
            with np.load(trace_path, allow_pickle=False) as z:
                captured = {re.sub(r"^\d{3}_", "", k): z[k] for k in z.files}
        except Exception as exc:
            raise WqrcError(f"{trace_path}: not a readable .npz of per-layer outputs ({type(exc).__name__})") from None
    for node in qm.nodes:
        if node.name not in captured:
            continue
        want = env[node.output]
        have = captured[node.name]
        if have.size != want.size or not np.array_equal(have.reshape(want.shape), want):
            return f"verify: first layer that differs: '{node.name}' ({node.op})"
    return "verify: every captured layer matches; the difference arises after the last captured layer"
