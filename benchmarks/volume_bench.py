"""3-D operations on one CT volume: fastct against scipy.ndimage, SimpleITK and scikit-image.

Usage::

    python benchmarks/volume_bench.py [--slices 128] [--size 512] [--repeats 3] [--quick]

One int16 chest phantom volume of ``slices x size x size`` voxels (HU). Every
case runs the same operation on the same array in the same process, warmed up
first (numba compiles, SimpleITK loads its filters), and keeps the best of
``--repeats`` runs; the ratios are fastct's time over each peer's, measured
side by side, never against another run. Peers:

- scipy.ndimage (one thread): ``grey_erosion``/``grey_dilation`` with the same
  footprint, ``gaussian_filter`` (same sigma and truncate);
- SimpleITK (``--sitk-threads``, default numba's thread count):
  ``GrayscaleErode``/``GrayscaleDilate`` (box radius 1, ball radius 2),
  ``DiscreteGaussian`` (variance sigma**2 in voxels, its default maximum
  error and kernel width), ``SmoothingRecursiveGaussian`` (an IIR
  approximation);
- scikit-image: ``morphology.erosion`` (it calls scipy.ndimage) and
  ``filters.gaussian``;
- the floor: an int16 -> float32 copy of the volume.

fastct's peak memory per call (NumPy allocations traced by ``tracemalloc``)
is recorded over the size of its output (``fastct_peak_over_output``).

Targets (issue 16): erode/dilate 3x3x3 <= 0.1x scipy, ball radius 2 <= 0.5x
scipy, 3-D Gaussian float32 <= 0.25x scipy and <= 0.25x SimpleITK
``DiscreteGaussian``. Results go to
``benchmarks/results/<machine>-volume.json`` with the machine, versions and
thread counts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

import fastct
from fastct.datasets import chest_phantom

try:
    from ._machine import machine_info, machine_name
except ImportError:  # run as a script
    from _machine import machine_info, machine_name

RESULTS = Path(__file__).resolve().parent / "results"
#: Gaussian of the issue's example: sigma 2 mm on 2.5 x 0.7 x 0.7 mm voxels is about (0.8, 2.9, 2.9);
#: the measured case is the issue's (0.4, 1.4, 1.4) voxels.
SIGMA = (0.4, 1.4, 1.4)
TRUNCATE = 4.0

#: (case, peer, largest ratio fastct / peer)
TARGETS = [
    ("erode_3x3x3", "scipy", 0.1),
    ("dilate_3x3x3", "scipy", 0.1),
    ("erode_ball2", "scipy", 0.5),
    ("dilate_ball2", "scipy", 0.5),
    ("gaussian_float32", "scipy", 0.25),
    ("gaussian_float32", "sitk", 0.25),  # DiscreteGaussian
]


def best_of(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls (seconds), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_over_output(fn) -> float:
    """Peak of the NumPy memory traced during one call, over the result's size (1.0: nothing but the output)."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / result.nbytes


def sitk_peers(vol, volf, threads):
    """SimpleITK callables per case, or {} when it is not installed."""
    try:
        import SimpleITK as sitk
    except ImportError:
        return {}, None
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    img = sitk.GetImageFromArray(vol)
    imgf = sitk.GetImageFromArray(volf)

    def morph(filter_cls, kernel, radius):
        f = filter_cls()
        f.SetKernelType(kernel)
        f.SetKernelRadius(radius)
        f.SetNumberOfThreads(threads)
        return lambda: f.Execute(img)

    discrete = sitk.DiscreteGaussianImageFilter()
    discrete.SetVariance([s * s for s in SIGMA[::-1]])  # SimpleITK orders axes (x, y, z)
    discrete.SetUseImageSpacing(False)  # variance in voxels; maximum error and kernel width: SimpleITK's defaults
    discrete.SetNumberOfThreads(threads)
    recursive = sitk.SmoothingRecursiveGaussianImageFilter()
    recursive.SetSigma([float(s) for s in SIGMA[::-1]])
    recursive.SetNumberOfThreads(threads)
    peers = {
        "erode_3x3x3": morph(sitk.GrayscaleErodeImageFilter, sitk.sitkBox, 1),
        "dilate_3x3x3": morph(sitk.GrayscaleDilateImageFilter, sitk.sitkBox, 1),
        "erode_ball2": morph(sitk.GrayscaleErodeImageFilter, sitk.sitkBall, 2),
        "dilate_ball2": morph(sitk.GrayscaleDilateImageFilter, sitk.sitkBall, 2),
        "gaussian_float32": lambda: discrete.Execute(imgf),
        "gaussian_float32_recursive": lambda: recursive.Execute(imgf),
    }
    return peers, sitk.Version_VersionString()


