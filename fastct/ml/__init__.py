"""The classification stage: features, SVMs and evaluation for CT slices.

``fastct.ml.features`` turns slices into fixed-length vectors on a backend
(Numba on the CPU); :class:`Preprocess`, :class:`Features` and
:class:`SVMClassifier` are scikit-learn estimators for
:class:`sklearn.pipeline.Pipeline`; :func:`evaluate` splits, trains, scores
and draws the confusion matrix.

The estimators and the evaluation need scikit-learn (``pip install
'fastct-engine[ml]'``). ``import fastct.ml`` itself does not, so the feature
functions and the ``fastct`` command work without it; using an estimator
without scikit-learn raises an ``ImportError`` that names it.

Examples
--------
>>> from fastct.datasets import lung_phantoms
>>> from fastct.ml import make_model, evaluate
>>> images, labels = lung_phantoms(10, 64)
>>> result = evaluate(make_model(backend="cpu"), images, labels, test_size=0.25)
>>> sorted(result.classes), result.n_test
(['cavity', 'fibrosis', 'nodule', 'normal'], 10)
"""

from __future__ import annotations

import importlib

from .features import feature_names, features
from .linear_svm import fit_linear_svm
from .spec import DEFAULT_GROUPS, GROUPS

_LAZY = {
    "Preprocess": "estimators",
    "Features": "estimators",
    "SVMClassifier": "estimators",
    "make_model": "estimators",
    "raw_pixel_model": "estimators",
    "set_backend": "estimators",
    "evaluate": "evaluation",
    "Evaluation": "evaluation",
    "save_model": "persist",
    "load_model": "persist",
    "read_header": "persist",
    "UntrustedModelError": "persist",
}

__all__ = ["features", "feature_names", "GROUPS", "DEFAULT_GROUPS", "fit_linear_svm", *_LAZY]


def __getattr__(name):
    # The scikit-learn based names load on first use, so that ``import
    # fastct.ml`` (and the CLI that registers its commands from here) works
    # without scikit-learn; using them without it raises a clear ImportError.
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
