"""Benchmark inputs: CT phantom batches in each benchmarked dtype, on the host or the device."""

from __future__ import annotations

import numpy as np

from ..datasets import chest_phantom
from ..errors import InvalidArgumentError

DTYPES = ("int16", "uint8", "float32")
#: Distinct phantom slices in a batch; larger batches repeat them (a 512 x 512 phantom
#: slice takes about 0.15 s to draw, the filters' work does not depend on the content).
DISTINCT_SLICES = 8


def to_uint8(batch: np.ndarray) -> np.ndarray:
    """The classic 8-bit squeeze of Hounsfield units: ``(HU + 1024) >> 4``, saturated to [0, 255].

    Examples
    --------
    >>> to_uint8(np.array([-1024, 0, 3071, 5000], np.int16))
    array([  0,  64, 255, 255], dtype=uint8)
    """
    return np.clip((np.asarray(batch).astype(np.int32) + 1024) >> 4, 0, 255).astype(np.uint8)


def ct_batch(shape, dtype="int16", seed: int = 0) -> np.ndarray:
    """A synthetic chest CT batch of ``shape`` in ``dtype``.

    Parameters
    ----------
    shape : (int, int, int)
        ``(slices, height, width)``; slices are cut from square phantoms,
        at most :data:`DISTINCT_SLICES` different ones, repeated in turn.
    dtype : {"int16", "uint8", "float32"}
        int16 is Hounsfield units, uint8 the classic squeeze (:func:`to_uint8`),
        float32 the same HU values as floats.
    seed : int
        Seed of the phantom.

    Examples
    --------
    >>> b = ct_batch((2, 32, 48), "uint8")
    >>> b.shape, b.dtype
    ((2, 32, 48), dtype('uint8'))
    """
    n, h, w = (int(v) for v in shape)
    if dtype not in DTYPES:
        raise InvalidArgumentError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    distinct = chest_phantom(min(n, DISTINCT_SLICES), max(h, w, 16), seed=seed)[:, :h, :w]
    hu = distinct[np.arange(n) % len(distinct)] if n > len(distinct) else distinct
    return convert(hu, dtype)


def convert(hu: np.ndarray, dtype: str) -> np.ndarray:
    """Hounsfield units as a benchmarked dtype (see :func:`ct_batch`), C-contiguous.

    Examples
    --------
    >>> convert(np.array([-1024, 40], np.int16), "float32")
    array([-1024.,    40.], dtype=float32)
    >>> convert(np.array([-1024, 40], np.int16), "uint16")  # stored values: HU + 1024, as scanners write them
    array([   0, 1064], dtype=uint16)
    """
    if dtype == "uint8":
        return to_uint8(hu)
    if dtype == "uint16":
        return np.ascontiguousarray(np.clip(hu.astype(np.int32) + 1024, 0, 65535), dtype=np.uint16)
    return np.ascontiguousarray(hu, dtype=dtype)


class Batches:
    """Cache of benchmark inputs by (shape, dtype, backend): each is made once per run.

    Examples
    --------
    >>> cache = Batches()
    >>> a = cache.get((1, 32, 32), "float32", "cpu")
    >>> a is cache.get((1, 32, 32), "float32", "cpu")
    True
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._arrays: dict = {}

    def get(self, shape, dtype: str, backend: str = "cpu"):
        """The batch of ``shape`` and ``dtype``: a NumPy array, or a CuPy array for ``backend="gpu"``."""
        key = (tuple(int(v) for v in shape), dtype, backend)
        if key not in self._arrays:
            if backend == "gpu":
                import cupy

                self._arrays[key] = cupy.asarray(self.get(shape, dtype, "cpu"))
            elif dtype != "int16":  # every dtype holds the same phantom
                self._arrays[key] = convert(self.get(shape, "int16", "cpu"), dtype)
            else:
                self._arrays[key] = ct_batch(key[0], dtype, self.seed)
        return self._arrays[key]

    def clear(self) -> None:
        """Drop every cached batch."""
        self._arrays.clear()
