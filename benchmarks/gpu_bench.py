"""fastct's GPU backend against GPU peers and the CPU, side by side in one process.

Usage (on a machine with a GPU; ``ci/gpu.sh`` runs it)::

    python benchmarks/gpu_bench.py [--slices 256] [--size 512] [--repeats 7] [--output PATH]
    python benchmarks/gpu_bench.py --self-test     # tiny sizes, NumPy/scipy stand-ins, no GPU needed

Groups (ratios are taken within this run; absolute times do not compare
across machines or runs):

``pipeline``
    The default pipeline (erode 3, dilate 3, Gaussian 5x5, equalise) on a
    device-resident int16 batch (default 256 x 512 x 512): fastct vs a device
    copy of the same bytes (the floor) vs the same steps composed from
    cupyx.scipy.ndimage and CuPy histogram code.
``ops``
    Each op device-resident vs its cupyx.scipy.ndimage (or CuPy) counterpart.
``clahe``
    CLAHE on uint16 (8x8 tiles, clip 2): fastct on the GPU vs OpenCV on the CPU
    (per-slice loop, its best case), device-resident and from NumPy.
``end_to_end``
    NumPy in -> NumPy out (upload, compute, download) vs the CPU backend.

Every candidate runs once untimed (compiles kernels, fills caches and cuFFT
plans); the device is synchronised inside each timed call. The median of
``--repeats`` runs is reported. Results go to ``--output`` (JSON, with the
machine, versions and sizes) and the log to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastct
from fastct.bench.peers import peer_default_pipeline, peer_equalize
from fastct.datasets import chest_phantom


class Bench:
    """Timing and bookkeeping against one array namespace (CuPy, or NumPy for --self-test)."""

    def __init__(self, xp, ndimage, backend: str, repeats: int):
        self.xp, self.ndimage, self.backend, self.repeats = xp, ndimage, backend, repeats
        self.results: list[dict] = []

    def sync(self):
        if self.xp.__name__ == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def time(self, fn) -> list[float]:
        fn()
        self.sync()
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t0)
        return times

    def group(self, group: str, candidates: dict, base: str, nbytes: int, note: str = ""):
        """Time each candidate; ratios are relative to ``base`` (fastct's entry)."""
        medians = {}
        for name, fn in candidates.items():
            try:
                times = self.time(fn)
            except Exception as exc:  # noqa: BLE001 - a peer missing a feature is reported, not fatal
                print(f"  {group:<22} {name:<30} failed: {type(exc).__name__}: {exc}")
                self.results.append({"group": group, "name": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            med = statistics.median(times)
            medians[name] = med
            self.results.append({"group": group, "name": name, "median_s": med, "times_s": times,
                                 "gb_per_s": nbytes / med / 1e9 if med > 0 else None, "note": note})
        ref = medians.get(base)
        for name, med in medians.items():
            ratio = med / ref if ref else float("nan")
            for r in self.results:
                if r.get("group") == group and r["name"] == name and "median_s" in r:
                    r["time_vs_fastct"] = ratio
            print(f"  {group:<22} {name:<30} {med * 1e3:10.3f} ms   x{ratio:6.2f} of fastct")


# peers composed from ndimage + array code (CuPy on the GPU, NumPy/scipy in --self-test)
# live in fastct.bench.peers, shared with `fastct bench`.

# ---------------------------------------------------------------------------


def run(args) -> dict:
    if args.self_test:
        from scipy import ndimage

        xp, backend = np, "cpu"
        to_device = np.asarray
        to_host = np.asarray
    else:
        import cupy
        from cupyx.scipy import ndimage

        xp, backend = cupy, "gpu"
        to_device = cupy.asarray
        to_host = cupy.asnumpy
    bench = Bench(xp, ndimage, backend, args.repeats)
    n, size = args.slices, args.size
    host = chest_phantom(n, size, seed=0)  # int16 HU
    dev = to_device(host)
    nbytes = host.nbytes
    print(f"batch {host.shape} {host.dtype} ({nbytes / 2**20:.0f} MiB), backend {backend}, repeats {args.repeats}")

    # correctness first: the GPU's bits are the CPU's
    expected = fastct.process(host, backend="cpu")
    got = to_host(fastct.process(dev, backend=backend))
    identical = bool(np.array_equal(expected, got))
    print(f"default pipeline identical to the CPU backend: {identical}")

    print("== pipeline (device-resident)")
    bench.group("pipeline", {
        "fastct.process": lambda: fastct.process(dev, backend=backend),
        "fastct.process fuse=False": lambda: fastct.Pipeline(None, fuse=False)(dev, backend=backend),
        "device copy (floor)": lambda: dev.copy(),
        "ndimage + array histogram": lambda: peer_default_pipeline(xp, ndimage, dev),
    }, "fastct.process", nbytes)

    print("== ops (device-resident) vs ndimage")
    f32 = dev.astype(xp.float32)
    lap4 = xp.asarray(np.array([[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]], np.float32))
    op_groups = {
        "erode3": {"fastct": lambda: fastct.erode(dev, 3, backend=backend),
                   "ndimage.grey_erosion": lambda: ndimage.grey_erosion(dev, size=(1, 3, 3), mode="nearest")},
        "dilate5": {"fastct": lambda: fastct.dilate(dev, 5, backend=backend),
                    "ndimage.grey_dilation": lambda: ndimage.grey_dilation(dev, size=(1, 5, 5), mode="nearest")},
        "opening3": {"fastct": lambda: fastct.opening(dev, 3, backend=backend),
                     "ndimage.grey_opening": lambda: ndimage.grey_opening(dev, size=(1, 3, 3), mode="nearest")},
        "closing_disk5": {"fastct": lambda: fastct.closing(dev, 5, shape="disk", backend=backend),
                          "ndimage.grey_closing": lambda: ndimage.grey_closing(
                              dev, footprint=xp.asarray(fastct.disk(2)[None]), mode="nearest")},
        "gaussian_s2_int16": {"fastct": lambda: fastct.gaussian_blur(dev, 2.0, backend=backend),
                              "ndimage.gaussian_filter": lambda: ndimage.gaussian_filter(
                                  dev, sigma=(0, 2.0, 2.0), mode="nearest")},
        "gaussian_s2_float32": {"fastct": lambda: fastct.gaussian_blur(f32, 2.0, backend=backend),
                                "ndimage.gaussian_filter": lambda: ndimage.gaussian_filter(
                                    f32, sigma=(0, 2.0, 2.0), mode="nearest")},
        "sharpen": {"fastct": lambda: fastct.sharpen(f32, backend=backend),
                    "ndimage.convolve": lambda: ndimage.convolve(f32, lap4, mode="nearest")},
        "unsharp": {"fastct": lambda: fastct.unsharp_mask(f32, 1.5, 0.8, backend=backend),
                    "ndimage.gaussian_filter+axpy": lambda: f32 + 0.8 * (
                        f32 - ndimage.gaussian_filter(f32, sigma=(0, 1.5, 1.5), mode="nearest"))},
        "lowpass_gauss": {"fastct": lambda: fastct.lowpass(f32, 0.1, backend=backend),
                          "ndimage.fourier_gaussian": lambda: xp.fft.irfft2(ndimage.fourier_gaussian(
                              xp.fft.rfft2(f32), sigma=(0, 1.6, 1.6), n=size), s=f32.shape[-2:])},
        "equalize": {"fastct": lambda: fastct.equalize_hist(dev, backend=backend),
                     "bincount+cumsum": lambda: peer_equalize(xp, dev)},
        "window": {"fastct": lambda: fastct.window(dev, preset="lung", backend=backend),
                   "array expression": lambda: xp.clip((dev.astype(xp.float64) - (-600.5)) / 1499.0 + 0.5,
                                                       0, 1).astype(xp.float32)},
    }
    for name, cands in op_groups.items():
        bench.group(f"op:{name}", cands, "fastct", nbytes)

    print("== clahe uint16 (8x8 tiles, clip 2)")
    u16 = np.clip(host.astype(np.int32) + 1024, 0, 65535).astype(np.uint16)
    u16_dev = to_device(u16)
    clahe_slices = min(n, args.clahe_slices)
    cands = {
        "fastct device": lambda: fastct.clahe(u16_dev[:clahe_slices], dtype=np.uint16, backend=backend),
        "fastct from NumPy": lambda: fastct.clahe(u16[:clahe_slices], dtype=np.uint16, backend=backend),
    }
    try:
        import cv2

        cl = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        cands["OpenCV CPU (per slice)"] = lambda: [cl.apply(s) for s in u16[:clahe_slices]]
    except ImportError:
        print("  OpenCV not installed: no CPU peer")
    bench.group("clahe", cands, "fastct device", u16[:clahe_slices].nbytes, note=f"{clahe_slices} slices")

    print("== end to end (NumPy in, NumPy out)")
    bench.group("end_to_end", {
        "fastct gpu": lambda: fastct.process(host, backend=backend),
        "fastct cpu": lambda: fastct.process(host, backend="cpu"),
    }, "fastct gpu", nbytes)

    return {
        "machine": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": _versions(xp),
        "shape": list(host.shape),
        "dtype": str(host.dtype),
        "repeats": args.repeats,
        "self_test": bool(args.self_test),
        "default_pipeline_identical_to_cpu": identical,
        "cpu_threads": _cpu_threads(),
        "results": bench.results,
    }


def _versions(xp) -> dict:
    out = {"fastct": getattr(fastct, "__version__", "?"), "numpy": np.__version__}
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        pass
    try:
        import cv2

        out["opencv"] = cv2.__version__
    except ImportError:
        pass
    if xp.__name__ == "cupy":
        out["cupy"] = xp.__version__
        out["cuda_runtime"] = xp.cuda.runtime.runtimeGetVersion()
        out["cuda_driver"] = xp.cuda.runtime.driverGetVersion()
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        name = props["name"]
        out["device"] = name.decode() if isinstance(name, bytes) else str(name)
    return out


def _cpu_threads():
    try:
        import numba

        return numba.get_num_threads()
    except ImportError:
        return os.cpu_count()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clahe-slices", type=int, default=32, help="slices in the CLAHE group (OpenCV is slow)")
    parser.add_argument("--output", type=Path, default=None, help="JSON results (default: benchmarks/results/)")
    parser.add_argument("--self-test", action="store_true",
                        help="tiny run on NumPy/scipy stand-ins and the CPU backend (checks the script, no GPU)")
    args = parser.parse_args(argv)
    if args.self_test:
        args.slices, args.size, args.repeats, args.clahe_slices = min(args.slices, 3), min(args.size, 48), 1, 2
    report = run(args)
    out = args.output or Path(__file__).resolve().parent / "results" / f"gpu-{platform.node() or 'machine'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"results: {out}")
    return 0 if report["default_pipeline_identical_to_cpu"] else 1


if __name__ == "__main__":
    sys.exit(main())
