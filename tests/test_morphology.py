"""erode, dilate, opening, closing: exact against scipy.ndimage, OpenCV and a NumPy loop.

Grey morphology with flat footprints only takes minima and maxima, so every
comparison here is exact (``array_equal``), for every dtype and border mode.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import ref_stencils as ref
import skimage.morphology
from conftest import BORDER_MODES, on_backend, random_image, to_numpy

import fastct
import fastct.cpu.morphology as cpu_morphology

OPS = ("erode", "dilate", "opening", "closing")
MORPH_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
SMALL_SHAPES = ((1, 1), (1, 9), (9, 1), (17, 23))

# Asymmetric, odd (5 x 3), and without its centre pixel: dilation must use the
# reflected footprint and nothing may assume the centre is part of it.
ASYM = np.array(
    [
        [1, 0, 0],
        [1, 1, 0],
        [0, 0, 1],
        [0, 0, 1],
        [1, 0, 1],
    ],
    dtype=bool,
)

# (label, fastct keyword arguments, the same footprint for scipy). Disks come
# from scikit-image, an independent definition of fastct.disk.
FOOTPRINTS = (
    ("square1", {"size": 1}, np.ones((1, 1), bool)),
    ("square3", {}, np.ones((3, 3), bool)),  # the default size
    ("square5", {"size": 5}, np.ones((5, 5), bool)),
    ("square15", {"size": 15}, np.ones((15, 15), bool)),
    ("rect3x7", {"size": (3, 7)}, np.ones((3, 7), bool)),
    ("rect7x1", {"size": (7, 1)}, np.ones((7, 1), bool)),
    ("disk_shape5", {"size": 5, "shape": "disk"}, skimage.morphology.disk(2).astype(bool)),
    ("disk_fp3", {"footprint": fastct.disk(3)}, skimage.morphology.disk(3).astype(bool)),
    ("asym", {"footprint": ASYM}, ASYM),
    ("asym_01", {"footprint": ASYM.astype(np.uint8)}, ASYM),  # 0/1 integers are accepted
)

# A cval inside each dtype's random range, so that it changes both minima and maxima.
CVALS = {np.uint8: 100, np.uint16: 30000, np.int16: 500, np.float32: 0.25, np.float64: -0.5}


def run(op, img, backend, **kwargs):
    """fastct.<op> on the backend, returned as NumPy."""
    return to_numpy(getattr(fastct, op)(on_backend(img, backend), backend=backend, **kwargs))


def check_exact(actual, expected, dtype, context):
    assert actual.dtype == np.dtype(dtype), context
    assert actual.shape == expected.shape, context
    mismatch = np.argwhere(actual != expected)
    assert mismatch.size == 0, f"{context}: {len(mismatch)} pixels differ, first at {mismatch[0].tolist()}"


# ---------------------------------------------------------------------------
# scipy.ndimage, every dtype x border mode x footprint x odd shape


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("dtype", MORPH_DTYPES, ids=lambda d: np.dtype(d).name)
def test_morphology_matches_scipy(backend, rng, dtype, mode):
    cval = CVALS[dtype]
    for shape in SMALL_SHAPES:
        img = random_image(rng, shape, dtype)
        for label, kwargs, fp in FOOTPRINTS:
            for op in OPS:
                got = run(op, img, backend, mode=mode, cval=cval, **kwargs)
                want = ref.scipy_morphology(op, img, fp, mode=mode, cval=cval)
                check_exact(got, want, dtype, f"{op} {label} {shape} {mode}")


@pytest.mark.parametrize("op", OPS)
def test_morphology_512_matches_scipy(backend, rng, op):
    img = random_image(rng, (512, 512), np.int16)
    for kwargs, fp, mode in (
        ({"size": 5}, np.ones((5, 5), bool), "nearest"),
        ({"footprint": fastct.disk(3)}, fastct.disk(3), "reflect"),
    ):
        got = run(op, img, backend, mode=mode, **kwargs)
        check_exact(got, ref.scipy_morphology(op, img, fp, mode=mode), np.int16, f"{op} {mode} 512x512")


def test_morphology_scipy_detects_wrong_reflection(rng):
    """The oracle is sharp: erosion by the asymmetric footprint differs from erosion by its reflection."""
    img = random_image(rng, (17, 23), np.int16)
    reflected = ASYM[::-1, ::-1]
    assert not np.array_equal(ref.scipy_morphology("erode", img, ASYM), ref.scipy_morphology("erode", img, reflected))


# ---------------------------------------------------------------------------
# OpenCV (BORDER_REPLICATE is mode "nearest")


@pytest.mark.parametrize("dtype", (np.uint8, np.int16, np.uint16, np.float32), ids=lambda d: np.dtype(d).name)
def test_erode_dilate_match_opencv(backend, rng, dtype):
    for shape in ((17, 23), (64, 48)):
        img = random_image(rng, shape, dtype)
        for size in (3, 5, 15, (3, 7), (7, 1)):
            kh, kw = (size, size) if isinstance(size, int) else size
            kernel = np.ones((kh, kw), np.uint8)
            for op, cv_op in (("erode", cv2.erode), ("dilate", cv2.dilate)):
                want = cv_op(img, kernel, borderType=cv2.BORDER_REPLICATE)
                got = run(op, img, backend, size=size)
                check_exact(got, want, dtype, f"{op} {size} {shape}")


# ---------------------------------------------------------------------------
# the documented claim: with mode "nearest" outside pixels are simply ignored


@pytest.mark.parametrize("dtype", (np.int16, np.float32), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ("erode", "dilate"))
def test_nearest_ignores_outside_pixels(backend, rng, op, dtype):
    footprints = (
        ({"size": 3}, np.ones((3, 3), bool)),
        ({"size": 15}, np.ones((15, 15), bool)),
        ({"size": (3, 7)}, np.ones((3, 7), bool)),
        ({"size": (7, 1)}, np.ones((7, 1), bool)),
        ({"size": 7, "shape": "disk"}, fastct.disk(3)),
        ({"footprint": fastct.disk(2)}, fastct.disk(2)),
    )
    for shape in SMALL_SHAPES + ((6, 40),):
        img = random_image(rng, shape, dtype)
        for kwargs, fp in footprints:
            got = run(op, img, backend, **kwargs)  # default mode: nearest
            check_exact(got, ref.morphology_ignoring_outside(op, img, fp), dtype, f"{op} {kwargs} {shape}")


def test_ignoring_outside_is_not_nearest_for_arbitrary_footprints(rng):
    """Why the claim is limited to squares, rectangles and disks (and the reference can fail)."""
    img = random_image(rng, (9, 11), np.int16)
    fp = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)  # reads up-left only
    assert not np.array_equal(
        ref.scipy_morphology("dilate", img, fp, mode="nearest"), ref.morphology_ignoring_outside("dilate", img, fp)
    )


# ---------------------------------------------------------------------------
# algebraic properties (independent of any reference)


@pytest.mark.parametrize("op", ("opening", "closing"))
def test_opening_closing_idempotent(backend, rng, op):
    # Exact on a torus (wrap) for any footprint. With "nearest" it holds for
    # squares and disks (outside pixels ignored) but not for asymmetric
    # footprints near the border, where scipy.ndimage is not idempotent either.
    img = random_image(rng, (33, 29), np.int16)
    for kwargs in ({"size": 5}, {"footprint": ASYM, "mode": "wrap"}, {"size": 5, "shape": "disk"}):
        once = run(op, img, backend, **kwargs)
        twice = run(op, once, backend, **kwargs)
        np.testing.assert_array_equal(twice, once, err_msg=f"{op} {kwargs}")
        assert not np.array_equal(once, img)


def test_erode_dilate_order(backend, rng):
    img = random_image(rng, (20, 31), np.uint16)
    e, d = run("erode", img, backend, size=5), run("dilate", img, backend, size=5)
    o, c = run("opening", img, backend, size=5), run("closing", img, backend, size=5)
    assert (e <= o).all() and (o <= img).all() and (img <= c).all() and (c <= d).all()


def test_docstring_example_dark_pixel(backend):
    img = np.zeros((5, 5), np.int16)
    img[2, 2] = -1000
    res = run("erode", img, backend)
    assert (res == -1000).sum() == 9 and (res[1:4, 1:4] == -1000).all()


# ---------------------------------------------------------------------------
# bands, batches, layouts, out=


@pytest.mark.parametrize("band", (1, 3, 5))
@pytest.mark.parametrize("op", OPS)
def test_band_boundaries(backend, rng, monkeypatch, op, band):
    """Small bands make every image cross band boundaries; halos taller than a band included."""
    monkeypatch.setattr(cpu_morphology, "BAND_ROWS", band)
    for shape in ((7, 9), (17, 5)):
        img = random_image(rng, shape, np.uint8)
        for kwargs, fp in (({"size": 3}, np.ones((3, 3), bool)), ({"size": (9, 3)}, np.ones((9, 3), bool)),
                           ({"footprint": ASYM}, ASYM)):
            for mode in ("nearest", "reflect", "constant"):
                got = run(op, img, backend, mode=mode, cval=7, **kwargs)
                check_exact(got, ref.scipy_morphology(op, img, fp, mode, 7), np.uint8, f"{op} {kwargs} {shape} {mode}")


@pytest.mark.parametrize("op", OPS)
def test_batch_equals_per_slice(backend, rng, monkeypatch, op):
    monkeypatch.setattr(cpu_morphology, "BAND_ROWS", 3)
    batch = random_image(rng, (5, 17, 23), np.int16)
    for kwargs, fp in (({"size": 5}, np.ones((5, 5), bool)), ({"footprint": ASYM}, ASYM)):
        got = run(op, batch, backend, mode="mirror", **kwargs)
        assert got.shape == batch.shape and got.dtype == np.int16
        for i, s in enumerate(batch):
            np.testing.assert_array_equal(got[i], run(op, s, backend, mode="mirror", **kwargs))
            np.testing.assert_array_equal(got[i], ref.scipy_morphology(op, s, fp, mode="mirror"))


@pytest.mark.parametrize("op", OPS)
def test_2d_in_2d_out_and_3d_in_3d_out(backend, rng, op):
    img = random_image(rng, (6, 7), np.float32)
    assert run(op, img, backend).shape == (6, 7)
    assert run(op, img[None], backend).shape == (1, 6, 7)


@pytest.mark.parametrize("dtype", MORPH_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_empty_batch(backend, op, dtype):
    res = getattr(fastct, op)(on_backend(np.zeros((0, 5, 7), dtype), backend), backend=backend)
    assert res.shape == (0, 5, 7) and res.dtype == np.dtype(dtype)


@pytest.mark.parametrize("op", OPS)
def test_out_is_written_and_returned(backend, rng, op):
    img = random_image(rng, (3, 11, 13), np.uint16)
    want = np.stack([ref.scipy_morphology(op, s, np.ones((3, 3), bool)) for s in img])
    out = on_backend(np.zeros(img.shape, np.uint16), backend)
    res = getattr(fastct, op)(on_backend(img, backend), backend=backend, out=out)
    assert res is out
    np.testing.assert_array_equal(to_numpy(out), want)
    out2 = on_backend(np.zeros(img.shape[1:], np.uint16), backend)  # a 2-D slice into a 2-D out
    assert getattr(fastct, op)(on_backend(img[1], backend), backend=backend, out=out2) is out2
    np.testing.assert_array_equal(to_numpy(out2), want[1])


@pytest.mark.parametrize("op", OPS)
def test_in_place(backend, rng, op):
    host = random_image(rng, (2, 19, 21), np.int16)
    want = np.stack([ref.scipy_morphology(op, s, fastct.disk(2)) for s in host])
    img = on_backend(host.copy(), backend)
    res = getattr(fastct, op)(img, footprint=fastct.disk(2), backend=backend, out=img)
    assert res is img
    np.testing.assert_array_equal(to_numpy(img), want)


@pytest.mark.parametrize("op", OPS)
def test_input_not_modified(backend, rng, op):
    host = random_image(rng, (2, 15, 16), np.float32)
    img = on_backend(host.copy(), backend)
    res = run(op, img, backend, size=5)
    np.testing.assert_array_equal(to_numpy(img), host)
    assert not np.array_equal(res, host)


def test_float64_is_kept(backend, rng):
    img = random_image(rng, (12, 13), np.float64) + 1e-9  # not representable in float32
    for op in OPS:
        res = run(op, img, backend, size=3)
        assert res.dtype == np.float64
        np.testing.assert_array_equal(res, ref.scipy_morphology(op, img, np.ones((3, 3), bool)))


# ---------------------------------------------------------------------------
# real CT


@pytest.mark.parametrize("op", OPS)
def test_ct_slice(backend, ct_slice, op):
    assert ct_slice.dtype == np.int16 and ct_slice.min() < -500  # HU, air present
    for kwargs, fp in (({"size": 5}, np.ones((5, 5), bool)), ({"footprint": fastct.disk(2)}, fastct.disk(2))):
        got = run(op, ct_slice, backend, **kwargs)
        check_exact(got, ref.scipy_morphology(op, ct_slice, fp), np.int16, f"CT {op} {kwargs}")


# ---------------------------------------------------------------------------
# bad parameters


BAD = (
    ({"size": 2}, "size"),
    ({"size": 0}, "size"),
    ({"size": -3}, "size"),
    ({"size": (3, 4)}, "size"),
    ({"size": 2.5}, "size"),
    ({"size": (3, 5), "shape": "disk"}, "size"),
    ({"shape": "hexagon"}, "shape"),
    ({"footprint": np.ones((2, 3), bool)}, "footprint"),
    ({"footprint": np.ones((3, 4), bool)}, "footprint"),
    ({"footprint": np.zeros((3, 3), bool)}, "footprint"),
    ({"footprint": np.ones(3, bool)}, "footprint"),
    ({"footprint": np.full((3, 3), 2)}, "footprint"),
    ({"mode": "bogus"}, "mode"),
    ({"mode": "edge"}, "mode"),
    ({"mode": "constant", "cval": -1}, "cval"),  # uint8 image below
    ({"mode": "constant", "cval": 256}, "cval"),
    ({"mode": "constant", "cval": 0.5}, "cval"),
    ({"mode": "constant", "cval": float("nan")}, "cval"),
)


@pytest.mark.parametrize("kwargs, argument", BAD, ids=[f"{a}-{i}" for i, (_, a) in enumerate(BAD)])
@pytest.mark.parametrize("op", OPS)
def test_bad_parameters(backend, op, kwargs, argument):
    img = on_backend(np.zeros((5, 5), np.uint8), backend)
    with pytest.raises(fastct.FastCTError, match=argument) as info:
        getattr(fastct, op)(img, backend=backend, **kwargs)
    assert isinstance(info.value, (ValueError, TypeError))


@pytest.mark.parametrize("op", OPS)
def test_cval_is_ignored_outside_mode_constant(backend, rng, op):
    """A cval that does not fit the dtype is harmless where no mode reads it."""
    img = random_image(rng, (9, 10), np.uint8)
    for mode in ("nearest", "reflect", "mirror", "wrap"):
        got = run(op, img, backend, mode=mode, cval=-1)
        np.testing.assert_array_equal(got, ref.scipy_morphology(op, img, np.ones((3, 3), bool), mode=mode))
