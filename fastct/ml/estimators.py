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
import warnings

import numpy as np

from ._deps import require_sklearn

require_sklearn("fastct.ml.estimators")

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import Pipeline as SkPipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight  # noqa: E402
from sklearn.utils.metaestimators import available_if  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from .. import backends  # noqa: E402
from .._shared.arrays import is_cupy_array  # noqa: E402
from ..errors import BackendUnavailable, InvalidArgumentError, NotImplementedOnBackend  # noqa: E402
from .calibration import fit_sigmoids, sigmoid_proba  # noqa: E402
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


def _check_slice_shape(estimator, X):
    """Refuse slices of another shape than the estimator was fitted on (features are size-dependent)."""
    fitted = getattr(estimator, "slice_shape_", None)
    if fitted is not None and tuple(X.shape[1:]) != tuple(fitted):
        h, w = fitted
        raise InvalidArgumentError(
            f"X: slices are {X.shape[1]}x{X.shape[2]}, but this model was fitted on {h}x{w} slices; its scores "
            f"at another size are not comparable. Resample the slices to {h}x{w} first (fastct predict does it "
            "when the model records a resampling, or with --size), or refit"
        )


class _SliceTransformer(TransformerMixin, BaseEstimator):
    """What fastct's transformers share: they take batches of slices ``(N, H, W)``.

    ``fit`` learns nothing but the slice shape, so scikit-learn may call
    ``transform`` unfitted.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class Preprocess(_SliceTransformer):
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
    ``fit`` only validates the steps and records the slice shape
    (``slice_shape_``); ``transform`` then refuses slices of another shape.
    To feed :class:`Features`,
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
        """Validate the steps and the batch and record the slice shape (``slice_shape_``)."""
        self._pipeline()
        X = _check_slices(X)
        self.slice_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def transform(self, X):
        """The preprocessed batch (flattened when ``flatten``).

        Slices must have the shape seen by ``fit`` (when it was called).
        """
        X = _check_slices(X)
        _check_slice_shape(self, X)
        out = self._pipeline().run(X, self.backend)
        return out.reshape(out.shape[0], -1) if self.flatten else out


class Features(_SliceTransformer):
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
        """Validate the parameters and record the slice shape (``slice_shape_``); nothing else is learnt."""
        X = _check_slices(X)
        self.feature_names_out_ = np.asarray(feature_names(self.groups, self.grid), dtype=object)
        self.slice_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def transform(self, X):
        """Feature matrix ``(N, n_features)`` (float64; NumPy for NumPy input).

        Slices must have the shape seen by ``fit`` (when it was called): the
        features depend on the slice size, so a model trained on 256x256
        slices does not score 512x512 ones.
        """
        X = _check_slices(X)
        _check_slice_shape(self, X)
        return features(X, steps=self.steps, groups=self.groups, grid=self.grid, backend=self.backend)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns."""
        return np.asarray(feature_names(self.groups, self.grid), dtype=object)


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
        Iteration limit (default: none for ``SVC``, 100 Newton steps). A
        solver stopped by it warns with
        :class:`sklearn.exceptions.ConvergenceWarning`.
    class_weight : dict, "balanced" or None
        As in scikit-learn's ``SVC``: the ``C`` of the samples of class ``c``
        becomes ``class_weight[c] * C`` (classes missing from the dict: 1);
        ``"balanced"`` uses ``n_samples / (n_classes * count(c))`` (counts
        and ``n_samples`` summed over ``sample_weight`` when given, as
        :func:`sklearn.utils.class_weight.compute_class_weight` does). Folded
        into the per-sample weights, so every solver applies it the same way
        (the own one-vs-rest solver in every one of its problems; scikit-learn's
        ``LinearSVC`` only weights each problem's positive class).
    probability : bool
        Also learn class probabilities (:meth:`predict_proba`): Platt scaling
        of cross-validated decision values, the same for every solver (see
        :mod:`fastct.ml.calibration`). Costs ``cv`` extra fits. ``predict``
        stays the SVM's decision, as with scikit-learn's
        ``SVC(probability=True)``: the sigmoids are fitted on held-out
        decision values, so near a boundary the predicted class is not always
        the one of highest probability.
    cv : int or cross-validation splitter, optional
        Folds of that calibration (default: stratified 5-fold, fewer when a
        class has fewer than 5 samples; an iterable of ``(train, test)``
        index arrays is accepted too).
    random_state : int, optional
        Unused by the solvers (libsvm's own random draws only serve its
        deprecated probability option); kept for ``clone`` and grid searches.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (any type ``numpy.unique`` sorts), in decision order.
    class_weight_ : ndarray of float, shape (n_classes,)
        The class weights used (ones without ``class_weight``).
    solver_ : str
        The implementation that was used.
    backend_ : str
        The backend that was used.
    coef_, intercept_ : ndarray
        For the own linear solver (and linear scikit-learn/cuML models).
    calibration_ : ndarray, shape (n_columns, 2)
        With ``probability=True``: Platt's ``(A, B)`` per decision column.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.2, 0.1], [2.0, 2.0], [2.1, 1.8]])
    >>> clf = SVMClassifier(backend="cpu").fit(X, ["normal", "normal", "nodule", "nodule"])
    >>> clf.predict([[1.9, 2.0], [0.1, 0.0]]).tolist(), clf.solver_
    (['nodule', 'normal'], 'sklearn')

    Weights and probabilities:

    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(2, 1, (40, 2))]
    >>> y = np.repeat(["normal", "nodule"], 40)
    >>> clf = SVMClassifier(backend="cpu", class_weight="balanced", probability=True).fit(X, y)
    >>> clf.predict_proba(X[:2]).sum(axis=1).round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(self, kernel="linear", C=1.0, *, gamma="scale", backend="auto", solver="auto", tol=None,
                 max_iter=None, class_weight=None, probability=False, cv=None, random_state=None):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.backend = backend
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.probability = probability
        self.cv = cv
        self.random_state = random_state

    # -- parameters ------------------------------------------------------

    def _check_params(self):
        if self.kernel not in KERNELS:
            raise InvalidArgumentError(f"kernel: expected one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if isinstance(self.C, bool) or not isinstance(self.C, numbers.Real) or not self.C > 0:
            raise InvalidArgumentError(f"C: expected a number > 0, got {self.C!r}")
        if self.solver not in SOLVERS:
            raise InvalidArgumentError(f"solver: expected one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise InvalidArgumentError(
                f"class_weight: expected None, 'balanced' or a dict {{class: weight}}, got {self.class_weight!r}"
            )
        if not isinstance(self.probability, (bool, np.bool_)):
            raise InvalidArgumentError(f"probability: expected True or False, got {self.probability!r}")
        bad_type = isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral)
        if self.max_iter is not None and (bad_type or self.max_iter < 1):
            raise InvalidArgumentError(f"max_iter: expected an integer >= 1 or None, got {self.max_iter!r}")
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

    @staticmethod
    def _check_sample_weight(sample_weight, n):
        """Host float64 weights, shape (n,), finite and >= 0 with a positive sum (a fresh array)."""
        if is_cupy_array(sample_weight):
            sample_weight = sample_weight.get()
        if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
            sample_weight = np.full(n, float(sample_weight))
        try:
            w = np.array(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"sample_weight: expected numbers, got {type(sample_weight).__name__}") from exc
        if w.ndim != 1 or w.shape[0] != n:
            raise InvalidArgumentError(f"sample_weight: expected shape ({n},) like y, got {w.shape}")
        if not np.isfinite(w).all():
            raise InvalidArgumentError("sample_weight: contains NaN or infinite values")
        if (w < 0).any():
            raise InvalidArgumentError("sample_weight: weights must be >= 0 (a negative weight makes the SVM "
                                       "problem unbounded)")
        if not w.sum() > 0:
            raise InvalidArgumentError("sample_weight: every weight is zero; nothing to learn from")
        return w

    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` (n_samples, n_features) and labels ``y`` of any sortable type.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
            NumPy or CuPy.
        y : array-like, shape (n_samples,)
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weight per sample: it multiplies that sample's ``C``
            (a weight of ``k`` is ``k`` copies, 0 removes the sample), for
            every solver. Multiplied by ``class_weight``.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> SVMClassifier(backend="cpu", solver="fastct").fit(X, [0, 0, 1, 1], sample_weight=[1, 2, 2, 1]).n_iter_ > 0
        True
        """
        self._check_params()
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        y_index = y_index.reshape(-1)
        if len(classes) < 2:
            raise InvalidArgumentError(
                f"y: a classifier needs at least two classes to learn from; got only one class ({classes[0]!r})"
                if len(classes) else "y: no sample to learn from"
            )
        n = X.shape[0]
        weights = None if sample_weight is None else self._check_sample_weight(sample_weight, n)
        if weights is not None:
            per_class = np.bincount(y_index, weights=weights, minlength=len(classes))
            if (per_class <= 0).any():
                raise InvalidArgumentError(
                    f"sample_weight: class {_label(classes[np.argmin(per_class)])!r} has no sample of positive weight; "
                    "a classifier cannot learn a class it never sees (leave its samples out of X and y)"
                )
        try:
            # "balanced" counts each class with the sample weights, so a weight of k stays k copies
            class_weight = compute_class_weight(self.class_weight, classes=classes, y=y, sample_weight=weights)
        except ValueError as exc:
            raise InvalidArgumentError(f"class_weight: {exc}") from exc
        class_weight = np.asarray(class_weight, dtype=np.float64)
        if not (np.isfinite(class_weight).all() and (class_weight >= 0).all()):
            raise InvalidArgumentError(f"class_weight: expected finite weights >= 0, got {self.class_weight!r}")
        if self.class_weight is not None:
            # SVC's meaning: class c's samples get C * class_weight[c]; as per-sample weights for every solver
            weights = (np.ones(n) if weights is None else weights) * class_weight[y_index]
            if not weights.sum() > 0:
                raise InvalidArgumentError("class_weight: every sample ends up with weight zero")
        backend_name, solver = self._resolve(X)
        folds = self._calibration_folds(y_index, classes) if self.probability else None
        self.classes_ = classes
        self.class_weight_ = class_weight
        self.backend_ = backend_name
        self.solver_ = solver
        for attr in ("coef_", "intercept_", "n_iter_", "calibration_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self.model_, coef, intercept, n_iter = self._fit_one(solver, backend_name, X, y_index, len(classes), weights)
        if coef is not None:
            self.coef_, self.intercept_ = coef, intercept
        if n_iter is not None:
            self.n_iter_ = n_iter
        if self.probability:
            self.calibration_ = self._calibrate(solver, backend_name, X, y_index, len(classes), weights, folds)
        return self

    def _fit_one(self, solver, backend_name, X, y_index, n_classes, weights):
        """Fit one model of ``solver``: (model or None, coef or None, intercept or None, n_iter or None)."""
        if solver == "sklearn":
            from sklearn.svm import SVC

            X = _to_host(X)
            model = SVC(kernel=self.kernel, C=float(self.C), gamma=self.gamma,
                        tol=1e-3 if self.tol is None else self.tol,
                        max_iter=-1 if self.max_iter is None else self.max_iter,
                        random_state=self.random_state).fit(X, y_index, sample_weight=weights)
            coef = intercept = None
            if self.kernel == "linear":
                coef, intercept = np.array(model.coef_), np.array(model.intercept_)
            return model, coef, intercept, int(np.max(model.n_iter_))
        if solver == "cuml":
            return self._fit_cuml(X, y_index, n_classes, weights)
        xp = self._xp(backend_name)
        Xd = xp.asarray(X, dtype=xp.float64)
        max_iter = 100 if self.max_iter is None else int(self.max_iter)
        coef, intercept, n_iter, converged = fit_linear_svm(
            Xd, xp.asarray(y_index), n_classes, C=float(self.C), xp=xp,
            tol=1e-8 if self.tol is None else float(self.tol), max_iter=max_iter,
            sample_weight=None if weights is None else xp.asarray(weights),
        )
        if not converged:
            warnings.warn(
                f"fastct's linear SVM did not converge: stopped after {n_iter} Newton iterations "
                f"(max_iter={max_iter}) above tol; raise max_iter, scale the features (StandardScaler) "
                "or lower C", ConvergenceWarning, stacklevel=3,
            )
        # Kept on the host: the fitted model saves and loads on any backend.
        return None, _to_host(coef), _to_host(intercept), int(n_iter)

    def _fit_cuml(self, X, y_index, n_classes, weights):
        """cuML's SVC, through its documented API: ``SVC(C, kernel, gamma, tol, max_iter)``,
        ``fit(X, y, sample_weight=None)``, ``decision_function``, ``predict``."""
        xp = self._xp("gpu")
        SVC = backends.get("gpu").features.cuml_svc()
        C = float(self.C)
        if weights is not None and n_classes > 2:
            # cuML trains more than two classes one pair at a time and ignores sample weights there;
            # a uniform weight is only a different C, anything else cannot be honoured.
            if np.all(weights == weights[0]):
                C, weights = C * float(weights[0]), None
            else:
                raise NotImplementedOnBackend(
                    "sample_weight/class_weight: cuML's SVC ignores sample weights with more than two classes; "
                    "use solver='fastct' (linear, on the GPU too) or backend='cpu'"
                )
        params = {"kernel": self.kernel, "C": C, "gamma": self.gamma}
        if self.tol is not None:
            params["tol"] = self.tol
        if self.max_iter is not None:
            params["max_iter"] = self.max_iter
        fit_kwargs = {} if weights is None else {"sample_weight": xp.asarray(weights, dtype=xp.float64)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = SVC(**params).fit(xp.asarray(X, dtype=xp.float64), xp.asarray(y_index, dtype=xp.float64),
                                      **fit_kwargs)
        for w in caught:  # pass cuML's warnings on, as convergence warnings where they are about stopping early
            category = ConvergenceWarning if "iter" in str(w.message).lower() else w.category
            warnings.warn(str(w.message), category, stacklevel=3)
        n_iter = getattr(model, "n_iter_", None)
        n_iter = None if n_iter is None else int(np.max(_to_host(n_iter)))
        return model, None, None, n_iter

    def _calibration_folds(self, y_index, classes):
        """The (train, test) index pairs of the calibration, checked before any fit."""
        from sklearn.model_selection import StratifiedKFold, check_cv

        n_classes = len(classes)
        counts = np.bincount(y_index, minlength=n_classes)
        if self.cv is None:
            if counts.min() < 2:
                raise InvalidArgumentError(
                    "probability: the cross-validated calibration needs at least 2 samples of every class; "
                    f"class {_label(classes[np.argmin(counts)])!r} has {counts.min()}"
                )
            splitter = StratifiedKFold(n_splits=int(min(5, counts.min())))
        else:
            is_int = isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool)
            if is_int and not 2 <= self.cv <= counts.min():
                raise InvalidArgumentError(
                    f"cv: expected 2 to {counts.min()} folds (the smallest class has {counts.min()} samples), "
                    f"got {self.cv}"
                )
            splitter = check_cv(self.cv, y_index, classifier=True)
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(np.zeros((len(y_index), 1)), y_index)]
        for train, _ in folds:
            if len(np.unique(y_index[train])) < n_classes:
                raise InvalidArgumentError("cv: a calibration fold trains without every class; use stratified folds")
        return folds

    def _calibrate(self, solver, backend_name, X, y_index, n_classes, weights, folds):
        """Platt's sigmoids on the out-of-fold decision values of ``folds``."""
        columns = 1 if n_classes == 2 else n_classes
        oof = np.empty((len(y_index), columns))
        seen = np.zeros(len(y_index), dtype=bool)
        xp = self._xp(backend_name) if solver != "sklearn" else np
        for train, test in folds:
            tr, te = (xp.asarray(train), xp.asarray(test)) if is_cupy_array(X) else (train, test)
            model, coef, intercept, _ = self._fit_one(solver, backend_name, X[tr], y_index[train], n_classes,
                                                      None if weights is None else weights[train])
            scores = self._decision_of(solver, model, coef, intercept, X[te], backend_name)
            oof[test] = scores.reshape(len(test), columns)
            seen[test] = True
        if not seen.all():
            raise InvalidArgumentError("cv: the calibration folds must test every sample once")
        scores = oof[:, 0] if n_classes == 2 else oof
        return fit_sigmoids(scores, y_index, n_classes, weights)

    def _decision_of(self, solver, model, coef, intercept, X, backend_name):
        """Decision values (host NumPy) of one fitted model: (n,) for two classes, else (n, n_classes)."""
        if solver == "sklearn":
            return np.asarray(model.decision_function(_to_host(X)))
        if solver == "cuml":
            xp = self._xp("gpu")
            scores = np.asarray(_to_host(model.decision_function(xp.asarray(X, dtype=xp.float64))))
            k = len(self.classes_)
            if not (scores.ndim == 1 and k == 2 or scores.ndim == 2 and scores.shape[1] == k):
                raise NotImplementedOnBackend(f"cuML's decision_function gave shape {scores.shape} for {k} classes; "
                                              "expected one column per class")
            return scores
        xp = self._xp(backend_name)
        Xd = xp.asarray(X, dtype=xp.float64)
        return np.asarray(_to_host(_linear_decision(Xd, xp.asarray(coef), xp.asarray(intercept))))

    def _scores(self, X):
        """Raw decision values of the fitted model (host NumPy)."""
        check_is_fitted(self, "classes_")
        X, _ = self._validate(X, reset=False)
        name = self.backend_ if self.solver_ == "cuml" else backends.resolve(self.backend, X)
        return self._decision_of(self.solver_, self.model_, getattr(self, "coef_", None),
                                 getattr(self, "intercept_", None), X, name)

    def decision_function(self, X):
        """Signed scores: ``(n,)`` for two classes (positive: ``classes_[1]``), else ``(n, n_classes)``.

        Examples
        --------
        >>> import numpy as np
        >>> clf = SVMClassifier(backend="cpu").fit([[0.0], [1.0], [3.0], [4.0]], [0, 0, 1, 1])
        >>> bool(clf.decision_function([[4.0]])[0] > 0)
        True
        """
        return np.asarray(self._scores(X))

    def predict(self, X):
        """Predicted labels (values of ``classes_``, a NumPy array).

        Examples
        --------
        >>> clf = SVMClassifier(backend="cpu").fit([[0.0], [1.0], [3.0], [4.0]], ["a", "a", "b", "b"])
        >>> clf.predict([[3.5]]).tolist()
        ['b']
        """
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

    def _has_proba(self):
        if not self.probability:
            raise AttributeError("predict_proba is not available when probability=False; "
                                 "fit with SVMClassifier(probability=True)")
        return True

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (Platt scaling of the decision values), columns in ``classes_`` order.

        Needs ``probability=True`` at fit time. Rows sum to one.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(3, 1, (30, 2))]
        >>> clf = SVMClassifier(backend="cpu", probability=True).fit(X, np.repeat([0, 1], 30))
        >>> p = clf.predict_proba([[3.0, 3.0]])
        >>> p.shape, bool(p[0, 1] > 0.9)
        ((1, 2), True)
        """
        check_is_fitted(self, "calibration_")
        return sigmoid_proba(self._scores(X), self.calibration_)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Examples
        --------
        >>> import numpy as np
        >>> clf = SVMClassifier(backend="cpu", probability=True).fit(np.arange(8.0)[:, None], [0] * 4 + [1] * 4)
        >>> bool((clf.predict_log_proba([[7.0]]) <= 0).all())
        True
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

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


def _label(value):
    """A class label as a plain Python value, for messages."""
    return value.item() if isinstance(value, np.generic) else value


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
