"""Frequency-domain filters, written once against an array namespace ``xp``.

The response (transfer function), the padding rule and the final rounding
are shared by both backends. The whole-array filter :func:`frequency_filter`
(pad -> rfft2 -> multiply -> irfft2 -> crop -> cast, a chunk of slices at a
time) runs on CuPy with cupy.fft on the GPU backend. The CPU backend takes the
same steps one slice at a time through a per-thread spectrum buffer, so that it
needs no slice-sized temporaries beyond it (``fastct/cpu/frequency.py``).

Precision: the transforms run in float32 (complex64). Float results agree
with a float64 computation to about 4e-7 of the data's magnitude (1e-5 is
promised). Integer results are the float32 result rounded half to even and
saturated, so they can differ by one grey level from a float64 reference
where that reference lies within float32's error (about 1e-6 of the data's
peak magnitude: 3e-3 for CT in HU, 0.07 for full-range uint16) of a ``.5``
rounding boundary.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .borders import NUMPY_PAD_MODES
from .budget import check_memory
from .validation import as_pair, check_int, check_real

FREQUENCY_KINDS = ("ideal", "gaussian", "butterworth")


def next_fast_len(n: int) -> int:
    """Smallest 7-smooth integer >= n (fast for pocketfft and cuFFT alike).

    Examples
    --------
    >>> next_fast_len(509), next_fast_len(512), next_fast_len(1)
    (512, 512, 1)
    """
    best = 1
    while best < n:
        best *= 2
    f7 = 1
    while f7 < best:
        f5 = f7
        while f5 < best:
            f3 = f5
            while f3 < best:
                x = f3
                while x < n:
                    x *= 2
                best = min(best, x)
                f3 *= 3
            f5 *= 5
        f7 *= 7
    return best


def resolve_frequency(cutoff, kind: str, order) -> tuple[float, str, int]:
    """Validate cutoff (cycles/pixel, 0 < c <= 0.5), kind and Butterworth order."""
    cutoff = check_real(cutoff, "cutoff", low=0.0, high=0.5, low_open=True)
    if kind not in FREQUENCY_KINDS:
        raise InvalidArgumentError(f"kind: expected one of {', '.join(FREQUENCY_KINDS)}, got {kind!r}")
    order = check_int(order, "order", low=1, high=64)
    return cutoff, kind, order


def resolve_padding(pad, shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Per-axis (before, after) padding for a slice of ``shape``.

    ``pad=False``/``0``: none (the FFT is periodic: what leaves one edge comes
    back at the other). ``True``: half the slice on each side, the usual guard
    against wrap-around. An int or ``(rows, cols)`` pair: that many pixels per
    side. A padded axis is then grown on its far side to a fast FFT length
    (:func:`next_fast_len`); an axis padded by 0 is left exactly as it is, so
    it stays periodic.

    Examples
    --------
    >>> resolve_padding(True, (17, 23))
    ((8, 10), (11, 11))
    >>> resolve_padding((0, 3), (17, 23))
    ((0, 0), (3, 4))
    """
    h, w = shape
    if isinstance(pad, (bool, np.bool_)) or pad is None:
        py, px = (h // 2, w // 2) if pad else (0, 0)
    else:
        py, px = as_pair(pad, "pad")
        py = check_int(py, "pad", low=0)
        px = check_int(px, "pad", low=0)
    rows = (py, next_fast_len(h + 2 * py) - h - py) if py else (0, 0)
    cols = (px, next_fast_len(w + 2 * px) - w - px) if px else (0, 0)
    return rows, cols


def check_padding_memory(pad, shape: tuple[int, int] | None, spectra: int = 1) -> None:
    """Refuse (naming ``pad``) padding whose ``spectra`` complex64 half spectra and
    float64 response grid would exceed the memory budget, before anything is allocated.

    ``shape=None`` checks the least any slice would need (when planning, before
    the image is known); it also validates ``pad``.
    """
    (py0, py1), (px0, px1) = resolve_padding(pad, shape or (1, 1))
    h, w = (shape or (1, 1))[0] + py0 + py1, (shape or (1, 1))[1] + px0 + px1
    if py0 or px0:
        what = (f"pad={pad!r} (padded slices of at least {h}x{w})" if shape is None
                else f"padding {shape[0]}x{shape[1]} slices to {h}x{w}")
        check_memory(h * (w // 2 + 1) * (8 * spectra + 8 + 4), "pad", what)


#: Relative slack of the ideal filter's ``r <= cutoff`` test: a frequency whose
#: radius equals the cutoff (0.3 on a 10-pixel axis is exactly 3/10) passes
#: even though ``fftfreq``/``hypot`` round it a few ulps above ``float(0.3)``.
IDEAL_SLACK = 1e-9


def frequency_response(shape: tuple[int, int], cutoff: float, kind: str, order: int, highpass: bool) -> np.ndarray:
    """Real transfer function on the ``rfft2`` grid, float32 ``(H, W//2 + 1)``.

    ``r`` is the radial frequency in cycles/pixel. Low-pass responses:
    ideal ``r <= cutoff`` (up to :data:`IDEAL_SLACK`, so a frequency exactly
    on the cutoff passes); gaussian ``exp(-r**2 / (2 cutoff**2))``;
    butterworth ``1 / (1 + (r / cutoff)**(2 order))``. High-pass is ``1 - low``.
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    # One float64 grid, updated in place: the response is built beside the
    # spectra of a call, so its temporaries count towards the call's peak memory.
    r = np.hypot(fy, fx)
    # Tiny cutoffs overflow (r / cutoff)**k to inf for r > 0: the response is then exactly 0 there.
    with np.errstate(over="ignore"):
        if kind == "ideal":
            r[...] = r <= cutoff * (1.0 + IDEAL_SLACK)
        elif kind == "gaussian":  # exp(-(r / cutoff)**2 / 2); r / cutoff first: cutoff**2 may underflow to 0
            r /= cutoff
            np.square(r, out=r)
            r *= -0.5
            np.exp(r, out=r)
        else:  # 1 / (1 + (r / cutoff)**(2 order))
            r /= cutoff
            r **= 2 * order
            r += 1.0
            np.reciprocal(r, out=r)
    if highpass:
        np.subtract(1.0, r, out=r)
    return r.astype(np.float32)


def store_rounded(xp, values, out) -> None:
    """Write float results into ``out``: round half to even and saturate for integers."""
    if out.dtype.kind == "f":
        out[...] = values
        return
    info = np.iinfo(out.dtype)
    xp.rint(values, out=values)
    xp.clip(values, info.min, info.max, out=values)
    out[...] = values


def frequency_filter(xp, rfft2, irfft2, batch, out, response, padding, mode: str, cval: float, chunk: int) -> None:
    """Filter every slice of ``batch`` by ``response`` into ``out``.

    ``rfft2(x)`` and ``irfft2(X, s)`` are the backend's 2-D real FFTs over the
    last two axes; ``irfft2`` may overwrite ``X``. Slices are processed ``chunk`` at a time to bound the
    complex temporaries.
    """
    (py0, py1), (px0, px1) = padding
    n, h, w = batch.shape
    resp = xp.asarray(response)
    for start in range(0, n, chunk):
        part = batch[start : start + chunk].astype(np.float32)
        if py0 or py1 or px0 or px1:
            width = ((0, 0), (py0, py1), (px0, px1))
            np_mode = NUMPY_PAD_MODES[mode]
            kwargs = {"constant_values": cval} if mode == "constant" else {}
            part = xp.pad(part, width, mode=np_mode, **kwargs)
        spec = rfft2(part)
        shape = part.shape[-2:]
        del part  # the padded input is not needed any more: one slice buffer less at the peak
        spec *= resp
        full = irfft2(spec, shape)
        del spec
        filtered = xp.ascontiguousarray(full[:, py0 : py0 + h, px0 : px0 + w], dtype=np.float32)
        store_rounded(xp, filtered, out[start : start + chunk])
