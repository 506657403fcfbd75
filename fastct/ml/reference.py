"""The features of :func:`fastct.ml.features`, computed with scipy.ndimage and scikit-image.

A slow, readable second implementation, one slice at a time, built from the
library calls a scikit-image user would write (``uniform_filter``,
``binary_fill_holes``, ``label``, ``distance_transform_cdt``, ``sobel``,
``local_binary_pattern``, ``numpy.histogram``-style binning). It is the
oracle of the tests (integer input gives the same numbers as the Numba
kernels) and the peer of the throughput benchmark. Needs scikit-image.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._shared.validation import as_batch
from .spec import DEFAULT_GRID, resolve_spec

__all__ = ["reference_features"]


def _sums(image, size, mode="nearest"):
    """Exact window sums of integer-valued float64 data via uniform_filter."""
    from scipy import ndimage

    return np.rint(ndimage.uniform_filter(image, size, mode=mode) * (size * size))


def _slice(hu, pre, spec, params, row):
    from scipy import ndimage

    h, w = hu.shape
    off = params["offsets"]
    hu = hu.astype(np.float64)
    exact = np.array_equal(hu, np.rint(hu))
    s9 = _sums(hu, 3) if exact else ndimage.uniform_filter(hu, 3, mode="nearest") * 9
    body = ndimage.binary_fill_holes(s9 >= params["tissue9"])
    low = body & (s9 < params["tissue9"])
    labels, _ = ndimage.label(low)
    sizes = np.bincount(labels.ravel())
    lung = (labels > 0) & (sizes[labels] >= params["min_area"])
    r = params["box_radius"]
    counts = _sums(lung.astype(np.float64), 2 * r + 1, mode="constant")
    lung = body & (ndimage.binary_fill_holes(lung) | (2 * counts >= (2 * r + 1) ** 2))
    n_body, n_lung = int(body.sum()), int(lung.sum())
    row[off[1]] = n_body / (h * w)
    row[off[1] + 1] = n_lung / n_body if n_body else 0.0
    if pre is not None:
        g = spec.grid
        ry = [i * h // g for i in range(g)]
        rx = [j * w // g for j in range(g)]
        sums = np.add.reduceat(np.add.reduceat(pre.astype(np.float64), ry, axis=0), rx, axis=1)
        areas = np.outer(np.diff(ry + [h]), np.diff(rx + [w]))
        row[off[0] : off[0] + g * g] = (sums / areas).ravel()
    if n_lung == 0:
        return
    for mask, steps, o in (
        (lung & (s9 >= params["dense9"]), params["dense_steps"], off[3]),
        (lung & (s9 < params["air9"]), params["air_steps"], off[4]),
    ):
        dist = ndimage.distance_transform_cdt(np.pad(mask, 1), metric="chessboard")[1:-1, 1:-1]
        inside = dist[mask]
        row[o : o + len(steps)] = [(inside >= k).sum() / n_lung for k in steps]
        row[o + len(steps)] = (inside.max() if inside.size else 0) / params["scale"]

    def histogram(values, edges, o):
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        row[o : o + len(edges) + 1] = counts / n_lung

    histogram(s9[lung], params["hu9"], off[2])
    size = 2 * params["std_radius"] + 1
    if exact:
        s, ss = _sums(hu, size), _sums(hu * hu, size)
    else:
        s = ndimage.uniform_filter(hu, size, mode="nearest") * size * size
        ss = ndimage.uniform_filter(hu * hu, size, mode="nearest") * size * size
    histogram((size * size * ss - s * s)[lung], params["std_num"], off[5])
    gx = ndimage.sobel(s9, axis=1, mode="nearest")
    gy = ndimage.sobel(s9, axis=0, mode="nearest")
    histogram((gx * gx + gy * gy)[lung], params["grad_sq"], off[6])
    if pre is not None:
        from skimage.feature import local_binary_pattern

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-image warns about float images; the codes are what we compare
            codes = local_binary_pattern(pre.astype(np.float64), 8, 1, method="uniform").astype(np.int64)
        row[off[7] : off[7] + 10] = np.bincount(codes[lung], minlength=10) / n_lung


def reference_features(batch, *, steps=None, preprocessed=None, groups=None, grid=DEFAULT_GRID):
    """:func:`fastct.ml.features` on the CPU with scipy.ndimage and scikit-image, slice by slice.

    Same parameters and result (NumPy only). Slow on purpose: obviously
    correct library calls, no fusion.

    Examples
    --------
    >>> from fastct.datasets import lung_phantoms
    >>> from fastct.ml import features
    >>> images, _ = lung_phantoms(1, 64)
    >>> bool(np.allclose(reference_features(images), features(images, backend="cpu")))
    True
    """
    hu, squeeze = as_batch(batch, "batch")
    n, h, w = hu.shape
    spec = resolve_spec(h, w, groups, grid)
    pre = None
    if spec.needs_image:
        if preprocessed is not None:
            pre, _ = as_batch(preprocessed, "preprocessed")
        elif n:
            from ..pipeline import process

            pre = process(hu, steps, backend="cpu")
    params = spec.kernel_params()
    full = np.zeros((n, int(params["offsets"][-1])), np.float64)
    for i in range(n):
        _slice(hu[i], None if pre is None else pre[i], spec, params, full[i])
    out = full[:, spec.columns()]
    return out[0] if squeeze else out
