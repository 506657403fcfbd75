"""Sample data: synthetic CT phantoms and the real CT sample pydicom ships.

The phantoms are synthetic: simple geometry with realistic Hounsfield units
and noise, made for demos, tests and benchmarks, not for clinical claims.
"""

from __future__ import annotations

import numpy as np

from ._shared.validation import check_int

__all__ = ["chest_phantom", "ct_sample"]

# Tissue values in Hounsfield units.
AIR, LUNG, FAT, SOFT_TISSUE, BLOOD, BONE = -1000, -850, -100, 40, 50, 700


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    return u * u + v * v <= 1.0


def chest_phantom(n: int = 8, size: int = 256, *, seed: int = 0, noise: float = 12.0) -> np.ndarray:
    """Synthetic axial chest CT slices in Hounsfield units.

    Each slice has air around an elliptical body (fat rim, soft tissue), two
    lungs near -850 HU with vessels, a mediastinum, a vertebra and ribs, and
    Gaussian noise; shapes and positions vary a little between slices.

    Parameters
    ----------
    n : int
        Number of slices.
    size : int
        Slice height and width in pixels (>= 16).
    seed : int
        Seed of the random variation; the same seed gives the same batch.
    noise : float
        Standard deviation of the added noise in HU.

    Returns
    -------
    numpy.ndarray of int16, shape (n, size, size)

    Examples
    --------
    >>> batch = chest_phantom(2, 64, seed=1)
    >>> batch.shape, batch.dtype, int(batch[0, 0, 0]) < -900
    ((2, 64, 64), dtype('int16'), True)
    """
    n = check_int(n, "n", low=0)
    size = check_int(size, "size", low=16)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, size, size), np.int16)
    for i in range(n):
        j = rng.uniform(-1.0, 1.0, 8) * 0.02  # small per-slice jitter
        img = np.full((size, size), AIR, np.float32)
        body = _ellipse(yy, xx, 0.52 + j[0], 0.5, 0.36 + j[1], 0.46 + j[2])
        inner = _ellipse(yy, xx, 0.52 + j[0], 0.5, 0.33 + j[1], 0.43 + j[2])
        img[body] = FAT
        img[inner] = SOFT_TISSUE
        for side in (-1, 1):
            lung = _ellipse(yy, xx, 0.47 + j[3], 0.5 + side * (0.2 + j[4]), 0.24 + j[5], 0.15, side * 0.15)
            img[lung] = LUNG
            # Vessels: small bright discs inside each lung.
            for _ in range(6):
                cy = 0.47 + rng.uniform(-0.15, 0.15)
                cx = 0.5 + side * (0.2 + rng.uniform(-0.08, 0.08))
                r = rng.uniform(0.006, 0.015)
                vessel = _ellipse(yy, xx, cy, cx, r, r) & lung
                img[vessel] = BLOOD
        heart = _ellipse(yy, xx, 0.55 + j[6], 0.47, 0.12, 0.1, 0.3)
        img[heart] = BLOOD
        spine = _ellipse(yy, xx, 0.78 + j[7], 0.5, 0.05, 0.05)
        img[spine] = BONE
        for side in (-1, 1):
            for k in range(4):
                rib = _ellipse(yy, xx, 0.3 + 0.12 * k, 0.5 + side * 0.41, 0.02, 0.012)
                img[rib & body] = BONE
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
        out[i] = np.clip(np.rint(img), -1024, 3071).astype(np.int16)
    return out


def ct_sample() -> np.ndarray:
    """The real CT slice shipped with pydicom (``CT_small.dcm``), in Hounsfield units.

    A 128x128 slice; RescaleSlope/RescaleIntercept are applied.

    Returns
    -------
    numpy.ndarray of int16, shape (128, 128)

    Examples
    --------
    >>> hu = ct_sample()
    >>> hu.shape, hu.dtype
    ((128, 128), dtype('int16'))
    """
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    slope = float(getattr(ds, "RescaleSlope", 1))
    intercept = float(getattr(ds, "RescaleIntercept", 0))
    hu = ds.pixel_array.astype(np.float64) * slope + intercept
    return np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
