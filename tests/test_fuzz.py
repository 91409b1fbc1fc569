"""The differential fuzzer, bounded for CI; benchmarks/fuzz.py runs thousands of the same models.

Random models from the op registry's ops (tests/fuzz_models.py) run through
every simulator executor and, for a few, through the generated C (UBSan and
ASan, no recovery) and HLS; every output element must equal the plain-integer
reference (tests/int_reference.py). The requantization primitives of Python, C
and HLS are also checked directly over every shift from -70 to 70.
"""
import os
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import needs
from fuzz_models import SANITIZE, differential
from wqrc.contract.arith import rshift_round, rshift_round_even

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIFTS = range(-70, 71)
VALUES = [0, 1, -1, 2, -2, 3, -3, 5, -7, 6, -6, 20, -20, 2**31 - 1, -2**31, 2**40 + 3, -2**40 - 5, 3 * 2**39,
          -5 * 2**39, 2**62 - 1, -2**62, 2**63 - 2, -2**63 + 1]   # 6, 20, 3 * 2**39 ...: ties at some shift
BOUNDS = [(-128, 127), (0, 255), (-2**31, 2**31 - 1), (0, 6), (3, 100), (-50, -10)]


def _requant_ref(v: int, sh: int, lo: int, hi: int, even: int = 0) -> int:
    """docs/format.md §3 from its definition: ties up, or ties to even (Python's round of a Fraction)."""
    if sh > 0:
        y = round(Fraction(v, 1 << sh)) if even else (v + (1 << (sh - 1))) >> sh
    else:
        y = v << -sh
    return min(max(y, lo), hi)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_every_executor_equals_the_integer_reference(seed):
    bad, _ = differential(seed)
    assert not bad, bad


@needs.cc
@needs.cxx
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_generated_c_and_hls_equal_the_integer_reference(tmp_path_factory, seed):
    bad, _ = differential(seed, tmp_path_factory.mktemp("fuzz"))
    assert not bad, bad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_qonnx_export_under_qonnxs_executor_equals_the_integer_reference(tmp_path_factory, seed):
    pytest.importorskip("qonnx", reason="pip install qonnx (the judge of --target qonnx)")
    bad, ran = differential(seed, tmp_path_factory.mktemp("fuzz"), targets=("qonnx",))
    assert not bad, bad
    assert ran["qonnx"] == "ran" or ran["qonnx"].startswith("refused: --target qonnx:")


def test_python_rshift_round_is_total():
    arr = np.array(VALUES, dtype=np.int64)
    for sh in SHIFTS:
        got = rshift_round(arr, sh)
        want = [(v + (1 << (sh - 1))) >> sh if sh > 0 else v << -sh for v in VALUES]
        assert [int(g) for g in got] == want, sh


def test_python_ties_to_even_is_total_and_moves_only_ties():
    arr = np.array(VALUES, dtype=np.int64)
    objs = np.array(VALUES + [2**70 + 2**69, -(2**90) - 2**89], dtype=object)
    ties = 0
    for sh in SHIFTS:
        for vals, got in ((VALUES, rshift_round_even(arr, sh)), (list(objs), rshift_round_even(objs, sh))):
            want = [round(Fraction(v, 1 << sh)) if sh > 0 else v << -sh for v in vals]
            assert [int(g) for g in got] == want, sh
        up = [int(g) for g in rshift_round(arr, sh)]
        even = [int(g) for g in rshift_round_even(arr, sh)]
        ties += sum(a != b for a, b in zip(up, even))
        assert all(a == b or (sh > 0 and Fraction(v, 1 << sh).denominator == 2)
                   for a, b, v in zip(up, even, VALUES))
    assert ties >= 8  # the values hold ties that round differently


