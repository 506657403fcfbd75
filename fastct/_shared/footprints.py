"""Flat structuring elements (footprints) for morphology."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError
from .validation import as_pair, check_int, check_real

FOOTPRINT_SHAPES = ("square", "disk")
#: Widest footprint built from ``size``: wider than any CT slice. Checked
#: before the footprint is made (``erode:99999`` would allocate 10 GB).
MAX_SIDE = 4097


def disk(radius: int) -> np.ndarray:
    """A disk footprint: pixels with ``dy**2 + dx**2 <= radius**2``.

    Same definition as ``skimage.morphology.disk``.

    Parameters
    ----------
    radius : int
        Radius in pixels, ``>= 0``. The footprint is ``2*radius+1`` wide.

    Returns
    -------
    numpy.ndarray of bool, shape ``(2*radius+1, 2*radius+1)``

    Examples
    --------
    >>> disk(1).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    radius = check_int(radius, "radius", low=0)
    d = np.arange(-radius, radius + 1)
    return (d[:, None] ** 2 + d[None, :] ** 2) <= radius**2


def ellipsoid(semi_axes) -> np.ndarray:
    """Voxels with ``sum((o_i / r_i)**2) <= 1`` (``o_i = 0`` where ``r_i = 0``), in integer arithmetic.

    With equal semi-axes this is ``skimage.morphology.ball`` / ``disk``.
    """
    radii = [int(r) for r in semi_axes]
    grids = np.meshgrid(*[np.arange(-r, r + 1, dtype=np.int64) for r in radii], indexing="ij")
    nonzero = [r for r in radii if r > 0]
    scale = 1
    for r in nonzero:
        scale *= r * r
    total = np.zeros(grids[0].shape, dtype=np.int64)
    for g, r in zip(grids, radii, strict=True):
        if r > 0:
            total += g * g * (scale // (r * r))
    return np.ascontiguousarray(total <= scale)


def ball(radius, spacing=None) -> np.ndarray:
    """A ball footprint: voxels within ``radius`` of the centre.

    Same definition as ``skimage.morphology.ball`` in voxels. With
    ``spacing=(dz, dy, dx)`` the radius is in mm: each axis gets
    ``floor(radius / d)`` voxels either side and the footprint is the
    ellipsoid with those semi-axes (the voxels of a physical ball, rounded
    the way sizes in mm are; see :mod:`fastct._shared.volume`).

    Parameters
    ----------
    radius : int or float
        Voxels (an integer >= 0), or mm when ``spacing`` is given.
    spacing : (float, float, float), optional
        Voxel size (dz, dy, dx) in mm.

    Returns
    -------
    numpy.ndarray of bool, shape ``(2 rz + 1, 2 ry + 1, 2 rx + 1)``

    Examples
    --------
    >>> import fastct
    >>> fastct.ball(1).sum(), fastct.ball(2).shape
    (np.int64(7), (5, 5, 5))
    >>> fastct.ball(2.0, spacing=(2.5, 0.7, 0.7)).shape  # 2 mm: 0 slices up/down, 2 pixels in-plane
    (1, 5, 5)
    """
    if spacing is None:
        r = check_int(radius, "radius", low=0)
        return ellipsoid((r, r, r))
    radius = check_real(radius, "radius", low=0)
    from .volume import VOLUME_AXES, resolve_spacing

    sp = resolve_spacing(spacing, VOLUME_AXES)
    return ellipsoid([int(math.floor(radius / d + 1e-9)) for d in sp])


def resolve_footprint(size=3, footprint=None, shape: str = "square") -> np.ndarray:
    """Turn ``size``/``shape`` or an explicit ``footprint`` into a bool array.

    ``size`` is an odd int (square of that side, or disk of that diameter) or an
    odd ``(rows, cols)`` pair (rectangle). ``footprint`` overrides both; it must
    be a 2-D boolean-like array with odd sides and at least one True pixel.
    """
    if footprint is not None:
        fp = np.asarray(footprint)
        if fp.ndim != 2:
            raise InvalidArgumentError(f"footprint: expected a 2-D array, got shape {fp.shape}")
        if fp.dtype != np.bool_:
            if fp.dtype.kind not in "iuf" or not np.isin(fp, (0, 1)).all():
                raise InvalidArgumentError("footprint: expected a boolean array (or 0/1 values)")
            fp = fp.astype(bool)
        if fp.shape[0] % 2 == 0 or fp.shape[1] % 2 == 0:
            raise InvalidArgumentError(
                f"footprint: expected odd height and width (a centre pixel), got shape {fp.shape}"
            )
        if not fp.any():
            raise InvalidArgumentError("footprint: has no True pixel")
        return np.ascontiguousarray(fp)
    if shape not in FOOTPRINT_SHAPES:
        raise InvalidArgumentError(f"shape: expected one of {', '.join(FOOTPRINT_SHAPES)}, got {shape!r}")
    kh, kw = as_pair(size, "size")
    kh = check_int(kh, "size", low=1, high=MAX_SIDE, odd=True)
    kw = check_int(kw, "size", low=1, high=MAX_SIDE, odd=True)
    if shape == "disk":
        if kh != kw:
            raise InvalidArgumentError(f"size: a disk needs one odd diameter, got {(kh, kw)}")
        return disk(kh // 2)
    return np.ones((kh, kw), dtype=bool)


def is_rectangle(fp: np.ndarray) -> bool:
    """True when the footprint is full (separable into a row and a column pass)."""
    return bool(fp.all())


def footprint_offsets(fp: np.ndarray, reflect: bool = False) -> np.ndarray:
    """``(K, 2)`` int64 offsets (dy, dx) of the True pixels relative to the centre.

    ``reflect=True`` negates them: dilation uses the reflected footprint, so
    that opening and closing are the textbook (idempotent) operators and the
    results match scipy.ndimage and scikit-image.
    """
    cy, cx = fp.shape[0] // 2, fp.shape[1] // 2
    dy, dx = np.nonzero(fp)
    off = np.stack([dy - cy, dx - cx], axis=1).astype(np.int64)
    return np.ascontiguousarray(-off if reflect else off)
