"""``cupy.fft`` stand-in (NumPy's FFT)."""

from __future__ import annotations

import numpy


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    from . import _unwrap, _wrap

    return _wrap(numpy.fft.rfft2(_unwrap(a), s=s, axes=axes, norm=norm))


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    from . import _unwrap, _wrap

    return _wrap(numpy.fft.irfft2(_unwrap(a), s=s, axes=axes, norm=norm))
