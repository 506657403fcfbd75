"""Linear filters: Gaussian blur, unsharp mask, Laplacian sharpening (CPU twin of ``gpu/filters.py``).

The Gaussian is a one-stage chain of :mod:`fastct.cpu.fused` (separable, per
band of rows, symmetric taps folded). Integer images use exact fixed-point
taps, accumulated in float32 where the sums stay below 2**24 (OpenCV's small
dyadic kernels) and in float64 otherwise (see :mod:`fastct._shared.gaussian`
and :func:`fastct._shared.fusion.accumulator_dtype`); float images in float32.
Wide Gaussians run as a box cascade instead (:mod:`fastct._shared.box_gaussian`):
running sums whose cost does not depend on sigma.

With ``taps_z`` (``axes`` including z) the batch is one volume: a linear
pass along z over whole slices (:mod:`fastct.cpu.volume`; integers exact,
rounded to the dtype) into a slab buffer, then the 2-D Gaussian in-plane.
"""

from __future__ import annotations

import numba
import numpy as np

from .._shared import box_gaussian as box
from .._shared import volume as _vol
from .._shared.borders import border_index_map
from .._shared.fusion import STAGE_LINEAR, ChainStage
from .._shared.gaussian import TAP_BITS
from .._shared.validation import saturation_limits
from ._jit import add_scaled, fill_line, jit, jobjit, rowjit, rowjit_inline, widen
from ._threads import run_jobs
from .fused import run_chain
from .intensity import row_jobs
from .volume import sharpen3d, z_linear

#: Rows per work item; patchable in tests to make small images cross bands.
BAND_ROWS = 32


def gaussian_blur(batch, out, *, taps_y, taps_x, mode, cval, boxes=None, taps_z=None):
    """Separable convolution with ``taps_y`` (rows) and ``taps_x`` (columns): a one-stage chain.

    With ``boxes = (widths_y, widths_x)`` the box cascade replaces the taps.
    With ``taps_z`` the batch is a volume filtered along z first.
    """
    if taps_z is not None:
        return _gaussian_volume(batch, out, taps_y, taps_x, mode, cval, boxes, taps_z)
    if boxes is not None:
        return box_gaussian(batch, out, widths_y=boxes[0], widths_x=boxes[1], mode=mode, cval=cval)
    stage = ChainStage(STAGE_LINEAR, len(taps_y), len(taps_x), taps_y, taps_x, mode, cval)
    return run_chain(batch, out, [stage])


def _gaussian_volume(batch, out, taps_y, taps_x, mode, cval, boxes, taps_z, out_range=None):
    """The Gaussian of a volume; ``out_range=(a, b)``: only output slices ``a:b``, into ``out`` of ``b - a`` slices."""
    return _vol.linear_volume(
        batch, out, _vol.z_taps(taps_z, batch.dtype), cval, *saturation_limits(batch.dtype),
        plane=lambda s, d: gaussian_blur(s, d, taps_y=taps_y, taps_x=taps_x, mode=mode, cval=cval, boxes=boxes),
        z_linear=z_linear, empty=np.empty, slab=_vol.linear_slab(batch.shape, batch.dtype.itemsize), mode=mode,
        tap_bits=TAP_BITS, out_range=out_range)


