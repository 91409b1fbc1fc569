"""The C target compiled and run: host gcc for the whole matrix, Cortex-M4 in QEMU for a subset."""
import re
import subprocess

import numpy as np
import pytest

import wqrc
from wqrc.backend.c import generate_c
from wqrc.errors import WqrcError
from wqrc.pack import pack

import needs
from conftest import TARGET_RULE, UBSAN, assert_wrong_expectation_fails, cached_graph, depthwise_cnn, make, odd_cnn

SCHEMES = [("dfp", b) for b in (2, 3, 4, 5, 8, 12, 16)] + [("po2", b) for b in (2, 3, 4, 5, 6)]
pytestmark = [needs.cc, pytest.mark.slow]
def graph(name):
    return cached_graph(name, seed=3)


def generate(tmp_path, name, scheme, bits, act, word_bits=32):
    g, shape = graph(name)
    calib = np.random.default_rng(1).uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / f"{name}_{scheme}{bits}_a{act}"
    info = generate_c(qm, pack(qm, word_bits), str(out), vectors=5, data=calib[:8])
    return qm, out, info


# the host build's flags with undefined-behaviour checks that abort on the first finding
@pytest.mark.parametrize("scheme,bits", SCHEMES)
@pytest.mark.parametrize("act", [4, 8, 16])
def test_host_c_equals_simulator(tmp_path, scheme, bits, act):
    # the four model kinds rotate over the matrix so each meets every scheme and act width
    names = ["plain", "depthwise", "residual", "mlp"]
    name = names[(SCHEMES.index((scheme, bits)) + [4, 8, 16].index(act)) % 4]
    word_bits = (8, 16, 32, 64)[bits % 4]
    qm, out, info = generate(tmp_path, name, scheme, bits, act, word_bits)
    res = make(out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS: 5 test vectors" in res.stdout


@pytest.mark.parametrize("name", ["plain", "depthwise", "residual", "mlp"])
def test_every_model_kind_at_4bit_po2_and_8bit_dfp(tmp_path, name):
    for scheme, bits in (("po2", 4), ("dfp", 8)):
        _, out, _ = generate(tmp_path, name, scheme, bits, 8)
        res = make(out)
        assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr


def test_testbench_names_sample_and_element_on_mismatch(tmp_path):
    qm, out, _ = generate(tmp_path, "plain", "dfp", 4, 8)
    assert_wrong_expectation_fails(out, "run")


def test_inference_path_uses_no_malloc_float_or_stdio(tmp_path):
    _, out, _ = generate(tmp_path, "residual", "po2", 4, 8)
    from wqrc.backend.c import KERNEL_FILES
    kernels = sorted(str(k.relative_to(out)) for k in out.glob("kernels/*.h"))
    assert kernels
    for f in ("wqrc_model.c",) + KERNEL_FILES + tuple(kernels):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", (out / f).read_text(), flags=re.S)
        for banned in ("malloc", "float", "double", "stdio", "printf", "math.h"):
            assert banned not in code, (f, banned)
        for inc in re.findall(r"#include <([^>]+)>", code):
            # arm_acle.h: the compiler's own intrinsics (SMLAD), not libc; only with the DSP extension
            assert inc in ("stdint.h", "string.h", "arm_acle.h"), (f, inc)


def test_hostile_node_names_cannot_inject(tmp_path):
    g, shape = graph("plain")
    g = g.copy()
    for n, evil in zip(g.nodes, ['x; system("rm -rf /"); //', "int", "*/ int y; /*", "main"]):
        n.name = evil
    qm = wqrc.quantize(g, scheme="po2", bits=3, calib=np.random.rand(8, *shape).astype(np.float32),
                       exponent=TARGET_RULE)
    out = tmp_path / "evil"
    generate_c(qm, pack(qm), str(out), vectors=2)
    res = make(out)
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr
    import re
    for f in ("wqrc_model.c", "wqrc_weights.c"):
        text = (out / f).read_text()
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)  # comments can hold the (escaped) name
        code = re.sub(r'"(\\.|[^"\\])*"', '""', code)  # so can string literals
        assert "system(" not in code and "rm -rf" not in code and "int y" not in code, f


def test_po2_7bit_accumulator_too_wide_is_a_clear_error(tmp_path):
    g, shape = graph("plain")
    qm = wqrc.quantize(g, scheme="po2", bits=7, act_bits=8, calib=np.random.rand(8, *shape).astype(np.float32),
                       exponent=TARGET_RULE)
    with pytest.raises(WqrcError, match=r"layer '.*': its accumulator needs \d+ bits"):
        generate_c(qm, pack(qm), str(tmp_path / "x"))


