"""Frequency-domain low-/high-pass filters (CPU twin of ``gpu/frequency.py``).

The filter itself is written once in :mod:`fastct._shared.frequency`; here it
runs on NumPy arrays with scipy.fft's real FFTs on all of numba's threads.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .._shared.frequency import frequency_filter, frequency_response, resolve_padding
from ._jit import numba

#: Slices transformed together per thread. One slice per thread keeps the
#: temporaries (float32 input, complex64 spectrum, float32 result) per-thread
#: sized and in cache: a batch needs little more memory than its output.
SLICES_PER_THREAD = 1


def lowpass(batch, out, *, cutoff, kind, order, pad, mode, cval):
    """Keep frequencies below ``cutoff`` cycles/pixel."""
    return _filter(batch, out, cutoff, kind, order, pad, mode, cval, highpass=False)


def highpass(batch, out, *, cutoff, kind, order, pad, mode, cval):
    """Keep frequencies above ``cutoff`` cycles/pixel."""
    return _filter(batch, out, cutoff, kind, order, pad, mode, cval, highpass=True)


def _filter(batch, out, cutoff, kind, order, pad, mode, cval, highpass):
    n, h, w = batch.shape
    padding = resolve_padding(pad, (h, w))
    shape = (h + sum(padding[0]), w + sum(padding[1]))
    response = frequency_response(shape, cutoff, kind, order, highpass)
    workers = numba.get_num_threads()

    def rfft2(x):
        return scipy.fft.rfft2(x, axes=(-2, -1), workers=workers)

    def irfft2(spec, s):
        # The spectrum is a temporary: letting pocketfft reuse it saves a copy.
        return scipy.fft.irfft2(spec, s=s, axes=(-2, -1), workers=workers, overwrite_x=True)

    frequency_filter(np, rfft2, irfft2, batch, out, response, padding, mode, cval, SLICES_PER_THREAD * workers)
    return out
