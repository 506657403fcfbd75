"""The two environments GPU twin tests run in (shared by the test_gpu_* files).

``cuda``
    The real backend on a CUDA device. Skipped where no GPU is usable; fails
    instead under ``FASTCT_REQUIRE_GPU=1`` (``ci/gpu.sh``).
``emulator``
    The same twins and the same ``.cu`` kernels on the CPU
    (:mod:`fastct.gpu._emulator`: g++, fibers for threads). Skipped without a
    C++ compiler or with ``FASTCT_GPU_EMULATOR=0``.

A test module makes the fixture with
``gpu = pytest.fixture(scope="module", params=ENVIRONMENTS)(gpu_environment)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

import fastct.gpu
from fastct import backends
from fastct.gpu import _runtime

REQUIRE_GPU = os.environ.get("FASTCT_REQUIRE_GPU") == "1"
ENVIRONMENTS = ["cuda", "emulator"]


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
    from fastct.gpu import _emulator

    if _emulator.compiler() is None:
        pytest.skip("no C++ compiler for the CUDA emulator")
    runtime = _emulator.EmulatedRuntime()
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
