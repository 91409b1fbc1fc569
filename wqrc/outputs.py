"""Write outputs all-or-nothing, and replace only what wqrc itself wrote.

A failed or killed command never leaves a half-written file or folder in place
of its output. Every output folder carries a marker file; ``--force`` replaces
a folder only when it carries the marker (or is empty), and never the file
system root, the home folder, the current folder or one of its ancestors, nor a
folder that holds one of the command's inputs. Replacement is a pair of
renames (old folder aside, new folder in) followed by deleting the old one, so
a SIGKILL at any point leaves either the old or the new output whole. A folder
that a concurrent run created meanwhile is never deleted: the final rename
fails instead. Ctrl-C is held while the renames run, and each output that was
put in place is remembered in ``COMMITTED``, so that an interrupt arriving after
that point can say truthfully that the output is whole.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import shutil
import signal
import tempfile
import threading
from typing import Iterable, Optional

from wqrc.errors import WqrcError

MARKER = ".wqrc-output"
MARKER_TEXT = "This folder was written by wqrc compile; wqrc --force may replace it.\n"
COMMITTED: list = []  # outputs put in place by this process, in order


@contextlib.contextmanager
def _commit(path: str):
    """Hold SIGINT while ``path`` is put in place, and remember it once it is.

    Without this, a Ctrl-C between the rename and the bookkeeping would leave a
    whole output behind a message saying the command was interrupted.
    """
    held = threading.current_thread() is threading.main_thread()
    if held:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
        COMMITTED.append(os.path.abspath(path))
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_file(path: str):
    """Yield a temporary path next to ``path``; rename it into place only on success."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WqrcError(f"{path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise WqrcError(f"{path}: is a folder, not a file")
    fd, tmp = tempfile.mkstemp(prefix=".wqrc-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        yield tmp
        with _commit(path):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_folder(path: str, force: bool, inputs: Iterable[Optional[str]] = ()) -> None:
    """Refuse, with a one-line error, an output folder that wqrc must not write or replace."""
    if os.path.islink(path):
        raise WqrcError(f"{path}: output folder is a symbolic link; give the folder itself")
    real = os.path.realpath(path)
    if os.path.exists(real) and not os.path.isdir(real):
        raise WqrcError(f"{path}: exists and is not a folder")
    cwd = os.path.realpath(os.getcwd())
    home = os.path.realpath(os.path.expanduser("~"))
    if real == os.path.realpath(os.sep) or real == home or _is_within(cwd, real):
        raise WqrcError(f"{path}: refusing to write the output into the root, home or current folder "
                        f"(or one that contains it); name a new folder")
    for item in inputs:
        if isinstance(item, str) and item and os.path.exists(item):
            if _is_within(os.path.realpath(item), real):
                raise WqrcError(f"{path}: output folder holds the input {item}; name another folder")
    if not os.path.isdir(real) or not os.listdir(real):
        return
    if not force:
        raise WqrcError(f"{path}: output folder exists and is not empty (use --force to replace an earlier "
                        f"wqrc output)")
    if not os.path.isfile(os.path.join(real, MARKER)):
        raise WqrcError(f"{path}: not a wqrc output folder (no {MARKER} marker); --force replaces only "
                        f"folders wqrc wrote: remove it yourself or name another folder")


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), b)


def _put_in_place(tmp: str, path: str, parent: str, name: str) -> Optional[str]:
    """Move the finished folder ``tmp`` to ``path``; return the folder now holding the old output, if any."""
    aside = None
    if os.path.isdir(path) and os.listdir(path):
        aside = tempfile.mkdtemp(prefix=f".wqrc-old-{name}-", dir=parent)
        if _exchange(tmp, path):  # tmp now holds the old output
            os.rename(tmp, os.path.join(aside, name))
            return aside
        os.rename(path, os.path.join(aside, name))
    try:
        os.rename(tmp, path)  # onto nothing or an empty folder; fails on a non-empty one
    except OSError as exc:
        if aside:
            os.rename(os.path.join(aside, name), path)
            shutil.rmtree(aside, ignore_errors=True)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise WqrcError(f"{path}: another process wrote this folder meanwhile; left it as it is") from None
        raise
    return aside


@contextlib.contextmanager
def atomic_dir(path: str, force: bool = False, inputs: Iterable[Optional[str]] = ()):
    """Yield an empty temporary folder; it replaces ``path`` only on success (see module doc)."""
    inputs = list(inputs)
    check_output_folder(path, force, inputs)
    path = os.path.abspath(path)
    parent, name = os.path.dirname(path), os.path.basename(path)
    os.makedirs(parent, exist_ok=True)
    for stale in glob.glob(os.path.join(glob.escape(parent), f".wqrc-old-{glob.escape(name)}-*")):
        shutil.rmtree(stale, ignore_errors=True)  # left by a replacement that was killed while deleting
    tmp = tempfile.mkdtemp(prefix=f".wqrc-new-{name}-", dir=parent)
    aside = None
    try:
        yield tmp
        with open(os.path.join(tmp, MARKER), "w") as fh:
            fh.write(MARKER_TEXT)
        check_output_folder(path, force, inputs)  # again: the folder may have changed meanwhile
        with _commit(path):
            aside = _put_in_place(tmp, path, parent, name)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if aside:
            shutil.rmtree(aside, ignore_errors=True)
