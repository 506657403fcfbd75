"""Model files that cannot run code: JSON plus NumPy arrays in one zip.

:func:`save_model` writes one file, a zip holding ``model.json`` (the
structure of the estimator, its parameters and a header) and one ``.npy``
member per fitted array (``numpy.load(path, allow_pickle=False)`` reads them
like an ``.npz``). :func:`load_model` rebuilds the estimator from a short
list of known classes (scikit-learn's ``Pipeline``, ``StandardScaler`` and
``SVC``, and fastct's ``Features``, ``Preprocess`` and ``SVMClassifier``),
setting only the attributes each class is known to have, checked for type
and shape before any of them reaches compiled code. Nothing in such a file is
ever executed.

Pickle and joblib files are different: loading one runs whatever code its
author put in it. :func:`load_model` refuses them unless ``trust=True``
(``fastct predict --trust-model-file``), which only makes sense for a file you
made yourself or got from someone you trust.

The header records what a prediction needs to be meaningful: the training
slice shape, any resampling applied before training (``resize``), the
preprocessing steps, the feature groups and their names, fastct's version and
those of NumPy and scikit-learn.
"""

from __future__ import annotations

import io
import json
import numbers
import platform
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import (
    InvalidArgumentError,
    UntrustedModelError,
)
from ._deps import require_sklearn

__all__ = ["save_model", "load_model", "read_header", "UntrustedModelError", "FORMAT"]

#: Marker of the files :func:`save_model` writes (version 2: JSON + arrays, no pickle).
FORMAT = "fastct-model/2"
_JSON = "model.json"
#: Limit on what one member of a model file may expand to (a guard against zip bombs).
_MAX_MEMBER_BYTES = 4 << 30


# ---------------------------------------------------------------------------
# the classes a model file may hold, and their fitted attributes


