"""Histogram equalisation and CLAHE (CPU twin of ``gpu/histogram.py``).

Bin and output rules are those of :mod:`fastct._shared.histogram`: one bin per
integer value in the slice's range (full 12/16-bit resolution), ``nbins``
equal bins for floats, float32 [0, 1] or OpenCV-style quantised uint8/uint16.
"""

from __future__ import annotations

import numpy as np
from numba.core import types

from .._shared.borders import border_index_map
from .._shared.histogram import check_bin_count, clahe_clip_count, clahe_tile_geometry, output_maxval
from ._jit import jit, jobjit, overload
from ._threads import run_jobs

#: Upper bound on the bytes of per-tile look-up tables held at once by CLAHE
#: (at least one slice's tables are held; a CT slice's are about 1 MiB).
CLAHE_LUT_BYTES = 8 << 20


# --------------------------------------------------------------------------
# public twins


def equalize_hist(batch, out, *, nbins, mask):
    """Global equalisation per slice; ``mask`` (uint8, (N|1, H, W)) selects counted pixels."""
    maxval = np.float32(output_maxval(out.dtype))
    if mask is None and nbins == 0:
        # Integers at full resolution: the slice's range first (one cheap
        # vectorised pass), then a histogram over just that range.
        run_jobs(_equalize_full_range_kernel, (batch, maxval, out), batch.shape[0])
        return out
    has_mask = mask is not None
    if mask is None:
        mask = np.zeros((1, 1, 1), np.uint8)
    run_jobs(_equalize_kernel, (batch, mask, has_mask, nbins, maxval, out), batch.shape[0])
    return out


