"""Output folders: --force replaces only what wqrc wrote, and killed runs leave nothing behind.

The manifest (wqrc/manifest.py) is the judge: a folder is replaced only when every
entry in it is a file the manifest lists, unchanged, or a build product of wqrc's
own Makefiles; leftover temporary folders go only when their claim proves them
wqrc's and stale. Each refusal is one line naming the first foreign entry, and
the folder is left exactly as it was.
"""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import EXAMPLE, ROOT
from conftest import assert_user_error, wqrc

from wqrc import manifest


def _tree(folder):
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """One compile of C and RTL (no toolchain needed), copied fresh for each test."""
    out = tmp_path_factory.mktemp("c") / "out"
    res = wqrc("compile", EXAMPLE, "--target", "c,rtl", "-o", str(out))
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture
def out(compiled, tmp_path):
    import shutil
    dst = tmp_path / "out"
    shutil.copytree(compiled, dst)
    return dst


def _force(out, *extra):
    return wqrc("compile", EXAMPLE, "--target", "c,rtl", "-o", str(out), "--force", *extra)


@pytest.mark.parametrize("case", ["added", "changed", "link", "copied-manifest", "empty-marker", "text-marker"])
def test_force_refuses_a_folder_with_anything_wqrc_did_not_write(out, tmp_path, case):
    if case == "added":
        (out / "c" / "notes.txt").write_text("mine")
        why = "c/notes.txt is not a file wqrc wrote"
    elif case == "changed":
        with open(out / "c" / "main.c", "a") as fh:
            fh.write("/* my edit */\n")
        why = "c/main.c was changed after wqrc wrote it"
    elif case == "link":
        os.symlink(tmp_path, out / "rtl" / "elsewhere")
        why = "rtl/elsewhere is a symbolic link"
    elif case == "copied-manifest":  # `cp -r out/. myproject/` into a folder of the user's
        import shutil
        proj = tmp_path / "myproject"
        proj.mkdir()
        (proj / "firmware.c").write_text("int main(void) { return 0; }\n")
        shutil.copytree(out, proj, dirs_exist_ok=True)
        out, why = proj, "firmware.c is not a file wqrc wrote"
    else:
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "data.bin").write_bytes(b"\x00" * 10)
        (mine / ".wqrc-output").write_text("" if case == "empty-marker" else "This folder was written by wqrc\n")
        out, why = mine, "is not a manifest written by this wqrc"
    before = _tree(out)
    assert_user_error(_force(out), why)
    assert _tree(out) == before


def test_force_replaces_an_output_with_its_build_products_and_deleted_files(out):
    (out / "c" / "wqrc_test").write_bytes(b"\x7fELF built by make run")
    (out / "c" / "mcu" / "wqrc_model.o").write_bytes(b"object")
    (out / "rtl" / "obj_dir").mkdir()
    (out / "rtl" / "obj_dir" / "Vtb").write_bytes(b"verilated")
    (out / "rtl" / "sim.log").write_text("PASS\n")
    os.remove(out / "c" / "wqrc_weights.c")   # a generated file the user deleted loses nothing
    res = _force(out)
    assert res.returncode == 0, res.stderr
    assert not (out / "c" / "wqrc_test").exists() and (out / "c" / "wqrc_weights.c").is_file()
    assert manifest.foreign(str(out)) is None


def test_the_makefiles_clean_exactly_the_build_products_the_manifest_allows(out):
    """One list per backend (BUILD_PRODUCTS) feeds both `make clean` and the manifest."""
    import json
    doc = json.loads((out / ".wqrc-output").read_text())
    for target in ("c", "rtl"):
        clean = [line for line in (out / target / "Makefile").read_text().splitlines() if line.startswith("\trm -rf")]
        listed = [p.split("/", 1)[1] for p in doc["products"] if p.startswith(target + "/")]
        assert len(clean) == 1 and sorted(clean[0].split()[2:2 + len(listed)]) == sorted(listed), (clean, listed)


def _claim_of(pid, start, folder):
    import json
    import socket
    doc = {"format": manifest.FORMAT, "version": manifest.VERSION, "state": "writing", "files": {}, "products": [],
           "owner": {"pid": pid, "start": start, "host": socket.gethostname()}, "inode": os.stat(folder).st_ino}
    (folder / manifest.NAME).write_text(json.dumps(doc))


