"""Saving and loading fitted models (joblib), portable across backends."""

from __future__ import annotations

from pathlib import Path

from ._deps import require_joblib, require_sklearn
from ..errors import InvalidArgumentError

__all__ = ["save_model", "load_model", "FORMAT"]

#: Marker of the files :func:`save_model` writes.
FORMAT = "fastct-model/1"


def save_model(model, path, *, info=None) -> Path:
    """Save a fitted estimator (a pipeline from :func:`~fastct.ml.make_model` ...) with joblib.

    The file holds the estimator and a small header (fastct version, class
    labels, ``info``). Fitted parameters are host arrays, so a model trained
    on the GPU loads and predicts on the CPU and the other way round (a cuML
    model is stored as its scikit-learn twin where cuML can make one).

    Parameters
    ----------
    model : estimator
        A fitted scikit-learn compatible estimator.
    path : str or Path
        Destination (conventionally ``*.joblib``).
    info : dict, optional
        JSON-like details to keep with the model (training data, metrics...).

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
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.joblib"))
    >>> bool((load_model(path).predict(images) == model.predict(images)).all())
    True
    """
    joblib = require_joblib("fastct.ml.save_model")
    from .. import __version__

    path = Path(path)
    classes = getattr(model, "classes_", None)
    header = {
        "format": FORMAT,
        "fastct": __version__,
        "classes": None if classes is None else [str(c) for c in classes],
        "info": dict(info or {}),
    }
    tmp = path.with_name(f".{path.name}.part")
    joblib.dump({"header": header, "model": model}, tmp)
    tmp.replace(path)
    return path


def load_model(path, *, backend=None, with_info=False):
    """Load a model saved by :func:`save_model` (or any joblib-pickled estimator).

    Parameters
    ----------
    path : str or Path
    backend : {"auto", "cpu", "gpu"}, optional
        Set every ``backend`` parameter of the model to this (see
        :func:`~fastct.ml.set_backend`).
    with_info : bool
        Also return the header dict.

    Returns
    -------
    estimator, or (estimator, dict) with ``with_info``

    Only load files you trust: joblib files are pickles and run code on load.
    """
    require_sklearn("fastct.ml.load_model")
    joblib = require_joblib("fastct.ml.load_model")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"model: no such file {str(path)!r}")
    try:
        obj = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise InvalidArgumentError(
            f"model: {str(path)!r} is not a loadable model file ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(obj, dict) and obj.get("header", {}).get("format") == FORMAT:
        model, header = obj["model"], obj["header"]
    elif hasattr(obj, "predict"):
        model, header = obj, {"format": None, "info": {}}
    else:
        raise InvalidArgumentError(f"model: {str(path)!r} holds a {type(obj).__name__}, not a fitted model")
    if backend is not None:
        from .estimators import set_backend

        set_backend(model, backend)
    return (model, header) if with_info else model
