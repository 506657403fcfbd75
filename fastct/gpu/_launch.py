"""Small helpers shared by the GPU twins: kernels, launches, typed scalars."""

from __future__ import annotations

import numpy as np

from . import _geometry, _kernels, _runtime


def kernels(file: str, dtype, *names: str) -> list:
    """The kernels ``names`` of ``file`` for pixel ``dtype``.

    All of the file's instantiations for that dtype are compiled together as
    one module (memoized per device, keyed on the file and the names).
    """
    rt = _runtime.get()
    group = _kernels.for_dtype(file, dtype)
    missing = [n for n in names if n not in group]
    if missing:
        raise RuntimeError(f"{file}: no instantiation {missing} for {dtype} in fastct.gpu._kernels")
    return [rt.kernel(file, group, name) for name in names]


def launch(kernel, grid, block, *args, shared_mem: int = 0) -> None:
    """Enqueue ``kernel`` on the current stream. Scalars must be NumPy scalars of the C type."""
    _runtime.get().launch(kernel, grid, block, args, shared_mem)


def to_device(array, dtype=None):
    """A small parameter array (maps, taps, offsets) on the device, C-contiguous."""
    host = np.ascontiguousarray(array if dtype is None else np.asarray(array).astype(dtype))
    return _runtime.get().xp.asarray(host)


def dummy(dtype=np.int32):
    """A one-element device array for pointer arguments a launch does not read."""
    return _runtime.get().xp.zeros(1, dtype)


def threads() -> tuple[int]:
    return (_geometry.BLOCK_THREADS,)


i32 = np.int32
i64 = np.int64
f64 = np.float64


def f32(value):
    """float32 scalar; values beyond its range become +-inf silently (as numba's casts do)."""
    with np.errstate(over="ignore"):
        return np.float32(value)
