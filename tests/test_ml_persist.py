"""Model files: JSON + arrays (no pickle), round trips, refused pickles, tampered files, recorded input shape."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

pytest.importorskip("sklearn")
import joblib  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from fastct import __version__  # noqa: E402
from fastct.datasets import lung_phantoms  # noqa: E402
from fastct.errors import InvalidArgumentError  # noqa: E402
from fastct.ml import (  # noqa: E402
    Features,
    SVMClassifier,
    UntrustedModelError,
    feature_names,
    load_model,
    make_model,
    raw_pixel_model,
    read_header,
    save_model,
)


@pytest.fixture(scope="module")
def data():
    return lung_phantoms(6, 64, seed=4)


def _same(a, b, X):
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    if hasattr(b, "predict_proba"):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# ---------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("solver, kernel, probability", [
    ("sklearn", "linear", False), ("sklearn", "rbf", True), ("fastct", "linear", False), ("fastct", "linear", True),
])
def test_round_trip_gives_identical_predictions(tmp_path, data, solver, kernel, probability):
    images, labels = data
    model = make_model(kernel, backend="cpu", solver=solver).set_params(svm__probability=probability,
                                                                        svm__class_weight="balanced")
    model.fit(images, labels)
    path = save_model(model, tmp_path / "m.fastct", info={"note": "test"})
    loaded, header = load_model(path, with_info=True)
    _same(loaded, model, images)
    assert header["classes"] == sorted(set(labels.tolist())) and header["info"] == {"note": "test"}
    assert loaded.get_params()["svm__class_weight"] == "balanced"
    assert hasattr(loaded, "predict_proba") == probability


@pytest.mark.parametrize("labels", [
    np.array(["b", "a", "c"] * 10),
    np.array([3, -1, 7] * 10),
    np.array([True, False, True] * 10),
    np.array(["b", "a", "c"] * 10, dtype=object),
    np.array([1.5, 2.5, 4.0] * 10).astype(int),
])
@pytest.mark.parametrize("solver", ["sklearn", "fastct"])
def test_bare_classifier_with_labels_of_any_type(tmp_path, labels, solver):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(labels), 5)) + np.unique(labels, return_inverse=True)[1][:, None]
    clf = SVMClassifier(backend="cpu", solver=solver, class_weight={labels[0]: 2.0}).fit(X, labels)
    loaded = load_model(save_model(clf, tmp_path / "c.fastct"))
    _same(loaded, clf, X)
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.predict(X).dtype == clf.predict(X).dtype


def test_raw_pixel_model_round_trip(tmp_path, data):
    images, labels = data
    model = raw_pixel_model(backend="cpu").fit(images, labels)
    loaded = load_model(save_model(model, tmp_path / "raw.fastct"))
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    assert read_header(tmp_path / "raw.fastct")["input"]["slice_shape"] == [64, 64]


def test_backend_can_be_changed_on_load(tmp_path, data):
    images, labels = data
    model = make_model(backend="cpu", solver="fastct").fit(images, labels)
    loaded = load_model(save_model(model, tmp_path / "m.fastct"), backend="auto")
    assert loaded.get_params()["svm__backend"] == "auto" and loaded.get_params()["features__backend"] == "auto"


def test_unsupported_estimators_are_not_saved(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = np.arange(8.0)[:, None], [0, 1] * 4
    with pytest.raises(InvalidArgumentError, match="LogisticRegression"):
        save_model(LogisticRegression().fit(X, y), tmp_path / "lr.fastct")
    assert not (tmp_path / "lr.fastct").exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# the format holds nothing executable


def test_the_file_is_json_and_npy_arrays_only(tmp_path, data):
    images, labels = data
    path = save_model(make_model(backend="cpu").fit(images, labels), tmp_path / "m.fastct")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        doc = json.loads(zf.read("model.json"))
        assert names[0] == "model.json" and all(n.endswith(".npy") for n in names[1:])
        for name in names[1:]:
            raw = zf.read(name)
            assert raw.startswith(b"\x93NUMPY")
    # numpy reads every array without pickle
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "model.json"}
    assert arrays and all(a.dtype != object for a in arrays.values())
    assert doc["header"]["format"] == "fastct-model/2"


def test_header_records_what_prediction_needs(tmp_path, data):
    images, labels = data
    model = make_model(backend="cpu", steps="erode:3,equalize", groups=["hu", "lbp"]).fit(images, labels)
    path = save_model(model, tmp_path / "m.fastct", resize=64)
    header = read_header(path)
    assert header["fastct"] == __version__ and header["scikit-learn"] and header["numpy"] == np.__version__
    record = header["input"]
    assert record["slice_shape"] == [64, 64] and record["resize"] == [64, 64]
    assert record["steps"] == "erode:3,equalize"
    assert record["features"]["groups"] == ["hu", "lbp"] and record["features"]["grid"] == 8
    assert record["features"]["names"] == feature_names(["hu", "lbp"])
    assert record["features"]["constants"]["HU_EDGES"][0] == -950
    with pytest.raises(InvalidArgumentError, match="resize"):
        save_model(model, tmp_path / "bad.fastct", resize=128)  # not the shape it was fitted on


# ---------------------------------------------------------------------------
# pickles: refused without trust, and their code never runs


class _Payload:
    """Unpickling this writes a marker file: the proof that loading ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    for name, dump in (("evil.joblib", joblib.dump), ("evil.pkl", None)):
        path = tmp_path / name
        if dump is None:
            path.write_bytes(pickle.dumps(_Payload(str(marker))))
        else:
            dump(_Payload(str(marker)), path)
        with pytest.raises(UntrustedModelError, match="trust"):
            load_model(path)
        with pytest.raises(InvalidArgumentError):  # UntrustedModelError is an InvalidArgumentError
            load_model(path, backend="cpu", with_info=True)
        assert not marker.exists()
    # With trust the file is unpickled (which is exactly why trust must be explicit).
    with pytest.raises(InvalidArgumentError, match="not a fitted model"):
        load_model(tmp_path / "evil.pkl", trust=True)
    assert marker.exists()


