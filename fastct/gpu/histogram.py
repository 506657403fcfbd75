"""Histogram equalisation and CLAHE on the GPU (twin of ``fastct/cpu/histogram.py``).

Everything stays on the device (kernels/histogram.cu): per-slice ranges
(block reductions, then atomics on order-preserving keys), histograms with
one bin per integer value (shared-memory atomics, global memory for wider
ranges), look-up tables (block scans), CLAHE's clipping, redistribution and
bilinear interpolation. No value goes back to the host inside an op. Bin and
output rules are those of :mod:`fastct._shared.histogram`; integer inputs give
the CPU backend's bits.
"""

from __future__ import annotations

import numpy as np

from .._shared.borders import border_index_map
from .._shared.histogram import check_bin_count, clahe_tile_geometry, output_maxval
from ..errors import InvalidArgumentError
from . import _geometry, _runtime, _transfer
from ._kernels import name_expr
from ._launch import dummy, f32, f64, i32, i64, kernels, launch, threads, to_device

HIST = "histogram.cu"
#: Upper bound on the bytes of CLAHE tile tables held at once (per call).
CLAHE_LUT_BYTES = 256 << 20

_INT_MAX, _INT_MIN = 2**31 - 1, -(2**31)


# ---------------------------------------------------------------------------
# public twins


def equalize_hist(batch, out, *, nbins, mask):
    """Global equalisation per slice; ``mask`` (uint8, (N|1, H, W)) selects counted pixels."""
    maxval = f32(output_maxval(out.dtype))
    stride = _geometry.equalize_stride(batch.dtype, nbins)
    aux = () if mask is None else ((mask, mask.shape[0] > 1),)

    def compute(src, dst, *m):
        equalize_device(src, dst, nbins, m[0] if m else None, maxval)

    return _transfer.run(batch, out, compute, slice_bytes=stride * 8 + 64, aux=aux)


def clahe(batch, out, *, clip_limit, tiles, nbins, value_range, volume=False):
    """Contrast-limited adaptive equalisation per slice, OpenCV's algorithm at full bit depth.

    With ``volume`` the batch is one volume equalised over ``(tz, ty, tx)``
    tiles: the CPU's array code (:func:`fastct._shared.volume.clahe_volume`)
    on CuPy, the volume whole on the device.
    """
    if volume:
        from .._shared.volume import clahe_volume
        from .volume import run_volume

        return run_volume(batch, out, lambda s, d: clahe_volume(_runtime.get().xp, s, d, clip_limit, tiles, nbins,
                                                                  value_range))
    n = batch.shape[0]
    stride = clahe_stride(batch.dtype, nbins, value_range)
    ty, tx = tiles
    table_bytes = ty * tx * stride * 4
    lut_slices = clahe_lut_slices(n, ty, tx, stride)
    maxval = f32(output_maxval(out.dtype))

    def compute(src, dst):
        clahe_device(src, dst, clip_limit, tiles, nbins, value_range, maxval)

    return _transfer.run(batch, out, compute, slice_bytes=64, fixed_bytes=lut_slices * table_bytes)


# ---------------------------------------------------------------------------
# device building blocks (also used by fused.run_chain_equalize)


def _names(dtype, out_dtype=None):
    names = [name_expr(k, dtype) for k in ("slice_stats", "hist_clear", "histogram", "equalize_lut")]
    if out_dtype is not None:
        names.append(name_expr("equalize_apply", dtype, out_dtype))
    return names


def new_keys(n):
    """Per-slice (keys_lo, keys_hi) int32 arrays ready for atomicMin / atomicMax."""
    xp = _runtime.get().xp
    return xp.full(n, _INT_MAX, dtype=np.int32), xp.full(n, _INT_MIN, dtype=np.int32)


def stats_into(src, keys_lo, keys_hi, mask=None):
    """Accumulate each slice's (masked) range into the keys; return the counted pixels per slice."""
    xp = _runtime.get().xp
    n, h, w = src.shape
    plane = h * w
    counts = xp.zeros(n, dtype=np.uint64)
    (stats,) = kernels(HIST, src.dtype, name_expr("slice_stats", src.dtype))
    for s0, s1 in _geometry.slice_parts(n):
        m, m_stride, has = _mask_args(mask, s0, s1, plane)
        grid, block = _geometry.plane_grid(plane, s1 - s0)
        launch(stats, grid, block, src[s0:s1], i64(plane), m, i64(m_stride), i32(has), keys_lo[s0:s1],
               keys_hi[s0:s1], counts[s0:s1])
    return counts


def equalize_device(src, dst, nbins, mask, maxval):
    """Equalise device slices ``src`` into ``dst`` (see :func:`equalize_hist`)."""
    keys_lo, keys_hi = new_keys(src.shape[0])
    counts = stats_into(src, keys_lo, keys_hi, mask)
    equalize_from_keys(src, dst, keys_lo, keys_hi, counts, nbins, mask, maxval)
    return dst


