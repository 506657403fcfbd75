"""Sample data: synthetic CT phantoms and the real CT sample pydicom ships.

The phantoms are synthetic: simple geometry with realistic Hounsfield units
and noise, made for demos, tests and benchmarks, not for clinical claims.
"""

from __future__ import annotations

import numpy as np

from ._shared.validation import check_int
from .errors import InvalidArgumentError

__all__ = ["chest_phantom", "ct_sample", "lung_phantoms", "load_folder", "LUNG_CLASSES"]

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


# ---------------------------------------------------------------------------
# Labelled lung phantoms for the classification stage

#: Classes of :func:`lung_phantoms`, in their default order.
LUNG_CLASSES = ("normal", "nodule", "cavity", "fibrosis")


def lung_phantoms(n_per_class: int, size: int = 256, classes=LUNG_CLASSES, *, seed: int = 0):
    """Labelled synthetic chest CT slices (int16 HU) for lung disease classification.

    The slices are **synthetic**: made by a program, not taken from patients,
    for demos, tests and benchmarks of the classification stage; they make no
    clinical claim. Each is an axial chest slice in Hounsfield units: an
    elliptical body with a subcutaneous fat layer and muscle, two lungs around
    -850 HU with a posterior (dependent) density gradient and branching vessels,
    a mediastinum with heart, aorta and air-filled trachea, a vertebra and ribs,
    a little partial-volume blur and spatially correlated noise. Body and lung
    shapes, sizes, positions, contrast and noise level vary from slice to
    slice. The classes differ the way the diseases do:

    ``normal``
        nothing added (vessel count and size vary, so a bright disc alone
        does not mean disease);
    ``nodule``
        one to three solid, lobulated soft-tissue nodules (lung cancer), some
        spiculated, radius about 6 to 13 px at 256 px;
    ``cavity``
        one or two thick-walled air cavities (tuberculosis), some with an
        air-fluid level and small satellite nodules;
    ``fibrosis``
        peripheral, posterior-predominant reticulation and honeycombing
        (pulmonary fibrosis): a network of thin dense lines with ground-glass
        or air-filled cysts in the subpleural band.

    Lesion size, count, position and contrast and the noise level all vary,
    so the task is not trivial: a linear SVM on raw pixels does not reach
    100 %.

    Parameters
    ----------
    n_per_class : int
        Slices per class (>= 0).
    size : int
        Slice height and width in pixels (>= 32); geometry scales with it.
    classes : sequence of str
        Which classes to make, any subset of :data:`LUNG_CLASSES` (no repeats).
    seed : int
        Seed; the same arguments give the same slices, whatever the order of
        ``classes``.

    Returns
    -------
    images : numpy.ndarray of int16, shape (n_per_class * len(classes), size, size)
        Hounsfield units, classes interleaved in a seeded random order.
    labels : numpy.ndarray of str
        The class name of each slice.

    Examples
    --------
    >>> images, labels = lung_phantoms(2, 64, seed=1)
    >>> images.shape, images.dtype, sorted(set(labels.tolist()))
    ((8, 64, 64), dtype('int16'), ['cavity', 'fibrosis', 'nodule', 'normal'])
    >>> int(images.min()) >= -1024 and int(images.max()) <= 3071
    True
    """
    n_per_class = check_int(n_per_class, "n_per_class", low=0)
    size = check_int(size, "size", low=32)
    if isinstance(classes, str):
        classes = (classes,)
    classes = tuple(classes)
    unknown = [c for c in classes if c not in LUNG_CLASSES]
    if unknown or not classes:
        raise InvalidArgumentError(
            f"classes: expected a non-empty subset of {LUNG_CLASSES}, got {classes!r}"
        )
    if len(set(classes)) != len(classes):
        raise InvalidArgumentError(f"classes: each class may appear once, got {classes!r}")
    total = n_per_class * len(classes)
    images = np.empty((total, size, size), np.int16)
    labels = np.empty(total, dtype=f"<U{max(len(c) for c in classes)}")
    # One independent stream per (class, index): a slice does not depend on
    # which other classes were asked for.
    base = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x4C554E47])
    order = np.random.default_rng(base.spawn(1)[0]).permutation(total)
    k = 0
    for cls in classes:
        cls_seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, LUNG_CLASSES.index(cls) + 1])
        for child in cls_seq.spawn(n_per_class):
            rng = np.random.default_rng(child)
            images[order[k]] = _lung_slice(rng, size, cls)
            labels[order[k]] = cls
            k += 1
    return images, labels


