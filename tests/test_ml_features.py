"""fastct.ml.features: the Numba kernels against the scipy/scikit-image reference, names, bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import on_backend, to_numpy

from fastct import process
from fastct.datasets import lung_phantoms
from fastct.errors import BackendUnavailable, InvalidArgumentError, NonFiniteError
from fastct.ml import DEFAULT_GROUPS, GROUPS, feature_names, features

pytest.importorskip("skimage")
from fastct.ml.reference import reference_features  # noqa: E402


@pytest.fixture(scope="module")
def slices():
    images, labels = lung_phantoms(3, 96, seed=11)
    return images, labels


# square, 93x83, and a 40x45 cut through the body (a lung cut open joins the outside air)
@pytest.mark.parametrize("crop", [np.s_[:, :, :], np.s_[:, 3:, 7:90], np.s_[:, 30:70, 12:57]])
def test_features_match_the_reference_exactly(slices, crop):
    images = np.ascontiguousarray(slices[0][crop])
    mine = features(images, groups="all", backend="cpu")
    ref = reference_features(images, groups="all")
    assert mine.shape == ref.shape == (len(images), len(feature_names("all")))
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)


def test_features_match_the_reference_at_256():
    images, _ = lung_phantoms(1, 256, classes=("fibrosis", "cavity"), seed=5)
    np.testing.assert_allclose(features(images, groups="all", backend="cpu"),
                               reference_features(images, groups="all"), rtol=0, atol=1e-12)


def test_float_hu_gives_the_same_features_as_int16(slices):
    # (the preprocessing itself may differ by dtype: float equalisation bins differ from integer ones)
    images = slices[0]
    pre = process(images, backend="cpu")
    np.testing.assert_array_equal(features(images.astype(np.float32), preprocessed=pre, groups="all", backend="cpu"),
                                  features(images, preprocessed=pre, groups="all", backend="cpu"))


def test_single_slice_gives_a_vector(slices):
    images = slices[0]
    one = features(images[1], backend="cpu")
    assert one.shape == (len(feature_names()),)
    np.testing.assert_array_equal(one, features(images, backend="cpu")[1])


def test_names_and_group_selection(slices):
    images = slices[0]
    full = features(images, groups="all", backend="cpu")
    names = feature_names("all")
    assert len(names) == len(set(names)) == full.shape[1]
    assert feature_names() == [n for n in names if not n.startswith("image")]
    for group in GROUPS:
        part = features(images, groups=[group], backend="cpu")
        cols = [names.index(n) for n in feature_names([group])]
        np.testing.assert_array_equal(part, full[:, cols])
    assert tuple(DEFAULT_GROUPS) == tuple(g for g in GROUPS if g != "image")
    assert len(feature_names(["image"], grid=4)) == 16


def test_histograms_are_fractions_of_the_lung_field(slices):
    X = features(slices[0], backend="cpu")
    names = feature_names()
    for group in ("hu", "std", "grad", "lbp"):
        cols = [i for i, n in enumerate(names) if n.startswith(group + "[")]
        np.testing.assert_allclose(X[:, cols].sum(axis=1), 1.0, rtol=1e-12)
    body, lung = X[:, names.index("body_area")], X[:, names.index("lung_area")]
    assert ((0.3 < body) & (body < 0.8)).all() and ((0.2 < lung) & (lung < 0.6)).all()


def test_preprocessed_argument_equals_running_the_steps(slices):
    images = slices[0]
    steps = "erode:3,equalize"
    a = features(images, steps=steps, groups="all", backend="cpu")
    b = features(images, preprocessed=process(images, steps, backend="cpu"), groups="all", backend="cpu")
    np.testing.assert_array_equal(a, b)
    # the raw-HU groups do not depend on the steps
    c = features(images, steps="dilate:3,equalize", groups=["hu", "dense"], backend="cpu")
    np.testing.assert_array_equal(c, features(images, steps=steps, groups=["hu", "dense"], backend="cpu"))


def test_features_separate_the_classes():
    images, labels = lung_phantoms(6, 128, seed=21)
    X = features(images, backend="cpu")
    names = feature_names()

    def mean(cls, name):
        return X[labels == cls, names.index(name)].mean()

    assert mean("cavity", "air[max]") > mean("normal", "air[max]") + 1
    assert mean("nodule", "dense[max]") > mean("normal", "dense[max]") + 1
    ground_glass = ["hu[-750,-700)", "hu[-700,-600)", "hu[-600,-500)", "hu[-500,-400)"]
    assert sum(mean("fibrosis", n) for n in ground_glass) > 2 * sum(mean("normal", n) for n in ground_glass)


def test_slices_without_lungs():
    air = np.full((2, 32, 32), -1000, np.int16)
    tissue = np.full((2, 32, 32), 40, np.int16)
    for batch, body in ((air, 0.0), (tissue, 1.0)):
        X = features(batch, groups="all", backend="cpu")
        names = feature_names("all")
        assert X[:, names.index("body_area")].tolist() == [body, body]
        hist = [i for i, n in enumerate(names) if not n.startswith(("image", "body", "lung"))]
        assert (X[:, hist] == 0).all()
        np.testing.assert_allclose(X, reference_features(batch, groups="all"), atol=1e-12)


def test_empty_batch():
    assert features(np.zeros((0, 32, 32), np.int16), backend="cpu").shape == (0, len(feature_names()))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"groups": ["hu", "colour"]}, InvalidArgumentError, "colour"),
        ({"groups": []}, InvalidArgumentError, "at least one"),
        ({"grid": 0}, InvalidArgumentError, "grid"),
        ({"grid": 100, "groups": "all"}, InvalidArgumentError, "grid"),
        ({"backend": "tpu"}, InvalidArgumentError, "backend"),
        ({"steps": "erode:3", "preprocessed": np.zeros((2, 32, 32), np.float32)}, InvalidArgumentError, "not both"),
        ({"steps": "erode:-3"}, InvalidArgumentError, "erode"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        features(np.zeros((2, 32, 32), np.int16) - 1000, **kwargs)


def test_bad_input():
    with pytest.raises(InvalidArgumentError, match="preprocessed output"):
        features(np.random.default_rng(0).random((2, 32, 32), dtype=np.float32), backend="cpu")
    bad = np.zeros((2, 32, 32), np.float32) - 1000
    bad[1, 5, 5] = np.nan
    with pytest.raises(NonFiniteError):
        features(bad, backend="cpu")
    with pytest.raises(InvalidArgumentError, match="at least 8x8"):
        features(np.zeros((2, 4, 32), np.int16), backend="cpu")
    with pytest.raises(InvalidArgumentError):
        features(np.zeros((2, 2, 32, 32), np.int16), backend="cpu")
    with pytest.raises(InvalidArgumentError, match="preprocessed"):
        features(np.zeros((2, 32, 32), np.int16), preprocessed=np.zeros((2, 32, 30), np.float32), backend="cpu")


def test_gpu_backend_without_a_gpu_says_why():
    """No usable GPU: BackendUnavailable with the probe's reason, never a silent CPU run."""
    from fastct import available_backends

    if available_backends()["gpu"].available:
        pytest.skip("a GPU is usable here: the GPU features run (see test_features_backend_parity)")
    with pytest.raises(BackendUnavailable, match="gpu"):
        features(np.zeros((1, 32, 32), np.int16) - 1000, preprocessed=np.zeros((1, 32, 32), np.float32),
                 backend="gpu")


