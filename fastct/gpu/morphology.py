"""Grey-scale morphology with flat footprints on the GPU (twin of ``fastct/cpu/morphology.py``).

Full rectangles are chains of running min/max stages (:mod:`.fused`: a
shared-memory tile per block, rows then columns); opening and closing of
rectangles are one fused two-stage launch. Other footprints take the min/max
over their offsets (``morph_offsets`` in kernels/stencil.cu). Min and max are
exact, so every dtype (float64 included) matches the CPU backend bit for bit.

A 3-D footprint (``axes`` including z) makes the batch one volume, kept
whole on the device: z passes (:mod:`.volume`) plus these 2-D passes.
"""

from __future__ import annotations

import numpy as np

from .._shared import volume as _vol
from .._shared.fusion import STAGE_MAX, STAGE_MIN, compose_morphology, morph_slices
from . import _geometry, _runtime, _transfer, volume
from ._kernels import name_expr
from ._launch import i32, kernels, launch, to_device
from .fused import chain_device, chain_scratch_bytes

STENCIL = "stencil.cu"


def erode(batch, out, *, footprint, mode, cval):
    """Erosion: minimum over the footprint. Writes ``out`` and returns it."""
    compute = _volume_aware(footprint, lambda s, d: morph_device(s, d, footprint, mode, cval, take_max=False))
    return _run(batch, out, compute)


def dilate(batch, out, *, footprint, mode, cval):
    """Dilation: maximum over the reflected footprint. Writes ``out`` and returns it."""
    compute = _volume_aware(footprint, lambda s, d: morph_device(s, d, footprint, mode, cval, take_max=True))
    return _run(batch, out, compute)


def opening(batch, out, *, footprint, mode, cval):
    """Opening: erosion then dilation by the same footprint."""
    return _run(batch, out, _volume_aware(footprint, lambda s, d: compose_device(s, d, footprint, mode, cval,
                                                                             (STAGE_MIN, STAGE_MAX))), extra=True)


def closing(batch, out, *, footprint, mode, cval):
    """Closing: dilation then erosion by the same footprint."""
    return _run(batch, out, _volume_aware(footprint, lambda s, d: compose_device(s, d, footprint, mode, cval,
                                                                             (STAGE_MAX, STAGE_MIN))), extra=True)


def _volume_aware(footprint, compute):
    """``compute``, marked to run on the whole volume when the footprint is 3-D."""
    compute.volume = footprint.ndim == 3
    return compute


def _run(batch, out, compute, extra=False):
    if getattr(compute, "volume", False):
        return volume.run_volume(batch, out, compute)
    scratch = chain_scratch_bytes(batch, ())
    if extra and batch.shape[0]:
        scratch += batch[0].nbytes  # the intermediate of a two-pass composition
    return _transfer.run(batch, out, compute, slice_bytes=scratch)


def compose_device(src, dst, footprint, mode, cval, kinds):
    """Two morphology stages by the same footprint (fused when it is a rectangle)."""
    if footprint.ndim == 3:
        tmp = _runtime.get().xp.empty_like(src)
        morph_device(src, tmp, footprint, mode, cval, kinds[0] == STAGE_MAX)
        return morph_device(tmp, dst, footprint, mode, cval, kinds[1] == STAGE_MAX)
    return compose_morphology(src, dst, footprint, mode, cval, kinds, chain=chain_device,
                              empty_like=_runtime.get().xp.empty_like,
                              single=lambda s, d, take_max: morph_device(s, d, footprint, mode, cval, take_max))


def morph_device(src, dst, footprint, mode, cval, take_max):
    """Erosion (``take_max=False``) or dilation of device slices (of a device volume: 3-D footprint)."""
    if footprint.ndim == 3:
        return _vol.morph_volume(src, dst, footprint, mode, cval, take_max,
                                 plane=lambda s, d, fp2, tm: morph_device(s, d, fp2, mode, cval, tm),
                                 z_extreme=volume.z_extreme, empty=volume.empty, slab=max(1, src.shape[0]))

    def by_offsets(src, dst, offsets, ry, rx, rows_map, cols_map):
        n, h, w = src.shape
        (kernel,) = kernels(STENCIL, src.dtype, name_expr("morph_offsets", src.dtype))
        off, rows_map, cols_map = (to_device(a, np.int32) for a in (offsets, rows_map, cols_map))
        for s0, s1 in _geometry.slice_parts(n):
            grid, block = _geometry.plane_grid(h * w, s1 - s0)
            launch(kernel, grid, block, src[s0:s1], dst[s0:s1], i32(h), i32(w), off, i32(len(offsets)),
                   i32(take_max), rows_map, i32(ry), cols_map, i32(rx), src.dtype.type(cval))
        return dst

    return morph_slices(src, dst, footprint, mode, cval, take_max, chain=chain_device, offsets=by_offsets)