def test_trusted_joblib_model_loads(tmp_path, data):
    images, labels = data
    model = make_model(backend="cpu").fit(images, labels)
    joblib.dump(model, tmp_path / "plain.joblib")
    with pytest.raises(UntrustedModelError):
        load_model(tmp_path / "plain.joblib")
    plain = load_model(tmp_path / "plain.joblib", trust=True, backend="auto")
    np.testing.assert_array_equal(plain.predict(images), model.predict(images))
    assert plain.get_params()["svm__backend"] == "auto"


def test_bad_files(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no such file"):
        load_model(tmp_path / "missing.fastct")
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    with pytest.raises(UntrustedModelError):
        load_model(tmp_path / "junk.bin")
    with pytest.raises(InvalidArgumentError, match="not a loadable model"):
        load_model(tmp_path / "junk.bin", trust=True)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InvalidArgumentError, match="model.json"):
        load_model(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "broken.fastct", "w") as zf:
        zf.writestr("model.json", "{not json")
    with pytest.raises(InvalidArgumentError, match="not a readable"):
        load_model(tmp_path / "broken.fastct")


# ---------------------------------------------------------------------------
# tampered files are refused before anything reaches compiled code


def _rewrite(path, out, edit_json=None, edit_arrays=None):
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("model.json"))
        members = {n: zf.read(n) for n in zf.namelist() if n != "model.json"}
    if edit_json:
        edit_json(doc)
    if edit_arrays:
        edit_arrays(members)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("model.json", json.dumps(doc))
        for n, raw in members.items():
            zf.writestr(n, raw)
    return out


def _npy(array):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _svc_node(doc):
    steps = doc["model"]["params"]["steps"]
    return steps[-1]["__tuple__"][1]["state"]["model_"]


@pytest.fixture(scope="module")
def saved_svc(tmp_path_factory, data):
    images, labels = data
    path = tmp_path_factory.mktemp("svc") / "m.fastct"
    return save_model(make_model("rbf", backend="cpu").fit(images, labels), path)


def test_unknown_classes_are_not_built(tmp_path, saved_svc):
    def evil(doc):
        doc["model"]["__estimator__"] = "os.system"

    with pytest.raises(InvalidArgumentError, match="os.system"):
        load_model(_rewrite(saved_svc, tmp_path / "evil.fastct", evil))

    def extra_param(doc):
        doc["model"]["params"]["__class__"] = "x"

    with pytest.raises(InvalidArgumentError, match="unknown parameters"):
        load_model(_rewrite(saved_svc, tmp_path / "param.fastct", extra_param))

    def extra_attr(doc):
        _svc_node(doc)["state"]["predict"] = "x"

    with pytest.raises(InvalidArgumentError, match="unknown fitted attributes"):
        load_model(_rewrite(saved_svc, tmp_path / "attr.fastct", extra_attr))


