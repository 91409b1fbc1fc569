"""The install is honest: every import declared, kernels and templates shipped in the package, a fast CLI.

The wheel itself is built and used from outside the tree by .ci/run; these
checks catch the same drift earlier, in the README's test command.
"""
import ast
import os
import re
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

import pytest

from conftest import ROOT

WQRC = os.path.join(ROOT, "wqrc")


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("needs Python 3.11's tomllib to read pyproject.toml")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {os.path.relpath(d, ROOT).replace(os.sep, ".") for d, _, files in os.walk(WQRC)
               if "__init__.py" in files}
    assert on_disk | {"wqrc.hw", "wqrc.templates"} == listed


def test_every_third_party_import_is_declared():
    from importlib.metadata import packages_distributions

    proj = _pyproject()["project"]
    reqs = list(proj["dependencies"]) + [r for extra in proj.get("optional-dependencies", {}).values() for r in extra]
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
    declared = {norm(re.split(r"[ <>=!~;\[(]", r, 1)[0]) for r in reqs}
    dists = packages_distributions()
    undeclared = set()
    for folder, _, files in os.walk(WQRC):
        for f in files:
            if not f.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(folder, f), encoding="utf-8").read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    top = m.split(".")[0]
                    if top in sys.stdlib_module_names or top == "wqrc":
                        continue
                    if not {norm(d) for d in dists.get(top, [top])} & declared:
                        undeclared.add(f"{top} ({os.path.join(folder, f)})")
    assert not undeclared, f"imported but not declared in pyproject: {sorted(undeclared)}"


def test_kernels_and_templates_are_package_resources():
    from importlib import resources

    hw = resources.files("wqrc.hw")
    templates = resources.files("wqrc.templates")
    for sub, ext in (("c", ".h"), ("c/kernels", ".h.j2"), ("hls", ".h"), ("rtl", ".vh")):
        assert any(p.name.endswith(ext) for p in hw.joinpath(sub).iterdir()), sub
    for sub in ("c", "hls"):
        assert any(p.name.endswith(".j2") for p in templates.joinpath(sub).iterdir()), sub
    src = open(os.path.join(WQRC, "backend", "common.py"), encoding="utf-8").read()
    assert "__file__" not in src


def test_cli_help_imports_neither_torch_nor_onnxruntime():
    code = ("import sys, wqrc.cli\n"
            "try:\n    wqrc.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'sklearn', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    for args in (["--version"], ["compile", "--help"]):
        res = subprocess.run([sys.executable, "-m", "wqrc", *args], capture_output=True, text=True, cwd=ROOT)
        assert res.returncode == 0 and res.stdout.strip(), res.stderr
