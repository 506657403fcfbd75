"""Grey-scale morphology with flat footprints (CPU twin of ``gpu/morphology.py``).

Full rectangles run separably as a chain of running min/max stages (see
:mod:`fastct.cpu.fused`: direct comparisons for small windows, doubling for
large ones, so the cost grows with log2 of the size); opening and closing of
rectangles are one fused two-stage pass. Other footprints take
the min/max over their offsets. Work is split into bands of rows per slice so
both small and large batches use every core.

A 3-D footprint (``axes`` including z) makes the batch one volume: a z pass
over whole slices (:mod:`fastct.cpu.volume`) plus these 2-D passes, a slab
of slices at a time (see :mod:`fastct._shared.volume`).
"""

from __future__ import annotations

import numpy as np

from .._shared import volume as _vol
from .._shared.fusion import STAGE_MAX, STAGE_MIN, compose_morphology, morph_slices
from ._jit import fill_line, jobjit, rowjit
from ._threads import run_jobs
from .fused import run_chain
from .volume import z_extreme

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
    if footprint.ndim == 3:
        return _compose_volume(batch, out, footprint, mode, cval, (False, True))
    return _compose(batch, out, footprint, mode, cval, (STAGE_MIN, STAGE_MAX))


def closing(batch, out, *, footprint, mode, cval):
    """Closing: dilation then erosion by the same footprint."""
    if footprint.ndim == 3:
        return _compose_volume(batch, out, footprint, mode, cval, (True, False))
    return _compose(batch, out, footprint, mode, cval, (STAGE_MAX, STAGE_MIN))


def _compose(batch, out, footprint, mode, cval, kinds):
    return compose_morphology(batch, out, footprint, mode, cval, kinds, chain=run_chain, empty_like=np.empty_like,
                              single=lambda s, d, take_max: _morph(s, d, footprint, mode, cval, take_max))


def _compose_volume(batch, out, footprint, mode, cval, maxes):
    """Opening/closing of a volume a slab at a time (the intermediate is a slab, not a volume)."""
    return _vol.compose_volume(
        batch, out, footprint, mode, cval, maxes, empty=np.empty, slab=_vol.SLAB_SLICES,
        morph=lambda s, d, take_max, rng: _morph(s, d, footprint, mode, cval, take_max, rng))


def _morph(batch, out, footprint, mode, cval, take_max, out_range=None):
    if footprint.ndim == 3:
        return _vol.morph_volume(batch, out, footprint, mode, cval, take_max,
                                 plane=lambda s, d, fp2, tm: _morph(s, d, fp2, mode, cval, tm),
                                 z_extreme=z_extreme, empty=np.empty, slab=_vol.SLAB_SLICES, out_range=out_range)

    def by_offsets(src, dst, offsets, ry, rx, rows_map, cols_map):
        n, h = src.shape[0], src.shape[1]
        band = max(1, min(h, BAND_ROWS))
        args = (src, dst, offsets, ry, rx, rows_map, cols_map, src.dtype.type(cval), take_max, band)
        run_jobs(_offsets_kernel, args, n * -(-h // band))
        return dst

    return morph_slices(batch, out, footprint, mode, cval, take_max, chain=run_chain, offsets=by_offsets)


@jobjit
def _offsets_kernel(src, dst, offsets, ry, rx, rows_map, cols_map, cval, take_max, band, first_job, end_job):
    """Jobs ``first_job:end_job``; job ``j`` is band ``j % n_bands`` of slice ``j // n_bands``.

    Spread over threads by :func:`~fastct.cpu._threads.run_jobs` (see
    :mod:`fastct.cpu.fused` for why not ``prange``).
    """
    h, w = src.shape[1], src.shape[2]
    n_bands = (h + band - 1) // band
    padded_full = np.empty((band + 2 * ry, w + 2 * rx), src.dtype)  # once per chunk of jobs
    for job in range(first_job, end_job):
        n = job // n_bands
        y0 = (job % n_bands) * band
        y1 = min(h, y0 + band)
        n_rows = y1 - y0 + 2 * ry
        padded = padded_full[:n_rows]
        for r in range(n_rows):
            fill_line(src, n, rows_map[y0 + r], cols_map, rx, cval, padded[r])
        for y in range(y1 - y0):
            _offsets_row(padded, y + ry, rx, offsets, take_max, dst[n, y0 + y])


@rowjit
def _offsets_row(padded, yc, rx, offsets, take_max, res):
    """``res[x]`` = min/max over the offsets of ``padded[yc + dy, rx + dx + x]``.

    A row-level helper without reference counting (indexing ``padded`` in 2-D,
    no row views): about 5% faster than the same loops inline in the kernel.
    """
    w = res.shape[0]
    r0 = yc + offsets[0, 0]
    b0 = rx + offsets[0, 1]
    for x in range(w):
        res[x] = padded[r0, b0 + x]
    for k in range(1, offsets.shape[0]):
        r = yc + offsets[k, 0]
        b = rx + offsets[k, 1]
        if take_max:
            for x in range(w):
                res[x] = max(res[x], padded[r, b + x])
        else:
            for x in range(w):
                res[x] = min(res[x], padded[r, b + x])
