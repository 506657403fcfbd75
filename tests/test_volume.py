"""Volumes: ``axes=(0, 1, 2)``, voxel spacing in mm, 3-D footprints, against scipy.ndimage.

Integer morphology must equal scipy.ndimage's ``grey_erosion``/``grey_dilation``
(and opening/closing) bit for bit with the same footprint and mode; the float
Gaussian agrees with ``gaussian_filter`` (same truncate) to float32 rounding;
integer Gaussians are within one grey level (the z pass is rounded to the
dtype before the exact in-plane pass). The default axes stay per slice.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from conftest import BORDER_MODES, random_image

import fastct
from fastct import FastCTError
from fastct._shared import volume as vol

VOLUME_SHAPES = ((1, 17, 23), (3, 17, 23), (9, 8, 11), (2, 1, 5))
MORPHOLOGY = {
    "erode": (fastct.erode, ndi.grey_erosion),
    "dilate": (fastct.dilate, ndi.grey_dilation),
    "opening": (fastct.opening, ndi.grey_opening),
    "closing": (fastct.closing, ndi.grey_closing),
}
CVALS = {np.uint8: 100, np.uint16: 30000, np.int16: 500, np.float32: 0.25}


def footprints(rng):
    odd = rng.random((3, 5, 3)) < 0.4
    odd[1, 2, 1] = True
    return {
        "box3": np.ones((3, 3, 3), bool),
        "box5x3x7": np.ones((5, 3, 7), bool),
        "ball1": fastct.ball(1),
        "ball2": fastct.ball(2),
        "random": odd,
        "z_only": np.ones((3, 1, 1), bool),
    }


@pytest.fixture
def small_slabs(monkeypatch):
    """Slabs of two slices, so every small volume crosses slab boundaries."""
    monkeypatch.setattr(vol, "SLAB_SLICES", 2)


@pytest.mark.parametrize("op", list(MORPHOLOGY))
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_morphology_equals_scipy(rng, small_slabs, op, mode):
    ours, ref = MORPHOLOGY[op]
    for shape in VOLUME_SHAPES:
        img = random_image(rng, shape, np.int16)
        for name, fp in footprints(rng).items():
            got = ours(img, footprint=fp, axes=(0, 1, 2), mode=mode, cval=500, backend="cpu")
            want = ref(img, footprint=fp, mode=mode, cval=500)
            assert np.array_equal(got, want), (op, mode, shape, name)


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16, np.float32, np.float64))
def test_morphology_dtypes(rng, dtype):
    img = random_image(rng, (5, 17, 23), dtype)
    for fp in (np.ones((3, 3, 3), bool), fastct.ball(2)):
        got = fastct.erode(img, footprint=fp, axes=(0, 1, 2), mode="constant", cval=CVALS.get(dtype, 1),
                           backend="cpu")
        assert got.dtype == img.dtype
        assert np.array_equal(got, ndi.grey_erosion(img, footprint=fp, mode="constant", cval=CVALS.get(dtype, 1)))


def test_size_and_shape_build_the_footprint(rng):
    img = random_image(rng, (6, 17, 23), np.int16)
    box = fastct.erode(img, 3, axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(box, ndi.grey_erosion(img, size=(3, 3, 3), mode="nearest"))
    per_axis = fastct.dilate(img, (5, 1, 3), axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(per_axis, ndi.grey_dilation(img, size=(5, 1, 3), mode="nearest"))
    ball = fastct.erode(img, 5, shape="ball", axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(ball, ndi.grey_erosion(img, footprint=fastct.ball(2), mode="nearest"))


def test_axes_order_follows_the_values(rng):
    img = random_image(rng, (6, 9, 11), np.uint16)
    a = fastct.erode(img, (3, 5, 1), axes=(0, 1, 2), backend="cpu")
    b = fastct.erode(img, (1, 3, 5), axes=(2, 0, 1), backend="cpu")
    assert np.array_equal(a, b)
    z_only = fastct.dilate(img, 5, axes=(0,), backend="cpu")
    assert np.array_equal(z_only, ndi.grey_dilation(img, size=(5, 1, 1), mode="nearest"))


def test_default_axes_stay_per_slice(rng):
    img = random_image(rng, (4, 17, 23), np.int16)
    for op in (fastct.erode, fastct.opening):
        base = op(img, 3, backend="cpu")
        assert np.array_equal(op(img, 3, axes=(1, 2), backend="cpu"), base)
        assert np.array_equal(op(img, 3, axes=(-2, -1), backend="cpu"), base)
        assert np.array_equal(op(img[1], 3, axes=(0, 1), backend="cpu"), base[1])
    g = fastct.gaussian_blur(img, 1.3, backend="cpu")
    assert np.array_equal(fastct.gaussian_blur(img, (1.3, 1.3), axes=(1, 2), backend="cpu"), g)
    assert np.array_equal(fastct.gaussian_blur(img, (0.0, 1.3, 1.3), axes=(0, 1, 2), backend="cpu"), g)


def test_ball_matches_skimage():
    morphology = pytest.importorskip("skimage.morphology")
    for r in range(5):
        assert np.array_equal(fastct.ball(r), morphology.ball(r))
    assert np.array_equal(fastct.ball(2.0, spacing=(1.0, 1.0, 1.0)), fastct.ball(2))
    anisotropic = fastct.ball(2.0, spacing=(2.5, 0.7, 0.7))
    assert anisotropic.shape == (1, 5, 5)
    assert np.array_equal(anisotropic[0], fastct.disk(2))


def test_sizes_in_mm(rng):
    img = random_image(rng, (7, 17, 23), np.int16)
    # 3 mm on 2.5 x 0.7 x 0.7 mm voxels: 1 slice (3 / 2.5 = 1.2 -> nearest odd 1), 5 pixels (4.29 -> 5)
    got = fastct.erode(img, 3.0, spacing=(2.5, 0.7, 0.7), axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(got, fastct.erode(img, 5, backend="cpu"))
    got = fastct.erode(img, 6.0, spacing=(2.5, 0.7, 0.7), axes=(0, 1, 2), backend="cpu")  # 2.4 -> 3 slices, 8.57 -> 9
    assert np.array_equal(got, ndi.grey_erosion(img, size=(3, 9, 9), mode="nearest"))
    assert vol.mm_to_odd(3.0, 0.7) == 5 and vol.mm_to_odd(3.0, 2.5) == 1 and vol.mm_to_odd(6.0, 2.5) == 3


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_gaussian_float_equals_scipy(rng, small_slabs, mode):
    for shape in VOLUME_SHAPES:
        img = random_image(rng, shape, np.float32)
        for sigma in ((0.8, 1.5, 1.2), 1.0, (2.0, 0.0, 0.7)):
            got = fastct.gaussian_blur(img, sigma, axes=(0, 1, 2), mode=mode, cval=0.25, backend="cpu")
            want = ndi.gaussian_filter(img.astype(np.float64), sigma, mode=mode, cval=0.25)
            scale = float(np.abs(img).max())
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * scale, err_msg=f"{mode} {shape} {sigma}")


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16, np.int16))
def test_gaussian_integers_within_one_level(rng, small_slabs, dtype):
    img = random_image(rng, (7, 17, 23), dtype)
    for mode in BORDER_MODES:
        got = fastct.gaussian_blur(img, (0.7, 1.4, 1.4), axes=(0, 1, 2), mode=mode, cval=CVALS[dtype], backend="cpu")
        want = ndi.gaussian_filter(img.astype(np.float64), (0.7, 1.4, 1.4), mode=mode, cval=CVALS[dtype])
        assert got.dtype == dtype
        assert np.abs(got.astype(np.float64) - want).max() <= 1.0
    as_float = fastct.gaussian_blur(img, 1.0, axes=(0, 1, 2), dtype=np.float32, backend="cpu")
    want = ndi.gaussian_filter(img.astype(np.float64), 1.0, mode="nearest")
    np.testing.assert_allclose(as_float, want, atol=2e-6 * float(np.abs(img).max()))


def test_gaussian_spacing_is_sigma_over_spacing(rng):
    img = random_image(rng, (6, 30, 31), np.int16)
    mm = fastct.gaussian_blur(img, 2.0, spacing=(2.5, 0.7, 0.7), axes=(0, 1, 2), backend="cpu")
    px = fastct.gaussian_blur(img, (0.8, 2.0 / 0.7, 2.0 / 0.7), axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(mm, px)
    per_slice = fastct.gaussian_blur(img, 2.0, spacing=(0.7, 0.7), backend="cpu")  # in-plane mm
    assert np.array_equal(per_slice, fastct.gaussian_blur(img, 2.0 / 0.7, backend="cpu"))


def test_unsharp_and_sharpen_in_3d(rng, small_slabs):
    img = random_image(rng, (5, 17, 23), np.int16)
    blurred = fastct.gaussian_blur(img, 1.0, axes=(0, 1, 2), backend="cpu")
    sharp = fastct.unsharp_mask(img, 1.0, 1.5, axes=(0, 1, 2), backend="cpu")
    want = np.clip(img + np.rint(np.float32(1.5) * (img.astype(np.float32) - blurred)), -32768, 32767)
    assert np.array_equal(sharp, want.astype(np.int16))
    for neighbours in (6, 26):
        kernel = -np.ones((3, 3, 3))
        if neighbours == 6:
            kernel[:] = 0
            kernel[1, 1, :] = kernel[1, :, 1] = kernel[:, 1, 1] = -1
        kernel[1, 1, 1] = neighbours + 1
        for mode in BORDER_MODES:
            got = fastct.sharpen(img, neighbours=neighbours, axes=(0, 1, 2), mode=mode, cval=500, dtype=np.float32,
                                 backend="cpu")
            want = ndi.correlate(img.astype(np.float64), kernel, mode=mode, cval=500)
            np.testing.assert_allclose(got, want, atol=1e-3)
    classic = fastct.sharpen(img, neighbours=4, axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(classic, fastct.sharpen(img, neighbours=6, axes=(0, 1, 2), backend="cpu"))


@pytest.mark.parametrize("kind", ("gaussian", "ideal", "butterworth"))
def test_frequency_filters_in_3d(rng, kind):
    img = random_image(rng, (6, 16, 21), np.float32)
    low = fastct.lowpass(img, 0.2, kind=kind, axes=(0, 1, 2), backend="cpu")
    high = fastct.highpass(img, 0.2, kind=kind, axes=(0, 1, 2), backend="cpu")
    spectrum = np.fft.rfftn(img.astype(np.float64))
    response = vol.volume_response(img.shape, 0.2, kind, 2, False).astype(np.float64)
    want = np.fft.irfftn(spectrum * response, s=img.shape, axes=(0, 1, 2))
    scale = float(np.abs(img).max())
    np.testing.assert_allclose(low, want, atol=1e-5 * scale)
    np.testing.assert_allclose(low + high, img, atol=1e-5 * scale)
    padded = fastct.lowpass(img, 0.2, kind=kind, pad=True, axes=(0, 1, 2), backend="cpu")
    assert padded.shape == img.shape and padded.dtype == img.dtype


def test_equalize_hist_one_histogram_per_volume(rng):
    img = random_image(rng, (4, 17, 23), np.int16)
    got = fastct.equalize_hist(img, axes=(0, 1, 2), backend="cpu")
    want = fastct.equalize_hist(img.reshape(1, -1, 23), backend="cpu").reshape(img.shape)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, fastct.equalize_hist(img, backend="cpu"))
    mask = np.zeros(img.shape, bool)
    mask[1:3, 4:12, 5:15] = True  # empty slices are fine: one histogram for the volume
    masked = fastct.equalize_hist(img, mask=mask, axes=(0, 1, 2), backend="cpu")
    want = fastct.equalize_hist(img.reshape(1, -1, 23), mask=mask.reshape(1, -1, 23), backend="cpu")
    assert np.array_equal(masked, want.reshape(img.shape))


@pytest.mark.parametrize("dtype", (np.int16, np.uint8, np.float32))
def test_clahe_volume_of_one_slice_is_the_2d_clahe(rng, dtype):
    # one z tile over one slice: the 3-D histograms, clipping and interpolation reduce to the 2-D op's
    for shape, tiles, clip in (((1, 16, 20), (4, 4), 2.0), ((1, 15, 19), (4, 3), 3.0), ((1, 9, 7), (2, 2), 0.0)):
        img = random_image(rng, shape, dtype)
        for out in (np.float32, np.uint8, np.uint16):
            got = fastct.clahe(img, tiles=(1,) + tiles, clip_limit=clip, dtype=out, axes=(0, 1, 2), backend="cpu")
            want = fastct.clahe(img, tiles=tiles, clip_limit=clip, dtype=out, backend="cpu")
            assert np.array_equal(got, want), (shape, tiles, clip, out)


def test_clahe_volume_mixes_slices(rng):
    img = random_image(rng, (6, 16, 20), np.int16)
    img[3:] += 800  # brighter lower half of the volume
    vol = fastct.clahe(img, tiles=(2, 2, 2), axes=(0, 1, 2), backend="cpu")
    assert vol.shape == img.shape and vol.dtype == np.float32
    assert 0.0 <= float(vol.min()) and float(vol.max()) <= 1.0
    assert not np.array_equal(vol, fastct.clahe(img, tiles=(2, 2), backend="cpu"))
    assert fastct.ops.plan("clahe", axes=(0, 1, 2)).params["tiles"] == (8, 8, 8)  # the default pair serves z too
    same = fastct.clahe(img, tiles=2, axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(same, vol)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda v: fastct.erode(v, 3, axes=(0, 3)), "axes"),
        (lambda v: fastct.erode(v, 3, axes=(1, 1)), "axes"),
        (lambda v: fastct.erode(v, 3, axes=(-4, 1, 2)), "axes"),
        (lambda v: fastct.erode(v, 3, axes="z"), "axes"),
        (lambda v: fastct.erode(v[0], 3, axes=(0, 1, 2)), "axes"),
        (lambda v: fastct.erode(v, 3, axes=(0, 1, 2), spacing=(1.0, 0.0, 1.0)), "spacing"),
        (lambda v: fastct.erode(v, 3, axes=(0, 1, 2), spacing=(1.0, -1.0, 1.0)), "spacing"),
        (lambda v: fastct.erode(v, 3, axes=(0, 1, 2), spacing=(1.0, 1.0)), "spacing"),
        (lambda v: fastct.gaussian_blur(v, 1.0, axes=(0, 1, 2), spacing=(1.0, 1.0, 1.0, 1.0)), "spacing"),
        (lambda v: fastct.erode(v, footprint=np.ones((3, 3), bool), axes=(0, 1, 2)), "footprint"),
        (lambda v: fastct.erode(v, footprint=np.ones((3, 3, 3), bool)), "footprint"),
        (lambda v: fastct.erode(v, footprint=np.ones((2, 3, 3), bool), axes=(0, 1, 2)), "footprint"),
        (lambda v: fastct.erode(v, (3, 3), axes=(0, 1, 2)), "size"),
        (lambda v: fastct.erode(v, 4, axes=(0, 1, 2)), "size"),
        (lambda v: fastct.erode(v, 3, shape="disk", axes=(0, 1, 2)), "shape"),
        (lambda v: fastct.gaussian_blur(v, (1.0, 2.0), axes=(0, 1, 2)), "sigma"),
        (lambda v: fastct.sharpen(v, axes=(0, 1)), "axes"),
        (lambda v: fastct.clahe(v, axes=(0, 1)), "axes"),
        (lambda v: fastct.clahe(v, tiles=(2, 2, 2, 2), axes=(0, 1, 2)), "tiles"),
        (lambda v: fastct.clahe(v, tiles=0, axes=(0, 1, 2)), "tiles"),
        (lambda v: fastct.ball(2.0, spacing=(1.0, 1.0)), "spacing"),
        (lambda v: fastct.ball(-1), "radius"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    v = np.zeros((3, 9, 9), np.int16)
    with pytest.raises(FastCTError, match=f"^{name}:"):
        call(v)


def test_plan_halo_in_3d():
    step = fastct.ops.plan("erode", footprint=fastct.ball(2), axes=(0, 1, 2))
    assert step.volumetric and step.halo_z == 2 and step.halo == (2, 2)
    step = fastct.ops.plan("closing", (3, 5, 7), axes=(0, 1, 2))
    assert step.halo_z == 2 and step.halo == (4, 6)
    step = fastct.ops.plan("gaussian", (0.8, 1.4, 1.4), axes=(0, 1, 2))
    assert step.halo_z == 3 and step.halo == (6, 6)
    assert not fastct.ops.plan("erode", 3).volumetric
    assert not fastct.ops.plan("gaussian", (0.0, 1.0, 1.0), axes=(0, 1, 2)).volumetric


def test_3d_fft_memory_is_checked_before_allocating(monkeypatch):
    vol = np.zeros((8, 64, 64), np.int16)
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "256K")
    with pytest.raises(FastCTError, match="^pad: a 3-D FFT"):
        fastct.lowpass(vol, 0.2, pad=True, axes=(0, 1, 2), backend="cpu")
    with pytest.raises(FastCTError, match="^image: a 3-D FFT"):
        fastct.lowpass(vol, 0.2, axes=(0, 1, 2), backend="cpu")
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "64M")
    assert fastct.lowpass(vol, 0.2, pad=True, axes=(0, 1, 2), backend="cpu").shape == vol.shape


@pytest.mark.parametrize(("shape", "tiles", "clip"), [((4, 10, 12), (2, 2, 3), 2.0), ((5, 9, 7), (2, 3, 2), 0.0),
                                                      ((3, 8, 8), (4, 2, 2), 1.5)])
def test_clahe_volume_equals_the_reference(rng, shape, tiles, clip):
    from ref_volume import clahe_volume

    img = rng.integers(-40, 60, shape).astype(np.int16)
    got = fastct.clahe(img, tiles=tiles, clip_limit=clip, axes=(0, 1, 2), backend="cpu")
    np.testing.assert_allclose(got, clahe_volume(img, clip, tiles), rtol=0, atol=2e-7)
    got8 = fastct.clahe(img, tiles=tiles, clip_limit=clip, axes=(0, 1, 2), dtype=np.uint8, backend="cpu")
    want8 = clahe_volume(img, clip, tiles, maxval=255.0)
    assert np.abs(got8.astype(np.int64) - want8.astype(np.int64)).max() <= 0


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16, np.int16, np.float32))
def test_clahe_volume_kernel_equals_the_array_code(rng, dtype):
    # the CPU's numba kernels and the array code the GPU runs give the same values
    img = random_image(rng, (5, 13, 17), dtype)
    for kwargs in ({"nbins": None}, {"nbins": 64}, {"nbins": None, "value_range": (-100, 200)}):
        for out in (np.float32, np.uint8, np.uint16):
            step = fastct.ops.plan("clahe", tiles=(2, 3, 2), clip_limit=2.5, dtype=out, axes=(0, 1, 2), **kwargs)
            if dtype == np.float32 and kwargs["nbins"] is None:
                continue  # floats need nbins (the planner's bind gives 256): covered by nbins=64
            nbins = kwargs["nbins"] or 0
            got = np.empty(img.shape, out)
            fastct.cpu.histogram.clahe(img, got, clip_limit=2.5, tiles=step.params["tiles"], nbins=nbins,
                                       value_range=step.params["value_range"], volume=True)
            want = np.empty(img.shape, out)
            vol.clahe_volume(np, img, want, 2.5, step.params["tiles"], nbins, step.params["value_range"])
            assert np.array_equal(got, want), (kwargs, out)
