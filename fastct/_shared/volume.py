"""Volumes: axes, voxel spacing, 3-D footprints and the z passes, backend-neutral.

An operation reads an ``(N, H, W)`` batch as N independent slices unless its
``axes`` include axis 0: then the batch is one volume ``(z, y, x)``. Axes here
are always *batch* axes (0 = z, 1 = y, 2 = x; -1 = x, -2 = y, -3 = z); the
public functions translate the axes of a single ``(H, W)`` slice first.

Every volumetric stencil is an in-plane pass (the 2-D kernels, unchanged)
plus a pass along z over whole slices:

- a box (rectangular) footprint is separable: a running min/max over ``kz``
  slices, then the 2-D rectangle in-plane;
- any other 3-D footprint (a ball) is split into its z planes: the output
  slice ``z`` is the min/max over the planes ``k`` of the 2-D erosion of slice
  ``z + k - rz`` by plane ``k`` (reflected for dilation). A plane is split
  further into centred rectangles where their union is the plane (a disk of
  radius 2 is a 1x5, a 3x3 and a 5x1 rectangle): equal parts of different
  planes share one fast separable 2-D pass, and a one-pixel part needs none;
- a Gaussian is separable: a linear pass over ``kz`` slices, then the 2-D
  Gaussian in-plane.

The z passes are expressed as *index tables*: ``table[i, k]`` is the source
slice of term ``k`` of output slice ``i`` (``-1``: a slice of ``cval``), built
from :func:`~fastct._shared.borders.border_index_map`, so the border modes
along z are those of the 2-D kernels (scipy.ndimage's). The CPU runs the
tables with numba kernels, the GPU with the array code of this module.

Spacing: ``spacing=(dz, dy, dx)`` in mm (one value per axis of ``axes``)
makes sizes, radii and sigmas millimetres. A sigma becomes ``sigma / d``
pixels. A size ``s`` becomes the odd voxel count nearest to ``s / d``,
``2 * floor(s / (2 d)) + 1`` (at least 1): the footprint spans ``s`` mm as
closely as an odd count can. A disk or ball of diameter ``s`` mm is the
ellipsoid inscribed in that box (its semi-axes ``floor(s / (2 d))`` voxels).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from ..errors import InvalidArgumentError
from .borders import border_index_map
from .footprints import ball, ellipsoid  # noqa: F401 - the 3-D footprints live with the 2-D ones
from .validation import check_int, check_real

#: The axes of a volume (z, y, x), and the default axes of every op (each slice).
VOLUME_AXES = (0, 1, 2)
PLANE_AXES = (1, 2)

#: Slices of a volume processed at a time by the CPU z passes: the slab buffer
#: stays small (a few MiB for 512 x 512 slices) while the Python overhead per
#: slab is negligible. Patchable in tests to make small volumes cross slabs.
SLAB_SLICES = 16
#: Bytes of the slab buffer of a linear (Gaussian) z pass on the CPU: the
#: in-plane pass reads it while it is still in a core's L2 cache (128 x 512 x
#: 512 float32, 2 threads: 114 ms with 16-slice slabs, 79 ms with 2 MiB ones).
LINEAR_SLAB_BYTES = 2 << 20


def linear_slab(shape, itemsize: int) -> int:
    """Slices per slab of a linear z pass: :data:`LINEAR_SLAB_BYTES` worth, at most :data:`SLAB_SLICES`."""
    slice_bytes = max(1, int(shape[1]) * int(shape[2]) * int(itemsize))
    return max(1, min(SLAB_SLICES, LINEAR_SLAB_BYTES // slice_bytes))


# ---------------------------------------------------------------------------
# axes and spacing


def resolve_axes(axes, ndim: int = 3, name: str = "axes"):
    """Validate ``axes`` of an array of ``ndim`` dims; return them as batch axes, or None.

    None (the default) means the last two axes: each slice on its own. The
    result keeps the caller's order (per-axis values follow it) and is given
    in batch axes: for a 2-D image, its axes 0 and 1 are the batch's 1 and 2.

    Examples
    --------
    >>> resolve_axes((0, 1, 2)), resolve_axes((-2, -1)), resolve_axes((0, 1), ndim=2)
    ((0, 1, 2), (1, 2), (1, 2))
    """
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = (axes,)
    if isinstance(axes, (str, bytes)) or not isinstance(axes, (Sequence, np.ndarray)):
        raise InvalidArgumentError(f"{name}: expected a tuple of axis numbers such as (0, 1, 2), got {axes!r}")
    items = list(axes)
    if not items:
        raise InvalidArgumentError(f"{name}: expected at least one axis, got {axes!r}")
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise InvalidArgumentError(f"{name}: expected integer axes, got {axes!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise InvalidArgumentError(f"{name}: axis {a} is out of range for a {ndim}-D image (axes {axes!r})")
        out.append(a % ndim + (3 - ndim))
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"{name}: repeated axis in {axes!r}")
    return tuple(out)


def per_axis(value, n: int, name: str) -> list:
    """A scalar repeated ``n`` times, or a sequence of exactly ``n`` values."""
    if isinstance(value, (str, bytes)):
        raise InvalidArgumentError(f"{name}: expected a number or {n} numbers, got {value!r}")
    if isinstance(value, (Sequence, np.ndarray)):
        items = list(value)
        if len(items) != n:
            raise InvalidArgumentError(f"{name}: expected a number or {n} numbers (one per axis), got {value!r}")
        return items
    return [value] * n


def resolve_spacing(spacing, axes, name: str = "spacing"):
    """Voxel spacing per axis of ``axes`` (mm), or None.

    ``spacing`` has one value per axis of ``axes``; a full ``(dz, dy, dx)``
    is also accepted with in-plane axes (the entries of those axes are used).
    """
    if spacing is None:
        return None
    if isinstance(spacing, (str, bytes)) or not isinstance(spacing, (Sequence, np.ndarray)):
        raise InvalidArgumentError(f"{name}: expected one positive number per axis (mm), got {spacing!r}")
    items = list(spacing)
    if len(items) == 3 and len(axes) != 3:
        items = [items[a] for a in axes]
    elif len(items) != len(axes):
        raise InvalidArgumentError(
            f"{name}: expected {len(axes)} values (one per axis of {tuple(axes)}) or 3 (dz, dy, dx), got {spacing!r}"
        )
    return tuple(check_real(v, name, low=0, low_open=True) for v in items)


def mm_to_odd(size_mm: float, spacing: float) -> int:
    """The odd voxel count nearest to ``size_mm / spacing``: ``2 * floor(size / (2 spacing)) + 1``.

    Examples
    --------
    >>> mm_to_odd(3.0, 0.7), mm_to_odd(3.0, 2.5), mm_to_odd(0.5, 1.0)
    (5, 1, 1)
    """
    return 2 * int(math.floor(size_mm / (2.0 * spacing) + 1e-9)) + 1


# ---------------------------------------------------------------------------
# footprints


def footprint_to_volume(fp: np.ndarray, axes) -> np.ndarray:
    """A footprint whose dims follow ``axes`` as a 3-D ``(z, y, x)`` footprint (size 1 on other axes)."""
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    fp = np.transpose(fp, order)
    shape = [1, 1, 1]
    for a, n in zip(sorted(axes), fp.shape, strict=True):
        shape[a] = n
    return np.ascontiguousarray(fp.reshape(shape))


def z_planes(fp3: np.ndarray, take_max: bool):
    """Groups ``(plane, ks)``: the distinct non-empty z planes of a 3-D footprint and where they sit.

    For dilation the footprint is reflected along z (the 2-D pass reflects
    each plane itself), so term ``k`` reads slice ``z + k - rz`` in both cases.
    """
    planes = fp3[::-1] if take_max else fp3
    groups: list = []
    for k in range(planes.shape[0]):
        p = planes[k]
        if not p.any():
            continue
        for g in groups:
            if g[0].shape == p.shape and np.array_equal(g[0], p):
                g[1].append(k)
                break
        else:
            groups.append((np.ascontiguousarray(p), [k]))
    return groups


def centred_rectangles(fp2: np.ndarray):
    """Centred rectangles whose union is ``fp2`` (a disk is a few of them), or None.

    Erosion by a union is the minimum of the erosions by its parts, and a
    rectangle is the fast separable case of the 2-D kernels: a disk of radius
    2 is a 1x5, a 3x3 and a 5x1 rectangle. Only the maximal rectangles are
    kept (for each half-height, the widest that fits).
    """
    fp2 = crop_footprint(fp2)
    cy, cx = fp2.shape[0] // 2, fp2.shape[1] // 2
    widths = []
    for a in range(cy + 1):
        b = -1
        while b + 1 <= cx and fp2[cy - a : cy + a + 1, cx - b - 1 : cx + b + 2].all():
            b += 1
        widths.append(b)
    rects = []
    for a, b in enumerate(widths):
        if b >= 0 and (a + 1 >= len(widths) or widths[a + 1] < b):
            rects.append((a, b))
    union = np.zeros_like(fp2)
    for a, b in rects:
        union[cy - a : cy + a + 1, cx - b : cx + b + 1] = True
    if not np.array_equal(union, fp2):
        return None
    return [np.ones((2 * a + 1, 2 * b + 1), dtype=bool) for a, b in rects]


def plane_parts(groups):
    """``(plane, ks)`` groups with every plane split into centred rectangles where it can be, equal parts merged."""
    parts: list = []
    for plane, ks in groups:
        pieces = centred_rectangles(plane) or [crop_footprint(plane)]
        for piece in pieces:
            for g in parts:
                if g[0].shape == piece.shape and np.array_equal(g[0], piece):
                    g[1].extend(k for k in ks if k not in g[1])
                    break
            else:
                parts.append((piece, list(ks)))
    return parts


def is_single_pixel(fp2: np.ndarray) -> bool:
    """True for a footprint whose only True pixel is its centre (the 2-D pass is a copy)."""
    cy, cx = fp2.shape[0] // 2, fp2.shape[1] // 2
    return bool(fp2[cy, cx]) and int(fp2.sum()) == 1


def crop_footprint(fp2: np.ndarray) -> np.ndarray:
    """The smallest centred footprint with the same True pixels (a ball's outer planes are small disks)."""
    cy, cx = fp2.shape[0] // 2, fp2.shape[1] // 2
    ys, xs = np.nonzero(fp2)
    ry = int(max(abs(ys - cy).max(), 0))
    rx = int(max(abs(xs - cx).max(), 0))
    return np.ascontiguousarray(fp2[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1])


# ---------------------------------------------------------------------------
# z index tables


def z_table(n: int, z0: int, z1: int, kz: int, mode: str, ks=None) -> np.ndarray:
    """``table[i, j]``: source slice of term ``ks[j]`` of output slice ``z0 + i`` (``-1``: cval).

    Term ``k`` of output slice ``z`` reads slice ``z + k - kz // 2``.
    """
    rz = kz // 2
    zmap = border_index_map(n, rz, rz, mode)
    ks = np.arange(kz) if ks is None else np.asarray(ks, dtype=np.int64)
    rows = np.arange(z0, z1, dtype=np.int64)[:, None] + ks[None, :]
    return np.ascontiguousarray(zmap[rows])


def slab_sources(n: int, z0: int, z1: int, rz: int, mode: str) -> np.ndarray:
    """Source slice (or -1) of every slice ``z0 - rz .. z1 + rz - 1`` of a slab with its z halo."""
    zmap = border_index_map(n, rz, rz, mode)
    return np.ascontiguousarray(zmap[z0 : z1 + 2 * rz])


def is_run(index: np.ndarray) -> bool:
    """True when ``index`` is consecutive source slices (a slab is then a view, no copy)."""
    return bool(index.size) and index[0] >= 0 and bool(np.all(np.diff(index) == 1))


def gather_slices(src, index, cval, empty):
    """``src[index]`` with ``-1`` entries a slice of ``cval``: a view for a run, else a copy."""
    if is_run(index):
        return src[int(index[0]) : int(index[-1]) + 1]
    out = empty((len(index),) + tuple(src.shape[1:]), src.dtype)
    for i, s in enumerate(index.tolist()):
        if s < 0:
            out[i] = cval
        else:
            out[i] = src[s]
    return out


# ---------------------------------------------------------------------------
# the z passes as array code (the GPU twin's; the CPU's numba kernels give the same values)


def z_extreme_xp(xp, src, dst, table, cval, take_max: bool, accumulate: bool = False):
    """``dst[i] = min/max over j of src[table[i, j]]`` (``-1``: cval); with ``accumulate`` also of ``dst[i]``."""
    op = xp.maximum if take_max else xp.minimum
    table = np.asarray(table)
    for j in range(table.shape[1]):
        col = table[:, j]
        first = j == 0 and not accumulate
        for a, b, s in _runs(col):
            part = dst[a:b]
            if s < 0:
                if first:
                    part[...] = cval
                else:
                    op(part, src.dtype.type(cval), out=part)
            elif first:
                part[...] = src[s : s + (b - a)]
            else:
                op(part, src[s : s + (b - a)], out=part)
    return dst


def z_linear_xp(xp, src, dst, table, taps, cval, lo, hi, tap_bits: int):
    """``dst[i] = sum over j of taps[j] * src[table[i, j]]`` (``-1``: cval).

    Integers: ``taps`` are fixed-point integers (``tap_bits`` fractional
    bits), the sum is exact in int64 and rounded half up, then saturated to
    ``[lo, hi]``. Floats: float32 taps, float32 sums in the order of ``j``.
    """
    table = np.asarray(table)
    n = table.shape[0]
    integer = np.dtype(dst.dtype).kind in "iu"
    acc_type = np.int64 if integer else np.float32
    acc = xp.zeros((n,) + tuple(src.shape[1:]), acc_type)
    tmp = xp.empty_like(acc)
    for j in range(table.shape[1]):
        t = acc_type(int(taps[j]) if integer else taps[j])
        for a, b, s in _runs(table[:, j]):
            part = tmp[a:b]
            if s < 0:
                part[...] = acc_type(cval)
            else:
                part[...] = src[s : s + (b - a)]
            xp.multiply(part, t, out=part)
            xp.add(acc[a:b], part, out=acc[a:b])
    if integer:
        half = np.int64(1 << (tap_bits - 1))
        xp.add(acc, half, out=acc)
        xp.right_shift(acc, np.int64(tap_bits), out=acc)
        xp.clip(acc, lo, hi, out=acc)
    dst[...] = acc.astype(dst.dtype)
    return dst


def _runs(col: np.ndarray):
    """Split a column of a z table into ``(out_start, out_stop, src_start)`` runs (``src_start = -1``: cval)."""
    runs = []
    i, n = 0, len(col)
    while i < n:
        s = int(col[i])
        j = i + 1
        if s < 0:
            while j < n and col[j] < 0:
                j += 1
        else:
            while j < n and col[j] == s + (j - i):
                j += 1
        runs.append((i, j, s))
        i = j
    return runs


# ---------------------------------------------------------------------------
# the volumetric drivers, written once over a backend's primitives


def morph_volume(src, dst, fp3, mode, cval, take_max, *, plane, z_extreme, empty, slab, out_range=None):
    """3-D erosion/dilation of a whole volume by the 3-D footprint ``fp3``.

    ``plane(src, dst, fp2, take_max)`` is the backend's 2-D pass over slices,
    ``z_extreme(src, dst, table, cval, take_max, accumulate)`` its z pass,
    ``empty(shape, dtype)`` its allocator; ``slab`` output slices at a time.
    ``out_range=(a, b)`` computes only output slices ``a:b`` of the volume,
    into ``dst`` of ``b - a`` slices.
    """
    n = src.shape[0]
    a, b = (0, n) if out_range is None else out_range
    kz = fp3.shape[0]
    rz = kz // 2
    if bool(fp3.all()):  # a box: z running min/max into a slab buffer, then the rectangle in-plane
        fp2 = fp3[0]
        flat = fp2.size == 1
        buf = None if flat else empty((min(slab, b - a),) + tuple(src.shape[1:]), src.dtype)
        for z0 in range(a, b, slab):
            z1 = min(b, z0 + slab)
            table = z_table(n, z0, z1, kz, mode)
            target = dst[z0 - a : z1 - a]
            if flat:
                z_extreme(src, target, table, cval, take_max, False)
            else:
                part = buf[: z1 - z0]
                z_extreme(src, part, table, cval, take_max, False)
                plane(part, target, fp2, take_max)
        return dst
    groups = plane_parts(z_planes(fp3, take_max))
    span = min(slab, b - a) + 2 * rz
    tmp = empty((span,) + tuple(src.shape[1:]), src.dtype)
    for z0 in range(a, b, slab):
        z1 = min(b, z0 + slab)
        m = z1 - z0
        target = dst[z0 - a : z1 - a]
        sources = slab_sources(n, z0, z1, rz, mode)
        first = True
        for fp2, ks in groups:
            lo_k, hi_k = min(ks), max(ks)
            index = sources[lo_k : hi_k + m]
            if is_single_pixel(fp2):
                # the plane is the slice itself: combine straight from the source
                table = np.stack([sources[k : k + m] for k in ks], axis=1)
                z_extreme(src, target, table, cval, take_max, not first)
            else:
                part = gather_slices(src, index, cval, empty)
                e = tmp[: len(index)]
                plane(part, e, fp2, take_max)
                table = np.stack([np.arange(k - lo_k, k - lo_k + m) for k in ks], axis=1)
                z_extreme(e, target, table, cval, take_max, not first)
            first = False
    return dst


def compose_volume(src, dst, fp3, mode, cval, maxes, *, morph, empty, slab):
    """Opening (``maxes = (False, True)``) or closing of a volume, a slab at a time.

    ``morph(src, dst, take_max, out_range)`` is :func:`morph_volume` on the
    backend. For each output slab the first pass is computed on the slab and
    its z halo (the intermediate slices the second pass reads, border modes
    applied to the intermediate volume as a two-pass run would), so the
    intermediate is never a whole volume.
    """
    n = src.shape[0]
    rz = fp3.shape[0] // 2
    zmap = border_index_map(n, rz, rz, mode)
    tmp = empty((min(slab, n) + 2 * rz,) + tuple(src.shape[1:]), src.dtype)
    for z0 in range(0, n, slab):
        z1 = min(n, z0 + slab)
        m = z1 - z0 + 2 * rz
        inter = tmp[:m]
        lo, hi = max(0, z0 - rz), min(n, z1 + rz)  # the in-volume run of the halo'd slab
        run = inter[lo - (z0 - rz) : hi - (z0 - rz)]
        morph(src, run, maxes[0], (lo, hi))
        for j, s in enumerate(zmap[z0 : z0 + m].tolist()):
            if lo - (z0 - rz) <= j < hi - (z0 - rz):
                continue
            if s < 0:
                inter[j] = cval
            elif lo <= s < hi:
                inter[j] = inter[s - (z0 - rz)]
            else:  # far away (mode wrap): its own first pass
                morph(src, inter[j : j + 1], maxes[0], (s, s + 1))
        # the second pass reads only inside `inter`: its output slices rz .. m - rz have their whole halo
        morph(inter, dst[z0:z1], maxes[1], (rz, m - rz))
    return dst


def linear_volume(src, dst, taps_z, cval, lo, hi, *, plane, z_linear, empty, slab, mode, tap_bits, out_range=None):
    """3-D separable linear filter: the z taps over slices into a slab buffer, then ``plane`` in-plane.

    Integers are rounded to the image dtype after the z pass (exact
    fixed-point sums, rounded half up), then filtered in-plane exactly.
    ``out_range=(a, b)`` computes only output slices ``a:b`` into ``dst`` of ``b - a`` slices.
    """
    n = src.shape[0]
    a, b = (0, n) if out_range is None else out_range
    kz = len(taps_z)
    buf = empty((min(slab, b - a),) + tuple(src.shape[1:]), src.dtype)
    for z0 in range(a, b, slab):
        z1 = min(b, z0 + slab)
        part = buf[: z1 - z0]
        z_linear(src, part, z_table(n, z0, z1, kz, mode), taps_z, cval, lo, hi, tap_bits)
        plane(part, dst[z0 - a : z1 - a])
    return dst


def z_taps(taps, dtype):
    """The z taps as the z passes take them: fixed-point integers for integer images, float32 otherwise."""
    from .gaussian import fixed_point_taps

    if np.dtype(dtype).kind in "iu":
        return fixed_point_taps(np.asarray(taps, dtype=np.float64))
    return np.asarray(taps, dtype=np.float32)


# ---------------------------------------------------------------------------
# planning: the per-axis parameters of an op as the kernels take them


def morphology_footprint(size, footprint, shape, axes, spacing) -> np.ndarray:
    """The 3-D ``(z, y, x)`` footprint of a morphology op with ``axes`` (batch axes) and ``spacing``.

    ``footprint`` must have one dim per axis; ``size`` is a scalar or one
    value per axis (odd voxels, or mm with ``spacing``); ``shape`` is
    ``"square"`` (a box), ``"disk"`` (in-plane axes only) or ``"ball"``
    (the ellipsoid inscribed in the box; a ball for equal sizes).
    """
    from .footprints import resolve_footprint

    n = len(axes)
    if footprint is not None:
        fp = np.asarray(footprint)
        if fp.ndim != n:
            raise InvalidArgumentError(
                f"footprint: expected a {n}-D array (one dim per axis of axes={tuple(axes)}), got shape {fp.shape}"
            )
        if n == 2:
            fp = resolve_footprint(footprint=fp)
        else:
            if fp.dtype != np.bool_:
                if fp.dtype.kind not in "iuf" or not np.isin(fp, (0, 1)).all():
                    raise InvalidArgumentError("footprint: expected a boolean array (or 0/1 values)")
                fp = fp.astype(bool)
            if any(k % 2 == 0 for k in fp.shape):
                raise InvalidArgumentError(f"footprint: expected odd sides (a centre voxel), got shape {fp.shape}")
            if not fp.any():
                raise InvalidArgumentError("footprint: has no True pixel")
        return footprint_to_volume(fp, axes)
    if shape not in ("square", "disk", "ball"):
        raise InvalidArgumentError(f"shape: expected one of square, disk, ball, got {shape!r}")
    sizes = per_axis(size, n, "size")
    sp = resolve_spacing(spacing, axes)
    if sp is None:
        voxels = [check_int(s, "size", low=1, odd=True) for s in sizes]
    else:
        voxels = [mm_to_odd(check_real(s, "size", low=0, low_open=True), d) for s, d in zip(sizes, sp, strict=True)]
    if shape == "square":
        fp = np.ones(voxels, dtype=bool)
    else:
        if shape == "disk" and 0 in axes:
            raise InvalidArgumentError("shape: 'disk' is an in-plane footprint; use 'ball' when axes include z (0)")
        fp = ellipsoid([k // 2 for k in voxels])
    return footprint_to_volume(fp, axes)


def gaussian_axis_taps(sigma, ksize, truncate, axes, spacing):
    """Float64 Gaussian taps ``[z, y, x]`` (a single tap on axes not in ``axes``) and the sigmas in pixels."""
    from .gaussian import gaussian_taps_1d

    n = len(axes)
    sigmas = [check_real(s, "sigma", low=0) for s in per_axis(sigma, n, "sigma")]
    truncate = check_real(truncate, "truncate", low=0, low_open=True)
    sp = resolve_spacing(spacing, axes)
    if ksize is None:
        ks = [None] * n
    elif sp is None:
        ks = [check_int(k, "ksize", low=1, odd=True) for k in per_axis(ksize, n, "ksize")]
    else:
        ks = [mm_to_odd(check_real(k, "ksize", low=0, low_open=True), d)
              for k, d in zip(per_axis(ksize, n, "ksize"), sp, strict=True)]
    if sp is not None:
        sigmas = [s / d for s, d in zip(sigmas, sp, strict=True)]
    taps = [np.ones(1), np.ones(1), np.ones(1)]
    px = [0.0, 0.0, 0.0]
    kz = [None, None, None]
    for a, s, k in zip(axes, sigmas, ks, strict=True):
        taps[a] = gaussian_taps_1d(s, k, truncate)
        px[a] = s
        kz[a] = k
    return taps, px, kz


# ---------------------------------------------------------------------------
# sharpening and frequency filters over (z, y, x), as array code


_SHARPEN_OFFSETS = [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def padded_volume(xp, src, before, after, mode, cval, dtype):
    """``src`` extended by ``before``/``after`` cells per axis (border maps), as ``dtype``."""
    maps = [border_index_map(n, b, a, mode) for n, b, a in zip(src.shape, before, after, strict=True)]
    out = src.astype(dtype)
    for axis, m in enumerate(maps):
        if len(m) == src.shape[axis] and bool(np.all(m == np.arange(len(m)))):
            continue
        idx = xp.asarray(np.clip(m, 0, None))
        out = xp.take(out, idx, axis=axis)
        outside = np.nonzero(m < 0)[0]
        if outside.size:
            sl = [slice(None)] * 3
            for i in outside.tolist():
                sl[axis] = i
                out[tuple(sl)] = cval
    return out


def sharpen3d_xp(xp, src, dst, amount, neighbours, mode, cval, lo, hi):
    """``x + amount * (k x - sum of its k neighbours)`` over (z, y, x), k = 6 or 26, as the CPU kernel computes it.

    The Laplacian is exact in int64 for integers and summed in float64 (same
    order as the CPU) for floats; ``amount`` is applied as the 2-D op does:
    ``rint(float32(amount) * float32(lap))`` added and saturated for integers.
    """
    integer = np.dtype(dst.dtype).kind in "iu"
    acc = np.int64 if integer else np.float64
    n, h, w = src.shape
    pad = padded_volume(xp, src, (1, 1, 1), (1, 1, 1), mode, acc(cval), acc)
    lap = xp.zeros((n, h, w), acc)
    for dz, dy, dx in _SHARPEN_OFFSETS:
        d = abs(dz) + abs(dy) + abs(dx)
        if d == 0 or (neighbours == 6 and d != 1):
            continue
        xp.subtract(lap, pad[1 + dz : 1 + dz + n, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w], out=lap)
    centre = pad[1 : 1 + n, 1 : 1 + h, 1 : 1 + w] * acc(neighbours)
    xp.add(lap, centre, out=lap)
    with np.errstate(over="ignore"):
        a32 = np.float32(amount)
    if integer:
        with np.errstate(over="ignore", invalid="ignore"):
            step = xp.rint(a32 * lap.astype(np.float32))
        step = xp.where(lap == 0, 0.0, step)
        step = xp.clip(step, -4294967296.0, 4294967296.0).astype(np.int64)
        v = src.astype(np.int64) + step
        dst[...] = xp.clip(v, lo, hi).astype(dst.dtype)
    else:
        dst[...] = src.astype(np.float32) + a32 * lap.astype(np.float32)
    return dst


def resolve_volume_padding(pad, shape):
    """Per-axis ``(before, after)`` padding of a volume for a 3-D FFT (``pad`` as in :func:`fastct.lowpass`).

    ``True`` pads half of every axis, an int or one int per axis that many
    cells; a padded axis grows on its far side to a fast FFT length.
    """
    from .frequency import next_fast_len

    if isinstance(pad, (bool, np.bool_)) or pad is None:
        pads = [s // 2 for s in shape] if pad else [0, 0, 0]
    else:
        pads = [check_int(p, "pad", low=0) for p in per_axis(pad, 3, "pad")]
    return [(p, next_fast_len(s + 2 * p) - s - p) if p else (0, 0) for s, p in zip(shape, pads, strict=True)]


def volume_response(shape, cutoff: float, kind: str, order: int, highpass: bool) -> np.ndarray:
    """Transfer function on the ``rfftn`` grid of a volume, float32 ``(D, H, W//2 + 1)``.

    The responses of :func:`fastct._shared.frequency.frequency_response` with
    the radial frequency taken in 3-D.
    """
    from .frequency import IDEAL_SLACK

    d, h, w = shape
    fz = np.fft.fftfreq(d)[:, None, None]
    fy = np.fft.fftfreq(h)[None, :, None]
    fx = np.fft.rfftfreq(w)[None, None, :]
    r = np.sqrt(fz * fz + fy * fy + fx * fx)
    with np.errstate(over="ignore"):
        if kind == "ideal":
            r = (r <= cutoff * (1.0 + IDEAL_SLACK)).astype(np.float64)
        elif kind == "gaussian":
            r = np.exp(-0.5 * (r / cutoff) ** 2)
        else:
            r = 1.0 / (1.0 + (r / cutoff) ** (2 * order))
    if highpass:
        r = 1.0 - r
    return r.astype(np.float32)


def frequency_volume(xp, rfftn, irfftn, src, dst, cutoff, kind, order, pad, mode, cval, highpass):
    """Filter the volume ``src`` by a 3-D frequency response into ``dst`` (float32 transforms)."""
    from .frequency import store_rounded

    shape = tuple(src.shape)
    padding = resolve_volume_padding(pad, shape)
    before = [p[0] for p in padding]
    after = [p[1] for p in padding]
    x = padded_volume(xp, src, before, after, mode, np.float32(cval), np.float32)
    full = tuple(x.shape)
    response = volume_response(full, cutoff, kind, order, highpass)
    spectrum = rfftn(x)
    spectrum *= xp.asarray(response)
    y = irfftn(spectrum, full)
    crop = y[tuple(slice(b, b + s) for b, s in zip(before, shape, strict=True))]
    store_rounded(xp, xp.ascontiguousarray(crop.astype(np.float32)), dst)
    return dst


# ---------------------------------------------------------------------------
# CLAHE over (z, y, x) tiles


def resolve_volume_tiles(tiles, name: str = "tiles") -> tuple:
    """``(tz, ty, tx)`` from one int (every axis), a triple, or an in-plane pair ``(ty, tx)`` (z gets ``ty``)."""
    if isinstance(tiles, (Sequence, np.ndarray)) and not isinstance(tiles, (str, bytes)) and len(tiles) == 2:
        tiles = (tiles[0], tiles[0], tiles[1])
    return tuple(check_int(t, name, low=1, high=256) for t in per_axis(tiles, 3, name))


def clahe_axis_weights(length: int, size: int, count: int):
    """``(t1, t2, a, 1 - a)`` of every coordinate on an axis: the two nearest tiles and their weights.

    OpenCV's float32 arithmetic: ``t = c / size - 1/2``, ``t1 = floor(t)``,
    ``a = t - t1``, both tiles clamped to the grid.
    """
    f = np.arange(length, dtype=np.float32) * (np.float32(1.0) / np.float32(size)) - np.float32(0.5)
    t1 = np.floor(f).astype(np.int64)
    a = (f - t1.astype(np.float32)).astype(np.float32)
    return (np.maximum(t1, 0), np.minimum(t1 + 1, count - 1), a, (np.float32(1.0) - a).astype(np.float32))


def clahe_plan(src_shape, tiles, integer: bool, nbins, value_range, data_range):
    """Grid, tile sizes, padded extents, mirror maps, range and bin count of a volume's CLAHE.

    ``data_range`` is the volume's ``(min, max)`` (used when ``value_range`` is None).
    """
    from .histogram import check_bin_count

    n, h, w = src_shape
    grid = (min(tiles[0], n), tiles[1], tiles[2])  # a tile holds at least one slice
    if value_range is not None:
        lo, hi = value_range
        if integer:
            lo, hi = math.ceil(lo), math.floor(hi)
    else:
        lo, hi = data_range
    nb = int(nbins) if nbins else check_bin_count(int(hi - lo) + 1)
    sizes, padded = [], []
    for length, t in zip((n, h, w), grid, strict=True):
        p = length if length % t == 0 else length + t - length % t
        sizes.append(p // t)
        padded.append(p)
    maps = [border_index_map(length, 0, p - length, "mirror") for length, p in zip((n, h, w), padded, strict=True)]
    return grid, sizes, padded, maps, float(lo), float(hi), nb


def clahe_volume(xp, src, dst, clip_limit, tiles, nbins, value_range, slab: int = 8):
    """CLAHE of a whole volume over ``tiles = (tz, ty, tx)`` contextual regions, as array code.

    The 2-D op's rules extended to three axes: each axis is padded on its
    far side to a multiple of its tile count (mirror, OpenCV's rule), every
    tile's histogram is clipped at ``clip_limit`` times its mean bin count
    with OpenCV's redistribution, and each voxel is interpolated trilinearly
    between the look-up tables of the eight nearest tile centres (float32,
    the 2-D op's arithmetic per plane, then along z). Bins: one per integer
    value of the volume's range (or ``nbins``), as :mod:`fastct._shared.histogram`.
    """
    from .histogram import clahe_clip_count, output_maxval

    n, h, w = src.shape
    integer = np.dtype(src.dtype).kind in "iu"
    data_range = None if value_range is not None else (float(src.min()), float(src.max()))
    grid, sizes, padded, maps, lo, hi, nb = clahe_plan(src.shape, tiles, integer, nbins, value_range, data_range)

    def bins_of(v):
        if integer:
            d = v.astype(np.int64) - np.int64(lo)
            b = d if not nbins else (d * np.int64(nbins)) // np.int64(hi - lo + 1)
        else:
            span = np.float32(hi) - np.float32(lo)
            if span <= 0:
                return xp.zeros(v.shape, np.int64)
            scale = np.float32(nb) / span
            b = ((v.astype(np.float32) - np.float32(lo)) * scale).astype(np.int64)
        return xp.clip(b, 0, nb - 1)

    # histograms: one bincount over (tile, bin) pairs, a slab of padded slices at a time
    n_tiles = grid[0] * grid[1] * grid[2]
    hist = xp.zeros(n_tiles * nb, np.int64)
    tile_y = xp.asarray(np.arange(padded[1]) // sizes[1])
    tile_x = xp.asarray(np.arange(padded[2]) // sizes[2])
    rows = xp.asarray(maps[1])
    cols = xp.asarray(maps[2])
    for z0 in range(0, padded[0], slab):
        z1 = min(padded[0], z0 + slab)
        part = xp.take(xp.take(xp.take(src, xp.asarray(maps[0][z0:z1]), axis=0), rows, axis=1), cols, axis=2)
        tz_idx = xp.asarray(np.arange(z0, z1) // sizes[0])
        tile = (tz_idx[:, None, None] * grid[1] + tile_y[None, :, None]) * grid[2] + tile_x[None, None, :]
        hist += xp.bincount((tile * nb + bins_of(part)).ravel(), minlength=n_tiles * nb)
    hist = hist.reshape(n_tiles, nb)
    total = sizes[0] * sizes[1] * sizes[2]
    limit = clahe_clip_count(clip_limit, total, nb)
    if limit > 0:
        excess = xp.maximum(hist - limit, 0).sum(axis=1)
        hist = xp.minimum(hist, limit)
        per_bin = excess // nb
        residual = excess - per_bin * nb
        hist += per_bin[:, None]
        step = xp.maximum(nb // xp.maximum(residual, 1), 1)
        pos = xp.arange(nb)[None, :]
        extra = (pos % step[:, None] == 0) & (pos // step[:, None] < residual[:, None])
        hist += extra.astype(np.int64)
    cum = xp.cumsum(hist, axis=1)
    maxval = np.float32(output_maxval(dst.dtype))
    if maxval == 1.0:
        luts = cum.astype(np.float32) / np.float32(total)
    else:
        luts = xp.minimum(xp.rint(cum.astype(np.float32) * (maxval / np.float32(total))), maxval)
    luts = luts.astype(np.float32).ravel()

    def axis_weights(length, size, count):
        return tuple(xp.asarray(v) for v in clahe_axis_weights(length, size, count))

    z1s, z2s, za, za1 = axis_weights(n, sizes[0], grid[0])
    y1s, y2s, ya, ya1 = axis_weights(h, sizes[1], grid[1])
    x1s, x2s, xa, xa1 = axis_weights(w, sizes[2], grid[2])
    for s0 in range(0, n, slab):
        s1 = min(n, s0 + slab)
        b = bins_of(src[s0:s1])
        planes = []
        for zt in (z1s[s0:s1], z2s[s0:s1]):
            def at(yt, xt, zt=zt, b=b):
                tile = (zt[:, None, None] * grid[1] + yt[None, :, None]) * grid[2] + xt[None, None, :]
                return luts[tile * nb + b]

            top = at(y1s, x1s) * xa1[None, None, :] + at(y1s, x2s) * xa[None, None, :]
            bottom = at(y2s, x1s) * xa1[None, None, :] + at(y2s, x2s) * xa[None, None, :]
            planes.append(top * ya1[None, :, None] + bottom * ya[None, :, None])
        res = planes[0] * za1[s0:s1, None, None] + planes[1] * za[s0:s1, None, None]
        if maxval == 1.0:
            dst[s0:s1] = res
        else:
            dst[s0:s1] = xp.minimum(xp.maximum(xp.rint(res), np.float32(0.0)), maxval)
    return dst
