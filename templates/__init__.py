"""Jinja templates of the generated glue, shipped inside the package as ``wqrc.templates``.

This file only makes the folder importable so that ``importlib.resources`` finds
the templates in a wheel install as well as in the source tree (see pyproject.toml).
"""
