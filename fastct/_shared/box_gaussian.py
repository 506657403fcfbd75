"""Large Gaussians in constant time per pixel: a cascade of box filters.

An exact Gaussian costs one multiply-add per tap, so sigma 8 (65 taps per
axis) costs seven times sigma 1.1 (9 taps). For wide kernels
:func:`fastct.gaussian_blur` switches to the convolution of ``BOXES`` box
filters per axis, whose cost does not depend on sigma (two additions per box
per pixel with running or prefix sums).

The widths are chosen per axis, among all sets of ``BOXES`` widths near
``sqrt(12 sigma**2 / BOXES + 1)`` (even widths in pairs, so the cascade stays
centred), to minimise the total-variation distance to the exact truncated
Gaussian taps. That distance bounds the error: for every image,
``|box(x) - gaussian(x)| <= (err_y + err_x) * (max(x) - min(x))`` with
``err = sum(|box taps - gaussian taps|) / 2``, which is about 0.012-0.016
for sigma >= 3 (:func:`box_error`); on CT slices the measured error is
smaller: 0.6-1.5% of the value range at most, 1.3-2.5 HU on average (see
``gaussian_blur``'s notes and tests/test_box_gaussian.py).

Every backend computes the same integers. The cascade of one axis is an
integer kernel summing to ``D = prod(widths)``: integer images are summed
exactly (in float64 on the CPU, int64 on the GPU, all sums below 2**53) and
rounded half up once at the end; only cascades too wide for that (sigma above
about 14) round the row sums to :func:`mid_bits` fractional bits first.
Float images are summed in float64.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ..errors import InvalidArgumentError
from .gaussian import gaussian_taps_1d

#: Boxes per axis. Four keep the worst-case error near 1.3% at twice the cost
#: of two; five gain little (about 1.0%).
BOXES = 4

#: Integer sums stay below 2**53; the row pass keeps this many fractional bits
#: at most (more would only matter for images with a 2**-24 contrast).
MAX_FRAC_BITS = 24

#: Fewer fractional bits than this after the row pass would make the rounding
#: between the passes visible; such huge kernels use the exact taps instead.
MIN_FRAC_BITS = 8

#: Magnitude bound of the integer dtypes (uint16 is the widest): 2**16.
_PEAK_BITS = 16


@functools.lru_cache(maxsize=256)
def box_widths(sigma: float, truncate: float = 4.0, boxes: int = BOXES) -> tuple[int, ...]:
    """Box widths whose cascade best approximates the truncated Gaussian of ``sigma``.

    Returns ``(1,)``, the identity, for sigma 0 (the axis is left unchanged).
    Widths are sorted; an even width always comes with a second even width.

    Examples
    --------
    >>> box_widths(8.0)
    (13, 13, 14, 14)
    >>> box_widths(0.0)
    (1,)
    """
    if sigma == 0:
        return (1,)
    exact = gaussian_taps_1d(sigma, None, truncate)
    centre = int(np.sqrt(12.0 * sigma * sigma / boxes + 1.0))
    best = None
    for widths in itertools.combinations_with_replacement(range(max(1, centre - 3), centre + 4), boxes):
        if sum(w % 2 == 0 for w in widths) % 2:
            continue  # an odd number of even boxes is off centre by half a pixel
        err = _distance(cascade_taps(widths), exact)
        if best is None or err < best[0] - 1e-15:
            best = (err, widths)
    return tuple(int(w) for w in best[1])


def cascade_taps(widths) -> np.ndarray:
    """The normalised taps of a box cascade (float64, odd length, centred)."""
    taps = np.ones(1)
    for w in widths:
        taps = np.convolve(taps, np.ones(int(w)))
    return taps / taps.sum()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance between two centred kernels of any odd lengths."""
    n = max(len(a), len(b))
    a = np.pad(a, (n - len(a)) // 2)
    b = np.pad(b, (n - len(b)) // 2)
    return float(np.abs(a - b).sum() / 2)


def box_error(sigma: float, truncate: float = 4.0) -> float:
    """The error bound of one axis: half the L1 distance of its cascade to the exact taps.

    Examples
    --------
    >>> round(box_error(8.0), 3)
    0.012
    """
    if sigma == 0:
        return 0.0
    return _distance(cascade_taps(box_widths(sigma, truncate)), gaussian_taps_1d(sigma, None, truncate))


def radius(widths) -> int:
    """Pixels the cascade reads on each side (its taps span ``2 * radius + 1``)."""
    return sum(int(w) - 1 for w in widths) // 2


def _products(widths_y, widths_x) -> tuple[int, int]:
    return int(np.prod(widths_y, dtype=np.int64)), int(np.prod(widths_x, dtype=np.int64))


def mid_bits(widths_y, widths_x) -> int | None:
    """How integer row sums are kept between the row and the column pass.

    None: exactly (every two-axis sum of a 16-bit image stays below 2**52, so
    the result is rounded once). Otherwise the number of fractional bits the
    row sums are rounded to (half up), chosen so that every later sum stays
    below 2**52: ``2**17 * max(D) * 2**bits <= 2**52`` with ``D = prod(widths)``.
    """
    d_y, d_x = _products(widths_y, widths_x)
    if ((d_y * d_x) << (_PEAK_BITS + 1)) <= (1 << 52):
        return None
    return min(MAX_FRAC_BITS, 52 - _PEAK_BITS - 1 - (max(d_y, d_x) - 1).bit_length())


def supported(widths_y, widths_x) -> bool:
    """True when the cascades are small enough for exact integer sums (sigma up to about 60)."""
    bits = mid_bits(widths_y, widths_x)
    return bits is None or bits >= MIN_FRAC_BITS


def resolve_method(method, sigma, ksize, truncate, taps_y, taps_x):
    """The exact taps (None) or, only when asked by name, the box cascades.

    ``method="exact"`` (the default of every op) returns None: a medical tool
    does not approximate unless told to. ``"box"`` returns the cascades, or
    raises when ``ksize`` is given or the kernel is too large for them. On one
    CPU thread the cascade costs the same as 21 exact taps (sigma 2.5) and is
    2.5x faster at 65 (sigma 8), within :func:`box_error` of the exact taps.
    """
    if method not in ("exact", "box"):
        raise InvalidArgumentError(f"method: expected 'exact' or 'box', got {method!r}")
    if method == "exact":
        return None
    if ksize is not None:
        raise InvalidArgumentError("method: 'box' takes sigma and truncate, not ksize")
    sy, sx = sigma
    widths = (box_widths(float(sy), float(truncate)), box_widths(float(sx), float(truncate)))
    if not supported(*widths):
        raise InvalidArgumentError(
            f"sigma: {sigma} is too large for method='box' (at most about 60); use method='exact'"
        )
    return widths


# ---------------------------------------------------------------------------
# the array version, written once against an ``xp`` namespace (NumPy or
# CuPy): the GPU backend runs it, CI runs it with NumPy against the CPU kernel.


def round_half_up_div(s, d: int):
    """``floor(s / d + 1/2)`` for int64 ``s`` (NumPy or CuPy) and a positive integer ``d``, exact."""
    return (2 * s + d) // (2 * d)


def box_gaussian_xp(xp, src, dst, widths_y, widths_x, rows_map, cols_map, cval, lo, hi):
    """Box-cascade Gaussian of a batch ``src`` (N, H, W) into ``dst``, with prefix sums.

    Rows first, then columns, with the CPU kernel's rounding (see
    :func:`mid_bits`). ``rows_map``/``cols_map`` come from
    :func:`~fastct._shared.borders.border_index_map` with :func:`radius`
    on each side (-1 = constant ``cval``); ``lo``/``hi`` saturate integers.
    """
    integer = src.dtype.kind in "iu"
    d_y, d_x = _products(widths_y, widths_x)
    rows = _cascade(xp, _extend(xp, src.astype(xp.int64 if integer else xp.float64), cols_map, cval, axis=2),
                    widths_x, axis=2)
    bits = mid_bits(widths_y, widths_x) if integer else None
    if not integer:
        rows, cval_mid, divisor = rows / d_x, cval, d_y
    elif bits is None:
        cval_mid, divisor = int(cval) * d_x, d_y * d_x
    else:
        rows = round_half_up_div(rows << bits, d_x)
        cval_mid, divisor = int(cval) << bits, d_y << bits
    total = _cascade(xp, _extend(xp, rows, rows_map, cval_mid, axis=1), widths_y, axis=1)
    if integer:
        dst[...] = xp.clip(round_half_up_div(total, divisor), lo, hi).astype(dst.dtype)
    else:
        dst[...] = (total / divisor).astype(dst.dtype)
    return dst


def _extend(xp, a, index_map, cval, axis):
    """``a`` extended along ``axis`` by the host border map (-1 positions take ``cval``).

    The map stays a NumPy array, so deciding where ``cval`` goes needs no
    device-to-host copy.
    """
    index_map = np.asarray(index_map)
    outside = np.flatnonzero(index_map < 0)
    out = xp.take(a, xp.asarray(np.where(index_map < 0, 0, index_map)), axis=axis)
    if outside.size:
        where = [slice(None)] * a.ndim
        where[axis] = xp.asarray(outside)
        out[tuple(where)] = cval
    return out


def _cascade(xp, a, widths, axis):
    """Valid box sums of each width in turn along ``axis`` (each box shortens it by ``w - 1``)."""
    for w in widths:
        shape = list(a.shape)
        shape[axis] = 1
        # Prefix sums with a leading zero: box sums are differences of two of
        # them. int64 arithmetic wraps, but the differences are the exact sums.
        c = xp.cumsum(xp.concatenate([xp.zeros(shape, a.dtype), a], axis=axis), axis=axis)
        n = a.shape[axis]
        hi_idx = [slice(None)] * a.ndim
        lo_idx = [slice(None)] * a.ndim
        hi_idx[axis] = slice(w, n + 1)
        lo_idx[axis] = slice(0, n + 1 - w)
        a = c[tuple(hi_idx)] - c[tuple(lo_idx)]
    return a
