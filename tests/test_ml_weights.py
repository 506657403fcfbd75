"""SVMClassifier: sample weights, class weights, probabilities, convergence warnings, weighted cross-validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from ml_doubles import FakeCumlSVC, install_fake_gpu  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score, cross_validate  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC, LinearSVC  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight  # noqa: E402

from fastct.errors import InvalidArgumentError, NotImplementedOnBackend  # noqa: E402
from fastct.ml import SVMClassifier  # noqa: E402
from fastct.ml.calibration import fit_sigmoid, sigmoid_proba  # noqa: E402


def _data(n_classes=3, n=150, seed=0, weights=None, sep=1.0):
    X, y = make_classification(n_samples=n, n_features=8, n_informative=5, n_redundant=1, n_classes=n_classes,
                               n_clusters_per_class=1, class_sep=sep, flip_y=0.05, weights=weights,
                               random_state=seed)
    return StandardScaler().fit_transform(X), y


# ---------------------------------------------------------------------------
# sample_weight


@pytest.mark.parametrize("n_classes", [2, 3])
def test_own_solver_weighted_fit_equals_fit_on_repeated_samples(n_classes):
    X, y = _data(n_classes)
    w = np.random.default_rng(1).integers(0, 4, len(y))  # 0 = removed, k = k copies
    kw = {"backend": "cpu", "solver": "fastct", "tol": 1e-12}
    weighted = SVMClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = SVMClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    unweighted = SVMClassifier(**kw).fit(X, y)
    assert np.abs(unweighted.coef_ - weighted.coef_).max() > 1e-3  # the weights did something


def test_sklearn_solver_weighted_fit_matches_repeated_samples_to_libsvm_tolerance():
    X, y = _data(3)
    w = np.random.default_rng(2).integers(0, 4, len(y))
    weighted = SVMClassifier(backend="cpu", tol=1e-8).fit(X, y, sample_weight=w)
    repeated = SVMClassifier(backend="cpu", tol=1e-8).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X), atol=1e-5)
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    # and it is SVC's own weighting
    ref = SVC(kernel="linear", tol=1e-8).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(weighted.decision_function(X), ref.decision_function(X), atol=1e-9)


def test_sample_weight_does_not_modify_the_input_and_accepts_lists():
    X, y = _data(2)
    w = np.ones(len(y))
    w[0] = 10.0
    before = w.copy()
    SVMClassifier(backend="cpu", solver="fastct").fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(w, before)
    a = SVMClassifier(backend="cpu", solver="fastct").fit(X, y, sample_weight=w.tolist())
    b = SVMClassifier(backend="cpu", solver="fastct").fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(150), ">= 0"),
        (np.ones(149), "shape"),
        (np.full(150, np.nan), "NaN"),
        (np.zeros(150), "zero"),
        ("heavy", "numbers"),
    ],
)
def test_bad_sample_weight(weights, message):
    X, y = _data(2)
    with pytest.raises(InvalidArgumentError, match=f"sample_weight.*{message}"):
        SVMClassifier(backend="cpu").fit(X, y, sample_weight=weights)


def test_a_class_without_weight_is_refused_by_name():
    X, y = _data(3)
    w = (y != 2).astype(float)
    with pytest.raises(InvalidArgumentError, match="class 2"):
        SVMClassifier(backend="cpu", solver="fastct").fit(X, y, sample_weight=w)


# ---------------------------------------------------------------------------
# class_weight


@pytest.mark.parametrize("solver", ["sklearn", "fastct"])
def test_balanced_weights_change_the_decision_on_an_imbalanced_set(solver):
    X, y = _data(2, n=400, seed=3, weights=[0.9, 0.1], sep=0.6)
    plain = SVMClassifier(backend="cpu", solver=solver).fit(X, y)
    balanced = SVMClassifier(backend="cpu", solver=solver, class_weight="balanced").fit(X, y)
    minority = y == 1
    recall_plain = (plain.predict(X)[minority] == 1).mean()
    recall_balanced = (balanced.predict(X)[minority] == 1).mean()
    assert recall_balanced > recall_plain + 0.1, (recall_plain, recall_balanced)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    np.testing.assert_allclose(balanced.class_weight_, compute_class_weight("balanced", classes=np.array([0, 1]), y=y))
    np.testing.assert_array_equal(plain.class_weight_, [1.0, 1.0])


@pytest.mark.parametrize("solver", ["sklearn", "fastct"])
def test_class_weight_is_c_per_class_like_sample_weights(solver):
    X, y = _data(3)
    labels = np.array(["a", "b", "c"])[y]
    cw = {"a": 0.5, "c": 3.0}  # "b" missing: 1
    by_class = SVMClassifier(backend="cpu", solver=solver, class_weight=cw, tol=1e-10).fit(X, labels)
    by_sample = SVMClassifier(backend="cpu", solver=solver, tol=1e-10).fit(
        X, labels, sample_weight=np.array([0.5, 1.0, 3.0])[y])
    np.testing.assert_allclose(by_class.decision_function(X), by_sample.decision_function(X), atol=1e-8)
    np.testing.assert_array_equal(by_class.class_weight_, [0.5, 1.0, 3.0])
    # both multiply: class weight times sample weight
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    both = SVMClassifier(backend="cpu", solver=solver, class_weight=cw, tol=1e-10).fit(X, labels, sample_weight=w)
    product = SVMClassifier(backend="cpu", solver=solver, tol=1e-10).fit(
        X, labels, sample_weight=w * np.array([0.5, 1.0, 3.0])[y])
    np.testing.assert_allclose(both.decision_function(X), product.decision_function(X), atol=1e-8)


def test_class_weight_matches_scikit_learn():
    X, y = _data(3, seed=5)
    for cw in ("balanced", {0: 2.0, 2: 0.25}):
        ours = SVMClassifier("rbf", backend="cpu", class_weight=cw, tol=1e-8).fit(X, y)
        ref = SVC(kernel="rbf", class_weight=cw, tol=1e-8).fit(X, y)
        np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-6)
        np.testing.assert_allclose(ours.class_weight_, ref.class_weight_)
    # binary: the own solver solves LinearSVC's weighted problem
    Xb, yb = _data(2, seed=6, weights=[0.8, 0.2])
    own = SVMClassifier(backend="cpu", solver="fastct", class_weight="balanced", tol=1e-12).fit(Xb, yb)
    ref = LinearSVC(class_weight="balanced", dual=False, tol=1e-12, max_iter=100000).fit(Xb, yb)
    np.testing.assert_allclose(own.coef_, ref.coef_, atol=1e-5 * np.abs(ref.coef_).max())


@pytest.mark.parametrize(
    "class_weight, message",
    [({"zzz": 2.0}, "class_weight"), ("heavy", "class_weight"), ({0: -1.0}, "class_weight"), (3, "class_weight")],
)
def test_bad_class_weight(class_weight, message):
    X, y = _data(2)
    with pytest.raises(InvalidArgumentError, match=message):
        SVMClassifier(backend="cpu", class_weight=class_weight).fit(X, y)


# ---------------------------------------------------------------------------
# probabilities


@pytest.mark.parametrize("solver, kernel", [("sklearn", "linear"), ("sklearn", "rbf"), ("fastct", "linear")])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_predict_proba_rows_sum_to_one_and_follow_the_decision(solver, kernel, n_classes):
    X, y = _data(n_classes, n=240, seed=n_classes)
    clf = SVMClassifier(kernel, backend="cpu", solver=solver, probability=True).fit(X, y)
    p = clf.predict_proba(X)
    assert p.shape == (len(y), n_classes) and (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p))
    assert (p.argmax(axis=1) == clf.predict(X)).mean() >= 0.97  # Platt is fitted apart from the decision
    assert clf.calibration_.shape == (1 if n_classes == 2 else n_classes, 2)
    assert (clf.calibration_[:, 0] < 0).all()  # larger decision values, larger probabilities
    if n_classes == 2:
        order = np.argsort(clf.decision_function(X))
        assert (np.diff(p[order, 1]) >= -1e-15).all()


@pytest.mark.parametrize("solver", ["sklearn", "fastct"])
def test_probabilities_are_calibrated(solver):
    """On data drawn from a known logistic model, predicted probabilities match observed frequencies."""
    rng = np.random.default_rng(7)
    n = 4000
    X = rng.normal(size=(n, 2))
    true_p = 1.0 / (1.0 + np.exp(-(1.5 * X[:, 0] - 1.0 * X[:, 1] + 0.3)))
    y = (rng.uniform(size=n) < true_p).astype(int)
    kind = "linear"
    clf = SVMClassifier(kind, backend="cpu", solver=solver, probability=True).fit(X[:3000], y[:3000])
    p = clf.predict_proba(X[3000:])[:, 1]
    assert np.abs(p - true_p[3000:]).mean() < 0.04
    # reliability: in each decile of predicted probability, the observed frequency is close
    bins = np.quantile(p, np.linspace(0, 1, 11))
    index = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    gaps = [abs(p[index == b].mean() - y[3000:][index == b].mean()) for b in range(10)]
    assert max(gaps) < 0.1 and np.mean(gaps) < 0.05, gaps
    brier = np.mean((p - y[3000:]) ** 2)
    assert brier < np.mean((true_p[3000:] - y[3000:]) ** 2) + 0.01


def test_own_calibration_is_calibrated_classifier_cv_with_sigmoids():
    """The same folds through scikit-learn's CalibratedClassifierCV(method='sigmoid', ensemble=False)."""
    X, y = _data(3, n=300, seed=8)
    folds = list(StratifiedKFold(5).split(X, y))
    ours = SVMClassifier(backend="cpu", solver="fastct", probability=True, cv=folds).fit(X, y)
    ref = CalibratedClassifierCV(SVMClassifier(backend="cpu", solver="fastct"), method="sigmoid", cv=folds,
                                 ensemble=False).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=2e-3)
    # the default folds are those stratified 5 folds
    default = SVMClassifier(backend="cpu", solver="fastct", probability=True).fit(X, y)
    np.testing.assert_allclose(default.predict_proba(X), ours.predict_proba(X), atol=1e-12)


