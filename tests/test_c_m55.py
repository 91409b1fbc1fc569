"""The C target on a Cortex-M55 with Helium (issue 31): `make -C OUT/c mcu-run CPU=cortex-m55`
builds with arm-none-eabi-gcc -mcpu=cortex-m55 (MVE on) and runs in QEMU's mps3-an547, every test
vector against the simulator. The dual-MAC kernel's layers take the Helium path there
(hw/c/wqrc_mve.h: vector gathers, VMLADAVA, tail-predicated loops), DFP and table-decoded Po2, any
input type the kernel takes (s8, u8, s16) and odd fans. The four MLPerf Tiny networks are slow."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

import needs
import wqrc
from conftest import cached_graph, make, odd_cnn
from wqrc import zoo
from wqrc.backend.c import generate_c
from wqrc.pack import pack

pytestmark = [needs.arm]


def _generate(tmp_path, qm, x, name):
    out = tmp_path / name
    generate_c(qm, pack(qm), str(out), vectors=3, data=x)
    return out


def _helium_instructions(out) -> int:
    """How many VMLADAVA instructions the built image holds (0: no Helium path linked); objdump
    decodes MVE only when told the architecture, and names VMLADAVA by its alias VMLAVA."""
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", "armv8.1-m.main", str(out / "wqrc_test.m55.elf")],
                         capture_output=True, text=True, check=True).stdout
    return dis.count("\tvmlava.")


@pytest.mark.parametrize("name,scheme,bits,act", [("residual", "po2", 4, 8), ("depthwise", "dfp", 8, 8),
                                                  ("mlp", "dfp", 16, 16), ("residual", "dfp", 5, 16),
                                                  ("depthwise", "po2", 5, 8)])
def test_cortex_m55_in_qemu_equals_simulator(tmp_path, name, scheme, bits, act):
    g, shape = cached_graph(name, seed=3)
    calib = np.random.default_rng(1).uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib)
    out = _generate(tmp_path, qm, calib[:8], name)
    res = make(out, "mcu-run", "CPU=cortex-m55")
    assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr
    if name == "residual":
        assert _helium_instructions(out) > 0


def test_odd_fans_and_single_positions_on_helium(tmp_path):
    """A network of odd channel counts (fans not a multiple of 8: the predicated tails) whose last
    conv has one output position left over after the pairs; a wrong expectation fails by name."""
    g, shape = odd_cnn()
    calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="dfp", bits=6, act_bits=8, calib=calib)
    out = _generate(tmp_path, qm, calib[:6], "odd")
    res = make(out, "mcu-run", "CPU=cortex-m55")
    assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr
    assert _helium_instructions(out) > 0
    main = (out / "main.c").read_text()
    marker = "test_expected[WQRC_TEST_COUNT][WQRC_OUTPUT_SIZE] = {\n    { "
    i = main.index(marker) + len(marker)
    j = main.index(",", i)
    (out / "main.c").write_text(main[:i] + str(int(main[i:j]) + 1) + main[j:])
    res = make(out, "mcu-run", "CPU=cortex-m55")
    assert res.returncode != 0 and "FAIL: sample 0, element 0" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "mobilenet_v1_025", "autoencoder"])
def test_the_mlperf_tiny_models_are_bit_exact_on_cortex_m55(tmp_path, name):
    module, shape = zoo.build(name)
    x = np.random.default_rng(0).standard_normal((66,) + shape).astype(np.float32)
    graph = wqrc.from_torch(module, x[:1])
    for scheme, bits in (("dfp", 8), ("po2", 4)):
        qm = wqrc.quantize(graph, scheme=scheme, bits=bits, act_bits=8, calib=x[:64])
        out = _generate(tmp_path, qm, x[64:], f"{name}-{scheme}")
        res = make(out, "mcu-run", "CPU=cortex-m55")
        assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr
