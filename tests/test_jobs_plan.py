"""Planning: every path under an input is accounted for, and no output lands outside -o."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastct import jobs
from fastct.jobs.plan import OutsideOutputError, check_inside, plan


def _npy(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((1, 8, 8), value, np.int16))


def _run_cli(*args, prefix=(), timeout=120):
    return subprocess.run([*prefix, sys.executable, "-m", "fastct.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_linked_folder_is_followed_once_and_loops_are_reported(tmp_path):
    src = tmp_path / "in"
    _npy(src / "real" / "a.npy")
    (src / "link").symlink_to(src / "real")  # a second name for a real folder
    (src / "real" / "up").symlink_to(src)  # a loop back to the top
    p = plan([src], tmp_path / "out", "npy")
    assert [j.source.name for j in p.jobs] == ["a.npy"]  # the real folder once
    loops = {r.source.name: r for r in p.early if r.error_type == "LinkLoop"}
    assert set(loops) == {"real", "up"} or set(loops) == {"link", "up"}
    assert all(r.status == "skipped" and "searched already" in r.error for r in loops.values())


def test_a_link_to_a_folder_outside_is_followed(tmp_path):
    _npy(tmp_path / "elsewhere" / "b.npy")
    _npy(tmp_path / "in" / "a.npy")
    (tmp_path / "in" / "more").symlink_to(tmp_path / "elsewhere")
    p = plan([tmp_path / "in"], tmp_path / "out", "npy")
    assert sorted(str(j.output.relative_to(tmp_path / "out")) for j in p.jobs) == ["a.npy", "more/b.npy"]


def test_recursive_glob_over_two_loops_finishes(tmp_path):
    src = tmp_path / "in"
    _npy(src / "x" / "a.npy")
    _npy(src / "y" / "b.npy")
    (src / "x" / "to_y").symlink_to(src / "y")
    (src / "y" / "to_x").symlink_to(src / "x")
    (src / "x" / "self").symlink_to(src / "x")
    proc = _run_cli("process", str(src / "**" / "*.npy"), "-o", str(tmp_path / "out"), "--steps", "erode:3",
                    "--backend", "cpu", "-q", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert sorted(os.path.basename(r["input"]) for r in report["ok"]) == ["a.npy", "b.npy"]


def test_hidden_files_and_broken_links_are_reported(tmp_path):
    src = tmp_path / "in"
    _npy(src / "a.npy")
    _npy(src / ".hidden.npy")
    _npy(src / ".cache" / "c.npy")
    (src / "dangling.npy").symlink_to(tmp_path / "nowhere.npy")
    p = plan([src], tmp_path / "out", "npy")
    by_name = {r.source.name: r for r in p.early}
    assert by_name[".hidden.npy"].status == "skipped" and "hidden file" in by_name[".hidden.npy"].error
    assert by_name[".cache"].status == "skipped" and "hidden folder" in by_name[".cache"].error
    assert by_name["dangling.npy"].status == "failed" and "broken symbolic link" in by_name["dangling.npy"].error


@pytest.mark.skipif(shutil.which("setpriv") is None,
                    reason="setpriv (util-linux) is needed to drop root's DAC capabilities")
def test_unreadable_folder_and_file_fail_the_run(tmp_path):
    src = tmp_path / "in"
    _npy(src / "ok" / "a.npy")
    _npy(src / "locked" / "b.npy")
    _npy(src / "c.npy")
    (src / "locked").chmod(0)
    (src / "c.npy").chmod(0)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    tmp_path.chmod(0o755)
    try:
        drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps",
                "-dac_override,-dac_read_search,-fowner", "--"]
        probe = subprocess.run([*drop, "cat", str(src / "c.npy")], capture_output=True)
        if probe.returncode == 0:
            pytest.skip("permissions are not enforced here even without the DAC capabilities")
        proc = _run_cli("process", str(src), "-o", str(out), "--steps", "erode:3", "--backend", "cpu", "-q",
                        "--json", prefix=drop)
    finally:
        (src / "locked").chmod(0o755)
        (src / "c.npy").chmod(0o644)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    failed = {os.path.basename(f["input"]): f["error"] for f in report["failed"]}
    assert "locked" in failed and "permission denied" in failed["locked"].lower()
    assert "c.npy" in failed and "permission denied" in failed["c.npy"].lower()
    assert [os.path.basename(r["input"]) for r in report["ok"]] == ["a.npy"]


def test_dotdot_in_an_input_path_stays_inside_the_output_folder(tmp_path):
    _npy(tmp_path / "other" / "x.npy", 5)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    victim = tmp_path / "other" / "x.npy"
    before = victim.read_bytes()
    out = tmp_path / "in" / "out"
    summary = jobs.process_files(str(tmp_path / "in" / "sub" / ".." / ".." / "other" / "x.npy"), out, "erode:3",
                                 backend="cpu", overwrite=True, progress="quiet")
    assert summary.exit_code == 0
    (written,) = summary.ok[0].outputs
    assert out.resolve() in written.resolve().parents
    assert victim.read_bytes() == before  # the input tree is never written


def test_a_link_inside_the_output_folder_pointing_out_is_refused(tmp_path):
    _npy(tmp_path / "in" / "sub" / "a.npy", 1)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    summary = jobs.process_files(tmp_path / "in", out, "erode:3", backend="cpu", progress="quiet")
    assert summary.exit_code == 1
    (failed,) = summary.failed
    assert failed.error_type == "OutsideOutputError" and "outside the output folder" in failed.error
    assert list(outside.iterdir()) == []


def test_check_inside():
    check_inside("/a/out/x/y.npy", "/a/out")
    for bad in ("/a/out/../y.npy", "/a/elsewhere/y.npy", "/a/out"):
        with pytest.raises(OutsideOutputError, match="outside the output folder"):
            check_inside(bad, "/a/out")
