"""Slow, obviously correct references for the frequency filters.

Everything here is plain NumPy in float64: the full complex ``numpy.fft.fft2``
(not the real FFT the library uses), the transfer function written out from
the formulas on the integer frequency grid, ``numpy.pad`` for padding, exact
fractions for the ideal filter's ``r <= cutoff`` test. Nothing is imported
from fastct, so a bug there cannot hide in here.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: scipy.ndimage border names -> numpy.pad modes (written out here on purpose).
NP_PAD_MODE = {
    "nearest": "edge",  # a a a | a b c d | d d d
    "reflect": "symmetric",  # b a | a b c d | d c
    "mirror": "reflect",  # c b | a b c d | c b
    "wrap": "wrap",  # c d | a b c d | a b
    "constant": "constant",  # k k | a b c d | k k
}


def is_7_smooth(n: int) -> bool:
    """True when n has no prime factor above 7."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def fast_length(n: int) -> int:
    """Smallest 7-smooth integer >= n, by counting up."""
    m = max(n, 1)
    while not is_7_smooth(m):
        m += 1
    return m


def padding_widths(pad, h: int, w: int):
    """The documented padding: ``((top, bottom), (left, right))``.

    ``True`` pads ``h // 2`` rows / ``w // 2`` columns on each side, an int or
    a ``(rows, cols)`` pair that many; an axis that is padded is then grown on
    its far side to a 7-smooth length. An axis padded by 0 is left alone.
    """
    if pad is True:
        py, px = h // 2, w // 2
    elif pad is False or pad is None:
        py = px = 0
    elif isinstance(pad, (tuple, list)):
        py, px = pad
    else:
        py = px = pad
    rows = (py, fast_length(h + 2 * py) - h - py) if py else (0, 0)
    cols = (px, fast_length(w + 2 * px) - w - px) if px else (0, 0)
    return rows, cols


def radial_numerator(h: int, w: int) -> np.ndarray:
    """Exact integers ``L`` with ``r**2 = L / (h * w)**2`` for every bin of a full ``h x w`` DFT.

    Bin ``k`` of an axis of length ``n`` is the frequency ``k/n`` or
    ``(k - n)/n``; only the magnitude ``min(k, n - k) / n`` matters here, so
    ``r**2 = (ky/h)**2 + (kx/w)**2 = ((ky w)**2 + (kx h)**2) / (h w)**2``.
    Python integers (object array): no rounding, no overflow.
    """
    ky = np.array([min(k, h - k) * w for k in range(h)], dtype=object)[:, None]
    kx = np.array([min(k, w - k) * h for k in range(w)], dtype=object)[None, :]
    return ky * ky + kx * kx


def lowpass_response(h: int, w: int, cutoff: float, kind: str, order: int = 2) -> np.ndarray:
    """Low-pass transfer function on the full ``fft2`` grid, float64 ``(h, w)``.

    ideal: 1 where ``r <= cutoff``, decided exactly, with the cutoff read as
    the decimal the caller wrote (0.3 keeps a frequency of exactly 3/10);
    gaussian: ``exp(-r**2 / (2 cutoff**2))``; butterworth:
    ``1 / (1 + (r / cutoff)**(2 order))``.
    """
    num = radial_numerator(h, w)
    denom = (h * w) ** 2
    if kind == "ideal":
        c = Fraction(repr(float(cutoff)))  # p / q
        return (num * c.denominator**2 <= c.numerator**2 * denom).astype(np.float64)
    r2 = num.astype(np.float64) / float(denom)
    if kind == "gaussian":
        return np.exp(-r2 / (2.0 * cutoff**2))
    if kind == "butterworth":
        return 1.0 / (1.0 + (r2 / cutoff**2) ** order)
    raise ValueError(kind)


def filter_slice(image, cutoff, kind="gaussian", order=2, highpass=False, pad=False, mode="nearest", cval=0.0):
    """Filter one 2-D slice in float64: np.pad -> fft2 -> multiply -> ifft2 -> crop."""
    x = np.asarray(image, dtype=np.float64)
    h, w = x.shape
    (t, b), (left, right) = padding_widths(pad, h, w)
    if t or b or left or right:
        kwargs = {"constant_values": cval} if mode == "constant" else {}
        x = np.pad(x, ((t, b), (left, right)), mode=NP_PAD_MODE[mode], **kwargs)
    resp = lowpass_response(x.shape[0], x.shape[1], cutoff, kind, order)
    if highpass:
        resp = 1.0 - resp
    y = np.fft.ifft2(np.fft.fft2(x) * resp)
    return y.real[t : t + h, left : left + w]


def filter_batch(images, *args, **kwargs):
    """:func:`filter_slice` on a slice or on every slice of a batch (float64)."""
    images = np.asarray(images)
    if images.ndim == 2:
        return filter_slice(images, *args, **kwargs)
    return np.stack([filter_slice(s, *args, **kwargs) for s in images])


def round_to_dtype(values, dtype):
    """Round half to even and saturate to an integer dtype (floats pass through)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)
