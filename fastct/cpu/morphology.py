"""Grey-scale morphology with flat footprints (CPU twin of ``gpu/morphology.py``).

Full rectangles run separably as a chain of running min/max stages (see
:mod:`fastct.cpu.fused`: direct comparisons for small windows, doubling for
large ones, so the cost grows with log2 of the size); opening and closing of
rectangles are one fused two-stage pass. Other footprints take
the min/max over their offsets. Work is split into bands of rows per slice so
both small and large batches use every core.
"""

from __future__ import annotations

import numpy as np

from .._shared.borders import border_index_map
from .._shared.footprints import footprint_offsets, is_rectangle
from .._shared.fusion import STAGE_MAX, STAGE_MIN, ChainStage, chain_ok
from ._jit import fill_line, pjit, prange
from .fused import run_chain

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
    return _compose(batch, out, footprint, mode, cval, (STAGE_MIN, STAGE_MAX))


def closing(batch, out, *, footprint, mode, cval):
    """Closing: dilation then erosion by the same footprint."""
    return _compose(batch, out, footprint, mode, cval, (STAGE_MAX, STAGE_MIN))


def _compose(batch, out, footprint, mode, cval, kinds):
    kh, kw = footprint.shape
    stages = [ChainStage(k, kh, kw, None, None, mode, cval) for k in kinds]
    if is_rectangle(footprint) and chain_ok(stages):
        return run_chain(batch, out, stages)
    tmp = np.empty_like(batch)
    _morph(batch, tmp, footprint, mode, cval, take_max=kinds[0] == STAGE_MAX)
    return _morph(tmp, out, footprint, mode, cval, take_max=kinds[1] == STAGE_MAX)


def _morph(batch, out, footprint, mode, cval, take_max):
    # cval only exists in mode constant (validated there to fit the dtype);
    # elsewhere it is unused and must not be cast (a uint8 cast of -1 raises).
    cval = cval if mode == "constant" else 0
    if is_rectangle(footprint):
        kh, kw = footprint.shape
        kind = STAGE_MAX if take_max else STAGE_MIN
        return run_chain(batch, out, [ChainStage(kind, kh, kw, None, None, mode, cval)])
    n, h, w = batch.shape
    ry, rx = footprint.shape[0] // 2, footprint.shape[1] // 2
    rows_map = border_index_map(h, ry, ry, mode)
    cols_map = border_index_map(w, rx, rx, mode)
    offsets = footprint_offsets(footprint, reflect=take_max)
    _offsets_kernel(batch, out, offsets, ry, rx, rows_map, cols_map, batch.dtype.type(cval), take_max, BAND_ROWS)
    return out


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
            first = padded[y + ry + dy]
            for x in range(w):
                res[x] = first[rx + dx + x]
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
