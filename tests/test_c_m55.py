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
from conftest import (TARGET_RULE, assert_mcu_run_passes, assert_wrong_expectation_fails, mlperf_tiny, odd_cnn,
                      quantized_test_model)

pytestmark = [needs.arm, pytest.mark.slow]


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
    qm, x = quantized_test_model(name, scheme, bits, act)
    assert_mcu_run_passes(tmp_path / name, qm, x, "cortex-m55")
    if name == "residual":
        assert _helium_instructions(tmp_path / name) > 0


def test_odd_fans_and_single_positions_on_helium(tmp_path):
    """A network of odd channel counts (fans not a multiple of 8: the predicated tails) whose last
    conv has one output position left over after the pairs; a wrong expectation fails by name."""
    g, shape = odd_cnn()
    calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="dfp", bits=6, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / "odd"
    assert_mcu_run_passes(out, qm, calib[:6], "cortex-m55")
    assert _helium_instructions(out) > 0
    assert_wrong_expectation_fails(out, "mcu-run", "CPU=cortex-m55")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "mobilenet_v1_025", "autoencoder"])
def test_the_mlperf_tiny_models_are_bit_exact_on_cortex_m55(tmp_path, name):
    graph, x = mlperf_tiny(name)
    for scheme, bits in (("dfp", 8), ("po2", 4)):
        qm = wqrc.quantize(graph, scheme=scheme, bits=bits, act_bits=8, calib=x[:64], exponent=TARGET_RULE)
        assert_mcu_run_passes(tmp_path / f"{name}-{scheme}", qm, x[64:], "cortex-m55")
