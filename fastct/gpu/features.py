"""Classification features per slice on the GPU (twin of ``fastct/cpu/features.py``).

The features are defined in :mod:`fastct.ml.spec`; the kernels are in
``kernels/features.cu``. Everything of a run of slices stays on the device:
3x3 sums, the body and the lung field (connected components by union-find
instead of the CPU's sequential flood fills: a flood from seeds reaches
exactly the components that hold one), the box count against the pleura,
the chessboard distances of dense and air regions (row runs, then a column
search), the per-pixel histograms (shared-memory atomics, one set of counters
per slice) and the final row. Pixel arithmetic is float64 in the CPU
backend's order with explicitly rounded operations, so the features are the
CPU backend's bits for every pixel dtype.

A NumPy batch is uploaded once (with the preprocessed slices, when given,
and one small table of thresholds) and the feature matrix downloaded once;
a CuPy batch stays on the device. The module also holds this backend's hooks
for the SVM stage of :mod:`fastct.ml`: the CuPy namespace (fastct's own linear
SVM runs on it) and cuML's ``SVC`` when cuML is importable. Nothing here
imports CuPy or does CUDA work at import time.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from . import _geometry, _kernels, _runtime, _transfer
from ._kernels import name_expr
from ._launch import dummy, f64, i32, kernels, launch, to_device

FEAT = "features.cu"
#: Per-slice histogram counters a ``feat_histograms`` block holds (FEAT_MAX_COUNTS in features.cu).
MAX_COUNTS = 256
#: Scratch bytes per pixel: s9, two row sums (float64), three masks (uint8), three int32 label/flag planes.
_SCRATCH_PER_PIXEL = 3 * 8 + 3 + 3 * 4
_PIXEL_DTYPES = _kernels.MORPH_DTYPES
_UNTEMPLATED = np.float32  # fastct.gpu._kernels.for_dtype files untemplated kernels under float


# ---------------------------------------------------------------------------
# public twin


def features(batch, out, *, image=None, grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale,
             dense_steps, air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets):
    """Fill ``out`` (``(N, offsets[-1])`` float64) with every feature group of each slice.

    The GPU twin of :func:`fastct.cpu.features.features`, with the same
    parameters (:meth:`fastct.ml.spec.FeatureSpec.kernel_params`) and the same
    results bit for bit.

    Parameters
    ----------
    batch : ndarray, shape (N, H, W)
        Raw slices in HU, NumPy or CuPy (C-contiguous).
    out : ndarray, shape (N, offsets[-1]), float64
        Where the rows go; same array type as ``batch``. Every column is written.
    image : ndarray, shape (N, H, W), optional
        Preprocessed slices (any real dtype) for the ``image`` and ``lbp``
        columns, which are zero without it. Same array type as ``batch``.
    grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale, dense_steps, air_steps, std_num, std_radius, \