def skimage_peers(vol, volf):
    try:
        from skimage import filters, morphology
    except ImportError:
        return {}
    box = np.ones((3, 3, 3), bool)
    ball = fastct.ball(2)
    return {
        "erode_3x3x3": lambda: morphology.erosion(vol, box),
        "erode_ball2": lambda: morphology.erosion(vol, ball),
        "gaussian_float32": lambda: filters.gaussian(volf, SIGMA, truncate=TRUNCATE, preserve_range=True,
                                                     mode="nearest"),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=128)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats", type=int, default=1, help="repeats of the slow peers (after a warm-up)")
    parser.add_argument("--sitk-threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a 16-slice volume, to check the script runs")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.slices, args.size, args.repeats = 16, 128, 1
    import numba

    threads = args.sitk_threads or numba.get_num_threads()
    vol = chest_phantom(args.slices, args.size, seed=0)
    assert vol.dtype == np.int16
    volf = vol.astype(np.float32)
    box = np.ones((3, 3, 3), bool)
    ball = fastct.ball(2)
    ax = (0, 1, 2)
    cases = {
        "erode_3x3x3": (lambda: fastct.erode(vol, 3, axes=ax, backend="cpu"),
                        lambda: ndi.grey_erosion(vol, footprint=box, mode="nearest")),
        "dilate_3x3x3": (lambda: fastct.dilate(vol, 3, axes=ax, backend="cpu"),
                         lambda: ndi.grey_dilation(vol, footprint=box, mode="nearest")),
        "erode_ball2": (lambda: fastct.erode(vol, footprint=ball, axes=ax, backend="cpu"),
                        lambda: ndi.grey_erosion(vol, footprint=ball, mode="nearest")),
        "opening_3x3x3": (lambda: fastct.opening(vol, 3, axes=ax, backend="cpu"),
                          lambda: ndi.grey_opening(vol, footprint=box, mode="nearest")),
        "dilate_ball2": (lambda: fastct.dilate(vol, footprint=ball, axes=ax, backend="cpu"),
                         lambda: ndi.grey_dilation(vol, footprint=ball, mode="nearest")),
        "gaussian_float32": (lambda: fastct.gaussian_blur(volf, SIGMA, truncate=TRUNCATE, axes=ax, backend="cpu"),
                             lambda: ndi.gaussian_filter(volf, SIGMA, truncate=TRUNCATE, mode="nearest")),
        "gaussian_int16": (lambda: fastct.gaussian_blur(vol, SIGMA, truncate=TRUNCATE, axes=ax, backend="cpu"),
                           lambda: ndi.gaussian_filter(vol, SIGMA, truncate=TRUNCATE, mode="nearest")),
    }
    # same answers before timing anything
    for name in ("erode_3x3x3", "erode_ball2", "dilate_ball2", "opening_3x3x3"):
        ours, ref = cases[name]
        assert np.array_equal(ours(), ref()), name
    g_ours, g_ref = cases["gaussian_float32"]
    assert np.abs(g_ours() - g_ref()).max() <= 1e-5 * float(np.abs(volf).max())
    sitk, sitk_version = sitk_peers(vol, volf, threads)
    skimage = skimage_peers(vol, volf)
    copy = best_of(lambda: vol.astype(np.float32), args.repeats)
    results = {}
    for name, (ours, ref) in cases.items():
        row = {"fastct_s": best_of(ours, args.repeats), "scipy_s": best_of(ref, args.peer_repeats),
               "fastct_peak_over_output": peak_over_output(ours)}
        if name in sitk:
            row["sitk_s"] = best_of(sitk[name], args.peer_repeats)
        if name in skimage:
            row["skimage_s"] = best_of(skimage[name], args.peer_repeats)
        if name == "gaussian_float32" and "gaussian_float32_recursive" in sitk:
            row["sitk_recursive_s"] = best_of(sitk["gaussian_float32_recursive"], args.peer_repeats)
        for peer in ("scipy", "sitk", "skimage", "sitk_recursive"):
            if f"{peer}_s" in row:
                row[f"ratio_vs_{peer}"] = row["fastct_s"] / row[f"{peer}_s"]
        row["ms_per_slice"] = {k[:-2]: 1e3 * v / args.slices for k, v in row.items() if k.endswith("_s")}
        results[name] = row
        print(f"{name:18s} fastct {row['fastct_s'] * 1e3:8.1f} ms  "
              + "  ".join(f"{k[9:]} {v:.3f}x" for k, v in row.items() if k.startswith("ratio_vs_")), flush=True)
    targets = {}
    for name, peer, bound in TARGETS:
        ratio = results[name].get(f"ratio_vs_{peer}")
        met = None if ratio is None else ratio <= bound
        targets[f"{name} vs {peer}"] = {"target": bound, "ratio": ratio, "met": met}
    info = machine_info("scipy", "skimage")
    info["versions"]["SimpleITK"] = sitk_version or "not installed"
    report = {
        "benchmark": "volume_bench",
        "volume": {"shape": list(vol.shape), "dtype": "int16", "data": "fastct.datasets.chest_phantom"},
        "gaussian_sigma_voxels": SIGMA,
        "truncate": TRUNCATE,
        "repeats": {"fastct": args.repeats, "peers": args.peer_repeats},
        "threads": {"fastct_numba": numba.get_num_threads(), "SimpleITK": threads, "scipy": 1, "skimage": 1},
        "floor_copy_int16_to_float32_s": copy,
        "results": results,
        "targets": targets,
        "machine": info,
    }
    out = args.output or RESULTS / f"{machine_name()}-volume{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"copy floor {copy * 1e3:.1f} ms; wrote {out}")
    for label, t in targets.items():
        shown = "n/a" if t["ratio"] is None else f"{t['ratio']:.3f}"
        print(f"  {label}: {shown} (target <= {t['target']}) {'met' if t['met'] else 'NOT met'}")
    return report


if __name__ == "__main__":
    main()
