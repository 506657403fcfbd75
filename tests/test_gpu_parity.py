"""GPU backend against the CPU backend: every op, dtype, border mode, odd shape.

Each test runs on a real GPU (``cuda``) and under the CPU emulator of the
kernels (``emulator``): the ``gpu`` fixture of tests/gpu_env.py.

Integer inputs must give the CPU backend's bits (frequency filters: within
one grey level, two FFT libraries round differently); float32 results agree
to 1e-5 relative. Launch sizes are patched small (``small`` geometry) so that
17 x 23 images cross many tiles and blocks, the histogram spills from shared
to global memory, and chunks and streams are exercised with a tiny memory cap.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BORDER_MODES, ODD_SHAPES, random_image
from gpu_env import ENVIRONMENTS, gpu_environment

import fastct
import fastct.gpu
from fastct import ops
from fastct.gpu import _geometry, _runtime, _transfer

INT_DTYPES = (np.uint8, np.uint16, np.int16)
DTYPES = INT_DTYPES + (np.float32,)
CVALS = {np.uint8: 100, np.uint16: 30000, np.int16: 500, np.float32: 0.25, np.float64: -0.5}


gpu = pytest.fixture(scope="module", params=ENVIRONMENTS)(gpu_environment)


@pytest.fixture(params=["default", "small"])
def geometry(request, monkeypatch):
    """Launch sizes: the shipped ones, or tiny ones so small images cross blocks and tiles."""
    if request.param == "small":
        monkeypatch.setattr(_geometry, "BLOCK_THREADS", 32)
        monkeypatch.setattr(_geometry, "TILE_H", 4)
        monkeypatch.setattr(_geometry, "TILE_W", 8)
        monkeypatch.setattr(_geometry, "TILE_BLOCK_X", 8)  # 8 x 4 chain blocks
        monkeypatch.setattr(_geometry, "MIN_TILE", 2)
        monkeypatch.setattr(_geometry, "PIXELS_PER_BLOCK", 64)
        monkeypatch.setattr(_geometry, "HIST_SHARED_BINS", 64)
        monkeypatch.setattr(_geometry, "MAX_ELEMENTWISE_BLOCKS", 3)
    return request.param


def check(cpu, gpu_result, exact, what=""):
    got = np.asarray(gpu_result)
    assert got.dtype == cpu.dtype and got.shape == cpu.shape, what
    if exact:
        if not np.array_equal(got, cpu):
            bad = np.argwhere(got != cpu)
            first = tuple(bad[0])
            raise AssertionError(f"{what}: {len(bad)} pixels differ, first at {first}: "
                                 f"gpu {got[first]!r} cpu {cpu[first]!r}")
    else:
        scale = float(np.abs(cpu).max()) if cpu.size else 0.0
        np.testing.assert_allclose(got, cpu, rtol=1e-5, atol=1e-5 * scale + 1e-30, err_msg=what)


def both(func, image, exact=None, **kwargs):
    """Run ``func`` on both backends (NumPy in, NumPy out) and compare."""
    cpu = func(image, backend="cpu", **kwargs)
    gpu_result = func(image, backend="gpu", **kwargs)
    assert isinstance(gpu_result, np.ndarray)
    if exact is None:
        exact = np.dtype(image.dtype).kind in "iu"
    check(cpu, gpu_result, exact, f"{getattr(func, '__name__', func)} {image.dtype} {image.shape} {kwargs}")
    return cpu


# ---------------------------------------------------------------------------
# morphology


FOOTPRINTS = {
    "square3": {},
    "rect3x7": {"size": (3, 7)},
    "square15": {"size": 15},
    "disk5": {"size": 5, "shape": "disk"},
    "asym": {"footprint": np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 1]], bool)},
}


@pytest.mark.parametrize("op", ["erode", "dilate", "opening", "closing"])
@pytest.mark.parametrize("fp", list(FOOTPRINTS))
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_morphology_modes_and_footprints(gpu, geometry, rng, op, fp, mode):
    img = random_image(rng, (2, 17, 23), np.int16)
    kwargs = dict(FOOTPRINTS[fp], mode=mode)
    if mode == "constant":
        kwargs["cval"] = CVALS[np.int16]
    both(getattr(fastct, op), img, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES + (np.float64,))
@pytest.mark.parametrize("op", ["erode", "dilate", "opening", "closing"])
def test_morphology_dtypes(gpu, geometry, rng, dtype, op):
    img = random_image(rng, (3, 17, 23), dtype)
    both(getattr(fastct, op), img, exact=True, size=(3, 5))  # min/max: exact for floats too
    both(getattr(fastct, op), img, exact=True, shape="disk", size=5, mode="constant", cval=CVALS[dtype])


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_stencils_odd_shapes(gpu, geometry, rng, shape):
    img = random_image(rng, (2,) + shape, np.uint16)
    for mode in ("nearest", "mirror", "wrap"):
        both(fastct.erode, img, size=3, mode=mode)
        both(fastct.closing, img, size=(5, 3), mode=mode)
        both(fastct.gaussian_blur, img, sigma=1.2, mode=mode)
        both(fastct.sharpen, img, amount=0.8, neighbours=8, mode=mode)


def test_wide_stencils_use_two_passes(gpu, geometry, rng):
    # too wide for a shared-memory tile: the per-stage row/column kernels
    img = random_image(rng, (2, 40, 37), np.int16)
    assert _geometry.chain_tile_plan([41], [41], False, 2, 4) is None
    for mode in BORDER_MODES:
        both(fastct.erode, img, size=41, mode=mode, cval=-7)
        both(fastct.gaussian_blur, img, sigma=7.0, method="exact", mode=mode, cval=-7)
    both(fastct.gaussian_blur, img.astype(np.float32), sigma=(6.0, 0.5), method="exact", mode="reflect")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_box_gaussian(gpu, rng, dtype, mode):
    # the box cascade: CuPy array code on the GPU, numba on the CPU; exact integers on both
    img = random_image(rng, (3, 17, 23), dtype)
    cval = CVALS[dtype]
    both(fastct.gaussian_blur, img, sigma=8.0, method="box", mode=mode, cval=cval)
    both(fastct.gaussian_blur, img, sigma=(0.0, 5.0), method="box", mode=mode, cval=cval)
    both(fastct.gaussian_blur, img, sigma=(24.0, 3.0), method="box", mode=mode, cval=cval)  # rounded row sums


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_box_gaussian_odd_shapes(gpu, rng, shape):
    img = random_image(rng, (2,) + shape, np.int16)
    both(fastct.gaussian_blur, img, sigma=6.0, method="box")
    both(fastct.gaussian_blur, img.astype(np.float32), sigma=6.0, method="box", exact=False)


def test_box_gaussian_groups_and_chunks(gpu, rng, monkeypatch):
    # more slices than one device group, and a memory cap that forces streamed chunks
    monkeypatch.setattr(fastct.gpu.filters, "BOX_GROUP_SLICES", 2)
    img = random_image(rng, (7, 40, 33), np.uint16)
    both(fastct.gaussian_blur, img, sigma=9.0)
    monkeypatch.setattr(_transfer, "budget_bytes", lambda rt: 3 * 40 * 33 * 2 * 2 + 2 * 60 * 60 * 40)
    both(fastct.gaussian_blur, img, sigma=9.0)


# ---------------------------------------------------------------------------
# linear filters


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_gaussian_blur(gpu, geometry, rng, dtype, mode):
    img = random_image(rng, (2, 17, 23), dtype)
    cval = CVALS[dtype] if mode == "constant" else 0.0
    both(fastct.gaussian_blur, img, sigma=1.0, mode=mode, cval=cval)
    both(fastct.gaussian_blur, img, sigma=0, ksize=5, mode=mode, cval=cval)  # OpenCV's dyadic taps
    both(fastct.gaussian_blur, img, sigma=(0.7, 2.5), mode=mode, cval=cval)
    both(fastct.gaussian_blur, img, sigma=1.5, mode=mode, cval=cval, dtype=np.float32, exact=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", BORDER_MODES)
def test_unsharp_and_sharpen(gpu, geometry, rng, dtype, mode):
    img = random_image(rng, (2, 17, 23), dtype)
    cval = CVALS[dtype] if mode == "constant" else 0.0
    for amount in (1.0, -0.6, 3.7):
        both(fastct.unsharp_mask, img, sigma=1.1, amount=amount, mode=mode, cval=cval)
        both(fastct.sharpen, img, amount=amount, mode=mode, cval=cval)
        both(fastct.sharpen, img, amount=amount, neighbours=8, mode=mode, cval=cval)
    both(fastct.unsharp_mask, img, sigma=1.0, amount=1e39, mode=mode, cval=cval)  # float32(amount) = inf
    both(fastct.unsharp_mask, img, sigma=6.0, amount=1.3, method="box", mode=mode, cval=cval)  # box-cascade blur
    both(fastct.sharpen, img, amount=2.0, mode=mode, cval=cval, dtype=np.float32, exact=False)


# ---------------------------------------------------------------------------
# frequency filters


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ideal", "gaussian", "butterworth"])
@pytest.mark.parametrize("pad", [False, True])
def test_frequency_filters(gpu, rng, dtype, kind, pad):
    img = random_image(rng, (3, 17, 23), dtype)
    for op in (fastct.lowpass, fastct.highpass):
        cpu = op(img, 0.15, kind=kind, pad=pad, mode="reflect", backend="cpu")
        got = op(img, 0.15, kind=kind, pad=pad, mode="reflect", backend="gpu")
        assert got.dtype == cpu.dtype
        if cpu.dtype.kind in "iu":
            assert np.abs(got.astype(np.int64) - cpu.astype(np.int64)).max() <= 1
        else:
            check(cpu, got, exact=False)
        check(op(img, 0.2, kind=kind, pad=pad, dtype=np.float32, backend="cpu"),
              op(img, 0.2, kind=kind, pad=pad, dtype=np.float32, backend="gpu"), exact=False)


# ---------------------------------------------------------------------------
# histograms


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [np.float32, np.uint8, np.uint16])
def test_equalize_hist(gpu, geometry, rng, dtype, out):
    img = random_image(rng, (3, 17, 23), dtype)
    both(fastct.equalize_hist, img, dtype=out)
    both(fastct.equalize_hist, img, dtype=out, nbins=37)
    mask = rng.random((17, 23)) > 0.4
    both(fastct.equalize_hist, img, dtype=out, mask=mask)
    masks = rng.random((3, 17, 23)) > 0.7
    masks[:, 0, 0] = True
    both(fastct.equalize_hist, img, dtype=out, mask=masks, nbins=19)


def test_equalize_hist_constant_and_narrow_slices(gpu, geometry):
    img = np.zeros((3, 9, 11), np.int16)
    img[1] = -1000
    img[2, :, :5] = 3071
    both(fastct.equalize_hist, img)
    both(fastct.equalize_hist, img.astype(np.float32))
    both(fastct.equalize_hist, img.astype(np.uint16) + 60000, dtype=np.uint16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [np.float32, np.uint8, np.uint16])
def test_clahe(gpu, geometry, rng, dtype, out):
    img = random_image(rng, (2, 37, 29), dtype)
    both(fastct.clahe, img, dtype=out)  # 8x8 tiles of 5x4 (mirror padded)
    both(fastct.clahe, img, dtype=out, tiles=(2, 3), clip_limit=1.0)
    both(fastct.clahe, img, dtype=out, tiles=1, clip_limit=0)
    both(fastct.clahe, img, dtype=out, tiles=(3, 2), nbins=64, clip_limit=3.0)


def test_clahe_fixed_range_and_opencv_setting(gpu, geometry, rng):
    img = random_image(rng, (2, 40, 48), np.uint8)
    both(fastct.clahe, img, clip_limit=2.0, tiles=(4, 6), nbins=256, value_range=(0, 255), dtype=np.uint8)
    hu = random_image(rng, (2, 40, 48), np.int16)
    both(fastct.clahe, hu, value_range=(-200.5, 300.5), tiles=(3, 3))
    both(fastct.clahe, hu.astype(np.float32), value_range=(-500.0, 1500.0), nbins=100, exact=False)


def test_clahe_full_uint16_range(gpu, geometry, rng):
    img = random_image(rng, (1, 64, 48), np.uint16)  # ~65536 bins: tables beyond shared memory
    both(fastct.clahe, img, clip_limit=2.0, tiles=(2, 2), dtype=np.uint16)


# ---------------------------------------------------------------------------
# point operations


@pytest.mark.parametrize("dtype", DTYPES + (np.float64,))
@pytest.mark.parametrize("out", [np.float32, np.uint8, np.uint16])
def test_window(gpu, geometry, rng, dtype, out):
    img = random_image(rng, (2, 17, 23), dtype)
    for preset in ("lung", "brain", "bone"):
        both(fastct.window, img, preset=preset, dtype=out, exact=np.dtype(dtype).kind in "iu" or out != np.float32)
    exact = np.dtype(dtype).kind in "iu" or out != np.float32
    both(fastct.window, img, center=40.5, width=80.0, dtype=out, exact=exact)


@pytest.mark.parametrize("dtype", DTYPES + (np.float64,))
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_to_gray(gpu, geometry, rng, dtype, channels, order):
    img = random_image(rng, (2, 7, 9, channels), dtype)
    cpu = fastct.to_gray(img, channel_order=order, backend="cpu")
    got = fastct.to_gray(img, channel_order=order, backend="gpu")
    check(cpu, got, exact=np.dtype(dtype).kind in "iu")
    check(fastct.to_gray(img[0], backend="cpu"), fastct.to_gray(img[0], backend="gpu"),
          exact=np.dtype(dtype).kind in "iu")


# ---------------------------------------------------------------------------
# pipelines (fused chains + fused equalisation)


PIPELINES = [
    None,  # the default: erode 3, dilate 3, Gaussian 5x5 OpenCV, equalise (one fused launch + histogram)
    "erode:3,dilate:3,gaussian:1.1,equalize",
    "opening:5,gaussian:0.8:mode=reflect,equalize:dtype=uint8",
    "closing:3:mode=mirror,gaussian:1,clahe:tiles=4x4",
    "erode:3:mode=wrap,dilate:3:mode=constant,gaussian:1.5",
    "window:lung,unsharp:1.5:0.8",
    "erode:5,gaussian:9",  # wide: two-pass stages
    "dilate:3,gaussian:0:ksize=7,equalize:nbins=100",
]


@pytest.mark.parametrize("steps", PIPELINES)
@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("fuse", [True, False])
def test_pipelines(gpu, geometry, rng, steps, dtype, fuse):
    img = random_image(rng, (3, 19, 26), dtype)
    pipe = fastct.Pipeline(steps, fuse=fuse)
    cpu = pipe(img, backend="cpu")
    # exact unless a linear filter runs on float data (window's output): 1e-5 there
    exact = steps is None or "window" not in steps
    got = pipe(img, backend="gpu")
    check(cpu, got, exact=exact, what=f"{steps} {dtype}")
    if fuse:  # fused and unfused are the same bits on the GPU
        check(np.asarray(got), fastct.Pipeline(steps, fuse=False)(img, backend="gpu"), exact=True)


def test_default_pipeline_on_real_ct(gpu, ct_slice):
    batch = np.stack([ct_slice, ct_slice[::-1], ct_slice.T.copy()[: ct_slice.shape[0], : ct_slice.shape[1]]])
    check(fastct.process(batch, backend="cpu"), fastct.process(batch, backend="gpu"), exact=True)
    check(fastct.process(ct_slice, backend="cpu"), fastct.process(ct_slice, backend="gpu"), exact=True)


# ---------------------------------------------------------------------------
# data movement


def _call_on_device(env, name, image, **kwargs):
    """Run op ``name`` with device input and output (CuPy in -> CuPy out)."""
    dev = env.device(image)
    if env.kind == "cuda":
        return getattr(fastct, name)(dev, backend="gpu", **kwargs)
    # The emulator's device arrays are not CuPy arrays, so go through the twin directly.
    step = ops.plan(name, **kwargs)
    out = env.runtime.xp.empty(dev.shape, step.output_dtype(dev.dtype))
    params = step.bind(dev, step.params, fastct.gpu) if step.bind is not None else step.params
    step.kernel(fastct.gpu)(dev, out, **params)
    return out


@pytest.mark.parametrize("name,kwargs", [
    ("erode", {"size": 3}),
    ("gaussian_blur", {"sigma": 1.3}),
    ("equalize_hist", {}),
    ("clahe", {"tiles": (2, 2)}),
    ("window", {"preset": "lung"}),
    ("lowpass", {"cutoff": 0.2}),
])
def test_device_in_device_out(gpu, rng, name, kwargs):
    img = random_image(rng, (3, 17, 23), np.int16)
    cpu = getattr(fastct, name)(img, backend="cpu", **kwargs)
    before = len(gpu.runtime.transfers) if gpu.runtime else 0
    got = _call_on_device(gpu, name, img, **kwargs)
    if gpu.kind == "cuda":
        import cupy

        assert isinstance(got, cupy.ndarray)
    else:
        assert gpu.runtime.is_device(got)
        assert len(gpu.runtime.transfers) == before  # no host copy at all
    host = gpu.host(got)
    if name == "lowpass":
        assert np.abs(host.astype(int) - cpu.astype(int)).max() <= 1
    else:
        check(cpu, host, exact=True, what=name)


def test_numpy_in_is_one_upload_and_one_download(gpu, rng):
    if gpu.kind != "emulator":
        pytest.skip("transfers are counted by the emulator")
    img = random_image(rng, (4, 17, 23), np.int16)
    for call in (lambda b: fastct.process(img, backend=b), lambda b: fastct.opening(img, 5, shape="disk", backend=b),
                 lambda b: fastct.clahe(img, backend=b), lambda b: fastct.unsharp_mask(img, 1.0, 2.0, backend=b)):
        log = gpu.runtime.transfers
        start = len(log)
        check(call("cpu"), call("gpu"), exact=True)
        kinds = [k for k, _ in log[start:]]
        assert kinds == ["upload", "download"], kinds


@pytest.mark.parametrize("steps,fuse,segments", [
    ("erode:3,clahe", True, 2),                                    # a stencil, then a whole-slice step
    (None, False, 4),                                              # the default pipeline, one segment per step
    ("erode:3,dilate:3,gaussian:1.0,sharpen,window:lung", True, 3),  # fused chain, stencil, elementwise
    ("opening:3:shape=disk,sharpen,equalize", True, 3),            # unfusable stencils and a histogram
])
def test_pipeline_of_many_segments_is_one_upload_and_one_download(gpu, rng, steps, fuse, segments):
    if gpu.kind != "emulator":
        pytest.skip("transfers are counted by the emulator")
    img = random_image(rng, (3, 17, 23), np.int16)
    pipe = fastct.Pipeline(steps, fuse=fuse)
    _, timings = pipe.run_timed(img, backend="gpu")
    assert len(timings) == segments  # the pipeline really runs as several segments
    start = len(gpu.runtime.transfers)
    got = pipe(img, backend="gpu")
    kinds = [k for k, _ in gpu.runtime.transfers[start:]]
    assert kinds == ["upload", "download"], kinds
    expected = pipe(img, backend="cpu")
    check(expected, got, exact=True, what=str(steps))


@pytest.mark.parametrize("cap_slices", [1, 2, 3])
def test_batches_beyond_device_memory_are_chunked(gpu, geometry, rng, monkeypatch, cap_slices):
    # A memory cap of a few slices: chunks of whole slices alternate between two
    # streams through pinned buffers; results are unchanged.
    img = random_image(rng, (7, 17, 23), np.int16)
    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", cap_slices * 40 * img[0].size)
    start = len(gpu.runtime.transfers) if gpu.runtime else 0
    both(fastct.erode, img, size=3)
    both(fastct.process, img)
    both(fastct.equalize_hist, img, mask=rng.random((7, 17, 23)) > 0.5)
    both(fastct.equalize_hist, img, mask=rng.random((17, 23)) > 0.5)
    both(fastct.lowpass, img.astype(np.float32), cutoff=0.2)
    if gpu.runtime:
        kinds = [k for k, _ in gpu.runtime.transfers[start:]]
        assert kinds.count("h2d_async") >= 7 and kinds.count("d2h_async") == kinds.count("h2d_async")


def test_emulator_schedules_do_not_change_results(gpu, rng):
    # Threads run in reversed and shuffled order between barriers: a missing
    # __syncthreads() would show here.
    if gpu.kind != "emulator":
        pytest.skip("thread order is only controllable in the emulator")
    img = random_image(rng, (2, 23, 17), np.int16)
    calls = [lambda b: fastct.process(img, backend=b), lambda b: fastct.clahe(img, tiles=(3, 2), backend=b),
             lambda b: fastct.equalize_hist(img, nbins=50, backend=b),
             lambda b: fastct.gaussian_blur(img, 2.0, mode="reflect", backend=b)]
    expected = [c("cpu") for c in calls]
    for schedule in (1, 2):
        gpu.runtime.schedule = schedule
        try:
            for c, e in zip(calls, expected):
                check(e, c("gpu"), exact=True)
        finally:
            gpu.runtime.schedule = 0


def test_emulator_rejects_untyped_kernel_arguments(gpu):
    if gpu.kind != "emulator":
        pytest.skip("argument checks belong to the emulator")
    from fastct.gpu import _launch
    from fastct.gpu._kernels import name_expr

    (kernel,) = _launch.kernels("intensity.cu", np.int16, name_expr("window", np.int16, np.float32))
    src = gpu.runtime.xp.zeros(4, np.int16)
    dst = gpu.runtime.xp.zeros(4, np.float32)
    with pytest.raises(TypeError, match="NumPy scalar"):
        _launch.launch(kernel, (1,), (32,), src, dst, 4, np.float64(0), np.float64(1), np.float64(1))
    with pytest.raises(TypeError, match="takes i8"):
        _launch.launch(kernel, (1,), (32,), src, dst, np.int32(4), np.float64(0), np.float64(1), np.float64(1))
    with pytest.raises(TypeError, match="device array"):
        _launch.launch(kernel, (1,), (32,), np.zeros(4, np.int16), dst, np.int64(4), np.float64(0),
                       np.float64(1), np.float64(1))


@pytest.mark.parametrize("cap", [None, 3000])
def test_run_segments_uploads_once(gpu, rng, monkeypatch, cap):
    # Pipeline segments chained on the device (fastct.gpu.run_segments): one upload,
    # one download for NumPy input, or chunks through the streams under a memory cap.
    from fastct.gpu import histogram as gh
    from fastct.gpu import morphology as gm

    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", cap)
    img = random_image(rng, (5, 17, 23), np.int16)

    def erode(d):
        return gm.morph_device(d, _runtime.get().xp.empty_like(d), np.ones((3, 3), bool), "nearest", 0, False)

    def equalize(d):
        return gh.equalize_device(d, _runtime.get().xp.empty(d.shape, np.float32), 0, None, np.float32(1.0))

    start = len(gpu.runtime.transfers) if gpu.runtime else 0
    got = fastct.gpu.run_segments(img, [erode, equalize], np.float32)
    expected = fastct.equalize_hist(fastct.erode(img, 3, backend="cpu"), backend="cpu")
    check(expected, got, exact=True)
    if gpu.runtime:
        kinds = [k for k, _ in gpu.runtime.transfers[start:]]
        assert kinds == ["upload", "download"] if cap is None else kinds.count("h2d_async") == 5


def test_pipeline_with_a_mask_on_the_device(gpu, rng):
    # The mask of an equalisation step follows the batch to the device when the
    # pipeline's segments are chained there.
    img = random_image(rng, (3, 17, 23), np.int16)
    for mask in (rng.random((17, 23)) > 0.3, rng.random((3, 17, 23)) > 0.3):
        pipe = fastct.Pipeline([("gaussian", {"sigma": 1.0, "method": "exact"}), ("equalize", {"mask": mask})])
        check(pipe(img, backend="cpu"), pipe(img, backend="gpu"), exact=True, what=f"mask {mask.shape}")
