"""Backend ``"gpu"``: CuPy kernels (twin of :mod:`fastct.cpu`).

This is the only package allowed to import cupy (or cuML). Importing it does
no CUDA work; :func:`probe` runs once, on first use, through
:mod:`fastct.backends`.

The GPU kernels are not part of this version yet: every twin function raises
:class:`~fastct.errors.NotImplementedOnBackend` naming its operation, and
``backend="auto"`` keeps using the CPU (``READY`` is False). Nothing falls
back silently when ``backend="gpu"`` is asked for explicitly.
"""

from __future__ import annotations

from . import filters, frequency, histogram, intensity, morphology

#: True once every operation has a GPU kernel; ``auto`` only picks a ready backend.
READY = False

__all__ = ["READY", "filters", "frequency", "histogram", "intensity", "morphology", "probe", "runtime_info"]


def probe() -> dict:
    """Check that CuPy imports, a CUDA device exists and a tiny kernel runs.

    Returns a description of the device; raises whatever went wrong (the
    dispatcher turns it into :class:`~fastct.errors.BackendUnavailable`).
    """
    import cupy

    count = cupy.cuda.runtime.getDeviceCount()
    if count < 1:
        raise RuntimeError("CuPy found no CUDA device")
    x = cupy.arange(16, dtype=cupy.float32)
    if float((x * 2).sum()) != 240.0:
        raise RuntimeError("a test kernel on the GPU returned a wrong result")
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return {
        "cupy": cupy.__version__,
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "devices": count,
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
    }


def runtime_info() -> dict:
    """Versions and device of the GPU backend (runs the probe)."""
    return probe()