def equalize_from_keys(src, dst, keys_lo, keys_hi, counts, nbins, mask, maxval):
    """Histogram, table and mapping of slices whose ranges and counted pixels are known (on the device)."""
    xp = _runtime.get().xp
    n, h, w = src.shape
    plane = h * w
    stride = _geometry.equalize_stride(src.dtype, nbins)
    shared_bins = _geometry.histogram_shared_bins(stride)
    names = _names(src.dtype, dst.dtype)
    _, clear, hist_kernel, lut_kernel, apply = kernels(HIST, src.dtype, *names)
    hist = xp.empty((n, stride), dtype=np.uint32)
    lut = xp.empty((n, stride), dtype=np.float32)
    for s0, s1 in _geometry.slice_parts(n):
        part = s1 - s0
        m, m_stride, has = _mask_args(mask, s0, s1, plane)
        grid, block = _geometry.plane_grid(plane, part)
        lo, hi = keys_lo[s0:s1], keys_hi[s0:s1]
        launch(clear, (part,), threads(), hist[s0:s1], i32(stride), lo, hi, i32(nbins))
        launch(hist_kernel, grid, block, src[s0:s1], i64(plane), m, i64(m_stride), i32(has), lo, hi, i32(nbins),
               hist[s0:s1], i32(stride), i32(shared_bins), shared_mem=shared_bins * 4)
        launch(lut_kernel, (part,), threads(), hist[s0:s1], i32(stride), lo, hi, counts[s0:s1], i32(nbins),
               f32(maxval), lut[s0:s1])
        launch(apply, grid, block, src[s0:s1], i64(plane), lo, hi, i32(nbins), lut[s0:s1], i32(stride),
               f32(maxval), dst[s0:s1])
    return dst


def _mask_args(mask, s0, s1, plane):
    """(pointer, slice stride, has_mask) of a uint8 mask for slices s0:s1."""
    if mask is None:
        return dummy(np.uint8), 0, 0
    if mask.shape[0] > 1:
        return mask[s0:s1], plane, 1
    return mask, 0, 1


# ---------------------------------------------------------------------------
# CLAHE


def clahe_stride(dtype, nbins, value_range) -> int:
    """Length of a tile table: ``nbins``, the fixed range's values, or every value of the dtype."""
    if nbins:
        return int(nbins)
    if value_range is not None:  # integers only (floats always have nbins)
        lo, hi = np.ceil(value_range[0]), np.floor(value_range[1])
        count = int(hi - lo) + 1
        if count < 1:
            raise InvalidArgumentError(f"value_range: {value_range!r} holds no integer value of the image")
        return check_bin_count(count)
    return _geometry.dtype_bins(dtype)


def clahe_lut_slices(n, ty, tx, stride) -> int:
    """Slices whose tile tables are held at once (bounded by :data:`CLAHE_LUT_BYTES`)."""
    per_slice = ty * tx * stride * 4
    return int(max(1, min(n, _geometry.MAX_GRID_SLICES, CLAHE_LUT_BYTES // max(per_slice, 1))))


def fixed_ranges(dtype, value_range, n) -> np.ndarray:
    """(n, 2) float64 ranges of a fixed ``value_range`` (integers: ceil / floor), as the CPU backend."""
    lo, hi = value_range
    if np.dtype(dtype).kind in "iu":
        lo, hi = np.ceil(lo), np.floor(hi)
    return np.tile(np.array([[lo, hi]], np.float64), (n, 1))


def clahe_device(src, dst, clip_limit, tiles, nbins, value_range, maxval):
    """CLAHE of device slices ``src`` into ``dst`` (see :func:`clahe`)."""
    xp = _runtime.get().xp
    n, h, w = src.shape
    plane = h * w
    ty, tx = tiles
    (tile_h, tile_w), (ph, pw) = clahe_tile_geometry(h, w, tiles)
    stride = clahe_stride(src.dtype, nbins, value_range)
    shared_bins, part_offset, shared_bytes = _geometry.clahe_shared_layout(stride)
    names = [name_expr("clahe_luts", src.dtype), name_expr("clahe_apply", src.dtype, dst.dtype)]
    if value_range is None:
        names += [name_expr("slice_stats", src.dtype), name_expr("keys_to_ranges", src.dtype)]
    found = kernels(HIST, src.dtype, *names)
    luts_kernel, apply = found[:2]
    if value_range is None:
        keys_lo, keys_hi = new_keys(n)
        stats_into(src, keys_lo, keys_hi)
        ranges = xp.empty((n, 2), dtype=np.float64)
        grid, block = _geometry.elementwise_grid(n)
        launch(found[3], grid, block, keys_lo, keys_hi, ranges, i32(n))
    else:
        ranges = to_device(fixed_ranges(src.dtype, value_range, n))
    rows_map = to_device(border_index_map(h, 0, ph - h, "mirror"), np.int32)
    cols_map = to_device(border_index_map(w, 0, pw - w, "mirror"), np.int32)
    clip_on = clip_limit > 0
    clip_tp = float(clip_limit) * (tile_h * tile_w)  # OpenCV: int(clip * tile_pixels / nbins)
    inv_th = f32(1.0) / f32(tile_h)
    inv_tw = f32(1.0) / f32(tile_w)
    chunk = clahe_lut_slices(n, ty, tx, stride)
    luts = xp.empty((chunk, ty * tx, stride), dtype=np.float32)
    for s0 in range(0, n, chunk):
        s1 = min(n, s0 + chunk)
        part = s1 - s0
        launch(luts_kernel, (ty * tx, part), threads(), src[s0:s1], i32(h), i32(w), ranges[s0:s1], i32(nbins),
               f64(clip_tp), i32(clip_on), rows_map, cols_map, i32(tile_h), i32(tile_w), i32(tx), f32(maxval),
               luts[:part], i32(stride), i32(shared_bins), i32(part_offset), shared_mem=shared_bytes)
        grid, block = _geometry.plane_grid(plane, part)
        launch(apply, grid, block, src[s0:s1], i32(h), i32(w), ranges[s0:s1], i32(nbins), luts[:part],
               i32(stride), i32(ty), i32(tx), f32(inv_th), f32(inv_tw), f32(maxval), dst[s0:s1])
    return dst