class _Canvas:
    """A float32 HU image with painting helpers working in pixel units inside bounding boxes."""

    def __init__(self, size: int, value: float):
        self.size = size
        self.img = np.full((size, size), value, np.float32)

    def region(self, cy, cx, reach):
        """Index slices and pixel-centre grids of the box of half-size ``reach`` around (cy, cx)."""
        n = self.size
        y0, y1 = max(0, int(np.floor(cy - reach))), min(n, int(np.ceil(cy + reach)) + 1)
        x0, x1 = max(0, int(np.floor(cx - reach))), min(n, int(np.ceil(cx + reach)) + 1)
        if y0 >= y1 or x0 >= x1:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return (slice(y0, y1), slice(x0, x1)), yy - cy, xx - cx

    def blob(self, cy, cx, ry, rx, angle=0.0, harmonics=None):
        """Mask (box, bool array) of a rotated ellipse whose radius wobbles with ``harmonics``."""
        wobble = 1.0 + (np.abs(harmonics[:, 0]).sum() if harmonics is not None else 0.0)
        box = self.region(cy, cx, max(ry, rx) * wobble + 1)
        if box is None:
            return None, None
        sl, dy, dx = box
        c, s = np.cos(angle), np.sin(angle)
        u = (dx * c + dy * s) / rx
        v = (-dx * s + dy * c) / ry
        rho = np.sqrt(u * u + v * v)
        limit = 1.0
        if harmonics is not None:
            theta = np.arctan2(v, u)
            limit = 1.0 + sum(a * np.cos(k * theta + ph) for k, (a, ph) in enumerate(harmonics, 2))
        return sl, rho <= limit

    def paint(self, sl, mask, value, where=None):
        if sl is None:
            return
        if where is not None:
            mask = mask & where[sl]
        self.img[sl][mask] = value

    def full_mask(self, sl, mask):
        out = np.zeros((self.size, self.size), bool)
        if sl is not None:
            out[sl] = mask
        return out


def _harmonics(rng, amplitude, count=3):
    return np.stack([rng.uniform(0, amplitude, count) / np.arange(1, count + 1), rng.uniform(0, 2 * np.pi, count)], 1)


