"""The z passes of volumetric ops on the CPU (twin of ``gpu/volume.py``).

A volumetric stencil is a pass along z over whole slices plus the 2-D
in-plane kernels (see :mod:`fastct._shared.volume`). The z passes combine
``k`` source slices elementwise into an output slice: contiguous rows, plain
loops that numba vectorises, split into jobs of (output slice, band of rows)
over the thread pool. Which source slice feeds term ``j`` of output slice
``i`` comes from an index table (``-1``: a slice of ``cval``), so border modes
along z are defined once, in :mod:`fastct._shared.borders`.

Integer linear sums use fixed-point integer taps accumulated in float64,
exact (|sum| < 2**16 * 2**18 * taps < 2**53), and rounded half up, so the
GPU's int64 sums give the same bits. Float sums are float32, in the order of
the taps.
"""

from __future__ import annotations

import numpy as np

from .._shared import volume as _vol
from .._shared.borders import border_index_map
from .._shared.histogram import clahe_clip_count, output_maxval
from .._shared.validation import saturation_limits
from ._jit import add_scaled, jobjit, rowjit
from ._threads import run_jobs
from .histogram import _as_type as as_type
from .histogram import _tile_lut as tile_lut
from .histogram import bin_index

#: Rows per job of the z passes (a job touches ``k`` source rows of this band).
BAND_ROWS = 64


