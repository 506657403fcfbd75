"""Linear filters on the GPU: Gaussian blur, unsharp mask, Laplacian sharpening
(twin of ``fastct/cpu/filters.py``).

The Gaussian is a one-stage chain of :mod:`.fused` (separable, a shared-memory
tile per block). Integer images use the exact fixed-point taps of
:mod:`fastct._shared.gaussian` (sums exact in float32 or float64), float images
float32 with the CPU's order of additions, so results match the CPU backend.
Wide Gaussians run the box cascade of :mod:`fastct._shared.box_gaussian` as
CuPy array code (prefix sums; exact integers, so the CPU's bits).

With ``taps_z`` (``axes`` including z) the batch is one volume, kept whole on
the device: a z pass (:mod:`.volume`, the CPU's arithmetic) then the 2-D
Gaussian; ``neighbours`` 6 or 26 sharpen with the 3-D Laplacian.
"""

from __future__ import annotations

import numpy as np

from .._shared import box_gaussian as box
from .._shared import volume as _vol
from .._shared.borders import border_index_map
from .._shared.fusion import STAGE_LINEAR, ChainStage
from .._shared.gaussian import TAP_BITS
from .._shared.validation import saturation_limits
from . import _geometry, _runtime, _transfer, volume
from ._kernels import name_expr
from ._launch import f32, f64, i32, i64, kernels, launch, to_device
from .fused import chain_device, chain_scratch_bytes

STENCIL = "stencil.cu"


def gaussian_blur(batch, out, *, taps_y, taps_x, mode, cval, boxes=None, taps_z=None):
    """Separable convolution with ``taps_y`` (rows) and ``taps_x`` (columns): a one-stage chain.

    With ``boxes = (widths_y, widths_x)`` the box cascade replaces the taps.
    With ``taps_z`` the batch is a volume filtered along z first.
    """
    if taps_z is not None:
        return volume.run_volume(batch, out, lambda s, d: gaussian_volume_device(s, d, taps_y, taps_x, mode, cval,
                                                                                 boxes, taps_z))
    if boxes is not None:
        return box_gaussian(batch, out, widths_y=boxes[0], widths_x=boxes[1], mode=mode, cval=cval)
    return _transfer.run(batch, out, lambda s, d: gaussian_device(s, d, taps_y, taps_x, mode, cval),
                         slice_bytes=chain_scratch_bytes(batch, ()))


#: Slices the box cascade processes at a time on the device: its 8-byte
#: temporaries (a few per pixel of the extended slice) stay bounded even for
#: a device-resident batch.
BOX_GROUP_SLICES = 16

#: Bytes of device scratch per extended pixel of the box cascade (int64 or
#: float64 copies: the extended slice, its prefix sums and the box sums).
_BOX_SCRATCH_PER_PIXEL = 40


def box_gaussian(batch, out, *, widths_y, widths_x, mode, cval):
    """Box-cascade Gaussian (see :mod:`fastct._shared.box_gaussian`)."""
    return _transfer.run(batch, out, lambda s, d: box_gaussian_device(s, d, widths_y, widths_x, mode, cval),
                         fixed_bytes=_box_scratch_bytes(batch.shape, (widths_y, widths_x)))


def _box_scratch_bytes(shape, boxes) -> int:
    """Device scratch of :func:`box_gaussian_device` on a batch of ``shape``: one group of extended slices."""
    n, h, w = shape
    ry, rx = box.radius(boxes[0]), box.radius(boxes[1])
    return min(n, BOX_GROUP_SLICES) * (h + 2 * ry) * (w + 2 * rx) * _BOX_SCRATCH_PER_PIXEL


def box_gaussian_device(src, dst, widths_y, widths_x, mode, cval):
    n, h, w = src.shape
    ry, rx = box.radius(widths_y), box.radius(widths_x)
    rows_map = border_index_map(h, ry, ry, mode)
    cols_map = border_index_map(w, rx, rx, mode)
    lo, hi = saturation_limits(dst.dtype)
    xp = _runtime.get().xp
    for s0 in range(0, n, BOX_GROUP_SLICES):
        s1 = min(n, s0 + BOX_GROUP_SLICES)
        box.box_gaussian_xp(xp, src[s0:s1], dst[s0:s1], widths_y, widths_x, rows_map, cols_map,
                            cval, lo, hi)
    return dst


