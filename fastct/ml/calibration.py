"""Platt scaling: decision values -> probabilities, in plain NumPy.

:class:`~fastct.ml.SVMClassifier` with ``probability=True`` fits, for every
column of its cross-validated decision values, a sigmoid

    P(class | f) = 1 / (1 + exp(A f + B))

by Platt's method (J. Platt, "Probabilistic outputs for support vector
machines", 1999) with the regularised targets and the Newton iteration with
backtracking of H.-T. Lin, C.-J. Lin and R. C. Weng, "A note on Platt's
probabilistic outputs for support vector machines" (Machine Learning, 2007).
Two classes use one sigmoid on the decision value of ``classes_[1]``; more
classes use one sigmoid per one-vs-rest column, normalised so that each row
sums to one. That is the calibration scikit-learn's
``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` computes (the
replacement scikit-learn 1.9 names for ``SVC(probability=True)``).

Sample weights weigh both the log-loss and the class counts of Platt's
targets, so a weight of ``k`` stays the same as ``k`` copies of a sample.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["fit_sigmoid", "fit_sigmoids", "sigmoid_proba"]


def _expit(z):
    # 1 / (1 + exp(-z)) without overflow warnings for large |z|
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def fit_sigmoid(scores, positive, sample_weight=None, *, max_iter: int = 100):
    """Platt's sigmoid for one column of decision values.

    Parameters
    ----------
    scores : array of float, shape (n,)
        Decision values (out-of-fold, so that they are not over-confident).
    positive : array of bool, shape (n,)
        True where the sample belongs to the class the column scores.
    sample_weight : array of float, shape (n,), optional
        Non-negative weights.
    max_iter : int
        Newton iterations.

    Returns
    -------
    (A, B) : tuple of float
        ``P(positive | f) = 1 / (1 + exp(A * f + B))``; ``A < 0`` when
        larger scores mean the class is more likely.

    Examples
    --------
    >>> f = np.array([-2.0, -1.5, -1.0, -0.2, 0.3, 1.0, 1.4, 2.2])
    >>> A, B = fit_sigmoid(f, f > 0)
    >>> A < 0
    True
    """
    f = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    w = np.ones_like(f) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_pos, n_neg = float(w[pos].sum()), float(w[~pos].sum())
    # Regularised targets: never exactly 0 or 1, so the fit stays finite on separable data.
    t = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))

    def loss(a_, b_):
        z = a_ * f + b_
        # -t log p - (1 - t) log(1 - p) with p = 1 / (1 + e^z), written without overflow
        return float(w @ (np.logaddexp(0.0, z) - (1.0 - t) * z))

    value = loss(a, b)
    for _ in range(max_iter):
        z = a * f + b
        p = _expit(-z)  # P(positive)
        d = w * (t - p)  # d loss / d z
        ga, gb = float(d @ f), float(d.sum())
        if abs(ga) < 1e-10 and abs(gb) < 1e-10:
            break
        h = w * p * (1.0 - p) + 1e-12  # a small ridge keeps the 2x2 system solvable
        haa, hab, hbb = float(h @ (f * f)) + 1e-12, float(h @ f), float(h.sum())
        det = haa * hbb - hab * hab
        da = -(hbb * ga - hab * gb) / det
        db = -(haa * gb - hab * ga) / det
        slope = ga * da + gb * db
        step = 1.0
        while step >= 1e-10:
            new = loss(a + step * da, b + step * db)
            if new <= value + 1e-4 * step * slope:
                break
            step *= 0.5
        else:  # no decrease left at this precision: (a, b) is the minimum to rounding
            break
        a, b, value = a + step * da, b + step * db, new
    return a, b


def fit_sigmoids(scores, y_index, n_classes: int, sample_weight=None) -> np.ndarray:
    """Platt sigmoids for a classifier's decision values.

    Parameters
    ----------
    scores : array, shape (n,) for two classes, else (n, n_classes)
        Out-of-fold decision values (one-vs-rest columns for more classes).
    y_index : array of int, shape (n,)
        Class index of each sample.
    n_classes : int
    sample_weight : array, shape (n,), optional

    Returns
    -------
    ndarray, shape (n_columns, 2)
        ``(A, B)`` of each column.

    Examples
    --------
    >>> f = np.array([-2.0, -1.0, -0.5, 0.4, 1.0, 2.0])
    >>> fit_sigmoids(f, np.array([0, 0, 0, 1, 1, 1]), 2).shape
    (1, 2)
    """
    scores = np.asarray(scores, dtype=np.float64)
    y_index = np.asarray(y_index)
    if n_classes == 2:
        if scores.ndim != 1:
            raise InvalidArgumentError(f"scores: expected shape (n,) for two classes, got {scores.shape}")
        return np.array([fit_sigmoid(scores, y_index == 1, sample_weight)])
    if scores.ndim != 2 or scores.shape[1] != n_classes:
        raise InvalidArgumentError(f"scores: expected shape (n, {n_classes}), got {scores.shape}")
    return np.array([fit_sigmoid(scores[:, k], y_index == k, sample_weight) for k in range(n_classes)])


def sigmoid_proba(scores, calibration) -> np.ndarray:
    """Class probabilities from decision values and :func:`fit_sigmoids`' parameters.

    Returns
    -------
    ndarray, shape (n, n_classes)
        Rows sum to one.

    Examples
    --------
    >>> sigmoid_proba(np.array([0.0]), np.array([[-2.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    scores = np.asarray(scores, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    if scores.ndim == 1:
        p1 = _expit(-(calibration[0, 0] * scores + calibration[0, 1]))
        return np.stack([1.0 - p1, p1], axis=1)
    p = _expit(-(scores * calibration[:, 0] + calibration[:, 1]))
    total = p.sum(axis=1, keepdims=True)
    # All sigmoids at 0 for a row (far from every class): no information, uniform.
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)
