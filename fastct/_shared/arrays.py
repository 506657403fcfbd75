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


def array_namespace(array):
    """``cupy`` for a CuPy array, else ``numpy``: the module whose functions apply to ``array``.

    CuPy is imported only when the caller already holds a CuPy array.

    Examples
    --------
    >>> array_namespace(np.zeros(3)).__name__
    'numpy'
    """
    if is_cupy_array(array):
        import cupy

        return cupy
    return np


def shares_memory(a, b) -> bool:
    """True when array ``a`` and ``b`` (an array or anything else) overlap in memory."""
    return bool(array_namespace(a).shares_memory(a, b)) if is_array(b) else False
