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


def first_divergent_layer(qm: QModel, env: dict, trace_path: str) -> str:
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
