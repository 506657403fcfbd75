"""Slow, obviously correct references for the volumetric ops that scipy.ndimage does not cover.

Written straight from the rules in :mod:`fastct._shared.volume` and the op
docstrings, with explicit loops over voxels and tiles; nothing here imports
fastct, so a wrong kernel cannot make its own oracle agree with it.
"""

from __future__ import annotations

import math

import numpy as np

f32 = np.float32


def _mirror_index(i, n):
    """OpenCV's BORDER_REFLECT_101 for an index past the far end (``i < 2 n - 1``)."""
    if n == 1:
        return 0
    return i if i < n else 2 * n - 2 - i


def clahe_volume(vol, clip_limit, tiles, maxval=1.0):
    """CLAHE over (z, y, x) tiles of an integer volume, one bin per value of its range.

    Each axis is padded on its far side to a multiple of its tile count
    (mirror), a tile's histogram is clipped at ``max(int(clip * voxels / bins), 1)``
    with OpenCV's redistribution (even share, then one more every
    ``bins // residual`` bins from the first), the look-up table is the
    cumulative count over the tile's voxels, and a voxel takes the trilinear
    blend (float32, per plane: x then y, then z) of the eight nearest tiles.
    """
    n, h, w = vol.shape
    grid = (min(tiles[0], n), tiles[1], tiles[2])
    lo, hi = int(vol.min()), int(vol.max())
    nb = hi - lo + 1
    size = []
    for length, t in zip((n, h, w), grid):
        p = length if length % t == 0 else length + t - length % t
        size.append(p // t)
    total = size[0] * size[1] * size[2]
    luts = np.zeros(grid + (nb,), np.float32)
    for tz in range(grid[0]):
        for ty in range(grid[1]):
            for tx in range(grid[2]):
                hist = [0] * nb
                for z in range(tz * size[0], (tz + 1) * size[0]):
                    for y in range(ty * size[1], (ty + 1) * size[1]):
                        for x in range(tx * size[2], (tx + 1) * size[2]):
                            v = int(vol[_mirror_index(z, n), _mirror_index(y, h), _mirror_index(x, w)])
                            hist[v - lo] += 1
                if clip_limit > 0:
                    limit = max(int(clip_limit * total / nb), 1)
                    excess = sum(max(c - limit, 0) for c in hist)
                    hist = [min(c, limit) for c in hist]
                    share, residual = excess // nb, excess % nb
                    hist = [c + share for c in hist]
                    step = max(nb // residual, 1) if residual else 1
                    b = 0
                    while b < nb and residual > 0:
                        hist[b] += 1
                        b += step
                        residual -= 1
                cum = 0
                for b in range(nb):
                    cum += hist[b]
                    if maxval == 1.0:
                        luts[tz, ty, tx, b] = f32(cum) / f32(total)
                    else:
                        luts[tz, ty, tx, b] = min(np.rint(f32(cum) * (f32(maxval) / f32(total))), f32(maxval))

    def weights(c, s, count):
        t = f32(c) * (f32(1.0) / f32(s)) - f32(0.5)
        t1 = math.floor(t)
        a = f32(t - f32(t1))
        return max(t1, 0), min(t1 + 1, count - 1), a, f32(f32(1.0) - a)

    out = np.empty(vol.shape, np.float32)
    for z in range(n):
        z1, z2, za, za1 = weights(z, size[0], grid[0])
        for y in range(h):
            y1, y2, ya, ya1 = weights(y, size[1], grid[1])
            for x in range(w):
                x1, x2, xa, xa1 = weights(x, size[2], grid[2])
                b = int(vol[z, y, x]) - lo
                planes = []
                for zt in (z1, z2):
                    top = luts[zt, y1, x1, b] * xa1 + luts[zt, y1, x2, b] * xa
                    bottom = luts[zt, y2, x1, b] * xa1 + luts[zt, y2, x2, b] * xa
                    planes.append(f32(top) * ya1 + f32(bottom) * ya)
                res = f32(planes[0]) * za1 + f32(planes[1]) * za
                out[z, y, x] = res if maxval == 1.0 else min(max(np.rint(res), 0.0), maxval)
    return out
