"""The lowering (wqrc/lower) unit-tested without gcc or Verilator.

A typed call must hold every constant its kernel needs: here a small NumPy interpreter that reads
*only* the calls (and a conv's weight multipliers, which live in the ROM) runs every node of a
network of every kernel family and must equal the simulator's trace element for element. A
constant a backend would have to re-derive from the QModel (a divisor table, a shift
convention, clamp bounds, an alignment shift, a pad code) makes it differ. Beside it: the RTL
step of each call connects exactly the ports and parameters its hand-written engine declares,
and the activation arena never overlaps two tensors that are live together.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from conftest import ROOT
from wqrc import api
from wqrc.backend import rtl as rtl_backend
from wqrc.backend.planner import plan_arena
from wqrc.contract.arith import ROUNDERS, rshift_round, saturate
from wqrc.contract.kernels import _windows
from wqrc.lower import (AddCall, AliasCall, ConvCall, CopyCall, LutCall, MulCall, PadCall, PoolCall, UpsampleCall,
                        lower)
from wqrc.pack.rom import pack
from wqrc.sim.simulator import simulate

FAMILIES = os.path.join(ROOT, "tests", "data", "families.onnx")


@pytest.fixture(scope="module", params=[("dfp", 8, "layer"), ("po2", 4, "layer"), ("dfp", 5, "channel")],
                ids=lambda p: "-".join(map(str, p)))
def families(request):
    scheme, bits, gran = request.param
    qm = api.quantize(api.load_model(FAMILIES), scheme=scheme, bits=bits, granularity=gran)
    return qm


def _clamp(v, lo, hi):
    return np.minimum(np.maximum(v, lo), hi)


def _conv(call: ConvCall, x, qm):
    g = call.geometry
    mult = qm.layers[call.name].multipliers.reshape(g.out_c, g.in_c // g.group, g.k_h, g.k_w)
    x = x.reshape(len(x), g.in_c, g.in_h, g.in_w)
    win = _windows(x, (g.k_h, g.k_w), (g.stride_h, g.stride_w), (g.pad_t, g.pad_l, g.pad_b, g.pad_r),
                   (g.dil_h, g.dil_w), 0)                       # (N, C, OH, OW, KH, KW)
    og, cg = g.out_c // g.group, g.in_c // g.group
    acc = np.zeros((len(x), g.out_c, g.out_h, g.out_w), dtype=object)
    for o in range(g.out_c):
        part = win[:, (o // og) * cg:(o // og + 1) * cg].astype(object)
        acc[:, o] = call.bias[o] + np.einsum("ncyxij,cij->nyx", part, mult[o].astype(object))
    assert int(np.abs(acc).max()) <= call.acc_bound < 1 << (call.acc_bits - 1)
    shifts = np.asarray(call.shifts, dtype=object).reshape(1, -1, 1, 1)
    rnd = ROUNDERS["half_even" if call.half_even else "half_up"]
    y = np.stack([rnd(acc[:, o], call.shifts[o]) for o in range(g.out_c)], axis=1) if call.per_channel \
        else rnd(acc, int(shifts.flat[0]))
    return _clamp(np.asarray(y, dtype=object), call.lo, call.hi)


def _pool(call: PoolCall, x, qm):
    g = call.geometry
    x = x.reshape(len(x), g.c, g.in_h, g.in_w)
    # the bottom and right pads are what the output size implies
    extent = lambda n, k, s, d, size, pad: max(0, (n - 1) * s + (k - 1) * d + 1 - size - pad)  # noqa: E731
    pads = (g.pad_t, g.pad_l, extent(g.out_h, g.k_h, g.stride_h, g.dil_h, g.in_h, g.pad_t),
            extent(g.out_w, g.k_w, g.stride_w, g.dil_w, g.in_w, g.pad_l))
    if call.takes_max:
        win = _windows(x, (g.k_h, g.k_w), (g.stride_h, g.stride_w), pads, (g.dil_h, g.dil_w), np.iinfo(np.int64).min)
        return _clamp(np.asarray(win.max(axis=(4, 5)), dtype=object), call.lo, call.hi)
    win = _windows(x.astype(object), (g.k_h, g.k_w), (g.stride_h, g.stride_w), pads, (g.dil_h, g.dil_w), 0)
    total = win.sum(axis=(4, 5))
    ones = _windows(np.ones((1, 1, g.in_h, g.in_w), dtype=object), (g.k_h, g.k_w), (g.stride_h, g.stride_w),
                    pads, (g.dil_h, g.dil_w), 0).sum(axis=(4, 5))[0, 0]
    counts = np.full(ones.shape, g.k_h * g.k_w) if (g.count_include_pad or call.whole_map) else ones
    out = np.empty(total.shape, dtype=object)
    for (yy, xx), n in np.ndenumerate(counts):
        k = 0 if call.whole_map else n        # the table's entry: by count, a global pool's at 0
        out[..., yy, xx] = rshift_round(total[..., yy, xx] * call.div_r[k], call.div_s[k])
    return _clamp(out, call.lo, call.hi)


def _add(call: AddCall, xs, qm):
    total = sum(rshift_round(x.astype(object), sh) for x, sh in zip(xs, call.shifts))
    f = call.out_format
    return _clamp(saturate(total, f.qmin, f.qmax), call.lo, call.hi)


def _copy(call: CopyCall, env, qm):
    f = call.out_format
    parts = [_clamp(saturate(rshift_round(env[p.tensor].reshape(len(env[p.tensor]), -1).astype(object), p.shift),
                             f.qmin, f.qmax), call.lo, call.hi) for p in call.parts]
    assert [p.offset for p in call.parts] == list(np.cumsum([0] + [p.size for p in call.parts[:-1]]))
    return np.concatenate(parts, axis=1)


def _mul(call: MulCall, xs, qm):
    a = xs[0].reshape(len(xs[0]), call.channels, call.positions).astype(object)
    b = xs[1].reshape(len(xs[1]), call.channels, call.gate_positions).astype(object)
    f = call.out_format
    return _clamp(saturate(rshift_round(a * b, call.shift), f.qmin, f.qmax), call.lo, call.hi)


def _upsample(call: UpsampleCall, x, qm):
    x = x.reshape(len(x), call.c, call.h, call.w)
    if not call.zeros:
        return x.repeat(call.scale_h, axis=2).repeat(call.scale_w, axis=3)
    out = np.zeros((len(x), call.c, (call.h - 1) * call.scale_h + 1, (call.w - 1) * call.scale_w + 1), x.dtype)
    out[:, :, ::call.scale_h, ::call.scale_w] = x
    return out


def _pad(call: PadCall, x, qm):
    t, left, b, r = call.pads
    return np.pad(x.reshape(len(x), call.c, call.h, call.w), ((0, 0), (0, 0), (t, b), (left, r)),
                  constant_values=call.code)


def _lut(call: LutCall, x, qm):
    return np.asarray(call.table, dtype=np.int64)[x.astype(np.int64) - call.qmin]


def _interpret(qm, x):
    env = {qm.input: x}
    one = {ConvCall: _conv, PoolCall: _pool, UpsampleCall: _upsample, PadCall: _pad, LutCall: _lut}
    many = {AddCall: _add, MulCall: _mul}
    for call in lower(qm):
        if isinstance(call, AliasCall):
            got = env[call.inputs[0]]
        elif isinstance(call, CopyCall):
            got = _copy(call, env, qm)
        elif type(call) in many:
            got = many[type(call)](call, [env[t] for t in call.inputs], qm)
        else:
            got = one[type(call)](call, env[call.inputs[0]], qm)
        env[call.output] = np.asarray(got).astype(np.int64).reshape((len(x),) + tuple(qm.shapes[call.output]))
    return env


def test_every_call_holds_what_its_kernel_needs(families):
    """Every node of every family, interpreted from its call alone, equals the simulator."""
    qm = families
    x = np.random.default_rng(0).integers(qm.input_format.qmin, qm.input_format.qmax + 1,
                                          size=(3,) + tuple(qm.input_shape))
    want = simulate(qm, x, trace=True)
    got = _interpret(qm, x)
    kinds = {type(c).__name__ for c in lower(qm)}
    assert kinds >= {"ConvCall", "PoolCall", "AddCall", "CopyCall", "MulCall", "UpsampleCall", "PadCall",
                     "LutCall", "AliasCall"}
    for n in qm.nodes:
        np.testing.assert_array_equal(got[n.output], np.asarray(want[n.output]).reshape(got[n.output].shape),
                                      err_msg=f"node {n.name} ({n.op})")


def test_pool_divisor_tables_index_windows_by_their_element_count(families):
    """A padded average pool keeps one (R, S) per possible count (entry 0 unused); a global pool
    its one divisor at entry 0; the RTL's table is the counts its windows can really cover."""
    pools = [c for c in lower(families) if isinstance(c, PoolCall) and not c.takes_max]
    assert pools and any(p.whole_map for p in pools) and any(not p.whole_map for p in pools)
    for p in pools:
        g = p.geometry
        want = 1 if p.whole_map else g.k_h * g.k_w + 1
        assert len(p.div_r) == len(p.div_s) == want
        if not p.whole_map:
            assert (p.div_r[0], p.div_s[0]) == (1, 0)
        # a window of n elements: R / 2^S within 2^-16 of 1/n (docs/format.md §3)
        for n, (r, s) in enumerate(zip(p.div_r, p.div_s)):
            n = g.in_h * g.in_w if p.whole_map else n
            if n:
                assert abs(r / 2 ** s - 1 / n) <= 2 ** -16 / n


