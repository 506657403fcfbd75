"""lowpass / highpass against the float64 numpy.fft oracle in ref_frequency.py.

Contract checked here (see ``fastct.lowpass``):

* float results (float32 in, or ``dtype=np.float32``) agree with the float64
  reference to 1e-5 relative, the absolute slack scaled to the data range;
* integer results are the float32 result rounded half to even and saturated.
  Against the float64 reference they may differ by one grey level, and only
  where the float64 value lies within float32's error of a ``.5`` rounding
  boundary (``BOUNDARY_BAND`` times the data's magnitude); that is asserted
  pixel by pixel, not absorbed in a tolerance;
* padding equals ``numpy.pad`` with the scipy.ndimage mode, then filter, then crop.
"""

from __future__ import annotations

import numpy as np
import pytest
import ref_frequency as ref
from conftest import BORDER_MODES, ODD_SHAPES, on_backend, random_image, to_numpy

import fastct

OPS = {"lowpass": fastct.lowpass, "highpass": fastct.highpass}
# (kind, order): butterworth at orders 1, 2 and 4; order is ignored by the others.
KINDS = [("ideal", 2), ("gaussian", 2), ("butterworth", 1), ("butterworth", 2), ("butterworth", 4)]
KIND_IDS = ["ideal", "gaussian", "butterworth1", "butterworth2", "butterworth4"]

#: Relative float32 agreement promised for float results.
RTOL = 1e-5
#: Half-width of the band around ``k + 0.5`` where the float32 pipeline may
#: round the other way than float64, relative to the data's peak magnitude.
#: float32 carries 2**-24 ~ 6e-8 relative precision; an FFT round trip
#: accumulates a few of those (measured <= 3.6e-7 * peak on 512 x 512 slices).
BOUNDARY_BAND = 1e-6


def _run(op, image, backend, **kwargs):
    return to_numpy(OPS[op](on_backend(image, backend), backend=backend, **kwargs))


def _atol(image):
    image = np.asarray(image, dtype=np.float64)
    return RTOL * max(float(image.max() - image.min()), float(np.abs(image).max()), 1.0)


def assert_float_close(got, expected, image):
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=_atol(image))


def assert_integer_matches(got, exact, image):
    """``got`` (integer) equals the float64 ``exact`` rounded half to even and
    saturated, except for one-level differences at proven rounding boundaries."""
    dtype = np.dtype(image.dtype)
    assert got.dtype == dtype
    expected = ref.round_to_dtype(exact, dtype)
    diff = got.astype(np.int64) - expected.astype(np.int64)
    assert np.abs(diff).max(initial=0) <= 1, "off by more than one grey level"
    off = diff != 0
    if off.any():
        band = BOUNDARY_BAND * float(np.abs(image.astype(np.float64)).max())
        dist = np.abs(exact[off] - np.floor(exact[off]) - 0.5)
        assert dist.max() <= band, (
            f"{off.sum()} pixels differ from the float64 reference; the worst lies {dist.max():.3g} "
            f"from a rounding boundary (allowed: {band:.3g})"
        )
        # and the difference goes the way float32 rounding can push it: towards the exact value
        assert np.all(np.abs(got[off].astype(np.float64) - exact[off]) <= 0.5 + band)


# ---------------------------------------------------------------------------
# float results against the float64 reference


