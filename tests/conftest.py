"""Shared fixtures: the ``backend`` parametrisation and seeded random data.

Every op test takes the ``backend`` fixture and runs once per backend. The
GPU half is skipped with the probe's reason when no GPU is usable, unless
``FASTCT_REQUIRE_GPU=1`` (set by ``ci/gpu.sh``), where it must run and fails
instead.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastct
from fastct import backends

#: The CuPy stand-in is a package named ``cupy``: collecting it (``--doctest-modules``)
#: would import it as the session's ``cupy``. Only subprocesses put it on their path.
collect_ignore = ["gpu_standin"]

DTYPES = (np.uint8, np.uint16, np.int16, np.float32)
ODD_SHAPES = ((1, 1), (1, 9), (9, 1), (17, 23), (64, 48))
BORDER_MODES = ("nearest", "reflect", "mirror", "constant", "wrap")


@pytest.fixture(params=["cpu", "gpu"])
def backend(request):
    """Backend name; 'gpu' is skipped (or fails under FASTCT_REQUIRE_GPU=1) when unusable.

    A usable GPU runs whether or not ``fastct.gpu.READY`` is set: that flag
    only steers ``backend="auto"``, and these tests name the backend.
    """
    if request.param == "gpu":
        st = backends.status("gpu")
        if not st.available:
            if os.environ.get("FASTCT_REQUIRE_GPU") == "1":
                pytest.fail(f"GPU required but unusable: {st.reason}")
            pytest.skip(f"gpu backend unusable: {st.reason}")
    return request.param


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed per test."""
    return np.random.default_rng(12345)


def random_image(rng, shape, dtype):
    """Random data covering the dtype's useful range (HU-like for int16)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == np.uint16:
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    if dtype == np.int16:
        return rng.integers(-1024, 3072, shape, dtype=np.int16)
    return (rng.standard_normal(shape) * 500).astype(dtype)


def to_numpy(a):
    """Host copy of a NumPy or CuPy array."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)


def on_backend(a, backend):
    """Put a NumPy array where the backend computes (CuPy for 'gpu')."""
    if backend == "gpu":
        import cupy

        return cupy.asarray(a)
    return a


def run_on(fn, image, backend, *args, **kw):
    """Call ``fn`` on the backend's copy of ``image``; check the input is untouched; return NumPy."""
    dev = on_backend(image, backend)
    before = image.copy()
    res = fn(dev, *args, backend=backend, **kw)
    assert np.array_equal(to_numpy(dev), before), "the input array was modified"
    return to_numpy(res)


def assert_same(actual, expected):
    """Exact equality of dtype, shape and values, reporting the first difference."""
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if not np.array_equal(actual, expected):
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        bad = np.argwhere(diff > 0)
        raise AssertionError(
            f"{len(bad)} of {actual.size} values differ (max {diff.max()}); first at {tuple(bad[0])}: "
            f"got {actual[tuple(bad[0])]}, expected {expected[tuple(bad[0])]}"
        )


@pytest.fixture
def ct_slice():
    """The real CT slice pydicom ships (CT_small.dcm), in Hounsfield units (int16)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return hu.astype(np.int16)


@pytest.fixture
def mr_slice():
    """The MR slice pydicom ships (MR_small.dcm), as stored (int16)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array.astype(np.int16)


__all__ = ["DTYPES", "ODD_SHAPES", "BORDER_MODES", "random_image", "to_numpy", "on_backend", "run_on", "assert_same",
           "fastct"]
