"""Point operations on the GPU: HU windowing and RGB(A) to grey (twin of ``fastct/cpu/intensity.py``)."""

from __future__ import annotations

import numpy as np

from .._shared.histogram import output_maxval
from .._shared.intensity import BT601, BT601_FIXED, BT601_SHIFT, window_terms
from . import _geometry, _transfer
from ._kernels import name_expr
from ._launch import f32, f64, i32, i64, kernels, launch

INTENSITY = "intensity.cu"


def window(batch, out, *, center, width):
    """DICOM linear VOI window to [0, 1] (float32) or the full uint8/uint16 scale, in float64."""
    shift, divisor = window_terms(center, width)
    maxval = output_maxval(out.dtype)

    def compute(src, dst):
        (kernel,) = kernels(INTENSITY, src.dtype, name_expr("window", src.dtype, dst.dtype))
        grid, block = _geometry.elementwise_grid(src.size)
        launch(kernel, grid, block, src, dst, i64(src.size), f64(shift), f64(divisor), f64(maxval))

    return _transfer.run(batch, out, compute)


def to_gray(batch, out, *, channel_order):
    """BT.601 luma of an ``(N, H, W, C)`` batch, C = 3 or 4 (alpha ignored)."""
    r, b = (0, 2) if channel_order == "rgb" else (2, 0)
    channels = batch.shape[-1]

    def compute(src, dst):
        pixels = dst.size
        grid, block = _geometry.elementwise_grid(pixels)
        if src.dtype.kind == "f":
            (kernel,) = kernels(INTENSITY, np.float32, "gray_float")
            wr, wg, wb = (f32(v) for v in BT601)
            launch(kernel, grid, block, src, dst, i64(pixels), i32(channels), i32(r), i32(b), wr, wg, wb)
        else:
            (kernel,) = kernels(INTENSITY, src.dtype, name_expr("gray_fixed", src.dtype))
            wr, wg, wb = (i32(v) for v in BT601_FIXED)
            launch(kernel, grid, block, src, dst, i64(pixels), i32(channels), i32(r), i32(b), wr, wg, wb,
                   i32(BT601_SHIFT))

    return _transfer.run(batch, out, compute)
