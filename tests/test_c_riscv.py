"""The C target on a RISC-V MCU (issue 31): the portable kernels built by Debian's
riscv64-unknown-elf-gcc for rv32imc with picolibc, run in qemu-system-riscv32's virt machine
(`make -C OUT/c mcu-run CPU=rv32imc`), every test vector against the simulator; a wrong
expectation fails with the sample and element named and a non-zero exit (semihosting carries the
status). The four MLPerf Tiny networks are the slow test."""
from __future__ import annotations

import numpy as np
import pytest

import needs
import wqrc
from conftest import cached_graph, make
from wqrc import zoo
from wqrc.backend.c import generate_c
from wqrc.pack import pack

pytestmark = [needs.riscv]


def _generate(tmp_path, qm, x, name):
    out = tmp_path / name
    generate_c(qm, pack(qm), str(out), vectors=3, data=x)
    return out


@pytest.mark.parametrize("name,scheme,bits,act", [("residual", "po2", 4, 8), ("depthwise", "dfp", 8, 8),
                                                  ("mlp", "dfp", 16, 16)])
def test_rv32imc_in_qemu_equals_simulator(tmp_path, name, scheme, bits, act):
    g, shape = cached_graph(name, seed=3)
    calib = np.random.default_rng(1).uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib)
    out = _generate(tmp_path, qm, calib[:8], name)
    res = make(out, "mcu-run", "CPU=rv32imc")
    assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr
    assert (out / "wqrc_test.rv.elf").is_file()
    # the same test bench fails on a wrong expectation, naming it, with a non-zero status
    main = (out / "main.c").read_text()
    marker = "test_expected[WQRC_TEST_COUNT][WQRC_OUTPUT_SIZE] = {\n    { "
    i = main.index(marker) + len(marker)
    j = main.index(",", i)
    (out / "main.c").write_text(main[:i] + str(int(main[i:j]) + 1) + main[j:])
    res = make(out, "mcu-run", "CPU=rv32imc")
    assert res.returncode != 0 and "FAIL: sample 0, element 0" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "mobilenet_v1_025", "autoencoder"])
def test_the_mlperf_tiny_models_are_bit_exact_on_rv32imc(tmp_path, name):
    module, shape = zoo.build(name)
    x = np.random.default_rng(0).standard_normal((66,) + shape).astype(np.float32)
    qm = wqrc.quantize(wqrc.from_torch(module, x[:1]), scheme="dfp", bits=8, act_bits=8, calib=x[:64])
    out = _generate(tmp_path, qm, x[64:], name)
    res = make(out, "mcu-run", "CPU=rv32imc")
    assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr
