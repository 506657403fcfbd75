"""The ``fastct classify`` and ``fastct predict`` commands.

:func:`register` adds both to the ``fastct`` parser. Importing this module
needs neither scikit-learn nor numba; the commands import them when they
run and fail with exit status 1 and an install hint when scikit-learn is
missing. Exit status: 0 success, 1 failure (a missing dependency, unreadable
inputs), 2 bad usage or bad arguments.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from ..errors import install_hint

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_CLASSIFY_EPILOG = """\
examples:
  fastct classify --synthetic 200                     # lung phantoms, 4 classes x 200, 80/20 split
  fastct classify --synthetic 200 --baseline --report out/   # + raw-pixel baseline, figure and JSON
  fastct classify --data scans/ --size 256 --cv 5     # one sub-folder per class, 5-fold
  fastct classify --data scans/ --size 256 --class-weight balanced   # imbalanced classes
  fastct classify --data scans/ --size 256 --kernel rbf --save model.fastct
  fastct predict --model model.fastct new/*.dcm

--save writes one file (a zip of JSON and NumPy arrays, nothing executable)
with the SVM calibrated for probabilities (Platt scaling on 5-fold
cross-validated decision values), the training slice shape, the resampling
(--size with --data), the steps, the feature definition and fastct's version.

The model: fastct features of each slice (lung-field HU histogram, lesion size
spectra, texture; see fastct.ml.spec) -> standard scaling -> SVM. Metrics are
accuracy, precision, recall and F1 (weighted and per class) on the held-out
slices, or on the out-of-fold predictions with --cv.
"""

_PREDICT_EPILOG = """\
examples:
  fastct predict --model model.fastct scan1.dcm scan2.dcm
  fastct predict --model model.fastct new_scans/ --json > predictions.json

Prints one line per slice: file, slice index, predicted class and
p=PROBABILITY, the model's calibrated probability of that class (--json adds
every class's). The class is the SVM's decision; near a boundary it is not
always the most probable one. A model without probabilities (a trusted
pickle) prints decision=VALUE, the SVM's raw decision value, instead.

Slices are resampled as the model's training slices were (recorded by
--save); a model trained on slices at their own size refuses slices of
another size unless --size resamples them to the training size. Unreadable
or mismatched files are reported on stderr; the exit status is then 1.

Model files of fastct (JSON + arrays) load without running code. Pickle or
joblib files run any code their author put in them when loaded: they are
refused unless --trust-model-file is given, for files you made or trust.
"""


def register(subparsers) -> None:
    """Add ``classify`` and ``predict`` to the ``fastct`` subcommand parsers."""
    from ..pipeline import DEFAULT_STEPS

    p = subparsers.add_parser(
        "classify",
        help="train and evaluate a slice classifier (features + SVM)",
        description=(
            "Train an SVM on fastct features of labelled CT slices and evaluate it: stratified\n"
            "hold-out split (default 80/20, random_state 42) or k-fold. Prints the metric table;\n"
            "with --report writes a confusion-matrix figure (PNG) and a JSON report."
        ),
        epilog=_CLASSIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DIR", help="folder with one sub-folder of scans per class")
    src.add_argument("--synthetic", metavar="N", type=int,
                     help="use N synthetic lung phantoms per class (normal, nodule, cavity, fibrosis)")
    p.add_argument("--size", type=int, default=None,
                   help="slice size: phantom size (default 256); for --data, resample every slice to SIZE")
    p.add_argument("--phantom-seed", type=int, default=0, help="seed of the synthetic phantoms (default 0)")
    p.add_argument("--steps", default=DEFAULT_STEPS,
                   help=f"preprocessing for the image feature groups (default: {DEFAULT_STEPS})")
    p.add_argument("--groups", default=None,
                   help="comma-separated feature groups (default: masks,hu,dense,air,std,grad,lbp; 'all' adds image)")
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu"), help="compute backend (default auto)")
    p.add_argument("--kernel", default="linear", choices=("linear", "rbf"), help="SVM kernel (default linear)")
    p.add_argument("--C", type=float, default=1.0, dest="C", help="SVM regularisation C (default 1.0)")
    p.add_argument("--class-weight", default=None, choices=("balanced",), dest="class_weight",
                   help="'balanced': weigh each class by n_samples / (n_classes * its count), for imbalanced data")
    p.add_argument("--solver", default="auto", choices=("auto", "sklearn", "cuml", "fastct"),
                   help="SVM implementation (default auto: scikit-learn on the CPU, cuML or fastct's own on the GPU)")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--test-size", type=float, default=0.2, help="hold-out fraction (default 0.2)")
    split.add_argument("--cv", type=int, default=None, metavar="K", help="stratified K-fold instead of a hold-out")
    p.add_argument("--seed", type=int, default=42, help="random_state of the split (default 42)")
    p.add_argument("--baseline", action="store_true",
                   help="also evaluate the classic baseline (preprocessed pixels straight into the SVM)")
    p.add_argument("--report", metavar="OUTDIR", help="write OUTDIR/report.json and OUTDIR/confusion.png")
    p.add_argument("--examples", type=int, default=4, help="example slices per class in the figure (default 4)")
    p.add_argument("--save", metavar="MODEL",
                   help="save the trained model (JSON + arrays, with probabilities) for `fastct predict`")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.set_defaults(func=cmd_classify)

    q = subparsers.add_parser(
        "predict",
        help="classify new slices with a saved model",
        description="Classify the slices of new scans (files or folders) with a model saved by\n"
                    "`fastct classify --save`.",
        epilog=_PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--model", required=True, metavar="MODEL", help="model file from `fastct classify --save`")
    q.add_argument("--trust-model-file", action="store_true",
                   help="also load a pickle/joblib model file; loading one runs any code in it (only for files "
                        "you made or trust)")
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="scan files or folders (searched recursively)")
    q.add_argument("--backend", default=None, choices=("auto", "cpu", "gpu"),
                   help="compute backend (default: as the model was saved)")
    q.add_argument("--size", type=int, default=None,
                   help="resample slices to SIZE x SIZE first (must be the model's training size)")
    q.add_argument("--json", action="store_true", help="print JSON instead of lines")
    q.set_defaults(func=cmd_predict)


def _need_sklearn(command: str) -> bool:
    try:
        import joblib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        print(f"fastct {command}: error: this command needs scikit-learn and joblib ({exc.name} is missing); "
              "install them with: " + install_hint("ml"), file=sys.stderr)
        return False
    return True


def _usage(command: str, message: str) -> int:
    print(f"fastct {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_data(args):
    from .. import datasets

    if args.synthetic is not None:
        if args.synthetic < 2:
            raise _Usage("--synthetic: need at least 2 phantoms per class")
        size = args.size or 256
        images, labels = datasets.lung_phantoms(args.synthetic, size, seed=args.phantom_seed)
        return images, labels, {"source": "synthetic lung phantoms (fastct.datasets.lung_phantoms)",
                                "n_per_class": args.synthetic, "size": size, "seed": args.phantom_seed}, []
    images, labels, skipped = datasets.load_folder(args.data, size=args.size, return_skipped=True)
    return images, labels, {"source": str(Path(args.data).resolve()), "size": args.size}, skipped


class _Usage(Exception):
    pass


def cmd_classify(args) -> int:
    if not _need_sklearn("classify"):
        return EXIT_FAILED
    import numpy as np
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline as SkPipeline

    from .. import __version__
    from ..pipeline import Pipeline
    from .estimators import Features, make_model, raw_pixel_model
    from .evaluation import evaluate, write_figure
    from .features import feature_backend, feature_names, features
    from .persist import save_model
    from .spec import check_groups

    if args.cv is None and not 0.0 < args.test_size < 1.0:
        return _usage("classify", f"--test-size: expected a fraction in (0, 1), got {args.test_size}")
    if args.cv is not None and args.cv < 2:
        return _usage("classify", f"--cv: expected at least 2 folds, got {args.cv}")
    if args.size is not None and args.size < (32 if args.synthetic is not None else 8):
        return _usage("classify", f"--size: expected at least {32 if args.synthetic is not None else 8}, "
                                  f"got {args.size}")
    if not args.C > 0:
        return _usage("classify", f"--C: expected a number > 0, got {args.C}")
    groups = check_groups(args.groups)
    Pipeline(args.steps)  # bad steps are a usage error before any data is read
    try:
        images, labels, data_info, skipped = _load_data(args)
    except _Usage as exc:
        return _usage("classify", str(exc))
    for path, why in skipped:
        print(f"fastct classify: skipped {path}: {why}", file=sys.stderr)
    backend = args.backend  # each stage resolves it (the features may run where the SVM does not)
    feature_backend_name, _ = feature_backend(backend, images[:1])
    classes, counts = np.unique(labels, return_counts=True)
    n, h, w = images.shape
    text = not args.json
    if text:
        per_class = ", ".join(f"{c} {k}" for c, k in zip(classes, counts))
        print(f"fastct classify: {n} slices {h}x{w} {images.dtype}, {len(classes)} classes ({per_class})")
        print(f"data: {data_info['source']}")

    # Features once for all slices (the estimators are stateless), timed.
    features(images[:1], steps=args.steps, groups=groups, backend=backend)  # compile / load kernels
    t0 = time.perf_counter()
    X = features(images, steps=args.steps, groups=groups, backend=backend)
    feat_s = time.perf_counter() - t0
    model = make_model(args.kernel, args.C, steps=args.steps, groups=groups, backend=backend, solver=args.solver)
    model.set_params(svm__class_weight=args.class_weight)
    if args.save:
        # The saved model gives probabilities to `fastct predict`; the evaluated model is the same one.
        model.set_params(svm__probability=True, svm__random_state=args.seed)
    head = SkPipeline(model.steps[1:])  # scale -> svm, on the feature matrix
    model.named_steps["svm"]._check_params()
    svm_backend, solver = model.named_steps["svm"]._resolve(X)  # where the SVM runs (errors before training)
    result = evaluate(head, X, labels, test_size=args.test_size, cv=args.cv, random_state=args.seed)
    fitted_head = result.model
    if args.save:
        if fitted_head is None:  # k-fold: refit on everything for the saved model
            fitted_head = clone(head).fit(X, labels)
        full = SkPipeline([("features", Features(args.steps, backend, groups=list(groups)).fit(images[:1]))]
                              + fitted_head.steps)
    split = ("stratified hold-out" if args.cv is None else "stratified k-fold")
    report = {
        "fastct": __version__,
        "arguments": {k: v for k, v in vars(args).items() if k not in ("func", "command")},
        "data": dict(data_info, n_slices=int(n), shape=[int(h), int(w)], dtype=str(images.dtype),
                     classes={str(c): int(k) for c, k in zip(classes, counts)}, skipped=len(skipped),
                     skipped_files=[{"file": f, "reason": why} for f, why in skipped]),
        "model": {"features": list(groups), "n_features": len(feature_names(groups)), "steps": args.steps,
                  "scaling": "StandardScaler", "kernel": args.kernel, "C": args.C, "solver": solver,
                  "class_weight": args.class_weight,
                  "backend": backend, "features_backend": feature_backend_name, "svm_backend": svm_backend,
                  "probability": bool(args.save)},
        "split": {"method": split, "test_size": args.test_size if args.cv is None else None, "cv": args.cv,
                  "random_state": args.seed},
        "metrics": result.to_dict(),
        "timings": {"features_seconds": feat_s, "features_slices_per_second": n / feat_s if feat_s else None,
                    "fit_seconds": result.fit_seconds, "predict_seconds": result.predict_seconds},
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "baseline": None,
    }
    if args.baseline:
        t0 = time.perf_counter()
        base = evaluate(raw_pixel_model(args.kernel, args.C, steps=args.steps, backend=backend), images, labels,
                        test_size=args.test_size, cv=args.cv, random_state=args.seed)
        report["baseline"] = {
            "model": f"classic: preprocessed pixels ({args.steps}) flattened -> SVC(kernel={args.kernel}, C={args.C})",
            "accuracy": base.accuracy, "recall_weighted": base.recall, "f1_weighted": base.f1,
            "per_class": base.per_class, "confusion_matrix": base.confusion,
            "seconds": time.perf_counter() - t0,
        }
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        report["metrics"]["figure"] = str(write_figure(result, images, out / "confusion.png", examples=args.examples))
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.save:
        info = {"classes": [str(c) for c in classes], "steps": args.steps, "groups": list(groups),
                "kernel": args.kernel, "C": args.C, "trained_on": report["data"],
                "f1_weighted": result.f1, "accuracy": result.accuracy}
        # --data --size resampled every slice: record it so that `fastct predict` does the same.
        resize = args.size if args.data is not None and args.size is not None else None
        save_model(full, args.save, info=info, resize=resize)
    if not text:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"model: {len(feature_names(groups))} features ({','.join(groups)}) on {feature_backend_name} -> "
          f"StandardScaler -> SVM(kernel={args.kernel}, C={args.C}"
          f"{', class_weight=' + args.class_weight if args.class_weight else ''}) [{solver} on {svm_backend}]")
    how = (f"hold-out {result.n_test} of {n} slices ({args.test_size:.0%})" if args.cv is None
           else f"{args.cv}-fold out-of-fold predictions on all {n} slices")
    print(f"split: stratified {how}, random_state {args.seed}")
    print(f"features: {n} slices in {feat_s:.2f} s ({n / feat_s:.0f} slices/s); "
          f"SVM fit {result.fit_seconds:.2f} s, predict {result.predict_seconds:.3f} s")
    print()
    print(result.table())
    print()
    print("confusion matrix (rows true, columns predicted): " + ", ".join(str(c) for c in result.classes))
    for c, row in zip(result.classes, result.confusion):
        print(f"  {str(c):<12}" + "".join(f"{v:>6d}" for v in row))
    if args.cv is not None:
        folds = ", ".join(f"{f['f1_weighted']:.3f}" for f in result.folds)
        print(f"per-fold F1 (weighted): {folds}")
    if report["baseline"]:
        b = report["baseline"]
        print(f"\nbaseline ({b['model']}): accuracy {b['accuracy']:.3f}, recall {b['recall_weighted']:.3f}, "
              f"F1 {b['f1_weighted']:.3f}  (fastct: F1 {result.f1:.3f})")
    if args.report:
        print(f"\nwrote {Path(args.report) / 'report.json'} and {report['metrics']['figure']}")
    if args.save:
        print(f"saved the model to {args.save} (fastct predict --model {args.save} INPUT...)")
    return EXIT_OK


def _input_files(inputs):
    """(file, problem) pairs: every file named, and every image-named file under each folder named."""
    from ..datasets import _image_name

    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".") and _image_name(f))
            if not found:
                out.append((p, "folder holds no image file"))
            out += [(f, None) for f in found]
        elif p.is_file():
            out.append((p, None))
        else:
            out.append((p, "no such file or folder"))
    return out


def _target_shape(args, header):
    """(shape to resample to or None, training shape or None) for `fastct predict`; _Usage on a conflict."""
    record = header.get("input") or {}
    trained = record.get("slice_shape")
    resize = record.get("resize")
    if args.size is not None:
        wanted = [args.size, args.size]
        if resize is not None and list(resize) != wanted:
            raise _Usage(f"--size: the model was trained on slices resampled to {resize[0]}x{resize[1]}; "
                         f"leave --size out (it is applied) or pass --size {resize[0]}")
        if trained is not None and list(trained) != wanted:
            raise _Usage(f"--size: the model was trained on {trained[0]}x{trained[1]} slices; "
                         f"{args.size}x{args.size} slices would give meaningless scores (pass --size {trained[0]})")
        return wanted, trained
    return (list(resize) if resize is not None else None), trained


def _model_parts(model):
    """(transform or None, classifier): the pipeline's steps before its classifier, and the classifier."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1], model[-1]
    return None, model


def cmd_predict(args) -> int:
    if not _need_sklearn("predict"):
        return EXIT_FAILED
    import numpy as np

    from ..datasets import _read_slices, _resample
    from .persist import load_model

    if args.size is not None and args.size < 8:
        return _usage("predict", f"--size: expected at least 8, got {args.size}")
    model, header = load_model(args.model, backend=args.backend, with_info=True, trust=args.trust_model_file)
    try:
        target, trained = _target_shape(args, header)
    except _Usage as exc:
        return _usage("predict", str(exc))
    transform, clf = _model_parts(model)
    has_proba = hasattr(clf, "predict_proba")
    classes = list(getattr(model, "classes_", []))
    results, failed = [], 0
    for path, problem in _input_files(args.inputs):
        if problem is None:
            try:
                slices = _read_slices(path)
                if target is not None:
                    if target[0] != target[1]:
                        raise ValueError(f"the model records a non-square resampling {target}")
                    slices = _resample(slices, target[0])
                elif trained is not None and list(slices.shape[1:]) != list(trained):
                    raise ValueError(
                        f"slices are {slices.shape[1]}x{slices.shape[2]}, the model was trained on "
                        f"{trained[0]}x{trained[1]} slices without resampling; its scores at another size are "
                        f"meaningless. Resample with --size {trained[0]} if that is what you want"
                    )
                X = slices if transform is None else transform.transform(slices)
                labels = clf.predict(X)
                proba = np.asarray(clf.predict_proba(X)) if has_proba else None
                scores = (np.asarray(clf.decision_function(X))
                          if proba is None and hasattr(clf, "decision_function") else None)
            except Exception as exc:  # noqa: BLE001 - report the file, go on with the others
                problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            failed += 1
            print(f"fastct predict: {path}: {problem}", file=sys.stderr)
            continue
        for i, label in enumerate(labels):
            row = {"file": str(path), "slice": i, "prediction": str(label)}
            k = classes.index(label) if label in classes else None
            if proba is not None:
                # predict is the SVM's decision; the probability is that of the predicted class.
                row["probability"] = None if k is None else float(proba[i, k])
                row["probabilities"] = {str(c): float(p) for c, p in zip(classes, proba[i])}
            elif scores is not None:
                if scores.ndim == 1:  # binary: positive side is classes_[1]
                    row["decision"] = float(scores[i]) if k == 1 else float(-scores[i])
                else:
                    row["decision"] = None if k is None else float(scores[i, k])
            results.append(row)
    if args.json:
        print(json.dumps({"model": str(args.model), "classes": header.get("classes"),
                          "slice_shape": trained, "resampled_to": target, "predictions": results,
                          "failed_inputs": failed}, indent=2))
    else:
        for r in results:
            extra = ""
            if r.get("probability") is not None:
                extra = f"\tp={r['probability']:.3f}"
            elif r.get("decision") is not None:
                extra = f"\tdecision={r['decision']:+.3f}"
            print(f"{r['file']}\t{r['slice']}\t{r['prediction']}{extra}")
    if failed:
        print(f"fastct predict: {failed} input(s) could not be classified", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
