"""Names from a model can be anything: the generated C and HLS still compile, run bit-exact and carry no payload.

Every node, tensor and initializer of a model with a residual Add, a Concat, an
average pool and a trailing Softmax gets a name from a hostile corpus (comment
breakers, trigraphs, line continuations, C keywords, libc and template-local
names, names that collide after mangling or with derived names, markup,
Make/Tcl syntax, non-ASCII); the model's file name is hostile too. The compile
runs under LC_ALL=C, the C is built with -fsanitize=undefined, and the code
outside comments and string literals must hold none of the payloads.
"""
import html as htmllib
import json
import os
import re
import subprocess
import sys

import onnx
import pytest

import needs
from conftest import ROOT, build, export_bytes

PAYLOAD = 'system("touch PWNED")'
CORPUS = [
    'f*\\ {extern int system(const char *); ' + PAYLOAD + ';} \\*',
    '*/ ' + PAYLOAD + '; /*',
    'x\\',
    'end ??/',
    'a\n' + PAYLOAD + ';',
    "input", "output", "strlen", "memcpy", "main", "int", "k", "k_bias", "k_cfg", "l_k", "wqrc_conv", "n", "i",
    "", " ", "__", "1abc",
    "[/x] [bold]markup",
    "$(shell touch PWNED)", "[exec touch PWNED]", "} {",
    "卷积层", "caf\u00e9", "\u202e\u0007bell",
    "L" * 300,
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
]


def _rename_everything(model: onnx.ModelProto, corpus: list[str]) -> None:
    """Give every node and every tensor (inputs, outputs, initializers) a hostile name, consistently."""
    g = model.graph
    tensors = []
    for v in list(g.input) + list(g.initializer) + list(g.output):
        if v.name not in tensors:
            tensors.append(v.name)
    for node in g.node:
        for t in list(node.input) + list(node.output):
            if t and t not in tensors:
                tensors.append(t)
    mapping = {t: f"{corpus[i % len(corpus)]}#t{i}" for i, t in enumerate(tensors)}
    for v in list(g.input) + list(g.output) + list(g.value_info):
        v.name = mapping.get(v.name, v.name)
    for init in g.initializer:
        init.name = mapping[init.name]
    for i, node in enumerate(g.node):
        node.name = corpus[(i + 3) % len(corpus)]
        node.input[:] = [mapping.get(t, t) if t else t for t in node.input]
        node.output[:] = [mapping[t] for t in node.output]


def _code_outside_comments_and_strings(text: str) -> str:
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


@needs.cc
@needs.cxx
@pytest.mark.parametrize("kind", ["residual", "plain"])
def test_hostile_names_compile_run_and_inject_nothing(tmp_path, kind):
    m, shape = build(kind)
    model = onnx.load_from_string(export_bytes(m, shape))
    _rename_everything(model, CORPUS)
    path = tmp_path / f"evil*\\ {{ {PAYLOAD}; }} \\* ??) $(x) [y] é.onnx"
    path.write_bytes(model.SerializeToString())
    out = tmp_path / "out"
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONIOENCODING="")
    res = subprocess.run([sys.executable, "-m", "wqrc", "compile", str(path), "--scheme", "po2", "--bits", "4",
                          "--target", "all", "--vectors", "4", "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    flags = "-std=c99 -Wall -Wextra -Wpedantic -Wconversion -Werror -O1 -fsanitize=undefined -fno-sanitize-recover"
    run = subprocess.run(["make", "-s", "-C", str(out / "c"), "run", f"CFLAGS={flags}"], capture_output=True,
                         text=True, env=env, timeout=600)
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    csim = subprocess.run(["make", "-s", "-C", str(out / "hls"), "csim"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert csim.returncode == 0 and "PASS" in csim.stdout, csim.stdout + csim.stderr
    assert not (out / "c" / "PWNED").exists() and not (out / "hls" / "PWNED").exists()
    html = (out / "report.html").read_text(encoding="utf-8")   # every name escaped: no tag of a name's
    assert "<script" not in html and "<img" not in html
    rep = json.loads((out / "report.json").read_text())
    for row in rep["layers"]:
        assert htmllib.escape(row["name"], quote=False)[:24] in html, row["name"]
    for folder in ("c", "hls"):
        for f in sorted((out / folder).iterdir()):
            if f.suffix not in (".c", ".h", ".cpp", ".tcl") and f.name != "Makefile":
                continue
            raw = f.read_bytes()
            assert raw.isascii(), f
            text = raw.decode("ascii")
            code = _code_outside_comments_and_strings(text) if f.suffix in (".c", ".h", ".cpp") else \
                "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
            for needle in ("system(", "PWNED", "extern int system", "??/", "$(shell", "[exec"):
                assert needle not in code, (f, needle)
            if f.suffix in (".c", ".h", ".cpp"):
                in_macro = False  # no comment ends in a line continuation: only macro lines continue
                for line in text.splitlines():
                    if line.endswith("\\"):
                        assert (in_macro or line.lstrip().startswith("#define")) and "//" not in line, (f, line)
                    in_macro = line.endswith("\\")


@pytest.mark.slow
def test_a_20000_character_name_in_a_path_with_a_space_builds_and_simulates_on_every_target(tmp_path):
    """Names past what C99 guarantees in a string literal (4095) and what Icarus takes in a line, with
    line-breaking and invisible code points; OUT's path holds a space (Verilator's make refuses one)."""
    from conftest import EXAMPLE
    model = onnx.load(EXAMPLE)
    for i, n in enumerate(model.graph.node):
        n.name = f"L{i}" + "x" * 20000 + "\u2028\u2029\ufeff\u0085end"
    path = tmp_path / "long.onnx"
    onnx.save(model, path)
    out = tmp_path / "out dir"
    res = subprocess.run([sys.executable, "-m", "wqrc", "compile", str(path), "--target", "c,rtl", "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    for text in (res.stdout, res.stderr):
        assert all(ch.isprintable() or ch == "\n" for ch in text), "a line-breaking or hidden code point reached the terminal"
    weights = (out / "c" / "wqrc_weights.c").read_text()
    assert "/* the whole name: L0" + "x" * 20000 in weights   # cut in the literal, whole in a comment
    builds = []
    if needs.HAVE_CC:
        builds.append(["make", "-s", "-C", str(out / "c"), "run", "CFLAGS=-std=c99 -Wall -Wextra -Wpedantic -Werror -O1 "
                       "-fsanitize=undefined -fno-sanitize-recover=undefined"])
    if needs.HAVE_IVERILOG:
        builds.append(["make", "-s", "-C", str(out / "rtl"), "sim-iverilog"])
    if needs.HAVE_VERILATOR:
        builds.append(["make", "-s", "-C", str(out / "rtl"), "sim"])
    if not builds:
        pytest.skip("needs gcc, iverilog or verilator (apt-get install gcc iverilog verilator)")
    for cmd in builds:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0 and "PASS" in run.stdout, (cmd[-1], run.stdout[-2000:], run.stderr[-2000:])
    subprocess.run(["make", "-s", "-C", str(out / "rtl"), "clean"], capture_output=True)
