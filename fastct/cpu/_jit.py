"""Numba set-up shared by the CPU kernels: cache location and JIT decorators.

Kernels are compiled lazily on first call (never at import) and cached on
disk. The cache lives in ``__pycache__`` beside these files; when that folder
is read-only (a system-wide install), ``NUMBA_CACHE_DIR`` is pointed at a
per-user cache folder before numba is imported, so the cache still works.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _is_writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fastct-write-test-"):
            pass
        return True
    except OSError:
        return False


def user_cache_dir() -> Path:
    """Per-user cache folder: ``$XDG_CACHE_HOME/fastct/numba`` or ``~/.cache/fastct/numba``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastct" / "numba"


def choose_cache_dir(package_dir: Path = _PACKAGE_DIR, writable=_is_writable) -> str | None:
    """The cache folder to force, or None to keep numba's default (beside the sources).

    An explicit ``NUMBA_CACHE_DIR`` always wins.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if writable(package_dir / "__pycache__"):
        return None
    return str(user_cache_dir())


def configure_cache() -> None:
    """Point numba's cache at a writable folder (call before numba is imported)."""
    forced = choose_cache_dir()
    if forced is None:
        return
    os.environ["NUMBA_CACHE_DIR"] = forced
    import sys

    if "numba" in sys.modules:  # imported earlier by the application: set it live too
        from numba.core import config

        config.CACHE_DIR = forced


def cache_dir() -> str:
    """Where compiled kernels are cached."""
    return os.environ.get("NUMBA_CACHE_DIR") or str(_PACKAGE_DIR / "__pycache__")


configure_cache()

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba.core import types  # noqa: E402
from numba.extending import overload  # noqa: E402

#: Serial kernel: cached, releases the GIL (usable from Dask/thread pools).
jit = numba.njit(cache=True, nogil=True)

#: Serial kernel over a range of jobs, spread over threads by
#: :func:`fastct.cpu._threads.run_jobs`. NumPy's error model (no zero checks
#: on integer ``//`` and ``%``, as in ``prange`` bodies): the exception paths
#: of the Python model kept LLVM from optimising the inlined chain as well,
#: about 15% slower. Callers validate everything a division depends on.
jobjit = numba.njit(cache=True, nogil=True, error_model="numpy")
#: Row-level helper of a kernel: no reference counting (``_nrt=False``).
#: numba otherwise increments and decrements an atomic counter each time a
#: row view is made or passed on, which costs more than the work on a
#: 512-pixel row. Such helpers cannot allocate, nor return views they made.
rowjit = numba.njit(cache=True, nogil=True, _nrt=False)
#: :data:`rowjit`, inlined into its callers by numba (small helpers returning a view).
rowjit_inline = numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
#: :data:`rowjit` for multiply-add loops: ``fastmath={"contract"}`` lets LLVM
#: fuse ``a * b + c`` into one FMA (exact for the fixed-point integer sums,
#: one rounding less per tap for floats); nothing else is relaxed.
linjit = numba.njit(cache=True, nogil=True, _nrt=False, fastmath={"contract"})


def finish(acc, shift, lo, hi):  # pragma: no cover - replaced by the overload inside kernels
    """Turn an accumulator into an output value (see the overload below)."""
    raise NotImplementedError


@overload(finish, jit_options={"cache": True})
def _finish_overload(acc, shift, lo, hi):
    # Integer accumulators hold fixed-point sums: round half up (floor of
    # acc + 1/2, an arithmetic shift) and saturate to the output range.
    # Float accumulators pass through unchanged.
    if isinstance(acc, types.Integer):

        def impl(acc, shift, lo, hi):
            v = (acc + (1 << (shift - 1))) >> shift if shift > 0 else acc
            return min(max(v, lo), hi)

        return impl

    def impl(acc, shift, lo, hi):
        return acc

    return impl


def add_scaled(x, d, amount, lo, hi):  # pragma: no cover - replaced by the overload
    """``x + amount * d`` with integer rounding rules (see the overload below)."""
    raise NotImplementedError


