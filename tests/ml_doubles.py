"""Test doubles of the classification stage's GPU path: a stand-in GPU backend
(NumPy namespace) and a stand-in for cuML's SVC (scikit-learn's SVC behind
cuML's documented API: ``fit(X, y, sample_weight=None)``, float labels,
``as_sklearn()``)."""

from __future__ import annotations

import types

import numpy as np


class FakeCumlSVC:
    """cuML's SVC as fastct calls it; every fit is recorded in ``fits`` as ``(params, sample_weight)``."""

    fits: list = []  # the record of every fit, shared on purpose

    def __init__(self, **params):
        from sklearn.svm import SVC

        self.params = params
        self._svc = SVC(**params)

    def fit(self, X, y, sample_weight=None):
        FakeCumlSVC.fits.append((self.params, sample_weight))
        self._svc.fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self._svc.predict(X).astype(np.float64)

    def decision_function(self, X):
        return self._svc.decision_function(X)

    def as_sklearn(self):
        return self._svc


def install_fake_gpu(monkeypatch, cuml_svc=None):
    """Make ``backend="gpu"`` resolve to a stand-in whose features hooks are returned (``cuml_svc`` settable)."""
    from fastct import backends

    hooks = types.SimpleNamespace(array_module=lambda: np, cuml_svc=lambda: cuml_svc)
    fake = types.SimpleNamespace(features=hooks)
    real_get = backends.get

    def get(backend="auto", array=None):
        return fake if backends.resolve(backend, array) == "gpu" else real_get(backend, array)

    monkeypatch.setattr(backends, "get", get)
    FakeCumlSVC.fits.clear()
    return hooks