def test_leftover_temporary_folders_go_only_when_proven_wqrcs(out, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    parent = out.parent
    cases = {}
    for name, kind in [("user", "old"), ("empty", "old"), ("dead", "new"), ("alive", "new"), ("copied", "new"),
                       ("whole", "new")]:
        d = parent / f".wqrc-{kind}-out-{name}"
        d.mkdir()
        cases[name] = d
    (cases["user"] / "thesis.tex").write_text("years of work")
    _claim_of(dead.pid, manifest.process_start(dead.pid), cases["dead"])
    (cases["dead"] / "c").mkdir()
    (cases["dead"] / "c" / "half.c").write_text("int x")
    _claim_of(os.getpid(), manifest.process_start(os.getpid()), cases["alive"])    # a run still going
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _claim_of(dead.pid, None, elsewhere)
    os.rename(elsewhere / manifest.NAME, cases["copied"] / manifest.NAME)           # another folder's claim
    (cases["copied"] / "x").write_text("not proven")
    (cases["whole"] / "rom").mkdir()
    (cases["whole"] / "rom" / "a.bin").write_bytes(b"1")
    manifest.write(str(cases["whole"]))
    res = _force(out)
    assert res.returncode == 0, res.stderr
    left = sorted(p.name for p in parent.iterdir() if p.name.startswith(".wqrc"))
    assert left == sorted(str(cases[k].name) for k in ("user", "alive", "copied")), left
    assert (cases["user"] / "thesis.tex").read_text() == "years of work"
    assert "cannot prove it wrote" in res.stderr


WRITER = textwrap.dedent("""
    import os, sys
    from wqrc.outputs import atomic_dir
    out, letter, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with atomic_dir(out, force=True, products=["b/*.o"]) as tmp:
        for i in range(n):
            os.makedirs(os.path.join(tmp, "a" if i % 2 else "b"), exist_ok=True)
            with open(os.path.join(tmp, "a" if i % 2 else "b", f"f{i}.txt"), "w") as fh:
                fh.write(letter * 200)
        print("written", flush=True)   # what follows is the replacement: manifest, exchange, deletion
""")


def _whole(out, n):
    """OUT holds one complete version: every file present, all of one letter, and its manifest checks."""
    if manifest.foreign(str(out)) is not None:
        return None
    letters = set()
    for i in range(n):
        p = out / ("a" if i % 2 else "b") / f"f{i}.txt"
        if not p.is_file():
            return None
        letters.add(p.read_text()[:1])
    return letters.pop() if len(letters) == 1 else None


@pytest.mark.slow
def test_sigkill_at_random_points_of_a_force_replacement_leaves_a_whole_output_and_no_temp_folders(tmp_path):
    """Fault injection: SIGKILL at random points of a --force replacement of a 1,500-file output, half
    while its files are written and half after (the writer says when), inside the manifest, the
    exchange and the deletion of the old output; after every kill OUT is one whole version, old or
    new, and the next successful run leaves no temporary folder."""
    out, n = tmp_path / "out", 1500
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = [sys.executable, "-c", WRITER, str(out)]

    def start(letter):
        return subprocess.Popen(run + [letter, str(n)], env=env, stdout=subprocess.PIPE, text=True)

    subprocess.run(run + ["A", str(n)], check=True, env=env, capture_output=True)
    t0 = time.monotonic()
    proc = start("A")                      # an unkilled replacement, timed in its two phases
    assert proc.stdout.readline() == "written\n"
    writing = time.monotonic() - t0
    proc.wait()
    replacing = time.monotonic() - t0 - writing
    assert _whole(out, n) == "A"
    rng = random.Random(32)
    letter = "A"
    for trial in range(24):
        letter = "B" if letter == "A" else "A"
        proc = start(letter)
        if trial % 2:   # after the files are written: inside the manifest, the exchange or the deletion
            assert proc.stdout.readline() == "written\n"
            time.sleep(rng.uniform(0.0, replacing * 1.2))
        else:           # while the files are written (or the leftovers of earlier kills are cleared)
            time.sleep(rng.uniform(0.0, writing))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        got = _whole(out, n)
        assert got in ("A", "B"), f"trial {trial}: OUT is not one whole output"
    subprocess.run(run + ["A", str(n)], check=True, env=env, capture_output=True)
    assert _whole(out, n) == "A"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wqrc")] == []
