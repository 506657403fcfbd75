"""Frequency-domain low-/high-pass filters (CPU twin of ``gpu/frequency.py``).

The response, the padding rule and the final rounding are written once in
:mod:`fastct._shared.frequency`. Here each slice streams through one
per-thread spectrum buffer, using scipy.fft's 1-D real and complex FFTs:

1. rows of the (virtually) padded slice, :data:`ROW_BLOCK` at a time, are
   cast to float32 and real-transformed into the spectrum buffer;
2. the columns of the spectrum are transformed in place, multiplied by the
   response and transformed back in place;
3. the rows inside the crop are inverse-transformed a block at a time,
   rounded and written to the output.

That is the order of operations of ``scipy.fft.rfft2``/``irfft2`` (real
FFT along the last axis, complex FFT along the first), so the result agrees
with theirs to float32 rounding; but no slice-sized float input or output is
ever built: a call needs its output plus, per thread, one complex64 spectrum of
the padded slice and a few row blocks. Threads take whole slices.
"""

from __future__ import annotations

import numba
import numpy as np

from .._shared.borders import border_index_map
from .._shared.frequency import frequency_response, resolve_padding, store_rounded
from .._shared.volume import frequency_volume
from ._threads import run_jobs

#: Threads of each scipy.fft call. Threads take whole slices; handing spare
#: threads to the FFTs of a lone slice (scipy's ``workers``) made it slower on
#: 2 threads (512 x 512: 2.0 -> 2.6 ms; 1024 x 1024: 7.8 -> 9.9 ms): the calls
#: are short.
FFT_WORKERS = 1

#: Rows per real-FFT block: big enough that a call's overhead is small next to
#: its transforms, small enough that the block stays a row buffer (a 64-row
#: block of a 512-pixel slice is 128 KiB of float32, 130 KiB of complex64).
ROW_BLOCK = 64


def _fft():
    """scipy.fft, imported on first use: a quarter of a second that runs without frequency steps skip."""
    import scipy.fft

    return scipy.fft


def lowpass(batch, out, *, cutoff, kind, order, pad, mode, cval, volume=False):
    """Keep frequencies below ``cutoff`` cycles/pixel (over (z, y, x) with ``volume``)."""
    run = _filter_volume if volume else _filter
    return run(batch, out, cutoff, kind, order, pad, mode, cval, highpass=False)


def highpass(batch, out, *, cutoff, kind, order, pad, mode, cval, volume=False):
    """Keep frequencies above ``cutoff`` cycles/pixel (over (z, y, x) with ``volume``)."""
    run = _filter_volume if volume else _filter
    return run(batch, out, cutoff, kind, order, pad, mode, cval, highpass=True)


def _filter_volume(batch, out, cutoff, kind, order, pad, mode, cval, highpass):
    """One 3-D real FFT of the whole volume (see :func:`fastct._shared.volume.frequency_volume`)."""
    workers = numba.get_num_threads()
    fft = _fft()
    return frequency_volume(
        np, lambda x: fft.rfftn(x, workers=workers),
        lambda X, s: fft.irfftn(X, s=s, workers=workers, overwrite_x=True),
        batch, out, cutoff, kind, order, pad, mode, cval, highpass)


def _filter(batch, out, cutoff, kind, order, pad, mode, cval, highpass):
    n, h, w = batch.shape
    (py0, py1), (px0, px1) = resolve_padding(pad, (h, w))
    shape = (h + py0 + py1, w + px0 + px1)
    # The inverse transforms run unscaled (norm="forward"); their 1 / (H W) rides on the
    # response, which saves two passes over every spectrum.
    response = frequency_response(shape, cutoff, kind, order, highpass)
    response *= np.float32(1.0 / (shape[0] * shape[1]))
    # Source row/column of every padded position (-1: cval); None where an axis is not padded.
    rows = None if (py0 == 0 and py1 == 0) else border_index_map(h, py0, py1, mode)
    cols = None if (px0 == 0 and px1 == 0) else border_index_map(w, px0, px1, mode)
    plan = (batch, out, response, rows, cols, (py0, px0), np.float32(cval))
    run_jobs(_filter_slices, plan, n)
    return out


def _filter_slices(batch, out, response, rows, cols, origin, cval, first, end):
    """Filter slices ``first .. end - 1`` (a share of one thread) through one spectrum buffer."""
    full_h, half_w = response.shape
    full_w = len(cols) if cols is not None else batch.shape[2]
    spectrum = np.empty((full_h, half_w), dtype=np.complex64)
    fft = _fft()
    for i in range(first, end):
        _forward(batch[i], spectrum, rows, cols, cval)
        # Columns in place: scipy's own FFT reuses a complex input's buffer when
        # overwrite_x is set; the result is taken as returned all the same, in
        # case another scipy.fft backend is in use.
        spectrum = fft.fft(spectrum, axis=0, overwrite_x=True, workers=FFT_WORKERS)
        spectrum *= response
        spectrum = fft.ifft(spectrum, axis=0, norm="forward", overwrite_x=True, workers=FFT_WORKERS)
        _inverse(spectrum, out[i], full_w, origin)


def _forward(image, spectrum, rows, cols, cval):
    """Real FFT of every row of the padded ``image`` into ``spectrum``, a block of rows at a time."""
    full_h = spectrum.shape[0]
    fft = _fft()
    for r0 in range(0, full_h, ROW_BLOCK):
        r1 = min(full_h, r0 + ROW_BLOCK)
        src = image[r0:r1] if rows is None else image[rows[r0:r1]]
        block = src.astype(np.float32) if cols is None else src[:, cols].astype(np.float32)
        # Constant borders: their index is -1, so the copies above read the last row/column.
        if cols is not None:
            block[:, cols < 0] = cval
        if rows is not None:
            block[rows[r0:r1] < 0] = cval
        spectrum[r0:r1] = fft.rfft(block, axis=-1, workers=FFT_WORKERS)


def _inverse(spectrum, out, full_w, origin):
    """Inverse real FFT of the rows inside the crop, rounded into ``out`` a block at a time."""
    py0, px0 = origin
    h, w = out.shape
    fft = _fft()
    for r0 in range(0, h, ROW_BLOCK):
        r1 = min(h, r0 + ROW_BLOCK)
        block = fft.irfft(spectrum[py0 + r0 : py0 + r1], n=full_w, axis=-1, norm="forward", workers=FFT_WORKERS)
        store_rounded(np, block[:, px0 : px0 + w], out[r0:r1])