def test_weighted_probabilities_equal_repeated_samples_with_the_same_folds():
    X, y = _data(2, n=60, seed=9)
    w = np.random.default_rng(9).integers(1, 4, len(y))
    rows = np.repeat(np.arange(len(y)), w)
    folds_w = list(StratifiedKFold(3).split(X, y))
    folds_r = [(np.flatnonzero(np.isin(rows, tr)), np.flatnonzero(np.isin(rows, te))) for tr, te in folds_w]
    kw = {"backend": "cpu", "solver": "fastct", "probability": True, "tol": 1e-12}
    weighted = SVMClassifier(**kw, cv=folds_w).fit(X, y, sample_weight=w)
    repeated = SVMClassifier(**kw, cv=folds_r).fit(X[rows], y[rows])
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-7)


def test_no_predict_proba_without_probability():
    X, y = _data(2)
    clf = SVMClassifier(backend="cpu").fit(X, y)
    assert not hasattr(clf, "predict_proba") and not hasattr(clf, "predict_log_proba")
    with pytest.raises(AttributeError, match="predict_proba"):
        clf.predict_proba(X)


def test_probability_needs_two_samples_of_every_class():
    X = np.arange(10.0)[:, None]
    y = np.array([0] * 5 + [1] * 4 + [2])
    with pytest.raises(InvalidArgumentError, match="class 2"):
        SVMClassifier(backend="cpu", probability=True).fit(X, y)
    with pytest.raises(InvalidArgumentError, match="cv"):
        SVMClassifier(backend="cpu", probability=True, cv=7).fit(X[:9], y[:9])
    SVMClassifier(backend="cpu", probability=True, cv=2).fit(X[:9], y[:9])  # 2 folds fit


