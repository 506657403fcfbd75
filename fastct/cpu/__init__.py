"""Backend ``"cpu"``: Numba kernels.

This is the only package that imports numba. Each module is the twin of the
module of the same name in :mod:`fastct.gpu` and exposes functions of the same
names, called by :mod:`fastct.ops` with a validated C-contiguous ``(N, H, W)``
batch, a preallocated ``out`` and already-resolved parameters.
"""

from ._jit import configure_cache as _configure_cache

_configure_cache()

from . import features, filters, frequency, fused, histogram, intensity, morphology  # noqa: E402

__all__ = [
    "empty", "move_like", "features", "filters", "frequency", "fused", "histogram", "intensity", "morphology",
    "runtime_info",
]


def empty(shape, dtype, like=None):
    """An uninitialised NumPy array (the CPU backend's results live in host memory)."""
    import numpy as np

    return np.empty(shape, dtype)


def move_like(array, like):
    """``array`` as it is: everything the CPU backend computes on lives in host memory."""
    return array


def runtime_info() -> dict:
    """Versions, thread count and cache folder of the CPU backend."""
    import numba

    return {
        "numba": numba.__version__,
        "threads": numba.get_num_threads(),
        "threading_layer": _threading_layer(),
        "cache_dir": _jit.cache_dir(),
    }


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return f"not started yet (configured: {numba.config.THREADING_LAYER})"


from . import _jit  # noqa: E402