def box_gaussian(batch, out, *, widths_y, widths_x, mode, cval):
    """Box-cascade Gaussian (see :mod:`fastct._shared.box_gaussian`), one slice per job.

    A slice streams through in one pass: its border-extended rows are summed
    along their length four at a time and fed one by one to the column boxes,
    which keep the last ``w`` rows they received in small rings and emit an
    output row as soon as they have enough (vector instructions across the
    row; once all boxes are full, a row passes through the four in one loop).
    Rows are summed as lagged differences then running sums: all four boxes
    at once for integers, exactly, in int64 (:func:`_box_rows_integer`), two
    boxes at a time for floats, in float64 (:func:`_box_rows_pairs`); more
    than four boxes go box by box (:func:`_box_rows`). Working memory: a few
    dozen rows per thread, whatever the batch.
    """
    if not widths_y or not widths_x:
        raise ValueError("box_gaussian: every axis needs at least one box (width 1 is the identity)")
    cval = cval
    n, h, w = batch.shape
    ry, rx = box.radius(widths_y), box.radius(widths_x)
    rows_map = border_index_map(h, ry, ry, mode)  # -1: a row of cval (mode constant)
    cols_map = border_index_map(w, rx, rx, mode)
    integer = batch.dtype.kind in "iu"
    d_y = float(np.prod(widths_y, dtype=np.int64))
    d_x = float(np.prod(widths_x, dtype=np.int64))
    bits = box.mid_bits(widths_y, widths_x) if integer else None
    # Integer row sums are kept exact, or rounded to `bits` fractional bits
    # when the column sums could otherwise pass 2**53.
    mid_scale = -1.0 if bits is None else float(1 << bits)
    lo, hi = saturation_limits(out.dtype)
    # Rows take the differences-then-sums form (_box_rows_integer, _box_rows_pairs), written for
    # INTEGRATED_BOXES boxes; fewer are padded with width-1 boxes, which change nothing.
    integrated = len(widths_x) <= INTEGRATED_BOXES
    row_widths = tuple(widths_x) + (1,) * (INTEGRATED_BOXES - len(widths_x)) if integrated else tuple(widths_x)
    args = (batch, out, np.asarray(widths_y, np.int64), np.asarray(row_widths, np.int64), rows_map, cols_map,
            float(cval), d_y, d_x, mid_scale, integer, integrated, lo, hi)
    run_jobs(_box_gaussian_kernel, args, n)
    return out


#: Boxes per axis of the differences-then-sums row paths
#: (:func:`_box_rows_integer`, :func:`_box_rows_pairs`): ``box.BOXES``.
INTEGRATED_BOXES = 4


#: Slices blurred at a time by :func:`unsharp_mask` (at least one per thread
#: for the box cascade): the blurred temporary is this many slices, not the
#: whole batch.
UNSHARP_CHUNK_SLICES = 4


def unsharp_mask(batch, out, *, taps_y, taps_x, amount, mode, cval, boxes=None, taps_z=None):
    """``x + amount * (x - gaussian(x))``; integers blur to integers first.

    The blur is :func:`gaussian_blur` (the box cascade when ``boxes`` is given;
    volumetric with ``taps_z``).
    """
    n, h, w = batch.shape
    if taps_z is not None:  # the blur of a slab of slices (it reads the whole volume), then the combination
        chunk = _vol.SLAB_SLICES

        def blur(start, stop, tmp):
            _gaussian_volume(batch, tmp, taps_y, taps_x, mode, cval, boxes, taps_z, (start, stop))
    else:
        chunk = UNSHARP_CHUNK_SLICES
        if boxes is not None:  # the box cascade gives each thread whole slices: one per thread at least
            chunk = max(chunk, numba.get_num_threads())

        def blur(start, stop, tmp):
            gaussian_blur(batch[start:stop], tmp, taps_y=taps_y, taps_x=taps_x, mode=mode, cval=cval, boxes=boxes)
    chunk = max(1, min(n, chunk))
    blurred = np.empty((chunk, h, w), out.dtype)
    lo, hi = saturation_limits(out.dtype)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        tmp = blurred[: stop - start]
        blur(start, stop, tmp)
        rows, jobs = row_jobs((stop - start) * h, w)
        # amount is cast to float32 inside add_scaled
        run_jobs(_unsharp_combine, (batch[start:stop], tmp, out[start:stop], float(amount), lo, hi, rows), jobs)
    return out


def sharpen(batch, out, *, amount, neighbours, mode, cval):
    """``x + amount * (k x - sum of its k neighbours)`` with k = 4 or 8.

    ``amount=1, neighbours=4`` is the classic kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``.
    ``neighbours`` 6 or 26 make the batch a volume (the 3-D Laplacian).
    """
    if neighbours in (6, 26):
        return sharpen3d(batch, out, amount=amount, neighbours=neighbours, mode=mode, cval=cval)
    cval = cval
    n, h, w = batch.shape
    rows_map = border_index_map(h, 1, 1, mode)
    cols_map = border_index_map(w, 1, 1, mode)
    acc_type = np.float32 if out.dtype.kind == "f" else np.int64
    lo, hi = saturation_limits(out.dtype)
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


@jit
def _round_half_up_div(s, d, inv_d):
    """``floor(s / d + 1/2)`` for integers ``s`` (|s| < 2**52) and ``d > 0`` held in float64, exact.

    ``inv_d`` is ``1 / d``: a multiplication instead of a division per pixel.
    The float estimate can be one off near a tie; the exact remainder
    ``s - q d`` (an integer below 2**53) corrects it.
    """
    q = np.floor(s * inv_d + 0.5)
    r2 = 2.0 * (s - q * d)
    if r2 < -d:
        q -= 1.0
    elif r2 >= d:
        q += 1.0
    return q


