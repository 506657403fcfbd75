"""Fused pipelines (one pass per band of rows) give the same bits as step-by-step runs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_image, to_numpy

import fastct
import fastct.cpu.fused as fused_cpu
import fastct.datasets
from fastct import backends

PIPELINES = [
    fastct.DEFAULT_STEPS,
    "erode:3,dilate:3,gaussian:0:ksize=5,equalize:dtype=uint8",
    "erode:3,dilate:3,gaussian:1.1,equalize:dtype=uint16",
    "opening:5,gaussian:1.5:mode=mirror",
    "closing:3x7:mode=constant:cval=7,gaussian:2:mode=reflect,erode:15,equalize",
    "dilate:9x1,erode:1x11,gaussian:0.8x2.5",
    "gaussian:1,gaussian:2,equalize",
    "erode:3,window:lung",  # a chain of one stage then a point op: runs unfused
    "erode:3:mode=wrap,dilate:3,equalize",  # wrap reads the far edge: not fused after the first stage
]


@pytest.mark.parametrize("steps", PIPELINES)
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(2, 1, 1), (2, 17, 23), (1, 5, 40), (3, 70, 33)])
def test_fused_equals_unfused(backend, rng, steps, dtype, shape):
    x = random_image(rng, shape, dtype)
    fused = fastct.Pipeline(steps).run(x, backend)
    plain = fastct.Pipeline(steps, fuse=False).run(x, backend)
    assert fused.dtype == plain.dtype
    np.testing.assert_array_equal(to_numpy(fused), to_numpy(plain))


@pytest.mark.parametrize("band", [1, 3, 7])
def test_fused_equals_unfused_across_small_bands(backend, rng, monkeypatch, band):
    x = random_image(rng, (2, 41, 29), np.int16)
    reference = [fastct.Pipeline(s, fuse=False).run(x, backend) for s in PIPELINES]
    monkeypatch.setattr(fused_cpu, "BAND_ROWS", band)
    for steps, ref in zip(PIPELINES, reference):
        np.testing.assert_array_equal(to_numpy(fastct.Pipeline(steps).run(x, backend)), to_numpy(ref))


def test_fused_on_real_ct(ct_slice):
    batch = np.stack([ct_slice, ct_slice[::-1]])
    np.testing.assert_array_equal(
        fastct.Pipeline().run(batch, "cpu"), fastct.Pipeline(fuse=False).run(batch, "cpu")
    )


def _labels(steps, dtype=np.int16):
    pipe = fastct.Pipeline(steps)
    return [label for label, _ in pipe._segments(np.dtype(dtype), backends.get("cpu"))]


def test_segments_fuse_the_default_pipeline():
    assert _labels(fastct.DEFAULT_STEPS) == ["erode+dilate+gaussian_blur+equalize_hist"]


def test_segments_keep_unfusable_steps_apart():
    # a disk is not separable; float equalisation needs the range first; wrap reads the far edge
    assert _labels("erode:5:shape=disk,dilate:3,gaussian:1,equalize") == [
        "erode",
        "dilate+gaussian_blur+equalize_hist",
    ]
    assert _labels("erode:3,dilate:3,equalize", np.float32) == ["erode+dilate", "equalize_hist"]
    assert _labels("erode:3,dilate:3:mode=wrap,equalize") == ["erode", "dilate+equalize_hist"]
    assert _labels("erode:3,gaussian:1:dtype=float32") == ["erode", "gaussian_blur"]
    assert fastct.Pipeline("erode:3,dilate:3", fuse=False)._segments(
        np.dtype(np.int16), backends.get("cpu")
    )[0][0] == "erode"


def test_run_timed_labels_fused_segments():
    x = fastct.datasets.chest_phantom(2, 32)
    out, timings = fastct.Pipeline().run_timed(x, "cpu")
    assert [t[0] for t in timings] == ["erode+dilate+gaussian_blur+equalize_hist"]
    assert timings[0][1] > 0
    out_plain, timings_plain = fastct.Pipeline(fuse=False).run_timed(x, "cpu")
    assert [t[0] for t in timings_plain] == ["erode", "dilate", "gaussian_blur", "equalize_hist"]
    np.testing.assert_array_equal(out, out_plain)


def test_float64_pipelines_keep_their_dtype():
    x = np.random.default_rng(0).standard_normal((2, 9, 9))
    assert fastct.Pipeline("erode:3,dilate:3").run(x, "cpu").dtype == np.float64
    assert fastct.Pipeline("erode:3,gaussian:1").run(x, "cpu").dtype == np.float32