@pytest.mark.parametrize("op", ["lowpass", "highpass"])
@pytest.mark.parametrize("cutoff", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("kind,order", KINDS, ids=KIND_IDS)
def test_frequency_float32_matches_reference(backend, rng, op, cutoff, kind, order):
    image = random_image(rng, (2, 17, 23), np.float32)
    got = _run(op, image, backend, cutoff=cutoff, kind=kind, order=order)
    exact = ref.filter_batch(image, cutoff, kind, order, highpass=op == "highpass")
    assert_float_close(got, exact, image)


@pytest.mark.parametrize("op", ["lowpass", "highpass"])
def test_frequency_butterworth_order_matters(backend, rng, op):
    # guards the test above against an implementation ignoring ``order``
    image = random_image(rng, (17, 23), np.float32)
    one = _run(op, image, backend, cutoff=0.1, kind="butterworth", order=1)
    four = _run(op, image, backend, cutoff=0.1, kind="butterworth", order=4)
    assert np.abs(one - four).max() > 100 * _atol(image)
    assert_float_close(four, ref.filter_slice(image, 0.1, "butterworth", 4, highpass=op == "highpass"), image)


@pytest.mark.parametrize("shape", ODD_SHAPES + ((10, 10),))
@pytest.mark.parametrize("kind,order", KINDS[:3], ids=KIND_IDS[:3])
def test_frequency_odd_shapes(backend, rng, shape, kind, order):
    image = random_image(rng, shape, np.float32)
    for op in ("lowpass", "highpass"):
        got = _run(op, image, backend, cutoff=0.15, kind=kind, order=order)
        exact = ref.filter_slice(image, 0.15, kind, order, highpass=op == "highpass")
        assert_float_close(got, exact, image)


def test_frequency_one_pixel_is_pure_dc(backend):
    image = np.array([[123.5]], np.float32)
    np.testing.assert_allclose(_run("lowpass", image, backend, cutoff=0.01), image, rtol=1e-6)
    np.testing.assert_allclose(_run("highpass", image, backend, cutoff=0.01), 0.0, atol=1e-4)


@pytest.mark.parametrize("op", ["lowpass", "highpass"])
def test_frequency_512(backend, rng, op):
    image = random_image(rng, (512, 512), np.float32)
    got = _run(op, image, backend, cutoff=0.1, kind="gaussian")
    assert_float_close(got, ref.filter_slice(image, 0.1, "gaussian", highpass=op == "highpass"), image)


def test_frequency_ideal_keeps_a_frequency_exactly_on_the_cutoff(backend):
    # a cosine of exactly 3/10 cycles/pixel passes an ideal cutoff of 0.3 (r <= cutoff),
    # although np.fft.fftfreq(10)[3] is 0.30000000000000004 > float(0.3)
    cols = np.arange(10)
    image = np.tile(100 * np.cos(2 * np.pi * 0.3 * cols), (10, 1)).astype(np.float32)
    kept = _run("lowpass", image, backend, cutoff=0.3, kind="ideal")
    np.testing.assert_allclose(kept, image, atol=1e-3)
    removed = _run("lowpass", image, backend, cutoff=0.29, kind="ideal")
    np.testing.assert_allclose(removed, 0.0, atol=1e-3)
    np.testing.assert_allclose(_run("highpass", image, backend, cutoff=0.3, kind="ideal"), 0.0, atol=1e-3)
    # a diagonal frequency on the cutoff circle: (0.3, 0.4) has radius exactly 0.5
    yy, xx = np.mgrid[:10, :10]
    diag = (100 * np.cos(2 * np.pi * (0.3 * yy + 0.4 * xx))).astype(np.float32)
    np.testing.assert_allclose(_run("lowpass", diag, backend, cutoff=0.5, kind="ideal"), diag, atol=1e-3)
    np.testing.assert_allclose(_run("lowpass", diag, backend, cutoff=0.49, kind="ideal"), 0.0, atol=1e-3)
    assert_float_close(
        _run("lowpass", diag, backend, cutoff=0.5, kind="ideal"), ref.filter_slice(diag, 0.5, "ideal"), diag
    )


# ---------------------------------------------------------------------------
# integers: rounded half to even, saturated


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
@pytest.mark.parametrize("op", ["lowpass", "highpass"])
@pytest.mark.parametrize("kind,order", [KINDS[0], KINDS[1], KINDS[3]], ids=["ideal", "gaussian", "butterworth2"])
def test_frequency_integer_rounds_like_reference(backend, rng, dtype, op, kind, order):
    image = random_image(rng, (3, 31, 40), dtype)
    got = _run(op, image, backend, cutoff=0.12, kind=kind, order=order)
    exact = ref.filter_batch(image, 0.12, kind, order, highpass=op == "highpass")
    assert_integer_matches(got, exact, image)
    # the integer result is exactly the float32 result rounded half to even and saturated
    as_float = _run(op, image, backend, cutoff=0.12, kind=kind, order=order, dtype=np.float32)
    info = np.iinfo(dtype)
    np.testing.assert_array_equal(got, np.clip(np.rint(as_float), info.min, info.max).astype(dtype))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16])
def test_frequency_integer_512(backend, rng, dtype):
    # big slices have many values near a .5 boundary: the one-level
    # differences that show up must all be boundary cases
    image = random_image(rng, (512, 512), dtype)
    got = _run("lowpass", image, backend, cutoff=0.2, kind="butterworth", order=2)
    exact = ref.filter_slice(image, 0.2, "butterworth", 2)
    assert_integer_matches(got, exact, image)


