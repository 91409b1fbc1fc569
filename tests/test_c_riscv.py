"""The C target on a RISC-V MCU (issue 31): the portable kernels built by Debian's
riscv64-unknown-elf-gcc for rv32imc with picolibc, run in qemu-system-riscv32's virt machine
(`make -C OUT/c mcu-run CPU=rv32imc`), every test vector against the simulator; a wrong
expectation fails with the sample and element named and a non-zero exit (semihosting carries the
status). The four MLPerf Tiny networks are the slow test."""
from __future__ import annotations

import pytest

import needs
import wqrc
from conftest import (TARGET_RULE, assert_mcu_run_passes, assert_wrong_expectation_fails, mlperf_tiny,
                      quantized_test_model)

pytestmark = [needs.riscv, pytest.mark.slow]


@pytest.mark.parametrize("name,scheme,bits,act", [("residual", "po2", 4, 8), ("depthwise", "dfp", 8, 8),
                                                  ("mlp", "dfp", 16, 16)])
def test_rv32imc_in_qemu_equals_simulator(tmp_path, name, scheme, bits, act):
    qm, x = quantized_test_model(name, scheme, bits, act)
    out = tmp_path / name
    assert_mcu_run_passes(out, qm, x, "rv32imc")
    assert (out / "wqrc_test.rv.elf").is_file()
    # the same test bench fails on a wrong expectation, naming it, with a non-zero status
    assert_wrong_expectation_fails(out, "mcu-run", "CPU=rv32imc")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "mobilenet_v1_025", "autoencoder"])
def test_the_mlperf_tiny_models_are_bit_exact_on_rv32imc(tmp_path, name):
    graph, x = mlperf_tiny(name)
    qm = wqrc.quantize(graph, scheme="dfp", bits=8, act_bits=8, calib=x[:64], exponent=TARGET_RULE)
    assert_mcu_run_passes(tmp_path / name, qm, x[64:], "rv32imc")