def _primitive_program(lang: str) -> str:
    cases = [(v, sh, lo, hi, even) for v in VALUES for sh in SHIFTS for lo, hi in BOUNDS for even in (0, 1)]
    rows = ",\n".join(f"{{{v}LL, {sh}, {lo}LL, {hi}LL, {even}, {_requant_ref(v, sh, lo, hi, even)}LL}}"
                      for v, sh, lo, hi, even in cases)
    call = ("wqrc_requant(c->v, c->sh, c->lo, c->hi, c->even)" if lang == "c"
            else "wqrc::requant(c->v, c->sh, c->lo, c->hi, c->even)")
    head = ('#include <stdint.h>\n#define WQRC_WORD_T uint32_t\n#define WQRC_WORD_BITS 32\n'
            '#include "wqrc_rt.h"\n#include <stdio.h>\n') if lang == "c" else '#include "wqrc_hls.h"\n#include <cstdio>\n'
    extra = ""
    if lang == "c":  # the 32-bit form, for values and bounds that fit int32 and sh >= 0 (an int32
        # accumulator's bound is below 2**31, so with ties to even v - 1 stays in int32)
        extra = """
        if (c->sh >= 0 && c->v >= INT32_MIN + c->even && c->v <= INT32_MAX && c->lo >= INT32_MIN && c->hi <= INT32_MAX) {
            long long g32 = wqrc_requant32((int32_t)c->v, c->sh, (int32_t)c->lo, (int32_t)c->hi, c->even);
            if (g32 != c->want) { printf("requant32 v=%lld sh=%d: got %lld want %lld\\n", c->v, c->sh, g32, c->want); bad++; }
        }"""
    return f"""{head}
struct cs {{ long long v; int sh; long long lo, hi; int even; long long want; }};
static const struct cs cases[] = {{
{rows}
}};
int main(void) {{
    int bad = 0;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; ++i) {{
        const struct cs *c = &cases[i];
        long long got = {call};
        if (got != c->want) {{ printf("v=%lld sh=%d [%lld,%lld]: got %lld want %lld\\n", c->v, c->sh, c->lo, c->hi, got, c->want); bad++; }}{extra}
    }}
    printf("%d mismatches in %u cases\\n", bad, (unsigned)(sizeof cases / sizeof cases[0]));
    return bad != 0;
}}
"""


@pytest.mark.parametrize("lang", [pytest.param("c", marks=needs.cc), pytest.param("cpp", marks=needs.cxx)])
def test_c_and_hls_requantization_is_total_without_undefined_behaviour(tmp_path, lang):
    src = tmp_path / f"prim.{lang}"
    src.write_text(_primitive_program(lang))
    inc = os.path.join(ROOT, "hw", "c" if lang == "c" else "hls")
    cc = ["cc", "-std=c99"] if lang == "c" else ["g++", "-std=c++14"]
    build = subprocess.run([*cc, *SANITIZE.split(), "-Wall", "-Werror", "-I", inc, str(src), "-o",
                            str(tmp_path / "prim")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    run = subprocess.run([str(tmp_path / "prim")], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and "runtime error" not in run.stderr, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.strip().startswith("0 mismatches")


def test_float_paths_refuse_a_global_average_pool_beyond_float64():
    """32-bit activations pooled over 9x9: sum * R passes 2**53, so no float executor may run it."""
    from wqrc.ir.graph import Graph, Node, infer_shapes
    from wqrc.sim import fast as fast_exec, ort_exec
    from wqrc.sim.exactness import node_bounds
    import wqrc

    rng = np.random.default_rng(0)
    nodes = [Node("conv", "c", ["x"], "t", dict(clip=None), dict(weight=rng.normal(size=(2, 1, 1, 1)).astype(np.float32),
                                                                   bias=np.zeros(2, np.float32))),
             Node("global_avgpool", "gap", ["t"], "g", {}), Node("flatten", "f", ["g"], "v", {}),
             Node("dense", "fc", ["v"], "y", dict(clip=None), dict(weight=np.eye(2, dtype=np.float32),
                                                                   bias=np.zeros(2, np.float32)))]
    g = infer_shapes(Graph(nodes, "x", (1, 9, 9), "y"))
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=32, calib=rng.uniform(-1, 1, (8, 1, 9, 9)))
    assert node_bounds(qm)["gap"].product >= 2**53
    assert not fast_exec.eligible(qm) and ort_exec.lower(qm) is None
    x = np.stack([np.full((1, 9, 9), qm.input_format.qmax), np.full((1, 9, 9), qm.input_format.qmin)])
    import int_reference
    assert wqrc.simulate(qm, x).tolist() == int_reference.run(qm, x)
