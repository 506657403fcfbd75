"""Start-up time and peak memory, each measured in a fresh Python process.

Numba allocates through its own runtime (NRT), which ``tracemalloc`` does
not see, so memory is the process's peak resident set size
(``resource.getrusage().ru_maxrss``, which on Linux is the kernel's
high-water mark ``VmHWM``). On Linux the mark is reset before each measured
call (``/proc/self/clear_refs``) and read from ``/proc/self/status``, which
makes it exact: the peak during the call minus the resident size just
before it. (``ru_maxrss`` itself is not reread there: it also keeps the
peak of exited threads, which the reset does not clear.) Elsewhere the
increase of ``ru_maxrss`` is reported, a lower bound when an earlier peak
(compilation, imports) was higher.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

_STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import fastct
t1 = time.perf_counter()
import numpy as np
from fastct.datasets import chest_phantom
batch = chest_phantom({n}, {size}, seed=0)
t2 = time.perf_counter()
fastct.process(batch, backend="cpu")
t3 = time.perf_counter()
fastct.process(batch, backend="cpu")
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_call_s": t3 - t2, "second_call_s": t4 - t3}}))
"""

_MEMORY_SCRIPT = r"""
import gc, json, resource, sys
import numpy as np
import fastct
from fastct.bench.data import ct_batch
from fastct.bench.registry import fastct_call

SCALE = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS

def rss_now():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

def peak():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * SCALE

batch = ct_batch(({n}, {size}, {size}), "int16")
names = {names!r}
calls = {{name: (lambda x, name=name: fastct_call(name, x, "cpu")()) for name in names}}  # the timed calls
for name in names:  # load (or compile) every kernel first, on one slice
    calls[name](batch[:1])
out = {{}}
for name in names:
    gc.collect()
    exact = reset_peak()
    before_rss, before_peak = rss_now(), peak()
    result = calls[name](batch)
    after_peak = peak()
    base = before_rss if exact and before_rss is not None else before_peak
    out[name] = {{"increase_bytes": max(0, after_peak - base), "output_bytes": int(result.nbytes),
                 "exact": bool(exact)}}
    del result
print(json.dumps(out))
"""


def _run_python(code: str, timeout: float, env_extra: dict | None = None) -> dict:
    env = dict(os.environ, **(env_extra or {}))
    # the child must import this same fastct, installed or not
    env["PYTHONPATH"] = _PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"subprocess failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_startup(shape=(1, 512, 512), runs: int = 3, timeout: float = 600.0) -> dict:
    """``import fastct`` and first-call times, each run in a fresh process, with a warm numba cache.

    One unreported run first fills the kernel cache; then ``runs`` fresh
    processes each time ``import fastct`` and the default pipeline's first
    and second call on ``shape`` (int16, CPU backend).

    Parameters
    ----------
    shape : (int, int, int)
        Batch of the first call; slices are square (``shape[1]`` is used).
    runs : int
        Fresh processes measured; medians are reported.
    timeout : float
        Seconds allowed per process.

    Returns
    -------
    dict
        ``import_s``, ``first_call_s``, ``second_call_s`` (medians), ``runs``
        (every measurement) and the targets.

    Examples
    --------
    >>> r = measure_startup((1, 32, 32), runs=1)
    >>> r["import_s"] > 0 and r["first_call_s"] > 0
    True
    """
    code = _STARTUP_SCRIPT.format(n=int(shape[0]), size=int(shape[1]))
    _run_python(code, timeout)  # fills the cache; not reported
    samples = [_run_python(code, timeout) for _ in range(max(1, runs))]
    out = {key: statistics.median(s[key] for s in samples) for key in ("import_s", "first_call_s", "second_call_s")}
    out.update(shape=list(shape), runs=samples, target_import_s=0.3, target_first_call_s=1.0,
               note="fresh process each; numba cache filled by an earlier run")
    return out


def measure_memory(shape=(64, 512, 512), groups=None, timeout: float = 600.0) -> dict:
    """Peak resident-memory increase while fastct (CPU) processes one batch, per op.

    Parameters
    ----------
    shape : (int, int, int)
        int16 batch; slices are square (``shape[1]`` is used).
    groups : sequence of str, optional
        Ops and/or ``"pipeline"`` (default: all).
    timeout : float
        Seconds allowed for the process.

    Returns
    -------
    dict
        Per group: ``increase_bytes`` (peak RSS during the call minus RSS
        before it), ``output_bytes``, ``ratio`` (increase / output) and
        ``extra_bytes`` (increase beyond the output), plus ``exact``.

    Examples
    --------
    >>> m = measure_memory((2, 32, 32), ["erode"])
    >>> m["groups"]["erode"]["output_bytes"]
    4096
    """
    from .registry import GROUPS

    names = [g for g in (groups or GROUPS) if g in GROUPS]
    names.sort(key=lambda g: g != "pipeline")  # the pipeline first, as the headline
    # A fixed mmap threshold stops glibc from keeping freed large blocks in its heap, where the next
    # op would reuse them unseen; every large allocation is then counted where it happens.
    raw = _run_python(_MEMORY_SCRIPT.format(n=int(shape[0]), size=int(shape[1]), names=names), timeout,
                      {"MALLOC_MMAP_THRESHOLD_": "1048576"})
    for rec in raw.values():
        rec["extra_bytes"] = rec["increase_bytes"] - rec["output_bytes"]
        rec["ratio"] = rec["increase_bytes"] / rec["output_bytes"] if rec["output_bytes"] else None
    return {"shape": list(shape), "dtype": "int16", "backend": "cpu", "groups": raw,
            "method": "peak RSS (VmHWM, reset before the call; ru_maxrss where /proc is missing) during the call "
                      "minus RSS before it, fresh process, "
                      "MALLOC_MMAP_THRESHOLD_=1048576"}
