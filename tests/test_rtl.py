"""The hand-written RTL building blocks (hw/rtl) against the Python contract, in Icarus Verilog.

The requantizer is driven with accumulators at and around every edge (0, ±1,
the rounding midpoints, the accumulator's extremes) for shifts from far left to
far right, and the two processing elements accumulate random code/activation
streams at both signednesses; every output is compared with quant/arith and the
schemes' multipliers, element for element.
"""
from __future__ import annotations

import os
from fractions import Fraction
import subprocess

import numpy as np
import pytest

import needs
from conftest import ROOT
from wqrc.contract.arith import rshift_round, saturate

RTL = os.path.join(ROOT, "hw", "rtl")


def _sim(tmp_path, name: str, tb: str, sources: list[str], vectors: list[str]) -> list[str]:
    (tmp_path / "vec.mem").write_text("\n".join(vectors) + "\n")
    (tmp_path / f"{name}.v").write_text(tb)
    exe = tmp_path / f"{name}.vvp"
    subprocess.run(["iverilog", "-g2005", "-Wall", "-o", str(exe), str(tmp_path / f"{name}.v"),
                    *[os.path.join(RTL, s) for s in sources]], check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", str(exe)], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("VCD")]


def _hex(v: int, bits: int) -> str:
    return f"{v & ((1 << bits) - 1):0{-(-bits // 4)}x}"


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def requant_reference(acc: int, shift: int, lo: int, hi: int, even: bool = False) -> int:
    """docs/format.md §3; ties to even from its definition (Python's round of a Fraction)."""
    if even and shift > 0:
        v = round(Fraction(acc, 1 << shift))
    else:
        v = rshift_round(np.array([acc], dtype=object), shift)[0] if shift else acc
    return int(saturate(np.array([v], dtype=object), lo, hi)[0])


CONFIGS = [  # (acc bits, out bits, signed output, shift, fused clamp)
    (24, 8, True, 7, None), (24, 8, False, 7, None), (24, 8, True, 1, None), (24, 8, True, 0, None),
    (16, 8, True, -3, None), (16, 8, True, -9, None), (12, 16, True, -40, None), (10, 16, False, -2, None),
    (20, 8, True, 19, None), (20, 8, True, 23, None), (20, 8, True, 200, None), (32, 16, True, 12, (0, 100)),
    (40, 32, True, 5, None), (64, 32, True, 63, None), (64, 8, True, 70, None), (8, 8, False, 3, (2, None)),
]


def _edge_accumulators(acc_w: int, shift: int, qmin: int, qmax: int, seed: int) -> list[int]:
    """Accumulators at and around every edge: 0, +-1, the extremes, the rounding midpoints of a
    right shift and the saturation bounds of a left one; then 200 random ones."""
    amin, amax = -(1 << (acc_w - 1)), (1 << (acc_w - 1)) - 1
    edges = {0, 1, -1, amin, amax, amin + 1, amax - 1}
    for k in range(-3, 4):
        for m in (1, 2, 3, -1, -2, -3):
            edges.add(m * (1 << min(max(shift - 1, 0), acc_w - 2)) + k)
        edges |= {(qmax >> min(max(-shift, 0), 62)) + k, -((-qmin) >> min(max(-shift, 0), 62)) + k}
    rng = np.random.default_rng(seed)
    return sorted(v for v in edges if amin <= v <= amax) + [int(v) for v in rng.integers(amin, amax, 200,
                                                                                          dtype=np.int64)]


@needs.iverilog
@pytest.mark.parametrize("acc_w,out_w,signed,shift,clamp", CONFIGS)
def test_requantizer_equals_the_contract_for_every_edge(tmp_path, acc_w, out_w, signed, shift, clamp):
    qmin, qmax = (-(1 << (out_w - 1)), (1 << (out_w - 1)) - 1) if signed else (0, (1 << out_w) - 1)
    lo, hi = qmin, qmax
    if clamp:
        lo = max(lo, clamp[0]) if clamp[0] is not None else lo
        hi = min(hi, clamp[1]) if clamp[1] is not None else hi
    accs = _edge_accumulators(acc_w, shift, qmin, qmax, seed=acc_w * 1000 + shift)
    tb = f"""
module tb;
    reg [{acc_w - 1}:0] mem [0:{len(accs) - 1}];
    reg signed [{acc_w - 1}:0] acc;
    wire [{out_w - 1}:0] y, ye;
    integer i;
    wqrc_requant #(.ACC_W({acc_w}), .OUT_W({out_w}), .SHIFT({shift}), .LO({lo}), .HI({hi})) dut(.acc(acc), .y(y));
    wqrc_requant #(.ACC_W({acc_w}), .OUT_W({out_w}), .SHIFT({shift}), .LO({lo}), .HI({hi}), .EVEN(1)) even(
        .acc(acc), .y(ye));
    initial begin
        $readmemh("vec.mem", mem);
        for (i = 0; i < {len(accs)}; i = i + 1) begin
            acc = mem[i];
            #1 $display("%h %h", y, ye);
        end
        $finish;
    end
endmodule
"""
    got = _sim(tmp_path, "tb", tb, ["wqrc_requant.v"], [_hex(a, acc_w) for a in accs])
    for a, line in zip(accs, got, strict=True):
        for even, word in enumerate(line.split()):
            y = int(word, 16)
            y = _signed(y, out_w) if signed else y
            assert y == requant_reference(a, shift, lo, hi, bool(even)), f"acc {a}, shift {shift}, even {even}: RTL {y}"



@needs.iverilog
@pytest.mark.parametrize("acc_w,out_w,signed,shift,clamp", CONFIGS)
def test_run_time_rounding_shifter_equals_the_contract_for_every_edge(tmp_path, acc_w, out_w, signed, shift, clamp):
    """wqrc_shift_round.v, the descriptor-driven engines' requantizer: the shift a run-time input,
    as the position rtl_seq.shift_position forms (capped where, as the reference shows, no result
    changes), its output the bank's signed word, the same edges as above."""
    mw = out_w + (0 if signed else 1)
    qmin, qmax = (-(1 << (out_w - 1)), (1 << (out_w - 1)) - 1) if signed else (0, (1 << out_w) - 1)
    lo = max(qmin, clamp[0]) if clamp and clamp[0] is not None else qmin
    hi = min(qmax, clamp[1]) if clamp and clamp[1] is not None else qmax
    from wqrc.backend.rtl_seq import shift_position
    pos = shift_position(shift, acc_w, mw)
    capped = pos - (mw + 1)                      # the shift the position stands for
    qw = (acc_w + mw + 2).bit_length()
    accs = _edge_accumulators(acc_w, shift, qmin, qmax, seed=acc_w * 1000 + shift + 7)
    tb = f"""
module tb;
    reg [{acc_w - 1}:0] mem [0:{len(accs) - 1}];
    reg clk = 0;
    reg signed [{acc_w - 1}:0] v;
    wire [{mw - 1}:0] y, ye;
    integer i;
    wqrc_shift_round #(.IN_W({acc_w}), .OUT_W({mw}), .QW({qw}), .HAS_EVEN(0)) up(.clk(clk), .v(v),
        .p({pos}), .even(1'b0), .lo({lo}), .hi({hi}), .y(y));
    wqrc_shift_round #(.IN_W({acc_w}), .OUT_W({mw}), .QW({qw}), .HAS_EVEN(1)) even(.clk(clk), .v(v),
        .p({pos}), .even(1'b1), .lo({lo}), .hi({hi}), .y(ye));
    initial begin
        $readmemh("vec.mem", mem);
        for (i = 0; i < {len(accs)}; i = i + 1) begin
            v = mem[i];
            #1 clk = 1; #1 clk = 0;
            #1 $display("%h %h", y, ye);
        end
        $finish;
    end
endmodule
"""
    got = _sim(tmp_path, "tb", tb, ["wqrc_shift_round.v"], [_hex(a, acc_w) for a in accs])
    for a, line in zip(accs, got, strict=True):
        for even, word in enumerate(line.split()):
            y = _signed(int(word, 16), mw)
            want = requant_reference(a, shift, lo, hi, bool(even))
            assert want == requant_reference(a, capped, lo, hi, bool(even)), f"the cap changes acc {a}, shift {shift}"
            assert y == want, f"acc {a}, shift {shift}, even {even}: RTL {y}"

def _multiplier(code: int, b: int, po2: bool) -> int:
    if po2:  # docs/format.md §1b: sign + magnitude field m; m >= 1 is 2^(m-1)
        m = code & ((1 << (b - 1)) - 1)
        return 0 if m == 0 else (-1 if code >> (b - 1) else 1) << (m - 1)
    return _signed(code, b)  # §1a: two's complement


@needs.iverilog
@pytest.mark.parametrize("po2", [True, False], ids=["po2", "dfp"])
@pytest.mark.parametrize("b,a,a_signed", [(2, 8, True), (4, 8, True), (4, 8, False), (8, 16, True), (5, 16, False)])
def test_processing_elements_accumulate_exactly(tmp_path, po2, b, a, a_signed):
    acc_w = a + 1 + ((1 << (b - 1)) - 2 if po2 else b) + 10   # the bound of 300 products and a bias, with room
    rng = np.random.default_rng(b * 100 + a)
    n = 300
    xs = rng.integers(-(1 << (a - 1)) if a_signed else 0, (1 << (a - 1)) if a_signed else (1 << a), n)
    xs[:4] = [(1 << (a - 1)) - 1, -(1 << (a - 1)) if a_signed else (1 << a) - 1, 0, 1]
    codes = rng.integers(0, 1 << b, n)
    if po2:  # "sign 1, m 0" never occurs
        codes = np.where(codes == 1 << (b - 1), 0, codes)
    else:    # nor does -2^(b-1)
        codes = np.where(codes == 1 << (b - 1), 1, codes)
    bias = int(rng.integers(-1000, 1000))
    mod = "wqrc_pe_po2" if po2 else "wqrc_pe_dfp"
    bias_literal = f"-{acc_w}'sd{-bias}" if bias < 0 else f"{acc_w}'sd{bias}"
    tb = f"""`timescale 1ns/100ps
module tb;
    reg clk = 0, first = 1, en = 1;
    reg [{a + b - 1}:0] mem [0:{n - 1}];
    reg [{a - 1}:0] x;
    reg [{b - 1}:0] code;
    wire [{acc_w - 1}:0] acc;
    integer i;
    {mod} #(.B({b}), .A({a}), .A_SIGNED({int(a_signed)}), .ACC_W({acc_w})) dut(
        .clk(clk), .first(first), .en(en), .bias({bias_literal}), .x(x), .code(code), .acc(acc));
    always #1 clk = ~clk;
    initial begin
        $readmemh("vec.mem", mem);
        for (i = 0; i < {n}; i = i + 1) begin
            {{x, code}} = mem[i];
            en = i % 7 != 3;                    // a held cycle now and then
            @(posedge clk); #0.1;
            first = 0;
            $display("%h", acc);
        end
        $finish;
    end
endmodule
"""
    got = _sim(tmp_path, "tb", tb, [f"{mod}.v"], [_hex((int(x) << b) | int(c), a + b) for x, c in zip(xs, codes)])
    total = bias
    for i, (x, c, line) in enumerate(zip(xs, codes, got, strict=True)):
        if i % 7 != 3:
            total += int(x) * _multiplier(int(c), b, po2)
        assert _signed(int(line, 16), acc_w) == total, f"step {i}: x {x}, code {c:#x}"


@needs.verilator
def test_rtl_modules_pass_verilator_lint():
    """Every synthesizable module; a test bench's behavioural model (*_model.v) is not one."""
    for f in sorted(os.listdir(RTL)):
        if f.endswith(".v") and not f.endswith("_model.v"):
            res = subprocess.run(["verilator", "--lint-only", "-Wall", f"-I{RTL}", os.path.join(RTL, f)],
                                 capture_output=True, text=True)
            assert res.returncode == 0, f"{f}: {res.stderr}"
