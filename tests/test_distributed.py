"""Dask arrays: lazy results equal to the single-process ones, chunk by chunk."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_image

import fastct
from fastct import dask_arrays

da = pytest.importorskip("dask.array")

STENCIL_PIPELINES = [
    "erode:3",
    "dilate:5x3",
    "opening:3:shape=disk",
    "closing:5:mode=mirror",
    "gaussian:1.3",
    "gaussian:2:mode=reflect,erode:3:mode=constant:cval=-1000",
    "unsharp:1.5:0.7",
    "sharpen:neighbours=8",
    "window:lung",
    "erode:3,dilate:3,gaussian:0:ksize=5",
]
WHOLE_SLICE_PIPELINES = [
    fastct.DEFAULT_STEPS,
    "clahe:tiles=4x4",
    "lowpass:0.2,highpass:0.05:dtype=float32",
    "erode:3:mode=wrap",
]


def _sync_compute(x):
    return x.compute(scheduler="synchronous")


@pytest.mark.parametrize("steps", STENCIL_PIPELINES + WHOLE_SLICE_PIPELINES)
@pytest.mark.parametrize("chunks", [(2, 40, 37), (1, 13, 11), (3, 9, 37)])
def test_dask_equals_single_process(rng, steps, chunks):
    x = random_image(rng, (5, 40, 37), np.int16)
    expected = fastct.process(x, steps, backend="cpu")
    lazy = fastct.process(da.from_array(x, chunks=chunks), steps, backend="cpu")
    assert isinstance(lazy, da.Array)
    assert lazy.dtype == expected.dtype and lazy.shape == expected.shape
    np.testing.assert_array_equal(_sync_compute(lazy), expected)


def test_chunks_along_n_only_use_map_blocks(rng):
    x = random_image(rng, (6, 16, 16), np.float32)
    lazy = fastct.process(da.from_array(x, chunks=(2, 16, 16)), fastct.DEFAULT_STEPS.replace(",equalize", ""))
    assert lazy.chunks == ((2, 2, 2), (16,), (16,))
    names = " ".join(str(k) for k in dict(lazy.__dask_graph__()))
    assert "overlap" not in names and "rechunk" not in names
    np.testing.assert_array_equal(_sync_compute(lazy), fastct.process(x, fastct.DEFAULT_STEPS.replace(",equalize", "")))


def test_split_slices_use_overlap_with_the_pipeline_halo(rng):
    x = random_image(rng, (2, 64, 64), np.uint16)
    pipe = fastct.Pipeline("erode:3,gaussian:1.1")
    lazy = pipe.run(da.from_array(x, chunks=(1, 32, 32)), "cpu")
    names = " ".join(str(k) for k in dict(lazy.__dask_graph__()))
    assert "overlap" in names
    assert pipe.halo == (5, 5)
    np.testing.assert_array_equal(_sync_compute(lazy), pipe.run(x, "cpu"))


def test_tiny_chunks_are_merged_to_cover_the_halo(rng):
    x = random_image(rng, (1, 30, 30), np.int16)
    steps = "gaussian:2:mode=mirror,erode:5"  # halo 8 + 2 = 10 > chunks of 4
    lazy = fastct.process(da.from_array(x, chunks=(1, 4, 4)), steps, backend="cpu")
    np.testing.assert_array_equal(_sync_compute(lazy), fastct.process(x, steps, backend="cpu"))


def test_two_dimensional_dask_slice(rng):
    x = random_image(rng, (33, 20), np.uint8)
    lazy = fastct.process(da.from_array(x, chunks=(11, 10)), "erode:3,equalize:dtype=uint8", backend="cpu")
    assert lazy.ndim == 2
    np.testing.assert_array_equal(_sync_compute(lazy), fastct.process(x, "erode:3,equalize:dtype=uint8", backend="cpu"))


def test_large_whole_slice_rechunk_warns(monkeypatch):
    monkeypatch.setattr(dask_arrays, "WHOLE_SLICE_WARN_BYTES", 1000)
    x = da.zeros((8, 64, 64), dtype=np.int16, chunks=(4, 32, 32))
    with pytest.warns(dask_arrays.RechunkWarning, match="whole slices"):
        fastct.process(x, "equalize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastct.process(da.zeros((8, 64, 64), dtype=np.int16, chunks=(1, 64, 64)), "erode:3")


def test_meta_is_numpy_and_never_probes():
    x = da.zeros((4, 16, 16), dtype=np.int16, chunks=(2, 16, 16))
    lazy = fastct.process(x, "equalize:dtype=uint16", backend="cpu")
    assert isinstance(lazy._meta, np.ndarray) and lazy._meta.dtype == np.uint16


def test_bad_dask_input_is_rejected_eagerly():
    with pytest.raises(fastct.InvalidDTypeError, match="batch"):
        fastct.process(da.zeros((2, 4, 4), dtype=bool, chunks=2))
    with pytest.raises(fastct.InvalidArgumentError, match="batch"):
        fastct.process(da.zeros((2, 2, 4, 4), dtype=np.int16, chunks=2))
    with pytest.raises(fastct.InvalidArgumentError, match="backend"):
        fastct.process(da.zeros((2, 4, 4), dtype=np.int16, chunks=2), backend="tpu")
    with pytest.raises(fastct.InvalidArgumentError, match="run_timed"):
        fastct.Pipeline().run_timed(da.zeros((2, 4, 4), dtype=np.int16, chunks=2))


def test_limit_numba_threads_is_a_no_op_outside_workers():
    assert dask_arrays.limit_numba_threads() is None
