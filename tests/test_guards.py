"""Ranges and edge cases on every path: float64 beyond float32, tiny cutoffs,
integer-valued floats in equalisation."""

from __future__ import annotations

import numpy as np
import pytest

import fastct
from fastct import InvalidDTypeError


@pytest.mark.parametrize("steps", [None, "erode:3,gaussian:1.0", "dilate:3,equalize", "opening:3,lowpass:0.2"])
def test_float64_beyond_float32_is_refused_by_pipelines(steps):
    # Pipelines that start with morphology used to carry float64 into float32 steps (inf, or zeros).
    huge = np.full((2, 8, 8), 1e300)
    with pytest.raises(InvalidDTypeError, match="float32's range"):
        fastct.process(huge, steps, backend="cpu")


def test_morphology_only_pipelines_keep_float64():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1e300, (2, 9, 11))
    out = fastct.process(x, "erode:3,dilate:3", backend="cpu")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, fastct.dilate(fastct.erode(x, 3, backend="cpu"), 3, backend="cpu"))


def test_mixed_float64_pipeline_equals_converting_first():
    # min/max commute with the float64 -> float32 rounding: converting up front changes nothing.
    rng = np.random.default_rng(2)
    x = rng.normal(0, 300, (3, 17, 23))
    steps = "erode:3,dilate:3,gaussian:1.2"
    np.testing.assert_array_equal(fastct.process(x, steps, backend="cpu"),
                                  fastct.process(x.astype(np.float32), steps, backend="cpu"))


@pytest.mark.parametrize("kind", ["gaussian", "butterworth", "ideal"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_tiny_cutoffs_keep_only_the_mean(kind, dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(-1000, 1000, (2, 16, 20)).astype(dtype)
    mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    low = fastct.lowpass(x, 1e-300, kind=kind, backend="cpu", dtype=np.float32)
    np.testing.assert_allclose(low, np.broadcast_to(mean, x.shape), rtol=1e-5, atol=1e-3)
    high = fastct.highpass(x, 1e-300, kind=kind, backend="cpu", dtype=np.float32)
    np.testing.assert_allclose(high, x - mean, rtol=1e-5, atol=1e-3)
    assert np.isfinite(fastct.lowpass(x, 1e-300, kind=kind, backend="cpu")).all()


@pytest.mark.parametrize("op,kwargs", [("equalize_hist", {}), ("clahe", {"tiles": (2, 3)})])
@pytest.mark.parametrize("source", [np.int16, np.uint16])
def test_integer_valued_floats_equalise_like_the_integers(op, kwargs, source):
    rng = np.random.default_rng(4)
    low = -1000 if source == np.int16 else 0
    x = rng.integers(low, low + 3000, (2, 24, 30)).astype(source)
    func = getattr(fastct, op)
    expected = func(x, backend="cpu", **kwargs)
    for float_type in (np.float64, np.float32):
        np.testing.assert_array_equal(func(x.astype(float_type), backend="cpu", **kwargs), expected)
    # real fractions keep the equal-width float bins, and nbins still chooses them
    frac = x.astype(np.float64) + 0.5
    assert not np.array_equal(func(frac, backend="cpu", **kwargs), expected)
    assert not np.array_equal(func(x.astype(np.float64), nbins=16, backend="cpu", **kwargs), expected)


# ---------------------------------------------------------------------------
# the resource guard: parameters that would exhaust memory are refused before allocating


@pytest.mark.parametrize("steps,parameter", [
    ("lowpass:0.1:pad=1000000000", "pad"),
    ("erode:99999", "size"),
    ("dilate:3x99999", "size"),
    ("gaussian:0:ksize=999999999", "ksize"),
    ("gaussian:1:truncate=1e8", "sigma"),
    ("unsharp:1e7", "sigma"),
])
def test_absurd_steps_are_refused_when_parsed(steps, parameter):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(fastct.StepError, match=rf"{parameter}: "):
            fastct.Pipeline(steps)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20  # refused before anything large was made


def test_padding_beyond_the_budget_is_refused_per_image(monkeypatch):
    x = np.zeros((2, 64, 64), np.int16)
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "64M")
    # planning accepts pad=1100 (one 1x1 slice could afford it); these 64x64 slices cannot
    pipe = fastct.Pipeline("lowpass:0.1:pad=1100")
    with pytest.raises(fastct.InvalidArgumentError, match="pad: padding 64x64 slices to .*FASTCT_MAX_MEMORY"):
        pipe(x, backend="cpu")
    assert fastct.lowpass(x, 0.1, pad=True, backend="cpu").shape == x.shape  # ordinary padding still runs
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "lots")
    with pytest.raises(fastct.InvalidArgumentError, match="FASTCT_MAX_MEMORY: expected bytes"):
        fastct.lowpass(x, 0.1, pad=1500, backend="cpu")


def test_memory_budget_reads_the_environment(monkeypatch):
    from fastct._shared import budget

    monkeypatch.setenv("FASTCT_MAX_MEMORY", "1.5G")
    assert budget.memory_budget() == int(1.5 * (1 << 30))
    monkeypatch.delenv("FASTCT_MAX_MEMORY")
    assert 0 < budget.memory_budget() <= budget.available_bytes()


def test_clahe_refuses_scikit_image_clip_limits():
    img = np.arange(64 * 64, dtype=np.int16).reshape(64, 64)
    with pytest.raises(fastct.InvalidArgumentError, match=r"clip_limit: 0.01 is below 1.*2\.56"):
        fastct.clahe(img, clip_limit=0.01, backend="cpu")
    with pytest.raises(fastct.StepError, match="clip_limit"):
        fastct.Pipeline("clahe:clip_limit=0.5")
    for limit in (0, 1, 2.5):
        assert fastct.clahe(img, clip_limit=limit, backend="cpu").dtype == np.float32


@pytest.mark.parametrize("steps", ["erode:99999", "lowpass:0.1:pad=1000000000", "gaussian:0:ksize=999999999"])
def test_absurd_steps_are_usage_errors_on_the_command_line(tmp_path, capsys, steps):
    from fastct import cli

    np.save(tmp_path / "a.npy", np.zeros((2, 8, 8), np.int16))
    code = cli.main(["process", str(tmp_path / "a.npy"), "-o", str(tmp_path / "out"), "--steps", steps, "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "Traceback" not in err and steps.split(":")[0] in err
    assert not (tmp_path / "out" / "a.npy").exists()


def test_runs_beyond_the_budget_are_refused_before_allocating(monkeypatch):
    x = np.zeros((4, 64, 64), np.int16)  # 32 KiB; the default pipeline's float32 result is 64 KiB
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "64K")
    with pytest.raises(fastct.InvalidArgumentError, match=r"image: 4 step\(s\) on a \(4, 64, 64\) int16 batch"):
        fastct.process(x, backend="cpu")
    with pytest.raises(fastct.InvalidArgumentError, match=r"image: 1 step\(s\)"):
        fastct.gaussian_blur(x.astype(np.float64), 1.0, backend="cpu")  # a float32 copy and its result
    assert fastct.erode(x, 3, backend="cpu").shape == x.shape  # 32 KiB of result fits
    out = np.empty(x.shape, np.float32)
    monkeypatch.setenv("FASTCT_MAX_MEMORY", "100K")
    assert fastct.process(x, backend="cpu", out=out) is out  # the caller's out= is not counted