@needs.arm
@pytest.mark.parametrize("name,scheme,bits,act", [("plain", "po2", 4, 8), ("depthwise", "dfp", 8, 8),
                                                  ("residual", "dfp", 16, 16), ("mlp", "po2", 3, 4)])
def test_cortex_m4_in_qemu_equals_simulator(tmp_path, name, scheme, bits, act):
    _, out, _ = generate(tmp_path, name, scheme, bits, act)
    res = make(out, "mcu")
    assert res.returncode == 0, res.stderr
    res = make(out, "mcu-run")
    assert res.returncode == 0 and "PASS: 5 test vectors" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("scheme,bits,word_bits,limit", [
    ("dfp", 2, 32, 64), ("dfp", 3, 8, 40), ("dfp", 4, 32, 40), ("dfp", 5, 16, 100), ("dfp", 8, 64, 64),
    ("dfp", 16, 32, 10_000), ("po2", 2, 32, 64), ("po2", 3, 8, 40), ("po2", 4, 16, 40), ("po2", 5, 32, 100),
    ("po2", 6, 32, 64)])
def test_dual_mac_kernel_blocks_and_tails(tmp_path, monkeypatch, scheme, bits, word_bits, limit):
    # a small decoded-weight scratch splits each layer into blocks with a remainder
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "WBUF_LIMIT", limit)
    g, shape = odd_cnn()
    calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
    for act in (8, 16):
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, exponent=TARGET_RULE)
        out = tmp_path / f"odd_{scheme}{bits}_a{act}"
        generate_c(qm, pack(qm, word_bits), str(out), vectors=6, data=calib[:8])
        model_c = (out / "wqrc_model.c").read_text()
        # 16-bit DFP weights on 16-bit activations need int64, and so do Po2-5 ones: the tap kernel;
        # Po2 from b = 6 has multipliers beyond q15: the shift-add tap kernel
        dmac = (scheme == "dfp" and (act == 8 or bits <= 8)) or (scheme == "po2" and bits <= 5 and act == 8)
        if dmac:
            assert re.search(r'#include "kernels/wqrc_dmac_\w+\.h"', model_c)
            assert list(out.glob("kernels/wqrc_dmac_*.h"))
            if limit < 10_000:
                assert ".block = 2," in model_c or ".block = 4," in model_c
        if scheme == "po2" and bits >= 6:
            assert "wqrc_dmac_" not in model_c
        res = make(out, "run", UBSAN)
        assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


@needs.arm
@pytest.mark.parametrize("scheme,bits,word_bits,limit", [
    ("dfp", 8, 32, 64), ("dfp", 8, 64, 10_000), ("dfp", 8, 8, 40), ("dfp", 4, 32, 40), ("dfp", 2, 32, 64),
    ("po2", 4, 16, 40), ("po2", 4, 32, 40), ("po2", 2, 32, 64)])
def test_dual_mac_simd_paths_on_cortex_m4(tmp_path, monkeypatch, scheme, bits, word_bits, limit):
    """The paths only a DSP core takes (SXTB16 decoding of DFP-8 rows, the fused dense DFP-8
    loop over flash bytes, DFP-8 rows read from flash when they exceed a block) and the
    constant-width word decoders and the Po2-4 pair table, on the odd model's tails (fan 27,
    30 and 175, odd channel counts, an odd number of positions), bit-exact in QEMU."""
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "WBUF_LIMIT", limit)
    for first_relu in (True, False):
        g, shape = odd_cnn(first_relu)
        calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE)
        out = tmp_path / f"odd_{first_relu}"
        generate_c(qm, pack(qm, word_bits), str(out), vectors=6, data=calib[:8])
        res = make(out, "mcu-run")
        assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


SAT_TEST = r"""
#include <stdio.h>
#include "wqrc_model.h"
#include "wqrc_rt.h"
static int check(int32_t v, int kind, int32_t lo, int32_t hi)
{
    if (wqrc_sat_kind(lo, hi) != kind || wqrc_sat32(v, kind, lo, hi) != wqrc_clamp32(v, lo, hi)) {
        printf("FAIL kind %d v %ld\n", kind, (long)v);
        return 1;
    }
    return 0;
}
int main(void)
{
    static const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -65536, -129, -128, -127, -1, 0, 1,
                                    126, 127, 128, 254, 255, 256, 65535, INT32_MAX - 1, INT32_MAX};
    int bad = 0;
    int32_t v;
    unsigned i;
    for (v = -1000; v <= 1000; ++v) {
        bad |= check(v, WQRC_SAT_S8, -128, 127) | check(v, WQRC_SAT_U7, 0, 127) | check(v, WQRC_SAT_U8, 0, 255)
             | check(v, WQRC_SAT_ANY, -5, 100);
    }
    for (i = 0; i < sizeof edges / sizeof edges[0]; ++i) {
        v = edges[i];
        bad |= check(v, WQRC_SAT_S8, -128, 127) | check(v, WQRC_SAT_U7, 0, 127) | check(v, WQRC_SAT_U8, 0, 255);
    }
    printf(bad ? "FAIL\n" : "PASS: saturating clamps\n");
    return bad;
}
"""


