"""Slow, obviously correct references for the stencil ops (morphology, Gaussian, sharpening).

Everything here is plain NumPy loops over 2-D slices, or thin wrappers of
scipy.ndimage / OpenCV. Nothing imports fastct's kernels or its border maps:
the border extension is re-derived below by folding an index until it lands
inside the axis, the way the scipy.ndimage documentation draws it. The only
fastct piece used is ``fixed_point_taps``, because the integer Gaussian is
*defined* by those taps (the test of that function checks it on its own).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from fastct._shared.gaussian import TAP_BITS, fixed_point_taps

# ---------------------------------------------------------------------------
# border extension


def source_index(i: int, n: int, mode: str) -> int:
    """The source index that extended position ``i`` of an axis of length ``n`` copies (-1: cval).

    Modes as drawn in the scipy.ndimage documentation::

        nearest   a a a | a b c d | d d d
        reflect   c b a | a b c d | d c b
        mirror    d c b | a b c d | c b a
        wrap      b c d | a b c d | a b c
        constant  k k k | a b c d | k k k
    """
    if 0 <= i < n:
        return i
    if mode == "constant":
        return -1
    if mode == "nearest":
        return 0 if i < 0 else n - 1
    if mode == "wrap":
        while i < 0:
            i += n
        while i >= n:
            i -= n
        return i
    if mode == "reflect":
        while not 0 <= i < n:
            i = -i - 1 if i < 0 else 2 * n - 1 - i
        return i
    if mode == "mirror":
        if n == 1:
            return 0
        while not 0 <= i < n:
            i = -i if i < 0 else 2 * n - 2 - i
        return i
    raise ValueError(mode)


def pad(img: np.ndarray, ry: int, rx: int, mode: str, cval=0) -> np.ndarray:
    """``img`` (2-D) extended by ``ry`` rows and ``rx`` columns on each side."""
    h, w = img.shape
    ys = [source_index(i, h, mode) for i in range(-ry, h + ry)]
    xs = [source_index(j, w, mode) for j in range(-rx, w + rx)]
    ys, xs = np.array(ys), np.array(xs)
    out = img[np.ix_(np.maximum(ys, 0), np.maximum(xs, 0))]
    out[(ys < 0)[:, None] | (xs < 0)[None, :]] = cval
    return out


def per_slice(fn, img, *args, **kwargs):
    """Apply a 2-D reference to a slice or to every slice of a batch."""
    if img.ndim == 2:
        return fn(img, *args, **kwargs)
    return np.stack([fn(s, *args, **kwargs) for s in img]) if len(img) else None


# ---------------------------------------------------------------------------
# morphology

SCIPY_MORPHOLOGY = {
    "erode": ndi.grey_erosion,
    "dilate": ndi.grey_dilation,
    "opening": ndi.grey_opening,
    "closing": ndi.grey_closing,
}


def scipy_morphology(op: str, img: np.ndarray, footprint, mode="nearest", cval=0.0) -> np.ndarray:
    """scipy.ndimage grey morphology of one 2-D slice with a flat footprint."""
    return SCIPY_MORPHOLOGY[op](img, footprint=np.asarray(footprint, bool), mode=mode, cval=cval)


def morphology_ignoring_outside(op: str, img: np.ndarray, footprint) -> np.ndarray:
    """Min (erode) / max over the reflected footprint (dilate) of the pixels *inside* the slice.

    Pixels of the footprint that fall outside the slice are skipped, which is
    what the docs promise for mode "nearest" with square, rectangle and disk
    footprints.
    """
    fp = np.asarray(footprint, bool)
    cy, cx = fp.shape[0] // 2, fp.shape[1] // 2
    sign = 1 if op == "erode" else -1  # dilation reads the reflected footprint
    take = np.minimum if op == "erode" else np.maximum
    h, w = img.shape
    out = img.copy()  # overwritten where ``seen`` is False
    seen = np.zeros(img.shape, bool)  # some footprint pixel inside the slice already taken
    for a, b in zip(*np.nonzero(fp)):
        dy, dx = sign * (a - cy), sign * (b - cx)
        # output pixels (y, x) whose neighbour (y + dy, x + dx) lies inside the slice
        y0, y1 = max(0, -dy), min(h, h - dy)
        x0, x1 = max(0, -dx), min(w, w - dx)
        if y0 >= y1 or x0 >= x1:
            continue
        region = img[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        cur = out[y0:y1, x0:x1]
        fresh = ~seen[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = np.where(fresh, region, take(cur, region))
        seen[y0:y1, x0:x1] = True
    assert seen.all(), "every pixel needs at least one footprint pixel inside the slice"
    return out


# ---------------------------------------------------------------------------
# Gaussian


def _correlate_separable(padded, taps_y, taps_x, h, w):
    """Row pass then column pass over an already extended slice (exact for int64)."""
    rows = sum(c * padded[:, t : t + w] for t, c in enumerate(taps_x))
    return sum(c * rows[t : t + h, :] for t, c in enumerate(taps_y))


def gaussian_float64(img: np.ndarray, taps_y, taps_x, mode="nearest", cval=0.0) -> np.ndarray:
    """Separable correlation with float64 taps, computed in float64 (2-D)."""
    taps_y = np.asarray(taps_y, np.float64)
    taps_x = np.asarray(taps_x, np.float64)
    p = pad(img.astype(np.float64), len(taps_y) // 2, len(taps_x) // 2, mode, float(cval))
    return _correlate_separable(p, taps_y, taps_x, *img.shape)


def gaussian_fixed_point(img: np.ndarray, taps_y, taps_x, mode="nearest", cval=0) -> np.ndarray:
    """The documented integer rule, exactly (2-D).

    Taps of ``fixed_point_taps`` (``TAP_BITS`` fractional bits per axis), int64
    sums over the extended slice, one rounding half up at the end
    (``floor(acc / 2**(2 TAP_BITS) + 1/2)``) and saturation to the dtype.
    """
    qy = fixed_point_taps(np.asarray(taps_y, np.float64))
    qx = fixed_point_taps(np.asarray(taps_x, np.float64))
    assert qy.dtype == np.int64 and qx.dtype == np.int64
    p = pad(img.astype(np.int64), len(qy) // 2, len(qx) // 2, mode, int(cval))
    acc = _correlate_separable(p, qy, qx, *img.shape)
    one = np.int64(1) << (2 * TAP_BITS)
    v = np.floor_divide(acc + one // 2, one)
    info = np.iinfo(img.dtype)
    return np.clip(v, info.min, info.max).astype(img.dtype)


def round_half_up_saturate(x: np.ndarray, dtype) -> np.ndarray:
    """Float -> integer dtype: round half up, then saturate."""
    info = np.iinfo(dtype)
    return np.clip(np.floor(x + 0.5), info.min, info.max).astype(dtype)


def scipy_gaussian(img: np.ndarray, sigma, mode="nearest", cval=0.0, truncate=4.0) -> np.ndarray:
    """scipy.ndimage.gaussian_filter in float64 (2-D)."""
    return ndi.gaussian_filter(img.astype(np.float64), sigma, mode=mode, cval=cval, truncate=truncate)


# ---------------------------------------------------------------------------
# unsharp mask and Laplacian sharpening


def add_scaled(x: np.ndarray, d: np.ndarray, amount: float) -> np.ndarray:
    """Integer rule: ``x + rint(float32(amount) * float32(d))``, saturated to ``x``'s dtype.

    Saturation happens in float64 (exact here), so huge steps saturate
    instead of overflowing an integer cast; ``d == 0`` adds nothing even when
    ``float32(amount)`` is infinite.
    """
    f32_max = float(np.finfo(np.float32).max)
    a = np.float32(amount) if abs(amount) <= f32_max else np.float32(np.copysign(np.inf, amount))
    with np.errstate(over="ignore", invalid="ignore"):
        step = np.where(d == 0, 0.0, np.rint(a * d.astype(np.float32)).astype(np.float64))
    info = np.iinfo(x.dtype)
    return np.clip(x.astype(np.float64) + step, info.min, info.max).astype(x.dtype)


def unsharp_mask(img: np.ndarray, taps_y, taps_x, amount, mode="nearest", cval=0.0, promote=False):
    """``x + amount * (x - blur(x))`` (2-D).

    Integers kept as integers: the blur is the fixed-point Gaussian rounded to
    the dtype, then :func:`add_scaled`. Floats (or ``promote``): float64.
    """
    if img.dtype.kind in "iu" and not promote:
        blurred = gaussian_fixed_point(img, taps_y, taps_x, mode, cval)
        return add_scaled(img, img.astype(np.int64) - blurred.astype(np.int64), amount)
    x = img.astype(np.float64)
    return x + amount * (x - gaussian_float64(img, taps_y, taps_x, mode, cval))


def laplacian(img: np.ndarray, neighbours=4, mode="nearest", cval=0.0, dtype=np.float64) -> np.ndarray:
    """``k * x - (sum of its k neighbours)`` with k = 4 or 8, over the extended slice (2-D)."""
    p = pad(img.astype(dtype), 1, 1, mode, cval)
    h, w = img.shape
    if neighbours == 4:
        offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    else:
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    lap = neighbours * p[1 : 1 + h, 1 : 1 + w]
    for dy, dx in offsets:
        lap = lap - p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return lap


def sharpen(img: np.ndarray, amount=1.0, neighbours=4, mode="nearest", cval=0.0, promote=False):
    """``x + amount * laplacian(x)`` (2-D): integer rule of :func:`add_scaled`, or float64."""
    if img.dtype.kind in "iu" and not promote:
        return add_scaled(img, laplacian(img, neighbours, mode, int(cval), np.int64), amount)
    return img.astype(np.float64) + amount * laplacian(img, neighbours, mode, cval)


def sharpen_kernel(neighbours=4, amount=1.0) -> np.ndarray:
    """The 3x3 correlation kernel equivalent to :func:`sharpen` (for cv2.filter2D)."""
    k = -np.ones((3, 3)) if neighbours == 8 else np.array([[0, -1, 0], [-1, 0, -1], [0, -1, 0]], float)
    k = amount * k
    k[1, 1] = 1 + amount * neighbours
    return k


def close_float(actual, expected, rel=1e-5, data=None):
    """Assert float results agree to ``rel`` of the data's magnitude (an atol scaled to the range)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    if data is not None:
        scale = max(scale, float(np.abs(np.asarray(data, np.float64)).max(initial=0.0)))
    err = float(np.abs(actual - expected).max(initial=0.0))
    assert err <= rel * scale, f"max abs error {err:.3g} > {rel:g} * {scale:.3g}"
