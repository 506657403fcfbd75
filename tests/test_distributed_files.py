"""Files on a real Dask cluster (loopback only): the Dask executor gives the local run's outputs and report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import fastct  # noqa: E402
from fastct import jobs  # noqa: E402
from fastct.dask_arrays import limit_numba_threads  # noqa: E402
from fastct.errors import OutputExistsError  # noqa: E402

STEPS = "erode:3,gaussian:1"


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes with one thread each, on 127.0.0.1."""
    from distributed import Client

    cl = jobs.local_cluster(2, 1)
    client = Client(cl)
    yield client
    client.close()
    cl.close()


def _tree(root: Path, n_good=6, bad=True):
    rng = np.random.default_rng(7)
    (root / "a").mkdir(parents=True)
    (root / "b c").mkdir()
    for i in range(n_good):
        folder = root / ("a" if i % 2 else "b c")
        np.save(folder / f"scan{i}.npy", rng.integers(-1000, 2000, (3, 24, 20)).astype(np.int16))
    if bad:
        (root / "a" / "broken.npy").write_bytes(b"not an array")
        (root / "a" / "empty.npy").write_bytes(b"")
    return root


def _outputs(folder: Path) -> dict:
    return {p.relative_to(folder): np.load(p) for p in sorted(folder.rglob("*.npy"))}


def test_cluster_matches_the_local_command(tmp_path, cluster):
    src = _tree(tmp_path / "in")
    local = jobs.process_files(src, tmp_path / "local", STEPS, backend="cpu", progress="quiet")
    dist = jobs.process_files(src, tmp_path / "dist", STEPS, client=cluster, progress="quiet")
    assert dist.exit_code == local.exit_code == 1  # bad files, reported, the rest written
    assert [(str(r.source), r.status) for r in dist.results] == [(str(r.source), r.status) for r in local.results]
    assert len(dist.ok) == len(local.ok) == 6 and dist.slices == local.slices == 18
    a, b = _outputs(tmp_path / "local"), _outputs(tmp_path / "dist")
    assert a.keys() == b.keys() and len(a) == 6
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    report = json.loads((tmp_path / "dist" / "report.json").read_text())
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    assert report["counts"] == local_report["counts"]
    assert report["counts"]["ok"] == 6 and report["counts"]["not_done"] == 0
    assert report["executor"] == "dask" and local.executor in ("threads", "processes")
    assert {Path(f["input"]).name for f in report["failed"] + report["skipped"]} == {"broken.npy", "empty.npy"}


def test_worker_threads_follow_threads_per_worker(cluster):
    def numba_threads():
        limit_numba_threads()
        import numba

        return numba.get_num_threads()

    counts = cluster.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
    assert set(counts.values()) == {"1"}
    futures = [cluster.submit(numba_threads, pure=False) for _ in range(4)]
    assert {f.result() for f in futures} == {1}


def test_resume_and_existing_outputs_on_the_cluster(tmp_path, cluster):
    src = _tree(tmp_path / "in", bad=False)
    first = jobs.process_files(src, tmp_path / "out", STEPS, client=cluster, progress="quiet")
    assert first.exit_code == 0
    with pytest.raises(OutputExistsError):
        jobs.process_files(src, tmp_path / "out", STEPS, client=cluster, progress="quiet")
    again = jobs.process_files(src, tmp_path / "out", STEPS, client=cluster, resume=True, progress="quiet")
    assert len(again.skipped) == 6 and again.exit_code == 0


def _many_files(root: Path, n: int):
    rng = np.random.default_rng(3)
    root.mkdir(parents=True)
    for i in range(n):
        np.save(root / f"s{i:02d}.npy", rng.integers(-1000, 2000, (4, 64, 64)).astype(np.int16))
    return root


def test_a_killed_worker_loses_nothing(tmp_path):
    """Kill a worker process mid-run: every output still appears exactly once, complete."""
    from distributed import Client

    n = 40
    src = _many_files(tmp_path / "in", n)
    out = tmp_path / "out"
    cl = jobs.local_cluster(2, 1)
    client = Client(cl)
    seen_at_kill = []
    try:
        pid = next(iter(client.run(os.getpid).values()))

        def kill_after_first_output():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done = list(out.glob("*.npy")) if out.exists() else []
                if done:
                    seen_at_kill.append(len(done))
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_after_first_output)
        killer.start()
        summary = jobs.process_files(src, out, STEPS, client=client, progress="quiet")
        killer.join()
    finally:
        client.close()
        cl.close()
    assert seen_at_kill and seen_at_kill[0] < n  # the kill really happened mid-run
    outputs = sorted(out.glob("*.npy"))
    assert [p.name for p in outputs] == [f"s{i:02d}.npy" for i in range(n)]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".fastct-manifest.jsonl"]
    assert summary.exit_code == 0 and len(summary.ok) == n
    for p in outputs:
        np.testing.assert_array_equal(np.load(p), fastct.process(np.load(src / p.name), STEPS, backend="cpu"))


def test_cli_scheduler_local(tmp_path):
    src = _tree(tmp_path / "in", n_good=2)
    proc = subprocess.run(
        [sys.executable, "-m", "fastct.cli", "process", str(src), "-o", str(tmp_path / "out"), "--steps", STEPS,
         "--scheduler", "local:2", "--backend", "cpu", "-q", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # the two bad files
    report = json.loads(proc.stdout)
    assert report["counts"]["ok"] == 2 and report["counts"]["failed"] + report["counts"]["skipped"] == 2
    bad = subprocess.run([sys.executable, "-m", "fastct.cli", "process", str(src), "-o", str(tmp_path / "o2"),
                          "--scheduler", "nowhere"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "scheduler" in bad.stderr
