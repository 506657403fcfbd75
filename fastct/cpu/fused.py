"""Chains of separable stencil stages in one pass per band of rows (CPU).

A chain (see :mod:`fastct._shared.fusion`) is run per ``(slice, band)``: each
stage computes the rows the next stage needs (the band plus the later
stages' halo) into small buffers that stay in cache, and only the last stage
writes the output. A single erode, dilate or Gaussian is a chain of one stage,
so the stand-alone ops and the fused pipeline share these kernels, and fused
and unfused results are the same bits.

A stage runs column pass first, one output row at a time: the ``ky`` input
rows of the window (border rows picked through the row map, no copy) are
combined into one line, the line's ``kx // 2`` border columns are filled from
the line itself through the column map, and the row pass turns the line into
the output row. The line stays in L1 and every inner loop is a plain loop
over a row that numba vectorises. The order does not change a result:
min/max and exact fixed-point sums do not depend on it, and the border
extension is a product of a row map and a column map. Tall linear kernels
(``ky >= ROWS_FIRST_MIN_TAPS``) filter each input row once into a ring of
accumulator rows first, so the column pass does not widen every input row
``ky`` times.

Running min/max of small windows combine the rows directly; wide windows use
doubling (window 2p = two windows p, a window k = two overlapping windows of
the largest power of two p <= k), ``log2(k) + 1`` vectorised passes whatever
the size. Linear stages fold symmetric taps (``c * (a + b)``: half the
multiplications) and accumulate integer images exactly (fixed-point taps,
float32 while the sums stay below 2**24, else float64; see
:func:`fastct._shared.fusion.accumulator_dtype`), float images in float32.

Where the time goes (and why the code looks the way it does): the row-level
helpers are compiled without reference counting (:data:`~fastct.cpu._jit.rowjit`;
the atomic counts on every row view cost more than a 512-pixel row of work),
the first stage prefetches its source rows a few rows ahead and the last
stage prefetches its output rows for writing (the hardware prefetcher alone
leaves a band-by-band walk waiting on memory), and scratch buffers start on
cache-line boundaries (split 512-bit loads cost almost twice as much).
"""

from __future__ import annotations

import numpy as np
from numba.core import types

from .._shared.fusion import STAGE_LINEAR, STAGE_MAX, build_program
from .._shared.validation import saturation_limits
from ._jit import jit, jobjit, linjit, overload, prefetch_row, prefetch_row_for_write, rowjit, rowjit_inline
from ._threads import run_jobs
from .histogram import apply_lut, range_lut

#: Rows per work item; patchable in tests to make small images cross bands.
BAND_ROWS = 64
#: Windows at least this wide use doubling instead of direct comparisons.
DOUBLING_MIN_WINDOW = 9
#: Linear stages with at least this many row taps filter along the rows first.
ROWS_FIRST_MIN_TAPS = 7


