"""What every benchmark result records about where it ran."""

from __future__ import annotations

import os
import platform
from importlib import import_module

import numpy as np

import fastct


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_name() -> str:
    """A stable, host-independent name for result files: ``<arch>-<N>cpu``."""
    return f"{platform.machine()}-{cpu_count()}cpu"


def machine_info(*packages: str) -> dict:
    """Machine, load, thread counts and versions of fastct, numpy, numba and ``packages``."""
    import numba

    versions = {"fastct": fastct.__version__, "python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    for name in packages:
        try:
            versions[name] = import_module(name).__version__
        except Exception:  # noqa: BLE001 - record what is missing instead of failing
            versions[name] = "not installed"
    info = {
        "machine": machine_name(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }
    if "cv2" in packages:
        import cv2

        info["opencv_threads"] = cv2.getNumThreads()
    return info
