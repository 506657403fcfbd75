"""fastct's own linear SVM, written once against an array namespace ``xp``.

One-vs-rest, L2-regularised squared hinge loss, solved in the primal by
Newton's method with a backtracking line search (Keerthi & DeCoste, "A
modified finite Newton method for fast solution of large scale linear SVMs",
JMLR 2005). Per class it minimises

    f(w) = 1/2 |w|^2 + C sum_i s_i max(0, 1 - y_i <w, x_i>)^2

(``s_i`` the sample weights, 1 by default: a weight of ``k`` is the same
problem as ``k`` copies of the sample, a weight of 0 the same as removing it)
with ``x_i`` extended by the constant ``intercept_scaling`` so the intercept
is regularised too, exactly the problem scikit-learn's ``LinearSVC``
(liblinear, ``loss="squared_hinge"``, ``penalty="l2"``) solves: the two agree
on coefficients to the solvers' tolerance. With NumPy it runs on the CPU;
with CuPy, on the GPU (the fallback when cuML is not installed). Each Newton
step solves one ``(d+1) x (d+1)`` system, so it suits the few hundred
features of :func:`fastct.ml.features`, not raw pixels.

Nothing here imports scikit-learn, numba or cupy; the caller passes ``xp``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["fit_linear_svm", "decision_function"]


def _objective(xp, w, X, y, C, s):
    margin = 1.0 - y * (X @ w)
    loss = xp.maximum(margin, 0.0)
    return 0.5 * float(w @ w) + C * float((s * loss) @ loss), margin


def _newton_one(xp, X, y, C, s, tol, max_iter):
    """Minimise f for one binary problem (labels +-1, weights s). Returns (w, iterations, converged)."""
    d = X.shape[1]
    w = xp.zeros(d, dtype=X.dtype)
    eye = xp.eye(d, dtype=X.dtype)
    f, margin = _objective(xp, w, X, y, C, s)
    g0 = None
    tol = max(tol, 100.0 * float(np.finfo(np.dtype(X.dtype)).eps))  # float32 cannot go below ~1e-5
    for it in range(1, max_iter + 1):
        active = (margin > 0).astype(X.dtype) * s
        # gradient: w + 2C sum_active s_i x_i (x_i.w - y_i)
        residual = active * (X @ w - y)
        g = w + 2.0 * C * (X.T @ residual)
        gnorm = float(xp.sqrt(g @ g))
        if g0 is None:
            g0 = max(gnorm, 1e-300)
        if gnorm <= tol * g0 or gnorm == 0.0:
            return w, it - 1, True
        H = eye + 2.0 * C * (X.T @ (X * active[:, None]))
        step = -xp.linalg.solve(H, g)
        slope = float(g @ step)
        t = 1.0
        while True:  # Armijo backtracking; the objective is convex and piecewise quadratic
            w_new = w + t * step
            f_new, margin_new = _objective(xp, w_new, X, y, C, s)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-10:  # no decrease left at this precision: w is the minimum to rounding
                return w, it, gnorm <= 1e3 * tol * g0
        w, f, margin = w_new, f_new, margin_new
    return w, max_iter, False


def fit_linear_svm(X, y_index, n_classes: int, *, C: float = 1.0, xp=np, tol: float = 1e-8,
                   max_iter: int = 100, intercept_scaling: float = 1.0, sample_weight=None):
    """Fit one-vs-rest linear SVMs (squared hinge) on ``xp`` arrays.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
        Training features, on the device of ``xp``.
    y_index : array of int, shape (n_samples,)
        Class index of each sample, in ``[0, n_classes)``.
    n_classes : int
        Number of classes (>= 2). Two classes give one problem (class 1
        positive), like scikit-learn; more give one per class.
    C : float
        Inverse regularisation strength (> 0).
    xp : module
        Array namespace (``numpy`` or ``cupy``).
    tol : float
        Stop when the gradient norm falls below ``tol`` times its first value
        (at least 100 machine epsilons of the dtype).
    max_iter : int
        Newton iterations per problem.
    intercept_scaling : float
        Value of the constant feature that carries the (regularised) intercept.
    sample_weight : array, shape (n_samples,), optional
        Non-negative weight of each sample (on the device of ``xp``); it
        multiplies ``C`` for that sample in every one-vs-rest problem, as
        scikit-learn's ``SVC`` does. Class weights are folded in by the caller
        (``sample_weight * class_weight[y]``).

    Returns
    -------
    coef : array, shape (n_problems, n_features)
    intercept : array, shape (n_problems,)
    n_iter : int
        Largest number of Newton iterations used by any problem.
    converged : bool
        False when a problem stopped at ``max_iter`` (or its line search
        found no decrease) before reaching ``tol``; the caller warns.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    >>> coef, intercept, n_iter, ok = fit_linear_svm(X, np.array([0, 0, 1, 1]), 2)
    >>> ok, decision_function(X, coef, intercept).round(2).tolist()
    (True, [-0.77, -0.66, 0.86, 0.97])
    """
    if n_classes < 2:
        raise InvalidArgumentError(f"y: needs at least two classes, got {n_classes}")
    if not C > 0:
        raise InvalidArgumentError(f"C: expected a number > 0, got {C!r}")
    n, d = X.shape
    Xa = xp.concatenate([X, xp.full((n, 1), intercept_scaling, dtype=X.dtype)], axis=1)
    s = xp.ones(n, dtype=X.dtype) if sample_weight is None else xp.asarray(sample_weight, dtype=X.dtype)
    if s.shape != (n,):
        raise InvalidArgumentError(f"sample_weight: expected shape ({n},), got {tuple(s.shape)}")
    problems = [1] if n_classes == 2 else list(range(n_classes))
    coef = xp.empty((len(problems), d), dtype=X.dtype)
    intercept = xp.empty(len(problems), dtype=X.dtype)
    worst, all_ok = 0, True
    for row, k in enumerate(problems):
        y = xp.where(y_index == k, 1.0, -1.0).astype(X.dtype)
        w, it, ok = _newton_one(xp, Xa, y, float(C), s, tol, max_iter)
        coef[row] = w[:d]
        intercept[row] = w[d] * intercept_scaling
        worst, all_ok = max(worst, it), all_ok and ok
    return coef, intercept, worst, all_ok


def decision_function(X, coef, intercept):
    """Signed distances ``X @ coef.T + intercept``: ``(n,)`` for one problem, else ``(n, k)``."""
    scores = X @ coef.T + intercept
    return scores[:, 0] if scores.shape[1] == 1 else scores
