"""Intensity rules: HU window presets and grey conversion weights."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .validation import check_real

#: Common CT display windows as (center, width) in Hounsfield units.
WINDOW_PRESETS = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft_tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}

#: ITU-R BT.601 luma weights (R, G, B), as float and as OpenCV's fixed point.
#: OpenCV converts 8- and 16-bit images with 15 fractional bits (R and G are
#: ``rint(w * 2**15)``, B the remainder, so the weights sum to exactly 2**15):
#: ``(R*9798 + G*19235 + B*3735 + 2**14) >> 15``. Its 14-bit weights
#: (4899, 9617, 1868) belong to the YUV conversions and are off by a grey level
#: for ~0.25 % of 8-bit pixels and by up to 2 levels on 16-bit data.
BT601 = (0.299, 0.587, 0.114)
BT601_FIXED = (9798, 19235, 3735)
BT601_SHIFT = 15


def resolve_window(center, width, preset):
    """(center, width) from explicit values or a preset name; width > 1."""
    if isinstance(center, str) and preset is None and width is None:
        center, preset = None, center
    if preset is not None:
        if center is not None or width is not None:
            raise InvalidArgumentError("preset: give either a preset or center/width, not both")
        if preset not in WINDOW_PRESETS:
            raise InvalidArgumentError(f"preset: expected one of {', '.join(WINDOW_PRESETS)}, got {preset!r}")
        return WINDOW_PRESETS[preset]
    if center is None or width is None:
        raise InvalidArgumentError("center/width: both are needed when no preset is given")
    return check_real(center, "center"), check_real(width, "width", low=1.0, low_open=True)


def window_terms(center: float, width: float) -> tuple[float, float]:
    """``(center - 0.5, width - 1)``: the DICOM linear VOI function as kernels evaluate it.

    Kernels compute ``y = (x - shift) / divisor + 0.5`` in float64, in exactly
    the order of the standard's formula (PS3.3 C.11.2.1.2.1), then clip to
    [0, 1] and scale (``rint(y * maxval)`` for integer outputs). A float32
    ``x * scale + offset`` lands on the wrong side of a rounding boundary for
    a few 16-bit outputs (and a fused multiply-add on the GPU would move it
    again); the float64 division is exact to ~1e-16, has nothing to fuse, and
    gives the same bits on every IEEE machine.
    """
    return center - 0.5, width - 1.0
