"""Linear filters: Gaussian blur, unsharp mask, Laplacian sharpening (CPU twin of ``gpu/filters.py``).

The Gaussian is a one-stage chain of :mod:`fastct.cpu.fused` (separable, per
band of rows, symmetric taps folded). Integer images use exact fixed-point
taps, accumulated in float32 where the sums stay below 2**24 (OpenCV's small
dyadic kernels) and in float64 otherwise (see :mod:`fastct._shared.gaussian`
and :func:`fastct._shared.fusion.accumulator_dtype`); float images in float32.
"""

from __future__ import annotations

import numpy as np

from .._shared.borders import border_index_map
from .._shared.fusion import STAGE_LINEAR, ChainStage
from .._shared.validation import integer_limits
from ._jit import add_scaled, fill_line, jobjit, widen
from ._threads import run_jobs
from .fused import run_chain
from .intensity import row_jobs

#: Rows per work item; patchable in tests to make small images cross bands.
BAND_ROWS = 32


def _limits(dtype):
    """Saturation bounds for writing ``dtype`` (unused for floats)."""
    if np.dtype(dtype).kind == "f":
        return 0, -1, 1
    lo, hi = integer_limits(dtype)
    return 0, lo, hi


def _border_cval(cval, mode):
    """cval as the kernels take it: only mode constant reads it, so never cast another."""
    return cval if mode == "constant" else 0


def gaussian_blur(batch, out, *, taps_y, taps_x, mode, cval):
    """Separable convolution with ``taps_y`` (rows) and ``taps_x`` (columns): a one-stage chain."""
    stage = ChainStage(STAGE_LINEAR, len(taps_y), len(taps_x), taps_y, taps_x, mode, _border_cval(cval, mode))
    return run_chain(batch, out, [stage])


#: Slices blurred at a time by :func:`unsharp_mask`: the blurred temporary is
#: this many slices, not the whole batch.
UNSHARP_CHUNK_SLICES = 4


def unsharp_mask(batch, out, *, taps_y, taps_x, amount, mode, cval):
    """``x + amount * (x - gaussian(x))``; integers blur to integers first."""
    n, h, w = batch.shape
    chunk = max(1, min(n, UNSHARP_CHUNK_SLICES))
    blurred = np.empty((chunk, h, w), out.dtype)
    _, lo, hi = _limits(out.dtype)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        part, tmp = batch[start:stop], blurred[: stop - start]
        gaussian_blur(part, tmp, taps_y=taps_y, taps_x=taps_x, mode=mode, cval=cval)
        rows, jobs = row_jobs((stop - start) * h, w)
        # amount is cast to float32 inside add_scaled
        run_jobs(_unsharp_combine, (part, tmp, out[start:stop], float(amount), lo, hi, rows), jobs)
    return out


def sharpen(batch, out, *, amount, neighbours, mode, cval):
    """``x + amount * (k x - sum of its k neighbours)`` with k = 4 or 8.

    ``amount=1, neighbours=4`` is the classic kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``.
    """
    cval = _border_cval(cval, mode)
    n, h, w = batch.shape
    rows_map = border_index_map(h, 1, 1, mode)
    cols_map = border_index_map(w, 1, 1, mode)
    acc_type = np.float32 if out.dtype.kind == "f" else np.int64
    _, lo, hi = _limits(out.dtype)
    band = max(1, min(h, BAND_ROWS))
    args = (batch, out, rows_map, cols_map, acc_type(cval), float(amount), neighbours == 8, lo, hi, band)
    run_jobs(_sharpen_kernel, args, n * -(-h // band))
    return out


# ---------------------------------------------------------------------------
# kernels: serial functions over a range of jobs, spread over threads by
# :func:`~fastct.cpu._threads.run_jobs` (see :mod:`fastct.cpu.fused` for why
# not ``prange``).


@jobjit
def _unsharp_combine(src, blurred, dst, amount, lo, hi, rows, first_job, end_job):
    """Jobs ``first_job:end_job``; job ``j`` is rows ``j * rows`` to ``(j + 1) * rows`` of the ``N * H`` rows."""
    n_slices, h, w = src.shape
    for job in range(first_job * rows, min(end_job * rows, n_slices * h)):
        n = job // h
        y = job % h
        s = src[n, y]
        b = blurred[n, y]
        d = dst[n, y]
        for x in range(w):
            # Widen before subtracting: uint8/uint16 differences must not wrap.
            d[x] = add_scaled(s[x], widen(s[x]) - widen(b[x]), amount, lo, hi)


@jobjit
def _sharpen_kernel(src, dst, rows_map, cols_map, cval, amount, eight, lo, hi, band, first_job, end_job):
    """Jobs ``first_job:end_job``; job ``j`` is band ``j % n_bands`` of slice ``j // n_bands``."""
    h, w = src.shape[1], src.shape[2]
    n_bands = (h + band - 1) // band
    centre = 8 if eight else 4
    # cval has the accumulator type (int64 or float32); the band buffer takes it too.
    proto = np.full(1, cval)
    padded_full = np.empty((band + 2, w + 2), proto.dtype)  # once per chunk of jobs
    for job in range(first_job, end_job):
        n = job // n_bands
        y0 = (job % n_bands) * band
        y1 = min(h, y0 + band)
        padded = padded_full[: y1 - y0 + 2]
        for r in range(y1 - y0 + 2):
            fill_line(src, n, rows_map[y0 + r], cols_map, 1, cval, padded[r])
        for y in range(y1 - y0):
            up, mid, down = padded[y], padded[y + 1], padded[y + 2]
            res = dst[n, y0 + y]
            for x in range(w):
                lap = centre * mid[x + 1] - mid[x] - mid[x + 2] - up[x + 1] - down[x + 1]
                if eight:
                    lap = lap - up[x] - up[x + 2] - down[x] - down[x + 2]
                res[x] = add_scaled(src[n, y0 + y, x], lap, amount, lo, hi)
