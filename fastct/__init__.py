"""fastct: fast, trustworthy preprocessing of CT image batches.

One API over two compute backends (Numba on the CPU, CuPy on NVIDIA GPUs).
Importing fastct imports neither numba nor cupy; backends load on first use.

Examples
--------
>>> import numpy as np, fastct
>>> batch = np.zeros((4, 64, 64), np.int16) - 1000     # four slices of air, in HU
>>> fastct.process(batch, backend="cpu").shape           # erode, dilate, blur, equalise
(4, 64, 64)
"""

from __future__ import annotations

import importlib as _importlib

from . import ops as _ops
from ._shared.footprints import ball, disk
from ._shared.intensity import WINDOW_PRESETS
from .backends import BackendStatus, available_backends
from .errors import *  # noqa: F403 - every error class is public at the top level
from .errors import __all__ as _error_names
from .ops import *  # noqa: F403 - every registered operation (fastct.ops.OPERATIONS)
from .ops import to_gray
from .pipeline import DEFAULT_STEPS, Pipeline, parse_steps, process

__version__ = "0.1.0"

#: Sub-packages loaded on first attribute access (``fastct.io.read(...)`` works
#: after a plain ``import fastct``), so the import itself stays cheap.
_LAZY_SUBMODULES = ("io", "ml", "datasets", "jobs", "dask_arrays", "deid", "runner", "distributed", "cpu", "gpu")

__all__ = [
    "__version__",
    # pipeline
    "process",
    "Pipeline",
    "parse_steps",
    "DEFAULT_STEPS",
    # operations: one entry per declaration in fastct.ops
    *_ops.OPERATIONS,
    "to_gray",
    "disk",
    "ball",
    "WINDOW_PRESETS",
    # backends
    "available_backends",
    "BackendStatus",
    # errors
    *_error_names,
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastct' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
