"""The classification targets, measured: F1 on the lung phantoms and feature throughput.

Run from the repository root (takes about a minute at the issue's sizes):

    .venv/bin/python benchmarks/classify_phantoms.py            # 200 per class, 256x256
    .venv/bin/python benchmarks/classify_phantoms.py --n-per-class 20 --size 128 --output /tmp/x.json

1. Accuracy: ``lung_phantoms(200)`` at 256x256, stratified 80/20 split with
   ``random_state=42``; fastct's default model (default steps and feature
   groups, StandardScaler, linear SVC with C=1) against the classic baseline
   (the default-step preprocessed pixels, flattened, into the same linear
   SVC), plus fastct's own linear SVM (NumPy) and a 5-fold check.
2. Throughput: the feature vectors of the same slices (given the
   preprocessed slices to both) by fastct's Numba kernels against
   :mod:`fastct.ml.reference`, the same features written with scipy.ndimage
   and scikit-image, slice by slice, in one process on one machine. Both are
   warmed up first; fastct's time is the best of several runs. On a machine
   with a usable GPU backend the same features run on the GPU too (device-
   resident input, synchronised), with the GPU/CPU ratio and a bit-for-bit
   check against the CPU result; elsewhere the JSON says why it did not run.

Writes ``benchmarks/results/classify_phantoms.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastct import backends, process  # noqa: E402
from fastct.datasets import lung_phantoms  # noqa: E402
from fastct.ml import evaluate, features, make_model, raw_pixel_model  # noqa: E402
from fastct.ml.reference import reference_features  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_count as _cpu_count  # noqa: E402
from _machine import machine_info  # noqa: E402


def _machine() -> dict:
    info = machine_info("scipy", "skimage", "sklearn")
    info["note"] = "cores shared with other processes; ratios are measured side by side in one process"
    return info


def _summary(result) -> dict:
    return {"accuracy": result.accuracy, "recall_weighted": result.recall, "precision_weighted": result.precision,
            "f1_weighted": result.f1, "per_class": result.per_class, "confusion_matrix": result.confusion,
            "classes": [str(c) for c in result.classes], "n_test": result.n_test,
            "fit_seconds": result.fit_seconds, "predict_seconds": result.predict_seconds}


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def throughput(images: np.ndarray, n: int, repeat: int) -> dict:
    """Features-only time per slice: fastct (Numba) vs the scipy/scikit-image reference."""
    batch = images[:n]
    pre = process(batch, backend="cpu")
    features(batch[:2], preprocessed=pre[:2], backend="cpu")  # compile / load the cached kernels
    reference_features(batch[:2], preprocessed=pre[:2])  # import and warm scipy / scikit-image
    mine = features(batch, preprocessed=pre, backend="cpu")
    ref = reference_features(batch, preprocessed=pre)
    fastct_s = _best(lambda: features(batch, preprocessed=pre, backend="cpu"), repeat)
    reference_s = _best(lambda: reference_features(batch, preprocessed=pre), 1)
    with_pre_s = _best(lambda: features(batch, backend="cpu"), repeat)
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # per-core comparison: robust to other load on a shared machine
    try:
        one_thread_s = _best(lambda: features(batch, preprocessed=pre, backend="cpu"), repeat)
    finally:
        numba.set_num_threads(threads)
    return {
        "slices": int(n),
        "shape": list(batch.shape[1:]),
        "fastct_seconds": fastct_s,
        "fastct_slices_per_second": n / fastct_s,
        "reference_seconds": reference_s,
        "reference_slices_per_second": n / reference_s,
        "speedup": reference_s / fastct_s,
        "fastct_threads": threads,
        "fastct_1thread_slices_per_second": n / one_thread_s,
        "speedup_1thread": reference_s / one_thread_s,
        "fastct_with_preprocessing_slices_per_second": n / with_pre_s,
        "max_abs_difference": float(np.abs(mine - ref).max()),
        "reference": "fastct.ml.reference.reference_features: scipy.ndimage (uniform_filter, binary_fill_holes, "
                     "label, distance_transform_cdt, sobel) + skimage.feature.local_binary_pattern, per slice",
        "note": "same preprocessed slices given to both; fastct best of "
                f"{repeat} runs, reference 1 run after a warm-up",
    }


def gpu_throughput(images: np.ndarray, n: int, repeat: int, cpu: dict) -> dict:
    """Features on the GPU backend (device-resident slices), against the CPU figure ``cpu``."""
    gpu = backends.status("gpu")
    if not gpu.available:
        return {"run": False, "reason": f"GPU backend unavailable here: {gpu.reason}"}
    import cupy

    import fastct.gpu

    batch = images[:n]
    pre = process(batch, backend="cpu")
    d_batch, d_pre = cupy.asarray(batch), cupy.asarray(pre)

    def run():
        out = features(d_batch, preprocessed=d_pre, backend="gpu")
        cupy.cuda.get_current_stream().synchronize()
        return out

    got = cupy.asnumpy(run())  # compile the kernels
    seconds = _best(run, repeat)
    identical = bool(np.array_equal(got, features(batch, preprocessed=pre, backend="cpu")))
    return {
        "run": True,
        "device": fastct.gpu.runtime_info().get("device", "?"),
        "slices": int(n),
        "seconds": seconds,
        "slices_per_second": n / seconds,
        "gpu_over_cpu": cpu["fastct_seconds"] / seconds,
        "identical_to_cpu": identical,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-per-class", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--throughput-slices", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "classify_phantoms.json"))
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    images, labels = lung_phantoms(args.n_per_class, args.size, seed=0)
    gen_s = time.perf_counter() - t0
    print(f"lung_phantoms({args.n_per_class}, {args.size}): {images.shape} in {gen_s:.1f} s")

    results = {"dataset": {"call": f"lung_phantoms({args.n_per_class}, size={args.size}, seed=0)",
                           "shape": list(images.shape), "classes": sorted(set(labels.tolist())),
                           "generation_seconds": gen_s},
               "split": "stratified hold-out 20%, random_state=42", "machine": _machine()}

    fastct_eval = evaluate(make_model(backend="cpu"), images, labels, test_size=0.2, random_state=42)
    results["fastct"] = dict(_summary(fastct_eval), model="Features(default steps, default groups) -> "
                             "StandardScaler -> SVMClassifier(linear, C=1) [scikit-learn SVC]")
    print(f"fastct features + linear SVC:       F1 {fastct_eval.f1:.3f}  accuracy {fastct_eval.accuracy:.3f}")
    own = evaluate(make_model(backend="cpu", solver="fastct"), images, labels, test_size=0.2, random_state=42)
    results["fastct_own_linear_svm"] = dict(_summary(own), model="same features -> StandardScaler -> fastct's "
                                            "own one-vs-rest squared-hinge linear SVM (NumPy)")
    print(f"fastct features + own linear SVM:   F1 {own.f1:.3f}  accuracy {own.accuracy:.3f}")
    cv5 = evaluate(make_model(backend="cpu"), images, labels, cv=5, random_state=42)
    results["fastct_5fold"] = {"f1_weighted": cv5.f1, "accuracy": cv5.accuracy,
                               "per_fold_f1": [f["f1_weighted"] for f in cv5.folds]}
    print(f"fastct features + linear SVC 5-fold: F1 {cv5.f1:.3f}")
    if not args.skip_baseline:
        t0 = time.perf_counter()
        base = evaluate(raw_pixel_model(backend="cpu"), images, labels, test_size=0.2, random_state=42)
        results["baseline_raw_pixels"] = dict(_summary(base), seconds=time.perf_counter() - t0,
                                              model="classic: default-step preprocessed pixels flattened -> "
                                                    "SVC(linear, C=1)")
        print(f"classic raw-pixel linear SVC:       F1 {base.f1:.3f}  accuracy {base.accuracy:.3f}")

    n = min(args.throughput_slices, len(images))
    results["throughput_cpu"] = throughput(images, n, args.repeat)
    tp = results["throughput_cpu"]
    print(f"features on the CPU, {n} slices: fastct {tp['fastct_slices_per_second']:.0f} slices/s, "
          f"scipy/scikit-image {tp['reference_slices_per_second']:.1f} slices/s -> {tp['speedup']:.1f}x "
          f"({_cpu_count()} CPUs); one thread: {tp['fastct_1thread_slices_per_second']:.0f} slices/s, "
          f"{tp['speedup_1thread']:.1f}x")
    results["throughput_gpu"] = gpu_throughput(images, n, args.repeat, tp)
    if results["throughput_gpu"]["run"]:
        tg = results["throughput_gpu"]
        print(f"features on the GPU ({tg['device']}): {tg['slices_per_second']:.0f} slices/s, "
              f"{tg['gpu_over_cpu']:.1f}x the CPU backend; identical to the CPU: {tg['identical_to_cpu']}")
    else:
        print(f"features on the GPU: not run ({results['throughput_gpu']['reason']})")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
