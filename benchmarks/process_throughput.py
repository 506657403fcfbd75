"""``fastct process`` against a plain single-process pydicom loop, side by side in one run.

Usage::

    python benchmarks/process_throughput.py [--files 300] [--repeats 3] [--formats dcm,npy] [--workers 1,2]

1. Writes ``--files`` DICOM files of 512x512 int16 (a synthetic chest
   phantom, stored with RescaleIntercept -1024) into a temporary folder.
2. Warms the kernel cache once (``fastct warmup``), so every measured run
   loads kernels instead of compiling them, as a user's second run does.
3. For each output format, alternately (so both see the same machine load):

   * the **plain loop**, a fresh ``python`` process running
     ``pydicom.dcmread`` -> ``pixel_array`` -> ``apply_modality_lut`` ->
     ``fastct.process`` (default steps) -> ``save_as`` (or ``np.save``) file by file;
   * ``fastct process IN -o OUT --format F --per-file`` as a command (one
     output per file, as the loop writes), with worker processes
     (``--workers 1`` and ``2``) and with threads.

   Times are wall clock of the whole command, start-up included, and the CPU
   time of all its processes (user + system); medians of ``--repeats``.
   Ratios are plain-loop time / fastct time (above 1: fastct faster). The
   machine's load average before each round is recorded: on a shared machine
   the wall times of worker processes depend on how many cores are free.
4. ``fastct.io.read`` against pydicom's read + ``pixel_array`` + modality LUT,
   in this process, alternated, medians.
5. First, the machine's parallel capacity: how much faster two processes
   burn CPU than one (a VM's virtual cores may share physical ones).

Results go to ``benchmarks/results/<machine>-process_throughput.json`` with the
machine, versions and thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from ._machine import machine_info, machine_name
except ImportError:  # run as a script
    from _machine import machine_info, machine_name

PLAIN_LOOP = r"""
import sys
from pathlib import Path
import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut
import fastct

src, out, fmt = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
out.mkdir(parents=True, exist_ok=True)
for path in sorted(src.iterdir()):
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds)
    hu = hu.astype(np.int16) if np.array_equal(hu, np.round(hu)) else hu.astype(np.float32)
    result = fastct.process(hu, backend="cpu")
    if fmt == "npy":
        np.save(out / (path.stem + ".npy"), result)
    else:
        stored = np.round((result - float(ds.RescaleIntercept)) / float(ds.RescaleSlope)).astype(ds.pixel_array.dtype)
        ds.PixelData = stored.tobytes()
        ds.save_as(out / path.name)
"""


def make_files(folder: Path, n: int) -> None:
    """``n`` single-slice CT DICOM files of 512x512 int16 (stored + intercept -1024)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from fastct.datasets import chest_phantom

    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    volume = chest_phantom(16, 512, seed=0)
    series = generate_uid()
    for i in range(n):
        ds = template.copy()
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = (volume[i % len(volume)] + 1024).astype(np.int16).tobytes()
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series, generate_uid()
        ds.ImagePositionPatient, ds.InstanceNumber = [0.0, 0.0, float(i)], i + 1
        ds.save_as(folder / f"im{i:05d}.dcm")


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all its processes) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t0


