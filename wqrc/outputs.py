"""Write outputs all-or-nothing: a failed command never leaves a half-written file or folder."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from wqrc.errors import WqrcError


@contextlib.contextmanager
def atomic_file(path: str):
    """Yield a temporary path next to ``path``; rename it into place only on success."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WqrcError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".wqrc-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path: str, force: bool = False):
    """Yield an empty temporary folder; it replaces ``path`` only on success."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise WqrcError(f"{path}: exists and is not a folder")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise WqrcError(f"{path}: output folder exists and is not empty (use --force to replace it)")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".wqrc-", dir=parent)
    try:
        yield tmp
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