def _lung_slice(rng, size: int, cls: str) -> np.ndarray:
    """One synthetic chest slice of class ``cls`` (float work, int16 result)."""
    from scipy import ndimage

    n = size
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    cv = _Canvas(n, AIR)
    # Body: skin/fat ellipse, muscle ring, thoracic contents.
    cy, cx = n * u(0.50, 0.54), n * u(0.48, 0.52)
    ry, rx, tilt = n * u(0.31, 0.37), n * u(0.41, 0.47), u(-0.06, 0.06)
    body_h = _harmonics(rng, 0.04)
    sl, m = cv.blob(cy, cx, ry, rx, tilt, body_h)
    cv.paint(sl, m, u(-110, -80))
    fat = n * u(0.012, 0.035)
    sl, m = cv.blob(cy, cx, ry - fat, rx - fat, tilt, body_h)
    cv.paint(sl, m, u(35, 55))  # muscle
    wall = fat + n * u(0.018, 0.03)
    sl, m = cv.blob(cy, cx, ry - wall, rx - wall, tilt, body_h)
    cv.paint(sl, m, u(-60, 20))  # mediastinal fat / soft tissue
    # Ribs just inside the muscle, on both sides (none at the front, none at the spine).
    for side in (-1, 1):
        for k in range(5):
            ang = 0.45 + 0.42 * k + u(-0.06, 0.06)  # 0 = front, pi = back
            py = cy - (ry - wall + n * 0.006) * np.cos(ang)
            px = cx + side * (rx - wall + n * 0.006) * np.sin(ang)
            r_rib = n * u(0.011, 0.016)
            sl, m = cv.blob(py, px, r_rib, r_rib * 1.5, side * ang)
            cv.paint(sl, m, u(550, 800))
            sl, m = cv.blob(py, px, r_rib * 0.55, r_rib * 0.85, side * ang)
            cv.paint(sl, m, u(150, 300))
    # Lungs.
    lungs = np.zeros((n, n), bool)
    lung_params = []
    for side in (-1, 1):
        ly, lx = cy - n * u(0.01, 0.05), cx + side * n * u(0.18, 0.22)
        lry, lrx = n * u(0.21, 0.26), n * u(0.12, 0.155)
        lang = side * u(0.08, 0.2)
        sl, m = cv.blob(ly, lx, lry, lrx, lang, _harmonics(rng, 0.08))
        lungs |= cv.full_mask(sl, m)
        lung_params.append((ly, lx, lry, lrx, side))
    # Keep the lungs inside the chest wall.
    inner = np.zeros((n, n), bool)
    sl, m = cv.blob(cy, cx, ry - wall - n * 0.012, rx - wall - n * 0.012, tilt, body_h)
    inner[sl] = m
    lungs &= inner
    # Mediastinum carves the medial lungs: heart, aorta, spine.
    hy, hx = cy + n * u(0.02, 0.06), cx - n * u(0.0, 0.04)
    heart = cv.full_mask(*cv.blob(hy, hx, n * u(0.1, 0.13), n * u(0.085, 0.11), u(0.2, 0.5)))
    lungs &= ~heart
    base = u(-880, -830)
    gradient = u(0, 70)  # dependent (posterior) density
    yy = np.arange(n, dtype=np.float32)[:, None]
    lung_hu = base + gradient * np.clip((yy - (cy - ry * 0.6)) / (ry * 1.4), 0, 1)
    cv.img = np.where(lungs, np.broadcast_to(lung_hu, (n, n)), cv.img).astype(np.float32)
    cv.img[heart] = u(30, 50)
    ay, ax = cy - n * u(0.08, 0.12), cx + n * u(0.02, 0.05)
    r_ao = n * u(0.025, 0.035)
    cv.paint(*cv.blob(ay, ax, r_ao, r_ao), u(40, 180))  # aorta (with or without contrast)
    sy, sx = cy + ry * u(0.68, 0.76), cx
    cv.paint(*cv.blob(sy, sx + n * 0.035, r_ao * 0.9, r_ao * 0.9), u(40, 60), where=~lungs)  # descending aorta
    ty, tx = cy - ry * u(0.45, 0.6), cx + n * u(-0.01, 0.01)
    r_tr = n * u(0.014, 0.022)
    cv.paint(*cv.blob(ty, tx, r_tr, r_tr * 1.1), -1000.0)  # trachea
    r_sp = n * u(0.04, 0.05)
    cv.paint(*cv.blob(sy, sx, r_sp, r_sp * 1.1), u(600, 800))  # vertebral body cortex
    cv.paint(*cv.blob(sy, sx, r_sp * 0.8, r_sp * 0.9), u(180, 320))
    cv.paint(*cv.blob(sy + r_sp * 1.5, sx, r_sp * 0.7, r_sp * 0.3), u(500, 750))  # spinous process
    lungs &= cv.img < -500  # what is still lung after the mediastinum
    lung_pts = np.argwhere(lungs)
    if len(lung_pts) == 0:  # pragma: no cover - geometry keeps lungs
        lung_pts = np.array([[n // 2, n // 2]])
    # Vessels: round (through-plane) and elongated (in-plane), denser near the hila.
    for ly, lx, lry, lrx, side in lung_params:
        hilum = (ly, lx - side * lrx * 0.6)
        for _ in range(int(rng.integers(10, 25))):
            t = u(0.1, 1.0) ** 0.8
            a = u(0, 2 * np.pi)
            vy = hilum[0] + t * lry * np.sin(a) * 0.95
            vx = hilum[1] + side * t * lrx * abs(np.cos(a)) * 1.4
            r = max(n * u(0.004, 0.012) * (1.2 - 0.5 * t), 0.6)
            if rng.random() < 0.25:
                cv.paint(*cv.blob(vy, vx, r * 0.8, r * u(2.5, 5), u(0, np.pi)), u(20, 60), where=lungs)
            else:
                cv.paint(*cv.blob(vy, vx, r, r), u(20, 60), where=lungs)
    dist = ndimage.distance_transform_edt(lungs)

    def lung_point(min_depth):
        ok = lung_pts[dist[lungs] >= min_depth] if min_depth > 0 else lung_pts
        if len(ok) == 0:
            ok = lung_pts
        return ok[rng.integers(len(ok))].astype(np.float32)

    scale = n / 256.0
    if cls == "nodule":
        for _ in range(int(rng.choice([1, 1, 1, 2, 2, 3]))):
            r = max(n * u(0.022, 0.05), 2.0)
            py, px = lung_point(1.25 * r + 1 if rng.random() < 0.85 else 0.5 * r)  # some touch the pleura
            sl, m = cv.blob(py, px, r, r * u(0.8, 1.2), u(0, np.pi), _harmonics(rng, u(0.05, 0.25)))
            cv.paint(sl, m, u(-60, 60))
            if rng.random() < 0.4:  # spicules
                for _ in range(int(rng.integers(3, 9))):
                    a = u(0, 2 * np.pi)
                    length = r * u(0.8, 1.6)
                    cv.paint(*cv.blob(py + np.sin(a) * (r + length / 2) * 0.9, px + np.cos(a) * (r + length / 2) * 0.9,
                                      max(0.6, 0.6 * scale), length / 2, -a), u(-150, 0), where=lungs)
    elif cls == "cavity":
        for _ in range(int(rng.choice([1, 1, 1, 1, 2]))):
            r = max(n * u(0.035, 0.07), 5.0)
            py, px = lung_point(1.35 * r + 2)
            sl, m = cv.blob(py, px, r, r * u(0.8, 1.2), u(0, np.pi), _harmonics(rng, 0.15))
            cv.paint(sl, m, u(-30, 60))  # thick wall
            r_in = r * u(0.5, 0.75)
            sl, m = cv.blob(py + u(-0.1, 0.1) * r, px + u(-0.1, 0.1) * r, r_in, r_in * u(0.8, 1.2), u(0, np.pi),
                            _harmonics(rng, 0.2))
            cv.paint(sl, m, -1000.0)
            if rng.random() < 0.25:  # air-fluid level
                level = py + r_in * u(0.2, 0.6)
                rows = np.arange(n)[:, None] >= level
                fluid = cv.full_mask(sl, m) & rows
                cv.img[fluid] = u(0, 25)
            for _ in range(int(rng.integers(0, 4))):  # satellite nodules
                a, d = u(0, 2 * np.pi), r * u(1.3, 2.5)
                rs = max(n * u(0.006, 0.012), 1.0)
                cv.paint(*cv.blob(py + np.sin(a) * d, px + np.cos(a) * d, rs, rs), u(-40, 50), where=lungs)
    elif cls == "fibrosis":
        _paint_fibrosis(cv, rng, lungs, dist, cy, ry, scale)
    # Partial volume, then spatially correlated noise.
    img = ndimage.gaussian_filter(cv.img, u(0.5, 0.8) * max(scale, 0.5), mode="nearest")
    sigma = u(8, 26)
    white = rng.standard_normal((n, n)).astype(np.float32)
    corr = ndimage.gaussian_filter(white, 0.8, mode="wrap")
    corr *= 1.0 / max(float(corr.std()), 1e-6)
    img += sigma * (0.85 * corr + 0.45 * rng.standard_normal((n, n)).astype(np.float32))
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)


def _paint_fibrosis(cv, rng, lungs, dist, cy, ry, scale):
    """Subpleural, posterior-predominant reticulation with honeycomb cysts."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    n = cv.size
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    band = n * u(0.035, 0.075)
    yy = np.arange(n, dtype=np.float32)[:, None]
    posterior = np.clip((yy - (cy - ry)) / (2 * ry), 0, 1)  # 0 front .. 1 back
    # Patchy extent: a smooth random field, favouring the posterior band.
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), n * 0.05, mode="wrap")
    field = (field - field.mean()) / max(float(field.std()), 1e-6)
    extent = u(0.35, 1.0)
    threshold = np.quantile(field, 1.0 - extent)
    region = lungs & (dist <= band * (0.6 + 0.8 * posterior)) & (field + 1.2 * posterior >= threshold + 0.3)
    if region.sum() < 20:  # make sure the disease is there
        region = lungs & (dist <= band)
    pts = np.argwhere(region)
    if len(pts) == 0:  # pragma: no cover - only for lungs too small to hold a band
        return
    spacing = max(n * u(0.014, 0.026), 3.0)
    n_seeds = max(8, int(len(pts) / (spacing * spacing)))
    seeds = pts[rng.choice(len(pts), size=min(n_seeds, len(pts)), replace=False)].astype(np.float32)
    seeds += rng.uniform(-0.5, 0.5, seeds.shape).astype(np.float32)
    d, idx = cKDTree(seeds).query(pts.astype(np.float32), k=2)
    width = u(0.7, 1.4) * max(scale, 0.6)
    walls = (d[:, 1] - d[:, 0]) < width
    severity = u(0.0, 1.0)
    # Cell interiors: ground glass, or air cysts (honeycombing) close to the pleura.
    cell_kind = rng.random(len(seeds)) < severity * 0.7
    interior_hu = np.where(cell_kind, u(-1000, -930), u(-760, -560))[idx[:, 0]]
    near_pleura = dist[region] <= band * 0.7
    values = np.where(walls, rng.uniform(-350, -50, len(pts)), np.where(near_pleura | ~cell_kind[idx[:, 0]],
                                                                          interior_hu, u(-800, -650)))
    # Milder disease keeps more normal parenchyma between the lines.
    keep = walls | (rng.random(len(pts)) < 0.4 + 0.6 * severity) | cell_kind[idx[:, 0]]
    cv.img[pts[keep, 0], pts[keep, 1]] = values[keep].astype(np.float32)


# ---------------------------------------------------------------------------
# Labelled folders of real scans


def _read_slices(path) -> np.ndarray:
    """The ``(k, H, W)`` slices of one file.

    Goes through :func:`fastct.io.read` (every format fastct reads, chosen by
    content). Without it (a build of fastct that lacks the I/O module), reads
    DICOM with pydicom (rescale applied: Hounsfield units for CT) and ``.npy``
    with NumPy.
    """
    from pathlib import Path

    from . import io as _io

    read = getattr(_io, "read", None)
    if read is not None:
        batch, _meta = read(path)
        return np.asarray(batch)
    path = Path(path)
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False)
    else:
        import pydicom

        ds = pydicom.dcmread(path)
        a = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1) or 1) + float(
            getattr(ds, "RescaleIntercept", 0) or 0
        )
        a = a.astype(np.int16) if np.array_equal(a, np.rint(a)) and np.abs(a).max() < 32768 else a.astype(np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"expected a 2-D slice or a 3-D stack, got shape {a.shape}")
    return a


def _image_name(path) -> bool:
    from . import io as _io

    like = getattr(_io, "image_like_name", None)
    if like is not None:
        return bool(like(path))
    return path.suffix.lower() in (".dcm", ".dicom", ".npy", "")


def _resample(slices: np.ndarray, size: int) -> np.ndarray:
    """Linear resampling of each slice to ``size`` x ``size`` (integers rounded, dtype kept)."""
    from scipy import ndimage

    n, h, w = slices.shape
    if (h, w) == (size, size):
        return slices
    out = np.empty((n, size, size), slices.dtype)
    for i in range(n):
        z = ndimage.zoom(slices[i].astype(np.float32), (size / h, size / w), order=1, mode="nearest", grid_mode=True)
        out[i] = np.rint(z) if slices.dtype.kind in "iu" else z
    return out


def load_folder(path, *, size: int | None = None, return_skipped: bool = False):
    """Slices and labels from a folder with one sub-folder per class.

    ::

        scans/
          normal/    a.dcm  b.dcm  ...
          nodule/    c.dcm  series1/d.dcm ...
          fibrosis/  e.npy  ...

    Every file fastct reads (DICOM with or without extension, NIfTI, NPY,
    PNG/TIFF... see :func:`fastct.io.read`) anywhere under a class folder is
    read; a file with several slices (a volume, a multi-frame DICOM, an
    ``(N, H, W)`` array) gives several labelled slices. Files that cannot be
    read are skipped and reported (a warning, or the list with
    ``return_skipped``), never fatal; hidden files are ignored.

    Parameters
    ----------
    path : str or Path
        The folder.
    size : int, optional
        Resample every slice to ``size`` x ``size`` (linear). Needed when the
        slices differ in shape.
    return_skipped : bool
        Also return ``[(file, reason), ...]`` instead of warning about them.

    Returns
    -------
    images : ndarray, shape (N, H, W)
        As read (Hounsfield units for CT), one common dtype.
    labels : ndarray of str, shape (N,)
        The class folder of each slice.
    skipped : list of (str, str)
        Only with ``return_skipped``.

    Raises
    ------
    InvalidArgumentError
        ``path`` is not a folder, has no class sub-folder or no readable
        slice, or the slices differ in shape and ``size`` is not given.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("normal", "nodule"):
    ...     (root / name).mkdir()
    ...     np.save(root / name / "a.npy", np.zeros((2, 32, 32), np.int16))
    >>> _ = (root / "nodule" / "broken.dcm").write_bytes(b"not dicom")
    >>> images, labels, skipped = load_folder(root, return_skipped=True)
    >>> images.shape, labels.tolist(), [pathlib.Path(f).name for f, _ in skipped]
    ((4, 32, 32), ['nodule', 'nodule', 'normal', 'normal'], ['broken.dcm'])
    """
    import warnings
    from pathlib import Path

    root = Path(path)
    if not root.is_dir():
        raise InvalidArgumentError(f"path: {str(root)!r} is not a folder (expected one sub-folder per class)")
    if size is not None:
        size = check_int(size, "size", low=8)
    skipped = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for p in sorted(root.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            skipped.append((str(p), "not inside a class sub-folder"))
    if not class_dirs:
        raise InvalidArgumentError(
            f"path: {str(root)!r} has no class sub-folders; expected one sub-folder per class (normal/, nodule/ ...)"
        )
    slices, labels = [], []
    for cdir in class_dirs:
        files = sorted(f for f in cdir.rglob("*") if f.is_file()
                       and not any(part.startswith(".") for part in f.relative_to(cdir).parts))
        for f in files:
            if not _image_name(f):
                skipped.append((str(f), "not an image file name"))
                continue
            try:
                a = _read_slices(f)
            except Exception as exc:  # noqa: BLE001 - a bad file is reported, not fatal
                skipped.append((str(f), f"{type(exc).__name__}: {exc}"))
                continue
            if a.shape[0] == 0 or a.dtype.kind not in "iuf":
                skipped.append((str(f), f"no greyscale slice (shape {a.shape}, dtype {a.dtype})"))
                continue
            if size is not None:
                a = _resample(a, size)
            slices.append(a)
            labels += [cdir.name] * a.shape[0]
    if not slices:
        detail = f"; skipped {len(skipped)} file(s), first: {skipped[0][0]} ({skipped[0][1]})" if skipped else ""
        raise InvalidArgumentError(f"path: no readable slice under {str(root)!r}{detail}")
    shapes = sorted({a.shape[1:] for a in slices})
    if len(shapes) > 1:
        raise InvalidArgumentError(
            f"path: slices differ in shape ({', '.join(f'{h}x{w}' for h, w in shapes[:5])}"
            f"{' ...' if len(shapes) > 5 else ''}); pass size= (--size on the command line) to resample them"
        )
    images = np.concatenate([a.astype(np.result_type(*[s.dtype for s in slices]), copy=False) for a in slices])
    labels = np.array(labels)
    if return_skipped:
        return images, labels, skipped
    if skipped:
        listed = "; ".join(f"{f} ({why})" for f, why in skipped[:5])
        warnings.warn(f"load_folder: skipped {len(skipped)} file(s): {listed}{' ...' if len(skipped) > 5 else ''}",
                      stacklevel=2)
    return images, labels