def z_extreme(src, dst, table, cval, take_max, accumulate=False):
    """``dst[i] = min/max_j src[table[i, j]]`` (and of ``dst[i]`` itself with ``accumulate``)."""
    m, h = dst.shape[0], dst.shape[1]
    band = max(1, min(h, BAND_ROWS))
    table = np.ascontiguousarray(table, dtype=np.int64)
    args = (src, dst, table, src.dtype.type(cval), bool(take_max), bool(accumulate), band)
    run_jobs(_z_extreme_kernel, args, m * -(-h // band))
    return dst


def z_linear(src, dst, table, taps, cval, lo, hi, tap_bits):
    """``dst[i] = sum_j taps[j] src[table[i, j]]``: integers exact and rounded half up, floats in float32."""
    m, h = dst.shape[0], dst.shape[1]
    band = max(1, min(h, BAND_ROWS))
    table = np.ascontiguousarray(table, dtype=np.int64)
    integer = dst.dtype.kind in "iu"
    if integer:
        t = np.asarray(taps, dtype=np.float64)  # integer-valued fixed-point taps
        scale = 1.0 / float(1 << tap_bits)
    else:
        t = np.asarray(taps, dtype=np.float32)
        scale = 1.0
    args = (src, dst, table, t, t.dtype.type(cval), float(lo), float(hi), integer, scale, band)
    run_jobs(_z_linear_kernel, args, m * -(-h // band))
    return dst


def sharpen3d(batch, out, *, amount, neighbours, mode, cval):
    """3-D Laplacian sharpening: ``x + amount * (k x - sum of its k neighbours)``, k = 6 or 26."""
    n, h, w = batch.shape
    zmap = border_index_map(n, 1, 1, mode)
    rows_map = border_index_map(h, 1, 1, mode)
    cols_map = border_index_map(w, 1, 1, mode)
    # float Laplacians are summed in float64, as the GPU twin sums them
    acc_type = np.float64 if out.dtype.kind == "f" else np.int64
    lo, hi = saturation_limits(out.dtype)
    args = (batch, out, zmap, rows_map, cols_map, acc_type(cval), float(amount), neighbours == 26, lo, hi)
    run_jobs(_sharpen3d_kernel, args, n * h)
    return out


# ---------------------------------------------------------------------------
# kernels: serial functions over a range of jobs (see fastct.cpu.fused for why not prange)


@jobjit
def _z_extreme_kernel(src, dst, table, cval, take_max, accumulate, band, first_job, end_job):
    """Job ``j``: rows of band ``j % n_bands`` of output slice ``j // n_bands``."""
    h = dst.shape[1]
    n_bands = (h + band - 1) // band
    for job in range(first_job, end_job):
        i = job // n_bands
        y0 = (job % n_bands) * band
        for y in range(y0, min(h, y0 + band)):
            _z_extreme_row(src, dst, i, y, table, cval, take_max, accumulate)


@rowjit
def _z_extreme_row(src, dst, i, y, table, cval, take_max, accumulate):
    """Row ``y`` of output slice ``i``: indexed in 3-D, no row views (no reference counting per row)."""
    w = dst.shape[2]
    start = 0
    if not accumulate:
        s = table[i, 0]
        if s < 0:
            for x in range(w):
                dst[i, y, x] = cval
        else:
            for x in range(w):
                dst[i, y, x] = src[s, y, x]
        start = 1
    for j in range(start, table.shape[1]):
        s = table[i, j]
        if s < 0:
            if take_max:
                for x in range(w):
                    dst[i, y, x] = max(dst[i, y, x], cval)
            else:
                for x in range(w):
                    dst[i, y, x] = min(dst[i, y, x], cval)
        elif take_max:
            for x in range(w):
                dst[i, y, x] = max(dst[i, y, x], src[s, y, x])
        else:
            for x in range(w):
                dst[i, y, x] = min(dst[i, y, x], src[s, y, x])


@jobjit
def _z_linear_kernel(src, dst, table, taps, cval, lo, hi, integer, scale, band, first_job, end_job):
    """Job ``j``: rows of band ``j % n_bands`` of output slice ``j // n_bands``."""
    h, w = dst.shape[1], dst.shape[2]
    n_bands = (h + band - 1) // band
    acc = np.empty(w, taps.dtype)
    for job in range(first_job, end_job):
        i = job // n_bands
        y0 = (job % n_bands) * band
        for y in range(y0, min(h, y0 + band)):
            _z_linear_row(src, dst, i, y, table, taps, cval, lo, hi, integer, scale, acc)


@rowjit
def _z_linear_row(src, dst, i, y, table, taps, cval, lo, hi, integer, scale, acc):
    """Row ``y`` of output slice ``i``: the taps in order, one multiply and one add each (the GPU's order)."""
    w = dst.shape[2]
    for x in range(w):
        acc[x] = 0
    for j in range(table.shape[1]):
        s = table[i, j]
        t = taps[j]
        if s < 0:
            c = t * cval
            for x in range(w):
                acc[x] += c
        else:
            for x in range(w):
                acc[x] += t * src[s, y, x]
    if integer:
        for x in range(w):
            dst[i, y, x] = min(max(np.floor(acc[x] * scale + 0.5), lo), hi)
    else:
        for x in range(w):
            dst[i, y, x] = acc[x]


@jobjit
def _sharpen3d_kernel(src, dst, zmap, rows_map, cols_map, cval, amount, full, lo, hi, first_job, end_job):
    """Job ``j``: row ``j % H`` of slice ``j // H``."""
    n, h, w = src.shape
    centre = 26 if full else 6
    zero = cval * 0
    for job in range(first_job, end_job):
        z = job // h
        y = job % h
        res = dst[z, y]
        for x in range(w):
            lap = zero
            for dz in range(-1, 2):
                sz = zmap[z + 1 + dz]
                for dy in range(-1, 2):
                    sy = rows_map[y + 1 + dy]
                    for dx in range(-1, 2):
                        d = abs(dz) + abs(dy) + abs(dx)
                        if d == 0 or (not full and d != 1):
                            continue
                        sx = cols_map[x + 1 + dx]
                        if sz < 0 or sy < 0 or sx < 0:
                            lap -= cval
                        else:
                            lap -= src[sz, sy, sx]
            lap += centre * (src[z, y, x] + zero)
            res[x] = add_scaled(src[z, y, x], lap, amount, lo, hi)


def clahe3d(batch, out, *, clip_limit, tiles, nbins, value_range):
    """CLAHE of a volume over ``(tz, ty, tx)`` tiles: the rules of :func:`fastct._shared.volume.clahe_volume`.

    One job per tile builds its clipped histogram and look-up table; one job
    per output row blends the eight nearest tables, in the array code's
    float32 order (so the GPU, which runs that array code, agrees).
    """
    n, h, w = batch.shape
    integer = batch.dtype.kind in "iu"
    data_range = None if value_range is not None else (float(batch.min()), float(batch.max()))
    grid, sizes, _, maps, lo, hi, nb = _vol.clahe_plan(batch.shape, tiles, integer, nbins, value_range, data_range)
    total = sizes[0] * sizes[1] * sizes[2]
    limit = clahe_clip_count(clip_limit, total, nb)
    maxval = np.float32(output_maxval(out.dtype))
    luts = np.empty(grid + (nb,), np.float32)
    run_jobs(_clahe3d_luts, (batch, lo, hi, int(nbins or 0), nb, limit, maps[0], maps[1], maps[2],
                             np.asarray(sizes, np.int64), total, maxval, luts), grid[0] * grid[1] * grid[2])
    weights = [_vol.clahe_axis_weights(length, size, count) for length, size, count in zip((n, h, w), sizes, grid,
                                                                                          strict=True)]
    run_jobs(_clahe3d_apply, (batch, lo, hi, int(nbins or 0), nb, luts, *weights[0], *weights[1], *weights[2],
                              maxval, out), n * h)
    return out


@jobjit
def _clahe3d_luts(src, lo, hi, nbins, nb, limit, zmap, ymap, xmap, sizes, total, maxval, luts, first_job, end_job):
    """Job ``j``: tile ``j`` (z-major) of the grid: its histogram over the padded volume, clipped, then its table."""
    gy, gx = luts.shape[1], luts.shape[2]
    hist = np.empty(nb, np.int64)
    for job in range(first_job, end_job):
        tz = job // (gy * gx)
        ty = (job // gx) % gy
        tx = job % gx
        for b in range(nb):
            hist[b] = 0
        for z in range(tz * sizes[0], (tz + 1) * sizes[0]):
            sz = zmap[z]
            for y in range(ty * sizes[1], (ty + 1) * sizes[1]):
                sy = ymap[y]
                for x in range(tx * sizes[2], (tx + 1) * sizes[2]):
                    v = src[sz, sy, xmap[x]]
                    hist[bin_index(v, as_type(lo, v), as_type(hi, v), nbins, nb)] += 1
        tile_lut(hist, limit, total, maxval, luts[tz, ty, tx])


@jobjit
def _clahe3d_apply(src, lo, hi, nbins, nb, luts, z1s, z2s, za, za1, y1s, y2s, ya, ya1, x1s, x2s, xa, xa1, maxval,
                   dst, first_job, end_job):
    """Job ``j``: row ``j % H`` of slice ``j // H``, blended trilinearly (x, then y per plane, then z)."""
    h, w = src.shape[1], src.shape[2]
    for job in range(first_job, end_job):
        z = job // h
        y = job % h
        zt1, zt2, wz, wz1 = z1s[z], z2s[z], za[z], za1[z]
        yt1, yt2, wy, wy1 = y1s[y], y2s[y], ya[y], ya1[y]
        for x in range(w):
            v = src[z, y, x]
            b = bin_index(v, as_type(lo, v), as_type(hi, v), nbins, nb)
            xt1, xt2, wx, wx1 = x1s[x], x2s[x], xa[x], xa1[x]
            top = luts[zt1, yt1, xt1, b] * wx1 + luts[zt1, yt1, xt2, b] * wx
            bottom = luts[zt1, yt2, xt1, b] * wx1 + luts[zt1, yt2, xt2, b] * wx
            p1 = top * wy1 + bottom * wy
            top = luts[zt2, yt1, xt1, b] * wx1 + luts[zt2, yt1, xt2, b] * wx
            bottom = luts[zt2, yt2, xt1, b] * wx1 + luts[zt2, yt2, xt2, b] * wx
            p2 = top * wy1 + bottom * wy
            res = p1 * wz1 + p2 * wz
            if maxval == 1.0:
                dst[z, y, x] = res
            else:
                dst[z, y, x] = min(max(np.rint(res), np.float32(0.0)), maxval)
