"""fastct's own linear SVM (written against ``xp``) against scikit-learn's LinearSVC."""

from __future__ import annotations

import numpy as np
import pytest

from fastct.errors import InvalidArgumentError
from fastct.ml.linear_svm import decision_function, fit_linear_svm

sklearn_svm = pytest.importorskip("sklearn.svm")
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _data(n_classes, seed=0, n=240, d=12):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=6, n_redundant=2, n_classes=n_classes,
                               n_clusters_per_class=1, class_sep=1.0, flip_y=0.05, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _liblinear(X, y, C):
    return sklearn_svm.LinearSVC(C=C, loss="squared_hinge", penalty="l2", dual=False, tol=1e-12,
                                 max_iter=100000).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("C", [0.05, 1.0, 20.0])
def test_coefficients_and_accuracy_agree_with_linearsvc(n_classes, C):
    X, y = _data(n_classes, seed=n_classes)
    ref = _liblinear(X, y, C)
    coef, intercept, n_iter, converged = fit_linear_svm(X, y, n_classes, C=C, tol=1e-10)
    assert converged and n_iter < 60
    assert coef.shape == ref.coef_.shape and intercept.shape == ref.intercept_.shape
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-5 * scale, rtol=0)
    scores = decision_function(X, coef, intercept)
    np.testing.assert_allclose(scores, ref.decision_function(X), atol=1e-5 * max(1.0, np.abs(scores).max()))
    mine = (scores > 0).astype(int) if n_classes == 2 else scores.argmax(axis=1)
    assert (mine == ref.predict(X)).mean() >= 0.995
    assert abs((mine == y).mean() - ref.score(X, y)) <= 0.005


def test_intercept_scaling_matches_liblinear():
    X, y = _data(3, seed=9)
    ref = sklearn_svm.LinearSVC(C=1.0, dual=False, tol=1e-12, max_iter=100000, intercept_scaling=10.0).fit(X, y)
    coef, intercept, _, _ = fit_linear_svm(X, y, 3, C=1.0, tol=1e-10, intercept_scaling=10.0)
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-5)


def test_separable_data_and_float32():
    X = np.array([[0, 0], [0, 1], [1, 0], [3, 3], [3, 4], [4, 3]], np.float32)
    y = np.array([0, 0, 0, 1, 1, 1])
    coef, intercept, _, ok = fit_linear_svm(X, y, 2)
    assert ok and coef.dtype == np.float32
    assert ((decision_function(X, coef, intercept) > 0) == (y == 1)).all()


def test_deterministic():
    X, y = _data(4, seed=3)
    a = fit_linear_svm(X, y, 4)
    b = fit_linear_svm(X, y, 4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_bad_arguments():
    X, y = _data(2)
    with pytest.raises(InvalidArgumentError, match="two classes"):
        fit_linear_svm(X, np.zeros(len(X), int), 1)
    with pytest.raises(InvalidArgumentError, match="C"):
        fit_linear_svm(X, y, 2, C=0.0)


def test_own_solver_on_cupy_matches_numpy():
    """The same code on the GPU (CuPy namespace); runs only where CuPy and a GPU are usable."""
    from fastct import backends

    if not backends.status("gpu").available:
        pytest.skip(f"gpu backend unusable: {backends.status('gpu').reason}")
    import cupy

    X, y = _data(3, seed=4)
    cpu = fit_linear_svm(X, y, 3, tol=1e-10)
    gpu = fit_linear_svm(cupy.asarray(X), cupy.asarray(y), 3, xp=cupy, tol=1e-10)
    np.testing.assert_allclose(cupy.asnumpy(gpu[0]), cpu[0], atol=1e-8)
    np.testing.assert_allclose(cupy.asnumpy(gpu[1]), cpu[1], atol=1e-8)
