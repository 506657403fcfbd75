"""GPU feature kernels (fastct.gpu.features) against the CPU backend, bit for bit.

Each test runs on a real GPU (``cuda``) and under the CPU emulator of the
kernels (``emulator``): the ``gpu`` fixture of tests/gpu_env.py.

The CPU backend is itself checked against scipy / scikit-image in
tests/test_ml_features.py; here every feature must equal the CPU's exactly,
float HU and float preprocessed slices included (both backends add in the
same order). Small launch sizes make 17 x 23 slices cross many blocks and
launches split the slices into several grid parts.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_env import ENVIRONMENTS, ROOT, emulator_skip_reason, gpu_environment, standin_env

import fastct
import fastct.gpu
from fastct.datasets import lung_phantoms
from fastct.errors import InvalidArgumentError
from fastct.gpu import _geometry, _transfer
from fastct.ml import feature_names, features
from fastct.ml.features import feature_backend
from fastct.ml.spec import resolve_spec

RAW_GROUPS = ["masks", "hu", "dense", "air", "std", "grad"]  # no group reads the preprocessed slice


gpu = pytest.fixture(scope="module", params=ENVIRONMENTS)(gpu_environment)


@pytest.fixture(params=["default", "small"])
def geometry(request, monkeypatch):
    """Launch sizes: the shipped ones, or tiny blocks and at most 2 slices per grid."""
    if request.param == "small":
        monkeypatch.setattr(_geometry, "BLOCK_THREADS", 32)
        monkeypatch.setattr(_geometry, "PIXELS_PER_BLOCK", 64)
        monkeypatch.setattr(_geometry, "MAX_ELEMENTWISE_BLOCKS", 3)
        monkeypatch.setattr(_geometry, "MAX_GRID_SLICES", 2)
    return request.param


@pytest.fixture(scope="module")
def phantoms():
    images, _ = lung_phantoms(2, 64, seed=7)  # 8 slices, every class twice
    return images, fastct.process(images, backend="cpu")


def blobs(rng, shape, levels=(-1000, -850, -600, -250, 40)):
    """Random HU made of smooth blobs of lung-like levels plus noise: many components, holes, lesions."""
    noise = rng.standard_normal(shape)
    for axis in (-1, -2):  # a few box passes: blobs a few pixels across
        for _ in range(3):
            noise = (np.roll(noise, 1, axis) + noise + np.roll(noise, -1, axis)) / 3
    edges = np.quantile(noise, np.linspace(0, 1, len(levels) + 1)[1:-1])
    hu = np.asarray(levels)[np.searchsorted(edges, noise)]
    return (hu + rng.integers(-60, 61, shape)).astype(np.int16)


def check(cpu, got, what=""):
    got = np.asarray(got)
    assert got.dtype == cpu.dtype == np.float64 and got.shape == cpu.shape, what
    if not np.array_equal(got, cpu):
        bad = np.argwhere(got != cpu)
        first = tuple(bad[0])
        names = feature_names("all")
        col = names[first[-1]] if cpu.shape[-1] == len(names) else first[-1]
        raise AssertionError(f"{what}: {len(bad)} features differ, first {first} ({col}): "
                             f"gpu {got[first]!r} cpu {cpu[first]!r}")


def both(images, what="", **kwargs):
    cpu = features(images, backend="cpu", **kwargs)
    got = features(images, backend="gpu", **kwargs)
    assert isinstance(got, np.ndarray)
    check(cpu, got, what)
    return cpu


# ---------------------------------------------------------------------------
# parity


def test_gpu_backend_computes_features(gpu):
    name, module = feature_backend("gpu")
    assert name == "gpu" and module is fastct.gpu


def test_phantoms_every_group(gpu, geometry, phantoms):
    images, pre = phantoms
    both(images, "phantoms", preprocessed=pre, groups="all")
    both(images, "phantoms raw groups", groups=RAW_GROUPS)
    both(images[3], "one slice", preprocessed=pre[3], groups="all", grid=5)


def test_phantoms_preprocessed_on_the_gpu(gpu, phantoms):
    # default groups and steps: the pipeline runs on the same backend (bit-identical for int16)
    images, _ = phantoms
    both(images[:3], "default steps")
    both(images[:3], "other steps", steps="erode:3,equalize:dtype=uint8", groups=["lbp", "image"])


@pytest.mark.parametrize("crop", [np.s_[:, 3:, 7:60], np.s_[:, 20:50, 5:42]])
def test_phantom_crops(gpu, phantoms, crop):
    # a crop through the body opens lungs to the outside air
    images, pre = phantoms
    both(np.ascontiguousarray(images[crop]), "crop", preprocessed=np.ascontiguousarray(pre[crop]), groups="all")


def test_phantoms_at_256(gpu):
    images, _ = lung_phantoms(1, 256, classes=("fibrosis", "cavity"), seed=5)
    both(images, "256", preprocessed=fastct.process(images, backend="cpu"), groups="all")


@pytest.mark.parametrize("shape", [(8, 8), (17, 23), (23, 17), (40, 9)])
def test_random_blobs_odd_shapes(gpu, geometry, rng, shape):
    images = blobs(rng, (3,) + shape)
    pre = rng.random((3,) + shape).astype(np.float32)
    both(images, f"blobs {shape}", preprocessed=pre, groups="all", grid=min(shape) // 2)


@pytest.mark.parametrize("raw", [np.int16, np.float32, np.uint16])
@pytest.mark.parametrize("pre_dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_dtypes(gpu, rng, raw, pre_dtype):
    images = blobs(rng, (2, 19, 26))
    if raw == np.float32:  # fractional HU, some tiny: float64 sums of squares round, so their order matters
        images = images.astype(np.float32) + rng.random(images.shape, dtype=np.float32) * np.float32(0.37)
        tiny = rng.random(images.shape) < 0.1
        images[tiny] = (rng.standard_normal(tiny.sum()) * 1e-3).astype(np.float32)
    elif raw == np.uint16:  # CT stored with an offset: all "tissue", no lungs
        images = (images.astype(np.int32) + 1024).astype(np.uint16)
    else:
        images = images.astype(raw)
    info = np.iinfo(pre_dtype) if np.dtype(pre_dtype).kind in "iu" else None
    if info is None:  # magnitudes from 1e-6 to 1e6: the grid means' float64 sums round
        pre = (rng.standard_normal(images.shape) * 10.0 ** rng.uniform(-6, 6, images.shape)).astype(pre_dtype)
    else:
        pre = rng.integers(max(info.min, -500), min(info.max, 5000), images.shape).astype(pre_dtype)
    pre[:, 4:8, 4:8] = pre[:, 4:5, 4:5]  # flat patches: LBP ties (sample == centre)
    both(images, f"{np.dtype(raw)} / {np.dtype(pre_dtype)}", preprocessed=pre, groups="all")


@pytest.mark.parametrize("shape", [(9, 13), (16, 16), (20, 7)])
@pytest.mark.parametrize("density", [0.35, 0.55, 0.7])
def test_lung_field_masks_on_pixel_noise(gpu, geometry, rng, shape, density):
    # The masks themselves, on 1-pixel-scale patterns (thin walls, diagonal
    # gaps, pockets): the union-find labelling and flood-by-component against
    # the CPU's sequential flood fills, for several lung sizes and box radii.
    from fastct.cpu.features import _body, _lung_field
    from fastct.gpu.features import _lung_field_device

    tissue9 = -3600.0
    n, (h, w) = 4, shape
    s9 = np.where(rng.random((n, h, w)) < density, -9000.0, 0.0)
    s9[0, :, : w // 2] = -9000.0  # a low half-plane: one large component touching the edge
    for min_area, radius in ((1, 1), (3, 2), (6, 3)):
        want_body = np.empty((n, h, w), np.uint8)
        want_lung = np.empty((n, h, w), np.uint8)
        want_counts = np.empty((n, 2), np.uint64)
        for i in range(n):
            _body(s9[i], tissue9, want_body[i], np.empty((h, w), np.uint8), np.empty(h * w, np.int32))
            want_counts[i] = _lung_field(s9[i], want_body[i], tissue9, min_area, radius, want_lung[i],
                                         np.empty((h, w), np.int32), np.empty(h * w, np.int32),
                                         np.empty(h * w // 2 + 2, np.int32), np.empty((h + 1, w + 1), np.int32))
        low = s9 < tissue9
        label = np.where(low, np.arange(h * w).reshape(h, w), -1).astype(np.int32)
        body, lung = gpu.device(np.zeros((n, h, w), np.uint8)), gpu.device(np.zeros((n, h, w), np.uint8))
        counts = gpu.device(np.zeros((n, 2), np.uint64))
        _lung_field_device(gpu.device(low.astype(np.uint8)), gpu.device(label), gpu.device(np.zeros_like(label)),
                           gpu.device(np.zeros_like(label)), body, lung, counts, min_area, radius)
        what = f"min_area {min_area} radius {radius}"
        np.testing.assert_array_equal(gpu.host(body), want_body, err_msg="body " + what)
        np.testing.assert_array_equal(gpu.host(lung), want_lung, err_msg="lung " + what)
        np.testing.assert_array_equal(gpu.host(counts), want_counts, err_msg="counts " + what)


def test_float_hu_matches_int16(gpu, phantoms):
    images, pre = phantoms
    check(features(images, preprocessed=pre, groups="all", backend="gpu"),
          features(images.astype(np.float32), preprocessed=pre, groups="all", backend="gpu"), "float32 HU")


def test_slices_without_lungs_and_without_body(gpu, rng):
    air = np.full((2, 32, 32), -1000, np.int16)
    tissue = np.full((2, 32, 32), 40, np.int16)
    ring = tissue.copy()
    ring[:, 4:28, 4:28] = -1000  # an air-filled body: one big hole, filled
    small = tissue.copy()
    small[:, 10:12, 10:12] = -900  # low-density pocket smaller than min_area
    batch = np.concatenate([air, tissue, ring, small, blobs(rng, (2, 32, 32))])
    both(batch, "no lungs", preprocessed=rng.random(batch.shape).astype(np.float32), groups="all")


def test_empty_batch(gpu):
    empty = np.zeros((0, 32, 32), np.int16)
    assert features(empty, backend="gpu").shape == (0, len(feature_names()))
    spec = resolve_spec(32, 32, "all")
    out = np.zeros((0, int(spec.offsets()[-1])))
    assert fastct.gpu.features.features(empty, out, image=None, **spec.kernel_params()) is out


def test_too_small_slices_are_rejected_like_on_the_cpu(gpu):
    for shape in ((1, 1), (7, 30)):
        for backend in ("cpu", "gpu"):
            with pytest.raises(InvalidArgumentError, match="at least 8x8"):
                features(np.zeros(shape, np.int16), backend=backend)


# ---------------------------------------------------------------------------
# data movement and scheduling


def test_numpy_in_is_one_upload_and_one_download(gpu, phantoms):
    if gpu.kind != "emulator":
        pytest.skip("transfers are counted by the emulator")
    images, pre = phantoms
    log = gpu.runtime.transfers
    start = len(log)
    got = features(images, preprocessed=pre, groups="all", backend="gpu")
    moves = log[start:]
    assert [k for k, _ in moves].count("download") == 1
    big = sorted(nbytes for k, nbytes in moves if k == "upload" and nbytes >= pre[0].nbytes)
    assert big == sorted([images.nbytes, pre.nbytes])  # the slices once; the rest are the small tables
    check(features(images, preprocessed=pre, groups="all", backend="cpu"), got)


def test_device_in_device_out(gpu, phantoms):
    images, pre = phantoms
    cpu = features(images, preprocessed=pre, groups="all", backend="cpu")
    if gpu.kind == "cuda":
        import cupy

        got = features(cupy.asarray(images), preprocessed=cupy.asarray(pre), groups="all", backend="gpu")
        assert isinstance(got, cupy.ndarray)
        check(cpu, got.get())
        return
    # The emulator's device arrays are not CuPy arrays: call the twin as fastct.ml.features does.
    spec = resolve_spec(*images.shape[1:], "all")
    out = gpu.runtime.xp.zeros((len(images), int(spec.offsets()[-1])), np.float64)
    before = len(gpu.runtime.transfers)
    fastct.gpu.features.features(gpu.device(images), out, image=gpu.device(pre), **spec.kernel_params())
    assert gpu.runtime.is_device(out) and len(gpu.runtime.transfers) == before
    check(cpu, gpu.host(out))


@pytest.mark.parametrize("cap_slices", [1, 3])
def test_batches_beyond_device_memory_are_chunked(gpu, phantoms, monkeypatch, cap_slices):
    images, pre = phantoms
    plane = images[0].size
    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", cap_slices * 80 * plane)
    start = len(gpu.runtime.transfers) if gpu.runtime else 0
    both(images, "chunked", preprocessed=pre, groups="all")
    if gpu.runtime:
        kinds = [k for k, _ in gpu.runtime.transfers[start:]]
        assert kinds.count("h2d_async") >= 3 and kinds.count("d2h_async") == kinds.count("h2d_async")


def test_emulator_schedules_do_not_change_results(gpu, rng):
    # threads in reversed and shuffled order between the histogram kernel's barriers
    if gpu.kind != "emulator":
        pytest.skip("thread order is only controllable in the emulator")
    images = blobs(rng, (2, 23, 17))
    pre = rng.random(images.shape).astype(np.float32)
    expected = features(images, preprocessed=pre, groups="all", backend="cpu")
    for schedule in (1, 2):
        gpu.runtime.schedule = schedule
        try:
            check(expected, features(images, preprocessed=pre, groups="all", backend="gpu"), f"schedule {schedule}")
        finally:
            gpu.runtime.schedule = 0


# ---------------------------------------------------------------------------
# the CuPy-facing path


@pytest.mark.slow
def test_cuda_half_through_the_cupy_standin():
    # The "cuda" tests above, in a subprocess whose `import cupy` finds the
    # stand-in of tests/gpu_standin (see tests/test_gpu_standin.py):
    # CupyRuntime, CuPy in -> CuPy out through fastct.ml.features, the kernels
    # in the emulator. Checks fastct's use of CuPy's API, not CuPy itself.
    import subprocess
    import sys

    reason = emulator_skip_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", __file__, "-k",
                           "cuda and not standin"], cwd=ROOT, env=standin_env(), capture_output=True, text=True,
                          timeout=900, check=False)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and "failed" not in proc.stdout, tail