def test_sigmoid_fit_recovers_a_known_sigmoid():
    rng = np.random.default_rng(10)
    f = rng.normal(0, 2, 20000)
    y = rng.uniform(size=f.size) < 1.0 / (1.0 + np.exp(-1.7 * f + 0.4))  # A = -1.7, B = 0.4
    A, B = fit_sigmoid(f, y)
    assert abs(A + 1.7) < 0.08 and abs(B - 0.4) < 0.08
    p = sigmoid_proba(np.array([0.0, 10.0]), np.array([[A, B]]))
    assert p[1, 1] > 0.99 and abs(p[0].sum() - 1) < 1e-12


# ---------------------------------------------------------------------------
# convergence


def test_own_solver_warns_when_it_stops_at_max_iter():
    X, y = _data(3)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        SVMClassifier(backend="cpu", solver="fastct", max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        SVMClassifier(backend="cpu", solver="fastct").fit(X, y)  # converges: no warning


def test_svc_warns_when_it_stops_at_max_iter():
    X, y = _data(3)
    with pytest.warns(ConvergenceWarning):
        SVMClassifier(backend="cpu", max_iter=1).fit(X, y)


def test_bad_max_iter():
    X, y = _data(2)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="max_iter"):
            SVMClassifier(backend="cpu", max_iter=bad).fit(X, y)


# ---------------------------------------------------------------------------
# weighted cross-validation


