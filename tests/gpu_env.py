"""The two environments GPU twin tests run in (shared by the test_gpu_* files).

``cuda``
    The real backend on a CUDA device. Skipped where no GPU is usable; fails
    instead under ``FASTCT_REQUIRE_GPU=1`` (``ci/gpu.sh``).
``emulator``
    The same twins and the same ``.cu`` kernels on the CPU
    (``tests/gpu_emulator``: g++, fibers for threads). Skipped without a
    C++ compiler or with ``FASTCT_GPU_EMULATOR=0``.

A test module makes the fixture with
``gpu = pytest.fixture(scope="module", params=ENVIRONMENTS)(gpu_environment)``.

The CuPy-facing code (``CupyRuntime``, CuPy in -> CuPy out) runs without a
GPU in a subprocess whose ``import cupy`` finds the stand-in of
``tests/gpu_standin``: :func:`standin_env` makes that subprocess's
environment (see tests/test_gpu_standin.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gpu_emulator
import numpy as np
import pytest

import fastct.gpu
from fastct import backends
from fastct.gpu import _runtime

REQUIRE_GPU = os.environ.get("FASTCT_REQUIRE_GPU") == "1"
ENVIRONMENTS = ["cuda", "emulator"]
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: The ``cupy``/``cupyx`` stand-in packages (kept out of collection by conftest.py's ``collect_ignore``).
STANDIN = TESTS / "gpu_standin"


def standin_env() -> dict:
    """Environment of a subprocess that runs the CuPy-facing code through the stand-in.

    ``import cupy`` finds ``tests/gpu_standin``, whose kernels run in
    ``tests/gpu_emulator``; the repository root comes next so the checkout's
    fastct is the one imported. The CUDA tests may not skip there
    (``FASTCT_REQUIRE_GPU=1``), and the emulator environment is left to the
    calling session (``FASTCT_GPU_EMULATOR=0``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTCT_")}
    paths = [str(STANDIN), str(TESTS), str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["FASTCT_REQUIRE_GPU"] = "1"
    env["FASTCT_GPU_EMULATOR"] = "0"
    return env


def emulator_skip_reason() -> str | None:
    """Why the stand-in cannot run here (a real GPU session, no C++ compiler), or None."""
    if REQUIRE_GPU:
        return "a real GPU session: the stand-in is for machines without one"
    if gpu_emulator.compiler() is None:
        return "no C++ compiler for the CUDA emulator"
    return None


@dataclass
class Env:
    kind: str  # "cuda" or "emulator"
    runtime: object = None

    def device(self, a):
        """``a`` on the device: a CuPy array, or the emulator's DeviceArray."""
        if self.kind == "cuda":
            import cupy

            return cupy.asarray(a)
        return self.runtime.xp.asarray(a)

    def host(self, a):
        return a.get() if self.kind == "cuda" else np.asarray(a)


def gpu_environment(request):
    """Yield an :class:`Env` for ``request.param`` (see the module docstring), restoring the backend after."""
    if request.param == "cuda":
        backends.reset_probe_cache()
        st = backends.status("gpu")
        if not st.available:
            if REQUIRE_GPU:
                pytest.fail(f"GPU required but unusable: {st.reason}")
            pytest.skip(f"no usable GPU: {st.reason}")
        yield Env("cuda")
        return
    if os.environ.get("FASTCT_GPU_EMULATOR") == "0":
        pytest.skip("FASTCT_GPU_EMULATOR=0")
    if gpu_emulator.compiler() is None:
        pytest.skip("no C++ compiler for the CUDA emulator")
    runtime = gpu_emulator.EmulatedRuntime()
    previous = _runtime.use(runtime)
    real_info = fastct.gpu.runtime_info
    fastct.gpu.runtime_info = lambda: {"device": "CPU emulator"}
    backends.reset_probe_cache()
    try:
        yield Env("emulator", runtime)
    finally:
        fastct.gpu.runtime_info = real_info
        _runtime.use(previous)
        backends.reset_probe_cache()
