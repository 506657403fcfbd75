"""fastct (CPU) vs OpenCV per-slice loops vs a plain copy, side by side in one process.

Usage::

    python benchmarks/compare_opencv.py [--slices 64] [--size 512] [--repeats 7] [--output PATH]

Data: a synthetic chest CT phantom batch (int16 HU). Every candidate is run
once to warm up (numba compiles, caches fill), then ``--repeats`` times; the
median is reported. Ratios are taken within this one run, so they hold on the
machine they were measured on; absolute times are not comparable across runs.
Results go to ``benchmarks/results/<machine>.json`` unless ``--output`` says
otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastct
from fastct.bench.data import to_uint8  # the classic 8-bit squeeze of HU
from fastct.datasets import chest_phantom

try:
    from ._machine import machine_info, machine_name
except ImportError:  # run as a script
    from _machine import machine_info, machine_name


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compile, page in, fill caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cases(batch: np.ndarray, cv2):
    b8 = to_uint8(batch)
    k3 = np.ones((3, 3), np.uint8)
    replicate = cv2.BORDER_REPLICATE
    f32 = batch.astype(np.float32)

    def per_slice(fn, data):
        def run():
            out = np.empty_like(data)
            for i in range(len(data)):
                out[i] = fn(data[i])
            return out

        return run

    def cv_classic_u8():
        out = np.empty_like(b8)
        for i in range(len(b8)):
            x = cv2.erode(b8[i], k3, borderType=replicate)
            x = cv2.dilate(x, k3, borderType=replicate)
            x = cv2.GaussianBlur(x, (5, 5), 0, borderType=replicate)
            out[i] = cv2.equalizeHist(x)
        return out

    pipe = fastct.Pipeline(fastct.DEFAULT_STEPS)
    out32 = np.empty(batch.shape, np.float32)
    return {
        "copy": [
            ("copy int16", lambda: batch.copy()),
            # The floor: a new array, as every call below returns one.
            ("copy int16->float32", lambda: batch.astype(np.float32)),
            ("copy int16->float32, preallocated", lambda: np.copyto(out32, batch)),
        ],
        "erode 3x3": [
            ("fastct int16", lambda: fastct.erode(batch, 3, backend="cpu")),
            ("opencv int16", per_slice(lambda s: cv2.erode(s, k3, borderType=replicate), batch)),
            ("opencv uint8", per_slice(lambda s: cv2.erode(s, k3, borderType=replicate), b8)),
            ("fastct float32", lambda: fastct.erode(f32, 3, backend="cpu")),
            ("opencv float32", per_slice(lambda s: cv2.erode(s, k3, borderType=replicate), f32)),
        ],
        "gaussian 5x5": [
            ("fastct int16", lambda: fastct.gaussian_blur(batch, 0, ksize=5, backend="cpu")),
            ("opencv int16", per_slice(lambda s: cv2.GaussianBlur(s, (5, 5), 0, borderType=replicate), batch)),
            ("opencv uint8", per_slice(lambda s: cv2.GaussianBlur(s, (5, 5), 0, borderType=replicate), b8)),
            ("fastct float32", lambda: fastct.gaussian_blur(f32, 0, ksize=5, backend="cpu")),
            ("opencv float32", per_slice(lambda s: cv2.GaussianBlur(s, (5, 5), 0, borderType=replicate), f32)),
        ],
        "equalize": [
            ("fastct int16 (one bin per HU)", lambda: fastct.equalize_hist(batch, backend="cpu")),
            ("opencv uint8", per_slice(cv2.equalizeHist, b8)),
        ],
        "default pipeline": [
            ("fastct int16", lambda: pipe.run(batch, "cpu")),
            ("opencv classic uint8", cv_classic_u8),
        ],
    }


def main(argv=None) -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default=None, help="JSON file (default benchmarks/results/<machine>.json)")
    args = parser.parse_args(argv)

    batch = chest_phantom(args.slices, args.size, seed=0)
    info = machine_info("cv2", "scipy")
    mpx = batch.size / 1e6
    results = {}
    copy_floor = None
    print(f"{args.slices}x{args.size}x{args.size} int16, {info['numba_threads']} numba threads, "
          f"{info['opencv_threads']} OpenCV threads, median of {args.repeats}")
    for group, entries in cases(batch, cv2).items():
        rows = {}
        for label, fn in entries:
            rows[label] = median_time(fn, args.repeats)
        if group == "copy":
            copy_floor = rows["copy int16->float32"]
        results[group] = rows
        first = next(iter(rows.values()))
        print(f"\n{group}")
        for label, seconds in rows.items():
            print(f"  {label:<32}{seconds * 1e3:9.2f} ms {mpx / seconds:9.0f} Mpx/s"
                  f"   x{seconds / first:5.2f} of first   x{seconds / copy_floor:5.2f} of copy floor")
    report = {
        "benchmark": "compare_opencv",
        "shape": list(batch.shape),
        "dtype": "int16",
        "repeats": args.repeats,
        "statistic": "median seconds",
        "machine": info,
        "copy_floor_seconds": copy_floor,
        "results": results,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    default = Path(__file__).parent / "results" / f"{machine_name()}-compare_opencv.json"
    out = Path(args.output) if args.output else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