def test_frequency_rounds_half_to_even(backend):
    # the ideal low-pass at 0.3 of a 2 x 2 checkerboard is its mean (only DC is below 0.3),
    # an exact x.5 value: half to even decides
    image = np.array([[10, 13], [13, 10]], np.int16)  # mean 11.5 -> 12 (even)
    got = _run("lowpass", image, backend, cutoff=0.3, kind="ideal")
    np.testing.assert_array_equal(got, np.full((2, 2), 12, np.int16))
    image = np.array([[10, 11], [11, 10]], np.int16)  # mean 10.5 -> 10 (even)
    got = _run("lowpass", image, backend, cutoff=0.3, kind="ideal")
    np.testing.assert_array_equal(got, np.full((2, 2), 10, np.int16))


def test_frequency_saturates(backend):
    # an ideal low-pass rings past a sharp edge: above 255 and below 0 for uint8
    image = np.zeros((16, 32), np.uint8)
    image[:, 8:24] = 255
    exact = ref.filter_slice(image, 0.15, "ideal")
    assert exact.max() > 255.5 and exact.min() < -0.5  # the case really saturates
    got = _run("lowpass", image, backend, cutoff=0.15, kind="ideal")
    assert_integer_matches(got, exact, image)
    assert got.max() == 255 and got.min() == 0
    # highpass of an unsigned image: the negative half is clipped to 0
    exact_hp = ref.filter_slice(image, 0.15, "gaussian", highpass=True)
    assert exact_hp.min() < -10
    got_hp = _run("highpass", image, backend, cutoff=0.15, kind="gaussian")
    assert_integer_matches(got_hp, exact_hp, image)
    assert (got_hp[exact_hp < -0.5] == 0).all()
    # int16 near its limit
    big = np.zeros((16, 32), np.int16)
    big[:, 8:24] = 32767
    exact16 = ref.filter_slice(big, 0.15, "ideal")
    assert exact16.max() > 32767.5
    got16 = _run("lowpass", big, backend, cutoff=0.15, kind="ideal")
    assert got16.max() == 32767 and got16.min() < 0
    assert_integer_matches(got16, exact16, big)


def test_frequency_real_ct(backend, ct_slice):
    exact = ref.filter_slice(ct_slice, 0.08, "gaussian", pad=True)
    got = _run("lowpass", ct_slice, backend, cutoff=0.08, kind="gaussian", pad=True)
    assert_integer_matches(got, exact, ct_slice)
    hp = _run("highpass", ct_slice, backend, cutoff=0.08, kind="butterworth", order=2, dtype=np.float32)
    assert_float_close(hp, ref.filter_slice(ct_slice, 0.08, "butterworth", 2, highpass=True), ct_slice)


# ---------------------------------------------------------------------------
# identities


