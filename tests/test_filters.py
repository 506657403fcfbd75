"""gaussian_blur, unsharp_mask, sharpen against scipy.ndimage, OpenCV and NumPy references.

Floats agree with float64 references to 1e-5 of the data's magnitude (an
absolute tolerance scaled to the range: float32 accumulation). Integers are
compared exactly with the documented fixed-point rule (tests/ref_stencils.py)
and to within one grey level of a float64 reference.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import ref_stencils as ref
import scipy.ndimage as ndi
from conftest import BORDER_MODES, DTYPES, on_backend, random_image, to_numpy

import fastct
import fastct.cpu.filters as cpu_filters
from fastct._shared.gaussian import TAP_BITS, fixed_point_taps, resolve_gaussian

INT_DTYPES = (np.uint8, np.uint16, np.int16)
SMALL_SHAPES = ((1, 1), (1, 9), (9, 1), (17, 23))
OPS = ("gaussian_blur", "unsharp_mask", "sharpen")

# cv2 border types that are scipy.ndimage modes
CV2_BORDERS = {
    "nearest": cv2.BORDER_REPLICATE,
    "mirror": cv2.BORDER_REFLECT_101,  # cv2.BORDER_DEFAULT
    "reflect": cv2.BORDER_REFLECT,
}

# cval inside each dtype's range (it must be representable for integer images)
CVALS = {np.uint8: 77, np.uint16: 40000, np.int16: -1000, np.float32: 3.5}

# (sigma, ksize, truncate): scalar and per-axis sigma, sigma 0 on one axis,
# kernels wider than the 1 x 9 slices, ksize with and without sigma.
GAUSS_PARAMS = (
    (1.0, None, 4.0),
    ((0.7, 2.5), None, 4.0),
    ((0.0, 1.2), None, 4.0),
    (3.0, None, 2.5),
    (1.5, 7, 4.0),
    (0.0, (5, 3), 4.0),
)


def run(op, img, backend, *args, **kwargs):
    """fastct.<op> on the backend, returned as NumPy."""
    return to_numpy(getattr(fastct, op)(on_backend(img, backend), *args, backend=backend, **kwargs))


def taps(sigma, ksize=None, truncate=4.0):
    return resolve_gaussian(sigma, ksize, truncate)


def scipy_gaussian(img, sigma, ksize, truncate, mode, cval):
    """scipy.ndimage.gaussian_filter in float64; ksize becomes scipy's ``radius``."""
    x = img.astype(np.float64)
    if ksize is None:
        return ndi.gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=truncate)
    if np.any(np.asarray(sigma) == 0):  # OpenCV's sigma-0 rule has no scipy equivalent
        ty, tx = taps(sigma, ksize)
        return ref.gaussian_float64(img, ty, tx, mode, cval)
    ky, kx = (ksize, ksize) if np.isscalar(ksize) else ksize
    return ndi.gaussian_filter(x, sigma, mode=mode, cval=cval, radius=(ky // 2, kx // 2))


def check_exact(actual, expected, context=""):
    assert actual.dtype == expected.dtype, context
    assert actual.shape == expected.shape, context
    bad = np.argwhere(actual != expected)
    assert bad.size == 0, f"{context}: {len(bad)} pixels differ, first at {bad[0].tolist()}"


# ---------------------------------------------------------------------------
# the references themselves


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_reference_padding_matches_scipy(rng, mode):
    """The NumPy Gaussian reference (own border folding) equals scipy.ndimage in float64."""
    for shape in SMALL_SHAPES:
        img = rng.standard_normal(shape) * 100
        for sigma in (1.0, (0.7, 2.5), 3.0):
            ty, tx = taps(sigma)
            np.testing.assert_allclose(
                ref.gaussian_float64(img, ty, tx, mode, 3.5), ref.scipy_gaussian(img, sigma, mode, 3.5), atol=1e-9
            )


def test_fixed_point_taps_sum_and_symmetry():
    for sigma, ksize in ((0.5, None), (1.0, None), (2.7, None), (0.0, 9), (1.3, 11)):
        t = fixed_point_taps(resolve_gaussian(sigma, ksize)[0])
        assert t.dtype == np.int64 and int(t.sum()) == 1 << TAP_BITS
        np.testing.assert_array_equal(t, t[::-1])
        assert (t >= 0).all()


# ---------------------------------------------------------------------------
# gaussian_blur: floats against scipy.ndimage


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_gaussian_float32_matches_scipy(backend, rng, mode):
    for shape in SMALL_SHAPES + ((40, 33),):
        img = random_image(rng, shape, np.float32)
        for sigma, ksize, truncate in GAUSS_PARAMS:
            got = run("gaussian_blur", img, backend, sigma, ksize=ksize, truncate=truncate, mode=mode, cval=3.5)
            assert got.dtype == np.float32 and got.shape == shape
            want = scipy_gaussian(img, sigma, ksize, truncate, mode, 3.5)
            ref.close_float(got, want, data=img)


def test_gaussian_float64_input_is_computed_in_float32(backend, rng):
    img = random_image(rng, (21, 19), np.float64)
    got = run("gaussian_blur", img, backend, 1.3, mode="reflect")
    assert got.dtype == np.float32  # float64 is accepted and computed as float32
    ref.close_float(got, ndi.gaussian_filter(img, 1.3, mode="reflect"), data=img)


def test_gaussian_512(backend, rng):
    img = random_image(rng, (512, 512), np.float32)
    want = ndi.gaussian_filter(img.astype(np.float64), 2.0, mode="nearest")  # scipy's default is "reflect"
    ref.close_float(run("gaussian_blur", img, backend, 2.0), want, data=img)
    u16 = random_image(rng, (512, 512), np.uint16)
    check_exact(run("gaussian_blur", u16, backend, (1.0, 2.5), mode="mirror"),
                ref.gaussian_fixed_point(u16, *taps((1.0, 2.5)), "mirror"), "uint16 512x512")


def test_gaussian_sigma_zero_is_identity(backend, rng):
    for dtype in DTYPES:
        img = random_image(rng, (9, 14), dtype)
        np.testing.assert_array_equal(run("gaussian_blur", img, backend, 0), img)


# ---------------------------------------------------------------------------
# gaussian_blur: integers, exact fixed point


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_gaussian_integers_fixed_point(backend, rng, dtype, mode):
    cval = CVALS[dtype]
    info = np.iinfo(dtype)
    for shape in SMALL_SHAPES:
        # the full dtype range, extremes included
        img = rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
        img.flat[:: max(1, img.size // 3)] = info.max
        for sigma, ksize, truncate in GAUSS_PARAMS:
            ty, tx = taps(sigma, ksize, truncate)
            got = run("gaussian_blur", img, backend, sigma, ksize=ksize, truncate=truncate, mode=mode, cval=cval)
            context = f"{shape} sigma={sigma} ksize={ksize} {mode}"
            check_exact(got, ref.gaussian_fixed_point(img, ty, tx, mode, cval), context)
            # the fixed-point rule is within one grey level of float64 scipy, rounded half up
            near = ref.round_half_up_saturate(scipy_gaussian(img, sigma, ksize, truncate, mode, cval), dtype)
            assert np.abs(got.astype(np.int64) - near).max() <= 1, context


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_gaussian_integers_keep_constants(backend, dtype):
    """Taps sum to exactly 2**TAP_BITS: a constant slice (extremes included) stays constant."""
    info = np.iinfo(dtype)
    for value in (info.min, info.max, 1):
        img = np.full((6, 11), value, dtype)
        for mode in BORDER_MODES:
            np.testing.assert_array_equal(run("gaussian_blur", img, backend, 1.7, mode=mode, cval=value), img)


def test_gaussian_rounds_half_up(backend):
    """Taps 1-2-1 / 4 along the rows give exact halves and quarters: ties go up (towards +inf)."""
    img = np.array([[1, 0, 3, 0]], np.int16)
    got = run("gaussian_blur", img, backend, (0, 0), ksize=(1, 3), mode="constant", cval=0)
    # exact values: 0.5, 1.0, 1.5, 0.75 -> round half up: 1, 1, 2, 1
    np.testing.assert_array_equal(got, [[1, 1, 2, 1]])
    neg = run("gaussian_blur", -img, backend, (0, 0), ksize=(1, 3), mode="constant", cval=0)
    # -0.5, -1.0, -1.5, -0.75 -> floor(x + 1/2): 0, -1, -1, -1
    np.testing.assert_array_equal(neg, [[0, -1, -1, -1]])


# ---------------------------------------------------------------------------
# gaussian_blur: OpenCV


@pytest.mark.parametrize("ksize", (3, 5, 7, 9))
def test_gaussian_uint8_reproduces_opencv(backend, rng, ksize):
    """cv2.GaussianBlur(img, (k, k), 0): OpenCV's fixed tables, bit-exact for uint8."""
    for shape in ((31, 45), (8, 5)):
        img = random_image(rng, shape, np.uint8)
        for mode in ("nearest", "mirror", "reflect"):
            want = cv2.GaussianBlur(img, (ksize, ksize), 0, borderType=CV2_BORDERS[mode])
            check_exact(run("gaussian_blur", img, backend, 0, ksize=ksize, mode=mode), want, f"{ksize} {mode} {shape}")
    # the brief's two spellings: replicate for "nearest", OpenCV's default border for "mirror"
    img = random_image(rng, (40, 37), np.uint8)
    check_exact(run("gaussian_blur", img, backend, 0, ksize=ksize, mode="nearest"),
                cv2.GaussianBlur(img, (ksize, ksize), 0, borderType=cv2.BORDER_REPLICATE))
    check_exact(run("gaussian_blur", img, backend, 0, ksize=ksize, mode="mirror"),
                cv2.GaussianBlur(img, (ksize, ksize), 0))


@pytest.mark.parametrize("ksize", (3, 5, 7, 9, 11, 15))
def test_gaussian_ksize_sigma_zero_rule_matches_opencv(backend, rng, ksize):
    ty, tx = resolve_gaussian(0, ksize)
    np.testing.assert_allclose(ty, cv2.getGaussianKernel(ksize, 0).ravel(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ty, tx)
    img = random_image(rng, (33, 41), np.float32)
    want = cv2.GaussianBlur(img, (ksize, ksize), 0, borderType=cv2.BORDER_REPLICATE)
    ref.close_float(run("gaussian_blur", img, backend, 0, ksize=ksize), want, data=img)


def test_gaussian_single_pixel_binomial(backend):
    """160 * (6/16) * [1, 4, 6, 4, 1] / 16 = [3.75, 15, 22.5, 15, 3.75]: rounded half up, as cv2 does.

    (The example in the gaussian_blur docstring, [2, 10, 14, 10, 2], is wrong.)
    """
    img = np.zeros((5, 5), np.uint8)
    img[2, 2] = 160
    got = run("gaussian_blur", img, backend, 0, ksize=5)
    np.testing.assert_array_equal(got[2], [4, 15, 23, 15, 4])
    check_exact(got, cv2.GaussianBlur(img, (5, 5), 0, borderType=cv2.BORDER_REPLICATE))


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_gaussian_dtype_float32_promotion(backend, rng, dtype):
    img = random_image(rng, (17, 23), dtype)
    for mode in ("nearest", "constant"):
        got = run("gaussian_blur", img, backend, (0.8, 1.9), mode=mode, cval=CVALS[dtype], dtype=np.float32)
        assert got.dtype == np.float32
        want = ndi.gaussian_filter(img.astype(np.float64), (0.8, 1.9), mode=mode, cval=CVALS[dtype])
        ref.close_float(got, want, data=img)
        assert not np.array_equal(got, np.round(got))  # unrounded


# ---------------------------------------------------------------------------
# unsharp_mask


UNSHARP_PARAMS = ((1.0, 1.0, None), (1.0, 0.37, None), ((0.8, 1.6), 2.5, None), (0.0, 1.5, 5), (1.2, 0.0, None))


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_unsharp_mask_matches_formula(backend, rng, dtype, mode):
    cval = CVALS[dtype]
    for shape in SMALL_SHAPES:
        img = random_image(rng, shape, dtype)
        for sigma, amount, ksize in UNSHARP_PARAMS:
            got = run("unsharp_mask", img, backend, sigma, amount, ksize=ksize, mode=mode, cval=cval)
            want = ref.unsharp_mask(img, *taps(sigma, ksize), amount, mode, cval)
            context = f"{shape} sigma={sigma} amount={amount} {mode}"
            if np.dtype(dtype).kind == "f":
                assert got.dtype == dtype, context
                ref.close_float(got, want, data=img)
            else:
                check_exact(got, want, context)


@pytest.mark.parametrize("dtype", [np.int16, np.float32], ids=lambda d: np.dtype(d).name)
def test_unsharp_mask_batch_in_chunks_equals_per_slice(rng, dtype, monkeypatch):
    """The CPU blurs a few slices at a time: a batch crossing several chunks equals slice-by-slice runs."""
    monkeypatch.setattr(cpu_filters, "UNSHARP_CHUNK_SLICES", 2)
    batch = np.stack([random_image(rng, (17, 23), dtype) for _ in range(5)])
    got = fastct.unsharp_mask(batch, 1.5, amount=0.7, backend="cpu")
    for i in range(5):
        np.testing.assert_array_equal(got[i], fastct.unsharp_mask(batch[i], 1.5, amount=0.7, backend="cpu"))


def test_unsharp_amount_zero_returns_image(backend, rng):
    for dtype in DTYPES:
        img = random_image(rng, (10, 12), dtype)
        np.testing.assert_array_equal(run("unsharp_mask", img, backend, 2.0, 0.0), img)


def test_unsharp_saturates(backend, rng):
    img = random_image(rng, (32, 32), np.uint8)
    for amount in (3.0, 1e20, 1e300, -1e20):  # float32(1e300) is inf: still saturates, never wraps
        got = run("unsharp_mask", img, backend, 1.0, amount)
        check_exact(got, ref.unsharp_mask(img, *taps(1.0), amount), f"amount={amount}")
        assert (got == 0).any() and (got == 255).any()


def test_unsharp_step_edge(backend):
    """A step edge overshoots on both sides: 2 x - blur(x), the blur from scipy rounded half up.

    (The example in the unsharp_mask docstring, [0, -24, 124, 100, 100], is wrong.)
    """
    img = np.zeros((5, 5), np.int16)
    img[:, 2:] = 100
    blurred = ref.round_half_up_saturate(ref.scipy_gaussian(img, 1.0, "nearest"), np.int16)
    got = run("unsharp_mask", img, backend, 1.0, 1.0)
    np.testing.assert_array_equal(got, 2 * img - blurred)
    np.testing.assert_array_equal(got[2], [-6, -30, 130, 106, 100])


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_unsharp_dtype_float32_promotion(backend, rng, dtype):
    info = np.iinfo(dtype)
    img = rng.integers(info.min, int(info.max) + 1, (17, 23)).astype(dtype)  # full range
    got = run("unsharp_mask", img, backend, 1.0, 1.5, mode="reflect", dtype=np.float32)
    assert got.dtype == np.float32
    want = ref.unsharp_mask(img, *taps(1.0), 1.5, "reflect", promote=True)
    ref.close_float(got, want, data=img)
    assert want.min() < info.min or want.max() > info.max  # the promoted result leaves the integer range


# ---------------------------------------------------------------------------
# sharpen


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sharpen_matches_formula(backend, rng, dtype, mode):
    cval = CVALS[dtype]
    for shape in SMALL_SHAPES:
        img = random_image(rng, shape, dtype)
        for neighbours in (4, 8):
            for amount in (1.0, 0.37, 2.5, -0.5):
                got = run("sharpen", img, backend, amount, neighbours=neighbours, mode=mode, cval=cval)
                want = ref.sharpen(img, amount, neighbours, mode, cval)
                context = f"{shape} n={neighbours} amount={amount} {mode}"
                if np.dtype(dtype).kind == "f":
                    assert got.dtype == dtype, context
                    ref.close_float(got, want, data=8 * img)
                else:
                    check_exact(got, want, context)


@pytest.mark.parametrize("mode", ("nearest", "mirror", "reflect", "constant"))  # filter2D rejects BORDER_WRAP
@pytest.mark.parametrize("dtype", (np.uint8, np.int16, np.float32), ids=lambda d: np.dtype(d).name)
def test_sharpen_matches_opencv_filter2d(backend, rng, dtype, mode):
    """The default is cv2.filter2D with [[0,-1,0],[-1,5,-1],[0,-1,0]] (saturating for integers)."""
    border = cv2.BORDER_CONSTANT if mode == "constant" else CV2_BORDERS[mode]  # cv2 pads constant with 0
    for shape in ((31, 45), (3, 4)):
        img = random_image(rng, shape, dtype)
        for neighbours, amount in ((4, 1.0), (8, 1.0), (4, 2.0)):
            kernel = ref.sharpen_kernel(neighbours, amount)
            if neighbours == 4 and amount == 1.0:
                np.testing.assert_array_equal(kernel, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
            want = cv2.filter2D(img, -1, kernel, borderType=border)
            got = run("sharpen", img, backend, amount, neighbours=neighbours, mode=mode, cval=0)
            if dtype == np.float32:
                ref.close_float(got, want, data=9 * img)
            else:
                check_exact(got, want, f"{shape} n={neighbours} amount={amount} {mode}")


def test_sharpen_docstring_example(backend):
    img = np.zeros((3, 5), np.int16)
    img[:, 2:] = 10
    np.testing.assert_array_equal(run("sharpen", img, backend)[1], [0, -10, 20, 10, 10])


def test_sharpen_huge_amount_saturates(backend):
    img = np.zeros((5, 5), np.uint8)
    img[2, 2] = 100
    for amount in (1e20, 1e300):  # centre Laplacian > 0 -> 255; its neighbours < 0 -> 0; flat 0 stays 0
        got = run("sharpen", img, backend, amount)
        expected = np.zeros((5, 5), np.uint8)
        expected[2, 2] = 255
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_sharpen_dtype_float32_promotion(backend, rng, dtype):
    info = np.iinfo(dtype)
    img = rng.integers(info.min, int(info.max) + 1, (17, 23)).astype(dtype)  # full range
    for neighbours in (4, 8):
        got = run("sharpen", img, backend, 0.75, neighbours=neighbours, mode="wrap", dtype=np.float32)
        assert got.dtype == np.float32
        want = ref.sharpen(img, 0.75, neighbours, "wrap", promote=True)
        ref.close_float(got, want, data=9 * img.astype(np.float64))
        assert want.min() < info.min or want.max() > info.max


def test_sharpen_512_matches_opencv(backend, rng):
    img = random_image(rng, (512, 512), np.uint8)
    got = run("sharpen", img, backend, mode="mirror")
    check_exact(got, cv2.filter2D(img, -1, ref.sharpen_kernel(4, 1.0)), "512x512")
    assert (got == 0).any() and (got == 255).any()  # saturation at both ends really happened


# ---------------------------------------------------------------------------
# bands, batches, layouts, out=

CALLS = {  # op -> (positional args, keyword args, NumPy reference of a 2-D slice)
    "gaussian_blur": ((1.4,), {"mode": "reflect"}, lambda s: ref.gaussian_fixed_point(s, *taps(1.4), "reflect")),
    "unsharp_mask": ((1.0, 0.8), {"mode": "mirror"}, lambda s: ref.unsharp_mask(s, *taps(1.0), 0.8, "mirror")),
    "sharpen": ((1.3,), {"neighbours": 8, "mode": "wrap"}, lambda s: ref.sharpen(s, 1.3, 8, "wrap")),
}


@pytest.mark.parametrize("band", (1, 3, 5))
@pytest.mark.parametrize("op", OPS)
def test_band_boundaries(backend, rng, monkeypatch, op, band):
    """Bands of a few rows: every image crosses band boundaries, halos taller than a band included."""
    monkeypatch.setattr(cpu_filters, "BAND_ROWS", band)
    args, kwargs, reference = CALLS[op]
    for shape in ((7, 9), (17, 5), (2, 6)):
        img = random_image(rng, shape, np.int16)
        check_exact(run(op, img, backend, *args, **kwargs), reference(img), f"{shape}")
        flt = random_image(rng, shape, np.float32)
        got = run(op, flt, backend, *args, **kwargs)
        if op == "gaussian_blur":
            want = ref.gaussian_float64(flt, *taps(1.4), "reflect")
        elif op == "unsharp_mask":
            want = ref.unsharp_mask(flt, *taps(1.0), 0.8, "mirror")
        else:
            want = ref.sharpen(flt, 1.3, 8, "wrap")
        ref.close_float(got, want, data=9 * flt)


@pytest.mark.parametrize("op", OPS)
def test_batch_equals_per_slice(backend, rng, monkeypatch, op):
    monkeypatch.setattr(cpu_filters, "BAND_ROWS", 3)
    args, kwargs, reference = CALLS[op]
    for dtype in (np.uint16, np.float32):
        batch = random_image(rng, (4, 17, 23), dtype)
        got = run(op, batch, backend, *args, **kwargs)
        assert got.shape == batch.shape and got.dtype == np.dtype(dtype)
        for i, s in enumerate(batch):
            np.testing.assert_array_equal(got[i], run(op, s, backend, *args, **kwargs))
            if dtype == np.uint16:
                np.testing.assert_array_equal(got[i], reference(s))
        assert not np.array_equal(got[0], got[1])


@pytest.mark.parametrize("op", OPS)
def test_2d_in_2d_out_and_3d_in_3d_out(backend, rng, op):
    img = random_image(rng, (6, 7), np.int16)
    assert run(op, img, backend).shape == (6, 7)
    assert run(op, img[None], backend).shape == (1, 6, 7)


@pytest.mark.parametrize("promote", (False, True))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_empty_batch(backend, op, dtype, promote):
    extra = {"dtype": np.float32} if promote else {}
    res = getattr(fastct, op)(on_backend(np.zeros((0, 5, 7), dtype), backend), backend=backend, **extra)
    assert res.shape == (0, 5, 7)
    assert res.dtype == (np.float32 if promote else np.dtype(dtype))


@pytest.mark.parametrize("op", OPS)
def test_out_is_written_and_returned(backend, rng, op):
    args, kwargs, reference = CALLS[op]
    img = random_image(rng, (3, 11, 13), np.int16)
    want = np.stack([reference(s) for s in img])
    out = on_backend(np.zeros(img.shape, np.int16), backend)
    res = getattr(fastct, op)(on_backend(img, backend), *args, backend=backend, out=out, **kwargs)
    assert res is out
    check_exact(to_numpy(out), want)
    out2 = on_backend(np.zeros(img.shape[1:], np.int16), backend)
    assert getattr(fastct, op)(on_backend(img[2], backend), *args, backend=backend, out=out2, **kwargs) is out2
    check_exact(to_numpy(out2), want[2])
    # a promoted result goes into a float32 out
    out3 = on_backend(np.zeros(img.shape, np.float32), backend)
    res3 = getattr(fastct, op)(on_backend(img, backend), *args, backend=backend, out=out3, dtype=np.float32, **kwargs)
    assert res3 is out3 and not np.all(to_numpy(out3) == 0)


@pytest.mark.parametrize("op", OPS)
def test_in_place(backend, rng, op):
    args, kwargs, reference = CALLS[op]
    host = random_image(rng, (2, 19, 21), np.uint16)
    want = np.stack([reference(s) for s in host])
    img = on_backend(host.copy(), backend)
    res = getattr(fastct, op)(img, *args, backend=backend, out=img, **kwargs)
    assert res is img
    check_exact(to_numpy(img), want)


@pytest.mark.parametrize("op", OPS)
def test_input_not_modified(backend, rng, op):
    args, kwargs, _ = CALLS[op]
    for dtype in (np.uint8, np.float32):
        host = random_image(rng, (2, 15, 16), dtype)
        img = on_backend(host.copy(), backend)
        res = run(op, img, backend, *args, **kwargs)
        np.testing.assert_array_equal(to_numpy(img), host)
        assert not np.array_equal(res, host)
        run(op, img, backend, *args, dtype=np.float32, **kwargs)  # promotion converts a copy
        np.testing.assert_array_equal(to_numpy(img), host)


# ---------------------------------------------------------------------------
# real CT


def test_ct_slice_gaussian(backend, ct_slice):
    for sigma, mode in ((1.0, "nearest"), ((0.6, 2.2), "mirror")):
        got = run("gaussian_blur", ct_slice, backend, sigma, mode=mode)
        check_exact(got, ref.gaussian_fixed_point(ct_slice, *taps(sigma), mode), f"CT {sigma} {mode}")
        near = ref.round_half_up_saturate(ref.scipy_gaussian(ct_slice, sigma, mode), np.int16)
        assert np.abs(got.astype(np.int64) - near).max() <= 1
        flt = run("gaussian_blur", ct_slice, backend, sigma, mode=mode, dtype=np.float32)
        ref.close_float(flt, ref.scipy_gaussian(ct_slice, sigma, mode), data=ct_slice)


def test_ct_slice_unsharp_and_sharpen(backend, ct_slice):
    check_exact(run("unsharp_mask", ct_slice, backend, 1.5, 0.7),
                ref.unsharp_mask(ct_slice, *taps(1.5), 0.7), "CT unsharp")
    check_exact(run("sharpen", ct_slice, backend), ref.sharpen(ct_slice), "CT sharpen")
    check_exact(run("sharpen", ct_slice, backend, mode="mirror"),
                cv2.filter2D(ct_slice, -1, ref.sharpen_kernel()), "CT sharpen vs cv2")


# ---------------------------------------------------------------------------
# bad parameters

BAD_GAUSSIAN = (
    ({"sigma": -1.0}, "sigma"),
    ({"sigma": (1.0, -0.5)}, "sigma"),
    ({"sigma": float("nan")}, "sigma"),
    ({"sigma": (1.0, 2.0, 3.0)}, "sigma"),
    ({"sigma": "1"}, "sigma"),
    ({"sigma": 5000.0}, "sigma"),  # a kernel wider than any slice
    ({"ksize": 4}, "ksize"),
    ({"ksize": 0}, "ksize"),
    ({"ksize": (3, 6)}, "ksize"),
    ({"ksize": 3.0}, "ksize"),
    ({"truncate": 0.0}, "truncate"),
    ({"mode": "bogus"}, "mode"),
    ({"mode": "constant", "cval": -1}, "cval"),  # uint8 image below
    ({"mode": "constant", "cval": 300}, "cval"),
    ({"mode": "constant", "cval": 2.5}, "cval"),
    ({"dtype": np.float64}, "dtype"),
    ({"dtype": np.int32}, "dtype"),
)


@pytest.mark.parametrize("kwargs, argument", BAD_GAUSSIAN, ids=[f"{a}-{i}" for i, (_, a) in enumerate(BAD_GAUSSIAN)])
@pytest.mark.parametrize("op", ("gaussian_blur", "unsharp_mask"))
def test_bad_gaussian_parameters(backend, op, kwargs, argument):
    img = on_backend(np.zeros((5, 5), np.uint8), backend)
    with pytest.raises(fastct.FastCTError, match=argument) as info:
        getattr(fastct, op)(img, backend=backend, **kwargs)
    assert isinstance(info.value, (ValueError, TypeError))


BAD_SHARPEN = (
    ({"amount": float("inf")}, "amount"),
    ({"amount": "2"}, "amount"),
    ({"neighbours": 6}, "neighbours"),
    ({"mode": "edge"}, "mode"),
    ({"mode": "constant", "cval": -1}, "cval"),
    ({"dtype": np.uint16}, "dtype"),
)


@pytest.mark.parametrize("kwargs, argument", BAD_SHARPEN, ids=[f"{a}-{i}" for i, (_, a) in enumerate(BAD_SHARPEN)])
def test_bad_sharpen_parameters(backend, kwargs, argument):
    img = on_backend(np.zeros((5, 5), np.uint8), backend)
    with pytest.raises(fastct.FastCTError, match=argument) as info:
        fastct.sharpen(img, backend=backend, **kwargs)
    assert isinstance(info.value, (ValueError, TypeError))
    if "amount" in kwargs:
        with pytest.raises(fastct.FastCTError, match="amount"):
            fastct.unsharp_mask(img, 1.0, kwargs["amount"], backend=backend)


@pytest.mark.parametrize("op", OPS)
def test_cval_is_ignored_outside_mode_constant(backend, rng, op):
    """A cval that does not fit the dtype is harmless where no mode reads it."""
    args, kwargs, reference = CALLS[op]
    img = random_image(rng, (9, 10), np.int16)
    check_exact(run(op, img, backend, *args, **dict(kwargs, cval=1e30)), reference(img))
    flt = random_image(rng, (9, 10), np.float32)
    np.testing.assert_array_equal(run(op, flt, backend, *args, **dict(kwargs, cval=1e300)),
                                  run(op, flt, backend, *args, **kwargs))
