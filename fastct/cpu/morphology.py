"""Grey-scale morphology with flat footprints (CPU twin of ``gpu/morphology.py``).

Full rectangles run separably (a row pass then a column pass, each a running
min/max); other footprints take the min/max over their offsets. Work is split
into bands of rows per slice so both small and large batches use every core,
and each band's rows stay in cache between the two passes.
"""

from __future__ import annotations

import numpy as np

from .._shared.borders import border_index_map
from .._shared.footprints import footprint_offsets, is_rectangle
from ._jit import fill_line, pjit, prange

#: Rows per work item; patchable in tests to make small images cross bands.
BAND_ROWS = 32


def erode(batch, out, *, footprint, mode, cval):
    """Erosion: minimum over the footprint. Writes ``out`` and returns it."""
    return _morph(batch, out, footprint, mode, cval, take_max=False)


def dilate(batch, out, *, footprint, mode, cval):
    """Dilation: maximum over the reflected footprint. Writes ``out`` and returns it."""
    return _morph(batch, out, footprint, mode, cval, take_max=True)


def opening(batch, out, *, footprint, mode, cval):
    """Opening: erosion then dilation by the same footprint."""
    tmp = np.empty_like(batch)
    erode(batch, tmp, footprint=footprint, mode=mode, cval=cval)
    return dilate(tmp, out, footprint=footprint, mode=mode, cval=cval)


def closing(batch, out, *, footprint, mode, cval):
    """Closing: dilation then erosion by the same footprint."""
    tmp = np.empty_like(batch)
    dilate(batch, tmp, footprint=footprint, mode=mode, cval=cval)
    return erode(tmp, out, footprint=footprint, mode=mode, cval=cval)


def _morph(batch, out, footprint, mode, cval, take_max):
    n, h, w = batch.shape
    kh, kw = footprint.shape
    ry, rx = kh // 2, kw // 2
    rows_map = border_index_map(h, ry, ry, mode)
    cols_map = border_index_map(w, rx, rx, mode)
    # cval only exists in mode constant (validated there to fit the dtype);
    # elsewhere it is unused and must not be cast (a uint8 cast of -1 raises).
    cval = batch.dtype.type(cval if mode == "constant" else 0)
    if is_rectangle(footprint):
        _rect_kernel(batch, out, kh, kw, rows_map, cols_map, cval, take_max, BAND_ROWS)
    else:
        offsets = footprint_offsets(footprint, reflect=take_max)
        _offsets_kernel(batch, out, offsets, ry, rx, rows_map, cols_map, cval, take_max, BAND_ROWS)
    return out


@pjit
def _rect_kernel(src, dst, kh, kw, rows_map, cols_map, cval, take_max, band):
    n_slices, h, w = src.shape
    ry, rx = kh // 2, kw // 2
    n_bands = (h + band - 1) // band
    for job in prange(n_slices * n_bands):
        n = job // n_bands
        y0 = (job % n_bands) * band
        y1 = min(h, y0 + band)
        n_rows = y1 - y0 + 2 * ry
        rows = np.empty((n_rows, w), src.dtype)
        line = np.empty(w + 2 * rx, src.dtype)
        # Row pass: running extreme over kw columns of each extended row.
        for r in range(n_rows):
            fill_line(src, n, rows_map[y0 + r], cols_map, rx, cval, line)
            acc = rows[r]
            acc[:] = line[0:w]
            for t in range(1, kw):
                if take_max:
                    for x in range(w):
                        acc[x] = max(acc[x], line[x + t])
                else:
                    for x in range(w):
                        acc[x] = min(acc[x], line[x + t])
        # Column pass: running extreme over kh rows.
        for y in range(y1 - y0):
            res = dst[n, y0 + y]
            res[:] = rows[y]
            for t in range(1, kh):
                src_row = rows[y + t]
                if take_max:
                    for x in range(w):
                        res[x] = max(res[x], src_row[x])
                else:
                    for x in range(w):
                        res[x] = min(res[x], src_row[x])


@pjit
def _offsets_kernel(src, dst, offsets, ry, rx, rows_map, cols_map, cval, take_max, band):
    n_slices, h, w = src.shape
    n_bands = (h + band - 1) // band
    n_off = offsets.shape[0]
    for job in prange(n_slices * n_bands):
        n = job // n_bands
        y0 = (job % n_bands) * band
        y1 = min(h, y0 + band)
        n_rows = y1 - y0 + 2 * ry
        padded = np.empty((n_rows, w + 2 * rx), src.dtype)
        for r in range(n_rows):
            fill_line(src, n, rows_map[y0 + r], cols_map, rx, cval, padded[r])
        for y in range(y1 - y0):
            res = dst[n, y0 + y]
            dy, dx = offsets[0, 0], offsets[0, 1]
            res[:] = padded[y + ry + dy, rx + dx : rx + dx + w]
            for k in range(1, n_off):
                dy, dx = offsets[k, 0], offsets[k, 1]
                src_row = padded[y + ry + dy]
                base = rx + dx
                if take_max:
                    for x in range(w):
                        res[x] = max(res[x], src_row[base + x])
                else:
                    for x in range(w):
                        res[x] = min(res[x], src_row[base + x])
