"""Write outputs all-or-nothing, and replace only what wqrc itself wrote.

A failed or killed command never leaves a half-written file or folder in place
of its output. Every output folder carries a manifest of what wqrc wrote
(``wqrc.manifest``); ``--force`` replaces a folder only when every entry in it
is a file that manifest lists, unchanged, or a build product of wqrc's own
Makefiles (or the folder is empty), and never the file system root, the home
folder, the current folder or one of its ancestors, nor a folder that holds
one of the command's inputs. Replacement is an atomic exchange of the new
folder with the old (Linux ``renameat2``; elsewhere a pair of renames)
followed by deleting the old one, so a SIGKILL at any point leaves either the
old or the new output whole. The temporary folders carry a claim naming the
process that made them; the next run on the same OUT removes those whose
process has ended, and nothing else. A folder that a concurrent run created
meanwhile is never deleted: the final rename fails instead. Ctrl-C is held
while the renames run, and each output that was put in place is remembered in
``COMMITTED``, so that an interrupt arriving after that point can say
truthfully that the output is whole.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import signal
import tempfile
import threading
from typing import Iterable, Optional

from wqrc import manifest
from wqrc.errors import WqrcError

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
    try:
        fd, tmp = tempfile.mkstemp(prefix=".wqrc-", suffix=os.path.basename(path)[-64:], dir=folder)
    except OSError as exc:
        raise WqrcError(f"{path}: cannot write a file here ({exc.strerror or type(exc).__name__})") from None
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
    why = manifest.foreign(real)
    if why:
        raise WqrcError(f"{path}: not replaced: {why} (move it out, or name another folder)")


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
        manifest.claim(aside)
        if _exchange(tmp, path):  # tmp now holds the old output
            os.rename(tmp, os.path.join(aside, name))
            return aside
        os.rename(path, os.path.join(aside, name))
    try:
        os.rename(tmp, path)  # onto nothing or an empty folder; fails on a non-empty one
    except OSError as exc:
        if aside:
            os.rename(os.path.join(aside, name), path)
            manifest.remove(aside)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise WqrcError(f"{path}: another process wrote this folder meanwhile; left it as it is") from None
        raise
    return aside


def _clear_leftovers(path: str, parent: str, name: str) -> None:
    """Deal with the temporary folders a killed run on the same OUT left: an old output set aside
    with no output in its place goes back (a kill between the two renames where no atomic exchange
    exists); a folder whose claim proves it ours and stale goes; anything else stays, with a warning."""
    import warnings

    pattern = os.path.join(glob.escape(parent), f".wqrc-%s-{glob.escape(name)}-*")
    for kind in ("old", "new"):
        for stale in sorted(glob.glob(pattern % kind)):
            held = os.path.join(stale, name)
            if kind == "old" and not os.path.lexists(path) and os.path.isdir(held) and manifest.foreign(held) is None:
                os.rename(held, path)
            if manifest.stale_temporary(stale):
                manifest.remove(stale)
            elif not manifest.in_progress(stale):   # a run still writing it is left alone, silently
                warnings.warn(f"{stale}: left in place: wqrc cannot prove it wrote this folder")


@contextlib.contextmanager
def atomic_dir(path: str, force: bool = False, inputs: Iterable[Optional[str]] = (), products: Iterable[str] = ()):
    """Yield an empty temporary folder; it replaces ``path`` only on success (see module doc).

    ``products`` are the patterns (relative to ``path``) of what the written Makefiles build, which a
    later ``--force`` may remove with the output."""
    inputs = list(inputs)
    check_output_folder(path, force, inputs)
    path = os.path.abspath(path)
    parent, name = os.path.dirname(path), os.path.basename(path)
    try:
        os.makedirs(parent, exist_ok=True)
        _clear_leftovers(path, parent, name)
        tmp = tempfile.mkdtemp(prefix=f".wqrc-new-{name}-", dir=parent)
    except OSError as exc:
        raise WqrcError(f"{path}: cannot write the output folder here ({exc.strerror or type(exc).__name__})") from None
    manifest.claim(tmp)
    aside = None
    try:
        yield tmp
        manifest.write(tmp, products)
        check_output_folder(path, force, inputs)  # again: the folder may have changed meanwhile
        with _commit(path):
            aside = _put_in_place(tmp, path, parent, name)
    finally:
        if os.path.isdir(tmp):
            manifest.remove(tmp)
        if aside:
            manifest.remove(aside)