@rowjit
def _box_rows(lines, length, widths):
    """Box sums of each width in turn along the four ``lines``, in place; returns the new length.

    The four running sums are independent, so their additions overlap
    instead of waiting on each other (a single running sum is latency bound).
    """
    for k in range(widths.shape[0]):
        wk = widths[k]
        zero = lines[0, 0] * 0
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        l0, l1, l2, l3 = lines[0], lines[1], lines[2], lines[3]
        for i in range(wk):
            a0 += l0[i]
            a1 += l1[i]
            a2 += l2[i]
            a3 += l3[i]
        out_len = length - wk + 1
        for i in range(out_len - 1):
            s0, s1, s2, s3 = a0, a1, a2, a3
            a0 = s0 + l0[i + wk] - l0[i]
            a1 = s1 + l1[i + wk] - l1[i]
            a2 = s2 + l2[i + wk] - l2[i]
            a3 = s3 + l3[i + wk] - l3[i]
            l0[i] = s0
            l1[i] = s1
            l2[i] = s2
            l3[i] = s3
        l0[out_len - 1] = a0
        l1[out_len - 1] = a1
        l2[out_len - 1] = a2
        l3[out_len - 1] = a3
        length = out_len
    return length


@rowjit
def _box_rows_integer(lines, scratch, rows, length, widths, sums):
    """Exact box-cascade sums along ``rows`` integer ``lines`` into ``sums[r, :length - span]``.

    A box of width ``w`` is ``(1 - z**-w) / (1 - z**-1)``: a difference at lag
    ``w``, then a running sum. The cascade of four is therefore four lagged
    differences (vector passes over the line) followed by four running sums
    fused in one scalar pass, two lines at a time. A box-by-box cascade stores
    every stage's output for the next stage's subtraction; here the running
    sums stay in registers, and int64 additions take one cycle. All values are
    integers, so the result equals the box-by-box sums exactly (the
    intermediate sums are bounded by 16 times the cascade's, far below 2**63).
    ``widths`` has exactly four entries; ``lines`` and ``scratch`` are overwritten.
    """
    span = widths[0] + widths[1] + widths[2] + widths[3] - 4
    w0 = min(widths[0], length)
    w1 = min(widths[1], length)
    w2 = min(widths[2], length)
    w3 = min(widths[3], length)
    for r in range(rows):
        # ping-pong: the fourth difference lands back in `lines`
        _lagged_difference(lines[r], scratch[r], length, w0)
        _lagged_difference(scratch[r], lines[r], length, w1)
        _lagged_difference(lines[r], scratch[r], length, w2)
        _lagged_difference(scratch[r], lines[r], length, w3)
    for r in range(0, rows - 1, 2):
        _running_sums_x4(lines[r], lines[r + 1], sums[r], sums[r + 1], span, length)
    if rows % 2:
        _running_sums_x4(lines[rows - 1], lines[rows - 1], sums[rows - 1], sums[rows - 1], span, length)


@rowjit
def _box_rows_pairs(lines, scratch, mid, rows, length, widths):
    """Float box-cascade sums along ``rows`` ``lines``, in place (``lines[r, :length - span]``).

    Each pair of boxes ``(a, b)`` is two lagged differences (vector passes)
    and two nested running sums in one scalar pass: half the stores of two
    box-by-box passes. Nesting only two running sums keeps their rounding at
    about ``length**2 / a`` units of the largest value (the four nested
    sums of the integer path would grow as ``length**4``). ``widths`` has
    exactly four entries.
    """
    w0 = min(widths[0], length)
    w1 = min(widths[1], length)
    w2 = min(widths[2], length)
    w3 = min(widths[3], length)
    span1 = widths[0] + widths[1] - 2
    span2 = widths[2] + widths[3] - 2
    length1 = length - span1
    for r in range(rows):
        _lagged_difference(lines[r], scratch[r], length, w0)
        _lagged_difference(scratch[r], lines[r], length, w1)
    _running_sums_x2(lines, mid, rows, span1, length)
    for r in range(rows):
        _lagged_difference(mid[r], scratch[r], length1, min(w2, length1))
        _lagged_difference(scratch[r], mid[r], length1, min(w3, length1))
    _running_sums_x2(mid, lines, rows, span2, length1)


