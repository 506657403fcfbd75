"""Chains of separable stencil stages on the GPU (twin of ``fastct/cpu/fused.py``).

A chain (see :mod:`fastct._shared.fusion`) runs as one ``chain_tile`` launch
(kernels/stencil.cu): each block computes one output tile of a slice with
every intermediate stage held in shared memory, so a fused erode + dilate +
Gaussian reads and writes global memory once. A single erode, dilate or
Gaussian is a chain of one stage: the stand-alone ops and the fused pipeline
share the kernel, and fused and unfused results are the same bits (and the
CPU backend's bits). Stencils too wide for a tile run as two global passes
(rows, then columns) per stage.

``run_chain_equalize`` also records each output slice's range in the same
launch, then equalises with the histogram kernels of :mod:`.histogram`.
"""

from __future__ import annotations

import numpy as np

from .._shared.fusion import STAGE_LINEAR, STAGE_MAX, build_program, chain_ok
from .._shared.validation import saturation_limits
from . import _geometry, _runtime, _transfer
from ._kernels import name_expr
from ._launch import dummy, f32, i32, kernels, launch, to_device
from .histogram import equalize_from_keys, new_keys, stats_into

STENCIL = "stencil.cu"


def run_chain(batch, out, stages):
    """Run ``stages`` (:class:`~fastct._shared.fusion.ChainStage` list) over ``batch`` into ``out``."""
    return _transfer.run(batch, out, lambda src, dst: chain_device(src, dst, stages),
                         slice_bytes=chain_scratch_bytes(batch, stages))


def run_chain_equalize(batch, out, stages, maxval):
    """Run ``stages``, then equalise each slice (one bin per integer value, full range)."""
    maxval = f32(maxval)
    plane = batch[0].size if batch.shape[0] else 0
    scratch = chain_scratch_bytes(batch, stages) + plane * batch.dtype.itemsize
    scratch += _geometry.dtype_bins(batch.dtype) * 8 + 64
    return _transfer.run(batch, out, lambda src, dst: chain_equalize_device(src, dst, stages, maxval),
                         slice_bytes=scratch)


def chain_scratch_bytes(batch, stages) -> int:
    """Device scratch per slice of a chain (its two-pass fallback, the worst case)."""
    if not batch.shape[0]:
        return 0
    plane = batch[0].size
    return plane * (8 + 2 * batch.dtype.itemsize)


def chain_equalize_device(src, dst, stages, maxval):
    """Device part of :func:`run_chain_equalize`."""
    xp = _runtime.get().xp
    n, h, w = src.shape
    tmp = xp.empty_like(src)
    keys_lo, keys_hi = new_keys(n)
    chain_device(src, tmp, stages, keys=(keys_lo, keys_hi))
    counts = xp.full(n, h * w, dtype=np.uint64)
    equalize_from_keys(tmp, dst, keys_lo, keys_hi, counts, 0, None, f32(maxval))
    return dst


