"""Running: honest stops, honest resumes, one run per folder, executors that agree, pluggable work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastct
import fastct.io as fio
from fastct import cli, jobs
from fastct.jobs import run as run_module
from fastct.jobs.plan import MANIFEST_NAME, Manifest, OutputLock

STEPS = "erode:3"


def _files(folder: Path, n: int, shape=(1, 16, 16)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(folder / f"{i:03d}.npy", np.full(shape, i, np.int16))
    return folder


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "fastct.cli", "process", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _temporaries(folder: Path) -> list:
    return [p for p in folder.rglob(".*") if p.name not in (MANIFEST_NAME,)]


@pytest.mark.parametrize("sig, code, executor", [(signal.SIGTERM, 143, "processes"), (signal.SIGTERM, 143, "threads"),
                                                 (signal.SIGHUP, 129, "threads")])
def test_a_signal_stops_like_ctrl_c_and_resume_finishes(tmp_path, sig, code, executor):
    src = _files(tmp_path / "in", 400, (2, 64, 64))
    out = tmp_path / "out"
    proc = _cli(str(src), "-o", str(out), "--steps", STEPS, "--backend", "cpu", "--executor", executor,
                "--workers", "2", "--batch-size", "2")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("*.npy"))) < 40:
        time.sleep(0.01)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == code, stdout + stderr
    assert f"stopped by {sig.name}" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True and report["signal"] == sig.name
    assert report["counts"]["not_done"] > 0
    assert not _temporaries(out)  # no temporaries, no lock
    assert all(fio.is_complete(p, "npy") for p in out.glob("*.npy"))
    rest = jobs.process_files(src, out, STEPS, backend="cpu", resume=True, progress="quiet")
    assert rest.exit_code == 0 and len(rest.ok) + len(rest.skipped) == 400 and len(rest.skipped) > 0
    for i in (0, 150, 399):
        np.testing.assert_array_equal(np.load(out / f"{i:03d}.npy"), np.full((2, 64, 64), i, np.int16))


def test_resume_removes_stale_temporaries(tmp_path):
    src = _files(tmp_path / "in", 2)
    out = tmp_path / "out"
    jobs.process_files(src, out, STEPS, backend="cpu", progress="quiet")
    stale = [out / ".000.npy.0123abcd.part", out / "sub" / ".x.nii.deadbeef.part.nii.gz"]
    for p in stale:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half")
    keep = out / ".user-notes"  # not a fastct temporary
    keep.write_text("mine")
    summary = jobs.process_files(src, out, STEPS, backend="cpu", resume=True, progress="quiet")
    assert summary.exit_code == 0 and len(summary.skipped) == 2
    assert not any(p.exists() for p in stale) and keep.exists()


def test_resume_with_other_settings_exits_2_and_names_them(tmp_path, capsys):
    src = _files(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert cli.main(["process", str(src), "-o", str(out), "--steps", STEPS, "--backend", "cpu", "-q"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.glob("*.npy")}
    assert cli.main(["process", str(src), "-o", str(out), "--steps", "dilate:3", "--backend", "cpu",
                            "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert "steps: 'dilate:3' now, 'erode:3' in the folder" in err and "--overwrite" in err
    assert cli.main(["process", str(src), "-o", str(out), "--steps", STEPS, "--backend", "cpu",
                            "--format", "tiff", "--resume", "-q"]) == 2
    assert "format: 'tiff' now, 'same' in the folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.glob("*.npy")} == before  # nothing mixed in
    # --overwrite redoes everything with the new steps and a new manifest
    assert cli.main(["process", str(src), "-o", str(out), "--steps", "dilate:3", "--backend", "cpu",
                            "--overwrite", "-q"]) == 0
    assert Manifest.load(out).settings["steps"] == "dilate:3"


def test_resume_redoes_outputs_whose_source_changed(tmp_path):
    src = _files(tmp_path / "in", 3)
    out = tmp_path / "out"
    jobs.process_files(src, out, STEPS, backend="cpu", progress="quiet")
    changed = np.full((1, 16, 16), 77, np.int16)
    np.save(src / "001.npy", changed)
    st = os.stat(src / "001.npy")
    os.utime(src / "001.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    summary = jobs.process_files(src, out, STEPS, backend="cpu", resume=True, progress="quiet")
    assert [r.source.name for r in summary.ok] == ["001.npy"]
    assert sorted(r.source.name for r in summary.skipped) == ["000.npy", "002.npy"]
    np.testing.assert_array_equal(np.load(out / "001.npy"), changed)


def test_a_png_series_killed_midway_is_completed_by_resume(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    volume = np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8)
    np.save(src / "vol.npy", volume)
    out = tmp_path / "out"
    first = jobs.process_files(src, out, STEPS, backend="cpu", fmt="png", progress="quiet")
    slices = sorted(p.name for p in first.ok[0].outputs)
    assert slices == ["vol_0.png", "vol_1.png", "vol_2.png", "vol_3.png"]
    expected = {p.name: p.read_bytes() for p in first.ok[0].outputs}
    # what a kill after two slices leaves: two files and no manifest line for them
    for name in slices[2:]:
        (out / name).unlink()
    (out / slices[0]).write_bytes(b"\x89PNG stale")
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    (out / MANIFEST_NAME).write_text(lines[0] + "\n")
    summary = jobs.process_files(src, out, STEPS, backend="cpu", fmt="png", resume=True, progress="quiet")
    assert summary.exit_code == 0 and len(summary.ok) == 1
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == expected


def test_a_second_run_into_the_same_folder_exits_2(tmp_path, capsys):
    src = _files(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):
        assert cli.main(["process", str(src), "-o", str(out), "--steps", STEPS, "--backend", "cpu",
                                "-q"]) == 2
        err = capsys.readouterr().err
        assert f"another fastct run (pid {os.getpid()}" in err and str(out) in err
    assert not list(out.glob("*.npy"))


def test_a_stale_lock_does_not_block(tmp_path):
    src = _files(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".fastct.lock").write_text(json.dumps({"pid": 999999, "host": "gone", "started": "yesterday"}))
    summary = jobs.process_files(src, out, STEPS, backend="cpu", progress="quiet")
    assert summary.exit_code == 0 and not (out / ".fastct.lock").exists()


def test_processes_and_threads_write_the_same_outputs(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        np.save(src / f"{i}.npy", rng.integers(-1000, 2000, (1 + i % 3, 20, 24)).astype(np.int16))
    a = jobs.process_files(src, tmp_path / "t", "erode:3,gaussian:1", backend="cpu", executor="threads",
                           progress="quiet")
    b = jobs.process_files(src, tmp_path / "p", "erode:3,gaussian:1", backend="cpu", executor="processes",
                           workers=2, chunk_size=2, progress="quiet")
    assert (a.executor, b.executor, b.workers) == ("threads", "processes", 2)
    assert a.exit_code == b.exit_code == 0 and a.slices == b.slices == 24
    for i in range(12):
        np.testing.assert_array_equal(np.load(tmp_path / "t" / f"{i}.npy"), np.load(tmp_path / "p" / f"{i}.npy"))
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["executor"] == "processes" and report["seconds"]["read"] > 0 and report["seconds"]["compute"] > 0


_FORK_PROBE = """
import sys
import numpy as np
import fastct.jobs.executors as ex
from fastct.jobs import process_files