def unsharp_mask(batch, out, *, taps_y, taps_x, amount, mode, cval, boxes=None, taps_z=None):
    """``x + amount * (x - gaussian(x))``; integers blur to integers first.

    The blur is the box cascade when ``boxes = (widths_y, widths_x)`` is given,
    volumetric with ``taps_z``.
    """
    if taps_z is not None:
        return volume.run_volume(batch, out, lambda s, d: unsharp_device(s, d, taps_y, taps_x, amount, mode, cval,
                                                                         boxes, taps_z))
    blurred = out[0].nbytes if batch.shape[0] else 0
    if boxes is None:
        return _transfer.run(batch, out, lambda s, d: unsharp_device(s, d, taps_y, taps_x, amount, mode, cval),
                             slice_bytes=chain_scratch_bytes(batch, ()) + blurred)
    return _transfer.run(batch, out, lambda s, d: unsharp_device(s, d, taps_y, taps_x, amount, mode, cval, boxes),
                         slice_bytes=blurred, fixed_bytes=_box_scratch_bytes(batch.shape, boxes))


def sharpen(batch, out, *, amount, neighbours, mode, cval):
    """``x + amount * (k x - sum of its k neighbours)`` with k = 4 or 8 (6 or 26: the volume's 3-D Laplacian)."""
    if neighbours in (6, 26):
        lo, hi = saturation_limits(out.dtype)
        return volume.run_volume(batch, out, lambda s, d: _vol.sharpen3d_xp(_runtime.get().xp, s, d, amount,
                                                                            neighbours, mode, cval, lo, hi))
    return _transfer.run(batch, out, lambda s, d: sharpen_device(s, d, amount, neighbours, mode, cval))


def gaussian_device(src, dst, taps_y, taps_x, mode, cval):
    stage = ChainStage(STAGE_LINEAR, len(taps_y), len(taps_x), taps_y, taps_x, mode, cval)
    return chain_device(src, dst, [stage])


def gaussian_volume_device(src, dst, taps_y, taps_x, mode, cval, boxes, taps_z):
    """The volume's Gaussian: z pass over whole slices, then the 2-D Gaussian (or box cascade) in-plane."""
    def plane(s, d):
        if boxes is None:
            return gaussian_device(s, d, taps_y, taps_x, mode, cval)
        return box_gaussian_device(s, d, boxes[0], boxes[1], mode, cval)

    lo, hi = saturation_limits(src.dtype)
    return _vol.linear_volume(src, dst, _vol.z_taps(taps_z, src.dtype), cval, lo, hi, plane=plane,
                              z_linear=volume.z_linear, empty=volume.empty, slab=max(1, src.shape[0]), mode=mode,
                              tap_bits=TAP_BITS)


def unsharp_device(src, dst, taps_y, taps_x, amount, mode, cval, boxes=None, taps_z=None):
    blurred = _runtime.get().xp.empty_like(dst)
    if taps_z is not None:
        gaussian_volume_device(src, blurred, taps_y, taps_x, mode, cval, boxes, taps_z)
    elif boxes is None:
        gaussian_device(src, blurred, taps_y, taps_x, mode, cval)
    else:
        box_gaussian_device(src, blurred, boxes[0], boxes[1], mode, cval)
    lo, hi = saturation_limits(dst.dtype)
    (kernel,) = kernels(STENCIL, src.dtype, name_expr("unsharp_combine", src.dtype))
    grid, block = _geometry.elementwise_grid(src.size)
    launch(kernel, grid, block, src, blurred, dst, i64(src.size), f32(amount), i64(lo), i64(hi))
    return dst


def sharpen_device(src, dst, amount, neighbours, mode, cval):
    n, h, w = src.shape
    rows_map = to_device(border_index_map(h, 1, 1, mode), np.int32)
    cols_map = to_device(border_index_map(w, 1, 1, mode), np.int32)
    lo, hi = saturation_limits(dst.dtype)
    (kernel,) = kernels(STENCIL, src.dtype, name_expr("sharpen", src.dtype))
    for s0, s1 in _geometry.slice_parts(n):
        grid, block = _geometry.plane_grid(h * w, s1 - s0)
        launch(kernel, grid, block, src[s0:s1], dst[s0:s1], i32(h), i32(w), rows_map, cols_map, f64(cval),
               f32(amount), i32(neighbours == 8), i64(lo), i64(hi))
    return dst
