"""Volumes on the GPU backend against the CPU backend (real GPU, or the CPU emulator of the kernels).

Integer results must be the CPU's bits (morphology, Gaussian, unsharp mask,
sharpening); floats agree to 1e-5 relative; the 3-D FFT filters within float32
FFT accuracy. A NumPy volume is uploaded whole (never chunked along z) and a
device volume stays on the device.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BORDER_MODES, random_image
from gpu_env import ENVIRONMENTS, gpu_environment
from test_gpu_parity import CVALS, both, check

import fastct
import fastct.gpu.morphology
from fastct.gpu import _transfer

gpu = pytest.fixture(scope="module", params=ENVIRONMENTS)(gpu_environment)

FOOTPRINTS = {
    "box": {"size": (3, 3, 5)},
    "ball2": {"footprint": fastct.ball(2)},
    "odd": {"footprint": np.array([[[1, 0, 0]], [[1, 1, 0]], [[0, 0, 1]]], bool)},
}


@pytest.mark.parametrize("op", ["erode", "dilate", "opening", "closing"])
@pytest.mark.parametrize("fp", list(FOOTPRINTS))
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_morphology(gpu, rng, op, fp, mode):
    img = random_image(rng, (4, 17, 23), np.int16)
    both(getattr(fastct, op), img, axes=(0, 1, 2), mode=mode, cval=CVALS[np.int16], **FOOTPRINTS[fp])


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16, np.int16, np.float32))
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_linear_filters(gpu, rng, dtype, mode):
    img = random_image(rng, (3, 17, 23), dtype)
    cval = CVALS[dtype]
    both(fastct.gaussian_blur, img, sigma=(0.8, 1.3, 1.0), axes=(0, 1, 2), mode=mode, cval=cval)
    both(fastct.gaussian_blur, img, sigma=2.0, spacing=(2.5, 0.7, 0.7), axes=(0, 1, 2), mode=mode, cval=cval)
    both(fastct.unsharp_mask, img, sigma=1.0, amount=0.7, axes=(0, 1, 2), mode=mode, cval=cval)
    both(fastct.sharpen, img, amount=0.8, neighbours=26, axes=(0, 1, 2), mode=mode, cval=cval)
    both(fastct.sharpen, img, amount=1.2, neighbours=6, axes=(0, 1, 2), mode=mode, cval=cval)


def test_one_slice_volume(gpu, rng):
    img = random_image(rng, (1, 17, 23), np.uint16)
    both(fastct.erode, img, footprint=fastct.ball(1), axes=(0, 1, 2))
    both(fastct.gaussian_blur, img, sigma=1.0, axes=(0, 1, 2), mode="constant", cval=7)


def test_frequency_and_equalize(gpu, rng):
    img = random_image(rng, (4, 16, 21), np.float32)
    for op in (fastct.lowpass, fastct.highpass):
        cpu = op(img, 0.2, axes=(0, 1, 2), pad=True, backend="cpu")
        check(cpu, op(img, 0.2, axes=(0, 1, 2), pad=True, backend="gpu"), exact=False, what=op.__name__)
    ints = random_image(rng, (4, 16, 21), np.int16)
    both(fastct.equalize_hist, ints, axes=(0, 1, 2), exact=False)
    both(fastct.clahe, ints, tiles=(2, 3, 3), axes=(0, 1, 2), exact=False)
    both(fastct.clahe, ints, tiles=2, axes=(0, 1, 2), dtype=np.uint8)


def test_volume_is_never_chunked(gpu, rng, monkeypatch):
    # a memory cap that would split a per-slice op into chunks: a volume goes up whole
    img = random_image(rng, (6, 17, 23), np.int16)
    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", 3 * img[0].nbytes)
    both(fastct.erode, img, size=3, axes=(0, 1, 2))
    both(fastct.gaussian_blur, img, sigma=1.0, axes=(0, 1, 2))


def test_device_volume_stays_on_device(gpu, rng):
    img = random_image(rng, (3, 17, 23), np.int16)
    dev = gpu.device(img)
    out = gpu.device(np.empty_like(img))
    step = fastct.ops.plan("erode", footprint=fastct.ball(1), axes=(0, 1, 2))
    if gpu.kind == "emulator":
        gpu.runtime.transfers.clear()
    res = fastct.gpu.morphology.erode(dev, out, **step.params)  # the twin on device arrays: no transfer
    assert res is out
    if gpu.kind == "emulator":
        assert not gpu.runtime.transfers
    assert np.array_equal(gpu.host(res), fastct.erode(img, footprint=fastct.ball(1), axes=(0, 1, 2), backend="cpu"))


def test_volume_pipeline_goes_up_once(gpu, rng, monkeypatch):
    vol = random_image(rng, (5, 17, 23), np.int16)
    steps = "erode:5:shape=ball,gaussian:1.0,sharpen:0.5,equalize"
    cpu = fastct.process(vol, steps, backend="cpu", volume=True)
    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", 2 * vol[0].nbytes)  # would chunk a per-slice pipeline
    if gpu.kind == "emulator":
        gpu.runtime.transfers.clear()
    got = fastct.process(vol, steps, backend="gpu", volume=True)
    np.testing.assert_allclose(got, cpu, atol=1e-6)
    if gpu.kind == "emulator":
        uploads = [t for t in gpu.runtime.transfers if t[0] in ("upload", "h2d_async") and t[1] == vol.nbytes]
        assert len(uploads) == 1  # the volume went up whole, once