def test_import_fastct_ml_needs_neither_numba_nor_sklearn():
    code = (
        "import sys, fastct.ml, fastct.ml.commands\n"
        "bad = [m for m in ('numba', 'cupy', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_features_backend_parity(backend, slices):
    """CPU -> GPU oracle step (the GPU half runs where a GPU is usable)."""
    images = slices[0]
    pre = process(images, backend="cpu")
    got = features(on_backend(images, backend), preprocessed=on_backend(pre, backend), groups="all", backend=backend)
    np.testing.assert_array_equal(to_numpy(got), features(images, preprocessed=pre, groups="all", backend="cpu"))


def test_gpu_dispatch_hands_the_twin_numpy_and_returns_numpy(slices, monkeypatch):
    """With a stand-in GPU backend whose twin is the CPU kernel: the twin gets the caller's arrays."""
    import types

    import fastct.cpu.features as cpu_features
    from fastct import backends

    seen = []

    def twin(batch, out, **params):
        seen.append((type(batch), type(out), type(params["image"]), type(params["hu9"])))
        return cpu_features.features(batch, out, **params)

    fake = types.SimpleNamespace(features=types.SimpleNamespace(features=twin))
    real_get = backends.get
    monkeypatch.setattr(backends, "get", lambda b="auto", a=None: fake if b == "gpu" else real_get(b, a))
    images = slices[0]
    pre = process(images, backend="cpu")
    got = features(images, preprocessed=pre, groups="all", backend="gpu")
    assert isinstance(got, np.ndarray) and seen == [(np.ndarray,) * 4]
    np.testing.assert_array_equal(got, features(images, preprocessed=pre, groups="all", backend="cpu"))
