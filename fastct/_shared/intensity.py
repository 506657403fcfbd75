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

#: ITU-R BT.601 luma weights (R, G, B), as float and as OpenCV's 14-bit fixed point.
BT601 = (0.299, 0.587, 0.114)
BT601_FIXED = (4899, 9617, 1868)
BT601_SHIFT = 14


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


def window_coefficients(center: float, width: float) -> tuple[float, float]:
    """Scale and offset of the DICOM linear VOI function (PS3.3 C.11.2.1.2.1).

    ``y = clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)`` written as
    ``clip(x * scale + offset, 0, 1)``. ``width`` must exceed 1.
    """
    scale = 1.0 / (width - 1.0)
    offset = 0.5 - (center - 0.5) * scale
    return scale, offset