@pytest.mark.parametrize("solver", ["sklearn", "fastct"])
def test_weighted_cross_validation(solver):
    X, y = _data(3, n=120, seed=11)
    w = np.random.default_rng(11).uniform(0.2, 3.0, len(y))
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    scores = cross_val_score(SVMClassifier(backend="cpu", solver=solver), X, y, cv=cv, params={"sample_weight": w})
    manual = []
    for train, test in cv.split(X, y):
        clf = SVMClassifier(backend="cpu", solver=solver).fit(X[train], y[train], sample_weight=w[train])
        manual.append(clf.score(X[test], y[test]))
    np.testing.assert_allclose(scores, manual)
    # in a pipeline, and with probabilities (scored by log-loss)
    pipe = make_pipeline(StandardScaler(), SVMClassifier(backend="cpu", solver=solver, probability=True))
    out = cross_validate(pipe, X, y, cv=cv, params={"svmclassifier__sample_weight": w}, scoring="neg_log_loss")
    assert np.isfinite(out["test_score"]).all() and (out["test_score"] < 0).all()


def test_weighted_cross_validation_with_metadata_routing():
    import sklearn

    X, y = _data(2, n=80, seed=12)
    w = np.random.default_rng(12).uniform(0.2, 3.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        clf = SVMClassifier(backend="cpu", solver="fastct").set_fit_request(sample_weight=True)
        clf.set_score_request(sample_weight=False)
        scores = cross_val_score(clf, X, y, cv=4, params={"sample_weight": w})
    assert scores.shape == (4,)


# ---------------------------------------------------------------------------
# the cuML path, with a stand-in for cuML's SVC (documented API: fit(X, y, sample_weight=None))


@pytest.fixture
def fake_cuml(monkeypatch):
    install_fake_gpu(monkeypatch, FakeCumlSVC)
    return FakeCumlSVC


def test_cuml_gets_sample_weights_for_two_classes(fake_cuml):
    X, y = _data(2)
    w = np.random.default_rng(13).uniform(0.5, 2.0, len(y))
    clf = SVMClassifier(backend="gpu", class_weight={1: 2.0}).fit(X, y, sample_weight=w)
    assert clf.solver_ == "cuml"
    _, passed = fake_cuml.fits[-1]
    np.testing.assert_allclose(passed, w * np.where(y == 1, 2.0, 1.0))
    ref = SVMClassifier(backend="cpu", class_weight={1: 2.0}).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(X), atol=1e-9)
    prob = SVMClassifier(backend="gpu", probability=True).fit(X, y)
    assert len(fake_cuml.fits) == 1 + 5 + 1  # the fit above, five calibration folds, the final fit
    np.testing.assert_allclose(prob.predict_proba(X).sum(axis=1), 1.0)


def test_cuml_multiclass_weights(fake_cuml):
    X, y = _data(3)
    # cuML ignores sample weights with more than two classes: uniform ones become C, others are refused
    SVMClassifier(backend="gpu", C=0.5).fit(X, y, sample_weight=np.full(len(y), 4.0))
    params, passed = fake_cuml.fits[-1]
    assert params["C"] == 2.0 and passed is None
    with pytest.raises(NotImplementedOnBackend, match="solver='fastct'"):
        SVMClassifier(backend="gpu").fit(X, y, sample_weight=np.arange(len(y)) % 3 + 1.0)
    own = SVMClassifier(backend="gpu", solver="fastct", class_weight="balanced").fit(X, y)
    assert own.solver_ == "fastct"


def test_evaluate_passes_weights_to_the_training_fits():
    from fastct.ml import evaluate

    X, y = _data(2, n=100, seed=14, weights=[0.85, 0.15], sep=0.6)
    heavy = np.where(y == 1, 8.0, 1.0)
    plain = evaluate(make_pipeline(SVMClassifier(backend="cpu", solver="fastct")), X, y, cv=4)
    weighted = evaluate(make_pipeline(SVMClassifier(backend="cpu", solver="fastct")), X, y, cv=4,
                        sample_weight=heavy)
    balanced = evaluate(SVMClassifier(backend="cpu", solver="fastct", class_weight="balanced"), X, y, cv=4)
    assert weighted.per_class["1"]["recall"] > plain.per_class["1"]["recall"]
    assert balanced.per_class["1"]["recall"] > plain.per_class["1"]["recall"]
    with pytest.raises(InvalidArgumentError, match="sample_weight"):
        evaluate(SVMClassifier(backend="cpu"), X, y, sample_weight=heavy[:-1])


def test_classify_command_takes_balanced_class_weights(capsys):
    import json

    from fastct import cli

    assert cli.main(["classify", "--synthetic", "4", "--size", "64", "--backend", "cpu", "--class-weight",
                     "balanced", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["class_weight"] == "balanced"
