"""Frequency-domain low-/high-pass filters on the GPU (twin of ``fastct/cpu/frequency.py``).

The filter is written once in :mod:`fastct._shared.frequency`; here it runs on
CuPy arrays with cuFFT (``cupy.fft``). Slices go through the FFT
:data:`CHUNK_SLICES` at a time, so every full chunk has the same shape and
reuses one cuFFT plan from CuPy's plan cache.

Float results agree with the CPU backend to float32 FFT accuracy (about 1e-6
of the data's peak). Integer results are those float32 values rounded half to
even, so they can differ from the CPU's by one grey level where the two FFT
libraries land on opposite sides of a ``.5`` boundary.
"""

from __future__ import annotations

from .._shared.frequency import frequency_filter, frequency_response, resolve_padding
from .._shared.volume import frequency_volume
from . import _runtime, _transfer

#: Slices transformed together; bounds the complex64 temporaries.
CHUNK_SLICES = 32


def lowpass(batch, out, *, cutoff, kind, order, pad, mode, cval, volume=False):
    """Keep frequencies below ``cutoff`` cycles/pixel (over (z, y, x) with ``volume``)."""
    run = _filter_volume if volume else _filter
    return run(batch, out, cutoff, kind, order, pad, mode, cval, highpass=False)


def highpass(batch, out, *, cutoff, kind, order, pad, mode, cval, volume=False):
    """Keep frequencies above ``cutoff`` cycles/pixel (over (z, y, x) with ``volume``)."""
    run = _filter_volume if volume else _filter
    return run(batch, out, cutoff, kind, order, pad, mode, cval, highpass=True)


def _filter_volume(batch, out, cutoff, kind, order, pad, mode, cval, highpass):
    """One 3-D real FFT of the whole volume on the device (cupy.fft)."""
    from . import volume

    def compute(src, dst):
        xp = _runtime.get().xp
        frequency_volume(xp, lambda x: xp.fft.rfftn(x), lambda X, s: xp.fft.irfftn(X, s=s, axes=(0, 1, 2)),
                         src, dst, cutoff, kind, order, pad, mode, cval, highpass)

    return volume.run_volume(batch, out, compute)


def _filter(batch, out, cutoff, kind, order, pad, mode, cval, highpass):
    n, h, w = batch.shape
    padding = resolve_padding(pad, (h, w))
    shape = (h + sum(padding[0]), w + sum(padding[1]))
    response = frequency_response(shape, cutoff, kind, order, highpass)

    def compute(src, dst):
        rt = _runtime.get()
        frequency_filter(rt.xp, rt.rfft2, rt.irfft2, src, dst, response, padding, mode, cval, CHUNK_SLICES)

    # per chunk: float32 input, padded copy, complex64 half spectrum, float32 result (+ cuFFT work area)
    padded = shape[0] * shape[1]
    scratch = min(n, CHUNK_SLICES) * padded * (4 + 4 + 8 + 4 + 8) + response.nbytes
    return _transfer.run(batch, out, compute, fixed_bytes=scratch)
