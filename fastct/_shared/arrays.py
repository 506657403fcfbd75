"""Recognise array types without importing their libraries."""

from __future__ import annotations

import numpy as np


def is_cupy_array(obj) -> bool:
    """True for a ``cupy.ndarray`` (checked by type, so cupy is never imported)."""
    return type(obj).__module__.split(".")[0] == "cupy"


def is_dask_array(obj) -> bool:
    """True for a ``dask.array.Array`` (checked by type, dask is never imported)."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "chunks")


def is_array(obj) -> bool:
    """True for objects fastct computes on: NumPy or CuPy arrays."""
    return isinstance(obj, np.ndarray) or is_cupy_array(obj)
