"""Value policies shared by the readers and writers: rescaling to physical
units, native byte order and dtypes, colour to grey, and the conversions each
output format needs."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError

_FIRST_CLASS = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def native(array: np.ndarray) -> np.ndarray:
    """Native byte order and a dtype fastct computes on, without losing values.

    Big-endian data is byte-swapped; bool -> uint8; int8 -> int16; wider
    integers narrow to int16 or uint16 when every value fits, else float32
    (or float64 when float32 would round them); float16 -> float32.
    """
    a = np.asarray(array)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    kind = a.dtype.kind
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if a.dtype.type in _FIRST_CLASS:
        return a
    if kind == "f":
        return a.astype(np.float32)
    if kind in "iu":
        if a.dtype == np.int8:
            return a.astype(np.int16)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if -32768 <= lo and hi <= 32767:
            return a.astype(np.int16)
        if 0 <= lo and hi <= 65535:
            return a.astype(np.uint16)
        if max(abs(lo), abs(hi)) < 2**24:
            return a.astype(np.float32)
        return a.astype(np.float64)
    raise InvalidArgumentError(f"image: dtype {a.dtype} holds no pixel values fastct can use")


def is_integral(x: float) -> bool:
    return float(x).is_integer()


def apply_rescale(stored: np.ndarray, slope, intercept) -> np.ndarray:
    """``stored * slope + intercept``: int16 when exact, float32 otherwise.

    ``slope`` and ``intercept`` are scalars or per-slice sequences (for an
    ``(N, H, W)`` batch). Slope 1, intercept 0 leaves the values (and their
    integer dtype) as they are.

    Examples
    --------
    >>> apply_rescale(np.array([0, 1000, 2000], np.uint16), 1, -1024)
    array([-1024,   -24,   976], dtype=int16)
    >>> apply_rescale(np.array([0, 1], np.uint16), 0.5, 0).dtype
    dtype('float32')
    """
    stored = native(stored)
    slopes = np.atleast_1d(np.asarray(slope, np.float64))
    inters = np.atleast_1d(np.asarray(intercept, np.float64))
    if np.all(slopes == 1.0) and np.all(inters == 0.0):
        return stored
    per_slice = slopes.size > 1 or inters.size > 1
    shape = (-1,) + (1,) * (stored.ndim - 1) if per_slice else ()
    s = slopes.reshape(shape) if per_slice else slopes[0]
    b = inters.reshape(shape) if per_slice else inters[0]
    exact = stored.dtype.kind in "iu" and all(is_integral(v) for v in np.concatenate([slopes, inters]))
    if exact and stored.size:
        lo, hi = float(stored.min()), float(stored.max())
        corners = np.concatenate([slopes * lo + inters, slopes * hi + inters])
        if corners.min() >= -32768 and corners.max() <= 32767:
            if stored.itemsize <= 2 and inters.size == 1 and np.all(slopes == 1.0):
                # CT's usual case in one 16-bit pass: every true result fits int16, so two's-complement
                # wrap-around of the operands (uint16 seen as int16, a wrapped intercept) cancels out exactly
                as16 = stored.view(np.int16) if stored.itemsize == 2 else stored.astype(np.int16)
                return np.add(as16, np.int16((int(inters[0]) + 32768) % 65536 - 32768), dtype=np.int16)
            return (stored.astype(np.int32) * np.asarray(s, np.int32) + np.asarray(b, np.int32)).astype(np.int16)
    return (stored.astype(np.float64) * s + b).astype(np.float32)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Grey ``(..., H, W)`` from RGB(A) ``(..., H, W, C)``: the values of :func:`fastct.to_gray`.

    Computed here in NumPy with the same rule (ITU-R BT.601 weights; OpenCV's
    15-bit fixed point for integers, float32 products summed in R, G, B order
    for floats), so that reading a colour file never compiles a kernel.

    Examples
    --------
    >>> rgb_to_gray(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8))
    array([[ 76, 150,  29]], dtype=uint8)
    """
    from .._shared.intensity import BT601, BT601_FIXED, BT601_SHIFT

    rgb = native(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if rgb.dtype.kind == "f":
        wr, wg, wb = (np.float32(v) for v in BT601)
        a = np.asarray(rgb, np.float32)
        out = a[..., 0] * wr
        out += a[..., 1] * wg
        out += a[..., 2] * wb
        return np.ascontiguousarray(out)
    wr, wg, wb = BT601_FIXED
    v = r.astype(np.int64) * wr
    v += g.astype(np.int64) * wg
    v += b.astype(np.int64) * wb
    v += 1 << (BT601_SHIFT - 1)
    v >>= BT601_SHIFT
    return np.ascontiguousarray(v.astype(rgb.dtype))


def as_batch3(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(N, H, W)`` C-contiguous batch and whether the input was a single 2-D image."""
    if image.ndim == 2:
        return np.ascontiguousarray(image[None]), True
    if image.ndim == 3:
        return np.ascontiguousarray(image), False
    raise InvalidArgumentError(f"image: expected (H, W) or (N, H, W), got shape {image.shape}")


def for_png(batch: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Values a PNG can hold (uint8 or uint16), never silently wrong.

    uint8/uint16 pass unchanged (``bits`` may widen uint8 to 16 bits).
    Floats in [0, 1] (what equalisation, CLAHE and windowing return) are
    scaled to the full ``bits`` range (default 16). Other integers pass when
    every value fits in uint16 (uint8 when ``bits=8``). Anything else
    (negative Hounsfield units, floats outside [0, 1]) raises, suggesting a
    ``window`` or ``equalize`` step or another format.

    Examples
    --------
    >>> for_png(np.array([[0.0, 0.5, 1.0]], np.float32), bits=8)
    array([[  0, 128, 255]], dtype=uint8)
    """
    if bits not in (None, 8, 16):
        raise InvalidArgumentError(f"bits: expected 8 or 16, got {bits!r}")
    a = np.asarray(batch)
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257 if bits == 16 else a
    if a.dtype == np.uint16 and bits != 8:
        return a
    lo, hi = (float(np.nanmin(a)), float(np.nanmax(a))) if a.size else (0.0, 0.0)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InvalidArgumentError("image: PNG cannot store NaN or infinite values")
        if lo >= 0.0 and hi <= 1.0:
            top = 255 if bits == 8 else 65535
            return np.rint(a * top).astype(np.uint8 if bits == 8 else np.uint16)
    elif a.dtype.kind in "iu":
        top = 255 if bits == 8 else 65535
        if lo >= 0 and hi <= top:
            return a.astype(np.uint8 if top == 255 else np.uint16)
    raise InvalidArgumentError(
        f"image: a {'8' if bits == 8 else '16'}-bit PNG stores unsigned integers (or floats in [0, 1] scaled), "
        f"but this {a.dtype} data spans [{lo:g}, {hi:g}]; add a 'window' or 'equalize' step, "
        "or write npy, tiff, nii or dcm"
    )
