"""Gaussian taps: float taps for float data, fixed-point taps for integers.

Integer images are smoothed with exact fixed-point arithmetic so that the
CPU and the GPU produce bit-identical results: each axis uses integer taps
scaled by ``2**TAP_BITS`` that sum to exactly ``2**TAP_BITS`` (a constant
image stays constant), and the result is rounded half up once at the end.
The sums are integers below 2**52, so they are exact in float64 (as in int64)
whatever the order of the additions: kernels accumulate in float64, which
vectorises well on CPUs and runs at full rate on data-centre GPUs.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .validation import as_pair, check_int, check_real

#: Fractional bits of the integer taps, per axis. Two axes give 2*TAP_BITS
#: fractional bits in the accumulator: |uint16| < 2**16, so every partial sum
#: stays below 2**16 * 2**18 * 2**18 = 2**52 and is exact in float64.
TAP_BITS = 18
#: Value of 1.0 in a two-axis accumulator.
FIXED_POINT_SCALE = float(1 << (2 * TAP_BITS))

# OpenCV's fixed tables (``small_gaussian_tab``), used by cv2.getGaussianKernel
# when sigma <= 0 and ksize <= 9: binomial coefficients up to 7 taps, then a
# 9-tap table in 256ths (4 13 30 51 60 51 30 13 4), not samples of a Gaussian.
_OPENCV_SMALL_KERNELS = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
    9: [0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375, 0.19921875, 0.1171875, 0.05078125, 0.015625],
}


#: Widest kernel per axis: wider than any CT slice (a 4096-pixel axis), so
#: anything beyond it is a typo (sigma 1e6, truncate 1e8, ksize 999999999).
MAX_TAPS = 4097


def opencv_sigma(ksize: int) -> float:
    """The sigma OpenCV derives from a kernel size when sigma is 0."""
    return 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8


def gaussian_taps_1d(sigma: float, ksize: int | None = None, truncate: float = 4.0) -> np.ndarray:
    """Normalised float64 taps of one axis.

    ``ksize=None``: radius ``int(truncate * sigma + 0.5)`` (scipy.ndimage's rule).
    ``ksize`` given: radius ``ksize // 2``; ``sigma == 0`` then follows OpenCV
    (its fixed tables up to 9 taps, else ``opencv_sigma(ksize)``), so
    ``GaussianBlur(img, (5, 5), 0)`` is reproduced. ``sigma == 0`` without
    ``ksize`` leaves the axis unchanged (a single tap), like scipy.ndimage.
    """
    if ksize is None:
        if sigma == 0:
            return np.ones(1)
        radius = int(truncate * sigma + 0.5)
    else:
        if sigma == 0 and ksize in _OPENCV_SMALL_KERNELS:
            return np.asarray(_OPENCV_SMALL_KERNELS[ksize], dtype=np.float64)
        if sigma == 0:
            sigma = opencv_sigma(ksize)
        radius = ksize // 2
    if 2 * radius + 1 > MAX_TAPS:  # checked before the taps are made: a typo must not allocate gigabytes
        given = f"ksize={ksize}" if ksize is not None else f"sigma={sigma:g} with truncate={truncate:g}"
        raise InvalidArgumentError(
            f"{'ksize' if ksize is not None else 'sigma'}: {given} makes a kernel of {2 * radius + 1} taps, "
            f"more than the {MAX_TAPS} a slice can use; check sigma, ksize and truncate"
        )
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def fixed_point_taps(taps: np.ndarray, bits: int = TAP_BITS) -> np.ndarray:
    """Integer taps summing to exactly ``2**bits``.

    Rounding residue goes to the centre tap, which keeps the taps symmetric.

    Examples
    --------
    >>> fixed_point_taps(np.array([0.25, 0.5, 0.25]), bits=4).tolist()
    [4, 8, 4]
    """
    scale = 1 << bits
    q = np.rint(taps * scale).astype(np.int64)
    q[len(q) // 2] += scale - int(q.sum())
    return q


def resolve_gaussian(sigma, ksize=None, truncate: float = 4.0):
    """Validate Gaussian parameters; return float64 taps for (rows, cols).

    Parameters are as in :func:`fastct.gaussian_blur`. Raises
    :class:`~fastct.errors.InvalidArgumentError` naming the bad argument.
    """
    sy, sx = as_pair(sigma, "sigma")
    sy = check_real(sy, "sigma", low=0)
    sx = check_real(sx, "sigma", low=0)
    truncate = check_real(truncate, "truncate", low=0, low_open=True)
    if ksize is None:
        ky = kx = None
    else:
        ky, kx = as_pair(ksize, "ksize")
        ky = check_int(ky, "ksize", low=1, odd=True)
        kx = check_int(kx, "ksize", low=1, odd=True)
    return gaussian_taps_1d(sy, ky, truncate), gaussian_taps_1d(sx, kx, truncate)


def taps_for_dtype(taps: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float32 taps for float data; integer-valued fixed-point taps (as float64) for integers."""
    if np.dtype(dtype).kind == "f":
        return np.ascontiguousarray(taps, dtype=np.float32)
    return fixed_point_taps(taps).astype(np.float64)


