"""Classification features per slice (CPU twin of ``gpu/features.py``).

The features are defined in :mod:`fastct.ml.spec` (groups, bins, thresholds);
this module computes them with Numba: a serial kernel over a range of slices,
spread over threads by :func:`fastct.cpu._threads.run_jobs`, each chunk
allocating its scratch arrays once, then per slice 3x3 sums, the body
(tissue with holes filled), the lung field (large low-density components, holes
filled, plus a box count against the pleura), two chessboard distance
transforms, and per lung-field pixel the 5x5 deviation, the Sobel gradient and
scikit-image's uniform LBP. All arithmetic on integer input is exact (float64
sums of integers), so the results are reproducible bit for bit and equal
:mod:`fastct.ml.reference` (scipy.ndimage + scikit-image).

It also holds this backend's hooks for the SVM stage of :mod:`fastct.ml`:
the array namespace and the (absent) cuML estimator.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit, jobjit, numba
from ._threads import run_jobs

#: The per-pixel helpers of the lung-field histograms, inlined by numba into
#: :func:`_lung_histograms`. Left to LLVM, how well they were inlined depended
#: on the kernel that linked them: the serial job kernel ran that loop 15%
#: slower than the old ``prange`` kernel did; inlined, both are ~10% faster.
jit_inline = numba.njit(cache=True, nogil=True, inline="always")

# ---------------------------------------------------------------------------
# public twins


def features(batch, out, *, image=None, grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale,
             dense_steps, air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets):
    """Fill ``out`` (``(N, offsets[-1])`` float64) with every feature group of each slice.

    ``batch`` is the raw ``(N, H, W)`` slices (HU); ``image`` the preprocessed
    slices (any real dtype, same shape) or None, in which case the ``image``
    and ``lbp`` columns are left at zero.
    """
    has_image = image is not None
    if image is None:
        image = np.zeros((1, 1, 1), np.float32)
    args = (batch, image, has_image, grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale, dense_steps,
            air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets, out)
    run_jobs(_features_kernel, args, batch.shape[0])
    return out


def array_module():
    """The array namespace of this backend (NumPy)."""
    return np


def cuml_svc():
    """cuML's SVC class on the GPU backend; the CPU backend has none (scikit-learn is used)."""
    return None


# ---------------------------------------------------------------------------
# kernels