def chain_device(src, dst, stages, keys=None):
    """Run a chain on device arrays ``src`` -> ``dst`` (same dtype).

    ``keys=(keys_lo, keys_hi)`` (int32 per slice, see :func:`.histogram.new_keys`)
    also accumulates the range of each output slice.
    """
    xp = _runtime.get().xp
    n, h, w = src.shape
    if n == 0:
        return dst
    if len(stages) > 1 and not chain_ok(stages):
        # A later stage would read beyond what a tile computes (wrap): split the chain.
        mid = xp.empty_like(src)
        chain_device(src, mid, stages[:1])
        return chain_device(mid, dst, stages[1:], keys)
    prog = build_program(stages, (h, w), src.dtype)
    acc = prog.taps_x.dtype
    linear = bool(np.any(prog.kinds == STAGE_LINEAR))
    stats = keys is not None
    plan = _geometry.chain_tile_plan(prog.ky, prog.kx, linear, src.dtype.itemsize, acc.itemsize, stats)
    lo, hi = saturation_limits(dst.dtype)
    if plan is None:
        _chain_passes(src, dst, prog, acc, lo, hi)
        if stats:
            stats_into(dst, keys[0], keys[1])
        return dst
    name = name_expr("chain_tile", src.dtype, acc, stats)
    (kernel,) = kernels(STENCIL, src.dtype, name)
    kinds, kys, kxs = (to_device(a, np.int32) for a in (prog.kinds, prog.ky, prog.kx))
    taps_y, taps_x = to_device(prog.taps_y), to_device(prog.taps_x)
    rows_maps, cols_maps = to_device(prog.rows_maps, np.int32), to_device(prog.cols_maps, np.int32)
    cvals, scales = to_device(prog.cvals), to_device(prog.scales)
    keys_lo, keys_hi = keys if stats else (dummy(), dummy())
    for s0, s1 in _geometry.slice_parts(n):
        launch(kernel, plan.grid(h, w, s1 - s0), _geometry.tile_block(),
               src[s0:s1], dst[s0:s1], i32(h), i32(w), i32(len(prog.kinds)), kinds, kys, kxs,
               taps_y, taps_x, i32(prog.taps_y.shape[1]), rows_maps, cols_maps, i32(prog.row_pad),
               i32(prog.col_pad), cvals, scales, acc.type(lo), acc.type(hi), i32(plan.tile_h), i32(plan.tile_w),
               i32(plan.buf_elems), i32(plan.h_offset), i32(plan.stats_offset),
               keys_lo[s0:s1] if stats else keys_lo, keys_hi[s0:s1] if stats else keys_hi,
               shared_mem=plan.shared_bytes)
    return dst


def _chain_passes(src, dst, prog, acc, lo, hi):
    """Each stage as a row pass and a column pass over whole slices (wide stencils)."""
    xp = _runtime.get().xp
    n, h, w = src.shape
    t = src.dtype
    cur = src
    n_stages = len(prog.kinds)
    for s in range(n_stages):
        kind, ky, kx = int(prog.kinds[s]), int(prog.ky[s]), int(prog.kx[s])
        target = dst if s == n_stages - 1 else xp.empty_like(src)
        rmap = to_device(prog.rows_maps[s], np.int32)
        cmap = to_device(prog.cols_maps[s], np.int32)
        for s0, s1 in _geometry.slice_parts(n):
            grid, block = _geometry.plane_grid(h * w, s1 - s0)
            if kind == STAGE_LINEAR:
                rows_name = name_expr("stage_rows_linear", t, acc)
                cols_name = name_expr("stage_cols_linear", t, acc)
                rows, cols = kernels(STENCIL, t, rows_name, cols_name)
                tx = to_device(prog.taps_x[s, :kx])
                ty = to_device(prog.taps_y[s, :ky])
                cval = acc.type(prog.cvals[s])
                hbuf = xp.empty((s1 - s0, h, w), acc)
                launch(rows, grid, block, cur[s0:s1], hbuf, i32(h), i32(w), i32(kx), tx, cmap, i32(prog.col_pad),
                       cval)
                launch(cols, grid, block, hbuf, target[s0:s1], i32(h), i32(w), i32(ky), ty, i32(kx), tx, rmap,
                       i32(prog.row_pad), cval, acc.type(prog.scales[s]), acc.type(lo), acc.type(hi))
            else:
                rows_name = name_expr("stage_rows_extreme", t)
                cols_name = name_expr("stage_cols_extreme", t)
                rows, cols = kernels(STENCIL, t, rows_name, cols_name)
                is_max = i32(kind == STAGE_MAX)
                cval = t.type(prog.cvals[s])
                hbuf = xp.empty((s1 - s0, h, w), t)
                launch(rows, grid, block, cur[s0:s1], hbuf, i32(h), i32(w), i32(kx), is_max, cmap,
                       i32(prog.col_pad), cval)
                launch(cols, grid, block, hbuf, target[s0:s1], i32(h), i32(w), i32(ky), is_max, rmap,
                       i32(prog.row_pad), cval)
        cur = target
    return dst
