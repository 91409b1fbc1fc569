"""Hand-written kernels (C, HLS C++, Verilog), shipped inside the package as ``wqrc.hw``.

This file only makes the folder importable so that ``importlib.resources`` finds
the kernels in a wheel install as well as in the source tree (see pyproject.toml).
"""
