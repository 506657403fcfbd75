"""First benchmarks: fastct CPU vs OpenCV per-slice loops vs a plain copy.

Each group holds the floor (a copy of the same bytes), fastct, and the peer,
so pytest-benchmark's group table shows the ratios of one run side by side.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastct

from .conftest import uint8_view

cv2 = pytest.importorskip("cv2")
K3 = np.ones((3, 3), np.uint8)


def _per_slice(fn, batch):
    out = np.empty_like(batch)
    for i in range(len(batch)):
        out[i] = fn(batch[i])
    return out


@pytest.mark.benchmark(group="copy")
def test_copy_int16_to_float32(warm_benchmark, ct_batch):
    out = np.empty(ct_batch.shape, np.float32)
    warm_benchmark(np.copyto, out, ct_batch)
    assert out[0, 0, 0] == ct_batch[0, 0, 0]


@pytest.mark.benchmark(group="erode")
@pytest.mark.parametrize("impl", ["fastct-int16", "opencv-int16", "opencv-uint8"])
def test_erode(warm_benchmark, ct_batch, impl):
    if impl == "fastct-int16":
        out = warm_benchmark(fastct.erode, ct_batch, 3, backend="cpu")
    elif impl == "opencv-int16":
        out = warm_benchmark(_per_slice, lambda s: cv2.erode(s, K3, borderType=cv2.BORDER_REPLICATE), ct_batch)
    else:
        b8 = uint8_view(ct_batch)
        out = warm_benchmark(_per_slice, lambda s: cv2.erode(s, K3, borderType=cv2.BORDER_REPLICATE), b8)
    assert out.shape == ct_batch.shape


@pytest.mark.benchmark(group="gaussian_blur")
@pytest.mark.parametrize("impl", ["fastct-int16", "opencv-int16", "opencv-uint8"])
def test_gaussian_blur(warm_benchmark, ct_batch, impl):
    def cv(s):
        return cv2.GaussianBlur(s, (5, 5), 0, borderType=cv2.BORDER_REPLICATE)

    if impl == "fastct-int16":
        out = warm_benchmark(fastct.gaussian_blur, ct_batch, 0, ksize=5, backend="cpu")
    elif impl == "opencv-int16":
        out = warm_benchmark(_per_slice, cv, ct_batch)
    else:
        out = warm_benchmark(_per_slice, cv, uint8_view(ct_batch))
    assert out.shape == ct_batch.shape


@pytest.mark.benchmark(group="equalize_hist")
@pytest.mark.parametrize("impl", ["fastct-int16", "opencv-uint8"])
def test_equalize_hist(warm_benchmark, ct_batch, impl):
    if impl == "fastct-int16":
        out = warm_benchmark(fastct.equalize_hist, ct_batch, backend="cpu")
    else:
        out = warm_benchmark(_per_slice, cv2.equalizeHist, uint8_view(ct_batch))
    assert out.shape == ct_batch.shape


@pytest.mark.benchmark(group="pipeline")
@pytest.mark.parametrize("impl", ["fastct-int16", "opencv-classic-uint8"])
def test_default_pipeline(warm_benchmark, ct_batch, impl):
    if impl == "fastct-int16":
        pipe = fastct.Pipeline()
        out = warm_benchmark(pipe.run, ct_batch, "cpu")
    else:

        def classic(s):
            x = cv2.erode(s, K3, borderType=cv2.BORDER_REPLICATE)
            x = cv2.dilate(x, K3, borderType=cv2.BORDER_REPLICATE)
            x = cv2.GaussianBlur(x, (5, 5), 0, borderType=cv2.BORDER_REPLICATE)
            return cv2.equalizeHist(x)

        out = warm_benchmark(_per_slice, classic, uint8_view(ct_batch))
    assert out.shape == ct_batch.shape
