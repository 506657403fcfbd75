"""Slow, obviously correct references for the histogram and intensity ops.

Two kinds of oracle live here:

* wrappers around OpenCV (``cv2.equalizeHist``, ``cv2.createCLAHE``,
  ``cv2.cvtColor``) applied slice by slice, for the cases fastct promises to
  reproduce bit for bit;
* plain NumPy / Python implementations of the rules documented in
  :mod:`fastct._shared.histogram`, :mod:`fastct._shared.intensity` and the op
  docstrings, written straight from the text (one slice at a time, explicit
  loops where the rule is a loop), for the cases OpenCV cannot do (int16
  Hounsfield units, float images, masks, coarser bins, other output scales).

Nothing here imports fastct's kernels: the only fastct names used are the
documented constants (window presets), so a wrong kernel cannot make its own
oracle agree with it.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32


# ---------------------------------------------------------------------------
# OpenCV wrappers (one slice at a time)


def cv2_equalize(batch):
    """``cv2.equalizeHist`` of every uint8 slice of a (H, W) or (N, H, W) array."""
    import cv2

    if batch.ndim == 2:
        return cv2.equalizeHist(batch)
    return np.stack([cv2.equalizeHist(s) for s in batch])


def cv2_clahe(batch, clip_limit, tiles):
    """``cv2.createCLAHE`` of every uint8/uint16 slice; ``tiles`` is fastct's (rows, cols)."""
    import cv2

    ty, tx = tiles
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tx, ty))  # OpenCV: (cols, rows)
    if batch.ndim == 2:
        return op.apply(batch)
    return np.stack([op.apply(s) for s in batch])


def cv2_gray(image, code_name):
    """``cv2.cvtColor(image, cv2.<code_name>)`` of an (H, W, C) or (N, H, W, C) array."""
    import cv2

    code = getattr(cv2, code_name)
    if image.ndim == 3:
        return cv2.cvtColor(image, code)
    return np.stack([cv2.cvtColor(s, code) for s in image])


# ---------------------------------------------------------------------------
# the documented bin rule


def _maxval(out_dtype):
    out_dtype = np.dtype(out_dtype)
    return 1.0 if out_dtype.kind == "f" else float(np.iinfo(out_dtype).max)


