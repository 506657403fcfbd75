"""window and to_gray against DICOM's VOI formula, exact rational arithmetic and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
import ref_histogram as ref
from conftest import assert_same, on_backend, random_image, run_on, to_numpy

import fastct
from fastct import FastCTError
from fastct._shared.intensity import BT601, BT601_FIXED, BT601_SHIFT

cv2 = pytest.importorskip("cv2")

OUT_DTYPES = (np.float32, np.uint8, np.uint16)
HU_RAMP = np.arange(-2048, 4096, dtype=np.int16).reshape(64, 96)  # every HU a scanner stores, and more


def exact_window_levels(x, center, width, maxval):
    """rint(maxval * clip((x - c + w/2) / (w - 1), 0, 1)) in exact integer arithmetic.

    For integer x, center and width, ``maxval * (2x - 2c + w) / (2 (w - 1))`` is
    never exactly half-way between two integers (maxval is odd), so rounding
    is unambiguous: floor((2 num + den) / (2 den)).
    """
    c, w = int(center), int(width)
    assert (c, w) == (center, width)
    num = np.clip(2 * x.astype(np.int64) - 2 * c + w, 0, 2 * (w - 1)) * int(maxval)
    den = 2 * (w - 1)
    assert not ((2 * num) % (2 * den) == den).any()  # no ties
    return (2 * num + den) // (2 * den)


# ===========================================================================
# window


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("preset", sorted(fastct.WINDOW_PRESETS))
def test_window_presets_match_dicom(backend, preset, out_dtype):
    center, width = fastct.WINDOW_PRESETS[preset]
    res = run_on(fastct.window, HU_RAMP, backend, preset=preset, dtype=out_dtype)
    expected, _ = ref.window(HU_RAMP, center, width, out_dtype)
    assert_same(res, expected)
    if out_dtype != np.float32:  # integer outputs: exactly the rounded rational value
        levels = exact_window_levels(HU_RAMP, center, width, np.iinfo(out_dtype).max)
        np.testing.assert_array_equal(res.astype(np.int64), levels)
    # below the window: 0, above: the top, monotone in between
    top = 1.0 if out_dtype == np.float32 else np.iinfo(out_dtype).max
    assert (res[HU_RAMP <= center - width / 2] == 0).all()
    assert (res[HU_RAMP >= center + width / 2] == top).all()
    assert (np.diff(res.ravel().astype(np.float64)) >= 0).all()


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.float32, np.float64])
def test_window_center_width_match_dicom(backend, rng, dtype, out_dtype):
    img = random_image(rng, (3, 21, 17), dtype)
    center, width = (60.0, 255.0) if dtype == np.uint8 else (300.5, 1234.25)
    res = run_on(fastct.window, img, backend, center, width, dtype=out_dtype)
    compute = img.astype(np.float32) if dtype == np.float64 else img  # float64 is computed as float32
    expected, _ = ref.window(compute, center, width, out_dtype)
    assert_same(res, expected)


def test_window_float_input_matches_dicom_within_float32(backend, rng):
    img = (rng.random((40, 50)) * 4000 - 2000).astype(np.float32)
    res = run_on(fastct.window, img, backend, -600, 1500)
    _, exact = ref.window(img, -600.0, 1500.0, np.float32)
    np.testing.assert_allclose(res, exact, rtol=0, atol=6e-8)  # float32 rounding of [0, 1] values
    inside = ((res > 0) & (res < 1)).sum()  # the window spans ~1500 of the 4000 HU drawn from
    assert (res == 0).sum() > 0 and (res == 1).sum() > 0 and inside > 500


def test_window_hand_example(backend):
    # width 3: (x - (c - 0.5)) / 2 + 0.5 with c = 10 -> x = 8.5 .. 10.5 spans 0 .. 1
    img = np.array([[8, 9, 10, 11, 12]], np.int16)
    res = run_on(fastct.window, img, backend, 10, 3)
    np.testing.assert_array_equal(res, np.array([[0.0, 0.25, 0.75, 1.0, 1.0]], np.float32))
    res16 = run_on(fastct.window, img, backend, 10, 3, dtype=np.uint16)
    np.testing.assert_array_equal(res16, [[0, 16384, 49151, 65535, 65535]])  # rint(0.25 * 65535) = 16384


def test_window_preset_name_as_center(backend):
    a = run_on(fastct.window, HU_RAMP, backend, "lung")
    b = run_on(fastct.window, HU_RAMP, backend, preset="lung")
    assert_same(a, b)


def test_window_batch_and_slice(backend, rng):
    batch = random_image(rng, (4, 19, 23), np.int16)
    res = run_on(fastct.window, batch, backend, preset="bone", dtype=np.uint8)
    for i in range(len(batch)):
        assert_same(res[i], run_on(fastct.window, batch[i], backend, preset="bone", dtype=np.uint8))


@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_window_empty_batch(backend, out_dtype):
    res = run_on(fastct.window, np.zeros((0, 3, 4), np.int16), backend, preset="brain", dtype=out_dtype)
    assert res.shape == (0, 3, 4) and res.dtype == out_dtype


@pytest.mark.parametrize("shape", [(1, 1), (1, 13), (13, 1), (17, 23)])
def test_window_odd_shapes(backend, rng, shape):
    img = random_image(rng, shape, np.int16)
    res = run_on(fastct.window, img, backend, preset="soft_tissue")
    assert_same(res, ref.window(img, 40.0, 400.0, np.float32)[0])


def test_window_out_argument(backend, rng):
    img = random_image(rng, (2, 9, 11), np.int16)
    out = on_backend(np.zeros(img.shape, np.uint8), backend)
    res = fastct.window(on_backend(img, backend), preset="lung", dtype=np.uint8, backend=backend, out=out)
    assert res is out
    assert_same(to_numpy(out), ref.window(img, -600.0, 1500.0, np.uint8)[0])


def test_window_in_place(backend, rng):
    img = random_image(rng, (9, 11), np.float32)
    expected = ref.window(img, 40.0, 80.0, np.float32)[0]
    dev = on_backend(img.copy(), backend)
    assert fastct.window(dev, preset="brain", backend=backend, out=dev) is dev
    assert_same(to_numpy(dev), expected)


@pytest.mark.parametrize(
    ("args", "kw", "name"),
    [
        ((40, 1), {}, "width"),
        ((40, 0.5), {}, "width"),
        ((40, -100), {}, "width"),
        ((40, float("nan")), {}, "width"),
        ((float("inf"), 400), {}, "center"),
        ((), dict(preset="liver-ish"), "preset"),
        (("not-a-preset",), {}, "preset"),
        ((40,), dict(preset="lung"), "preset"),
        ((None, 400), dict(preset="lung"), "preset"),
        ((40,), {}, "width"),
        ((), {}, "center"),
        ((40, 400), dict(dtype=np.int16), "dtype"),
        ((40, 400), dict(dtype=None), "dtype"),
    ],
)
def test_window_bad_parameters(backend, args, kw, name):
    with pytest.raises(FastCTError, match=name):
        fastct.window(on_backend(np.zeros((4, 4), np.int16), backend), *args, backend=backend, **kw)


# ===========================================================================
# to_gray


def test_bt601_fixed_point_constants():
    # OpenCV's 8/16-bit rule: 15 fractional bits; R and G are rint(w * 2**15), B takes the
    # remainder (3735, not rint(0.114 * 2**15) = 3736) so that grey stays grey exactly
    assert BT601_SHIFT == 15
    assert BT601_FIXED[:2] == tuple(int(round(w * (1 << BT601_SHIFT))) for w in BT601[:2])
    assert sum(BT601_FIXED) == 1 << BT601_SHIFT
    assert all(abs(f / (1 << BT601_SHIFT) - w) < 2e-5 for f, w in zip(BT601_FIXED, BT601))


GRAY_CASES = [
    ("COLOR_RGB2GRAY", "rgb", 3),
    ("COLOR_BGR2GRAY", "bgr", 3),
    ("COLOR_RGBA2GRAY", "rgb", 4),
    ("COLOR_BGRA2GRAY", "bgr", 4),
]


@pytest.mark.parametrize("shape", [(1, 1), (17, 23), (120, 97), (3, 16, 21)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("code", "order", "channels"), GRAY_CASES)
def test_to_gray_integers_match_opencv(backend, rng, code, order, channels, dtype, shape):
    img = random_image(rng, shape + (channels,), dtype)
    res = run_on(fastct.to_gray, img, backend, channel_order=order)
    assert_same(res, ref.cv2_gray(img, code))


def test_to_gray_uint8_512_matches_opencv(backend, rng):
    img = random_image(rng, (512, 512, 3), np.uint8)
    assert_same(run_on(fastct.to_gray, img, backend), ref.cv2_gray(img, "COLOR_RGB2GRAY"))


def test_to_gray_uint8_every_extreme_pixel(backend):
    """All 8 corners of the RGB cube and the pure primaries at every level."""
    levels = np.arange(256, dtype=np.uint8)
    zeros = np.zeros_like(levels)
    pixels = np.concatenate([
        np.stack([levels, zeros, zeros], -1),
        np.stack([zeros, levels, zeros], -1),
        np.stack([zeros, zeros, levels], -1),
        np.stack([levels, levels, levels], -1),
    ])[None]
    res = run_on(fastct.to_gray, pixels, backend)
    assert_same(res, ref.cv2_gray(pixels, "COLOR_RGB2GRAY"))
    assert (res[0, 768:] == levels).all()  # grey stays grey


@pytest.mark.parametrize(("code", "order", "channels"), GRAY_CASES)
def test_to_gray_float32_matches_opencv(backend, rng, code, order, channels):
    img = rng.random((2, 31, 27, channels), dtype=np.float32)
    res = run_on(fastct.to_gray, img, backend, channel_order=order)
    assert res.dtype == np.float32 and res.shape == (2, 31, 27)
    np.testing.assert_allclose(res, ref.cv2_gray(img, code), rtol=0, atol=1e-6)
    np.testing.assert_allclose(res, ref.gray_float(img, order), rtol=0, atol=1e-6)


def test_to_gray_float_large_values(backend, rng):
    img = random_image(rng, (25, 19, 3), np.float32)  # +-1500: CT-like magnitudes
    res = run_on(fastct.to_gray, img, backend)
    scale = np.abs(img).max(axis=-1)
    assert (np.abs(res - ref.gray_float(img)) <= 4e-7 * scale + 1e-6).all()
    assert (np.abs(res - ref.cv2_gray(img, "COLOR_RGB2GRAY")) <= 4e-7 * scale + 1e-6).all()


def test_to_gray_float64_computes_in_float32(backend, rng):
    img = rng.random((11, 13, 3))
    res = run_on(fastct.to_gray, img, backend)
    assert res.dtype == np.float32
    np.testing.assert_allclose(res, ref.gray_float(img), rtol=0, atol=1e-6)


def test_to_gray_int16_fixed_point(backend, rng):
    """OpenCV has no int16 conversion: the same 15-bit rule (floor shift), negatives included."""
    img = rng.integers(-32768, 32768, (2, 40, 30, 3)).astype(np.int16)
    img[0, 0, 0] = (32767, 32767, 32767)
    img[0, 0, 1] = (-32768, -32768, -32768)
    res = run_on(fastct.to_gray, img, backend)
    assert_same(res, ref.gray_fixed(img))
    assert res[0, 0, 0] == 32767 and res[0, 0, 1] == -32768
    # within rounding + weight quantisation of the exact luma (mixed signs add the weight errors up)
    bound = 0.5 + 32768 * sum(abs(f / 32768 - w) for f, w in zip(BT601_FIXED, BT601))
    assert bound < 1.7
    assert np.abs(res - ref.gray_float(img)).max() <= bound


def test_to_gray_alpha_is_ignored(backend, rng):
    img = random_image(rng, (12, 14, 4), np.uint8)
    other = img.copy()
    other[..., 3] = 255 - other[..., 3]
    assert_same(run_on(fastct.to_gray, img, backend), run_on(fastct.to_gray, other, backend))
    rgb = np.ascontiguousarray(img[..., :3])
    assert_same(run_on(fastct.to_gray, img, backend), run_on(fastct.to_gray, rgb, backend))


def test_to_gray_empty_batch(backend):
    res = run_on(fastct.to_gray, np.zeros((0, 5, 6, 3), np.uint8), backend)
    assert res.shape == (0, 5, 6) and res.dtype == np.uint8


def test_to_gray_out_argument(backend, rng):
    img = random_image(rng, (2, 10, 12, 3), np.uint16)
    out = on_backend(np.zeros((2, 10, 12), np.uint16), backend)
    assert fastct.to_gray(on_backend(img, backend), backend=backend, out=out) is out
    assert_same(to_numpy(out), ref.cv2_gray(img, "COLOR_RGB2GRAY"))
    out2d = on_backend(np.zeros((10, 12), np.uint16), backend)
    assert fastct.to_gray(on_backend(img[1], backend), backend=backend, out=out2d) is out2d
    assert_same(to_numpy(out2d), ref.cv2_gray(img[1], "COLOR_RGB2GRAY"))


@pytest.mark.parametrize(
    "shape", [(8, 8), (8, 8, 2), (8, 8, 5), (8, 8, 1), (2, 2, 8, 8, 3), (8,), (8, 8, 0)]
)
def test_to_gray_bad_image_shape(backend, shape):
    with pytest.raises(FastCTError, match="image"):
        fastct.to_gray(on_backend(np.zeros(shape, np.uint8), backend), backend=backend)


def test_to_gray_bad_arguments(backend):
    img = on_backend(np.zeros((4, 4, 3), np.uint8), backend)
    with pytest.raises(FastCTError, match="channel_order"):
        fastct.to_gray(img, channel_order="rgba", backend=backend)
    with pytest.raises(FastCTError, match="image"):
        fastct.to_gray(on_backend(np.zeros((4, 4, 3), bool), backend), backend=backend)
    with pytest.raises(FastCTError, match="image"):
        fastct.to_gray([[1, 2, 3]], backend=backend)
    with pytest.raises(FastCTError, match="out"):
        fastct.to_gray(img, backend=backend, out=on_backend(np.zeros((4, 4), np.float32), backend))
