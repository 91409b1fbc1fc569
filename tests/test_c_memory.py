"""The C target's memory in one line of the compile summary (issue 31, item 5): without measuring,
what the generator knows exactly (the weights' bytes, RAM = arena + stack); with
`--measure cortex-m4`, the model's own flash and RAM as `make -C OUT/c size` builds them, in the
summary and in report.json, and OUT left as compile wrote it."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

import needs
from conftest import assert_user_error, wqrc


def test_summary_states_weights_and_ram_without_measuring(tmp_path):
    res = wqrc("compile", "examples/digits_cnn.onnx", "--scheme", "dfp", "--bits", "8", "--target", "c",
               "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    line = next(l for l in res.stdout.splitlines() if l.strip().startswith("c/:"))
    assert (f"flash {rep['c']['rom_bits'] // 8} B of weights + code (--measure cortex-m4), "
            f"RAM {rep['c']['ram_bytes']} B (arena {rep['c']['arena_bytes']} + stack {rep['c']['stack_bytes']})") in line
    assert "measured" not in rep["c"]


def test_measure_needs_the_c_target(tmp_path):
    res = wqrc("compile", "examples/digits_cnn.onnx", "--scheme", "dfp", "--bits", "8", "--target", "hls",
               "--measure", "cortex-m4", "-o", str(tmp_path / "out"))
    assert_user_error(res, "--measure cortex-m4: needs the c target")
    assert not (tmp_path / "out").exists()


@needs.arm
@pytest.mark.slow
def test_measure_cortex_m4_reports_make_size(tmp_path):
    out = tmp_path / "out"
    res = wqrc("compile", "examples/digits_cnn.onnx", "--scheme", "po2", "--bits", "4", "--target", "c",
               "--measure", "cortex-m4", "-o", str(out))
    assert res.returncode == 0, res.stderr
    got = json.loads((out / "report.json").read_text())["c"]["measured"]["cortex-m4"]
    assert not list((out / "c").rglob("*.o")) and not (out / "c" / "wqrc_test.elf").exists()
    size = subprocess.run(["make", "-s", "-C", str(out / "c"), "size"], capture_output=True, text=True, check=True)
    flash, static = (int(v) for v in re.search(r"flash (\d+) B .*RAM (\d+) B static", size.stdout).groups())
    assert (got["flash_bytes"], got["ram_static_bytes"]) == (flash, static)
    line = next(l for l in res.stdout.splitlines() if l.strip().startswith("c/:"))
    assert f"Cortex-M4 (measured, -O2): flash {flash} B, RAM {got['ram_bytes']} B ({static} static + " in line
