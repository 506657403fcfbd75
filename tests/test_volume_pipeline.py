"""Volumes through pipelines and Dask: ``volume=True``, steps in mm, z halos.

A volumetric pipeline gives exactly the results of its ops called one by one
with ``axes=(0, 1, 2)``; a Dask volume chunked along z (and inside slices)
gives exactly the single-process result.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_image

import fastct
from fastct import StepError

SPACING = (2.5, 0.7, 0.7)


def test_volume_pipeline_equals_its_ops(rng):
    vol = random_image(rng, (7, 20, 23), np.int16)
    got = fastct.process(vol, "erode:3,dilate:3,gaussian:1.0,equalize", backend="cpu", volume=True)
    want = fastct.erode(vol, 3, axes=(0, 1, 2), backend="cpu")
    want = fastct.dilate(want, 3, axes=(0, 1, 2), backend="cpu")
    want = fastct.gaussian_blur(want, 1.0, axes=(0, 1, 2), backend="cpu")
    want = fastct.equalize_hist(want, axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(got, want)
    # the same steps per slice differ: slices are mixed only when asked
    assert not np.array_equal(got, fastct.process(vol, "erode:3,dilate:3,gaussian:1.0,equalize", backend="cpu"))


def test_steps_in_mm(rng):
    vol = random_image(rng, (6, 20, 23), np.int16)
    pipe = fastct.Pipeline("erode:3mm,gaussian:2mm", volume=True, spacing=SPACING)
    want = fastct.erode(vol, 3.0, spacing=SPACING, axes=(0, 1, 2), backend="cpu")
    want = fastct.gaussian_blur(want, 2.0, spacing=SPACING, axes=(0, 1, 2), backend="cpu")
    assert np.array_equal(pipe(vol, backend="cpu"), want)
    assert pipe.halo_z == 3 and pipe.volumetric  # erode 3 mm: 1 slice (no z halo); sigma 0.8 slices: radius 3
    again = fastct.Pipeline(pipe.describe(), spacing=SPACING)
    assert np.array_equal(again(vol, backend="cpu"), want)
    per_slice = fastct.Pipeline("gaussian:2mm", spacing=SPACING)  # mm without volume: in-plane sigma 2 / 0.7
    assert not per_slice.volumetric
    assert np.array_equal(per_slice(vol, backend="cpu"), fastct.gaussian_blur(vol, 2.0 / 0.7, backend="cpu"))


def test_mm_needs_spacing():
    with pytest.raises(StepError, match="spacing"):
        fastct.Pipeline("gaussian:2mm", volume=True)
    with pytest.raises(StepError, match="mm"):
        fastct.Pipeline("equalize:nbins=2mm", spacing=SPACING)
    with pytest.raises(fastct.FastCTError, match="^spacing:"):
        fastct.Pipeline("erode:3", spacing=(1.0, 0.0, 1.0))


@pytest.mark.parametrize("steps", ["erode:3,dilate:5:shape=ball", "gaussian:1.2,opening:3", "closing:3:mode=constant"])
def test_dask_chunks_along_z_are_exact(rng, steps):
    da = pytest.importorskip("dask.array")
    vol = random_image(rng, (13, 24, 26), np.int16)
    want = fastct.process(vol, steps, backend="cpu", volume=True)
    pipe = fastct.Pipeline(steps, volume=True)
    for chunks in ((4, 24, 26), (3, 10, 9), (13, 12, 26), (2, 24, 26)):
        got = fastct.process(da.from_array(vol, chunks=chunks), pipe, backend="cpu")
        assert np.array_equal(got.compute(scheduler="synchronous"), want), chunks


def test_dask_whole_volume_steps(rng):
    da = pytest.importorskip("dask.array")
    vol = random_image(rng, (8, 16, 16), np.int16)
    steps = "gaussian:1.0,equalize"
    want = fastct.process(vol, steps, backend="cpu", volume=True)
    got = fastct.process(da.from_array(vol, chunks=(3, 16, 8)), fastct.Pipeline(steps, volume=True), backend="cpu")
    assert np.array_equal(got.compute(scheduler="synchronous"), want)


def test_dask_halo_deeper_than_the_volume(rng):
    da = pytest.importorskip("dask.array")
    vol = random_image(rng, (4, 20, 20), np.int16)
    pipe = fastct.Pipeline("gaussian:3.0", volume=True)  # a z halo of 12 slices on a 4-slice volume
    got = fastct.process(da.from_array(vol, chunks=(2, 20, 10)), pipe, backend="cpu")
    assert np.array_equal(got.compute(scheduler="synchronous"), pipe(vol, backend="cpu"))


def test_mm_tuples_and_describe(rng):
    vol = random_image(rng, (6, 20, 23), np.int16)
    pipe = fastct.Pipeline("erode:3x5x5mm", volume=True, spacing=SPACING)  # 3 -> 1 slice, 5 / 0.7 -> 7 pixels
    assert pipe.describe() == "erode:3x5x5mm:axes=0x1x2"
    assert np.array_equal(pipe(vol, backend="cpu"), fastct.erode(vol, (1, 7, 7), axes=(0, 1, 2), backend="cpu"))
    assert fastct.parse_steps("gaussian:2.5mm")[0][1][0] == fastct.pipeline.Millimetres(2.5)
