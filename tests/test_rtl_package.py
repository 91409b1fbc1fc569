"""OUT/rtl as IP: the AXI4-Stream top (wqrc_axis.v) checked beat for beat against the simulator's
vectors with random gaps on both streams, and the FuseSoC core (wqrc.core) that lists every file
of the design and runs that test bench under FuseSoC itself (issue 34)."""
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import wqrc

import needs
from conftest import TARGET_RULE, make

HAVE_FUSESOC = importlib.util.find_spec("fusesoc") is not None and shutil.which("iverilog") is not None


def tiny(signed_out: bool = True):
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 5)]
    if not signed_out:
        layers.append(nn.ReLU())
    m = nn.Sequential(*layers).eval()
    g = wqrc.from_torch(m, torch.zeros(1, 1, 6, 6))
    return wqrc.quantize(g, scheme="po2", bits=4, calib=np.random.default_rng(0).uniform(0, 1, (64, 1, 6, 6)),
                         exponent=TARGET_RULE)


def compiled(tmp_path, qm, **rtl):
    out = tmp_path / "out"
    wqrc.api.compile(qm, ["rtl"], str(out), vectors=4, **rtl)
    return out / "rtl"


@pytest.mark.parametrize("form", ["layers", "seq"])
def test_the_core_lists_every_file_of_the_design_and_the_bench_apart(tmp_path, form):
    rtl = compiled(tmp_path, tiny(), rtl_form=form)
    text = (rtl / "wqrc.core").read_text()
    assert text.startswith("CAPI=2:\n") and "name: wqrc:model:" in text
    rtl_set, tb_set = text.split("\n  tb:\n")[0], text.split("\n  tb:\n")[1].split("\ntargets:")[0]
    listed = lambda block: {l.strip()[2:].split(":")[0] for l in block.splitlines() if l.startswith("      - ")}
    design, bench = listed(rtl_set), listed(tb_set)
    on_disk = {n for n in os.listdir(rtl) if n.endswith((".v", ".vh", ".mem", ".pcf"))}
    assert design | bench == on_disk - {"tb.v"}
    assert "wqrc_axis.v" in design and "wqrc_top.v" in design and not design & {"tb_axis.v", "vectors_in.mem"}
    assert bench == {"tb_axis.v", "vectors_in.mem", "vectors_out.mem"}
    assert "toplevel: wqrc_axis" in text and "toplevel: tb_axis" in text


@needs.iverilog
@pytest.mark.slow
@pytest.mark.parametrize("form, signed_out", [("layers", True), ("seq", False)])
def test_the_axi_stream_top_is_bit_exact_under_back_pressure_and_marks_tlast(tmp_path, form, signed_out):
    qm = tiny(signed_out)
    rtl = compiled(tmp_path, qm, rtl_form=form)
    res = make(rtl, "sim-axis")
    assert res.returncode == 0 and "PASS: 4 samples over AXI4-Stream" in res.stdout, res.stdout[-2000:] + res.stderr
    # the bench can fail: a wrong expected element is found and named
    vout = (rtl / "vectors_out.mem").read_text().splitlines()
    vout[3] = format((int(vout[3], 16) + 1) % 16, "x")
    (rtl / "vectors_out.mem").write_text("\n".join(vout) + "\n")
    res = subprocess.run(["vvp", "-n", "tb_axis.vvp"], cwd=rtl, capture_output=True, text=True, timeout=300)
    assert "FAIL: 1 of" in res.stdout and "sample 0 element 3" in res.stdout, res.stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FUSESOC, reason="needs FuseSoC and Icarus Verilog (pip install fusesoc; "
                                              "apt-get install iverilog)")
def test_fusesoc_runs_the_core_s_simulation_target(tmp_path):
    rtl = compiled(tmp_path, tiny(), rtl_form="seq")
    name = next(l.split(": ", 1)[1] for l in (rtl / "wqrc.core").read_text().splitlines() if l.startswith("name: "))
    work = tmp_path / "fusesoc"
    work.mkdir()
    # through this interpreter: FuseSoC's script is on PATH only where its environment is activated
    res = subprocess.run([sys.executable, "-m", "fusesoc.main", "--cores-root", str(rtl), "run", "--target", "sim",
                          name], cwd=work,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "PASS: 4 samples over AXI4-Stream" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]


@needs.verilator
@pytest.mark.parametrize("form", ["layers", "seq"])
def test_the_axi_top_passes_verilator_lint_with_codes_narrower_than_a_byte(tmp_path, form):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5)).eval()
    qm = wqrc.quantize(wqrc.from_torch(m, torch.zeros(1, 1, 6, 6)), scheme="po2", bits=4, act_bits=6,
                       calib=np.random.default_rng(0).uniform(0, 1, (64, 1, 6, 6)))
    assert qm.input_format.bits == 6
    rtl = compiled(tmp_path, qm, rtl_form=form)
    # Verilator lists every warning of the design under the AXI top; none may be the top's own (the
    # seq form's core has unused descriptor fields of its own, so only the layer form is clean whole)
    res = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "wqrc_axis",
                          *sorted(p.name for p in rtl.glob("wqrc_*.v"))], cwd=rtl, capture_output=True, text=True)
    assert "wqrc_axis.v:" not in res.stdout + res.stderr, res.stderr[-2000:]
    assert form == "seq" or res.returncode == 0, res.stderr[-2000:]
