"""OUT/c as a CMake library: add_subdirectory into a firmware project, the testbench under CTest,
and the same on a Cortex-M4 in QEMU with the generated toolchain file (issue 34)."""
import subprocess

import numpy as np
import pytest

import wqrc
from wqrc.data import load_dataset
from wqrc.sim import simulate

import needs
from conftest import TARGET_RULE, EXAMPLE

pytestmark = [needs.cmake, pytest.mark.slow]


def run(*cmd, cwd=None):
    res = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return res


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmake")
    calib = load_dataset("digits").x_train[:256]
    qm = wqrc.quantize(wqrc.load_model(EXAMPLE), scheme="po2", bits=4, calib=calib, exponent=TARGET_RULE)
    wqrc.api.compile(qm, ["c"], str(tmp / "out"))
    return tmp, qm


def test_add_subdirectory_links_the_model_into_a_firmware_project_bit_exact(compiled):
    tmp, qm = compiled
    x = qm.quantize_input(load_dataset("digits").x_test[:5])
    want = simulate(qm, x)
    app = tmp / "firmware"
    app.mkdir()
    rows = ",\n".join("{" + ", ".join(str(int(v)) for v in s.ravel()) + "}" for s in x)
    (app / "app.c").write_text(f"""#include <stdio.h>
#include "wqrc_model.h"
static const wqrc_input_t xs[{len(x)}][WQRC_INPUT_SIZE] = {{ {rows} }};
int main(void) {{
    wqrc_output_t y[WQRC_OUTPUT_SIZE];
    for (int s = 0; s < {len(x)}; ++s) {{
        if (wqrc_run(xs[s], y) != 0) return 2;
        for (int i = 0; i < WQRC_OUTPUT_SIZE; ++i) printf("%d\\n", (int)y[i]);
    }}
    return 0;
}}
""")
    (app / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.13)
project(firmware C)
add_subdirectory({(tmp / 'out' / 'c').as_posix()} wqrc_model)
add_executable(firmware app.c)
target_link_libraries(firmware PRIVATE wqrc::model)
""")
    ub = "-Wall -Wextra -Werror -O1 -fsanitize=undefined -fno-sanitize-recover"
    run("cmake", "-S", str(app), "-B", str(tmp / "fw-build"), f"-DCMAKE_C_FLAGS={ub}",
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=undefined")
    run("cmake", "--build", str(tmp / "fw-build"))
    # under add_subdirectory the library is built, the model's own testbench is not
    assert (tmp / "fw-build" / "wqrc_model" / "libwqrc_model.a").is_file()
    assert not (tmp / "fw-build" / "wqrc_model" / "wqrc_model_test").exists()
    got = run(str(tmp / "fw-build" / "firmware")).stdout.split()
    np.testing.assert_array_equal(np.array(got, np.int64).reshape(want.shape), want)


def test_the_testbench_runs_under_ctest_on_the_host(compiled):
    tmp, _ = compiled
    build = tmp / "host-build"
    run("cmake", "-S", str(tmp / "out" / "c"), "-B", str(build))
    run("cmake", "--build", str(build))
    res = run("ctest", "--test-dir", str(build), "--output-on-failure")
    assert "100% tests passed" in res.stdout
    assert "wqrc: PASS" in run(str(build / "wqrc_model_test")).stdout


@needs.arm
def test_the_testbench_runs_under_ctest_on_a_cortex_m4_in_qemu(compiled):
    tmp, _ = compiled
    build = tmp / "m4-build"
    run("cmake", "-S", str(tmp / "out" / "c"), "-B", str(build), "--toolchain", "mcu/cortex-m4.cmake")
    run("cmake", "--build", str(build))
    head = open(build / "wqrc_model_test", "rb").read(20)
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 40   # EM_ARM
    res = run("ctest", "--test-dir", str(build), "--output-on-failure", "-V")
    assert "wqrc: PASS" in res.stdout and "100% tests passed" in res.stdout