@rowjit
def _running_sums_x2(src, dst, rows, span, length):
    """Two nested running sums of each of the ``rows`` (<= 4) lines of ``src``; from index ``span`` on into ``dst``.

    The four lines go together: eight independent float additions per step
    hide the latency of each (a lone line waits on every one).
    """
    a0, a1 = src[0], src[min(1, rows - 1)]
    a2, a3 = src[min(2, rows - 1)], src[min(3, rows - 1)]
    o0, o1 = dst[0], dst[min(1, rows - 1)]
    o2, o3 = dst[min(2, rows - 1)], dst[min(3, rows - 1)]
    p1 = a0[0] * 0
    p2 = p1
    q1 = p1
    q2 = p1
    u1 = p1
    u2 = p1
    v1 = p1
    v2 = p1
    for j in range(span):
        p1 += a0[j]
        q1 += a1[j]
        u1 += a2[j]
        v1 += a3[j]
        p2 += p1
        q2 += q1
        u2 += u1
        v2 += v1
    t0 = a0[span:length]
    t1 = a1[span:length]
    t2 = a2[span:length]
    t3 = a3[span:length]
    for i in range(length - span):
        p1 += t0[i]
        q1 += t1[i]
        u1 += t2[i]
        v1 += t3[i]
        p2 += p1
        q2 += q1
        u2 += u1
        v2 += v1
        o0[i] = p2
        o1[i] = q2
        o2[i] = u2
        o3[i] = v2


@rowjit_inline
def _lagged_difference(a, b, length, lag):
    """``b[j] = a[j] - a[j - lag]``, with ``a[j - lag] = 0`` before the start."""
    for j in range(lag):
        b[j] = a[j]
    # views indexed from 0, so every index is a loop counter and the loop vectorises
    hi = b[lag:length]
    new = a[lag:length]
    old = a[: length - lag]
    for i in range(length - lag):
        hi[i] = new[i] - old[i]


@rowjit_inline
def _running_sums_x4(a0, a1, out0, out1, span, length):
    """Four nested running sums of ``a0`` and of ``a1``; values from index ``span`` on are stored."""
    p1 = a0[0] * 0
    p2 = p1
    p3 = p1
    p4 = p1
    q1 = p1
    q2 = p1
    q3 = p1
    q4 = p1
    for j in range(span):
        p1 += a0[j]
        p2 += p1
        p3 += p2
        p4 += p3
        q1 += a1[j]
        q2 += q1
        q3 += q2
        q4 += q3
    t0 = a0[span:length]
    t1 = a1[span:length]
    for i in range(length - span):
        p1 += t0[i]
        p2 += p1
        p3 += p2
        p4 += p3
        q1 += t1[i]
        q2 += q1
        q3 += q2
        q4 += q3
        out0[i] = p4
        out1[i] = q4


@rowjit
def _feed_columns(row, w, widths, rings, accs, counts, dst_slice, out_row, divisor, inv_divisor, integer, lo, hi):
    """Push one row of row sums through the column boxes; returns the next output row index.

    Box ``k`` keeps its last ``widths[k]`` inputs in ``rings[k]`` and their
    sum in ``accs[k]``; once full, each new input replaces the oldest and the
    sum is box ``k``'s output row, the input of box ``k + 1``. The last box's
    output goes to ``dst_slice[out_row]`` (rounded half up and saturated for
    integers, divided for floats).
    """
    if widths.shape[0] == 4 and counts[0] >= widths[0] and counts[1] >= widths[1] and counts[2] >= widths[2] \
            and counts[3] >= widths[3]:
        return _feed_columns_steady(row, w, widths, rings, accs, counts, dst_slice, out_row, divisor, inv_divisor,
                                    integer, lo, hi)
    inp = row
    for k in range(widths.shape[0]):
        wk = widths[k]
        seen = counts[k]
        ring = rings[k, seen % wk]
        acc = accs[k]
        if seen >= wk:
            for x in range(w):
                v = inp[x]
                acc[x] = acc[x] + v - ring[x]
                ring[x] = v
        else:
            for x in range(w):
                v = inp[x]
                acc[x] = acc[x] + v
                ring[x] = v
        counts[k] = seen + 1
        if seen + 1 < wk:
            return out_row
        inp = acc
    _store_row(inp, dst_slice[out_row], w, divisor, inv_divisor, integer, lo, hi)
    return out_row + 1