@pytest.mark.parametrize("kind,order", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("cutoff", [0.05, 0.3, 0.5])
def test_highpass_is_image_minus_lowpass(backend, rng, kind, order, cutoff):
    image = random_image(rng, (2, 19, 16), np.float32)
    low = _run("lowpass", image, backend, cutoff=cutoff, kind=kind, order=order)
    high = _run("highpass", image, backend, cutoff=cutoff, kind=kind, order=order)
    np.testing.assert_allclose(high, image - low, rtol=RTOL, atol=_atol(image))
    assert np.abs(high).max() > 10 * _atol(image)  # not trivially zero


@pytest.mark.parametrize("kind,order", KINDS, ids=KIND_IDS)
def test_lowpass_preserves_dc(backend, rng, kind, order):
    image = random_image(rng, (3, 24, 20), np.float32) + 1000
    low = _run("lowpass", image, backend, cutoff=0.05, kind=kind, order=order)
    np.testing.assert_allclose(low.mean(axis=(1, 2)), image.mean(axis=(1, 2)), rtol=1e-6)
    high = _run("highpass", image, backend, cutoff=0.05, kind=kind, order=order)
    np.testing.assert_allclose(high.mean(axis=(1, 2)), 0.0, atol=1e-5 * 1500)


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_constant_image_passes_lowpass(backend, mode):
    image = np.full((2, 13, 18), -700, np.int16)
    for pad in (False, True, 4):
        got = _run("lowpass", image, backend, cutoff=0.1, pad=pad, mode=mode, cval=-700)
        np.testing.assert_array_equal(got, image)
        hp = _run("highpass", image, backend, cutoff=0.1, pad=pad, mode=mode, cval=-700, dtype=np.float32)
        np.testing.assert_allclose(hp, 0.0, atol=1e-2)


# ---------------------------------------------------------------------------
# padding


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("pad", [True, 3, (2, 5), (0, 4), 30], ids=["true", "3", "2x5", "0x4", "30"])
def test_frequency_padding_matches_numpy_pad(backend, rng, mode, pad):
    image = random_image(rng, (2, 17, 23), np.float32)
    got = _run("lowpass", image, backend, cutoff=0.1, kind="gaussian", pad=pad, mode=mode, cval=250.0)
    exact = ref.filter_batch(image, 0.1, "gaussian", 2, pad=pad, mode=mode, cval=250.0)
    assert_float_close(got, exact, image)
    # the padding really changed the result (the test could tell a missing pad); wrap
    # padding is the FFT's own periodic extension, so only there it changes next to nothing
    if mode != "wrap":
        unpadded = ref.filter_batch(image, 0.1, "gaussian", 2)
        assert np.abs(exact - unpadded).max() > 100 * _atol(image)


@pytest.mark.parametrize("mode", BORDER_MODES)
@pytest.mark.parametrize("pad", [False, (9, 2), 30], ids=["none", "9x2", "30"])
def test_cpu_frequency_row_blocks(monkeypatch, rng, mode, pad):
    # The CPU streams each slice through its spectrum in blocks of rows. With 4-row
    # blocks every block edge (padded rows, a short last block, rows cropped away)
    # is crossed many times, and 5 slices on 3 threads give threads uneven shares.
    import numba

    from fastct.cpu import frequency

    monkeypatch.setattr(frequency, "ROW_BLOCK", 4)
    image = random_image(rng, (5, 17, 23), np.float32)
    threads = numba.get_num_threads()
    numba.set_num_threads(min(3, numba.config.NUMBA_NUM_THREADS))
    try:
        got = _run("highpass", image, "cpu", cutoff=0.15, kind="butterworth", pad=pad, mode=mode, cval=-80.0)
        ints = _run("lowpass", image.astype(np.int16), "cpu", cutoff=0.15, pad=pad, mode=mode, cval=-80.0)
    finally:
        numba.set_num_threads(threads)
    exact = ref.filter_batch(image, 0.15, "butterworth", 2, highpass=True, pad=pad, mode=mode, cval=-80.0)
    assert_float_close(got, exact, image)
    exact_ints = ref.filter_batch(image.astype(np.int16), 0.15, "gaussian", 2, pad=pad, mode=mode, cval=-80.0)
    assert_integer_matches(ints, exact_ints, image.astype(np.int16))


@pytest.mark.parametrize("mode", ["nearest", "mirror", "constant"])
def test_frequency_padding_integer_and_highpass(backend, rng, mode):
    image = random_image(rng, (17, 23), np.int16)
    got = _run("highpass", image, backend, cutoff=0.2, kind="butterworth", order=4, pad=True, mode=mode, cval=-1000)
    exact = ref.filter_slice(image, 0.2, "butterworth", 4, highpass=True, pad=True, mode=mode, cval=-1000)
    assert_integer_matches(got, exact, image)


def test_frequency_pad_zero_axis_stays_periodic(backend, rng):
    # pad=(0, 4): rows are not padded at all, so a wrap-around along rows is unchanged
    image = random_image(rng, (17, 23), np.float32)
    got = _run("lowpass", image, backend, cutoff=0.1, pad=(0, 4), mode="nearest")
    assert_float_close(got, ref.filter_slice(image, 0.1, "gaussian", pad=(0, 4), mode="nearest"), image)
    # same as padding the columns by hand and filtering without padding
    cols = ref.padding_widths((0, 4), 17, 23)[1]
    by_hand = np.pad(image, ((0, 0), cols), mode="edge")
    manual = _run("lowpass", by_hand, backend, cutoff=0.1)[:, cols[0] : cols[0] + 23]
    np.testing.assert_allclose(got, manual, rtol=RTOL, atol=_atol(image))
    assert np.array_equal(
        _run("lowpass", image, backend, cutoff=0.1, pad=0), _run("lowpass", image, backend, cutoff=0.1)
    )


def test_frequency_pad_one_row_slice(backend, rng):
    image = random_image(rng, (1, 9), np.float32)
    for mode in BORDER_MODES:
        got = _run("lowpass", image, backend, cutoff=0.2, pad=True, mode=mode, cval=3.0)
        assert_float_close(got, ref.filter_slice(image, 0.2, "gaussian", pad=True, mode=mode, cval=3.0), image)


# ---------------------------------------------------------------------------
# dtypes, batches, out=


def test_frequency_dtype_float32_promotes(backend, rng):
    image = random_image(rng, (2, 17, 23), np.uint16)
    got = _run("lowpass", image, backend, cutoff=0.2, kind="gaussian", dtype=np.float32)
    assert_float_close(got, ref.filter_batch(image, 0.2, "gaussian"), image)
    assert not np.allclose(got, np.rint(got))  # really unrounded


def test_frequency_float64_computed_as_float32(backend, rng):
    image = random_image(rng, (17, 23), np.float32).astype(np.float64)
    got = _run("lowpass", image, backend, cutoff=0.2)
    assert_float_close(got, ref.filter_slice(image, 0.2, "gaussian"), image)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_frequency_batch_equals_per_slice(backend, rng, dtype):
    batch = random_image(rng, (20, 9, 11), dtype)  # more slices than one FFT chunk
    for op in ("lowpass", "highpass"):
        kwargs = dict(cutoff=0.2, kind="butterworth", order=2, pad=2, mode="reflect", dtype=np.float32)
        whole = _run(op, batch, backend, **kwargs)
        single = np.stack([_run(op, s, backend, **kwargs) for s in batch])
        np.testing.assert_allclose(whole, single, rtol=1e-6, atol=1e-6 * _atol(batch) / RTOL)
        ints = _run(op, batch, backend, cutoff=0.2, kind="ideal")
        assert_integer_matches(ints, ref.filter_batch(batch, 0.2, "ideal", highpass=op == "highpass"), batch)


def test_frequency_out_and_input_untouched(backend, rng):
    image = random_image(rng, (2, 12, 14), np.int16)
    keep = image.copy()
    out = on_backend(np.empty((2, 12, 14), np.int16), backend)
    res = fastct.lowpass(on_backend(image, backend), 0.2, backend=backend, out=out)
    assert res is out
    np.testing.assert_array_equal(image, keep)
    np.testing.assert_array_equal(to_numpy(out), _run("lowpass", image, backend, cutoff=0.2))
    inplace = on_backend(image.copy(), backend)
    fastct.highpass(inplace, 0.2, backend=backend, out=inplace)
    np.testing.assert_array_equal(to_numpy(inplace), _run("highpass", image, backend, cutoff=0.2))


# ---------------------------------------------------------------------------
# bad parameters


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"cutoff": 0}, "cutoff"),
        ({"cutoff": 0.0}, "cutoff"),
        ({"cutoff": -0.1}, "cutoff"),
        ({"cutoff": 0.5000001}, "cutoff"),
        ({"cutoff": 0.6}, "cutoff"),
        ({"cutoff": float("nan")}, "cutoff"),
        ({"cutoff": "0.2"}, "cutoff"),
        ({"cutoff": None}, "cutoff"),
        ({"cutoff": 0.2, "kind": "box"}, "kind"),
        ({"cutoff": 0.2, "kind": "Gaussian"}, "kind"),
        ({"cutoff": 0.2, "kind": "butterworth", "order": 0}, "order"),
        ({"cutoff": 0.2, "kind": "butterworth", "order": -2}, "order"),
        ({"cutoff": 0.2, "kind": "butterworth", "order": 1.5}, "order"),
        ({"cutoff": 0.2, "pad": -1}, "pad"),
        ({"cutoff": 0.2, "pad": (1, 2, 3)}, "pad"),
        ({"cutoff": 0.2, "pad": 1.5}, "pad"),
        ({"cutoff": 0.2, "pad": "same"}, "pad"),
        ({"cutoff": 0.2, "mode": "edge"}, "mode"),
        ({"cutoff": 0.2, "cval": float("inf")}, "cval"),
        ({"cutoff": 0.2, "dtype": np.float64}, "dtype"),
        ({"cutoff": 0.2, "dtype": np.uint8}, "dtype"),
    ],
)
@pytest.mark.parametrize("op", ["lowpass", "highpass"])
def test_frequency_bad_parameters(op, kwargs, name):
    image = np.zeros((8, 8), np.float32)
    with pytest.raises(fastct.InvalidArgumentError, match=rf"^{name}\b") as info:
        OPS[op](image, backend="cpu", **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, fastct.FastCTError)


def test_frequency_cutoff_half_is_accepted(backend, rng):
    # 0.5 is Nyquist, the largest allowed cutoff
    image = random_image(rng, (16, 16), np.float32)
    got = _run("lowpass", image, backend, cutoff=0.5, kind="ideal")
    assert_float_close(got, ref.filter_slice(image, 0.5, "ideal"), image)
    assert np.abs(got - image).max() > 1.0  # the corners beyond r = 0.5 are removed