grad_sq, lbp_rows, lbp_cols, offsets
        Thresholds, sizes and layout as :mod:`fastct.ml.spec` computes them
        (host arrays; they are uploaded with the batch).

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    Usually reached through :func:`fastct.ml.features` (needs a GPU):

    >>> from fastct.datasets import lung_phantoms
    >>> from fastct.ml import features as ml_features
    >>> images, _ = lung_phantoms(1, 64)
    >>> X = ml_features(images, backend="gpu")  # doctest: +SKIP
    >>> bool((X == ml_features(images, backend="cpu")).all())  # doctest: +SKIP
    True

    Called directly, with the parameters of :mod:`fastct.ml.spec`:

    >>> from fastct.ml.spec import resolve_spec
    >>> spec = resolve_spec(64, 64, "all")
    >>> air = np.full((2, 64, 64), -1000, np.int16)  # no body, no lungs
    >>> out = np.zeros((2, int(spec.offsets()[-1])))
    >>> features(air, out, **spec.kernel_params())[:, 64:66].tolist()  # doctest: +SKIP
    [[0.0, 0.0], [0.0, 0.0]]
    """
    rt = _runtime.get()
    n, h, w = batch.shape
    if n == 0:
        return out
    if h * w >= 2**31:
        raise InvalidArgumentError(f"batch: slices of {h}x{w} exceed the 2**31 pixels the GPU feature kernels index")
    table = _Tables(hu9, std_num, grad_sq, lbp_rows, lbp_cols, offsets, dense_steps, air_steps, rt)
    if table.ncounts > MAX_COUNTS:
        raise InvalidArgumentError(
            f"features: {table.ncounts} histogram bins per slice exceed the kernels' {MAX_COUNTS}")
    batch = _pixel_dtype(batch)
    has_image = image is not None
    if has_image:
        image = _pixel_dtype(image)
    consts = _Consts(grid=int(grid), tissue9=float(tissue9), dense9=float(dense9), air9=float(air9),
                     min_area=int(min_area), box_radius=int(box_radius), scale=float(scale),
                     std_radius=int(std_radius))

    def compute(src, dst, edges, ints, *pre):
        _features_device(src, dst, pre[0] if pre else None, edges, ints, table, consts)

    device = rt.is_device(batch)
    edges, ints = (to_device(table.edges), to_device(table.ints)) if device else (table.edges, table.ints)
    aux = ((edges, False), (ints, False)) + (((image, True),) if has_image else ())
    return _transfer.run(batch, out, compute, slice_bytes=h * w * _SCRATCH_PER_PIXEL + table.ncounts * 8 + 64,
                         aux=aux)


def array_module():
    """The array namespace of this backend (CuPy)."""
    import cupy

    return cupy


def cuml_svc():
    """``cuml.svm.SVC`` when cuML imports here, else None (fastct's own linear SVM is used then)."""
    try:
        from cuml.svm import SVC
    except Exception:  # noqa: BLE001 - cuML is optional; any import failure means "not here"
        return None
    return SVC


# ---------------------------------------------------------------------------
# device work


class _Consts:
    """The scalar parameters of a call, as plain Python numbers."""

    def __init__(self, **values):
        self.__dict__.update(values)


class _Tables:
    """The array parameters packed into one float64 and one int64 table (two small uploads).

    ``edges`` = hu9, std_num, grad_sq, lbp_rows, lbp_cols; ``ints`` = the 9
    group offsets, then the dense and the air steps. ``ncounts`` is the
    length of a slice's counter row in ``feat_histograms``.
    """

    def __init__(self, hu9, std_num, grad_sq, lbp_rows, lbp_cols, offsets, dense_steps, air_steps, rt):
        def host(a, dtype):
            if rt.is_device(a):
                a = a.get() if hasattr(a, "get") else np.asarray(a)
            return np.ascontiguousarray(np.asarray(a, dtype=dtype).ravel())

        parts = [host(a, np.float64) for a in (hu9, std_num, grad_sq, lbp_rows, lbp_cols)]
        self.n_hu, self.n_std, self.n_grad, self.n_lbp = (len(p) for p in parts[:4])
        if len(parts[4]) != self.n_lbp:
            raise InvalidArgumentError("lbp_rows, lbp_cols: expected the same number of sample offsets")
        self.edges = np.concatenate(parts)
        offs, dense, air = (host(a, np.int64) for a in (offsets, dense_steps, air_steps))
        if len(offs) != 9:
            raise InvalidArgumentError(
                f"offsets: expected 9 group offsets (fastct.ml.spec.GROUPS and the total), got {len(offs)}")
        self.offsets = offs
        self.n_dense, self.n_air = len(dense), len(air)
        self.ints = np.concatenate([offs, dense, air])
        self.ncounts = (self.n_hu + 1) + (self.n_std + 1) + (self.n_grad + 1) + (self.n_lbp + 2) + (
            self.n_dense + 1) + (self.n_air + 1)


def _pixel_dtype(a):
    """``a`` in a dtype the kernels are instantiated for (others as float64, which the CPU reads them as)."""
    return a if a.dtype in _PIXEL_DTYPES else a.astype(np.float64)


def _features_device(src, dst, pre, edges, ints, table, c):
    """Every feature row of device slices ``src`` into device ``dst`` (see :func:`features`).

    ``pre`` is the device preprocessed slices or None; ``edges`` / ``ints``
    the device copies of ``table``'s arrays; ``c`` the scalar parameters.
    """
    xp = _runtime.get().xp
    m, h, w = src.shape
    plane = h * w
    has_image = pre is not None
    pre_dtype = pre.dtype if has_image else src.dtype
    prepare, row_sums = kernels(FEAT, src.dtype, name_expr("feat_prepare", src.dtype),
                                name_expr("feat_row_sums", src.dtype))
    hist_kernel, grid_means = kernels(FEAT, pre_dtype, name_expr("feat_histograms", pre_dtype),
                                      name_expr("feat_grid_means", pre_dtype))
    row_runs, finalize = kernels(FEAT, _UNTEMPLATED, "feat_row_runs", "feat_finalize")
    s9 = xp.empty((m, h, w), np.float64)
    hs = xp.empty((m, h, w), np.float64)
    hs2 = xp.empty((m, h, w), np.float64)
    body = xp.empty((m, h, w), np.uint8)
    lung = xp.empty((m, h, w), np.uint8)
    low = xp.empty((m, h, w), np.uint8)
    label = xp.empty((m, h, w), np.int32)
    flags = xp.empty((m, h, w), np.int32)
    flags2 = xp.empty((m, h, w), np.int32)
    counts = xp.zeros((m, table.ncounts), np.uint64)
    maxima = xp.zeros((m, 2), np.int32)
    mask_counts = xp.zeros((m, 2), np.uint64)
    ih, iw = i32(h), i32(w)
    for s0, s1 in _geometry.slice_parts(m):
        part = s1 - s0
        pix, blk = _geometry.plane_grid(plane, part)
        s = slice(s0, s1)
        launch(prepare, pix, blk, src[s], ih, iw, f64(c.tissue9), s9[s], low[s], label[s], flags[s])
        launch(row_sums, *_geometry.elementwise_grid(part * h), src[s], i32(part * h), iw, i32(c.std_radius),
               hs[s], hs2[s])
        _lung_field_device(low[s], label[s], flags[s], flags2[s], body[s], lung[s], mask_counts[s], c.min_area,
                           c.box_radius)
        # lesion sizes (row runs here, the column search in feat_histograms) and the histograms
        launch(row_runs, *_geometry.elementwise_grid(part * h), s9[s], lung[s], i32(part * h), iw, f64(c.dense9),
               f64(c.air9), label[s], flags[s])
        launch(hist_kernel, pix, blk, s9[s], hs[s], hs2[s], lung[s], label[s], flags[s],
               pre[s] if has_image else dummy(pre_dtype), i32(has_image), ih, iw, i32(c.std_radius), edges,
               i32(table.n_hu), i32(table.n_std), i32(table.n_grad), i32(table.n_lbp), ints[9:], i32(table.n_dense),
               i32(table.n_air), counts[s], i32(table.ncounts), maxima[s])
        launch(finalize, *_geometry.elementwise_grid(part), counts[s], i32(table.ncounts), maxima[s],
               mask_counts[s], ints, i32(table.n_hu), i32(table.n_std), i32(table.n_grad), i32(table.n_lbp),
               i32(table.n_dense), i32(table.n_air), i32(has_image), ih, iw, f64(c.scale), dst[s],
               i32(dst.shape[1]), i32(part))
        if has_image:
            cells = part * c.grid * c.grid
            launch(grid_means, *_geometry.elementwise_grid(cells), pre[s], ih, iw, i32(c.grid), dst[s],
                   i32(dst.shape[1]), i32(int(table.offsets[0])), i32(cells))
    return dst


def _lung_field_device(low, label, flags, flags2, body, lung, mask_counts, min_area, box_radius):
    """Body and lung-field masks of at most ``MAX_GRID_SLICES`` device slices (``fastct.cpu.features._lung_field``).

    On entry (as ``feat_prepare`` leaves them): ``low`` (uint8) marks the
    pixels with ``s9 < tissue9``, ``label`` (int32) holds each low pixel's
    index in its slice and -1 elsewhere, ``flags`` is zero. On return
    ``body`` and ``lung`` (uint8) hold the masks and ``mask_counts`` ((n, 2)
    uint64, zeroed by the caller) the body and lung-field pixels per slice;
    ``low``, ``label`` and the flags are scratch (``low`` ends as the lung
    with its holes filled, ``label`` as the box row counts).
    """
    part, h, w = low.shape
    pix, blk = _geometry.plane_grid(h * w, part)
    merge, flatten, mark, body_kernel, count, big_kernel, filled_kernel, box_rows, box_cols = kernels(
        FEAT, _UNTEMPLATED, "ccl_merge", "ccl_flatten", "feat_mark_seeds", "feat_body", "feat_count", "feat_big",
        "feat_filled", "feat_box_rows", "feat_box_cols")
    ih, iw, r = i32(h), i32(w), i32(box_radius)

    def components():
        launch(merge, pix, blk, low, ih, iw, label)
        launch(flatten, pix, blk, low, ih, iw, label)

    # body: tissue with its holes filled (low components touching the image edge are outside)
    components()
    launch(mark, pix, blk, low, label, body, i32(0), ih, iw, flags)
    launch(body_kernel, pix, blk, low, label, flags, ih, iw, body, flags2)
    # lungs: the body's low-density components of at least min_area pixels
    components()
    launch(count, pix, blk, low, label, ih, iw, flags2)
    launch(big_kernel, pix, blk, low, label, flags2, i32(min_area), body, ih, iw, lung, flags)
    # their holes filled: flood the rest of the body from its edge
    components()
    launch(mark, pix, blk, low, label, body, i32(1), ih, iw, flags)
    launch(filled_kernel, pix, blk, low, label, flags, body, ih, iw)
    # plus the body pixels whose box is at least half lung: the lung field, and the pixel counts
    launch(box_rows, pix, blk, lung, ih, iw, r, label)
    launch(box_cols, *_geometry.elementwise_grid(part * w), label, low, body, i32(part * w), ih, iw, r, lung,
           mask_counts)