seen = []
start = ex.ProcessExecutor._start


def _start(self, work, sample=None, meta=None, fork=None):
    seen.append(fork)
    return start(self, work, sample, meta, fork)


if __name__ == "__main__":
    ex.ProcessExecutor._start = _start
    for i in range(4):
        np.save(f"{sys.argv[1]}/{i}.npy", np.full((1, 32, 32), i, np.int16))
    summary = process_files(sys.argv[1], sys.argv[2], "erode:3,gaussian:1", backend="cpu",
                            executor="processes", workers=2, progress="quiet")
    print(summary.exit_code, seen)
"""


def test_cpu_workers_are_forked_with_the_warm_kernels(tmp_path):
    """As from the command line: workers are forked after the warm-up (inheriting its kernels), not
    spawned (re-importing and reloading everything, about a second each); scipy's BLAS threads,
    started while numba loads the kernels, must not stop that."""
    (tmp_path / "in").mkdir()
    probe = tmp_path / "probe.py"
    probe.write_text(_FORK_PROBE)
    run = subprocess.run([sys.executable, str(probe), str(tmp_path / "in"), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[-2] == "0 [True]", run.stdout


class _DyingWork(jobs.PipelineWork):
    """Kills its worker process on one file, as the kernel's OOM killer would."""

    def read(self, job):
        if job.source.name == "003.npy":
            os._exit(9)
        return super().read(job)


def test_a_dead_worker_process_fails_its_files_and_the_rest_go_on(tmp_path):
    src = _files(tmp_path / "in", 8)
    summary = jobs.run_work(_DyingWork(STEPS, "cpu"), src, tmp_path / "out", executor=jobs.ProcessExecutor(2),
                            chunk_size=3, progress="quiet")
    assert summary.exit_code == 1
    failed = {r.source.name: r.error for r in summary.failed}
    assert set(failed) == {"003.npy"} and "worker process died" in failed["003.npy"], failed
    assert len(summary.ok) == 7