def test_inconsistent_svc_arrays_are_refused(tmp_path, saved_svc):
    def key(doc, attr):
        return _svc_node(doc)["state"][attr]["__array__"] + ".npy"

    with zipfile.ZipFile(saved_svc) as zf:
        doc = json.loads(zf.read("model.json"))
    n_support_key = key(doc, "_n_support")
    sv_key = key(doc, "support_vectors_")

    def more_support(members):  # claims more support vectors than stored: libsvm would read past the end
        ns = np.lib.format.read_array(__import__("io").BytesIO(members[n_support_key]))
        members[n_support_key] = _npy((ns + 5).astype(np.int32))

    with pytest.raises(InvalidArgumentError, match="_n_support"):
        load_model(_rewrite(saved_svc, tmp_path / "ns.fastct", edit_arrays=more_support))

    def short_vectors(members):
        sv = np.lib.format.read_array(__import__("io").BytesIO(members[sv_key]))
        members[sv_key] = _npy(np.ascontiguousarray(sv[:, :-1]))

    with pytest.raises(InvalidArgumentError, match="n_features_in_|support_vectors_"):
        load_model(_rewrite(saved_svc, tmp_path / "sv.fastct", edit_arrays=short_vectors))

    def object_array(members):  # a pickled object array inside the zip is not read
        buf = __import__("io").BytesIO()
        np.lib.format.write_array(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        members[sv_key] = buf.getvalue()

    with pytest.raises(InvalidArgumentError, match="not a readable"):
        load_model(_rewrite(saved_svc, tmp_path / "obj.fastct", edit_arrays=object_array))


def test_features_computed_differently_are_refused(tmp_path, saved_svc):
    def other_features(doc):
        doc["header"]["input"]["features"]["constants"]["HU_EDGES"][0] = -960

    with pytest.raises(InvalidArgumentError, match="retrain"):
        load_model(_rewrite(saved_svc, tmp_path / "f.fastct", other_features))


def test_another_scikit_learn_version_warns(tmp_path, saved_svc):
    def older(doc):
        doc["header"]["scikit-learn"] = "1.6.0"

    with pytest.warns(UserWarning, match="scikit-learn 1.6.0"):
        load_model(_rewrite(saved_svc, tmp_path / "v.fastct", older))


# ---------------------------------------------------------------------------
# slice shape


def test_a_model_refuses_slices_of_another_shape(data):
    images, labels = data
    model = make_model(backend="cpu").fit(images, labels)
    bigger = lung_phantoms(1, 96, seed=1)[0]
    with pytest.raises(InvalidArgumentError, match="96x96.*64x64"):
        model.predict(bigger)
    with pytest.raises(InvalidArgumentError, match="64x64"):
        raw_pixel_model(backend="cpu").fit(images, labels).predict(bigger)
    # an unfitted transformer has no recorded shape and takes any size
    assert Features(backend="cpu").transform(bigger).shape[0] == len(bigger)


def test_cuml_models_are_saved_as_scikit_learn_twins(tmp_path, monkeypatch):
    import types

    from sklearn.svm import SVC

    from fastct import backends

    class FakeCuml:
        def __init__(self, **params):
            self._svc = SVC(**params)

        def fit(self, X, y, sample_weight=None):
            self._svc.fit(X, y, sample_weight=sample_weight)
            return self

        def decision_function(self, X):
            return self._svc.decision_function(X)

        def predict(self, X):
            return self._svc.predict(X).astype(float)

        def as_sklearn(self):
            return self._svc

    hooks = types.SimpleNamespace(array_module=lambda: np, cuml_svc=lambda: FakeCuml)
    real_get = backends.get
    monkeypatch.setattr(backends, "get", lambda backend="auto", array=None: types.SimpleNamespace(features=hooks)
                        if backends.resolve(backend, array) == "gpu" else real_get(backend, array))
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = SVMClassifier("rbf", backend="gpu", probability=True).fit(X, y)
    assert clf.solver_ == "cuml"
    loaded = load_model(save_model(clf, tmp_path / "g.fastct"))
    assert loaded.solver_ == "sklearn" and loaded.backend_ == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert clf.solver_ == "cuml"  # saving did not change the fitted model
    assert os.path.getsize(tmp_path / "g.fastct") > 0


def test_pipeline_without_fastct_steps_round_trips(tmp_path):
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3))
    y = np.repeat(["x", "y", "z"], 10)
    pipe = Pipeline([("scale", StandardScaler()), ("svm", SVMClassifier(backend="cpu"))]).fit(X, y)
    loaded = load_model(save_model(pipe, tmp_path / "p.fastct"))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert read_header(tmp_path / "p.fastct")["input"]["slice_shape"] is None
