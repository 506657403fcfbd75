"""Point operations: HU windowing and RGB(A) to grey (CPU twin of ``gpu/intensity.py``)."""

from __future__ import annotations

import numpy as np

from .._shared.intensity import BT601, BT601_FIXED, BT601_SHIFT, window_terms
from .._shared.histogram import output_maxval
from ._jit import pjit, prange


def window(batch, out, *, center, width):
    """DICOM linear VOI window to [0, 1] (float32) or the full uint8/uint16 scale.

    Evaluated in float64 in the standard's order (see
    :func:`fastct._shared.intensity.window_terms`): the same bits on every
    backend, and for integer pixels, center and width exactly the rounded
    rational value (no output is ever a tie).
    """
    shift, divisor = window_terms(center, width)
    _window_kernel(batch, out, np.float64(shift), np.float64(divisor), np.float64(output_maxval(out.dtype)))
    return out


def to_gray(batch, out, *, channel_order):
    """BT.601 luma of an ``(N, H, W, C)`` batch, C = 3 or 4 (alpha ignored)."""
    r, b = (0, 2) if channel_order == "rgb" else (2, 0)
    if batch.dtype.kind == "f":
        wr, wg, wb = (np.float32(v) for v in BT601)
        _gray_float_kernel(batch, out, r, b, wr, wg, wb)
    else:
        wr, wg, wb = BT601_FIXED
        _gray_fixed_kernel(batch, out, r, b, wr, wg, wb, BT601_SHIFT)
    return out


@pjit
def _window_kernel(src, dst, shift, divisor, maxval):
    # y = (x - (c - 0.5)) / (w - 1) + 0.5, clipped: DICOM's formula, in float64.
    n_slices, h, w = src.shape
    integer_out = maxval > 1.0
    for job in prange(n_slices * h):
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


@pjit
def _gray_fixed_kernel(src, dst, r, b, wr, wg, wb, shift):
    # OpenCV's integer rule (8- and 16-bit): (R*9798 + G*19235 + B*3735 + 2**14) >> 15.
    n_slices, h, w = dst.shape
    half = 1 << (shift - 1)
    for job in prange(n_slices * h):
        n = job // h
        y = job % h
        for x in range(w):
            px = src[n, y, x]
            v = np.int64(px[r]) * wr + np.int64(px[1]) * wg + np.int64(px[b]) * wb
            dst[n, y, x] = (v + half) >> shift


@pjit
def _gray_float_kernel(src, dst, r, b, wr, wg, wb):
    n_slices, h, w = dst.shape
    for job in prange(n_slices * h):
        n = job // h
        y = job % h
        for x in range(w):
            px = src[n, y, x]
            dst[n, y, x] = np.float32(px[r]) * wr + np.float32(px[1]) * wg + np.float32(px[b]) * wb
