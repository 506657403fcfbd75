"""``cupyx`` stand-in: pinned host arrays and ``cupyx.scipy.ndimage`` (scipy's)."""

from __future__ import annotations

import numpy


def empty_pinned(shape, dtype=float, order="C"):
    return numpy.empty(shape, dtype, order)