def _declared(module: str) -> tuple[set[str], set[str]]:
    """The ports and parameters a hand-written engine declares (its shared port include expanded)."""
    rtl = os.path.join(ROOT, "hw", "rtl")
    text = open(os.path.join(rtl, f"{module}.v")).read()
    text = re.sub(r'`include "([^"]+)"', lambda m: open(os.path.join(rtl, m.group(1))).read(), text)
    head = text[text.index(f"module {module}"):]
    head, port_list = head[:head.index(") (")], head[head.index(") ("):head.index("\n);")]
    params = set(re.findall(r"(?:parameter\s+(?:integer\s+|signed\s*)?(?:\[[^\]]+\]\s*)?|,\s*)(\w+)\s*=", head))
    ports = set(re.findall(r"(?:input|output)\s+(?:wire|reg)\s+(?:\[[^\]]+\]\s+)?(\w+)", port_list))
    return ports, params


def test_each_rtl_step_connects_exactly_what_its_engine_declares(families):
    qm = families
    lay = rtl_backend._Layout(qm, pack(qm, 32), lanes=2)
    shared = {"clk", "rst", "start", "done", "out_we", "out_addr", "out_d"}
    seen = set()
    for step in lay.steps:
        ports, params = _declared(step["module"])
        assert {p for p, _ in step["wires"]} | shared == ports, step["module"]
        assert set(step["params"]) <= params, (step["module"], set(step["params"]) - params)
        for rom in step["roms"]:
            assert {p for p, _ in rom["wires"]} | {"clk"} == _declared("wqrc_rom")[0]
        seen.add(step["module"])
        assert f"{step['module']}.v" in rtl_backend.KERNEL_FILES
    assert len(seen) == 6


def test_the_arena_never_overlaps_two_live_tensors(families):
    qm = families
    arena = plan_arena(qm)
    alias = arena.alias
    last = {}
    for i, n in enumerate(qm.nodes):
        for t in n.inputs:
            last[alias[t]] = i
    for o in qm.outputs:
        last[alias[o]] = len(qm.nodes)
    born = {alias[n.output]: i for i, n in enumerate(qm.nodes) if alias[n.output] == n.output}
    placed = {t: p for t, p in arena.tensors.items()}
    for a, pa in placed.items():
        assert pa.offset + pa.size <= arena.size
        for b, pb in placed.items():
            if a < b and born[a] <= last.get(b, -1) and born[b] <= last.get(a, -1):
                assert pa.offset + pa.size <= pb.offset or pb.offset + pb.size <= pa.offset, (a, b)