@rowjit_inline
def _feed_columns_steady(row, w, widths, rings, accs, counts, dst_slice, out_row, divisor, inv_divisor, integer,
                         lo, hi):
    """:func:`_feed_columns` once all four boxes are full: one pass, the row moving through the boxes in registers.

    The same additions in the same order as box by box, so the same bits.
    """
    r0 = rings[0, counts[0] % widths[0]]
    r1 = rings[1, counts[1] % widths[1]]
    r2 = rings[2, counts[2] % widths[2]]
    r3 = rings[3, counts[3] % widths[3]]
    a0, a1, a2, a3 = accs[0], accs[1], accs[2], accs[3]
    for k in range(4):
        counts[k] += 1
    sums = a3  # the last box's sums, rounded below
    for x in range(w):
        v = row[x]
        old = r0[x]
        r0[x] = v
        v = a0[x] + v - old
        a0[x] = v
        old = r1[x]
        r1[x] = v
        v = a1[x] + v - old
        a1[x] = v
        old = r2[x]
        r2[x] = v
        v = a2[x] + v - old
        a2[x] = v
        old = r3[x]
        r3[x] = v
        a3[x] = a3[x] + v - old
    _store_row(sums, dst_slice[out_row], w, divisor, inv_divisor, integer, lo, hi)
    return out_row + 1


@rowjit_inline
def _store_row(sums, res, w, divisor, inv_divisor, integer, lo, hi):
    """An output row from the cascade's sums: rounded half up and saturated for integers, scaled for floats."""
    if integer:
        for x in range(w):
            res[x] = min(max(_round_half_up_div(sums[x], divisor, inv_divisor), lo), hi)
    else:
        for x in range(w):
            res[x] = sums[x] * inv_divisor


@jobjit
def _box_gaussian_kernel(src, dst, widths_y, widths_x, rows_map, cols_map, cval, d_y, d_x, mid_scale, integer,
                         integrated, lo, hi, first_job, end_job):
    """Jobs ``first_job:end_job``; job ``j`` is slice ``j``."""
    w = src.shape[2]
    ly, lx = rows_map.shape[0], cols_map.shape[0]
    rx = (lx - w) // 2
    lines = np.zeros((4, lx))
    # `integrated` rows: integers extended into int64 lines and summed into `lines`;
    # floats summed in `lines` through two scratch sets of lines
    ilines = np.zeros((4, lx if integrated and integer else 0), np.int64)
    iscratch = np.zeros_like(ilines)
    fscratch = np.zeros((2, 4, lx if integrated and not integer else 0))
    n_boxes = widths_y.shape[0]
    rings = np.empty((n_boxes, widths_y.max(), w))
    accs = np.empty((n_boxes, w))
    counts = np.empty(n_boxes, np.int64)
    rounded = integer and mid_scale > 0
    inv_d_x = 1.0 / d_x
    if not integer:  # float row sums stay unscaled: one scaling at the end
        divisor = d_y * d_x
    elif rounded:
        divisor = d_y * mid_scale
    else:
        divisor = d_y * d_x
    inv_divisor = 1.0 / divisor
    for n in range(first_job, end_job):
        accs[:] = 0.0
        counts[:] = 0
        out_row = 0
        for t0 in range(0, ly, 4):
            rows = min(4, ly - t0)
            if integrated and integer:
                for r in range(rows):
                    fill_line(src, n, rows_map[t0 + r], cols_map, rx, cval, ilines[r])
                _box_rows_integer(ilines, iscratch, rows, lx, widths_x, lines)
            elif integrated:
                for r in range(rows):
                    fill_line(src, n, rows_map[t0 + r], cols_map, rx, cval, lines[r])
                _box_rows_pairs(lines, fscratch[0], fscratch[1], rows, lx, widths_x)
            else:
                for r in range(rows):
                    fill_line(src, n, rows_map[t0 + r], cols_map, rx, cval, lines[r])
                _box_rows(lines, lx, widths_x)
            for r in range(rows):
                line = lines[r]
                if rounded:
                    for x in range(w):
                        line[x] = _round_half_up_div(line[x] * mid_scale, d_x, inv_d_x)
                out_row = _feed_columns(line, w, widths_y, rings, accs, counts, dst[n], out_row, divisor,
                                        inv_divisor, integer, lo, hi)
