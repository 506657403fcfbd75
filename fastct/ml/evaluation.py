"""Train-and-score: stratified hold-out or k-fold, metrics, confusion-matrix figure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._deps import require_sklearn

require_sklearn("fastct.ml.evaluation")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support  # noqa: E402
from sklearn.model_selection import StratifiedKFold, train_test_split  # noqa: E402

from ..errors import InvalidArgumentError  # noqa: E402

__all__ = ["evaluate", "Evaluation", "metrics"]


def _plain(value):
    """JSON-friendly copy of labels and NumPy scalars."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Evaluation:
    """Metrics of one evaluation (see :func:`evaluate`).

    ``accuracy``, ``precision``/``recall``/``f1`` (weighted by support),
    ``per_class`` ``{label: {precision, recall, f1, support}}``,
    ``confusion`` (rows true, columns predicted, in ``classes`` order), the
    test labels and predictions, timings, and for k-fold the per-fold scores.
    """

    method: str
    classes: list
    n_samples: int
    n_train: int
    n_test: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    per_class: dict
    confusion: list
    y_true: np.ndarray
    y_pred: np.ndarray
    test_index: np.ndarray
    fit_seconds: float
    predict_seconds: float
    folds: list = field(default_factory=list)
    figure: str | None = None
    model: object = None

    def to_dict(self) -> dict:
        """JSON-ready summary (no arrays of predictions, no model)."""
        return {
            "method": self.method,
            "classes": [_plain(c) for c in self.classes],
            "n_samples": self.n_samples,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "accuracy": self.accuracy,
            "precision_weighted": self.precision,
            "recall_weighted": self.recall,
            "f1_weighted": self.f1,
            "per_class": {str(k): v for k, v in self.per_class.items()},
            "confusion_matrix": self.confusion,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "folds": self.folds,
            "figure": self.figure,
        }

    def table(self) -> str:
        """The metric table as text (per class, then accuracy and weighted averages)."""
        names = [str(c) for c in self.classes]
        w = max(12, *(len(n) + 2 for n in names))
        lines = [f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for name in names:
            m = self.per_class[name]
            lines.append(f"{name:<{w}}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10d}")
        total = sum(self.per_class[n]["support"] for n in names)
        lines.append(f"{'accuracy':<{w}}{'':>10}{'':>10}{self.accuracy:>10.3f}{total:>10d}")
        lines.append(f"{'weighted':<{w}}{self.precision:>10.3f}{self.recall:>10.3f}{self.f1:>10.3f}{total:>10d}")
        return "\n".join(lines)


def metrics(y_true, y_pred, classes) -> dict:
    """Accuracy, weighted and per-class precision/recall/F1 and the confusion matrix.

    Examples
    --------
    >>> m = metrics(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    >>> m["accuracy"], m["confusion"]
    (0.6666666666666666, [[1, 1], [0, 1]])
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = list(classes)
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    pw, rw, fw, _ = precision_recall_fscore_support(y_true, y_pred, labels=classes, average="weighted",
                                                    zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(pw),
        "recall": float(rw),
        "f1": float(fw),
        "per_class": {
            str(c): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
            for i, c in enumerate(classes)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def _check_inputs(images, labels, test_size, cv):
    if not hasattr(images, "shape") or not hasattr(images, "__len__"):
        images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise InvalidArgumentError(f"labels: expected a 1-D array of class labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise InvalidArgumentError(
            f"images and labels: lengths differ ({len(images)} images, {len(labels)} labels); one label per slice"
        )
    if len(labels) == 0:
        raise InvalidArgumentError("images: no slice to evaluate on")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise InvalidArgumentError(
            f"labels: need at least two classes to train and score a classifier, got only {classes[0]!r}"
        )
    if cv is not None:
        if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
            raise InvalidArgumentError(f"cv: expected a number of folds >= 2, got {cv!r}")
        need = int(cv)
    else:
        if isinstance(test_size, bool) or not (
            (isinstance(test_size, float) and 0.0 < test_size < 1.0)
            or (isinstance(test_size, (int, np.integer)) and 0 < test_size < len(labels))
        ):
            raise InvalidArgumentError(
                f"test_size: expected a fraction in (0, 1) or a number of slices, got {test_size!r}"
            )
        need = 2
    few = [(_plain(c), int(n)) for c, n in zip(classes, counts) if n < need]
    if few:
        raise InvalidArgumentError(
            f"labels: every class needs at least {need} slices for a stratified "
            f"{'split' if cv is None else f'{cv}-fold split'}; too few: {few}"
        )
    return images, labels, list(classes)


def _fit_params(model, sample_weight, index):
    """``fit`` keyword arguments giving the training rows' weights to the model (a pipeline's last step)."""
    if sample_weight is None:
        return {}
    steps = getattr(model, "steps", None)
    key = f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"
    return {key: sample_weight[index]}


def evaluate(model, images, labels, *, test_size=0.2, cv=None, random_state=42, figure=None, examples=4,
             sample_weight=None):
    """Train and score a model: stratified hold-out (default 80/20) or stratified k-fold.

    Parameters
    ----------
    model : estimator or None
        Unfitted scikit-learn compatible classifier taking ``images`` (it is
        cloned, never modified); None for :func:`~fastct.ml.make_model`'s default.
    images : array, shape (N, H, W)
        Slices (or any samples the model takes).
    labels : array-like, shape (N,)
        Class labels of any sortable type.
    test_size : float or int
        Hold-out fraction (or count) when ``cv`` is None.
    cv : int, optional
        Number of stratified folds; metrics are then those of the
        out-of-fold predictions of all slices.
    random_state : int
        Seed of the split (42, like the classic workflow).
    figure : str or Path, optional
        Write a PNG of the confusion matrix and example test slices there.
    examples : int
        Example slices per class in the figure (mistakes first).
    sample_weight : array-like, shape (N,), optional
        Weights of the slices, given to every training fit (to a pipeline's
        last step as ``<step>__sample_weight``); the metrics count each
        test slice once. For imbalanced classes, ``class_weight="balanced"``
        on :class:`~fastct.ml.SVMClassifier` is the simpler tool.

    Returns
    -------
    Evaluation
        ``.model`` holds the fitted hold-out model (None for k-fold).

    Examples
    --------
    >>> from fastct.datasets import lung_phantoms
    >>> from fastct.ml import make_model
    >>> images, labels = lung_phantoms(6, 64)
    >>> result = evaluate(make_model(backend="cpu"), images, labels, cv=3)
    >>> result.method, result.n_test, len(result.folds)
    ('3-fold', 24, 3)
    """
    images, labels, classes = _check_inputs(images, labels, test_size, cv)
    classes = [_plain(c) for c in classes]
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != labels.shape:
            raise InvalidArgumentError(
                f"sample_weight: expected one weight per slice, shape {labels.shape}, got {sample_weight.shape}"
            )
    if model is None:
        from .estimators import make_model

        model = make_model()
    index = np.arange(len(labels))
    folds = []
    if cv is None:
        train, test = train_test_split(index, test_size=test_size, stratify=labels, random_state=random_state)
        splits = [(np.sort(train), np.sort(test))]
        method = "holdout"
    else:
        splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
        splits = list(splitter.split(index, labels))
        method = f"{int(cv)}-fold"
    y_pred = np.empty(len(labels), dtype=labels.dtype)
    tested = []
    fit_s = predict_s = 0.0
    fitted = None
    for train, test in splits:
        fitted = clone(model)
        t0 = time.perf_counter()
        fitted.fit(images[train], labels[train], **_fit_params(fitted, sample_weight, train))
        t1 = time.perf_counter()
        pred = np.asarray(fitted.predict(images[test]))
        t2 = time.perf_counter()
        fit_s += t1 - t0
        predict_s += t2 - t1
        y_pred[test] = pred
        tested.append(test)
        if cv is not None:
            m = metrics(labels[test], pred, classes)
            folds.append({"accuracy": m["accuracy"], "f1_weighted": m["f1"], "n_test": int(len(test))})
    test_index = np.concatenate(tested) if cv is None else index
    y_true, y_hat = labels[test_index], y_pred[test_index]
    m = metrics(y_true, y_hat, classes)
    result = Evaluation(
        method=method,
        classes=classes,
        n_samples=int(len(labels)),
        n_train=int(len(splits[0][0])),
        n_test=int(len(test_index)),
        accuracy=m["accuracy"],
        precision=m["precision"],
        recall=m["recall"],
        f1=m["f1"],
        per_class=m["per_class"],
        confusion=m["confusion"],
        y_true=y_true,
        y_pred=y_hat,
        test_index=test_index,
        fit_seconds=fit_s,
        predict_seconds=predict_s,
        folds=folds,
        model=fitted if cv is None else None,
    )
    if figure is not None:
        result.figure = str(write_figure(result, images, figure, examples=examples))
    return result


def write_figure(result: Evaluation, images, path, *, examples: int = 4, title: str | None = None) -> Path:
    """Write the PNG of an :class:`Evaluation`: confusion matrix, scores, example slices (needs Pillow)."""
    from .._draw import png_bytes
    from ..io.png import write_atomic
    from .figure import evaluation_figure

    chosen = {}
    for c in result.classes:
        rows = np.flatnonzero(result.y_true == c)
        wrong = [i for i in rows if result.y_pred[i] != c]
        right = [i for i in rows if result.y_pred[i] == c]
        picks = (wrong + right)[: max(0, int(examples))]
        chosen[str(c)] = [(np.asarray(images[result.test_index[i]]), _plain(result.y_pred[i])) for i in picks]
    if title is None:
        split = "hold-out" if result.method == "holdout" else result.method
        title = (f"fastct classify: {split}, {result.n_test} of {result.n_samples} slices tested, "
                 f"accuracy {result.accuracy:.3f}, F1 (weighted) {result.f1:.3f}")
    scores = {str(c): (v["precision"], v["recall"], v["f1"], v["support"]) for c, v in result.per_class.items()}
    fig = evaluation_figure(np.asarray(result.confusion), [str(c) for c in result.classes], title=title,
                            scores=scores, examples=chosen if examples else None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, png_bytes(fig))
