"""Point operations: HU windowing and RGB(A) to grey (CPU twin of ``gpu/intensity.py``)."""

from __future__ import annotations

import numpy as np

from .._shared.histogram import output_maxval
from .._shared.intensity import BT601, BT601_FIXED, BT601_SHIFT, window_terms
from ._jit import jobjit
from ._threads import run_jobs

#: Pixels per job of the point operations, at least: below that, handing a job
#: to another thread costs more than it saves (a 512x512 slice is one job).
POINT_JOB_PIXELS = 1 << 18


def row_jobs(n_rows: int, width: int) -> tuple[int, int]:
    """``(rows per job, jobs)`` for a point operation over ``n_rows`` rows of ``width`` pixels."""
    rows = max(1, -(-POINT_JOB_PIXELS // max(1, width)))
    return rows, -(-n_rows // rows)


def window(batch, out, *, center, width):
    """DICOM linear VOI window to [0, 1] (float32) or the full uint8/uint16 scale.

    Evaluated in float64 in the standard's order (see
    :func:`fastct._shared.intensity.window_terms`): the same bits on every
    backend, and for integer pixels, center and width exactly the rounded
    rational value (no output is ever a tie).
    """
    shift, divisor = window_terms(center, width)
    rows, jobs = row_jobs(batch.shape[0] * batch.shape[1], batch.shape[2])
    args = (batch, out, np.float64(shift), np.float64(divisor), np.float64(output_maxval(out.dtype)), rows)
    run_jobs(_window_kernel, args, jobs)
    return out


def to_gray(batch, out, *, channel_order):
    """BT.601 luma of an ``(N, H, W, C)`` batch, C = 3 or 4 (alpha ignored)."""
    r, b = (0, 2) if channel_order == "rgb" else (2, 0)
    rows, jobs = row_jobs(out.shape[0] * out.shape[1], out.shape[2])
    if batch.dtype.kind == "f":
        wr, wg, wb = (np.float32(v) for v in BT601)
        run_jobs(_gray_float_kernel, (batch, out, r, b, wr, wg, wb, rows), jobs)
    else:
        wr, wg, wb = BT601_FIXED
        run_jobs(_gray_fixed_kernel, (batch, out, r, b, wr, wg, wb, BT601_SHIFT, rows), jobs)
    return out


# ---------------------------------------------------------------------------
# kernels: serial functions over a range of jobs, spread over threads by
# :func:`~fastct.cpu._threads.run_jobs` (see :mod:`fastct.cpu.fused` for why
# not ``prange``). Job ``j`` is rows ``j * rows`` to ``(j + 1) * rows`` of the
# batch seen as ``N * H`` rows (a job may span slices).


@jobjit
def _window_kernel(src, dst, shift, divisor, maxval, rows, first_job, end_job):
    # y = (x - (c - 0.5)) / (w - 1) + 0.5, clipped: DICOM's formula, in float64.
    n_slices, h, w = src.shape
    integer_out = maxval > 1.0
    for job in range(first_job * rows, min(end_job * rows, n_slices * h)):
        n = job // h
        y = job % h
        s = src[n, y]
        d = dst[n, y]
        for x in range(w):
            v = (np.float64(s[x]) - shift) / divisor + 0.5
            v = min(max(v, 0.0), 1.0)
            if integer_out:
                v = np.rint(v * maxval)
            d[x] = v


# The grey kernels read a pixel's channels in the way numba compiles best for
# each (measured): the float kernel indexes the ``(W, C)`` row in 2-D (a view
# per pixel made it five times slower), the integer kernel takes a view per
# pixel (2-D indexing made it 40% slower).


@jobjit
def _gray_fixed_kernel(src, dst, r, b, wr, wg, wb, shift, rows, first_job, end_job):
    # OpenCV's integer rule (8- and 16-bit): (R*9798 + G*19235 + B*3735 + 2**14) >> 15.
    n_slices, h, w = dst.shape
    half = 1 << (shift - 1)
    for job in range(first_job * rows, min(end_job * rows, n_slices * h)):
        n = job // h
        y = job % h
        s = src[n, y]
        d = dst[n, y]
        for x in range(w):
            px = s[x]
            v = np.int64(px[r]) * wr + np.int64(px[1]) * wg + np.int64(px[b]) * wb
            d[x] = (v + half) >> shift


@jobjit
def _gray_float_kernel(src, dst, r, b, wr, wg, wb, rows, first_job, end_job):
    n_slices, h, w = dst.shape
    for job in range(first_job * rows, min(end_job * rows, n_slices * h)):
        n = job // h
        y = job % h
        s = src[n, y]
        d = dst[n, y]
        for x in range(w):
            d[x] = np.float32(s[x, r]) * wr + np.float32(s[x, 1]) * wg + np.float32(s[x, b]) * wb
