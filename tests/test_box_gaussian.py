"""The box-cascade Gaussian: widths, exactness against an integer oracle, accuracy, method choice.

The CPU kernel (numba, running sums) is checked against two references: an
obviously correct integer convolution with the cascade's composite taps, and
the array version the GPU backend runs (prefix sums), here on NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import ref_stencils as ref
import scipy.ndimage as ndi
from conftest import BORDER_MODES, random_image

import fastct
from fastct import FastCTError
from fastct._shared import box_gaussian as box
from fastct._shared.borders import border_index_map
from fastct._shared.fusion import stages_for_step
from fastct.cpu import filters as cpu_filters
from fastct.datasets import chest_phantom
from fastct.ops import plan

DTYPES = (np.uint8, np.uint16, np.int16, np.float32)
CVALS = {np.uint8: 100, np.uint16: 30000, np.int16: -500, np.float32: 0.25}


def _integer_taps(widths):
    taps = np.ones(1, np.int64)
    for w in widths:
        taps = np.convolve(taps, np.ones(w, np.int64))
    return taps


def _extend(a, axis, radius, mode, cval):
    n = a.shape[axis]
    index = border_index_map(n, radius, radius, mode)
    out = np.take(a, np.where(index < 0, 0, index), axis=axis)
    where = [slice(None)] * a.ndim
    where[axis] = index < 0
    out[tuple(where)] = cval
    return out


def _correlate_valid(a, taps, axis):
    """Exact integer 'valid' correlation along ``axis`` (plain loop over taps)."""
    n = a.shape[axis] - len(taps) + 1
    out = np.zeros(a.shape[:axis] + (n,) + a.shape[axis + 1:], a.dtype)
    for k, t in enumerate(taps):
        sl = [slice(None)] * a.ndim
        sl[axis] = slice(k, k + n)
        out += t * a[tuple(sl)]
    return out


def _floor_half(s, d):
    return (2 * s + d) // (2 * d)


def oracle(image, widths_y, widths_x, mode, cval):
    """The documented result, computed the slow way with Python integers' semantics."""
    ty, tx = _integer_taps(widths_y), _integer_taps(widths_x)
    d_y, d_x = int(ty.sum()), int(tx.sum())
    integer = image.dtype.kind in "iu"
    a = image.astype(np.int64 if integer else np.float64)
    rows = _correlate_valid(_extend(a, 2, len(tx) // 2, mode, cval), tx, 2)
    if not integer:
        rows = rows / d_x
        cval_mid = cval
        divisor = d_y
    else:
        bits = box.mid_bits(widths_y, widths_x)
        if bits is None:
            cval_mid, divisor = int(cval) * d_x, d_y * d_x
        else:
            rows = _floor_half(rows * (1 << bits), d_x)
            cval_mid, divisor = int(cval) << bits, d_y << bits
    total = _correlate_valid(_extend(rows, 1, len(ty) // 2, mode, cval_mid), ty, 1)
    if not integer:
        return (total / divisor).astype(image.dtype)
    info = np.iinfo(image.dtype)
    return np.clip(_floor_half(total, divisor), info.min, info.max).astype(image.dtype)


def assert_box_result(got, want):
    """Integers: the same bits; floats: float32 rounding of the sums."""
    if got.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


# ---------------------------------------------------------------------------
# widths


@pytest.mark.parametrize("sigma", [2.5, 3.75, 4.0, 8.0, 12.3, 20.0, 35.0, 60.0])
def test_widths_fit_the_gaussian(sigma):
    widths = box.box_widths(sigma)
    assert len(widths) == box.BOXES
    assert sum(w % 2 == 0 for w in widths) % 2 == 0  # the cascade stays centred
    taps = box.cascade_taps(widths)
    x = np.arange(len(taps)) - len(taps) // 2
    assert np.allclose(taps, taps[::-1])
    assert abs(np.sqrt((taps * x * x).sum()) - sigma) < 0.08 * sigma + 0.3
    if sigma >= 3:
        assert box.box_error(sigma) < 0.017


def test_sigma_zero_is_the_identity_box():
    assert box.box_widths(0.0) == (1,)
    assert box.box_error(0.0) == 0.0


def test_sums_stay_exact_or_rounded_to_enough_bits():
    w8, w20 = box.box_widths(8.0), box.box_widths(20.0)
    assert box.mid_bits(w8, w8) is None  # sigma 8: one rounding at the end
    bits = box.mid_bits(w20, w20)
    assert box.MIN_FRAC_BITS <= bits <= box.MAX_FRAC_BITS
    d = int(np.prod(w20))
    assert (1 << 17) * d * (1 << bits) <= 1 << 52
    assert not box.supported(box.box_widths(200.0), box.box_widths(200.0))


# ---------------------------------------------------------------------------
# exactness


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("sigma", [(8.0, 8.0), (0.0, 5.0), (24.0, 3.0)])
def test_cpu_kernel_matches_the_integer_oracle(rng, dtype, mode, sigma):
    img = random_image(rng, (2, 19, 27), dtype)
    cval = CVALS[dtype] if mode == "constant" else 0
    wy, wx = box.box_widths(sigma[0]), box.box_widths(sigma[1])
    got = fastct.gaussian_blur(img, sigma, method="box", mode=mode, cval=cval, backend="cpu")
    assert_box_result(got, oracle(img, wy, wx, mode, cval))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("widths", [((5, 9), (3, 3, 3)), ((3, 3, 5, 5, 7, 7), (1,)), ((7,), (3, 3, 5, 5, 7, 7))],
                         ids=["2x3", "6x1", "1x6"])
def test_cpu_kernel_any_box_count_matches_the_oracle(rng, dtype, widths):
    # The sigma-derived cascades have four boxes, which the kernel's fast paths (integer
    # rows as differences then running sums, fused column boxes) assume; other counts
    # are padded with width-1 boxes or take the general box-by-box path.
    wy, wx = widths
    img = random_image(rng, (2, 23, 31), dtype)
    for mode in ("reflect", "constant"):
        cval = CVALS[dtype] if mode == "constant" else 0
        got = np.empty_like(img)
        cpu_filters.box_gaussian(img, got, widths_y=wy, widths_x=wx, mode=mode, cval=cval)
        assert_box_result(got, oracle(img, wy, wx, mode, cval))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 40), (2, 40, 1), (1, 3, 600), (3, 70, 45)])
def test_cpu_kernel_matches_the_array_version(rng, dtype, shape):
    # The array version is what the GPU backend runs (with CuPy): same bits.
    img = random_image(rng, shape, dtype)
    for sigma, mode in [((9.0, 4.0), "reflect"), ((30.0, 30.0), "constant"), ((5.0, 0.0), "wrap")]:
        wy, wx = box.box_widths(sigma[0]), box.box_widths(sigma[1])
        ry, rx = box.radius(wy), box.radius(wx)
        cval = CVALS[dtype] if mode == "constant" else 0
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        lo, hi = (info.min, info.max) if info else (-1, 1)
        want = np.empty_like(img)
        box.box_gaussian_xp(np, img, want, wy, wx, border_index_map(shape[1], ry, ry, mode),
                            border_index_map(shape[2], rx, rx, mode), cval, lo, hi)
        got = np.empty_like(img)
        cpu_filters.box_gaussian(img, got, widths_y=wy, widths_x=wx, mode=mode, cval=cval)
        assert_box_result(got, want)


def test_constant_image_stays_constant(rng):
    img = np.full((2, 50, 60), -1000, np.int16)
    np.testing.assert_array_equal(fastct.gaussian_blur(img, 8, method="box", backend="cpu"), img)
    np.testing.assert_array_equal(fastct.gaussian_blur(img, 20, method="box", backend="cpu"), img)


def test_each_slice_starts_afresh(rng):
    # per-thread rings and sums are reused from slice to slice: nothing may leak
    img = random_image(rng, (5, 33, 70), np.int16)
    img[2] = 30000
    batch = fastct.gaussian_blur(img, 7, method="box", mode="constant", cval=-1000, backend="cpu")
    for i in range(len(img)):
        one = fastct.gaussian_blur(img[i], 7, method="box", mode="constant", cval=-1000, backend="cpu")
        np.testing.assert_array_equal(batch[i], one)


# ---------------------------------------------------------------------------
# accuracy against the exact Gaussian


@pytest.mark.parametrize("sigma", [4.0, 8.0, 16.0])
def test_accuracy_on_ct_is_within_the_stated_bound(sigma):
    ct = chest_phantom(2, 256, seed=3)
    got = fastct.gaussian_blur(ct, sigma, method="box", backend="cpu").astype(np.float64)
    exact = ndi.gaussian_filter(ct.astype(np.float64), (0, sigma, sigma), mode="nearest")
    value_range = float(ct.max()) - float(ct.min())
    err = np.abs(got - exact)
    bound = 2 * box.box_error(sigma) * value_range + 0.5
    assert err.max() <= bound
    assert err.max() <= 0.02 * value_range  # measured: 0.6% (sigma 8, 16) to 1.5% (sigma 4)
    assert err.mean() <= 3.0  # HU; measured 1.3-2.5


def test_float_accuracy_on_noise(rng):
    img = rng.normal(0, 100, (2, 128, 128)).astype(np.float32)
    got = fastct.gaussian_blur(img, 8, method="box", backend="cpu")
    exact = ndi.gaussian_filter(img.astype(np.float64), (0, 8, 8), mode="nearest")
    assert np.abs(got - exact).max() <= 2 * box.box_error(8.0) * float(img.max() - img.min())


@pytest.mark.parametrize("sigma", [2.0, 5.0, 8.0])
def test_default_is_exact_on_real_ct(ct_slice, sigma):
    # The default Gaussian at any sigma: within one grey level (integers) and
    # float32 rounding (floats) of scipy's gaussian_filter with the same truncate.
    ct = ct_slice.astype(np.int16)
    exact = ndi.gaussian_filter(ct.astype(np.float64), sigma, mode="nearest")
    got = fastct.gaussian_blur(ct, sigma, backend="cpu")
    assert np.abs(got.astype(np.float64) - exact).max() <= 1.0
    got32 = fastct.gaussian_blur(ct.astype(np.float32), sigma, backend="cpu")
    np.testing.assert_allclose(got32, exact, rtol=1e-5, atol=1e-5 * float(np.abs(exact).max()))


# ---------------------------------------------------------------------------
# choosing the method


def test_exact_by_default_at_every_sigma_box_only_by_name(rng):
    img = random_image(rng, (2, 40, 40), np.int16)
    for sigma in (1.1, 3.75, 8.0, 16.0):
        assert plan("gaussian_blur", sigma).params["boxes"] is None
        assert plan("unsharp_mask", sigma).params["boxes"] is None
    np.testing.assert_array_equal(fastct.gaussian_blur(img, 8, backend="cpu"),
                                  fastct.gaussian_blur(img, 8, method="exact", backend="cpu"))
    assert not np.array_equal(fastct.gaussian_blur(img, 8, backend="cpu"),
                              fastct.gaussian_blur(img, 8, method="box", backend="cpu"))
    assert plan("gaussian_blur", 3.9, method="box").params["boxes"] == (box.box_widths(3.9),) * 2
    # one wide axis: a cascade per axis (the narrow one a single box of width 1)
    assert plan("gaussian_blur", (0.0, 9.0), method="box").params["boxes"] == ((1,), box.box_widths(9.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unsharp_mask_blurs_with_the_same_method(rng, dtype):
    # unsharp_mask = image + amount * (image - blur), the blur chosen as gaussian_blur chooses it
    img = random_image(rng, (3, 40, 52), dtype)
    assert plan("unsharp_mask", 8, 1.5, method="box").params["boxes"] == (box.box_widths(8.0),) * 2
    assert plan("unsharp_mask", 8, 1.5).params["boxes"] is None
    assert plan("unsharp_mask", 8, 1.5, method="box").halo == plan("gaussian_blur", 8, method="box").halo
    for method in ("box", "exact"):
        got = fastct.unsharp_mask(img, 8, 1.5, method=method, mode="reflect", backend="cpu")
        blurred = fastct.gaussian_blur(img, 8, method=method, mode="reflect", backend="cpu")
        if img.dtype.kind in "iu":
            want = ref.add_scaled(img, img.astype(np.int64) - blurred.astype(np.int64), 1.5)
            np.testing.assert_array_equal(got, want, err_msg=method)
        else:
            x = img.astype(np.float64)
            np.testing.assert_allclose(got, x + 1.5 * (x - blurred), rtol=1e-5, atol=1e-3, err_msg=method)
    # the box and the exact blur really differ (the test could tell one from the other)
    assert not np.array_equal(fastct.unsharp_mask(img, 8, 1.5, method="box", backend="cpu"),
                              fastct.unsharp_mask(img, 8, 1.5, method="exact", backend="cpu"))


def test_method_errors_name_the_argument():
    with pytest.raises(FastCTError, match="method"):
        plan("gaussian_blur", 8, method="iir")
    with pytest.raises(FastCTError, match="method"):
        fastct.unsharp_mask(np.zeros((8, 8), np.int16), 8, method="iir")
    with pytest.raises(FastCTError, match="method"):
        plan("gaussian_blur", 8, ksize=9, method="box")
    with pytest.raises(FastCTError, match="sigma"):
        plan("gaussian_blur", 150, method="box")
    with pytest.raises(FastCTError, match="method: expected 'exact' or 'box'"):
        plan("gaussian_blur", 8, method="auto")


def test_halo_is_the_cascade_radius():
    step = plan("gaussian_blur", 8, method="box")
    assert step.halo == (box.radius(box.box_widths(8.0)),) * 2
    assert stages_for_step(step, np.dtype(np.int16)) is None  # never fused into a stencil chain


def test_pipeline_and_dask_halo_match_the_op(rng):
    da = pytest.importorskip("dask.array")
    img = chest_phantom(4, 96, seed=5)
    want = fastct.gaussian_blur(fastct.erode(img, 3, backend="cpu"), 8, method="box", backend="cpu")
    pipe = fastct.Pipeline("erode:3,gaussian:8:method=box")
    np.testing.assert_array_equal(pipe.run(img, backend="cpu"), want)
    lazy = fastct.process(da.from_array(img, chunks=(2, 40, 50)), "erode:3,gaussian:8:method=box", backend="cpu")
    np.testing.assert_array_equal(lazy.compute(), want)


def test_rounding_division_is_exact_at_ties_and_near_the_limits():
    # the CPU kernel rounds s / d half up with a float estimate and an exact correction
    rng = np.random.default_rng(7)
    d_values = [1, 2, 3, 7, 13 * 13 * 14 * 14, 33124 * 33124, (1 << 26) + 3]
    for d in d_values:
        q = rng.integers(-(1 << 20), 1 << 20, 200)
        s = np.concatenate([q * d, q * d + d // 2, q * d + (d + 1) // 2 - 1, q * d - 1, q * d + d - 1])
        s = s[np.abs(s) < (1 << 52)]
        want = (2 * s + d) // (2 * d)
        got = np.array([cpu_filters._round_half_up_div(float(v), float(d), 1.0 / d) for v in s])
        np.testing.assert_array_equal(got, want.astype(np.float64))