@jobjit
def _features_kernel(src, image, has_image, grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale,
                     dense_steps, air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets, out,
                     first_job, end_job):
    """Feature rows of slices ``first_job:end_job``."""
    h, w = src.shape[1], src.shape[2]
    last = image.shape[0] - 1
    # scratch allocated once per chunk of slices, reused slice after slice
    s9 = np.empty((h, w), np.float64)
    tmp = np.empty((h, w), np.float64)
    tmp2 = np.empty((h, w), np.float64)
    body = np.empty((h, w), np.uint8)
    lung = np.empty((h, w), np.uint8)
    work = np.empty((h, w), np.uint8)
    comp = np.empty((h, w), np.int32)
    stack = np.empty(h * w, np.int32)
    sizes = np.empty(h * w // 2 + 2, np.int32)
    integral = np.empty((h + 1, w + 1), np.int32)
    for i in range(first_job, end_job):
        k = min(i, last)  # the dummy image (no image groups) has one slice
        _slice_features(src[i], image[k], has_image, grid, tissue9, dense9, air9, hu9, min_area, box_radius,
                        scale, dense_steps, air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets,
                        out[i], s9, tmp, tmp2, body, lung, work, comp, stack, sizes, integral)


@jit
def _slice_features(img, pre, has_image, grid, tissue9, dense9, air9, hu9, min_area, box_radius, scale,
                    dense_steps, air_steps, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, offsets, row,
                    s9, tmp, tmp2, body, lung, work, comp, stack, sizes, integral):
    h, w = img.shape
    for j in range(row.shape[0]):
        row[j] = 0.0
    _sum3x3(img, s9, tmp)
    _body(s9, tissue9, body, work, stack)
    n_body, n_lung = _lung_field(s9, body, tissue9, min_area, box_radius, lung, comp, stack, sizes, integral)
    o_image, o_masks, o_hu, o_dense, o_air, o_std, o_grad, o_lbp = (
        offsets[0], offsets[1], offsets[2], offsets[3], offsets[4], offsets[5], offsets[6], offsets[7])
    row[o_masks] = n_body / (h * w)
    row[o_masks + 1] = n_lung / n_body if n_body > 0 else 0.0
    if has_image:
        _grid_means(pre, grid, row, o_image)
    if n_lung == 0:
        return
    inv = 1.0 / n_lung
    dist = comp  # the component labels are no longer needed
    _chessboard(s9, lung, dense9, True, dist)
    _size_spectrum(dist, dense_steps, inv, scale, row, o_dense)
    _chessboard(s9, lung, air9, False, dist)
    _size_spectrum(dist, air_steps, inv, scale, row, o_air)
    _lung_histograms(img, s9, pre, has_image, lung, hu9, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, inv,
                     row, o_hu, o_std, o_grad, o_lbp, tmp, tmp2)


@jit
def _sum3x3(img, s9, tmp):
    """3x3 box sums with nearest-edge borders (exact in float64 for integer pixels)."""
    h, w = img.shape
    for y in range(h):
        for x in range(w):
            xm = x - 1 if x > 0 else 0
            xp = x + 1 if x < w - 1 else w - 1
            tmp[y, x] = np.float64(img[y, xm]) + np.float64(img[y, x]) + np.float64(img[y, xp])
    for y in range(h):
        ym = y - 1 if y > 0 else 0
        yp = y + 1 if y < h - 1 else h - 1
        for x in range(w):
            s9[y, x] = tmp[ym, x] + tmp[y, x] + tmp[yp, x]


@jit
def _body(s9, tissue9, body, tissue, stack):
    """Body = tissue (``s9 >= tissue9``) with its holes filled (4-connected background)."""
    h, w = s9.shape
    for y in range(h):
        for x in range(w):
            tissue[y, x] = 1 if s9[y, x] >= tissue9 else 0
    _fill_holes_of(tissue, body, stack)


@jit
def _lung_field(s9, body, tissue9, min_area, r, lung, comp, stack, sizes, integral):
    """The lung field of one slice; returns (body pixels, lung-field pixels).

    Low-density body pixels (``s9 < tissue9``) form 4-connected components;
    those of at least ``min_area`` pixels are lung (smaller ones: trachea,
    bowel gas). The lung field is that lung with its holes filled (nodules,
    cavities, vessels), plus every body pixel whose (2r+1)^2 box is at least
    half lung (lesions against the chest wall).
    """
    h, w = s9.shape
    for y in range(h):
        for x in range(w):
            comp[y, x] = 0
    label = 0
    for y0 in range(h):
        for x0 in range(w):
            if comp[y0, x0] != 0 or body[y0, x0] == 0 or s9[y0, x0] >= tissue9:
                continue
            label += 1
            comp[y0, x0] = label
            stack[0] = y0 * w + x0
            top = 1
            count = 0
            while top > 0:
                top -= 1
                p = stack[top]
                y, x = p // w, p % w
                count += 1
                for k in range(4):
                    yy = y + (-1 if k == 0 else (1 if k == 1 else 0))
                    xx = x + (-1 if k == 2 else (1 if k == 3 else 0))
                    if yy < 0 or yy >= h or xx < 0 or xx >= w:
                        continue
                    if comp[yy, xx] == 0 and body[yy, xx] == 1 and s9[yy, xx] < tissue9:
                        comp[yy, xx] = label
                        stack[top] = yy * w + xx
                        top += 1
            sizes[label] = count
    # big components -> 1, else 0; then their holes filled, into `lung`
    for y in range(h):
        for x in range(w):
            c = comp[y, x]
            comp[y, x] = 1 if (c > 0 and sizes[c] >= min_area) else 0
    _fill_holes_in_body(comp, body, lung, stack)
    n_body = 0
    for x in range(w + 1):
        integral[0, x] = 0
    for y in range(h):
        integral[y + 1, 0] = 0
        acc = 0
        for x in range(w):
            acc += comp[y, x]
            integral[y + 1, x + 1] = integral[y, x + 1] + acc
            n_body += body[y, x]
    area = (2 * r + 1) * (2 * r + 1)
    n_lung = 0
    for y in range(h):
        y0 = max(y - r, 0)
        y1 = min(y + r + 1, h)
        for x in range(w):
            if body[y, x] == 0:
                lung[y, x] = 0
                continue
            if lung[y, x] == 0:
                x0 = max(x - r, 0)
                x1 = min(x + r + 1, w)
                count = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
                if 2 * count >= area:
                    lung[y, x] = 1
            n_lung += lung[y, x]
    return n_body, n_lung


@jit
def _fill_holes_in_body(mask, body, out, stack):
    """``_fill_holes_of(mask)`` for a mask inside ``body``, flooding the body only.

    Every non-body pixel is connected to the border outside the body (the body
    has its holes filled), so the flood starts from the body pixels that touch
    it (or the image edge) and runs through body pixels outside the mask.
    """
    h, w = mask.shape
    top = 0
    for y in range(h):
        for x in range(w):
            out[y, x] = 0 if body[y, x] == 0 else 1
    for y in range(h):
        for x in range(w):
            if body[y, x] == 0 or mask[y, x] != 0:
                continue
            edge = (y == 0 or y == h - 1 or x == 0 or x == w - 1 or body[y - 1, x] == 0 or body[y + 1, x] == 0
                    or body[y, x - 1] == 0 or body[y, x + 1] == 0)
            if edge:
                out[y, x] = 0
                stack[top] = y * w + x
                top += 1
    _flood_unmasked(mask, out, stack, top)


@jit
def _flood_unmasked(mask, out, stack, top):
    """Clear ``out`` over every non-mask pixel 4-connected to the ``top`` seeds on ``stack`` (already cleared)."""
    h, w = mask.shape
    while top > 0:
        top -= 1
        p = stack[top]
        y, x = p // w, p % w
        if y > 0 and out[y - 1, x] == 1 and mask[y - 1, x] == 0:
            out[y - 1, x] = 0
            stack[top] = p - w
            top += 1
        if y < h - 1 and out[y + 1, x] == 1 and mask[y + 1, x] == 0:
            out[y + 1, x] = 0
            stack[top] = p + w
            top += 1
        if x > 0 and out[y, x - 1] == 1 and mask[y, x - 1] == 0:
            out[y, x - 1] = 0
            stack[top] = p - 1
            top += 1
        if x < w - 1 and out[y, x + 1] == 1 and mask[y, x + 1] == 0:
            out[y, x + 1] = 0
            stack[top] = p + 1
            top += 1


@jit
def _fill_holes_of(mask, out, stack):
    """``out`` = ``mask`` plus every non-mask pixel not 4-connected to the border through non-mask pixels."""
    h, w = mask.shape
    for y in range(h):
        for x in range(w):
            out[y, x] = 1
    top = 0
    for y in range(h):
        for x in range(w):
            if (y == 0 or y == h - 1 or x == 0 or x == w - 1) and mask[y, x] == 0 and out[y, x] == 1:
                out[y, x] = 0
                stack[top] = y * w + x
                top += 1
    _flood_unmasked(mask, out, stack, top)


@jit
def _chessboard(s9, lung, threshold, above, dist):
    """Chessboard distance of each mask pixel to the nearest non-mask pixel (outside counts as non-mask).

    The mask is ``lung & (s9 >= threshold)`` when ``above`` else ``lung & (s9 < threshold)``.
    """
    h, w = s9.shape
    big = h + w
    for y in range(h):
        for x in range(w):
            inside = lung[y, x] == 1 and ((s9[y, x] >= threshold) if above else (s9[y, x] < threshold))
            dist[y, x] = big if inside else 0
    for y in range(h):
        for x in range(w):
            d = dist[y, x]
            if d == 0:
                continue
            best = d
            left = dist[y, x - 1] if x > 0 else 0
            best = min(best, left + 1)
            if y > 0:
                up = dist[y - 1, x]
                ul = dist[y - 1, x - 1] if x > 0 else 0
                ur = dist[y - 1, x + 1] if x < w - 1 else 0
                best = min(best, min(up, min(ul, ur)) + 1)
            else:
                best = 1
            dist[y, x] = best
    for y in range(h - 1, -1, -1):
        for x in range(w - 1, -1, -1):
            d = dist[y, x]
            if d == 0:
                continue
            best = d
            right = dist[y, x + 1] if x < w - 1 else 0
            best = min(best, right + 1)
            if y < h - 1:
                down = dist[y + 1, x]
                dl = dist[y + 1, x - 1] if x > 0 else 0
                dr = dist[y + 1, x + 1] if x < w - 1 else 0
                best = min(best, min(down, min(dl, dr)) + 1)
            else:
                best = 1
            dist[y, x] = best


@jit
def _size_spectrum(dist, steps, inv, scale, row, offset):
    h, w = dist.shape
    counts = np.zeros(steps.shape[0], np.int64)
    for y in range(h):
        for x in range(w):
            d = dist[y, x]
            if d == 0:
                continue
            for k in range(steps.shape[0]):
                if d >= steps[k]:
                    counts[k] += 1
    best = 0
    for y in range(h):
        for x in range(w):
            best = max(best, dist[y, x])
    for k in range(steps.shape[0]):
        row[offset + k] = counts[k] * inv
    row[offset + steps.shape[0]] = best / scale


@jit_inline
def _bin(value, edges):
    """Number of edges <= value (np.searchsorted(edges, value, 'right'))."""
    b = 0
    for e in range(edges.shape[0]):
        if value >= edges[e]:
            b = e + 1
        else:
            break
    return b


@jit_inline
def _pixel(pre, r, c):
    """skimage's get_pixel2d in constant mode with cval 0."""
    h, w = pre.shape
    if r < 0 or r >= h or c < 0 or c >= w:
        return 0.0
    return np.float64(pre[r, c])


@jit_inline
def _lbp_uniform(pre, y, x, lbp_rows, lbp_cols):
    """scikit-image's uniform LBP code at (y, x): bilinear samples, >= centre, P+1 when non-uniform.

    Transitions are counted between consecutive samples only (not from the
    last back to the first), exactly as scikit-image counts them.
    """
    centre = np.float64(pre[y, x])
    P = lbp_rows.shape[0]
    h, w = pre.shape
    interior = 1 <= y < h - 1 and 1 <= x < w - 1  # radius 1: no sample leaves the slice
    ones = 0
    changes = 0
    prev = 0
    for i in range(P):
        rr = y + lbp_rows[i]
        cc = x + lbp_cols[i]
        minr = np.floor(rr)
        minc = np.floor(cc)
        maxr = np.ceil(rr)
        maxc = np.ceil(cc)
        dr = rr - minr
        dc = cc - minc
        r0, r1, c0, c1 = int(minr), int(maxr), int(minc), int(maxc)
        if interior:
            top = (1 - dc) * np.float64(pre[r0, c0]) + dc * np.float64(pre[r0, c1])
            bottom = (1 - dc) * np.float64(pre[r1, c0]) + dc * np.float64(pre[r1, c1])
        else:
            top = (1 - dc) * _pixel(pre, r0, c0) + dc * _pixel(pre, r0, c1)
            bottom = (1 - dc) * _pixel(pre, r1, c0) + dc * _pixel(pre, r1, c1)
        value = (1 - dr) * top + dr * bottom
        bit = 1 if value - centre >= 0 else 0
        ones += bit
        if i > 0:
            changes += abs(bit - prev)
        prev = bit
    return ones if changes <= 2 else P + 1


@jit
def _row_window_sums(img, r, hs, hs2):
    """Sums of x and x^2 over the 2r+1 columns around each pixel (nearest-edge borders; exact for integers)."""
    h, w = img.shape
    for y in range(h):
        s = 0.0
        ss = 0.0
        for dx in range(-r, r + 1):
            v = np.float64(img[y, min(max(dx, 0), w - 1)])
            s += v
            ss += v * v
        hs[y, 0] = s
        hs2[y, 0] = ss
        for x in range(1, w):
            vin = np.float64(img[y, min(x + r, w - 1)])
            vout = np.float64(img[y, max(x - r - 1, 0)])
            s += vin - vout
            ss += vin * vin - vout * vout
            hs[y, x] = s
            hs2[y, x] = ss


@jit
def _lung_histograms(img, s9, pre, has_image, lung, hu9, std_num, std_radius, grad_sq, lbp_rows, lbp_cols, inv,
                     row, o_hu, o_std, o_grad, o_lbp, hs, hs2):
    h, w = img.shape
    _row_window_sums(img, std_radius, hs, hs2)
    n_hu = hu9.shape[0] + 1
    n_std = std_num.shape[0] + 1
    n_grad = grad_sq.shape[0] + 1
    counts_hu = np.zeros(n_hu, np.int64)
    counts_std = np.zeros(n_std, np.int64)
    counts_grad = np.zeros(n_grad, np.int64)
    counts_lbp = np.zeros(lbp_rows.shape[0] + 2, np.int64)
    r = std_radius
    size = 2 * r + 1
    for y in range(h):
        for x in range(w):
            if lung[y, x] == 0:
                continue
            counts_hu[_bin(s9[y, x], hu9)] += 1
            # local deviation: exact window sums (row sums, then rows), nearest-edge borders
            s = 0.0
            ss = 0.0
            for dy in range(-r, r + 1):
                yy = min(max(y + dy, 0), h - 1)
                s += hs[yy, x]
                ss += hs2[yy, x]
            num = size * size * ss - s * s
            counts_std[_bin(num, std_num)] += 1
            # Sobel of the 3x3 sums, nearest-edge borders
            ym = y - 1 if y > 0 else 0
            yp = y + 1 if y < h - 1 else h - 1
            xm = x - 1 if x > 0 else 0
            xp = x + 1 if x < w - 1 else w - 1
            gx = (s9[ym, xp] + 2.0 * s9[y, xp] + s9[yp, xp]) - (s9[ym, xm] + 2.0 * s9[y, xm] + s9[yp, xm])
            gy = (s9[yp, xm] + 2.0 * s9[yp, x] + s9[yp, xp]) - (s9[ym, xm] + 2.0 * s9[ym, x] + s9[ym, xp])
            counts_grad[_bin(gx * gx + gy * gy, grad_sq)] += 1
            if has_image:
                counts_lbp[_lbp_uniform(pre, y, x, lbp_rows, lbp_cols)] += 1
    for k in range(n_hu):
        row[o_hu + k] = counts_hu[k] * inv
    for k in range(n_std):
        row[o_std + k] = counts_std[k] * inv
    for k in range(n_grad):
        row[o_grad + k] = counts_grad[k] * inv
    if has_image:
        for k in range(counts_lbp.shape[0]):
            row[o_lbp + k] = counts_lbp[k] * inv


@jit
def _grid_means(pre, grid, row, offset):
    """Area means of ``pre`` over a grid x grid partition (block edges at i * size // grid)."""
    h, w = pre.shape
    for i in range(grid):
        y0 = i * h // grid
        y1 = (i + 1) * h // grid
        for j in range(grid):
            x0 = j * w // grid
            x1 = (j + 1) * w // grid
            s = 0.0
            for y in range(y0, y1):
                for x in range(x0, x1):
                    s += np.float64(pre[y, x])
            row[offset + i * grid + j] = s / ((y1 - y0) * (x1 - x0))
