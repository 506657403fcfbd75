"""scikit-learn estimators of the classification stage.

``Preprocess`` and ``Features`` are transformers, ``SVMClassifier`` a
classifier; all three work inside :class:`sklearn.pipeline.Pipeline`, with
``clone``, ``get_params``/``set_params``, grid search and joblib.
:func:`make_model` builds fastct's default chain (features, standard scaling,
linear SVM); :func:`raw_pixel_model` the classic one (preprocessed pixels fed
straight to a linear SVC), kept as the baseline.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._deps import require_sklearn

require_sklearn("fastct.ml.estimators")

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin  # noqa: E402
from sklearn.pipeline import Pipeline as SkPipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from .. import backends  # noqa: E402
from .._shared.arrays import is_cupy_array  # noqa: E402
from ..errors import BackendUnavailable, InvalidArgumentError, NotImplementedOnBackend  # noqa: E402
from .features import feature_names, features  # noqa: E402
from .linear_svm import decision_function as _linear_decision  # noqa: E402
from .linear_svm import fit_linear_svm  # noqa: E402
from .spec import DEFAULT_GRID  # noqa: E402

__all__ = ["Preprocess", "Features", "SVMClassifier", "make_model", "raw_pixel_model", "set_backend"]

KERNELS = ("linear", "rbf")
SOLVERS = ("auto", "sklearn", "cuml", "fastct")


def _check_slices(X, name="X"):
    """A batch of slices for a transformer: (N, H, W) NumPy or CuPy, at least one slice."""
    if not (isinstance(X, np.ndarray) or is_cupy_array(X)):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"{name}: expected an array of slices (N, H, W), got {type(X).__name__}"
            ) from exc
    if X.ndim != 3:
        raise InvalidArgumentError(
            f"{name}: expected a batch of slices of shape (N, H, W), got shape {tuple(X.shape)}"
            + (" (a single slice: use X[None])" if X.ndim == 2 else "")
        )
    if X.shape[0] == 0:
        raise InvalidArgumentError(f"{name}: the batch holds no slice")
    return X


class Preprocess(TransformerMixin, BaseEstimator):
    """Run a fastct pipeline on a batch of slices, as a scikit-learn transformer.

    Parameters
    ----------
    steps : str or list, optional
        Pipeline steps (default :data:`fastct.DEFAULT_STEPS`).
    backend : {"auto", "cpu", "gpu"}
        Where the steps run.
    flatten : bool
        Return ``(N, H * W)`` rows (for models fed pixels, like the classic
        SVM) instead of ``(N, H, W)`` slices.

    Notes
    -----
    Stateless: ``fit`` only validates the steps. To feed :class:`Features`,
    keep the output in Hounsfield units (steps without ``equalize``,
    ``clahe`` or ``window``), or give the steps to :class:`Features`, which
    preprocesses for its image groups itself.

    Examples
    --------
    >>> import numpy as np
    >>> pre = Preprocess("erode:3,equalize", backend="cpu", flatten=True)
    >>> pre.fit_transform(np.zeros((2, 16, 16), np.int16)).shape
    (2, 256)
    """

    def __init__(self, steps=None, backend="auto", flatten=False):
        self.steps = steps
        self.backend = backend
        self.flatten = flatten

    def _pipeline(self):
        from ..pipeline import Pipeline

        backends.check_name(self.backend)
        return Pipeline(self.steps)

    def fit(self, X, y=None):
        """Validate the steps and the batch; nothing is learnt."""
        self._pipeline()
        X = _check_slices(X)
        self.slice_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def transform(self, X):
        """The preprocessed batch (flattened when ``flatten``)."""
        X = _check_slices(X)
        out = self._pipeline().run(X, self.backend)
        return out.reshape(out.shape[0], -1) if self.flatten else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class Features(TransformerMixin, BaseEstimator):
    """Slices -> fixed-length feature vectors (:func:`fastct.ml.features`), as a transformer.

    Parameters
    ----------
    steps : str or list, optional
        Preprocessing for the image groups (default :data:`fastct.DEFAULT_STEPS`).
    backend : {"auto", "cpu", "gpu"}
        Where the features are computed.
    groups : list of str, optional
        Feature groups (default :data:`fastct.ml.DEFAULT_GROUPS`; ``"all"``
        for every group).
    grid : int
        Grid side of the ``image`` group.

    Examples
    --------
    >>> from fastct.datasets import lung_phantoms
    >>> images, labels = lung_phantoms(1, 64)
    >>> Features(backend="cpu").fit_transform(images).shape
    (4, 65)
    """

    def __init__(self, steps=None, backend="auto", groups=None, grid=DEFAULT_GRID):
        self.steps = steps
        self.backend = backend
        self.groups = groups
        self.grid = grid

    def fit(self, X, y=None):
        """Validate the parameters and the batch; nothing is learnt."""
        X = _check_slices(X)
        self.feature_names_out_ = np.asarray(feature_names(self.groups, self.grid), dtype=object)
        self.slice_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def transform(self, X):
        """Feature matrix ``(N, n_features)`` (float64; NumPy for NumPy input)."""
        X = _check_slices(X)
        return features(X, steps=self.steps, groups=self.groups, grid=self.grid, backend=self.backend)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns."""
        return np.asarray(feature_names(self.groups, self.grid), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """Support vector classifier on the CPU (scikit-learn) or the GPU (cuML or fastct's own).

    Parameters
    ----------
    kernel : {"linear", "rbf"}
        Kernel of the SVM.
    C : float
        Regularisation parameter (> 0), as in scikit-learn.
    gamma : {"scale", "auto"} or float
        RBF kernel coefficient, as in scikit-learn.
    backend : {"auto", "cpu", "gpu"}
        ``cpu``: scikit-learn's ``SVC``. ``gpu``: cuML's ``SVC`` when cuML
        imports, else fastct's own CuPy linear SVM (``kernel="linear"`` only).
        ``auto`` follows :func:`fastct.backends.resolve` (the GPU only when
        fastct's GPU backend is ready, or when ``X`` is a CuPy array).
    solver : {"auto", "sklearn", "cuml", "fastct"}
        Force an implementation. ``"fastct"`` is the own one-vs-rest squared
        hinge linear SVM (the problem of scikit-learn's ``LinearSVC``), on
        NumPy for the CPU and CuPy for the GPU.
    tol : float, optional
        Stopping tolerance (default: 1e-3 for scikit-learn/cuML ``SVC``, 1e-8
        relative gradient norm for the own Newton solver).
    max_iter : int, optional
        Iteration limit (default: none for ``SVC``, 100 Newton steps).
    random_state : int, optional
        Passed to ``SVC`` (only used by its probability estimates); the own
        solver is deterministic.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (any type ``numpy.unique`` sorts), in decision order.
    solver_ : str
        The implementation that was used.
    backend_ : str
        The backend that was used.
    coef_, intercept_ : ndarray
        For the own linear solver (and linear scikit-learn/cuML models).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.2, 0.1], [2.0, 2.0], [2.1, 1.8]])
    >>> clf = SVMClassifier(backend="cpu").fit(X, ["normal", "normal", "nodule", "nodule"])
    >>> clf.predict([[1.9, 2.0], [0.1, 0.0]]).tolist(), clf.solver_
    (['nodule', 'normal'], 'sklearn')
    """

    def __init__(self, kernel="linear", C=1.0, *, gamma="scale", backend="auto", solver="auto", tol=None,
                 max_iter=None, random_state=None):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.backend = backend
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    # -- parameters ------------------------------------------------------

    def _check_params(self):
        if self.kernel not in KERNELS:
            raise InvalidArgumentError(f"kernel: expected one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if isinstance(self.C, bool) or not isinstance(self.C, numbers.Real) or not self.C > 0:
            raise InvalidArgumentError(f"C: expected a number > 0, got {self.C!r}")
        if self.solver not in SOLVERS:
            raise InvalidArgumentError(f"solver: expected one of {', '.join(SOLVERS)}, got {self.solver!r}")
        backends.check_name(self.backend)

    def _resolve(self, X):
        """(backend name, solver name) for this fit; the GPU is probed only when it is asked for."""
        solver = self.solver
        if solver == "cuml":
            if self.backend == "cpu":
                raise InvalidArgumentError("solver: 'cuml' runs on the GPU; use backend='gpu' or 'auto' with it")
            name = "gpu"
        else:
            name = backends.resolve(self.backend, X)
        svc = None
        if name == "gpu":
            svc = backends.get("gpu", X).features.cuml_svc()  # BackendUnavailable (with the reason) if no GPU
        if solver == "auto":
            if name == "cpu":
                solver = "sklearn"
            elif svc is not None:
                solver = "cuml"
            elif self.kernel == "linear":
                solver = "fastct"
            else:
                raise NotImplementedOnBackend(
                    f"kernel={self.kernel!r} on backend 'gpu' needs cuML, which is not importable here; "
                    "use kernel='linear' (fastct's own GPU solver) or backend='cpu'"
                )
        if solver == "cuml" and svc is None:
            raise BackendUnavailable("solver 'cuml': cuML is not importable here (it needs RAPIDS cuML and a GPU)")
        if solver == "fastct" and self.kernel != "linear":
            raise InvalidArgumentError(f"solver 'fastct' is a linear SVM; got kernel={self.kernel!r}")
        if solver == "sklearn":
            name = "cpu"  # scikit-learn computes on the host whatever was asked
        return name, solver

    def _xp(self, backend_name):
        if backend_name == "gpu":
            return backends.get("gpu").features.array_module()
        return np

    # -- fit / predict ---------------------------------------------------

    def _validate(self, X, y=None, reset=True):
        if is_cupy_array(X):
            return self._validate_device(X, y, reset)
        if y is None:
            return validate_data(self, X, reset=reset), None
        return validate_data(self, X, y, reset=reset)

    def _validate_device(self, X, y, reset):
        """Checks of a CuPy feature matrix (scikit-learn's validation would copy it to the host)."""
        import cupy  # the caller already holds a CuPy array

        if X.ndim != 2:
            raise InvalidArgumentError(f"X: expected a 2-D feature matrix, got shape {tuple(X.shape)}")
        if X.dtype.kind not in "fiu":
            raise InvalidArgumentError(f"X: expected numbers, got dtype {X.dtype}")
        X = X.astype(cupy.float64, copy=False)
        if X.size and not bool(cupy.isfinite(X).all()):
            raise InvalidArgumentError("X: Input X contains NaN or infinity")
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif X.shape[1] != self.n_features_in_:
            raise InvalidArgumentError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                       f"{self.n_features_in_} features as input")
        if y is not None:
            y = cupy.asnumpy(y) if is_cupy_array(y) else np.asarray(y)
            if y.ndim != 1 or len(y) != X.shape[0]:
                raise InvalidArgumentError(
                    f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {len(y)}]"
                )
        return X, y

    def fit(self, X, y):
        """Fit on features ``X`` (n_samples, n_features) and labels ``y`` of any sortable type."""
        self._check_params()
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise InvalidArgumentError(
                f"y: a classifier needs at least two classes to learn from; got only one class ({classes[0]!r})"
                if len(classes) else "y: no sample to learn from"
            )
        backend_name, solver = self._resolve(X)
        self.classes_ = classes
        self.backend_ = backend_name
        self.solver_ = solver
        self.model_ = None
        for attr in ("coef_", "intercept_", "n_iter_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if solver == "sklearn":
            from sklearn.svm import SVC

            X = _to_host(X)
            self.model_ = SVC(kernel=self.kernel, C=float(self.C), gamma=self.gamma,
                              tol=1e-3 if self.tol is None else self.tol,
                              max_iter=-1 if self.max_iter is None else self.max_iter,
                              random_state=self.random_state).fit(X, y_index)
            if self.kernel == "linear":
                self.coef_, self.intercept_ = self.model_.coef_, self.model_.intercept_
            self.n_iter_ = int(np.max(self.model_.n_iter_))
        elif solver == "cuml":
            xp = self._xp("gpu")
            SVC = backends.get("gpu").features.cuml_svc()
            params = {"kernel": self.kernel, "C": float(self.C), "gamma": self.gamma}
            if self.tol is not None:
                params["tol"] = self.tol
            if self.max_iter is not None:
                params["max_iter"] = self.max_iter
            self.model_ = SVC(**params).fit(xp.asarray(X, dtype=xp.float64), xp.asarray(y_index, dtype=xp.float64))
        else:
            xp = self._xp(backend_name)
            Xd = xp.asarray(X, dtype=xp.float64)
            coef, intercept, n_iter, _ = fit_linear_svm(
                Xd, xp.asarray(y_index), len(classes), C=float(self.C), xp=xp,
                tol=1e-8 if self.tol is None else float(self.tol),
                max_iter=100 if self.max_iter is None else int(self.max_iter),
            )
            # Kept on the host: the fitted model pickles and loads on any backend.
            self.coef_, self.intercept_ = _to_host(coef), _to_host(intercept)
            self.n_iter_ = int(n_iter)
        return self

    def _scores(self, X):
        """Raw decision values of the fitted model (host NumPy)."""
        check_is_fitted(self, "classes_")
        X, _ = self._validate(X, reset=False)
        if self.solver_ == "sklearn":
            return self.model_.decision_function(_to_host(X))
        if self.solver_ == "cuml":
            xp = self._xp("gpu")
            return _to_host(self.model_.decision_function(xp.asarray(X, dtype=xp.float64)))
        name = backends.resolve(self.backend, X)
        xp = self._xp(name)
        Xd = xp.asarray(X, dtype=xp.float64)
        return _to_host(_linear_decision(Xd, xp.asarray(self.coef_), xp.asarray(self.intercept_)))

    def decision_function(self, X):
        """Signed scores: ``(n,)`` for two classes (positive: ``classes_[1]``), else ``(n, n_classes)``."""
        return np.asarray(self._scores(X))

    def predict(self, X):
        """Predicted labels (values of ``classes_``, a NumPy array)."""
        check_is_fitted(self, "classes_")
        if self.solver_ == "sklearn":  # SVC's own one-vs-one vote
            X, _ = self._validate(X, reset=False)
            return self.classes_[np.asarray(self.model_.predict(_to_host(X))).astype(np.int64)]
        if self.solver_ == "cuml":
            X, _ = self._validate(X, reset=False)
            xp = self._xp("gpu")
            index = _to_host(self.model_.predict(xp.asarray(X, dtype=xp.float64)))
            return self.classes_[np.asarray(index).astype(np.int64)]
        scores = self._scores(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]

    def __getstate__(self):
        state = super().__getstate__()
        model = state.get("model_")
        # cuML models need cuML to unpickle; store scikit-learn's twin where cuML can make one.
        if getattr(self, "solver_", None) == "cuml" and hasattr(model, "as_sklearn"):
            state = dict(state, model_=model.as_sklearn(), solver_="sklearn")
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _to_host(a):
    if is_cupy_array(a):
        return a.get()
    return a


def make_model(kernel="linear", C=1.0, *, steps=None, groups=None, backend="auto", solver="auto"):
    """fastct's classification chain: :class:`Features` -> ``StandardScaler`` -> :class:`SVMClassifier`.

    Parameters
    ----------
    kernel, C, solver
        Of the :class:`SVMClassifier`.
    steps, groups
        Of the :class:`Features` step.
    backend : {"auto", "cpu", "gpu"}
        For the features and the SVM.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``features``, ``scale``, ``svm``; fit it on raw HU slices.

    Examples
    --------
    >>> from fastct.datasets import lung_phantoms
    >>> images, labels = lung_phantoms(4, 64)
    >>> model = make_model(backend="cpu").fit(images, labels)
    >>> model.predict(images[:2]).shape
    (2,)
    """
    return SkPipeline([
        ("features", Features(steps=steps, backend=backend, groups=groups)),
        ("scale", StandardScaler()),
        ("svm", SVMClassifier(kernel=kernel, C=C, backend=backend, solver=solver)),
    ])


def raw_pixel_model(kernel="linear", C=1.0, *, steps=None, backend="auto"):
    """The classic baseline: preprocessed pixels, flattened, straight into an SVC.

    The workflow fastct replaces fed 2-D images to ``SVC`` (which does not
    run); flattened, this is what it meant. Kept to measure fastct's
    features against.

    Examples
    --------
    >>> raw_pixel_model(backend="cpu").steps[0][1].flatten
    True
    """
    return SkPipeline([
        ("preprocess", Preprocess(steps=steps, backend=backend, flatten=True)),
        ("svm", SVMClassifier(kernel=kernel, C=C, backend=backend)),
    ])


def set_backend(model, backend):
    """Point every ``backend`` parameter of an estimator (or pipeline) at ``backend``; returns it.

    A model fitted on one backend predicts on another after this (the fitted
    parameters are host arrays).

    Examples
    --------
    >>> set_backend(make_model(), "cpu").get_params()["svm__backend"]
    'cpu'
    """
    backends.check_name(backend)
    keys = [k for k in model.get_params(deep=True) if k == "backend" or k.endswith("__backend")]
    model.set_params(**{k: backend for k in keys})
    return model