def parallel_capacity(workers: int = 2, n: int = 20_000_000) -> dict:
    """How much faster ``workers`` processes burn CPU than one: what parallelism the machine really gives.

    On a VM whose virtual cores share physical ones (or with busy neighbours)
    this is well below ``workers``, and no engine can beat that bound.
    """
    from concurrent.futures import ProcessPoolExecutor

    one = _burn(n)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_burn, [n // 10] * workers))  # start the workers first
        t0 = time.perf_counter()
        list(pool.map(_burn, [n] * workers))
        together = time.perf_counter() - t0
    return {"workers": workers, "one_process_s": round(one, 3), "all_at_once_s": round(together, 3),
            "speedup": round(workers * one / together, 2)}


def read_ratio(files: list[Path], repeats: int) -> dict:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    import fastct.io

    def plain():
        for f in files:
            ds = pydicom.dcmread(f)
            apply_modality_lut(ds.pixel_array, ds)

    def ours():
        for f in files:
            fastct.io.read(f)

    plain(), ours()  # imports and first-touch out of the way
    times = {"pydicom": [], "fastct.io.read": []}
    for _ in range(repeats):
        for name, fn in (("pydicom", plain), ("fastct.io.read", ours)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"files_per_second": {k: round(len(files) / v, 1) for k, v in med.items()},
            "ratio": round(med["pydicom"] / med["fastct.io.read"], 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="dcm,npy")
    parser.add_argument("--workers", default="1,2", help="worker-process counts to measure")
    parser.add_argument("--threads", action="store_true", help="also measure the threads executor")
    parser.add_argument("--out", default=None, help="results file (default: benchmarks/results/<machine>-...json)")
    args = parser.parse_args(argv)

    py = sys.executable
    capacity = parallel_capacity()
    print(f"parallel capacity: {capacity['workers']} processes burn CPU x{capacity['speedup']:.2f} as fast as one")
    tmp = Path(tempfile.mkdtemp(prefix="fastct-throughput-"))
    try:
        src = tmp / "in"
        make_files(src, args.files)
        subprocess.run([py, "-m", "fastct.cli", "warmup", "--dtypes", "int16"], check=True, stdout=subprocess.DEVNULL)
        plain_script = tmp / "plain_loop.py"
        plain_script.write_text(PLAIN_LOOP)
        variants = [(f"fastct --workers {w} (processes)", ["--executor", "processes", "--workers", str(w)])
                    for w in (int(x) for x in args.workers.split(","))]
        if args.threads:
            variants.append(("fastct --executor threads", ["--executor", "threads"]))
        rows = []
        for fmt in args.formats.split(","):
            times: dict[str, list[float]] = {"plain loop": []}
            cpu: dict[str, list[float]] = {"plain loop": []}
            loads, capacities = [], []
            for _ in range(args.repeats):
                out = tmp / "out"
                loads.append(os.getloadavg()[0])
                capacities.append(parallel_capacity(n=5_000_000)["speedup"])
                shutil.rmtree(out, ignore_errors=True)
                wall, used = timed([py, str(plain_script), str(src), str(out), fmt])
                times["plain loop"].append(wall)
                cpu["plain loop"].append(used)
                for label, extra in variants:
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = [py, "-m", "fastct.cli", "process", str(src), "-o", str(out), "--format", fmt,
                           "--backend", "cpu", "-q", "--per-file", *extra]
                    wall, used = timed(cmd)
                    times.setdefault(label, []).append(wall)
                    cpu.setdefault(label, []).append(used)
            plain = statistics.median(times["plain loop"])
            plain_cpu = statistics.median(cpu["plain loop"])
            for label, values in times.items():
                med = statistics.median(values)
                med_cpu = statistics.median(cpu[label])
                rows.append({"format": fmt, "runner": label, "files": args.files, "seconds": round(med, 3),
                             "all_seconds": [round(v, 3) for v in values],
                             "cpu_seconds": round(med_cpu, 3),
                             "files_per_second": round(args.files / med, 1),
                             "speedup_vs_plain_loop": round(plain / med, 3),
                             "cpu_ratio_vs_plain_loop": round(plain_cpu / med_cpu, 3),
                             "load_average_1min_before_runs": [round(x, 2) for x in loads],
                             "parallel_capacity_before_runs": capacities})
                print(f"{fmt:4} {label:34} {med:7.2f} s  {args.files / med:7.1f} files/s  x{plain / med:.2f}"
                      f"   cpu {med_cpu:6.2f} s (plain/this x{plain_cpu / med_cpu:.2f})")
        read = read_ratio(sorted(src.iterdir()), args.repeats)
        print(f"fastct.io.read vs pydicom read+pixel_array+modality LUT: x{read['ratio']:.2f} "
              f"({read['files_per_second']})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "benchmark": "process_throughput",
        "what": "wall time of whole commands (start-up included), warm kernel cache, default steps, "
                "512x512 int16 DICOM in; medians",
        "machine": machine_info("pydicom"),
        "environment": {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS") if os.environ.get(k)},
        "parallel_capacity": capacity,
        "results": rows,
        "read": read,
    }
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / (
        f"{machine_name()}-process_throughput-{args.files}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
