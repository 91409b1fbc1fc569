"""OUT/report.html: one self-contained page per compile with the figures of report.json and each
layer's weights over its level set, rendered by a headless Chromium in the test (issue 34)."""
import html as htmllib
import json
import re
import subprocess

import numpy as np
import pytest

import wqrc
from wqrc.data import load_dataset
from wqrc.report_html import level_histogram

import needs
from conftest import EXAMPLE, wqrc as run_wqrc


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    res = run_wqrc("compile", EXAMPLE, "--scheme", "po2", "--bits", "4", "--calib", "digits", "--data", "digits",
                   "--target", "c,rtl", "--rtl-form", "seq", "--lanes", "4", "-o", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_the_page_holds_the_report_s_figures_and_needs_no_network(compiled):
    page = (compiled / "report.html").read_text(encoding="utf-8")
    rep = json.loads((compiled / "report.json").read_text())
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page) and "<script" not in page
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", page))
    for row in rep["layers"]:
        assert re.search(rf"\b{row['name']}\b.*\b{row['w_mem_bits']}\b", text, re.S), row["name"]
    for figure in (rep["totals"]["w_mem_bits"], rep["rtl"]["cycles_per_inference"], rep["c"]["ram_bytes"],
                   f"{100 * rep['accuracy']['acc_Mq']:.2f}%", rep["rtl"]["estimate"]["lc"]):
        assert str(figure) in text, figure


def test_the_histogram_counts_every_weight_on_its_level():
    g = wqrc.load_model(EXAMPLE)
    calib = load_dataset("digits").x_train[:64]
    for scheme, bits, bars in (("po2", 4, 15), ("dfp", 3, 8), ("dfp", 8, 64)):
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, calib=calib)
        for _, layer in qm.weighted():
            h = level_histogram(layer)
            assert len(h["bars"]) == bars and sum(b["count"] for b in h["bars"]) == layer.codes.size
            zero = sum(b["count"] for b in h["bars"] if b["zero"] and "." not in b["label"])
            if bars < 64:
                assert zero == layer.zero_codes
                assert h["used"] == np.unique(layer.multipliers).size


@needs.chromium
def test_headless_chromium_renders_every_layer(compiled):
    res = subprocess.run([needs.CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (compiled / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    rep = json.loads((compiled / "report.json").read_text())
    table = dom.split('id="layers"')[1].split("</table>")[0]
    for row in rep["layers"]:
        assert f'<td class="l">{row["name"]}</td>' in table, row["name"]
        assert f'data-layer="{row["name"]}"' in dom and f"weight histogram of {row['name']}" in dom
    assert dom.count("<rect") >= len(rep["layers"]) * 2


def test_layer_names_reach_the_page_escaped(tmp_path):
    import onnx
    model = onnx.load(EXAMPLE)
    evil = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a&b<td>x"]
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    inits = {i.name: i for i in model.graph.initializer}
    for node, name in zip(weighted, evil):   # a layer is named after its weight tensor (torch's module path)
        node.name = name
        inits[node.input[1]].name = node.input[1] = f"{name}.weight"
    path = tmp_path / "evil.onnx"
    onnx.save(model, path)
    res = run_wqrc("compile", str(path), "--target", "rom", "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "a&b<td>" not in page
    for name in evil:
        assert name in htmllib.unescape(page) and name not in page, name