class _CopyWork(jobs.Work):
    """A second kind of work: copy files unchanged (what a de-identifying copy builds on)."""

    name = "copy"

    def settings(self):
        return {"copy": 1}

    def read(self, job):
        return job.source.read_bytes(), None

    def write(self, job, result, meta, *, overwrite):
        job.output.parent.mkdir(parents=True, exist_ok=True)
        return [fio.write_bytes_atomic(job.output, result, overwrite=overwrite)]


def test_another_kind_of_work_runs_through_the_same_engine(tmp_path):
    src = _files(tmp_path / "in", 3)
    out = tmp_path / "out"
    summary = jobs.run_work(_CopyWork(), src, out, executor="threads", progress="quiet")
    assert summary.exit_code == 0 and summary.work == "copy"
    assert all((out / f"{i:03d}.npy").read_bytes() == (src / f"{i:03d}.npy").read_bytes() for i in range(3))
    again = jobs.run_work(_CopyWork(), src, out, resume=True, executor="processes", workers=2, progress="quiet")
    assert len(again.skipped) == 3
    with pytest.raises(jobs.ManifestMismatchError, match="work: 'process' now, 'copy'"):
        jobs.process_files(src, out, STEPS, backend="cpu", resume=True, progress="quiet")


class _Policy:
    """A stand-in for a de-identification policy: what the write stage calls."""

    calls: list = []

    def __init__(self, tag):
        self.tag = tag

    def settings(self):
        return {"profile": self.tag}

    def apply_to_meta(self, meta):
        _Policy.calls.append(meta.path.name)
        return meta


def test_deidentify_reaches_the_write_stage_and_the_manifest(tmp_path):
    src = _files(tmp_path / "in", 2)
    out = tmp_path / "out"
    _Policy.calls.clear()
    summary = jobs.process_files(src, out, STEPS, backend="cpu", deidentify=_Policy("basic"), executor="threads",
                                 progress="quiet")
    assert summary.exit_code == 0 and sorted(_Policy.calls) == ["000.npy", "001.npy"]
    assert Manifest.load(out).settings["deidentify"] == {"profile": "basic"}
    with pytest.raises(jobs.ManifestMismatchError, match="deidentify"):
        jobs.process_files(src, out, STEPS, backend="cpu", deidentify=_Policy("other"), resume=True,
                           progress="quiet")


def test_the_user_is_told_when_kernels_compile(tmp_path, monkeypatch, capsys):
    src = _files(tmp_path / "in", 2)
    monkeypatch.setattr(run_module, "COMPILE_NOTICE_AFTER", 0.0)
    jobs.process_files(src, tmp_path / "out", STEPS, backend="cpu", executor="threads", progress="log")
    err = capsys.readouterr().err
    assert "compiling kernels for int16 (first run only" in err and "kernels ready for int16 in" in err


def test_report_has_a_schema_version_and_stage_times(tmp_path):
    src = _files(tmp_path / "in", 3)
    summary = jobs.process_files(src, tmp_path / "out", STEPS, backend="cpu", progress="quiet")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["schema_version"] == jobs.SCHEMA_VERSION
    assert set(report["seconds"]) >= {"wall", "read", "compute", "write", "wait"}
    busy = sum(report["seconds"][k] for k in ("read", "compute", "write", "wait"))
    assert busy == pytest.approx(summary.wall_seconds * summary.workers, rel=0.05, abs=0.01)
    assert "worker time: read" in summary.describe()


def test_the_old_module_names_still_import():
    from fastct import distributed, runner

    assert runner.process_files is jobs.process_files
    assert distributed.process_dask is fastct.dask_arrays.process_dask



def test_warmup_command(capsys):
    assert cli.main(["warmup", "--dtypes", "int16,uint8", "--steps", STEPS]) == 0
    out = capsys.readouterr().out
    assert "int16: kernels ready in" in out and "uint8: kernels ready in" in out and "cache" in out


def test_resumes_append_to_one_journal(tmp_path):
    src = _files(tmp_path / "in", 3)
    out = tmp_path / "out"
    jobs.process_files(src, out, STEPS, backend="cpu", progress="quiet")
    for _ in range(2):
        jobs.process_files(src, out, STEPS, backend="cpu", resume=True, progress="quiet")
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 1 + 3  # the header and one line per output, however many resumes
    entry = json.loads(lines[1])
    assert set(entry) == {"output", "files", "sources"} and set(entry["sources"][0]) == {"path", "size", "mtime_ns"}
    assert json.loads(lines[0])["settings"]["steps"] == STEPS and json.loads(lines[0])["fastct"] == fastct.__version__
