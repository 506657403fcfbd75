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

from ._shared.footprints import disk
from ._shared.intensity import WINDOW_PRESETS
from .backends import BackendStatus, available_backends
from .errors import (
    BackendUnavailable,
    FastCTError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    NotImplementedOnBackend,
    StepError,
)
from .ops import (
    clahe,
    closing,
    dilate,
    equalize_hist,
    erode,
    gaussian_blur,
    highpass,
    lowpass,
    opening,
    sharpen,
    to_gray,
    unsharp_mask,
    window,
)
from .pipeline import DEFAULT_STEPS, Pipeline, parse_steps, process

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # pipeline
    "process",
    "Pipeline",
    "parse_steps",
    "DEFAULT_STEPS",
    # operations
    "erode",
    "dilate",
    "opening",
    "closing",
    "gaussian_blur",
    "lowpass",
    "highpass",
    "unsharp_mask",
    "sharpen",
    "equalize_hist",
    "clahe",
    "window",
    "to_gray",
    "disk",
    "WINDOW_PRESETS",
    # backends
    "available_backends",
    "BackendStatus",
    # errors
    "FastCTError",
    "InvalidArgumentError",
    "InvalidDTypeError",
    "NonFiniteError",
    "StepError",
    "BackendUnavailable",
    "NotImplementedOnBackend",
]