def run_chain(batch, out, stages):
    """Run ``stages`` (a list of :class:`~fastct._shared.fusion.ChainStage`) over ``batch`` into ``out``."""
    n, h, w = batch.shape
    prog = build_program(stages, (h, w), batch.dtype)
    lo, hi = _limits(out.dtype, prog.taps_x.dtype)
    band = _band_rows(prog, h)
    args = (batch, out, prog.kinds, prog.ky, prog.kx, prog.taps_y, prog.taps_x, prog.rows_maps, prog.cols_maps,
            prog.cvals, prog.row_pad, prog.col_pad, prog.scales, lo, hi, band)
    run_jobs(_chain_jobs, args, n * -(-h // band))
    return out


def run_chain_equalize(batch, out, stages, maxval):
    """Run ``stages`` then equalise each slice, one slice at a time while it is in cache."""
    n, h, w = batch.shape
    prog = build_program(stages, (h, w), batch.dtype)
    lo, hi = _limits(batch.dtype, prog.taps_x.dtype)
    args = (batch, out, prog.kinds, prog.ky, prog.kx, prog.taps_y, prog.taps_x, prog.rows_maps, prog.cols_maps,
            prog.cvals, prog.row_pad, prog.col_pad, prog.scales, lo, hi, _band_rows(prog, h), np.float32(maxval))
    run_jobs(_chain_equalize_jobs, args, n)
    return out


def _band_rows(prog, h: int) -> int:
    """Rows per band: :data:`BAND_ROWS`, more for tall kernels, at most the slice.

    Every band recomputes its halo (``ky - 1`` rows per tall stage); bands
    several halos high keep that overhead small.
    """
    return max(1, min(h, BAND_ROWS * max(1, prog.halo // 4)))


def _limits(dtype, acc_dtype):
    """Saturation bounds of ``dtype`` in the accumulator's type (compared without conversions)."""
    acc = np.dtype(acc_dtype).type
    lo, hi = saturation_limits(dtype)
    return acc(lo), acc(hi)


# ---------------------------------------------------------------------------
# kernels
#
# The chain kernels are serial (``nogil``) functions over a range of jobs,
# spread over threads by :func:`~fastct.cpu._threads.run_jobs`, not
# ``prange`` kernels: numba re-optimises every callee's code once more for
# each level that links it, and a parallel kernel adds two levels (the gufunc
# and its wrapper) around the whole chain; that alone was a third of the
# chain's cold compile time.


@jobjit
def _chain_jobs(src, dst, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad, scales,
                lo, hi, band, first_job, end_job):
    """Jobs ``first_job:end_job`` of a chain; job ``j`` is band ``j % n_bands`` of slice ``j // n_bands``."""
    h = src.shape[1]
    n_bands = (h + band - 1) // band
    scratch = _scratch(src, taps_x, ky, band, col_pad)
    in_memory = first_job >= 0  # True, typed bool: one _chain_band serves both kernels
    for job in range(first_job, end_job):
        n = job // n_bands
        y0 = (job % n_bands) * band
        _chain_band(src[n], dst[n], y0, min(h, y0 + band), kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps,
                    cvals, row_pad, col_pad, scales, lo, hi, in_memory, scratch)


@jobjit
def _chain_equalize_jobs(src, dst, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad,
                         scales, lo, hi, band, maxval, first_job, end_job):
    """Slices ``first_job:end_job``: the chain into a slice buffer (cache-sized), then its equalisation."""
    h, w = src.shape[1], src.shape[2]
    scratch = _scratch(src, taps_x, ky, band, col_pad)
    tmp = np.empty((h, w), src.dtype)
    in_memory = first_job < 0  # False, typed bool (see _chain_jobs)
    for n in range(first_job, end_job):
        for y0 in range(0, h, band):
            _chain_band(src[n], tmp, y0, min(h, y0 + band), kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps,
                        cvals, row_pad, col_pad, scales, lo, hi, in_memory, scratch)
        lut, lo_value = range_lut(tmp, maxval)
        apply_lut(tmp, lut, lo_value, dst[n])


@jit
def _scratch(src, taps_x, ky, band, col_pad):
    """Per-chunk buffers, sized for a band plus the whole chain's halo, 64-byte aligned."""
    w = src.shape[2]
    total = 0
    kmax = 1
    for s in range(ky.shape[0]):
        total += ky[s] // 2
        kmax = max(kmax, ky[s])
    rows = band + 2 * total
    # Lines keep their interior (from _line_start on) cache-line aligned.
    n_line = _line_start(col_pad, 1) + w + col_pad
    acc_row = taps_x[0]
    return (
        _aligned(rows, w, src),  # stage output A
        _aligned(rows, w, src),  # stage output B
        _aligned(rows + kmax, w, src),  # doubling rows of wide min/max columns
        _aligned(1, n_line, src)[0],  # extended line (min/max)
        _aligned(1, n_line, src)[0],  # doubling ping
        _aligned(1, n_line, src)[0],  # doubling pong
        _aligned(1, n_line, acc_row)[0],  # extended line (linear)
        _aligned(1, w, acc_row)[0],  # row-pass accumulator (linear)
        _aligned(1, w, src)[0],  # a row of cval (rows outside the slice in mode constant)
        _aligned(kmax, w, acc_row),  # ring of row-pass results (tall linear stages)
    )


@jit
def _aligned(rows, w, like):
    """An uninitialised ``(rows, w)`` array of ``like``'s dtype whose data start on a 64-byte boundary.

    numba aligns to 32 bytes; a 512-bit vector loop over a row that starts
    mid cache line splits every load and store across two lines.
    """
    n = rows * w
    step = 64 // like.itemsize
    buf = np.empty(n + step, like.dtype)
    off = ((64 - buf.ctypes.data % 64) % 64) // like.itemsize
    return buf[off : off + n].reshape((rows, w))


@rowjit_inline
def _line_start(col_pad, itemsize):
    """Index of a line's interior in its buffer: ``col_pad`` rounded up to whole cache lines."""
    step = max(1, 64 // itemsize)
    return (col_pad + step - 1) // step * step


@rowjit
def _chain_band(img, out, y0, y1, kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad,
                scales, lo, hi, out_in_memory, scratch):
    """Rows ``y0:y1`` of the whole chain applied to slice ``img``, written to ``out``.

    ``out_in_memory``: ``out`` is a batch in memory (not a cached slice), worth
    prefetching for writing.
    """
    h = img.shape[0]
    buf_a, buf_b = scratch[0], scratch[1]
    n_stages = kinds.shape[0]
    halo_after = 0
    for s in range(n_stages):
        halo_after += ky[s] // 2
    inp = img
    in_base = y0 - y0  # 0 typed int64: a literal 0 would compile every stage twice
    for s in range(n_stages):
        halo_after -= ky[s] // 2  # rows still needed by the stages after this one
        olo = max(0, y0 - halo_after)
        ohi = min(h, y1 + halo_after)
        if s == n_stages - 1:
            target = out
            t_base = 0
            olo, ohi = y0, y1
        else:
            target = buf_a if s % 2 == 0 else buf_b
            t_base = olo
        # Only the first stage reads rows from memory and only the last writes
        # them there; the others use band buffers that stay in cache.
        ahead = _prefetch_distance(img) if s == 0 else 0
        wahead = _prefetch_distance(img) if s == n_stages - 1 and out_in_memory else 0
        if kinds[s] == STAGE_LINEAR:
            _linear_stage(inp, in_base, target, t_base, olo, ohi, ky[s], kx[s], taps_y[s], taps_x[s],
                          rows_maps[s], cols_maps[s], cvals[s], row_pad, col_pad, scales[s], lo, hi, ahead, wahead,
                          scratch)
        else:
            _extreme_stage(inp, in_base, target, t_base, olo, ohi, kinds[s] == STAGE_MAX, ky[s], kx[s],
                           rows_maps[s], cols_maps[s], cvals[s], row_pad, col_pad, ahead, wahead, scratch)
        inp = target
        in_base = t_base


@rowjit_inline
def _source_row(inp, in_base, m, const_row):
    """Input row of extended row-map entry ``m`` (-1: the row of cval)."""
    if m < 0:
        return const_row
    return inp[m - in_base]


@rowjit_inline
def _prefetch_distance(img):
    """Rows to prefetch ahead: about 8 KiB, at least one row and at most eight."""
    return max(1, min(8, 8192 // max(1, img.shape[1] * img.itemsize)))


@rowjit_inline
def _prefetch_source(inp, rmap, i, ahead):
    """Prefetch the source row of row-map entry ``i`` (first stage only: ``ahead > 0``)."""
    if ahead > 0 and i < rmap.shape[0]:
        m = rmap[i]
        if m >= 0:
            prefetch_row(inp[m])


@rowjit_inline
def _prefetch_target(target, i, wahead):
    """Fetch target row ``i`` for writing (last stage only: ``wahead > 0``)."""
    if wahead > 0 and i < target.shape[0]:
        prefetch_row_for_write(target[i])


@rowjit
def _fill_const(const_row, cval, rmap, lo, hi):
    """Fill the row of cval only when the rows ``lo:hi`` of the row map need it."""
    for i in range(lo, hi):
        if rmap[i] < 0:
            for x in range(const_row.shape[0]):
                const_row[x] = cval
            return


@rowjit_inline
def _extend(line, cmap, c0, hx, w, cval):
    """Border columns of ``line`` (interior ``line[hx : hx + w]`` filled) from its own interior."""
    for j in range(hx):
        s = cmap[c0 + j]
        line[j] = line[hx + s] if s >= 0 else cval
    for j in range(hx + w, w + 2 * hx):
        s = cmap[c0 + j]
        line[j] = line[hx + s] if s >= 0 else cval


# ---------------------------------------------------------------------------
# running min / max


@rowjit
def _extreme_stage(inp, in_base, target, t_base, olo, ohi, is_max, ky, kx, rmap, cmap, cval, row_pad, col_pad,
                   ahead, wahead, scratch):
    w = inp.shape[1]
    hy = ky // 2
    hx = kx // 2
    c0 = col_pad - hx  # where this stage's column map starts inside the shared map
    wide_rows, line_full, ping, pong, const_row = scratch[2], scratch[3], scratch[4], scratch[5], scratch[8]
    a0 = _line_start(col_pad, line_full.itemsize)
    line = line_full[a0 - hx : a0 + w + hx]
    mid = line[hx : hx + w]
    # Shifted views of the line for the row pass, made once per stage (unused ones are clipped).
    l0, l1, l2 = line[0:w], line[min(1, 2 * hx) : min(1, 2 * hx) + w], line[min(2, 2 * hx) : min(2, 2 * hx) + w]
    l3, l4 = line[min(3, 2 * hx) : min(3, 2 * hx) + w], line[min(4, 2 * hx) : min(4, 2 * hx) + w]
    first = olo - hy + row_pad  # row-map entry of the first window row of output row olo
    n_in = ohi - olo + ky - 1
    _fill_const(const_row, cval, rmap, first, first + n_in)
    p = 1
    if ky >= DOUBLING_MIN_WINDOW:
        p = _vertical_doubling(inp, in_base, rmap, first, n_in, ky, is_max, const_row, ahead, wide_rows)
    for o in range(olo, ohi):
        f = first + o - olo
        res = target[o - t_base]
        col = res if kx == 1 else mid  # a 1-wide row pass would only copy
        if ky < DOUBLING_MIN_WINDOW:
            _prefetch_source(inp, rmap, f + ky - 1 + ahead, ahead)
        _prefetch_target(target, o - t_base + wahead, wahead)
        # Column pass: min/max of the ky window rows.
        if ky == 1:
            _copy(_source_row(inp, in_base, rmap[f], const_row), col)
        elif ky == 3:
            _extreme3(_source_row(inp, in_base, rmap[f], const_row),
                      _source_row(inp, in_base, rmap[f + 1], const_row),
                      _source_row(inp, in_base, rmap[f + 2], const_row), is_max, col)
        elif ky < DOUBLING_MIN_WINDOW:
            _extreme5(_source_row(inp, in_base, rmap[f], const_row),
                      _source_row(inp, in_base, rmap[f + 1], const_row),
                      _source_row(inp, in_base, rmap[f + 2], const_row),
                      _source_row(inp, in_base, rmap[f + 3], const_row),
                      _source_row(inp, in_base, rmap[f + 4], const_row), is_max, col)
            for t in range(5, ky):
                _extreme_into(col, _source_row(inp, in_base, rmap[f + t], const_row), is_max)
        else:
            _extreme2(wide_rows[o - olo], wide_rows[o - olo + ky - p], is_max, col)
        if kx == 1:
            continue
        # Row pass over the extended line.
        _extend(line, cmap, c0, hx, w, cval)
        if kx == 3:
            _extreme3(l0, l1, l2, is_max, res)
        elif kx < DOUBLING_MIN_WINDOW:
            _extreme5(l0, l1, l2, l3, l4, is_max, res)
            for t in range(5, kx):
                _extreme_into(res, line[t : t + w], is_max)
        else:
            _row_doubling(line, kx, is_max, res, ping, pong)


@rowjit
def _vertical_doubling(inp, in_base, rmap, first, n_in, k, is_max, const_row, ahead, rows):
    """Window-``p`` extremes down the columns (``p`` the largest power of two <= ``k``) into ``rows``.

    ``rows[i]`` ends up as the extreme of input rows ``i .. i + p - 1`` (of the
    ``n_in`` window rows starting at row-map entry ``first``); returns ``p``.
    """
    for i in range(n_in - 1):
        _prefetch_source(inp, rmap, first + i + 1 + ahead, ahead)
        a = _source_row(inp, in_base, rmap[first + i], const_row)
        b = _source_row(inp, in_base, rmap[first + i + 1], const_row)
        _extreme2(a, b, is_max, rows[i])
    p = 2
    n = n_in - 1  # valid rows of the window-p extremes
    while 2 * p <= k:
        # In place: row i + p is read before it is overwritten (rows go upwards).
        n -= p
        for i in range(n):
            _extreme_into(rows[i], rows[i + p], is_max)
        p *= 2
    return p


@rowjit
def _row_doubling(line, k, is_max, res, ping, pong):
    """``res[x]`` = min/max of ``line[x : x + k]`` by doubling between two buffers.

    After the pass of span p, ``cur[i]`` holds the extreme of ``line[i : i + 2p]``.
    """
    w = res.shape[0]
    n = line.shape[0] - 1
    _extreme2(line[0:n], line[1 : n + 1], is_max, ping[:n])
    cur, nxt = ping, pong
    p = 2
    while 2 * p <= k:
        n -= p
        _extreme2(cur[0:n], cur[p : p + n], is_max, nxt[:n])
        cur, nxt = nxt, cur
        p *= 2
    _extreme2(cur[0:w], cur[k - p : k - p + w], is_max, res)


@rowjit
def _copy(src, dst):
    """``dst[:] = src[:len(dst)]`` as a plain loop (numba's slice assignment is much slower)."""
    for x in range(dst.shape[0]):
        dst[x] = src[x]


@rowjit
def _extreme2(a, b, is_max, res):
    if is_max:
        for x in range(res.shape[0]):
            res[x] = max(a[x], b[x])
    else:
        for x in range(res.shape[0]):
            res[x] = min(a[x], b[x])


@rowjit
def _extreme_into(res, b, is_max):
    """``res = min/max(res, b)`` (one array read and written: no aliasing check)."""
    if is_max:
        for x in range(res.shape[0]):
            res[x] = max(res[x], b[x])
    else:
        for x in range(res.shape[0]):
            res[x] = min(res[x], b[x])


@rowjit
def _extreme3(a, b, c, is_max, res):
    if is_max:
        for x in range(res.shape[0]):
            res[x] = max(max(a[x], b[x]), c[x])
    else:
        for x in range(res.shape[0]):
            res[x] = min(min(a[x], b[x]), c[x])


@rowjit
def _extreme5(a, b, c, d, e, is_max, res):
    if is_max:
        for x in range(res.shape[0]):
            res[x] = max(max(max(a[x], b[x]), max(c[x], d[x])), e[x])
    else:
        for x in range(res.shape[0]):
            res[x] = min(min(min(a[x], b[x]), min(c[x], d[x])), e[x])


# ---------------------------------------------------------------------------
# linear (separable convolution with symmetric taps)


@rowjit
def _linear_stage(inp, in_base, target, t_base, olo, ohi, ky, kx, ty, tx, rmap, cmap, cval, row_pad, col_pad,
                  scale, lo, hi, ahead, wahead, scratch):
    w = inp.shape[1]
    hy = ky // 2
    hx = kx // 2
    c0 = col_pad - hx
    line_full, acc, const_row, h_rows = scratch[6], scratch[7], scratch[8], scratch[9]
    a0 = _line_start(col_pad, line_full.itemsize)
    line = line_full[a0 - hx : a0 + w + hx]
    mid = line[hx : hx + w]
    first = olo - hy + row_pad
    n_in = ohi - olo + ky - 1
    _fill_const(const_row, cval, rmap, first, first + n_in)
    if ky >= ROWS_FIRST_MIN_TAPS and not is_float(inp):
        # Tall kernels on integers: each input row is widened once and filtered along the
        # row into a ring of the last ky accumulator rows; the column pass
        # then sums ring rows (no conversions; the ring stays in L2).
        ring = h_rows[:ky]
        for i in range(n_in):
            _prefetch_source(inp, rmap, first + i + ahead, ahead)
            _widen(_source_row(inp, in_base, rmap[first + i], const_row), mid)
            _extend(line, cmap, c0, hx, w, cval)
            _linear_row(line, kx, tx, scale, lo, hi, acc, ring[i % ky])
            o = olo + i - (ky - 1)  # the output row whose window this input row completes
            if o >= olo:
                _prefetch_target(target, o - t_base + wahead, wahead)
                _folded_ring_sum(ring, (o - olo) % ky, ky, ty, acc)
                _finish_row(acc, scale, lo, hi, target[o - t_base])
        return
    # Column pass first: the input rows are read (and widened) where they lie.
    # A border column outside the slice sums cval down its column.
    cval_col = cval - cval
    for t in range(ky):
        cval_col += ty[t] * cval
    for o in range(olo, ohi):
        f = first + o - olo
        _prefetch_source(inp, rmap, f + ky - 1 + ahead, ahead)
        _prefetch_target(target, o - t_base + wahead, wahead)
        centre = _source_row(inp, in_base, rmap[f + hy], const_row)
        if ky == 1:
            _sum1(centre, ty[0], mid)
        elif ky == 3:
            _sum3(_source_row(inp, in_base, rmap[f], const_row), centre,
                  _source_row(inp, in_base, rmap[f + 2], const_row), ty[0], ty[1], mid)
        elif ky == 5:
            _sum5(_source_row(inp, in_base, rmap[f], const_row), _source_row(inp, in_base, rmap[f + 1], const_row),
                  centre, _source_row(inp, in_base, rmap[f + 3], const_row),
                  _source_row(inp, in_base, rmap[f + 4], const_row), ty[0], ty[1], ty[2], mid)
        else:
            _folded_column_sum(inp, in_base, rmap, f, ky, ty, const_row, mid)
        _extend(line, cmap, c0, hx, w, cval_col)
        _linear_row(line, kx, tx, scale, lo, hi, acc, target[o - t_base])


@rowjit
def _linear_row(line, k, taps, scale, lo, hi, acc, res):
    """``res[x]`` = the finished ``sum_t taps[t] * line[x + t]``, symmetric taps folded."""
    w = res.shape[0]
    if k == 1:
        _sum1_finish(line, taps[0], scale, lo, hi, res)
    elif k == 3:
        _sum3_finish(line[0:w], line[1 : w + 1], line[2 : w + 2], taps[0], taps[1], scale, lo, hi, res)
    elif k == 5:
        _sum5_finish(line[0:w], line[1 : w + 1], line[2 : w + 2], line[3 : w + 3], line[4 : w + 4],
                     taps[0], taps[1], taps[2], scale, lo, hi, res)
    else:
        _folded_line_sum(line, k, taps, acc)
        _finish_row(acc, scale, lo, hi, res)


@rowjit
def _folded_column_sum(inp, in_base, rmap, first, k, taps, const_row, acc):
    """``acc = sum_t taps[t] * row(first + t)`` over input rows, as :func:`_folded_ring_sum`."""
    h = k // 2
    _sum1(_source_row(inp, in_base, rmap[first + h], const_row), taps[h], acc)
    t = 0
    while t + 4 <= h:
        _add_pairs4(_source_row(inp, in_base, rmap[first + t], const_row),
                    _source_row(inp, in_base, rmap[first + k - 1 - t], const_row),
                    _source_row(inp, in_base, rmap[first + t + 1], const_row),
                    _source_row(inp, in_base, rmap[first + k - 2 - t], const_row),
                    _source_row(inp, in_base, rmap[first + t + 2], const_row),
                    _source_row(inp, in_base, rmap[first + k - 3 - t], const_row),
                    _source_row(inp, in_base, rmap[first + t + 3], const_row),
                    _source_row(inp, in_base, rmap[first + k - 4 - t], const_row),
                    taps[t], taps[t + 1], taps[t + 2], taps[t + 3], acc)
        t += 4
    while t < h:
        _add_pair(_source_row(inp, in_base, rmap[first + t], const_row),
                  _source_row(inp, in_base, rmap[first + k - 1 - t], const_row), taps[t], acc)
        t += 1


@rowjit
def _folded_ring_sum(ring, start, k, taps, acc):
    """``acc = sum_t taps[t] * ring[(start + t) % k]``: pairs of symmetric rows, four pairs per pass."""
    h = k // 2
    _sum1(ring[(start + h) % k], taps[h], acc)
    t = 0
    while t + 4 <= h:
        _add_pairs4(ring[(start + t) % k], ring[(start + k - 1 - t) % k], ring[(start + t + 1) % k],
                    ring[(start + k - 2 - t) % k], ring[(start + t + 2) % k], ring[(start + k - 3 - t) % k],
                    ring[(start + t + 3) % k], ring[(start + k - 4 - t) % k],
                    taps[t], taps[t + 1], taps[t + 2], taps[t + 3], acc)
        t += 4
    while t < h:
        _add_pair(ring[(start + t) % k], ring[(start + k - 1 - t) % k], taps[t], acc)
        t += 1


@rowjit
def _folded_line_sum(line, k, taps, acc):
    """``acc[x] = sum_t taps[t] * line[x + t]``, as :func:`_folded_sum` over shifted views."""
    w = acc.shape[0]
    h = k // 2
    _sum1(line[h : h + w], taps[h], acc)
    t = 0
    while t + 4 <= h:
        e = k - 1 - t
        _add_pairs4(line[t : t + w], line[e : e + w], line[t + 1 : t + 1 + w], line[e - 1 : e - 1 + w],
                    line[t + 2 : t + 2 + w], line[e - 2 : e - 2 + w], line[t + 3 : t + 3 + w],
                    line[e - 3 : e - 3 + w], taps[t], taps[t + 1], taps[t + 2], taps[t + 3], acc)
        t += 4
    while t < h:
        e = k - 1 - t
        _add_pair(line[t : t + w], line[e : e + w], taps[t], acc)
        t += 1


# Inner loops. ``fastmath={"contract"}`` lets LLVM fuse multiply-adds: exact
# either way for the integer (fixed-point) sums; float images get one rounding
# less per tap.


@linjit
def _widen(row, res):
    for x in range(res.shape[0]):
        res[x] = row[x]


@linjit
def _sum1(a, c, res):
    for x in range(res.shape[0]):
        res[x] = c * as_acc(a[x], c)


@linjit
def _sum3(a, b, d, c0, cc, res):
    for x in range(res.shape[0]):
        res[x] = cc * as_acc(b[x], cc) + c0 * (as_acc(a[x], cc) + as_acc(d[x], cc))


@linjit
def _sum5(a, b, m, d, e, c0, c1, cc, res):
    for x in range(res.shape[0]):
        res[x] = cc * as_acc(m[x], cc) + c0 * (as_acc(a[x], cc) + as_acc(e[x], cc)) + c1 * (
            as_acc(b[x], cc) + as_acc(d[x], cc))


@linjit
def _add_pair(a, b, c, acc):
    for x in range(acc.shape[0]):
        acc[x] += c * (as_acc(a[x], c) + as_acc(b[x], c))


@linjit
def _add_pairs4(a0, b0, a1, b1, a2, b2, a3, b3, c0, c1, c2, c3, acc):
    for x in range(acc.shape[0]):
        acc[x] += (c0 * (as_acc(a0[x], c0) + as_acc(b0[x], c0)) + c1 * (as_acc(a1[x], c0) + as_acc(b1[x], c0))) + (
            c2 * (as_acc(a2[x], c0) + as_acc(b2[x], c0)) + c3 * (as_acc(a3[x], c0) + as_acc(b3[x], c0)))


@linjit
def _sum1_finish(a, c, scale, lo, hi, res):
    for x in range(res.shape[0]):
        res[x] = finish(c * a[x], scale, lo, hi, res)


@linjit
def _sum3_finish(a, b, d, c0, cc, scale, lo, hi, res):
    for x in range(res.shape[0]):
        res[x] = finish(cc * b[x] + c0 * (a[x] + d[x]), scale, lo, hi, res)


@linjit
def _sum5_finish(a, b, m, d, e, c0, c1, cc, scale, lo, hi, res):
    for x in range(res.shape[0]):
        res[x] = finish(cc * m[x] + c0 * (a[x] + e[x]) + c1 * (b[x] + d[x]), scale, lo, hi, res)


@linjit
def _finish_row(acc, scale, lo, hi, res):
    for x in range(res.shape[0]):
        res[x] = finish(acc[x], scale, lo, hi, res)


def is_float(a):  # pragma: no cover - replaced by the overload
    """True when array ``a`` holds floats (a compile-time constant in kernels)."""
    raise NotImplementedError


@overload(is_float, jit_options={"cache": True})
def _is_float_overload(a):
    result = isinstance(a.dtype, types.Float)
    return lambda a: result


def as_acc(v, like):  # pragma: no cover - replaced by the overload
    """``v`` in the accumulator type of ``like`` (a tap): pixel sums are then exact and vectorise."""
    raise NotImplementedError


@overload(as_acc, jit_options={"cache": True})
def _as_acc_overload(v, like):
    if like == types.float64:
        return lambda v, like: np.float64(v)
    return lambda v, like: np.float32(v)


def finish(v, scale, lo, hi, res):  # pragma: no cover - replaced by the overload
    """An accumulated sum as a value of ``res``'s dtype."""
    raise NotImplementedError


@overload(finish, jit_options={"cache": True})
def _finish_overload(v, scale, lo, hi, res):
    # Integer outputs: the sum is an exact fixed-point value; round half up
    # (floor(v * 2**-bits + 1/2), exact in the accumulator type) and saturate.
    # lo / hi come in the accumulator type, so nothing is widened.
    if isinstance(res.dtype, types.Integer):
        if v == types.float32:
            return lambda v, scale, lo, hi, res: min(max(np.floor(v * scale + np.float32(0.5)), lo), hi)
        return lambda v, scale, lo, hi, res: min(max(np.floor(v * scale + 0.5), lo), hi)
    return lambda v, scale, lo, hi, res: v