def bin_of(values, lo, hi, nbins, nb):
    """Bin index of every value (documented rule), clamped to [0, nb - 1].

    Integers: ``v - lo`` (one bin per value, ``nbins`` None) or
    ``(v - lo) * nbins // (hi - lo + 1)``. Floats, in float32:
    ``int((v - lo) * (nbins / (hi - lo)))``; every value lands in bin 0 when
    ``hi == lo``.
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        d = values.astype(np.int64) - int(lo)
        b = d if nbins is None else d * int(nbins) // (int(hi) - int(lo) + 1)
    else:
        span = f32(hi) - f32(lo)
        if span <= 0:
            return np.zeros(values.shape, np.int64)
        scale = f32(nb) / span
        b = ((values.astype(np.float32) - f32(lo)) * scale).astype(np.int64)  # truncation, like int()
    return np.clip(b, 0, nb - 1)


def lut_level(counts, total, out_dtype):
    """Cumulative counts -> output scale: ``count / total`` or ``rint(count * (maxval / total))`` in float32."""
    counts = np.asarray(counts)
    maxval = _maxval(out_dtype)
    if maxval == 1.0:
        return counts.astype(np.float32) / f32(total)
    scale = f32(maxval) / f32(total)
    return np.minimum(np.rint(counts.astype(np.float32) * scale), f32(maxval))


def _as_compute(img):
    """float64 is computed in float32 (the dtype policy); other dtypes as they are."""
    return img.astype(np.float32) if img.dtype == np.float64 else img


# ---------------------------------------------------------------------------
# equalisation


def equalize_slice(img, nbins=None, mask=None, out_dtype=np.float32):
    """Global equalisation of one slice, OpenCV's rule at full resolution.

    The lowest occupied bin maps to 0 and the top to maxval
    (``(cum - hist[0]) / (total - hist[0])``); a constant (masked) slice maps
    to 0; unmasked pixels below / above the masked range map to 0 / maxval.
    """
    img = _as_compute(img)
    counted = img if mask is None else img[mask]
    lo, hi = counted.min(), counted.max()
    if img.dtype.kind in "iu" and nbins is None:
        nb = int(hi) - int(lo) + 1
    else:
        nb = 256 if nbins is None else int(nbins)
    hist = np.bincount(bin_of(counted.ravel(), lo, hi, nbins, nb), minlength=nb)
    total = counted.size
    h0 = int(hist[0])
    den = total - h0
    if den == 0:
        lut = np.zeros(nb, np.float32)
    else:
        lut = lut_level(np.cumsum(hist) - h0, den, out_dtype)
    res = lut[bin_of(img, lo, hi, nbins, nb)]
    res = np.where(img < lo, 0, np.where(img > hi, _maxval(out_dtype), res))
    return res.astype(out_dtype)


def equalize(batch, nbins=None, mask=None, out_dtype=np.float32):
    """:func:`equalize_slice` over a (H, W) or (N, H, W) array; mask (H, W) or (N, H, W)."""
    if batch.ndim == 2:
        return equalize_slice(batch, nbins, mask, out_dtype)
    masks = [None] * len(batch) if mask is None else (mask if mask.ndim == 3 else [mask] * len(batch))
    return np.stack([equalize_slice(s, nbins, m, out_dtype) for s, m in zip(batch, masks)])


# ---------------------------------------------------------------------------
# CLAHE


def clahe_padded(img, tiles):
    """The image OpenCV builds its tile histograms from, and the tile size.

    When either side is not a multiple of the grid, OpenCV pads the bottom by
    ``ty - h % ty`` rows and the right by ``tx - w % tx`` columns with
    BORDER_REFLECT_101 (even the side that was a multiple gets a full extra
    tile's worth). Written with an explicit reflect-101 index rule so it holds
    for pads wider than the image.
    """
    h, w = img.shape
    ty, tx = tiles
    if h % ty == 0 and w % tx == 0:
        return img, (h // ty, w // tx)
    ph, pw = h + ty - h % ty, w + tx - w % tx

    def reflect101(i, n):
        if n == 1:
            return 0
        while i < 0 or i >= n:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i

    rows = [reflect101(i, h) for i in range(ph)]
    cols = [reflect101(j, w) for j in range(pw)]
    return img[np.ix_(rows, cols)], (ph // ty, pw // tx)


def clip_histogram(hist, limit):
    """OpenCV's clipping: cut at ``limit``, add ``excess // nb`` to every bin, then the residual.

    The residual ``excess % nb`` goes one count each to bins 0, step, 2 step ...
    with ``step = max(nb // residual, 1)``.
    """
    hist = hist.copy()
    nb = hist.size
    if limit <= 0:
        return hist
    excess = int(np.maximum(hist - limit, 0).sum())
    hist = np.minimum(hist, limit)
    hist += excess // nb
    residual = excess % nb
    if residual:
        step = max(nb // residual, 1)
        i = 0
        while i < nb and residual > 0:  # OpenCV's loop, literally
            hist[i] += 1
            i += step
            residual -= 1
    return hist


def clahe_slice(img, clip_limit=2.0, tiles=(8, 8), nbins=None, value_range=None, out_dtype=np.float32):
    """CLAHE of one slice: the documented algorithm (OpenCV's, at full bit depth).

    Tile histograms of the padded image with the bin rule above over the
    slice's range (or ``value_range``); OpenCV's clip limit
    ``max(int(clip * tile_pixels / nb), 1)`` and redistribution; LUT
    ``cum / tile_pixels`` on the output scale; bilinear interpolation between
    the four nearest tile centres in float32 with OpenCV's operation order.
    """
    img = _as_compute(img)
    h, w = img.shape
    ty, tx = tiles
    integer = img.dtype.kind in "iu"
    if value_range is None:
        lo, hi = img.min(), img.max()
    else:
        lo, hi = value_range
        if integer:
            lo, hi = int(np.ceil(lo)), int(np.floor(hi))
    if integer and nbins is None:
        nb = int(hi) - int(lo) + 1
    else:
        nb = 256 if nbins is None else int(nbins)
    padded, (th, tw) = clahe_padded(img, tiles)
    total = th * tw
    limit = max(int(clip_limit * total / nb), 1) if clip_limit > 0 else 0
    luts = np.empty((ty, tx, nb), np.float32)
    for iy in range(ty):
        for ix in range(tx):
            tile = padded[iy * th:(iy + 1) * th, ix * tw:(ix + 1) * tw]
            hist = np.bincount(bin_of(tile.ravel(), lo, hi, nbins, nb), minlength=nb)
            hist = clip_histogram(hist, limit)
            luts[iy, ix] = lut_level(np.cumsum(hist), total, out_dtype)
    b = bin_of(img, lo, hi, nbins, nb)

    def weights(n, size, count):
        pos = np.arange(n, dtype=np.float32) * (f32(1.0) / f32(size)) - f32(0.5)
        i1 = np.floor(pos).astype(np.int64)
        a = (pos - i1.astype(np.float32)).astype(np.float32)
        return np.maximum(i1, 0), np.minimum(i1 + 1, count - 1), a, (f32(1.0) - a).astype(np.float32)

    y1, y2, ya, ya1 = (v[:, None] for v in weights(h, th, ty))
    x1, x2, xa, xa1 = (v[None, :] for v in weights(w, tw, tx))
    top = luts[y1, x1, b] * xa1 + luts[y1, x2, b] * xa
    bottom = luts[y2, x1, b] * xa1 + luts[y2, x2, b] * xa
    res = top * ya1 + bottom * ya
    assert res.dtype == np.float32
    if _maxval(out_dtype) != 1.0:
        res = np.clip(np.rint(res), 0, _maxval(out_dtype))
    return res.astype(out_dtype)


def clahe(batch, out_dtype=np.float32, **kw):
    """:func:`clahe_slice` over a (H, W) or (N, H, W) array."""
    if batch.ndim == 2:
        return clahe_slice(batch, out_dtype=out_dtype, **kw)
    return np.stack([clahe_slice(s, out_dtype=out_dtype, **kw) for s in batch])


# ---------------------------------------------------------------------------
# intensity


def window(img, center, width, out_dtype=np.float32):
    """DICOM PS3.3 C.11.2.1.2.1 linear VOI in float64, scaled to the output.

    ``y = clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)``; integer outputs are
    ``rint(y * maxval)``. Returns the float64 values before the final cast too,
    so a test can tell a genuine error from a float32-vs-float64 tie.
    """
    x = img.astype(np.float64)
    y = np.clip((x - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)
    scaled = y * _maxval(out_dtype)
    if np.dtype(out_dtype).kind == "f":
        return scaled.astype(out_dtype), scaled
    return np.rint(scaled).astype(out_dtype), scaled


def gray_fixed(image, channel_order="rgb"):
    """OpenCV's 8/16-bit BT.601 rule: ``(R*9798 + G*19235 + B*3735 + 2**14) >> 15`` (int64, floor shift).

    (``cv::RGB2Gray<uchar|ushort>`` in OpenCV 4/5 use these 15-bit weights;
    the 14-bit 4899/9617/1868 ones belong to its YUV conversions.)
    """
    px = image.astype(np.int64)
    r, b = (0, 2) if channel_order == "rgb" else (2, 0)
    v = px[..., r] * 9798 + px[..., 1] * 19235 + px[..., b] * 3735
    return ((v + (1 << 14)) >> 15).astype(image.dtype)


def gray_float(image, channel_order="rgb"):
    """BT.601 luma in float64: ``0.299 R + 0.587 G + 0.114 B``."""
    px = image.astype(np.float64)
    r, b = (0, 2) if channel_order == "rgb" else (2, 0)
    return 0.299 * px[..., r] + 0.587 * px[..., 1] + 0.114 * px[..., b]
