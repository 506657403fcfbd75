"""What every benchmark result records about where it ran."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import import_module
from pathlib import Path

import numpy as np

import fastct


def cpu_count() -> int:
    """CPUs this process may use.

    Examples
    --------
    >>> cpu_count() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_name(gpu: str | None = None) -> str:
    """A stable, host-independent name for result files: ``<arch>-<N>cpu[-<gpu>]``.

    Parameters
    ----------
    gpu : str, optional
        Device name to append (lower case, runs of other characters as ``-``).

    Examples
    --------
    >>> machine_name().endswith("cpu")
    True
    >>> machine_name("NVIDIA H100 80GB").split("cpu-")[1]
    'nvidia-h100-80gb'
    """
    name = f"{platform.machine()}-{cpu_count()}cpu"
    if gpu:
        name += "-" + re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return name


def package_version(name: str) -> str:
    """``name.__version__``, or ``"not installed"`` when it cannot be imported.

    Examples
    --------
    >>> package_version("numpy") == np.__version__
    True
    >>> package_version("no_such_package_here")
    'not installed'
    """
    try:
        return str(getattr(import_module(name), "__version__", "?"))
    except Exception:  # noqa: BLE001 - record what is missing instead of failing
        return "not installed"


def _read_setting(path: str) -> str | None:
    """A kernel setting's text, the selected choice for ``[a] b c`` lists; None where unreadable."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    chosen = re.search(r"\[([^\]]+)\]", text)
    return chosen.group(1) if chosen else text


def memory_environment() -> dict:
    """How this (Linux) machine hands out fresh memory, which every allocating call pays for.

    ``transparent_hugepages`` and ``thp_defrag``: the kernel's huge-page
    policy. ``free_page_reporting_order``: set when a virtual machine reports
    freed memory to its host (virtio-balloon free page reporting), which then
    reclaims it; touching such memory again costs a host fault, so timings of
    calls that allocate their results vary from run to run. None where a
    setting is absent (other systems, bare metal).

    Examples
    --------
    >>> sorted(memory_environment())
    ['free_page_reporting_order', 'thp_defrag', 'transparent_hugepages']
    """
    reporting = None
    balloon = Path("/sys/bus/virtio/drivers/virtio_balloon")
    if balloon.is_dir() and any(p.name.startswith("virtio") for p in balloon.iterdir()):  # a bound device
        order = _read_setting("/sys/module/page_reporting/parameters/page_reporting_order")
        # an order above the largest buddy order (10 on x86-64) reports nothing
        if order is not None and order.isdigit() and int(order) <= 10:
            reporting = int(order)
    return {
        "transparent_hugepages": _read_setting("/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_defrag": _read_setting("/sys/kernel/mm/transparent_hugepage/defrag"),
        "free_page_reporting_order": reporting,
    }


def machine_info(*packages: str) -> dict:
    """Machine, load, thread counts and versions of fastct, numpy, numba and ``packages``.

    Examples
    --------
    >>> info = machine_info("scipy")
    >>> sorted(info["versions"])[:3], info["cpus"] >= 1
    (['fastct', 'numba', 'numpy'], True)
    """
    import numba

    versions = {"fastct": fastct.__version__, "python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    for name in packages:
        versions[name] = package_version(name)
    info = {
        "machine": machine_name(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }
    info["memory"] = memory_environment()
    if "cv2" in packages and versions["cv2"] != "not installed":
        import cv2

        info["opencv_threads"] = cv2.getNumThreads()
    return info


def source_state() -> dict:
    """Which fastct was measured: a git checkout (its commit and edited files) or an installed package.

    Results of a checkout with uncommitted changes under ``fastct/`` say so
    (``modified``), since they do not belong to the commit alone. No local
    path is recorded: result files are shared between machines.

    Examples
    --------
    >>> sorted(source_state())
    ['commit', 'kind', 'modified']
    """
    root = Path(fastct.__file__).resolve().parent.parent
    state = {"kind": "installed package", "commit": None, "modified": None}
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout

        if Path(git("rev-parse", "--show-toplevel").strip()).resolve() != root:
            return state  # a package installed inside some other repository's tree
        state["commit"] = git("rev-parse", "HEAD").strip()
        state["kind"] = "git checkout"
        changed = [line[3:] for line in git("status", "--porcelain", "--", "fastct").splitlines()]
        state["modified"] = sorted(p for p in changed if not p.startswith("fastct/bench/"))
    except (OSError, subprocess.SubprocessError):  # not a checkout, or no git: an installed package
        pass
    return state
