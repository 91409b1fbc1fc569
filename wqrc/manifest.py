"""The manifest of an output folder: what wqrc wrote there, so that nothing else is ever deleted.

Every folder wqrc writes carries ``.wqrc-output``, a JSON document listing each
file it wrote (path, size, SHA-256) and the build products its own Makefiles
make (their ``make clean`` patterns, e.g. ``c/wqrc_test``, ``rtl/obj_dir``). ``--force`` may
replace a folder only when every entry in it is one of those: a listed file,
unchanged, or a build product. A hand-made marker, a manifest copied along
with ``cp -r out/. project/``, a file a user added or edited: each is named in
one line and nothing is touched.

Temporary folders (``.wqrc-new-OUT-*`` while writing, ``.wqrc-old-OUT-*``
while the old output is deleted) carry a *claim* in the same file: the process
that made them (pid, its start time, the host) and the folder's own inode, so
a copy of the folder proves nothing. A later run removes such a folder only
when its claim's process is gone, or when it holds a whole wqrc output.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import socket
from typing import Iterable, Optional

NAME = ".wqrc-output"
FORMAT = "wqrc-output-manifest"
VERSION = 2
_PENDING = NAME + ".pending"   # the manifest being written; never outlives a finished write
_CHUNK = 1 << 20


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _walk(folder: str):
    """(relative posix path, absolute path, is_link) of every non-folder entry and every link, sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):  # never followed; reported as an entry
                dirs.remove(d)
                files.append(d)
        for f in files:
            full = os.path.join(root, f)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            out.append((rel, full, os.path.islink(full)))
    return sorted(out)


def process_start(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (Linux /proc), which tells a reused pid apart; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner() -> dict:
    return {"pid": os.getpid(), "start": process_start(os.getpid()), "host": socket.gethostname()}


def _owner_gone(owner: dict) -> bool:
    """True only when the process that made a temporary folder has certainly ended."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return owner.get("start") != process_start(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but not ours to signal
        return False
    start = process_start(pid)
    return start is not None and owner.get("start") is not None and start != owner["start"]


def read(folder: str) -> Optional[dict]:
    """The folder's manifest, or None when it has none or it is not one of wqrc's."""
    path = os.path.join(folder, NAME)
    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        return None
    if not isinstance(doc.get("files"), dict) or not isinstance(doc.get("products", []), list):
        return None
    return doc


def claim(folder: str) -> None:
    """Mark a temporary folder as this process's, bound to the folder itself (its inode)."""
    _dump(folder, {"format": FORMAT, "version": VERSION, "state": "writing", "owner": _owner(),
                   "inode": os.stat(folder).st_ino, "files": {}, "products": []})


def write(folder: str, products: Iterable[str] = ()) -> None:
    """List every file now in ``folder`` (size, SHA-256) and the build products its Makefiles may add."""
    files = {rel: {"size": os.path.getsize(full), "sha256": _sha256(full)}
             for rel, full, link in _walk(folder) if rel not in (NAME, _PENDING) and not link}
    _dump(folder, {"format": FORMAT, "version": VERSION, "state": "complete", "files": files,
                   "products": sorted(set(products))})


def _dump(folder: str, doc: dict) -> None:
    """Written aside and renamed over the old one, so a kill never leaves a folder without its claim."""
    tmp = os.path.join(folder, _PENDING)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, os.path.join(folder, NAME))


def _is_product(rel: str, patterns: Iterable[str]) -> bool:
    """``rel`` is a build product: a pattern matches its leading segments (a folder pattern such as
    ``rtl/obj_dir`` covers everything below it)."""
    parts = rel.split("/")
    for pat in patterns:
        segs = pat.split("/") if isinstance(pat, str) else []
        if segs and len(segs) <= len(parts) and all(fnmatch.fnmatchcase(p, s) for p, s in zip(parts, segs)):
            return True
    return False


def foreign(folder: str) -> Optional[str]:
    """None when every entry of ``folder`` is one wqrc wrote (unchanged) or a build product of its
    Makefiles; else why not, naming the first entry that is not."""
    doc = read(folder)
    if doc is None:
        what = "has no wqrc manifest" if not os.path.lexists(os.path.join(folder, NAME)) else \
            f"its {NAME} is not a manifest written by this wqrc"
        return f"{what}; --force replaces only folders wqrc wrote"
    if doc.get("state") != "complete":
        return f"its {NAME} is not a finished output's manifest"
    listed, products = doc["files"], doc.get("products", [])
    for rel, full, link in _walk(folder):
        if rel == NAME:
            continue
        if link:
            return f"{rel} is a symbolic link wqrc did not write"
        want = listed.get(rel)
        if want is None:
            if _is_product(rel, products):
                continue
            return f"{rel} is not a file wqrc wrote"
        if not isinstance(want, dict) or os.path.getsize(full) != want.get("size") or _sha256(full) != want.get("sha256"):
            return f"{rel} was changed after wqrc wrote it"
    return None


def stale_temporary(folder: str) -> bool:
    """True when a leftover temporary folder provably holds nothing but wqrc's own work:
    its claim's process has ended, or it holds a whole wqrc output (its manifest checks), or it is
    an aside folder holding such an output, or nothing but an unreadable manifest, or nothing at all."""
    if os.path.islink(folder) or not os.path.isdir(folder):
        return False
    doc = read(folder)
    if doc is None:   # killed before (or while) writing the claim: nothing but wqrc's bookkeeping
        return set(os.listdir(folder)) <= {NAME, _PENDING}
    if doc.get("state") == "writing":
        return _claims(doc, folder) and _owner_gone(doc.get("owner"))
    return foreign(folder) is None


def _claims(doc: dict, folder: str) -> bool:
    """The claim was written for this very folder (not copied along from another)."""
    return doc.get("inode") == os.stat(folder).st_ino


def in_progress(folder: str) -> bool:
    """A temporary folder that a run on this host is still writing (its own claim, its process alive)."""
    doc = read(folder)
    return (doc is not None and doc.get("state") == "writing" and _claims(doc, folder)
            and not _owner_gone(doc.get("owner")))


def remove(folder: str) -> None:
    """Delete a folder wqrc owns, its manifest last: a kill midway leaves a folder that still proves
    itself (claim present) or is empty."""
    import shutil
    for entry in os.listdir(folder):
        if entry == NAME:
            continue
        full = os.path.join(folder, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.remove(full)
            except FileNotFoundError:
                pass
    try:
        os.remove(os.path.join(folder, NAME))
    except FileNotFoundError:
        pass
    try:
        os.rmdir(folder)
    except OSError:
        pass