@needs.arm
def test_saturating_clamps_equal_the_clamp_on_cortex_m4(tmp_path):
    """SSAT #8, USAT #7 and USAT #8 (the requantization loops' clamp for whole 8-bit ranges,
    wqrc_rt.h: wqrc_sat32) against the plain clamp, on every value near the ranges and the
    int32 extremes, in QEMU; and the kind each range gets."""
    _, out, _ = generate(tmp_path, "plain", "dfp", 8, 8)
    (out / "sat_test.c").write_text(SAT_TEST)
    res = make(out, "mcu-run", "SRCS=sat_test.c")
    assert res.returncode == 0 and "PASS: saturating clamps" in res.stdout, res.stdout + res.stderr


def _small_fan_cnn():
    """Convolutions of fan 9, 1, 6, 8 and 3 (a 3x3 window of one channel, 1x1 of one, 1x3 of two,
    2x2 of two, 1x1 of three: every q15 row length of the small-fan path, wqrc_dot_row_run), on
    maps of 11x13 = 143 positions (several chunks of 32 and an odd remainder), with stride and
    padding, signed outputs (no ReLU) and unsigned ones."""
    import torch
    from torch import nn

    torch.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(6, 1, 1), nn.Conv2d(1, 2, 1),
                          nn.Conv2d(2, 3, (1, 3), padding=(0, 1)), nn.ReLU(),
                          nn.Conv2d(3, 2, 1), nn.Conv2d(2, 3, 2, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 6 * 7, 4)).eval()
    return wqrc.from_torch(model, torch.rand(1, 1, 11, 13)), (1, 11, 13)


@pytest.mark.parametrize("scheme,bits,where", [
    ("dfp", 8, "host"), ("dfp", 4, "host"), ("po2", 4, "host"), ("po2", 5, "host"),
    pytest.param("dfp", 8, "mcu", marks=needs.arm), pytest.param("dfp", 3, "mcu", marks=needs.arm),
    pytest.param("po2", 4, "mcu", marks=needs.arm)])
def test_small_fan_path_equals_simulator(tmp_path, scheme, bits, where):
    g, shape = _small_fan_cnn()
    calib = np.random.default_rng(5).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / "small"
    generate_c(qm, pack(qm), str(out), vectors=6, data=calib[:8])
    model_c = (out / "wqrc_model.c").read_text()
    assert model_c.count(".chunk = 32,") >= 4, "the small-fan path is not taken"
    res = make(out, "mcu-run") if where == "mcu" else make(out, "run", UBSAN)
    assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("scheme,bits,act,where", [
    ("dfp", 8, 8, "host"), ("dfp", 3, 16, "host"), ("po2", 4, 8, "host"), ("po2", 2, 8, "host"),
    pytest.param("dfp", 8, 8, "mcu", marks=needs.arm), pytest.param("po2", 4, 8, "mcu", marks=needs.arm)])
def test_depthwise_kernel_equals_simulator(tmp_path, monkeypatch, scheme, bits, act, where):
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "WBUF_LIMIT", 40)  # blocks of a few channels, with a remainder
    g, shape = depthwise_cnn()
    calib = np.random.default_rng(3).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / "dw"
    generate_c(qm, pack(qm), str(out), vectors=6, data=calib[:8])
    model_c = (out / "wqrc_model.c").read_text()
    if act == 8:
        assert model_c.count("wqrc_dw_") >= 4 and re.search(r'#include "kernels/wqrc_dw_\w+\.h"', model_c)
    res = make(out, "mcu-run") if where == "mcu" else make(out, "run", UBSAN)
    assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


def _stack_chain(su_file) -> int:
    """An upper bound on wqrc_run's stack from gcc's -fstack-usage: wqrc_run, the largest kernel,
    twice the largest helper (wqrc_decode_rows calls itself once for an odd fan), 64 bytes of libc
    (memcpy, memset). Every function is 'static' (no dynamic stack) or the bound is refused."""
    frames = {}
    for line in su_file.read_text().splitlines():
        where, size, kind = line.split("\t")
        assert kind.strip() == "static", line
        frames[where.split(":")[-1]] = int(size)
    helpers = [v for k, v in frames.items() if k.startswith(("wqrc_decode", "wqrc_dot", "wqrc_pad")) or "_row" in k]
    kernels = [v for k, v in frames.items() if k != "wqrc_run" and v not in helpers]
    return frames["wqrc_run"] + max(kernels, default=0) + 2 * max(helpers, default=0) + 64


