"""equalize_hist and clahe against OpenCV and the documented rules (tests/ref_histogram.py).

OpenCV is the oracle wherever fastct promises to reproduce it bit for bit
(uint8 equalisation; uint8 and uint16 CLAHE with a fixed 0..max range); the
plain NumPy references implement the documented rules for everything OpenCV
cannot do (int16 HU at one bin per value, floats, masks, coarser bins, other
output scales). Images are small except for a few 512x512 cases: the pure
Python parts of the references stay cheap.
"""

from __future__ import annotations

import numpy as np
import pytest
import ref_histogram as ref
from conftest import assert_same, on_backend, random_image, run_on, to_numpy

import fastct
from fastct import FastCTError
from fastct._shared.histogram import clahe_clip_count, clahe_tile_geometry

cv2 = pytest.importorskip("cv2")

OUT_DTYPES = (np.float32, np.uint8, np.uint16)


def smooth_uint8(shape, rng):
    """A smooth image with a little noise: long runs of equal values, many ties in the LUTs."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(yy / 17.0) + np.cos(xx / 23.0)) * 55 + 128
    return np.clip(base + rng.normal(0, 3, shape), 0, 255).astype(np.uint8)


def twelve_bit(rng, shape):
    """uint16 data as CT scanners store it: 12 bits, mostly a narrow band."""
    return np.clip(rng.normal(1100, 300, shape), 0, 4095).astype(np.uint16)


# ===========================================================================
# equalize_hist


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (17, 23), (64, 48), (3, 31, 29), (512, 512)])
def test_equalize_hist_uint8_matches_opencv(backend, rng, shape):
    img = random_image(rng, shape, np.uint8)
    res = run_on(fastct.equalize_hist, img, backend, dtype=np.uint8)
    assert_same(res, ref.cv2_equalize(img))


@pytest.mark.parametrize("kind", ["smooth", "few_levels", "narrow"])
def test_equalize_hist_uint8_structured_matches_opencv(backend, rng, kind):
    if kind == "smooth":
        img = smooth_uint8((96, 80), rng)
    elif kind == "few_levels":
        img = rng.choice(np.array([0, 3, 100, 101, 255], np.uint8), (40, 50), p=[0.5, 0.1, 0.2, 0.1, 0.1])
    else:  # lowest occupied bin far from 0, top far from 255
        img = rng.integers(90, 110, (33, 35), dtype=np.uint8)
    res = run_on(fastct.equalize_hist, img, backend, dtype=np.uint8)
    assert_same(res, ref.cv2_equalize(img))


def test_equalize_hist_hand_example(backend):
    # values 10, 20, 30, 40 with counts 1, 1, 2, 4: cum - h0 = 0, 1, 3, 7 over total - h0 = 7
    img = np.array([[10, 20, 30, 30], [40, 40, 40, 40]], np.int16)
    res = run_on(fastct.equalize_hist, img, backend)
    np.testing.assert_array_equal(res, np.array([[0, 1, 3, 3], [7, 7, 7, 7]], np.float32) / np.float32(7))
    res8 = run_on(fastct.equalize_hist, img, backend, dtype=np.uint8)
    np.testing.assert_array_equal(res8, [[0, 36, 109, 109], [255, 255, 255, 255]])  # rint(k * 255/7)


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("data", ["int16_hu", "uint16_12bit"])
def test_equalize_hist_full_resolution_matches_reference(backend, rng, data, out_dtype):
    shape = (3, 40, 37)
    img = random_image(rng, shape, np.int16) if data == "int16_hu" else twelve_bit(rng, shape)
    res = run_on(fastct.equalize_hist, img, backend, dtype=out_dtype)
    assert_same(res, ref.equalize(img, out_dtype=out_dtype))
    # one bin per integer value: every distinct value keeps a distinct level (float32 output)
    if out_dtype == np.float32:
        for s, r in zip(img, res):
            assert len(np.unique(r)) == len(np.unique(s))


def test_equalize_hist_one_bin_per_value_matches_scikit_image(backend, rng):
    """Independent oracle: scikit-image's cumulative distribution (one bin per integer).

    fastct maps the lowest value to 0 (OpenCV), so ``(cdf - cdf[lo]) / (1 - cdf[lo])``.
    """
    exposure = pytest.importorskip("skimage.exposure")
    img = rng.integers(-1024, 1500, (45, 53)).astype(np.int16)
    cdf, centers = exposure.cumulative_distribution(img)
    assert np.array_equal(centers, np.arange(img.min(), img.max() + 1))  # one bin per value
    expected = (cdf[img - img.min()] - cdf[0]) / (1.0 - cdf[0])
    res = run_on(fastct.equalize_hist, img, backend)
    np.testing.assert_allclose(res, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("nbins", [2, 16, 1000])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_equalize_hist_nbins_matches_reference(backend, rng, dtype, nbins):
    img = random_image(rng, (2, 23, 19), dtype)
    res = run_on(fastct.equalize_hist, img, backend, nbins=nbins)
    assert_same(res, ref.equalize(img, nbins=nbins))
    if nbins == 2:  # two bins: the low half of the range maps to 0, the high half to 1
        assert set(np.unique(res)) <= {0.0, 1.0}


@pytest.mark.parametrize("out_dtype", [np.float32, np.uint16])
def test_equalize_hist_float_defaults_to_256_bins(backend, rng, out_dtype):
    img = random_image(rng, (37, 41), np.float32)
    res = run_on(fastct.equalize_hist, img, backend, dtype=out_dtype)
    assert_same(res, ref.equalize(img, nbins=256, out_dtype=out_dtype))
    assert len(np.unique(res)) <= 256


def test_equalize_hist_float64_computes_in_float32(backend, rng):
    img = random_image(rng, (29, 31), np.float64) / 7.0
    res = run_on(fastct.equalize_hist, img, backend, nbins=100)
    assert res.dtype == np.float32
    assert_same(res, ref.equalize(img.astype(np.float32), nbins=100))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("mask_ndim", [2, 3])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_equalize_hist_mask_matches_reference(backend, rng, dtype, mask_ndim, out_dtype):
    img = random_image(rng, (3, 26, 31), dtype)
    mask = rng.random((26, 31) if mask_ndim == 2 else (3, 26, 31)) < 0.3
    res = run_on(fastct.equalize_hist, img, backend, mask=on_backend(mask, backend), dtype=out_dtype)
    assert_same(res, ref.equalize(img, mask=mask, out_dtype=out_dtype))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_equalize_hist_mask_outside_range_maps_to_ends(backend, rng, out_dtype):
    """Counted: the body (-100..100 HU); air below maps to 0, metal above to the top."""
    img = rng.integers(-100, 101, (20, 24)).astype(np.int16)
    mask = np.zeros(img.shape, bool)
    mask[4:16, 4:20] = True
    img[~mask] = -1000
    img[0, :5] = 3000
    res = run_on(fastct.equalize_hist, img, backend, mask=on_backend(mask, backend), dtype=out_dtype)
    top = 1.0 if out_dtype == np.float32 else np.iinfo(out_dtype).max
    assert (res[~mask & (img == -1000)] == 0).all()
    assert (res[0, :5] == top).all()
    assert_same(res, ref.equalize(img, mask=mask, out_dtype=out_dtype))
    # inside the mask: the masked histogram alone decides (same as equalising the body pixels)
    body = img[mask]
    alone = run_on(fastct.equalize_hist, body.reshape(12, 16), backend, dtype=out_dtype).ravel()
    assert_same(res[mask], alone)


def test_equalize_hist_mask_unmasked_pixels_inside_range_use_the_lut(backend):
    img = np.array([[0, 10, 20, 5, 15, 30, -5]], np.int16)
    mask = np.array([[True, True, True, False, False, False, False]])
    # counted values 0, 10, 20 -> 0, 1/2, 1. Unmasked 5 and 15 take the level of their (empty)
    # bins: (cum - h0) / (total - h0) = 0 at 5 and 1/2 at 15; 30 > max -> 1, -5 < min -> 0.
    res = run_on(fastct.equalize_hist, img, backend, mask=on_backend(mask, backend))
    np.testing.assert_array_equal(res, [[0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0]])


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_equalize_hist_constant_slice_maps_to_zero(backend, dtype, out_dtype):
    """Documented deviation: cv2.equalizeHist returns the input value for a constant image, fastct 0."""
    batch = np.zeros((3, 9, 11), dtype)
    batch[0] = 7
    batch[1] = np.arange(99).reshape(9, 11).astype(dtype)
    batch[2] = 200
    res = run_on(fastct.equalize_hist, batch, backend, dtype=out_dtype)
    assert (res[0] == 0).all() and (res[2] == 0).all()
    assert_same(res[1], ref.equalize(batch[1], out_dtype=out_dtype))
    if dtype == np.uint8 and out_dtype == np.uint8:
        assert (ref.cv2_equalize(batch[0]) == 7).all()  # OpenCV's choice, which fastct does not copy


def test_equalize_hist_constant_masked_region_maps_to_zero(backend):
    img = np.full((6, 6), 50, np.int16)
    img[0, 0], img[5, 5] = -10, 90
    mask = img == 50
    res = run_on(fastct.equalize_hist, img, backend, mask=on_backend(mask, backend))
    assert res[0, 0] == 0 and res[5, 5] == 1.0 and (res[mask] == 0).all()


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_equalize_hist_batch_equals_per_slice(backend, rng, dtype):
    batch = np.stack([random_image(rng, (21, 18), dtype) * k for k in (1, 2, 3, 5)]).astype(dtype)
    res = run_on(fastct.equalize_hist, batch, backend)
    assert res.shape == batch.shape
    for i in range(len(batch)):
        assert_same(res[i], run_on(fastct.equalize_hist, batch[i], backend))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_equalize_hist_empty_batch(backend, out_dtype):
    res = run_on(fastct.equalize_hist, np.zeros((0, 5, 7), np.int16), backend, dtype=out_dtype)
    assert res.shape == (0, 5, 7) and res.dtype == out_dtype


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (17, 23), (5, 17, 23)])
def test_equalize_hist_odd_shapes(backend, rng, shape):
    img = random_image(rng, shape, np.int16)
    res = run_on(fastct.equalize_hist, img, backend)
    assert res.shape == shape and res.dtype == np.float32
    assert_same(res, ref.equalize(img))


def test_equalize_hist_512_int16(backend, rng):
    img = random_image(rng, (512, 512), np.int16)
    res = run_on(fastct.equalize_hist, img, backend, dtype=np.uint16)
    assert_same(res, ref.equalize(img, out_dtype=np.uint16))


def test_equalize_hist_real_ct(backend, ct_slice):
    res = run_on(fastct.equalize_hist, ct_slice, backend)
    assert_same(res, ref.equalize(ct_slice))
    assert res.min() == 0.0 and res.max() == 1.0
    order = np.argsort(ct_slice, axis=None, kind="stable")
    assert (np.diff(res.ravel()[order]) >= 0).all()  # monotone in HU
    assert len(np.unique(res)) == len(np.unique(ct_slice))  # full HU resolution: no two values merged


def test_equalize_hist_out_argument(backend, rng):
    img = random_image(rng, (2, 15, 13), np.int16)
    out = on_backend(np.full(img.shape, -1, np.float32), backend)
    res = fastct.equalize_hist(on_backend(img, backend), backend=backend, out=out)
    assert res is out
    assert_same(to_numpy(out), ref.equalize(img))
    out2d = on_backend(np.zeros((15, 13), np.uint8), backend)
    assert fastct.equalize_hist(on_backend(img[0], backend), dtype=np.uint8, backend=backend, out=out2d) is out2d
    assert_same(to_numpy(out2d), ref.equalize(img[0], out_dtype=np.uint8))


def test_equalize_hist_out_aliasing_input(backend, rng):
    img = random_image(rng, (19, 17), np.float32)
    expected = ref.equalize(img)
    dev = on_backend(img.copy(), backend)
    assert fastct.equalize_hist(dev, backend=backend, out=dev) is dev
    assert_same(to_numpy(dev), expected)


def test_equalize_hist_mask_errors(backend, rng):
    img = on_backend(random_image(rng, (2, 8, 9), np.int16), backend)
    empty = np.ones((2, 8, 9), bool)
    empty[1] = False
    bad_masks = [
        (empty, "selects no pixel"),
        (np.zeros((8, 9), bool), "selects no pixel"),
        (np.ones((8, 9), np.uint8), "bool"),
        (np.ones((9, 8), bool), "shape"),
        (np.ones((3, 8, 9), bool), "shape"),
        ([[True] * 9] * 8, "boolean array"),
    ]
    for mask, what in bad_masks:
        m = on_backend(mask, backend) if isinstance(mask, np.ndarray) else mask
        with pytest.raises(FastCTError, match=f"mask.*{what}"):
            fastct.equalize_hist(img, mask=m, backend=backend)


@pytest.mark.parametrize("dtype", [np.int16, np.float64, np.int32, None, "not-a-dtype"])
def test_equalize_hist_bad_dtype(backend, dtype):
    img = on_backend(np.zeros((4, 4), np.int16), backend)
    with pytest.raises(FastCTError, match="dtype"):
        fastct.equalize_hist(img, dtype=dtype, backend=backend)


@pytest.mark.parametrize("nbins", [1, 0, -3, 1 << 17, 2.5, "256"])
def test_equalize_hist_bad_nbins(backend, nbins):
    with pytest.raises(FastCTError, match="nbins"):
        fastct.equalize_hist(on_backend(np.zeros((4, 4), np.int16), backend), nbins=nbins, backend=backend)


# ===========================================================================
# clahe


def cv2_params(clip, tiles):
    return dict(clip_limit=clip, tiles=tiles, value_range=(0, 255), nbins=256, dtype=np.uint8)


@pytest.mark.parametrize("tiles", [(8, 8), (2, 3), (3, 1), (1, 1), (5, 7)])
@pytest.mark.parametrize("shape", [(64, 64), (64, 48), (67, 45), (64, 45), (17, 23), (5, 3), (1, 1)])
def test_clahe_uint8_matches_opencv_tile_grids(backend, rng, shape, tiles):
    """Divisible and non-divisible sizes (OpenCV pads bottom/right, reflect-101), non-square grids."""
    img = random_image(rng, shape, np.uint8)
    res = run_on(fastct.clahe, img, backend, **cv2_params(2.0, tiles))
    assert_same(res, ref.cv2_clahe(img, 2.0, tiles))


@pytest.mark.parametrize("clip", [0, 1.0, 2.0, 3.7, 40.0])
@pytest.mark.parametrize("shape", [(64, 64), (67, 45)])
def test_clahe_uint8_matches_opencv_clip_limits(backend, rng, shape, clip):
    img = smooth_uint8(shape, rng)
    res = run_on(fastct.clahe, img, backend, **cv2_params(clip, (4, 6)))
    assert_same(res, ref.cv2_clahe(img, clip, (4, 6)))


def test_clahe_uint8_matches_opencv_batch_and_512(backend, rng):
    batch = np.stack([smooth_uint8((512, 512), rng), random_image(rng, (512, 512), np.uint8)])
    res = run_on(fastct.clahe, batch, backend, **cv2_params(2.0, (8, 8)))
    assert_same(res, ref.cv2_clahe(batch, 2.0, (8, 8)))
    # one bin per value over (0, 255) is the same histogram as nbins=256
    res_default = run_on(fastct.clahe, batch[:1], backend, clip_limit=2.0, value_range=(0, 255), dtype=np.uint8)
    assert_same(res_default, res[:1])


def test_clahe_uint8_matches_opencv_real_ct(backend, ct_slice):
    img = np.clip((ct_slice.astype(np.float32) + 1024) / 8, 0, 255).astype(np.uint8)
    res = run_on(fastct.clahe, img, backend, **cv2_params(3.0, (5, 3)))
    assert_same(res, ref.cv2_clahe(img, 3.0, (5, 3)))


@pytest.mark.parametrize(
    ("shape", "clip", "tiles", "data"),
    [
        ((64, 64), 2.0, (8, 8), "full"),
        ((67, 45), 2.0, (3, 5), "full"),
        ((48, 40), 0.0, (4, 4), "12bit"),
        ((31, 17), 40.0, (2, 3), "12bit"),
        ((40, 56), 2.0, (8, 8), "12bit"),
    ],
)
def test_clahe_uint16_matches_opencv(backend, rng, shape, clip, tiles, data):
    img = random_image(rng, shape, np.uint16) if data == "full" else twelve_bit(rng, shape)
    params = dict(clip_limit=clip, tiles=tiles, value_range=(0, 65535), nbins=65536, dtype=np.uint16)
    res = run_on(fastct.clahe, img, backend, **params)
    assert_same(res, ref.cv2_clahe(img, clip, tiles))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize(("clip", "tiles"), [(0.0, (4, 4)), (2.0, (3, 5)), (1.0, (8, 8))])
def test_clahe_int16_full_resolution_matches_reference(backend, rng, clip, tiles, out_dtype):
    img = random_image(rng, (2, 37, 41), np.int16)
    img[1] //= 4  # a second slice with another range (bins are per slice)
    res = run_on(fastct.clahe, img, backend, clip_limit=clip, tiles=tiles, dtype=out_dtype)
    assert_same(res, ref.clahe(img, out_dtype, clip_limit=clip, tiles=tiles))


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(nbins=64),
        dict(value_range=(-300.0, 800.0)),
        dict(nbins=1000, value_range=(-2000.0, 2000.0), clip_limit=4.0),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clahe_float_matches_reference(backend, rng, dtype, kw):
    img = random_image(rng, (2, 33, 29), dtype)
    kw = dict(dict(tiles=(3, 4)), **kw)
    res = run_on(fastct.clahe, img, backend, **kw)
    assert_same(res, ref.clahe(img, np.float32, **kw))


@pytest.mark.parametrize("nbins", [16, 300])
def test_clahe_int16_coarser_bins_matches_reference(backend, rng, nbins):
    img = random_image(rng, (45, 39), np.int16)
    res = run_on(fastct.clahe, img, backend, nbins=nbins, tiles=(4, 3), dtype=np.uint16)
    assert_same(res, ref.clahe(img, np.uint16, nbins=nbins, tiles=(4, 3)))


def test_clahe_uint16_12bit_full_resolution_matches_reference(backend, rng):
    img = twelve_bit(rng, (50, 44))
    res = run_on(fastct.clahe, img, backend, clip_limit=3.0, tiles=(5, 4))
    assert_same(res, ref.clahe(img, np.float32, clip_limit=3.0, tiles=(5, 4)))


def test_clahe_int16_value_range(backend, rng):
    """A fixed HU range: fractional bounds are rounded inwards, values outside clamp to the end bins."""
    img = random_image(rng, (36, 36), np.int16)
    res = run_on(fastct.clahe, img, backend, value_range=(-200.5, 400.2), tiles=(3, 3))
    assert_same(res, ref.clahe(img, np.float32, value_range=(-200.5, 400.2), tiles=(3, 3)))
    with pytest.raises(FastCTError, match="value_range"):
        fastct.clahe(on_backend(img, backend), value_range=(-1e6, 1e6), backend=backend)
    # No integer inside the range: no bin at all (an error, not a division by zero).
    with pytest.raises(FastCTError, match="value_range.*no integer"):
        fastct.clahe(on_backend(img, backend), value_range=(0.2, 0.7), backend=backend)


def test_clahe_single_tile_without_clipping_is_the_cdf(backend, rng):
    """Independent oracle: one tile, no clip -> each value maps to its cumulative distribution."""
    exposure = pytest.importorskip("skimage.exposure")
    img = rng.integers(-1024, 1500, (47, 51)).astype(np.int16)
    cdf, _ = exposure.cumulative_distribution(img)
    res = run_on(fastct.clahe, img, backend, clip_limit=0, tiles=1)
    np.testing.assert_allclose(res, cdf[img - img.min()], rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_clahe_batch_equals_per_slice(backend, rng, dtype):
    batch = np.stack([random_image(rng, (26, 30), dtype) // k for k in (1, 3, 7)]).astype(dtype)
    res = run_on(fastct.clahe, batch, backend, tiles=(3, 2))
    for i in range(len(batch)):
        assert_same(res[i], run_on(fastct.clahe, batch[i], backend, tiles=(3, 2)))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_clahe_output_range(backend, rng, out_dtype):
    img = random_image(rng, (3, 40, 40), np.int16)
    res = run_on(fastct.clahe, img, backend, dtype=out_dtype, tiles=(4, 4))
    top = 1.0 if out_dtype == np.float32 else np.iinfo(out_dtype).max
    assert res.dtype == out_dtype and res.shape == img.shape
    assert res.min() >= 0 and res.max() <= top
    assert res.max() > 0.9 * top and res.min() < 0.1 * top  # the full scale is used
    # the darkest and brightest pixel of each slice keep their order
    for s, r in zip(img, res):
        assert r.flat[np.argmin(s)] < r.flat[np.argmax(s)]


def test_clahe_real_ct(backend, ct_slice):
    res = run_on(fastct.clahe, ct_slice, backend)
    assert_same(res, ref.clahe(ct_slice, np.float32))
    res8 = run_on(fastct.clahe, ct_slice, backend, clip_limit=1.5, tiles=(6, 5), dtype=np.uint8)
    assert_same(res8, ref.clahe(ct_slice, np.uint8, clip_limit=1.5, tiles=(6, 5)))


def test_clahe_and_equalize_real_mr(backend, mr_slice):
    """MR intensities (int16, 0..a few thousand) at one bin per value."""
    res16 = run_on(fastct.equalize_hist, mr_slice, backend, dtype=np.uint16)
    assert_same(res16, ref.equalize(mr_slice, out_dtype=np.uint16))
    res = run_on(fastct.clahe, mr_slice, backend, clip_limit=2.5, tiles=(4, 4))
    assert_same(res, ref.clahe(mr_slice, np.float32, clip_limit=2.5, tiles=(4, 4)))


@pytest.mark.parametrize("shape", [(1, 1), (1, 30), (30, 1), (17, 23)])
def test_clahe_odd_shapes(backend, rng, shape):
    img = random_image(rng, shape, np.int16)
    res = run_on(fastct.clahe, img, backend)
    assert_same(res, ref.clahe(img, np.float32))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_clahe_empty_batch(backend, out_dtype):
    res = run_on(fastct.clahe, np.zeros((0, 8, 8), np.uint16), backend, dtype=out_dtype)
    assert res.shape == (0, 8, 8) and res.dtype == out_dtype


def test_clahe_out_argument(backend, rng):
    img = random_image(rng, (2, 24, 20), np.int16)
    out = on_backend(np.zeros(img.shape, np.uint8), backend)
    res = fastct.clahe(on_backend(img, backend), tiles=(2, 2), dtype=np.uint8, backend=backend, out=out)
    assert res is out
    assert_same(to_numpy(out), ref.clahe(img, np.uint8, tiles=(2, 2)))


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(clip_limit=-1), "clip_limit"),
        (dict(clip_limit=float("nan")), "clip_limit"),
        (dict(tiles=0), "tiles"),
        (dict(tiles=(2, 3, 4)), "tiles"),
        (dict(tiles=(2, 257)), "tiles"),
        (dict(value_range=(5, 5)), "value_range"),
        (dict(value_range=(10, 0)), "value_range"),
        (dict(value_range=(0, float("inf"))), "value_range"),
        (dict(nbins=1), "nbins"),
        (dict(dtype=np.int16), "dtype"),
        (dict(dtype=None), "dtype"),
    ],
)
def test_clahe_bad_parameters(backend, kw, name):
    with pytest.raises(FastCTError, match=name):
        fastct.clahe(on_backend(np.zeros((8, 8), np.int16), backend), backend=backend, **kw)


def test_clahe_tile_geometry_follows_opencv():
    # divisible: no padding
    assert clahe_tile_geometry(64, 48, (8, 8)) == ((8, 6), (64, 48))
    # one side not divisible: OpenCV pads both sides by (tiles - size % tiles), even the divisible one
    assert clahe_tile_geometry(64, 45, (8, 8)) == ((9, 6), (72, 48))
    assert clahe_tile_geometry(67, 45, (3, 5)) == ((23, 10), (69, 50))
    assert clahe_tile_geometry(1, 1, (8, 8)) == ((1, 1), (8, 8))
    for h, w, tiles in [(64, 45, (8, 8)), (67, 45, (3, 5)), (5, 3, (8, 8)), (17, 23, (2, 3))]:
        padded, tile = ref.clahe_padded(np.zeros((h, w)), tiles)
        assert clahe_tile_geometry(h, w, tiles) == (tile, padded.shape)


def test_clahe_clip_count_follows_opencv():
    assert clahe_clip_count(0.0, 64, 256) == 0  # no clipping
    assert clahe_clip_count(2.0, 64 * 64, 256) == 32
    assert clahe_clip_count(2.0, 10, 256) == 1  # never below one
    assert clahe_clip_count(3.7, 23 * 10, 256) == int(3.7 * 230 / 256)


def test_clip_histogram_reference_redistributes_like_opencv():
    """The reference's clipping on a hand example (OpenCV's loop worked by hand)."""
    hist = np.array([12, 0, 1, 5], np.int64)  # limit 3: excess 9 + 0 + 0 + 2 = 11
    out = ref.clip_histogram(hist, 3)
    # 11 // 4 = 2 to every bin, residual 3 with step max(4 // 3, 1) = 1 -> bins 0, 1, 2
    np.testing.assert_array_equal(out, [3 + 2 + 1, 0 + 2 + 1, 1 + 2 + 1, 3 + 2])
    assert out.sum() == hist.sum()
