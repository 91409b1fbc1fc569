"""An independent, deliberately plain reading of docs/format.md §3: Python integers and loops only.

It shares no code with wqrc's executors (no NumPy arithmetic, no wqrc.quant
helpers beyond reading the QModel's constants), so the differential fuzzer
compares every executor and backend against a second implementation of the
contract, not against itself. Slow; meant for small fuzzed models.
"""
from __future__ import annotations

import math
from fractions import Fraction


def _rshift_round(v: int, s: int) -> int:
    return (v + (1 << (s - 1))) >> s if s > 0 else v << -s


def _requant_shift(v: int, s: int, rounding: str) -> int:
    """A layer's rounding (docs/format.md §3): ties up, or ties to even (Python's round of a Fraction)."""
    if rounding == "half_even" and s > 0:
        return round(Fraction(v, 1 << s))
    return _rshift_round(v, s)


def _sat(v: int, fmt) -> int:
    lo = -(1 << (fmt.bits - 1)) if fmt.signed else 0
    hi = (1 << (fmt.bits - 1)) - 1 if fmt.signed else (1 << fmt.bits) - 1
    return min(max(v, lo), hi)


def _clamp(v: int, qclip) -> int:
    if qclip:
        lo, hi = qclip
        if lo is not None:
            v = max(v, lo)
        if hi is not None:
            v = min(v, hi)
    return v