@pytest.mark.parametrize("scheme, bits", [("dfp", 4), ("po2", 4), ("dfp", 16)])
def test_header_ram_figure_is_the_arena_and_the_stack(tmp_path, scheme, bits):
    """WQRC_ARENA_BYTES equals the statics of the compiled model object (bss: nothing but the
    arena), the compiler checks it against the arena's declaration, and the stack that
    -fstack-usage reports for the deepest call chain fits WQRC_STACK_BYTES (host gcc, and
    Cortex-M4 where its toolchain is installed)."""
    import re
    import shutil

    from conftest import EXAMPLE
    from wqrc.data import load_dataset
    ds = load_dataset("digits")
    qm = wqrc.quantize(wqrc.load_model(EXAMPLE), scheme=scheme, bits=bits, calib=ds.x_train[:64], exponent=TARGET_RULE)
    out = tmp_path / "c"
    info = generate_c(qm, pack(qm), str(out), vectors=2)
    header = (out / "wqrc_model.h").read_text()
    arena = int(re.search(r"#define WQRC_ARENA_BYTES (\d+)", header).group(1))
    stack = int(re.search(r"#define WQRC_STACK_BYTES (\d+)", header).group(1))
    assert arena == info["arena_bytes"] and arena + stack == info["ram_bytes"]
    compilers = [("cc", [])] + ([("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb"])]
                                if shutil.which("arm-none-eabi-gcc") else [])
    for cc, flags in compilers:
        obj = tmp_path / f"m_{cc}.o"
        subprocess.run([cc, *flags, "-std=c99", "-O2", "-fstack-usage", "-c", str(out / "wqrc_model.c"), "-o",
                        str(obj)], check=True, cwd=tmp_path)
        size = subprocess.run(["size" if cc == "cc" else "arm-none-eabi-size", "-B", "-d", str(obj)],
                              capture_output=True, text=True, check=True).stdout
        text, data, bss = (int(v) for v in size.splitlines()[1].split()[:3])
        assert bss == arena, size  # (host "data" is .data.rel.ro: the const structs' pointers)
        assert _stack_chain(obj.with_suffix(".su")) <= stack


@needs.arm
def test_mobilenet_v2_fits_a_1mb_256kb_cortex_m4_and_matches(tmp_path):
    """MobileNetV2-0.35 at 96x96 (wqrc.zoo, random weights), 4-bit DFP weights, 8-bit activations:
    linked for a part with 1 MB of flash and 256 KB of RAM (the linker asserts that statics, heap
    and stack fit), and bit-exact with the simulator in QEMU."""
    from wqrc import zoo

    module, shape = zoo.build("mobilenet_v2_035")
    x = np.random.default_rng(0).standard_normal((34,) + shape).astype(np.float32)
    g = wqrc.from_torch(module, x[:1])
    qm = wqrc.quantize(g, scheme="dfp", bits=4, act_bits=8, calib=x[:32], exponent=TARGET_RULE)
    out = tmp_path / "mv2"
    info = generate_c(qm, pack(qm), str(out), vectors=2, data=x[32:])
    assert info["ram_bytes"] <= 256 * 1024 - 64 * 1024  # the image's heap and stack get the top 64 KB
    ld = out / "mcu" / "mps2_an386.ld"
    script = ld.read_text()
    assert "FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M" in script and "LENGTH = 4M\n}" in script
    ld.write_text(script.replace("ORIGIN = 0x00000000, LENGTH = 4M", "ORIGIN = 0x00000000, LENGTH = 1M")
                  .replace("ORIGIN = 0x20000000, LENGTH = 4M", "ORIGIN = 0x20000000, LENGTH = 256K"))
    res = make(out, "mcu-run")
    assert res.returncode == 0 and "PASS: 2 test vectors" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("where", ["host", pytest.param("mcu", marks=needs.arm)])
def test_a_large_rom_written_as_bytes_is_the_same_image(tmp_path, monkeypatch, where):
    """From ROM_BYTES_FROM words on the ROM is a string literal of little-endian bytes read as words
    through a union (gcc's memory for ResNet-18's weights file: 895 MB as a list of initializers);
    here the threshold is lowered so that a small model takes that form, 8- and 32-bit words."""
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "ROM_BYTES_FROM", 1)
    g, shape = odd_cnn()
    calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=calib, exponent=TARGET_RULE)
    for word_bits in (8, 32):
        out = tmp_path / f"w{word_bits}"
        generate_c(qm, pack(qm, word_bits), str(out), vectors=4, data=calib[:8])
        assert "wqrc_rom_image = { .b =" in (out / "wqrc_weights.c").read_text()
        res = make(out, "mcu-run") if where == "mcu" else make(out, "run", UBSAN)
        assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr
