"""The op registry is the one home of op knowledge: every concern's table covers every op it must.

Each concern (float torch forward, ONNX export, the two float executors, the C
and HLS step emitters) keeps one table keyed by op name. A new op registered
in wqrc.ops without its entries fails here, naming the table, instead of
surfacing as a KeyError deep inside a compile.
"""
from __future__ import annotations

import pytest

from wqrc.backend import c as c_backend, hls as hls_backend, qonnx as qonnx_backend, rtl as rtl_backend
from wqrc.ir import to_onnx, to_torch
from wqrc.ir.graph import Node
from wqrc.ops import OPS, op_def
from wqrc.sim import fast, ort_exec

INTEGER_OPS = sorted(name for name, d in OPS.items() if d.integer)
TABLES = {
    "wqrc.ir.to_torch.FORWARD": (to_torch.FORWARD, sorted(OPS)),
    "wqrc.ir.to_onnx.EXPORT": (to_onnx.EXPORT, INTEGER_OPS),
    "wqrc.sim.fast.RUN": (fast.RUN, INTEGER_OPS),
    "wqrc.sim.ort_exec.LOWER": (ort_exec.LOWER, INTEGER_OPS),
    "wqrc.backend.qonnx.WRITE": (qonnx_backend.WRITE, INTEGER_OPS),
}
BACKENDS = {"wqrc.backend.c.EMIT": c_backend.EMIT, "wqrc.backend.hls.EMIT": hls_backend.EMIT,
            "wqrc.backend.rtl.EMIT": rtl_backend.EMIT}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_op_has_an_entry_in_each_concern_table(table):
    entries, needed = TABLES[table]
    missing = [op for op in needed if op not in entries]
    assert not missing, f"{table} lacks {missing}"
    unknown = [op for op in entries if op not in OPS]
    assert not unknown, f"{table} has entries for ops the registry does not know: {unknown}"


@pytest.mark.parametrize("table", sorted(BACKENDS))
def test_every_integer_op_lowers_to_a_call_each_code_backend_renders(table):
    """A backend's table is keyed by the kernel family or by the call type it lowers to (wqrc.lower)."""
    from wqrc.lower import CALLS, LOWER
    assert set(LOWER) == set(CALLS) == {OPS[op].kernel for op in INTEGER_OPS}
    emit = BACKENDS[table]
    missing = [op for op in INTEGER_OPS if OPS[op].kernel not in emit and CALLS[OPS[op].kernel] not in emit]
    assert not missing, f"{table} has no step for the kernel family of {missing}"


def test_the_passes_remove_every_op_that_is_not_integer():
    # batchnorm is folded, identity and a trailing softmax dropped: none reaches quantization
    assert sorted(name for name, d in OPS.items() if not d.integer) == ["batchnorm", "identity", "softmax"]


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_declared_default_passes_its_own_check(name):
    d = OPS[name]
    node = Node(name, "n", ["x"], "y", {})
    for a in d.attrs:
        if a.required:
            continue
        assert a.check(node, a.default) == (tuple(a.default) if isinstance(a.default, (list, tuple)) else a.default)


@pytest.mark.parametrize("name", INTEGER_OPS)
def test_format_roles_are_exclusive(name):
    # an op keeps its input's format, or clamps it, or aligns its inputs, or gets a calibrated format
    d = OPS[name]
    assert sum((d.keeps_format, d.clamps, d.aligns_inputs, d.weighted)) <= 1


def test_a_missing_required_attribute_is_a_one_line_error():
    from wqrc.errors import WqrcError
    with pytest.raises(WqrcError, match="node 'p' \\(maxpool\\): attribute kernel is required"):
        OPS["maxpool"].check(Node("maxpool", "p", ["x"], "y", {}), [(1, 4, 4)])


def test_an_unregistered_op_is_a_one_line_error():
    from wqrc.errors import WqrcError
    with pytest.raises(WqrcError, match="node 'n': unknown op 'gelu'"):
        op_def(Node("gelu", "n", ["x"], "y", {}))
