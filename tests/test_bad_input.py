"""Bad input through the public functions: every error is a FastCTError, a
ValueError or TypeError, and names the argument; odd but valid input works."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_image

import fastct

# Every public op that takes an (H, W) / (N, H, W) image, with valid parameters.
OPS = {
    "erode": lambda x, **k: fastct.erode(x, 3, **k),
    "dilate": lambda x, **k: fastct.dilate(x, 3, **k),
    "opening": lambda x, **k: fastct.opening(x, 3, **k),
    "closing": lambda x, **k: fastct.closing(x, (3, 5), **k),
    "gaussian_blur": lambda x, **k: fastct.gaussian_blur(x, 1.0, **k),
    "lowpass": lambda x, **k: fastct.lowpass(x, 0.2, **k),
    "highpass": lambda x, **k: fastct.highpass(x, 0.2, kind="butterworth", **k),
    "unsharp_mask": lambda x, **k: fastct.unsharp_mask(x, 1.0, 0.5, **k),
    "sharpen": lambda x, **k: fastct.sharpen(x, **k),
    "equalize_hist": lambda x, **k: fastct.equalize_hist(x, **k),
    "clahe": lambda x, **k: fastct.clahe(x, tiles=(2, 2), **k),
    "window": lambda x, **k: fastct.window(x, preset="lung", **k),
}
# process() has no out=; it joins the tests that do not use out.
PROCESS = {"process": lambda x, **k: fastct.process(x, "erode:3,gaussian:1,equalize", **k)}
ALL = {**OPS, **PROCESS}
#: ops whose result has the input's dtype (so out=image is possible for every dtype)
SAME_DTYPE = (
    "erode", "dilate", "opening", "closing", "gaussian_blur", "lowpass", "highpass", "unsharp_mask", "sharpen",
)


def call(name, image, **kwargs):
    return ALL[name](image, backend="cpu", **kwargs)


def expect_error(cls, pattern, name, image, **kwargs):
    with pytest.raises(cls, match=pattern) as info:
        call(name, image, **kwargs)
    err = info.value
    assert isinstance(err, fastct.FastCTError)
    assert isinstance(err, (ValueError, TypeError))
    return err


all_ops = pytest.mark.parametrize("op", list(ALL))
out_ops = pytest.mark.parametrize("op", list(OPS))


# ---------------------------------------------------------------------------
# shapes


@all_ops
@pytest.mark.parametrize(
    "shape", [(), (7,), (1, 2, 3, 4), (2, 5, 5, 3)], ids=["0d", "1d", "4d", "4d-rgb"]
)
def test_wrong_ndim(op, shape):
    err = expect_error(fastct.InvalidArgumentError, r"^image: expected a 2-D slice", op, np.zeros(shape, np.int16))
    assert f"got shape {tuple(shape)}" in str(err)


@all_ops
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (2, 0, 4), (2, 4, 0), (0, 0, 0)])
def test_zero_sized_slices(op, shape):
    expect_error(fastct.InvalidArgumentError, r"^image: slices must have at least one row", op,
                 np.zeros(shape, np.float32))


@all_ops
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_empty_batch_gives_empty_result(op, dtype):
    image = np.zeros((0, 6, 7), dtype)
    expected_dtype = call(op, np.zeros((1, 6, 7), dtype)).dtype
    got = call(op, image)
    assert got.shape == (0, 6, 7) and got.dtype == expected_dtype


# ---------------------------------------------------------------------------
# dtypes


@all_ops
@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((4, 5), bool),
        lambda: np.zeros((4, 5), np.complex64),
        lambda: np.zeros((4, 5), np.complex128),
        lambda: np.zeros((4, 5), object),
        lambda: np.full((4, 5), "a"),
        lambda: np.zeros((4, 5), "datetime64[s]"),
        lambda: np.zeros((4, 5), np.longdouble) if np.dtype(np.longdouble) != np.float64 else np.zeros((4, 5), "m8[s]"),
    ],
    ids=["bool", "complex64", "complex128", "object", "str", "datetime", "longdouble"],
)
def test_rejected_dtypes(op, make):
    image = make()
    err = expect_error(fastct.InvalidDTypeError, r"^image: dtype .* is not supported", op, image)
    assert isinstance(err, TypeError)
    assert "uint8, uint16, int16, float32 or float64" in str(err)


def test_bool_error_suggests_a_conversion():
    with pytest.raises(fastct.InvalidDTypeError, match=r"astype\(np.uint8\)"):
        fastct.erode(np.zeros((4, 4), bool), backend="cpu")


@all_ops
@pytest.mark.parametrize(
    "source,native",
    [(np.float16, np.float32), (np.int8, np.int16), (">i2", np.int16), (">f4", np.float32)],
    ids=["float16", "int8", "int16-big-endian", "float32-big-endian"],
)
def test_lossless_conversions(op, rng, source, native):
    if np.dtype(source).kind == "f":
        image = (rng.standard_normal((2, 9, 10)) * 100).astype(source)
    else:
        image = rng.integers(-128, 128, (2, 9, 10)).astype(source)
    keep = image.copy()
    got = call(op, image)
    expected = call(op, image.astype(native))
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(image, keep)
    if op in SAME_DTYPE:
        assert got.dtype == np.dtype(native)


@all_ops
@pytest.mark.parametrize(
    "source,native,low,high",
    [
        (np.int32, np.int16, -32768, 32767),
        (np.int64, np.int16, -32768, 32767),
        (np.uint32, np.uint16, 0, 65535),
        (np.uint64, np.uint16, 0, 65535),
    ],
)
def test_wide_integers_narrowed_when_they_fit(op, rng, source, native, low, high):
    image = rng.integers(-1000, 3000, (2, 9, 10)) if low < 0 else rng.integers(0, 60000, (2, 9, 10))
    image[0, 0, 0], image[1, 0, 0] = low, high  # the extremes still fit
    got = call(op, image.astype(source))
    np.testing.assert_array_equal(got, call(op, image.astype(native)))
    too_big = image.astype(source)
    too_big[1, 3, 3] = high + 1
    err = expect_error(fastct.InvalidDTypeError, r"^image: dtype .* does not fit", op, too_big)
    assert str(high + 1) in str(err) and "astype(np.float32)" in str(err)
    if low < 0:
        too_small = image.astype(source)
        too_small[0, 2, 2] = low - 1
        expect_error(fastct.InvalidDTypeError, r"^image: .*does not fit", op, too_small)


# ---------------------------------------------------------------------------
# values


@all_ops
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(op, dtype, bad):
    image = np.zeros((2, 6, 7), dtype)
    image[1, 5, 6] = bad
    err = expect_error(fastct.NonFiniteError, r"^image: contains NaN or infinite values", op, image)
    assert isinstance(err, ValueError)


def test_float64_beyond_float32_range_is_named_as_such():
    # computed in float32, 1e39 would become inf: say so instead of blaming NaN/inf in the input
    image = np.zeros((2, 6, 7), np.float64)
    image[1, 2, 3] = -1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no overflow warning from the cast
        err = expect_error(fastct.InvalidDTypeError, r"^image: float64 values beyond float32's range",
                           "gaussian_blur", image)
    assert not isinstance(err, fastct.NonFiniteError)
    np.testing.assert_array_equal(fastct.erode(image, 3, backend="cpu")[1, 2, 3], -1e39)  # morphology keeps float64
    image[0, 0, 0] = np.nan  # a real NaN is still reported as one
    expect_error(fastct.NonFiniteError, r"^image: contains NaN", "gaussian_blur", image)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_check_sees_every_element(monkeypatch, dtype):
    # The CPU check reads the batch in blocks spread over threads: a bad value
    # in any block (first, last, across a block edge, a short tail) is found,
    # and extreme finite values (largest, subnormal, negative zero) are not flagged.
    from fastct.cpu import _checks as checks

    monkeypatch.setattr(checks, "FINITE_BLOCK", 7)
    info = np.finfo(dtype)
    image = np.zeros((3, 5, 9), dtype)
    image.flat[:4] = [info.max, -info.max, info.smallest_subnormal, -0.0]
    assert checks.all_finite(image)
    fastct.erode(image, 3, backend="cpu")
    for position in (0, 6, 7, 8, image.size // 2, image.size - 1):
        for bad in (np.nan, np.inf, -np.inf):
            broken = image.copy()
            broken.flat[position] = bad
            assert not checks.all_finite(broken), (position, bad)
            with pytest.raises(fastct.NonFiniteError):
                fastct.erode(broken, 3, backend="cpu")  # float64 stays float64 in morphology


# ---------------------------------------------------------------------------
# array-likes and non-arrays


@all_ops
def test_nested_list_input(op):
    data = [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90, 100, 110]]
    np.testing.assert_array_equal(call(op, data), call(op, np.asarray(data)))
    floats = [[0.5, 1.5], [2.5, 3.5]]
    np.testing.assert_array_equal(call(op, floats), call(op, np.asarray(floats)))


@all_ops
@pytest.mark.parametrize(
    "bad,pattern",
    [
        (None, r"^image: expected a NumPy or CuPy array"),
        (5, r"^image: expected a NumPy or CuPy array"),
        ("slice.png", r"^image: expected a NumPy or CuPy array"),
        ({"a": 1}, r"^image: expected a NumPy or CuPy array"),
        ([[1, 2], [3]], r"^image: a nested list must be rectangular"),
        ([1, 2, 3], r"^image: expected a 2-D slice"),
    ],
    ids=["None", "int", "str", "dict", "ragged", "flat-list"],
)
def test_not_an_image(op, bad, pattern):
    expect_error(fastct.InvalidArgumentError, pattern, op, bad)


@all_ops
def test_strided_and_fortran_inputs(op, rng):
    base = random_image(rng, (3, 20, 22), np.int16)
    expected = call(op, np.ascontiguousarray(base[:, ::2, 1::2]))
    np.testing.assert_array_equal(call(op, base[:, ::2, 1::2]), expected)
    fortran = np.asfortranarray(base[1])
    np.testing.assert_array_equal(call(op, fortran), call(op, np.ascontiguousarray(base[1])))


# ---------------------------------------------------------------------------
# out=


def _out_dtype(op, image):
    return call(op, image[:1]).dtype


@out_ops
def test_out_parameter(op, rng):
    image = random_image(rng, (2, 11, 13), np.int16)
    dtype = _out_dtype(op, image)
    expected = call(op, image)
    out = np.full(image.shape, 7, dtype)
    assert call(op, image, out=out) is out
    np.testing.assert_array_equal(out, expected)
    # a single slice takes a 2-D out
    out2 = np.empty(image.shape[1:], dtype)
    call(op, image[1], out=out2)
    np.testing.assert_array_equal(out2, expected[1])


@out_ops
def test_bad_out(op, rng):
    image = random_image(rng, (2, 11, 13), np.int16)
    dtype = _out_dtype(op, image)
    other = np.float64 if dtype != np.float64 else np.float32
    expect_error(fastct.InvalidArgumentError, r"^out: expected shape \(2, 11, 13\), got \(2, 13, 11\)", op, image,
                 out=np.empty((2, 13, 11), dtype))
    expect_error(fastct.InvalidArgumentError, r"^out: expected shape", op, image, out=np.empty((11, 13), dtype))
    expect_error(fastct.InvalidArgumentError, r"^out: expected shape", op, image[0], out=np.empty((1, 11, 13), dtype))
    expect_error(fastct.InvalidArgumentError, rf"^out: expected dtype {np.dtype(dtype)}, got", op, image,
                 out=np.empty((2, 11, 13), other))
    wide = np.empty((2, 11, 26), dtype)
    expect_error(fastct.InvalidArgumentError, r"^out: must be C-contiguous", op, image, out=wide[:, :, ::2])
    expect_error(fastct.InvalidArgumentError, r"^out: must be C-contiguous", op, image[0],
                 out=np.empty((13, 11), dtype).T)
    frozen = np.empty((2, 11, 13), dtype)
    frozen.flags.writeable = False
    expect_error(fastct.InvalidArgumentError, r"^out: is read-only", op, image, out=frozen)
    expect_error(fastct.InvalidArgumentError, r"^out: expected a NumPy array", op, image,
                 out=np.empty((2, 11, 13), dtype).tolist())


@out_ops
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_in_place(op, rng, dtype):
    image = random_image(rng, (2, 14, 12), dtype)
    if call(op, image[:1]).dtype != image.dtype:
        pytest.skip(f"{op} changes the dtype of {np.dtype(dtype)} images")
    expected = call(op, image)
    work = image.copy()
    assert call(op, work, out=work) is work
    np.testing.assert_array_equal(work, expected)
    # a single slice of a batch, in place
    work = image.copy()
    call(op, work[1], out=work[1])
    np.testing.assert_array_equal(work[1], expected[1])
    np.testing.assert_array_equal(work[0], image[0])  # the other slice untouched


# ---------------------------------------------------------------------------
# inputs are never modified


@all_ops
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_inputs_never_modified(op, rng, dtype):
    image = random_image(rng, (2, 13, 15), dtype)
    keep = image.copy()
    result = call(op, image)
    np.testing.assert_array_equal(image, keep)
    assert not np.shares_memory(result, image)


@pytest.mark.parametrize("op", ["erode", "lowpass", "window", "process"])
def test_read_only_input(op, rng):
    image = random_image(rng, (2, 10, 9), np.int16)
    expected = call(op, image)
    image.flags.writeable = False
    np.testing.assert_array_equal(call(op, image), expected)


# ---------------------------------------------------------------------------
# to_gray has its own shape rules


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 2), (4, 5, 5), (1, 2, 3, 4, 3), (7,)])
def test_to_gray_bad_shapes(shape):
    with pytest.raises(fastct.InvalidArgumentError, match=r"^image: expected \(H, W, C\)"):
        fastct.to_gray(np.zeros(shape, np.uint8), backend="cpu")


def test_to_gray_bad_dtype_and_values():
    with pytest.raises(fastct.InvalidDTypeError, match="^image"):
        fastct.to_gray(np.zeros((4, 5, 3), bool), backend="cpu")
    bad = np.zeros((4, 5, 3), np.float32)
    bad[1, 1, 2] = np.nan
    with pytest.raises(fastct.NonFiniteError, match="^image"):
        fastct.to_gray(bad, backend="cpu")
    with pytest.raises(fastct.InvalidArgumentError, match="^channel_order"):
        fastct.to_gray(np.zeros((4, 5, 3), np.uint8), channel_order="rbg", backend="cpu")