def _divisor(n: int) -> tuple[int, int]:
    if n & (n - 1) == 0:
        return 1, n.bit_length() - 1
    s = 16 + math.ceil(math.log2(n))
    r = ((1 << s) + n // 2) // n  # round(2^S / N), halves up (all positive)
    return r, s


def _decode(code: int, scheme: str, bits: int) -> int:
    if scheme == "dfp":
        return code - (1 << bits) if code >= 1 << (bits - 1) else code
    sign, m = code >> (bits - 1), code & ((1 << (bits - 1)) - 1)
    if m == 0:
        return 0
    mag = 1 << (m - 1)
    return -mag if sign else mag


def _windows(size: int, k: int, s: int, p0: int, d: int, out: int):
    return [[i * s - p0 + j * d for j in range(k)] for i in range(out)]


def _shift(layer, c: int) -> int:
    """Channel c's requantization shift (docs/format.md §1c): sh moves by exponent - e_c."""
    if layer.channel_n1 is None:
        return layer.shift
    n1 = layer.channel_n1[c]
    e_c = n1 - (layer.bits - 1) if layer.scheme == "dfp" else n1 - (2 ** (layer.bits - 1) - 1) + 1
    return layer.shift + layer.exponent - e_c


def run(qm, x) -> list:
    """Outputs (flat Python ints, one list per sample) of ``qm`` on integer inputs ``x`` (N, ...)."""
    results = []
    for sample in x:
        env = {qm.input: (tuple(qm.input_shape), [int(v) for v in sample.reshape(-1)])}
        for n in qm.nodes:
            env[n.output] = (tuple(qm.shapes[n.output]), _node(qm, n, [env[t] for t in n.inputs]))
        results.append(env[qm.output][1])
    return results


def _node(qm, n, ins):
    a, fmt = n.attrs, qm.formats[n.output]
    (shape, x) = ins[0]
    out_shape = tuple(qm.shapes[n.output])
    if n.op in ("conv", "dense"):
        layer = qm.layers[n.name]
        codes = [int(c) for c in layer.codes.reshape(-1)]
        mult = [_decode(c, layer.scheme, layer.bits) for c in codes]
        if n.op == "dense":
            o, i = layer.codes.shape
            acc = [layer.bias[r] + sum(x[j] * mult[r * i + j] for j in range(i)) for r in range(o)]
        else:
            c, h, w = shape
            o, cg, kh, kw = layer.codes.shape
            _, ho, wo = out_shape
            g = a["group"]
            (sh, sw), (pt, pl, _, _), (dh, dw) = a["strides"], a["pads"], a["dilations"]
            acc = []
            for oc in range(o):
                grp = oc // (o // g)
                for yo in range(ho):
                    for xo in range(wo):
                        t = layer.bias[oc]
                        for ci in range(cg):
                            cin = grp * cg + ci
                            for ky in range(kh):
                                yi = yo * sh - pt + ky * dh
                                if not 0 <= yi < h:
                                    continue
                                for kx in range(kw):
                                    xi = xo * sw - pl + kx * dw
                                    if 0 <= xi < w:
                                        t += x[(cin * h + yi) * w + xi] * mult[((oc * cg + ci) * kh + ky) * kw + kx]
                        acc.append(t)
        per = len(acc) // layer.codes.shape[0]  # outputs per channel, channel-major
        return [_clamp(_sat(_requant_shift(v, _shift(layer, i // per), layer.rounding), fmt), a.get("qclip"))
                for i, v in enumerate(acc)]
    if n.op in ("sigmoid", "tanh", "hardsigmoid", "hardswish", "leakyrelu"):  # docs/format.md §3d
        qmin = qm.formats[n.inputs[0]].qmin
        return [a["table"][v - qmin] for v in x]
    if n.op in ("upsample", "zero_insert"):  # docs/format.md §3f: copies, or zeros between
        c, h, w = shape
        _, ho, wo = out_shape
        sh, sw = a["scales"]
        zeros = n.op == "zero_insert"
        return [(x[(ch * h + oy // sh) * w + ox // sw] if not zeros or (oy % sh == 0 and ox % sw == 0) else 0)
                for ch in range(c) for oy in range(ho) for ox in range(wo)]
    if n.op == "pad":  # docs/format.md §3g: the value rounded into the input's format, half away
        c, h, w = shape
        pt, pl, pb, pr = a["pads"]
        f = qm.formats[n.inputs[0]]
        v = Fraction(a["value"]) / Fraction(2) ** f.frac
        code = (1 if v >= 0 else -1) * int(abs(v) + Fraction(1, 2))
        code = min(max(code, f.qmin), f.qmax)
        return [(x[(ch * h + oy - pt) * w + ox - pl] if pt <= oy < pt + h and pl <= ox < pl + w else code)
                for ch in range(c) for oy in range(h + pt + pb) for ox in range(w + pl + pr)]
    if n.op == "mul":  # docs/format.md §3e: the exact product, b per channel when (C, 1, 1)
        (b_shape, b) = ins[1]
        per = len(x) // len(b) if len(b) != len(x) else 1
        return [_sat(_rshift_round(v * b[i // per], a["shift"]), fmt) for i, v in enumerate(x)]
    if n.op in ("relu", "clip"):
        return [_clamp(_sat(v, fmt), a.get("qclip")) for v in x]
    if n.op == "flatten":
        return list(x)
    if n.op == "global_avgpool":
        c, h, w = shape
        r, s = _divisor(h * w)
        return [_sat(_rshift_round(sum(x[ch * h * w:(ch + 1) * h * w]) * r, s), fmt) for ch in range(c)]
    if n.op in ("maxpool", "avgpool"):
        c, h, w = shape
        _, ho, wo = out_shape
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["pads"]
        dh, dw = a.get("dilations", (1, 1))
        rows, cols = _windows(h, kh, sh, pt, dh, ho), _windows(w, kw, sw, pl, dw, wo)
        out = []
        for ch in range(c):
            for ys in rows:
                for xs in cols:
                    real = [x[(ch * h + yi) * w + xi] for yi in ys for xi in xs if 0 <= yi < h and 0 <= xi < w]
                    if n.op == "maxpool":
                        out.append(max(real))
                        continue
                    if a.get("count_include_pad"):
                        # padded positions count, positions beyond the pads (ceil_mode) do not
                        count = sum(1 for yi in ys for xi in xs if -pt <= yi < h + pb and -pl <= xi < w + pr)
                    else:
                        count = len(real)
                    r, s = _divisor(count)
                    out.append(_sat(_rshift_round(sum(real) * r, s), fmt))
        return out
    if n.op == "add":
        total = [0] * len(x)
        for (_, xi), sh in zip(ins, a["shifts"]):
            total = [t + _rshift_round(v, sh) for t, v in zip(total, xi)]
        return [_clamp(_sat(t, fmt), a.get("qclip")) for t in total]
    if n.op == "concat":
        out = []
        for (_, xi), sh in zip(ins, a["shifts"]):
            out += [_sat(_rshift_round(v, sh), fmt) for v in xi]
        return out
    raise AssertionError(n.op)
