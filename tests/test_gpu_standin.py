"""The CuPy-facing code, run here through a CuPy stand-in (no GPU needed).

``tests/gpu_standin`` holds a ``cupy`` (and ``cupyx``) package whose arrays
wrap NumPy arrays, refuse implicit conversion like CuPy's, and whose
``RawModule`` runs fastct's kernels in the CPU emulator (``tests/gpu_emulator``).
With it first on ``PYTHONPATH`` (:func:`gpu_env.standin_env`), a subprocess
runs the *CUDA* half of tests/test_gpu_parity.py
(``fastct.gpu._runtime.CupyRuntime``, CuPy in -> CuPy out through
``fastct.ops``, streams and pinned buffers of the chunked path) and
benchmarks/gpu_bench.py in its GPU mode. This checks fastct's use of CuPy's
API surface, not CuPy itself; ``ci/gpu.sh`` runs the real thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gpu_env import ROOT, emulator_skip_reason, standin_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def standin_ok():
    reason = emulator_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.skipif(
    os.environ.get("FASTCT_STANDIN_FULL") != "1",
    reason="about 4 minutes on 2 cores: set FASTCT_STANDIN_FULL=1 to run the CUDA parity paths through the stand-in",
)
def test_cuda_paths_through_the_cupy_standin(standin_ok):
    select = ("cuda and (device_in or chunked or run_segments or real_ct or default_pipeline"
              " or (pipelines and small) or (equalize_hist and small) or (clahe and small and uint16))")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/test_gpu_parity.py", "-k",
         select], cwd=ROOT, env=standin_env(), capture_output=True, text=True, timeout=1800, check=False)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and "failed" not in proc.stdout, tail


def test_gpu_benchmark_runs_through_the_cupy_standin(standin_ok, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_bench.py", "--slices", "2", "--size", "24", "--repeats", "1",
         "--clahe-slices", "1", "--output", str(out)], cwd=ROOT, env=standin_env(), capture_output=True, text=True,
        timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["default_pipeline_identical_to_cpu"] is True
    assert report["versions"]["cupy"].endswith("standin")
    failed = [r for r in report["results"] if "error" in r]
    assert not failed, failed


def test_test_doubles_stay_out_of_the_package():
    # The stand-in and the emulator live under tests/: an installed fastct holds
    # neither, and this session's `import cupy` (if any) is not the stand-in.
    package = ROOT / "fastct"
    doubles = [p for p in package.rglob("*") if p.name in ("_emulator", ".standin", "emu.h")]
    assert not doubles, doubles
    cupy = sys.modules.get("cupy")
    assert cupy is None or "gpu_standin" not in str(getattr(cupy, "__file__", "")), cupy