def _registry():
    """{name: (class, fitted attributes)}: the only classes :func:`load_model` builds."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from .estimators import Features, Preprocess, SVMClassifier

    return {
        "sklearn.pipeline.Pipeline": (Pipeline, ()),
        "sklearn.preprocessing.StandardScaler": (
            StandardScaler, ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_"),
        ),
        "sklearn.svm.SVC": (
            SVC, ("classes_", "class_weight_", "n_features_in_", "support_", "support_vectors_", "_n_support",
                  "dual_coef_", "_dual_coef_", "intercept_", "_intercept_", "_probA", "_probB", "fit_status_",
                  "_num_iter", "n_iter_", "shape_fit_", "_gamma", "_sparse", "_effective_probability"),
        ),
        "fastct.ml.Features": (Features, ("feature_names_out_", "slice_shape_")),
        "fastct.ml.Preprocess": (Preprocess, ("slice_shape_",)),
        "fastct.ml.SVMClassifier": (
            SVMClassifier, ("classes_", "class_weight_", "n_features_in_", "solver_", "backend_", "model_", "coef_",
                            "intercept_", "n_iter_", "calibration_"),
        ),
    }


def _name_of(estimator, registry):
    for name, (cls, _) in registry.items():
        if type(estimator) is cls:
            return name
    raise InvalidArgumentError(
        f"model: cannot save a {type(estimator).__module__}.{type(estimator).__name__} in fastct's model format "
        "(it holds Pipeline, StandardScaler, SVC and fastct's estimators; see fastct.ml.make_model)"
    )


# ---------------------------------------------------------------------------
# encoding: JSON values, with arrays stored beside them


class _Encoder:
    def __init__(self, registry):
        self.registry = registry
        self.arrays = {}

    def array(self, a):
        a = np.asarray(a)
        if a.dtype == object:
            items = a.ravel().tolist()
            if not all(isinstance(v, (str, bool, int, float)) for v in items):
                raise InvalidArgumentError("model: an object array holds values other than str/int/float/bool")
            return {"__objects__": items, "shape": list(a.shape)}
        if a.dtype.kind not in "biufU":
            raise InvalidArgumentError(f"model: cannot store an array of dtype {a.dtype}")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return {"__array__": key}

    def value(self, v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            return {"__scalar__": self.array(np.asarray(v))}
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            f = float(v)
            return f if np.isfinite(f) else {"__float__": repr(f)}
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x) for x in v]}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {"__dict__": [[self.value(k), self.value(x)] for k, x in v.items()]}
        if hasattr(v, "get_params"):
            return self.estimator(v)
        raise InvalidArgumentError(f"model: cannot store a value of type {type(v).__name__}")

    def estimator(self, est):
        name = _name_of(est, self.registry)
        if name == "fastct.ml.SVMClassifier" and getattr(est, "solver_", None) == "cuml":
            est = _cuml_as_sklearn(est)
        _, fitted = self.registry[name]
        params = est.get_params(deep=False)
        state = {a: self.value(est.__dict__[a]) for a in fitted if a in est.__dict__}
        return {"__estimator__": name, "params": {k: self.value(v) for k, v in params.items()}, "state": state}


def _cuml_as_sklearn(est):
    """A copy of a cuML-fitted SVMClassifier holding scikit-learn's SVC (cuML's own conversion)."""
    import copy

    model = est.model_
    try:
        twin = model.as_sklearn()
    except Exception as exc:  # noqa: BLE001 - cuML's conversion failing for any reason means "cannot save"
        raise InvalidArgumentError(
            f"model: this cuML SVC cannot be converted to scikit-learn's for saving ({type(exc).__name__}: {exc}); "
            "train with solver='fastct' (linear) or backend='cpu' to save the model"
        ) from exc
    out = copy.copy(est)
    out.__dict__.update(model_=twin, solver_="sklearn", backend_="cpu")
    return out


class _Decoder:
    def __init__(self, registry, arrays):
        self.registry = registry
        self.arrays = arrays

    def value(self, v):
        if v is None or isinstance(v, (bool, str, int, float)):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise InvalidArgumentError("model: malformed value in model.json")
        if "__array__" in v:
            key = v["__array__"]
            if key not in self.arrays:
                raise InvalidArgumentError(f"model: array {key!r} is missing from the file")
            return self.arrays[key]
        if "__objects__" in v:
            items = v["__objects__"]
            if not isinstance(items, list) or not all(isinstance(x, (str, bool, int, float)) for x in items):
                raise InvalidArgumentError("model: malformed object array in model.json")
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape([int(s) for s in v.get("shape", [len(items)])])
        if "__scalar__" in v:
            a = self.value(v["__scalar__"])
            if not isinstance(a, np.ndarray) or a.ndim != 0:
                raise InvalidArgumentError("model: malformed scalar in model.json")
            return a[()]
        if "__float__" in v:
            if v["__float__"] not in ("nan", "inf", "-inf"):
                raise InvalidArgumentError("model: malformed float in model.json")
            return float(v["__float__"])
        if "__tuple__" in v:
            return tuple(self.value(x) for x in v["__tuple__"])
        if "__dict__" in v:
            return {self.value(k): self.value(x) for k, x in v["__dict__"]}
        if "__estimator__" in v:
            return self.estimator(v)
        raise InvalidArgumentError(f"model: unknown entry {sorted(v)} in model.json")

    def estimator(self, node):
        name = node["__estimator__"]
        if name not in self.registry:
            raise InvalidArgumentError(f"model: the file names class {name!r}, which fastct does not load")
        cls, fitted = self.registry[name]
        params = {k: self.value(x) for k, x in node.get("params", {}).items()}
        known = set(cls._get_param_names())
        if not set(params) <= known:
            raise InvalidArgumentError(f"model: unknown parameters {sorted(set(params) - known)} for {name}")
        est = cls(**params)
        state = node.get("state", {})
        unknown = set(state) - set(fitted)
        if unknown:
            raise InvalidArgumentError(f"model: unknown fitted attributes {sorted(unknown)} for {name}")
        for attr, raw in state.items():
            est.__dict__[attr] = self.value(raw)
        _check_fitted_state(name, est)
        return est


def _need(cond, name, what):
    if not cond:
        raise InvalidArgumentError(f"model: {name} in the file is inconsistent ({what})")


def _is_array(a, kind, ndim):
    return isinstance(a, np.ndarray) and a.dtype.kind in kind and a.ndim == ndim


def _check_fitted_state(name, est):
    """Shapes and types of what will reach compiled code (libsvm reads raw buffers)."""
    d = est.__dict__
    if name == "sklearn.svm.SVC":
        _need(est.kernel in ("linear", "rbf"), name, f"kernel {est.kernel!r}")
        _need(d.get("_sparse") is False, name, "sparse")
        sv = d.get("support_vectors_")
        _need(_is_array(sv, "f", 2) and sv.dtype == np.float64 and sv.flags.c_contiguous, name, "support_vectors_")
        n_sv, n_features = sv.shape
        classes = d.get("classes_")
        _need(isinstance(classes, np.ndarray) and classes.ndim == 1 and len(classes) >= 2, name, "classes_")
        k = len(classes)
        pairs = k * (k - 1) // 2
        ns = d.get("_n_support")
        _need(_is_array(ns, "i", 1) and ns.dtype == np.int32 and len(ns) == k and (ns >= 0).all()
              and int(ns.sum()) == n_sv, name, "_n_support")
        _need(_is_array(d.get("support_"), "i", 1) and d["support_"].dtype == np.int32
              and len(d["support_"]) == n_sv, name, "support_")
        for attr in ("dual_coef_", "_dual_coef_"):
            a = d.get(attr)
            _need(_is_array(a, "f", 2) and a.dtype == np.float64 and a.shape == (k - 1, n_sv), name, attr)
        for attr in ("intercept_", "_intercept_"):
            a = d.get(attr)
            _need(_is_array(a, "f", 1) and a.dtype == np.float64 and a.shape == (pairs,), name, attr)
        for attr in ("_probA", "_probB"):
            a = d.get(attr)
            _need(_is_array(a, "f", 1) and a.dtype == np.float64 and len(a) in (0, pairs), name, attr)
        _need(_is_array(d.get("class_weight_"), "f", 1) and len(d["class_weight_"]) == k, name, "class_weight_")
        _need(d.get("n_features_in_") == n_features, name, "n_features_in_")
        _need(isinstance(d.get("_gamma"), (float, int, np.floating)), name, "_gamma")
        est._validate_params()  # scikit-learn's own parameter constraints
    elif name == "fastct.ml.SVMClassifier":
        est._check_params()
        classes = d.get("classes_")
        _need(isinstance(classes, np.ndarray) and classes.ndim == 1 and len(classes) >= 2, name, "classes_")
        _need(d.get("solver_") in ("sklearn", "fastct"), name, "solver_")
        k, n_features = len(classes), d.get("n_features_in_")
        _need(isinstance(n_features, int) and n_features >= 1, name, "n_features_in_")
        rows = 1 if k == 2 else k
        if d["solver_"] == "fastct":
            _need(_is_array(d.get("coef_"), "f", 2) and d["coef_"].shape == (rows, n_features), name, "coef_")
            _need(_is_array(d.get("intercept_"), "f", 1) and d["intercept_"].shape == (rows,), name, "intercept_")
        else:
            from sklearn.svm import SVC

            _need(isinstance(d.get("model_"), SVC) and len(d["model_"].classes_) == k, name, "model_")
        if "calibration_" in d:
            _need(_is_array(d["calibration_"], "f", 2) and d["calibration_"].shape == (rows, 2), name, "calibration_")
    elif name == "sklearn.preprocessing.StandardScaler":
        n = d.get("n_features_in_")
        for attr in ("mean_", "var_", "scale_"):
            a = d.get(attr)
            _need(a is None or (_is_array(a, "f", 1) and a.shape == (n,)), name, attr)
    elif name == "sklearn.pipeline.Pipeline":
        _need(est.memory is None, name, "memory")
    elif name in ("fastct.ml.Features", "fastct.ml.Preprocess"):
        shape = d.get("slice_shape_")
        _need(shape is None or (isinstance(shape, tuple) and len(shape) == 2
                                and all(isinstance(v, int) and v > 0 for v in shape)), name, "slice_shape_")


# ---------------------------------------------------------------------------
# header


def _components(model):
    """(Features or None, Preprocess or None) of a model (a pipeline or a bare estimator)."""
    from .estimators import Features, Preprocess

    steps = [s for _, s in getattr(model, "steps", [])] or [model]
    feats = next((s for s in steps if isinstance(s, Features)), None)
    pre = next((s for s in steps if isinstance(s, Preprocess)), None)
    return feats, pre


def _feature_record(groups, grid):
    """The feature definition a model was trained with: groups, names and the constants behind them."""
    from . import spec
    from .features import feature_names

    constants = {k: list(getattr(spec, k)) if isinstance(getattr(spec, k), tuple) else getattr(spec, k)
                 for k in ("TISSUE_HU", "DENSE_HU", "AIR_HU", "HU_EDGES", "DENSE_STEPS", "AIR_STEPS", "STD_EDGES",
                           "GRAD_EDGES", "LBP_POINTS", "LBP_RADIUS", "LUNG_BOX_RADIUS", "LUNG_MIN_FRACTION",
                           "STD_RADIUS")}
    return {"groups": list(spec.check_groups(groups)), "grid": int(grid), "names": feature_names(groups, grid),
            "constants": constants}


def _header(model, info, resize):
    import sklearn

    from .. import __version__
    from ..pipeline import DEFAULT_STEPS

    feats, pre = _components(model)
    first = feats or pre
    shape = getattr(first, "slice_shape_", None)
    steps = None if first is None else (first.steps if first.steps is not None else DEFAULT_STEPS)
    if resize is not None:
        resize = [int(resize), int(resize)] if isinstance(resize, numbers.Integral) else [int(s) for s in resize]
        if len(resize) != 2 or min(resize) < 1:
            raise InvalidArgumentError(f"resize: expected a size or (height, width), got {resize!r}")
        if shape is not None and list(shape) != resize:
            raise InvalidArgumentError(f"resize: {resize} differs from the slice shape the model was fitted on "
                                       f"{list(shape)}")
    classes = getattr(model, "classes_", None)
    return {
        "format": FORMAT,
        "fastct": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
        "classes": None if classes is None else [c.item() if isinstance(c, np.generic) else c for c in classes],
        "input": {
            "slice_shape": None if shape is None else [int(s) for s in shape],
            "resize": resize,
            "steps": steps if isinstance(steps, (str, type(None))) else str(steps),
            "features": None if feats is None else _feature_record(feats.groups, feats.grid),
        },
        "info": dict(info or {}),
    }


# ---------------------------------------------------------------------------
# public functions


def save_model(model, path, *, info=None, resize=None) -> Path:
    """Save a fitted model in fastct's format: JSON and arrays in one zip, no pickle.

    Fitted parameters are host arrays, so a model trained on the GPU loads
    and predicts on the CPU and the other way round (a cuML model is stored
    as scikit-learn's twin where cuML can make one).

    Parameters
    ----------
    model : estimator
        A fitted :func:`~fastct.ml.make_model` / :func:`~fastct.ml.raw_pixel_model`
        pipeline, or any ``sklearn.pipeline.Pipeline`` of fastct's estimators,
        ``StandardScaler`` and :class:`~fastct.ml.SVMClassifier` (or one of them).
    path : str or Path
        Destination (any name; ``*.fastct`` by convention).
    info : dict, optional
        JSON-serialisable details to keep with the model (data, metrics...).
    resize : int or (int, int), optional
        The size every slice was resampled to before training (linear, as
        :func:`fastct.datasets.load_folder` does); ``fastct predict`` then
        resamples new slices the same way. Leave None when the training
        slices were used at their own shape: slices of another shape are then
        refused at prediction.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> from fastct.datasets import lung_phantoms
    >>> from fastct.ml import make_model
    >>> images, labels = lung_phantoms(3, 64)
    >>> model = make_model(backend="cpu").fit(images, labels)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.fastct"))
    >>> bool((load_model(path).predict(images) == model.predict(images)).all())
    True
    >>> read_header(path)["input"]["slice_shape"]
    [64, 64]
    """
    require_sklearn("fastct.ml.save_model")
    registry = _registry()
    encoder = _Encoder(registry)
    tree = encoder.value(model)
    header = _header(model, info, resize)
    try:
        text = json.dumps({"header": header, "model": tree}, indent=1)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"info: must be JSON-serialisable ({exc})") from exc
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_JSON, text)
            for key, array in encoder.arrays.items():
                with zf.open(f"{key}.npy", "w") as f:
                    np.lib.format.write_array(f, np.array(array, order="C"), allow_pickle=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _open_fastct(path):
    """(header, tree, arrays) of a fastct model file, or None when the file is not a zip."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if _JSON not in names:
                raise InvalidArgumentError(f"model: {str(path)!r} is a zip without {_JSON}; not a fastct model file")
            for item in zf.infolist():
                if item.file_size > _MAX_MEMBER_BYTES:
                    raise InvalidArgumentError(f"model: member {item.filename!r} of {str(path)!r} is too large")
            doc = json.loads(zf.read(_JSON).decode("utf-8"))
            arrays = {}
            for name in names:
                if name.endswith(".npy"):
                    arrays[name[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(name)), allow_pickle=False)
    except InvalidArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt zip, JSON or .npy member is a bad model file
        raise InvalidArgumentError(
            f"model: {str(path)!r} is not a readable fastct model file ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict) or "model" not in doc:
        raise InvalidArgumentError(f"model: {str(path)!r} has no fastct model header")
    if doc["header"].get("format") != FORMAT:
        raise InvalidArgumentError(
            f"model: {str(path)!r} has format {doc['header'].get('format')!r}; this fastct reads {FORMAT!r}"
        )
    return doc["header"], doc["model"], arrays


def read_header(path) -> dict:
    """The header of a fastct model file (versions, classes, training input, info), without loading the model.

    Examples
    --------
    >>> import tempfile, os
    >>> from fastct.datasets import lung_phantoms
    >>> from fastct.ml import make_model
    >>> images, labels = lung_phantoms(2, 64)
    >>> path = save_model(make_model(backend="cpu").fit(images, labels),
    ...                   os.path.join(tempfile.mkdtemp(), "m.fastct"))
    >>> read_header(path)["input"]["features"]["groups"][:2]
    ['masks', 'hu']
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"model: no such file {str(path)!r}")
    opened = _open_fastct(path)
    if opened is None:
        raise InvalidArgumentError(f"model: {str(path)!r} is not a fastct model file")
    return opened[0]


def _check_features(header, path):
    """Refuse a model whose features this fastct computes differently."""
    recorded = (header.get("input") or {}).get("features")
    if not recorded:
        return
    now = _feature_record(recorded.get("groups"), recorded.get("grid", 8))
    for key in ("names", "constants"):
        if recorded.get(key) != now[key]:
            raise InvalidArgumentError(
                f"model: {str(path)!r} was trained with fastct {header.get('fastct')} features whose {key} differ "
                f"from this fastct's; its scores would be meaningless here: retrain it"
            )


def load_model(path, *, backend=None, with_info=False, trust=False):
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
    backend : {"auto", "cpu", "gpu"}, optional
        Set every ``backend`` parameter of the model to this (see
        :func:`~fastct.ml.set_backend`).
    with_info : bool
        Also return the header dict (see :func:`read_header`).
    trust : bool
        Also load pickle/joblib files. Loading one runs any code its author
        put in it: only for files you made or trust. Without it such a file
        raises :class:`UntrustedModelError` before a byte of it is unpickled.

    Returns
    -------
    estimator, or (estimator, dict) with ``with_info``

    Raises
    ------
    UntrustedModelError
        A pickle/joblib file without ``trust=True``.
    fastct.errors.InvalidArgumentError
        A missing, corrupt or inconsistent file, or one whose features this
        fastct computes differently.

    Examples
    --------
    >>> import tempfile, os, pickle
    >>> path = os.path.join(tempfile.mkdtemp(), "old.joblib")
    >>> with open(path, "wb") as f:
    ...     pickle.dump({"not": "checked"}, f)
    >>> try:
    ...     load_model(path)
    ... except UntrustedModelError:
    ...     print("refused: a pickle, and trust was not given")
    refused: a pickle, and trust was not given
    """
    require_sklearn("fastct.ml.load_model")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"model: no such file {str(path)!r}")
    opened = _open_fastct(path)
    if opened is not None:
        header, tree, arrays = opened
        _check_features(header, path)
        import sklearn

        if header.get("scikit-learn") != sklearn.__version__:
            warnings.warn(
                f"model: {str(path)!r} was saved with scikit-learn {header.get('scikit-learn')}, this is "
                f"{sklearn.__version__}; its SVC internals may differ (retrain if predictions look wrong)",
                UserWarning, stacklevel=2,
            )
        try:
            model = _Decoder(_registry(), arrays).value(tree)
        except InvalidArgumentError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            raise InvalidArgumentError(
                f"model: {str(path)!r} holds an invalid model ({type(exc).__name__}: {exc})"
            ) from exc
    else:
        if not trust:
            raise UntrustedModelError(
                f"model: {str(path)!r} is not a fastct model file; it looks like a pickle/joblib file, and loading "
                "one runs any code its author put in it. Load it only if you made it or trust its source: "
                "fastct predict --trust-model-file, or load_model(path, trust=True); better, re-save it with "
                "fastct.ml.save_model (JSON + arrays, nothing executable)"
            )
        model, header = _load_pickle(path)
    if not hasattr(model, "predict"):
        raise InvalidArgumentError(f"model: {str(path)!r} holds a {type(model).__name__}, not a fitted model")
    if backend is not None:
        from .estimators import set_backend

        set_backend(model, backend)
    return (model, header) if with_info else model


def _load_pickle(path):
    """A trusted joblib/pickle file: (model, header)."""
    from ._deps import require_joblib

    joblib = require_joblib("fastct.ml.load_model(trust=True)")
    try:
        obj = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise InvalidArgumentError(
            f"model: {str(path)!r} is not a loadable model file ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("header"), dict) and "model" in obj:  # fastct-model/1
        return obj["model"], obj["header"]
    return obj, {"format": None, "info": {}}