def clahe(batch, out, *, clip_limit, tiles, nbins, value_range, volume=False):
    """Contrast-limited adaptive equalisation per slice, OpenCV's algorithm at full bit depth.

    With ``volume`` the batch is one volume equalised over ``(tz, ty, tx)``
    tiles (:func:`fastct.cpu.volume.clahe3d`).
    """
    if volume:
        from .volume import clahe3d

        return clahe3d(batch, out, clip_limit=clip_limit, tiles=tiles, nbins=nbins, value_range=value_range)
    n, h, w = batch.shape
    (tile_h, tile_w), (ph, pw) = clahe_tile_geometry(h, w, tiles)
    rows_map = border_index_map(h, 0, ph - h, "mirror")
    cols_map = border_index_map(w, 0, pw - w, "mirror")
    ranges = _slice_ranges(batch, value_range)
    nb = _bin_counts(batch.dtype, ranges, nbins)
    maxval = np.float32(output_maxval(out.dtype))
    ty, tx = tiles
    per_slice = ty * tx * int(nb.max()) * 4
    chunk = max(1, min(n, CLAHE_LUT_BYTES // max(per_slice, 1)))
    for s in range(0, n, chunk):
        part = slice(s, min(n, s + chunk))
        # OpenCV's clip count depends on the bin count, which may differ per slice.
        limits = np.array([clahe_clip_count(clip_limit, tile_h * tile_w, int(k)) for k in nb[part]], np.int64)
        luts = np.empty((part.stop - part.start, ty, tx, int(nb[part].max())), np.float32)
        src = batch[part]
        run_jobs(_clahe_luts, (src, ranges[part], nb[part], nbins, limits, rows_map, cols_map, tile_h, tile_w, maxval,
                               luts), luts.shape[0] * ty * tx)
        run_jobs(_clahe_apply, (src, ranges[part], nb[part], nbins, luts, tile_h, tile_w, maxval, out[part]),
                 luts.shape[0] * h)
    return out


def _slice_ranges(batch, value_range):
    """(lo, hi) per slice as float64 pairs: the data's range or the fixed one."""
    n = batch.shape[0]
    if value_range is not None:
        lo, hi = value_range
        if batch.dtype.kind in "iu":
            lo, hi = np.ceil(lo), np.floor(hi)
        return np.tile(np.array([[lo, hi]], np.float64), (n, 1))
    ranges = np.empty((n, 2), np.float64)
    run_jobs(_minmax_kernel, (batch, ranges), n)
    return ranges


def _bin_counts(dtype, ranges, nbins):
    if nbins:
        return np.full(ranges.shape[0], nbins, np.int64)
    # One bin per integer value (nbins == 0 only happens for integer images).
    counts = (ranges[:, 1] - ranges[:, 0]).astype(np.int64) + 1
    check_bin_count(int(counts.max()) if counts.size else 1)
    return counts


# --------------------------------------------------------------------------
# bin rule (shared by both kernels; see fastct._shared.histogram)


def bin_index(v, lo, hi, nbins, nb):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(bin_index, jit_options={"cache": True})
def _bin_index_overload(v, lo, hi, nbins, nb):
    if isinstance(v, types.Integer):

        def impl(v, lo, hi, nbins, nb):
            d = np.int64(v) - np.int64(lo)
            if nbins == 0:
                b = d
            else:
                b = d * nbins // (np.int64(hi) - np.int64(lo) + 1)
            return min(max(b, 0), nb - 1)

        return impl

    def impl(v, lo, hi, nbins, nb):
        span = np.float32(hi) - np.float32(lo)
        if span <= 0:
            return 0
        scale = np.float32(nb) / span
        b = np.int64((np.float32(v) - np.float32(lo)) * scale)
        return min(max(b, 0), nb - 1)

    return impl


@jit
def _lut_value(count, total, maxval):
    """Map a cumulative count to the output scale (float32 [0,1] or quantised levels)."""
    if maxval == 1.0:
        return np.float32(count) / np.float32(total)
    scale = maxval / np.float32(total)
    return min(np.rint(np.float32(count) * scale), maxval)


# --------------------------------------------------------------------------
# equalisation
#
# The kernels (``*_kernel``, ``_clahe_*``) are serial functions over a range
# of jobs, spread over threads by :func:`~fastct.cpu._threads.run_jobs` (see
# :mod:`fastct.cpu.fused` for why not ``prange``). A job is a slice where the
# slice's histogram is needed whole, a CLAHE tile or an output row otherwise.


@jobjit
def _equalize_kernel(src, mask, has_mask, nbins, maxval, dst, first_job, end_job):
    """Slices ``first_job:end_job``."""
    per_slice_mask = mask.shape[0] > 1
    for n in range(first_job, end_job):
        k = np.int64(n) if per_slice_mask else np.int64(0)
        _equalize_slice(src[n], mask[k], has_mask, nbins, maxval, dst[n])


@jit
def _equalize_slice(img, m, has_mask, nbins, maxval, out):
    h, w = img.shape
    first = True
    lo = img[0, 0]
    hi = img[0, 0]
    total = 0
    for y in range(h):
        for x in range(w):
            if has_mask and m[y, x] == 0:
                continue
            v = img[y, x]
            if first:
                lo = v
                hi = v
                first = False
            else:
                lo = min(lo, v)
                hi = max(hi, v)
            total += 1
    nb = nbins if nbins > 0 else np.int64(hi) - np.int64(lo) + 1
    hist = np.zeros(nb, np.int64)
    for y in range(h):
        for x in range(w):
            if has_mask and m[y, x] == 0:
                continue
            hist[bin_index(img[y, x], lo, hi, nbins, nb)] += 1
    lut = equalize_lut(hist, total, maxval)
    for y in range(h):
        for x in range(w):
            v = img[y, x]
            if v < lo:
                out[y, x] = 0
            elif v > hi:
                out[y, x] = maxval
            else:
                out[y, x] = lut[bin_index(v, lo, hi, nbins, nb)]


@jit
def equalize_lut(hist, total, maxval):
    """Look-up table of a histogram whose first bin is occupied (OpenCV's rule).

    The lowest occupied bin maps to 0 and the top to ``maxval``; a histogram
    with a single occupied bin maps everything to 0.
    """
    nb = hist.shape[0]
    h0 = hist[0]
    den = total - h0
    lut = np.zeros(nb, np.float32)
    cum = 0
    for b in range(nb):
        cum += hist[b]
        if den > 0:
            lut[b] = _lut_value(cum - h0, den, maxval)
    return lut


@jobjit
def _equalize_full_range_kernel(src, maxval, dst, first_job, end_job):
    """Slices ``first_job:end_job``."""
    for n in range(first_job, end_job):
        lut, lo = range_lut(src[n], maxval)
        apply_lut(src[n], lut, lo, dst[n])


#: Sub-histograms counted in turn (pixel x goes to sub-histogram x % 8): runs
#: of equal values (air, a smoothed organ) then update eight counters in turn
#: instead of waiting on one counter's previous store each time.
SUB_HISTOGRAMS = 8


@jit
def range_lut(img, maxval):
    """``(lut, lo)``: the equalisation table of integer slice ``img`` over its range ``lo..hi``.

    One bin per integer value; the histogram spans the occupied range only
    (a CT slice uses a few thousand of the 65536 int16 values).
    """
    lo, hi = slice_range(img)
    size = hi - lo + 1
    hist = np.zeros(SUB_HISTOGRAMS * size, np.int32)
    h, w = img.shape
    w_sub = w - w % SUB_HISTOGRAMS
    for y in range(h):
        row = img[y]
        # Indices are provably >= 0 (v >= lo): as unsigned integers numba
        # adds no negative-index wraparound.
        for i in range(0, w_sub, SUB_HISTOGRAMS):
            for k in range(SUB_HISTOGRAMS):
                hist[np.uint64(np.int64(row[i + k]) - lo + k * size)] += 1
        for i in range(w_sub, w):
            hist[np.uint64(np.int64(row[i]) - lo)] += 1
    for k in range(1, SUB_HISTOGRAMS):
        for b in range(size):
            hist[b] += hist[b + k * size]
    return equalize_lut(hist[:size], h * w, maxval), lo


@jit
def slice_range(img):
    """(min, max) of a 2-D slice as int64 (vectorised: min/max of each row's lanes)."""
    lo = img[0, 0]
    hi = img[0, 0]
    for y in range(img.shape[0]):
        row = img[y]
        for x in range(row.shape[0]):
            lo = min(lo, row[x])
            hi = max(hi, row[x])
    return np.int64(lo), np.int64(hi)


@jit
def apply_lut(img, lut, lo, out):
    """``out = lut[img - lo]`` for an integer slice whose values all have entries."""
    h, w = img.shape
    for y in range(h):
        row = img[y]
        res = out[y]
        for x in range(w):
            res[x] = lut[np.uint64(np.int64(row[x]) - lo)]


@jobjit
def _minmax_kernel(src, ranges, first_job, end_job):
    """(min, max) of slices ``first_job:end_job`` into ``ranges``."""
    h, w = src.shape[1], src.shape[2]
    for n in range(first_job, end_job):
        img = src[n]
        lo = img[0, 0]
        hi = img[0, 0]
        for y in range(h):
            for x in range(w):
                v = img[y, x]
                lo = min(lo, v)
                hi = max(hi, v)
        ranges[n, 0] = lo
        ranges[n, 1] = hi


# --------------------------------------------------------------------------
# CLAHE


@jit
def _clip_histogram(hist, limit):
    """OpenCV's clipping: cut at ``limit``, spread the excess evenly, then the residual."""
    nb = hist.shape[0]
    if limit <= 0:
        return
    clipped = 0
    for b in range(nb):
        if hist[b] > limit:
            clipped += hist[b] - limit
            hist[b] = limit
    batch = clipped // nb
    residual = clipped - batch * nb
    for b in range(nb):
        hist[b] += batch
    if residual > 0:
        step = max(nb // residual, 1)
        b = 0
        while b < nb and residual > 0:
            hist[b] += 1
            b += step
            residual -= 1


@jit
def _tile_lut(hist, limit, total, maxval, lut):
    """A CLAHE tile's table ``lut[:len(hist)]``: its histogram clipped, then cumulated onto the output scale.

    ``hist`` is overwritten; ``total`` is the tile's pixel count.
    """
    _clip_histogram(hist, limit)
    cum = 0
    for b in range(hist.shape[0]):
        cum += hist[b]
        lut[b] = _lut_value(cum, total, maxval)


@jobjit
def _clahe_luts(src, ranges, nb, nbins, limits, rows_map, cols_map, tile_h, tile_w, maxval, luts, first_job, end_job):
    """Tiles ``first_job:end_job``; job ``j`` is tile ``j % (ty * tx)`` (row-major) of slice ``j // (ty * tx)``."""
    ty, tx = luts.shape[1], luts.shape[2]
    tile_total = tile_h * tile_w
    hist_full = np.empty(luts.shape[3], np.int64)  # once per chunk of jobs (the largest bin count)
    for job in range(first_job, end_job):
        n = job // (ty * tx)
        t = job % (ty * tx)
        iy = t // tx
        ix = t % tx
        k = nb[n]
        lo = ranges[n, 0]
        hi = ranges[n, 1]
        hist = hist_full[:k]
        for b in range(k):
            hist[b] = 0
        for yy in range(iy * tile_h, (iy + 1) * tile_h):
            row = src[n, rows_map[yy]]
            for xx in range(ix * tile_w, (ix + 1) * tile_w):
                v = row[cols_map[xx]]
                hist[bin_index(v, _as_type(lo, v), _as_type(hi, v), nbins, k)] += 1
        _tile_lut(hist, limits[n], tile_total, maxval, luts[n, iy, ix])


@jobjit
def _clahe_apply(src, ranges, nb, nbins, luts, tile_h, tile_w, maxval, dst, first_job, end_job):
    """Rows ``first_job:end_job``; job ``j`` is row ``j % H`` of slice ``j // H``."""
    h, w = src.shape[1], src.shape[2]
    ty, tx = luts.shape[1], luts.shape[2]
    inv_th = np.float32(1.0) / np.float32(tile_h)
    inv_tw = np.float32(1.0) / np.float32(tile_w)
    half = np.float32(0.5)
    one = np.float32(1.0)
    # Bilinear weights between the four nearest tile centres (OpenCV's
    # arithmetic, float32). The column terms are the same on every row:
    # computed once per chunk of rows.
    col_t1 = np.empty(w, np.int64)
    col_t2 = np.empty(w, np.int64)
    col_a = np.empty(w, np.float32)
    col_a1 = np.empty(w, np.float32)
    for x in range(w):
        txf = np.float32(x) * inv_tw - half
        tx1 = np.int64(np.floor(txf))
        xa = txf - np.float32(tx1)
        col_a[x] = xa
        col_a1[x] = one - xa
        col_t2[x] = min(tx1 + 1, tx - 1)
        col_t1[x] = max(tx1, 0)
    for job in range(first_job, end_job):
        n = job // h
        y = job % h
        k = nb[n]
        lo = ranges[n, 0]
        hi = ranges[n, 1]
        tyf = np.float32(y) * inv_th - half
        ty1 = np.int64(np.floor(tyf))
        ya = tyf - np.float32(ty1)
        ya1 = one - ya
        ty2 = min(ty1 + 1, ty - 1)
        ty1 = max(ty1, 0)
        row = src[n, y]
        out = dst[n, y]
        upper = luts[n, ty1]
        lower = luts[n, ty2]
        for x in range(w):
            tx1 = col_t1[x]
            tx2 = col_t2[x]
            xa = col_a[x]
            xa1 = col_a1[x]
            v = row[x]
            b = bin_index(v, _as_type(lo, v), _as_type(hi, v), nbins, k)
            top = upper[tx1, b] * xa1 + upper[tx2, b] * xa
            bottom = lower[tx1, b] * xa1 + lower[tx2, b] * xa
            res = top * ya1 + bottom * ya
            if maxval == 1.0:
                out[x] = res
            else:
                out[x] = min(max(np.rint(res), np.float32(0.0)), maxval)


def _as_type(value, like):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_as_type, jit_options={"cache": True})
def _as_type_overload(value, like):
    # Range bounds are stored as float64; bin arithmetic wants them in the
    # pixel's own kind (int64 for integers, float32 for floats).
    if isinstance(like, types.Integer):
        return lambda value, like: np.int64(value)
    return lambda value, like: np.float32(value)

