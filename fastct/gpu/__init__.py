"""Backend ``"gpu"``: CuPy kernels (twin of :mod:`fastct.cpu`).

The GPU's kernels, streams, transfers and cuML live here, and only here.
Other modules import cupy lazily and only for arrays the caller already
holds on the GPU (to pick the array namespace, e.g. in :mod:`fastct._shared`
and :mod:`fastct.ml`) or when ``fastct bench`` times the GPU; nothing imports
it at ``import fastct``. Importing this package does no CUDA work either:
:func:`probe` runs once, on first use, through :mod:`fastct.backends`, and
the CUDA kernels (``kernels/*.cu``) compile with NVRTC the first time an op
needs them (CuPy caches the binaries on disk).

Every operation of the CPU backend has its GPU twin here, with the same
signature and semantics: integer inputs give the CPU backend's bits (the
frequency filters excepted: two FFT libraries can round a ``.5`` apart),
float32 results agree to 1e-5. A NumPy batch is uploaded once and the result
downloaded once (in chunks through two CUDA streams when it exceeds the
device's free memory); a CuPy batch stays on the device. See
:mod:`._transfer`, :mod:`._runtime`, :mod:`._geometry`.

Without a GPU, the tests run the same twins and ``.cu`` kernels on the CPU
under a CUDA emulator (``tests/gpu_emulator``, compared with the CPU backend
bit for bit), and the CuPy-facing code through a CuPy stand-in
(``tests/gpu_standin``); neither is part of the installed package.

``READY`` stays False until a run on a real GPU has verified the kernels
(``ci/gpu.sh``): until then ``backend="auto"`` keeps using the CPU, while an
explicit ``backend="gpu"`` runs these kernels. Setting the environment
variable ``FASTCT_GPU_READY=1`` before import marks the backend ready (so
``auto`` picks the GPU); ``ci/gpu.sh`` does this to run the whole suite on
the GPU.
"""

from __future__ import annotations

import os as _os

from . import features, filters, frequency, fused, histogram, intensity, morphology

#: True once the kernels are verified on a GPU; ``auto`` only picks a ready backend.
READY = _os.environ.get("FASTCT_GPU_READY") == "1"

__all__ = [
    "READY",
    "empty",
    "move_like",
    "features",
    "filters",
    "frequency",
    "fused",
    "histogram",
    "intensity",
    "morphology",
    "probe",
    "run_segments",
    "runtime_info",
    "synchronize",
    "to_device",
    "to_host",
]


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
        "compute_capability": cupy.cuda.Device().compute_capability,
    }


def runtime_info() -> dict:
    """Versions and device of the GPU backend (runs the probe)."""
    return probe()


def run_segments(batch, runners, out_dtype, out=None):
    """Run device callables (pipeline segments) in turn: one upload, one download for NumPy.

    :meth:`fastct.Pipeline.run` calls this for every pipeline on this backend.
    See :func:`fastct.gpu._transfer.run_segments`.
    """
    from . import _transfer

    return _transfer.run_segments(batch, runners, out_dtype, out=out)


def empty(shape, dtype, like):
    """An uninitialised array where ``like`` lives: on the device for a device array, else in NumPy."""
    import numpy as np

    if _on_host(like):  # the twin moves a host batch to the device and back itself
        return np.empty(shape, dtype)
    from . import _runtime

    return _runtime.get().xp.empty(shape, dtype)


def move_like(array, like):
    """``array`` where ``like`` lives: uploaded when ``like`` is on the device (a mask beside a batch)."""
    return array if _on_host(like) else to_device(array)


def _on_host(array) -> bool:
    import numpy as np

    return type(array) is np.ndarray  # the emulator's device arrays subclass ndarray


def synchronize() -> None:
    """Wait for the GPU work queued on the current stream (timings use it)."""
    from . import _runtime

    _runtime.get().synchronize()


def to_device(array):
    """A device copy of a NumPy array (a CuPy array is returned as it is)."""
    from . import _runtime

    rt = _runtime.get()
    return array if rt.is_device(array) else rt.upload(array)


def to_host(array):
    """A NumPy copy of a device array (a NumPy array is returned as it is)."""
    import numpy as np

    from . import _runtime

    rt = _runtime.get()
    if not rt.is_device(array):
        return array
    out = np.empty(array.shape, array.dtype)
    rt.download(array, out)
    return out
