"""Chains of separable stencil stages in one pass per band of rows (CPU).

A chain (see :mod:`fastct._shared.fusion`) is run per ``(slice, band)``: each
stage computes the rows the next stage needs (the band plus the later
stages' halo) into small buffers that stay in cache, and only the last stage
writes the output. A single erode, dilate or Gaussian is a chain of one stage,
so the stand-alone ops and the fused pipeline share these kernels, and fused
and unfused results are the same bits.

Running min/max use direct comparisons for small windows and the van Herk /
Gil-Werman algorithm (three comparisons per pixel whatever the size) for
large ones. Linear stages accumulate integer images exactly in float64
(fixed-point taps, see :mod:`fastct._shared.gaussian`) and float images in float32.
"""

from __future__ import annotations

import numpy as np
from numba.core import types

from .._shared.fusion import STAGE_LINEAR, STAGE_MAX, build_program
from .._shared.validation import integer_limits
from ._jit import jit, numba, overload, pjit, prange
from .histogram import apply_lut, dtype_bins, occupied_lut

#: Rows per work item; patchable in tests to make small images cross bands.
BAND_ROWS = 32
#: Windows at least this wide use van Herk / Gil-Werman instead of direct comparisons.
VHGW_MIN_WINDOW = 9


def run_chain(batch, out, stages):
    """Run ``stages`` (a list of :class:`~fastct._shared.fusion.ChainStage`) over ``batch`` into ``out``."""
    n, h, w = batch.shape
    prog = build_program(stages, (h, w), batch.dtype)
    lo, hi = _limits(out.dtype)
    jobs = n * -(-h // BAND_ROWS)
    _chain_kernel(
        batch, out, prog.kinds, prog.ky, prog.kx, prog.taps_y, prog.taps_x, prog.rows_maps, prog.cols_maps,
        prog.cvals, prog.row_pad, prog.col_pad, prog.scales, lo, hi, BAND_ROWS, _chunks(jobs),
    )
    return out


def run_chain_equalize(batch, out, stages, maxval):
    """Run ``stages`` then equalise each slice, accumulating the histogram in the same pass."""
    n, h, w = batch.shape
    prog = build_program(stages, (h, w), batch.dtype)
    lo, hi = _limits(batch.dtype)
    offset, size = dtype_bins(batch.dtype)
    _chain_equalize_kernel(
        batch, out, prog.kinds, prog.ky, prog.kx, prog.taps_y, prog.taps_x, prog.rows_maps, prog.cols_maps,
        prog.cvals, prog.row_pad, prog.col_pad, prog.scales, lo, hi, BAND_ROWS, offset, size, np.float32(maxval),
        _chunks(n),
    )
    return out


def _chunks(jobs: int) -> int:
    """Work chunks: a few per thread for balance; each allocates its scratch buffers once."""
    return max(1, min(jobs, 4 * numba.get_num_threads()))


def _limits(dtype):
    if np.dtype(dtype).kind == "f":
        return 0, 0
    return integer_limits(dtype)


# ---------------------------------------------------------------------------
# kernels


@pjit
def _chain_kernel(src, dst, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad, scales,
                  lo, hi, band, n_chunks):
    n_slices, h, w = src.shape
    n_bands = (h + band - 1) // band
    jobs = n_slices * n_bands
    for c in prange(n_chunks):
        scratch = _scratch(src, taps_x, taps_y, ky, band, col_pad)
        for job in range(c * jobs // n_chunks, (c + 1) * jobs // n_chunks):
            n = job // n_bands
            y0 = (job % n_bands) * band
            y1 = min(h, y0 + band)
            _chain_band(src[n], dst[n], y0, y1, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals,
                        row_pad, col_pad, scales, lo, hi, scratch)


@pjit
def _chain_equalize_kernel(src, dst, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad,
                           col_pad, scales, lo, hi, band, offset, size, maxval, n_chunks):
    n_slices, h, w = src.shape
    for c in prange(n_chunks):
        scratch = _scratch(src, taps_x, taps_y, ky, band, col_pad)
        tmp = np.empty((h, w), src.dtype)  # one slice per chunk, not per batch
        hist = np.empty(size, np.int32)
        for n in range(c * n_slices // n_chunks, (c + 1) * n_slices // n_chunks):
            hist[:] = 0
            for y0 in range(0, h, band):
                y1 = min(h, y0 + band)
                _chain_band(src[n], tmp, y0, y1, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals,
                            row_pad, col_pad, scales, lo, hi, scratch)
                # Count the finished rows while they are still in cache.
                for y in range(y0, y1):
                    row = tmp[y]
                    for x in range(w):
                        hist[np.int64(row[x]) + offset] += 1
            lut, lo_bin = occupied_lut(hist, h * w, maxval)
            apply_lut(tmp, lut, offset - lo_bin, dst[n])


@jit
def _scratch(src, taps_x, taps_y, ky, band, col_pad):
    """Per-chunk buffers, sized for a band plus the whole chain's halo."""
    w = src.shape[2]
    total = 0
    for s in range(ky.shape[0]):
        total += ky[s] // 2
    rows = band + 2 * total
    return (
        np.empty((rows, w), src.dtype),  # stage output A
        np.empty((rows, w), src.dtype),  # stage output B
        np.empty((rows, w), src.dtype),  # row-pass results of min/max stages
        np.empty((rows, w), taps_x.dtype),  # row-pass results of linear stages
        np.empty((rows, w), src.dtype),  # van Herk column suffixes
        np.empty(w + 2 * col_pad, src.dtype),  # extended row (min/max)
        np.empty(w + 2 * col_pad, taps_x.dtype),  # extended row (linear)
        np.empty(w + 2 * col_pad, src.dtype),  # van Herk row prefixes
        np.empty(w + 2 * col_pad, src.dtype),  # van Herk row suffixes
        np.empty(w, taps_y.dtype),  # column accumulator
    )


@jit
def _chain_band(img, out, y0, y1, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad,
                scales, lo, hi, scratch):
    """Rows ``y0:y1`` of the whole chain applied to slice ``img``, written to ``out``."""
    h, w = img.shape
    buf_a, buf_b, h_ext, h_lin, work, line_ext, line_lin, pre, suf, acc = scratch
    n_stages = kinds.shape[0]
    halo_after = 0
    for s in range(n_stages):
        halo_after += ky[s] // 2
    inp = img
    in_base = 0
    for s in range(n_stages):
        halo_after -= ky[s] // 2  # rows still needed by the stages after this one
        last = s == n_stages - 1
        olo = max(0, y0 - halo_after)
        ohi = min(h, y1 + halo_after)
        if last:
            olo, ohi = y0, y1
            target = out
            t_base = 0
        else:
            target = buf_a if s % 2 == 0 else buf_b
            t_base = olo
        _stage(inp, in_base, target, t_base, olo, ohi, kinds[s], ky[s], kx[s], taps_y[s], taps_x[s],
               rows_maps[s], cols_maps[s], cvals[s], row_pad, col_pad, scales[s], lo, hi,
               h_ext, h_lin, work, line_ext, line_lin, pre, suf, acc)
        inp = target
        in_base = t_base


@jit
def _stage(inp, in_base, target, t_base, olo, ohi, kind, ky, kx, ty, tx, rmap, cmap, cval, row_pad, col_pad,
           scale, lo, hi, h_ext, h_lin, work, line_ext, line_lin, pre, suf, acc):
    w = inp.shape[1]
    hy = ky // 2
    hx = kx // 2
    n_in = (ohi - olo) + 2 * hy
    c0 = col_pad - hx  # where this stage's column map starts inside the shared map
    is_max = kind == STAGE_MAX
    # Row pass: every input row the column pass needs (border rows mapped).
    for i in range(n_in):
        m = rmap[olo - hy + i + row_pad]
        if kind == STAGE_LINEAR:
            _fill(inp, m - in_base, m < 0, cmap, c0, hx, w, cval, line_lin)
            _linear_row(line_lin, tx, kx, h_lin[i])
        else:
            _fill(inp, m - in_base, m < 0, cmap, c0, hx, w, cval, line_ext)
            _extreme_row(line_ext[: w + 2 * hx], kx, is_max, h_ext[i], pre, suf)
    # Column pass.
    if kind == STAGE_LINEAR:
        for o in range(olo, ohi):
            _linear_column(h_lin, o - olo, ty, ky, acc)
            store_row(acc, target[o - t_base], scale, lo, hi)
    elif ky >= VHGW_MIN_WINDOW:
        _extreme_columns_vhgw(h_ext, work, n_in, ky, is_max, target, olo, ohi, t_base)
    else:
        for o in range(olo, ohi):
            res = target[o - t_base]
            i = o - olo
            if ky == 3:  # the common 3x3 case in one pass
                _extreme3(h_ext[i], h_ext[i + 1], h_ext[i + 2], is_max, res)
                continue
            _copy(h_ext[i], res)
            for t in range(1, ky):
                row = h_ext[i + t]
                if is_max:
                    for x in range(w):
                        res[x] = max(res[x], row[x])
                else:
                    for x in range(w):
                        res[x] = min(res[x], row[x])


@jit
def _fill(inp, r, outside, cmap, c0, hx, w, cval, line):
    """Extended input row ``r`` (a constant row when ``outside``) into ``line[0 : w + 2 hx]``."""
    if outside:
        for j in range(w + 2 * hx):
            line[j] = cval
        return
    row = inp[r]
    for j in range(hx):
        s = cmap[c0 + j]
        line[j] = row[s] if s >= 0 else cval
    # Index through a view with the bare loop variable: numba can then prove
    # the index is non-negative, skips wraparound checks and vectorises.
    _copy(row, line[hx : hx + w])
    for j in range(hx + w, w + 2 * hx):
        s = cmap[c0 + j]
        line[j] = row[s] if s >= 0 else cval


@jit
def _copy(src, dst):
    """``dst[:] = src[:len(dst)]`` as a plain loop (numba's slice assignment is much slower)."""
    for x in range(dst.shape[0]):
        dst[x] = src[x]


@jit
def _extreme3(a, b, c, is_max, res):
    if is_max:
        for x in range(res.shape[0]):
            res[x] = max(max(a[x], b[x]), c[x])
    else:
        for x in range(res.shape[0]):
            res[x] = min(min(a[x], b[x]), c[x])


@jit
def _linear_column(rows, i, taps, k, acc):
    """``acc = sum_t taps[t] * rows[i + t]``; 3 and 5 taps in one pass."""
    w = acc.shape[0]
    if k == 5:
        r0, r1, r2, r3, r4 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4]
        c0, c1, c2, c3, c4 = taps[0], taps[1], taps[2], taps[3], taps[4]
        for x in range(w):
            acc[x] = c0 * r0[x] + c1 * r1[x] + c2 * r2[x] + c3 * r3[x] + c4 * r4[x]
        return
    if k == 3:
        r0, r1, r2 = rows[i], rows[i + 1], rows[i + 2]
        c0, c1, c2 = taps[0], taps[1], taps[2]
        for x in range(w):
            acc[x] = c0 * r0[x] + c1 * r1[x] + c2 * r2[x]
        return
    c = taps[0]
    first = rows[i]
    for x in range(w):
        acc[x] = c * first[x]
    for t in range(1, k):
        c = taps[t]
        row = rows[i + t]
        for x in range(w):
            acc[x] += c * row[x]


@jit
def _linear_row(line, taps, k, res):
    w = res.shape[0]
    if k == 5:
        l0, l1, l2, l3, l4 = line[0:w], line[1 : w + 1], line[2 : w + 2], line[3 : w + 3], line[4 : w + 4]
        c0, c1, c2, c3, c4 = taps[0], taps[1], taps[2], taps[3], taps[4]
        for x in range(w):
            res[x] = c0 * l0[x] + c1 * l1[x] + c2 * l2[x] + c3 * l3[x] + c4 * l4[x]
        return
    if k == 3:
        l0, l1, l2 = line[0:w], line[1 : w + 1], line[2 : w + 2]
        c0, c1, c2 = taps[0], taps[1], taps[2]
        for x in range(w):
            res[x] = c0 * l0[x] + c1 * l1[x] + c2 * l2[x]
        return
    c = taps[0]
    for x in range(w):
        res[x] = c * line[x]
    for t in range(1, k):
        c = taps[t]
        seg = line[t : t + w]
        for x in range(w):
            res[x] += c * seg[x]


@jit
def _extreme_row(line, k, is_max, res, pre, suf):
    w = res.shape[0]
    if k >= VHGW_MIN_WINDOW:
        _extreme_row_vhgw(line, k, is_max, res, pre, suf)
        return
    if k == 3:
        _extreme3(line[0:w], line[1 : w + 1], line[2 : w + 2], is_max, res)
        return
    _copy(line, res)
    for t in range(1, k):
        seg = line[t : t + w]
        if is_max:
            for x in range(w):
                res[x] = max(res[x], seg[x])
        else:
            for x in range(w):
                res[x] = min(res[x], seg[x])


@jit
def _extreme_row_vhgw(line, k, is_max, res, pre, suf):
    """van Herk / Gil-Werman running extreme of width ``k`` over ``line`` (length w + k - 1).

    ``pre[i]``: extreme from i's block start up to i; ``suf[i]``: from i to its block end.
    """
    n = line.shape[0]
    w = res.shape[0]
    for start in range(0, n, k):
        end = min(n, start + k)
        pre[start] = line[start]
        for i in range(start + 1, end):
            pre[i] = max(pre[i - 1], line[i]) if is_max else min(pre[i - 1], line[i])
        suf[end - 1] = line[end - 1]
        for i in range(end - 2, start - 1, -1):
            suf[i] = max(suf[i + 1], line[i]) if is_max else min(suf[i + 1], line[i])
    late = pre[k - 1 : k - 1 + w]
    if is_max:
        for x in range(w):
            res[x] = max(suf[x], late[x])
    else:
        for x in range(w):
            res[x] = min(suf[x], late[x])


@jit
def _extreme_columns_vhgw(rows, work, n_rows, k, is_max, target, olo, ohi, t_base):
    """van Herk / Gil-Werman down the columns: rows[i] holds input row ``olo - k//2 + i``.

    Block prefixes are built in place in ``rows`` after suffixes are saved in ``work``.
    """
    w = rows.shape[1]
    for start in range(0, n_rows, k):
        end = min(n_rows, start + k)
        _copy(rows[end - 1], work[end - 1])
        for i in range(end - 2, start - 1, -1):
            a = work[i + 1]
            b = rows[i]
            dst = work[i]
            if is_max:
                for x in range(w):
                    dst[x] = max(a[x], b[x])
            else:
                for x in range(w):
                    dst[x] = min(a[x], b[x])
        for i in range(start + 1, end):
            a = rows[i - 1]
            b = rows[i]
            if is_max:
                for x in range(w):
                    b[x] = max(a[x], b[x])
            else:
                for x in range(w):
                    b[x] = min(a[x], b[x])
    for o in range(olo, ohi):
        i = o - olo
        a = work[i]
        b = rows[i + k - 1]
        res = target[o - t_base]
        if is_max:
            for x in range(w):
                res[x] = max(a[x], b[x])
        else:
            for x in range(w):
                res[x] = min(a[x], b[x])


def store_row(acc, res, scale, lo, hi):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(store_row, jit_options={"cache": True})
def _store_row_overload(acc, res, scale, lo, hi):
    # Integer outputs: the accumulator holds an exact fixed-point sum; round
    # half up (floor(acc * 2**-bits + 1/2), exact in float64) and saturate.
    if isinstance(res.dtype, types.Integer):

        def impl(acc, res, scale, lo, hi):
            half = acc.dtype.type(0.5)
            for x in range(res.shape[0]):
                v = np.floor(acc[x] * scale + half)
                res[x] = min(max(v, lo), hi)

        return impl

    def impl(acc, res, scale, lo, hi):
        for x in range(res.shape[0]):
            res[x] = acc[x] * scale

    return impl

