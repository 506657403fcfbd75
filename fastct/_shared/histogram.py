"""Histogram rules shared by equalisation and CLAHE on every backend.

Bins
    Integer images get one bin per integer value between the slice's minimum
    and maximum (full 12/16-bit resolution, no 8-bit squeeze) unless ``nbins``
    asks for fewer: value ``v`` falls in bin ``(v - lo) * nbins // (hi - lo + 1)``.
    Float images use ``nbins`` equal bins over ``[lo, hi]``:
    ``min(int((v - lo) * (nbins / (hi - lo))), nbins - 1)`` in float32.
Outputs
    float32 in [0, 1] by default; uint8 / uint16 on request, quantised the way
    OpenCV quantises its look-up tables (``rint(count * (maxval / total))`` in
    float32), so 8-bit results reproduce ``cv2.equalizeHist`` / ``cv2.createCLAHE``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .validation import as_pair, check_int, check_real

#: Default bin count for float images.
DEFAULT_FLOAT_BINS = 256
#: Output dtypes of the equalisation family.
EQUALIZE_OUTPUT_DTYPES = (np.float32, np.uint8, np.uint16)


def resolve_nbins(nbins, dtype) -> int:
    """0 means one bin per integer value; floats default to 256 bins."""
    if nbins is None:
        return 0 if np.dtype(dtype).kind in "iu" else DEFAULT_FLOAT_BINS
    return check_int(nbins, "nbins", low=2, high=1 << 16)


def integral_as_integers(batch):
    """A float batch holding only integers of the int16 (or uint16) range, as that integer dtype.

    Equalisation bins integers one per value and floats in equal-width bins:
    without this, int16 data cast to float64 (as scikit-learn pipelines do)
    would be equalised differently from the same values as int16. Any other
    batch is returned as it is.

    Examples
    --------
    >>> integral_as_integers(np.array([[-1000.0, 40.0]])).dtype
    dtype('int16')
    >>> integral_as_integers(np.array([[0.5, 40.0]])).dtype
    dtype('float64')
    """
    if batch.dtype.kind != "f" or batch.size == 0:
        return batch
    lo, hi = float(batch.min()), float(batch.max())
    if -32768 <= lo and hi <= 32767:
        target = np.int16
    elif 0 <= lo and hi <= 65535:
        target = np.uint16
    else:
        return batch
    if not bool((batch == batch.round()).all()):
        return batch
    return batch.astype(target)


#: Most bins a histogram may have (one per value of a 16-bit image).
MAX_BINS = 1 << 16


def check_bin_count(count: int) -> int:
    """One bin per integer value over a fixed ``value_range`` must stay within :data:`MAX_BINS`.

    (A data range never exceeds it: the widest integer dtype has 16 bits.)
    """
    if count > MAX_BINS:
        raise InvalidArgumentError(
            f"value_range: one bin per integer value would need {count} bins (at most {MAX_BINS}); "
            f"narrow the range or pass nbins"
        )
    return count


def output_maxval(out_dtype) -> float:
    """Top of the output scale: 1.0 for float32, else the integer maximum."""
    out_dtype = np.dtype(out_dtype)
    return 1.0 if out_dtype.kind == "f" else float(np.iinfo(out_dtype).max)


def resolve_clahe(clip_limit, tiles, value_range):
    """Validate CLAHE parameters: clip limit (0 = no clipping), tile grid, range.

    ``clip_limit`` is OpenCV's ``clipLimit``, in multiples of a tile's mean bin
    count. Values in (0, 1) would clip every bin below the mean (a near
    linear ramp) and are, in practice, scikit-image's fraction of the tile's
    pixels given under the same name: they are refused with the conversion.
    """
    clip_limit = check_real(clip_limit, "clip_limit", low=0.0)
    if 0.0 < clip_limit < 1.0:
        raise InvalidArgumentError(
            f"clip_limit: {clip_limit:g} is below 1. fastct's clip_limit is OpenCV's clipLimit, in multiples of "
            f"a tile's mean bin count (0 disables clipping, 2 is OpenCV's default); scikit-image's clip_limit is "
            f"a fraction of the tile's pixels per bin, which is clip_limit = fraction * bins here "
            f"({clip_limit:g} at 256 bins is {clip_limit * 256:g})"
        )
    ty, tx = as_pair(tiles, "tiles")
    ty = check_int(ty, "tiles", low=1, high=256)
    tx = check_int(tx, "tiles", low=1, high=256)
    if value_range is not None:
        lo, hi = as_pair(value_range, "value_range")
        lo = check_real(lo, "value_range")
        hi = check_real(hi, "value_range")
        if hi <= lo:
            raise InvalidArgumentError(f"value_range: expected (low, high) with low < high, got {value_range!r}")
        value_range = (lo, hi)
    return clip_limit, (ty, tx), value_range


def clahe_clip_count(clip_limit: float, tile_pixels: int, nbins: int) -> int:
    """Per-bin count limit, OpenCV's rule: ``max(int(clip * pixels / nbins), 1)``; 0 = off."""
    if clip_limit <= 0:
        return 0
    return max(int(clip_limit * tile_pixels / nbins), 1)


def clahe_tile_geometry(h: int, w: int, tiles: tuple[int, int]):
    """Tile size and padded extent, as OpenCV computes them.

    When either side is not a multiple of the grid, OpenCV pads the bottom by
    ``ty - h % ty`` and the right by ``tx - w % tx`` rows/columns (mirror /
    BORDER_REFLECT_101); histograms see the padded image.
    """
    ty, tx = tiles
    if h % ty == 0 and w % tx == 0:
        return (h // ty, w // tx), (h, w)
    ph, pw = h + ty - h % ty, w + tx - w % tx
    return (ph // ty, pw // tx), (ph, pw)