@overload(add_scaled, jit_options={"cache": True})
def _add_scaled_overload(x, d, amount, lo, hi):
    # Integers: x + rint(float32(amount) * float32(d)), saturated. One rounded
    # float32 product is reproducible on every IEEE machine (GPU included).
    # The step is clamped to +-2**32 before the int64 conversion (which is
    # undefined for huge or infinite floats): any |step| beyond the width of
    # an int16/uint16 range saturates the same way. d == 0 adds nothing, even
    # when float32(amount) overflows to inf (inf * 0 would be NaN).
    if isinstance(x, types.Integer):

        def impl(x, d, amount, lo, hi):
            if d == 0:
                return min(max(np.int64(x), lo), hi)
            step = np.rint(np.float32(amount) * np.float32(d))
            step = min(max(step, -4294967296.0), 4294967296.0)
            v = np.int64(x) + np.int64(step)
            return min(max(v, lo), hi)

        return impl

    def impl(x, d, amount, lo, hi):
        return np.float32(x) + np.float32(amount) * np.float32(d)

    return impl


def widen(v):  # pragma: no cover - replaced by the overload inside kernels
    """int64 for integers, float32 for floats: the arithmetic type of a pixel."""
    raise NotImplementedError


@overload(widen, jit_options={"cache": True})
def _widen_overload(v):
    if isinstance(v, types.Integer):
        return lambda v: np.int64(v)
    return lambda v: np.float32(v)


@jit
def fill_line(src, n, sy, cols_map, before, cval, line):
    """Copy source row ``sy`` of slice ``n`` into ``line`` with its border extension.

    ``line[before + x]`` receives column ``x``; ``cols_map`` gives the source
    column of every position of ``line`` (-1 = constant). A row index
    ``sy < 0`` is a row fully outside the slice (constant mode).
    """
    width = src.shape[2]
    if sy < 0:
        for j in range(line.shape[0]):
            line[j] = cval
        return
    row = src[n, sy]
    for j in range(before):
        s = cols_map[j]
        line[j] = row[s] if s >= 0 else cval
    for x in range(width):
        line[before + x] = row[x]
    for j in range(before + width, line.shape[0]):
        s = cols_map[j]
        line[j] = row[s] if s >= 0 else cval



# ---------------------------------------------------------------------------
# software prefetch

from llvmlite import binding as _llvm  # noqa: E402
from llvmlite import ir as _ir  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

# LLVM names intrinsics by pointer type: "p0" with opaque pointers (LLVM >= 15).
_PREFETCH = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


def _prefetch_codegen(write):
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = _ir.IntType(8).as_pointer()
        i32 = _ir.IntType(32)
        fnty = _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        # (address, read 0 / write 1, locality 3 = keep in every level, data cache)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(3), i32(1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def _prefetch_read(typingctx, arr, index):
    """``llvm.prefetch`` of ``arr[index]`` (1-D) for reading."""
    return types.void(arr, index), _prefetch_codegen(0)


@intrinsic
def _prefetch_write(typingctx, arr, index):
    """``llvm.prefetch`` of ``arr[index]`` (1-D) for writing (the line is fetched for ownership)."""
    return types.void(arr, index), _prefetch_codegen(1)


@numba.njit(cache=True, nogil=True, _nrt=False)
def prefetch_row(row):
    """Ask for every cache line of ``row`` ahead of reading it.

    Stencil kernels walk a slice row by row with real work between the row
    reads; the hardware prefetcher then falls behind and each new row waits
    on DRAM. Prefetching a few rows ahead roughly halves the time of the
    chains on batches larger than the caches.
    """
    step = max(1, 64 // row.itemsize)
    for x in range(0, row.shape[0], step):
        _prefetch_read(row, x)


@numba.njit(cache=True, nogil=True, _nrt=False)
def prefetch_row_for_write(row):
    """Fetch every cache line of ``row`` for writing ahead of time (see :func:`prefetch_row`).

    A store to a line not in cache first reads it; with compute between the
    row writes, those reads otherwise stall the stores.
    """
    step = max(1, 64 // row.itemsize)
    for x in range(0, row.shape[0], step):
        _prefetch_write(row, x)
