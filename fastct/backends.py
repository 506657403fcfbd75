"""The one place that decides which backend runs an operation.

``"cpu"`` is :mod:`fastct.cpu` (Numba), ``"gpu"`` is :mod:`fastct.gpu`
(CuPy), ``"auto"`` is the GPU when it is usable and ready, else the CPU.
Backends are imported on first use, never by ``import fastct``; the GPU is
probed once per process and the answer (with its reason) is cached.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field

from ._shared.arrays import is_cupy_array
from .errors import BackendUnavailable, InvalidArgumentError

BACKEND_NAMES = ("cpu", "gpu")
CHOICES = ("auto",) + BACKEND_NAMES


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend can run here, and why not when it cannot."""

    name: str
    available: bool
    reason: str | None = None
    info: dict = field(default_factory=dict)

    def __str__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"{self.name}: {state}"


@functools.lru_cache(maxsize=None)
def _probe(name: str) -> tuple[BackendStatus, BaseException | None]:
    """Import and probe a backend once; any Exception means unavailable."""
    try:
        module = importlib.import_module(f"fastct.{name}")
        info = module.runtime_info()
    except Exception as exc:  # noqa: BLE001 - the reason is reported, not hidden
        return BackendStatus(name, False, f"{type(exc).__name__}: {exc}"), exc
    if not getattr(module, "READY", True):
        info = dict(info, note="not yet verified on hardware: 'auto' does not pick it (FASTCT_GPU_READY=1 opts in)")
    return BackendStatus(name, True, None, info), None


def status(name: str) -> BackendStatus:
    """Probe result for ``"cpu"`` or ``"gpu"`` (cached after the first call)."""
    check_name(name)
    if name == "auto":
        name = resolve("auto")
    return _probe(name)[0]


def available_backends() -> dict[str, BackendStatus]:
    """Every backend with whether it is usable here and, if not, why.

    Examples
    --------
    >>> import fastct
    >>> fastct.available_backends()["cpu"].available
    True
    """
    return {name: _probe(name)[0] for name in BACKEND_NAMES}


def check_name(backend) -> str:
    """Validate a backend argument."""
    if backend not in CHOICES:
        raise InvalidArgumentError(f"backend: expected one of {', '.join(CHOICES)}, got {backend!r}")
    return backend


def _gpu_ready() -> bool:
    st, _ = _probe("gpu")
    return st.available and importlib.import_module("fastct.gpu").READY


def resolve(backend="auto", array=None) -> str:
    """The concrete backend name for a request and an input array.

    A CuPy input stays on the GPU under ``"auto"``; a NumPy input under
    ``"auto"`` goes to the GPU only when it is usable and ready.
    """
    check_name(backend)
    if backend != "auto":
        if backend == "cpu" and array is not None and is_cupy_array(array):
            raise InvalidArgumentError(
                "backend: 'cpu' cannot compute on a CuPy array; use backend='gpu' or pass cupy.asnumpy(image)"
            )
        return backend
    if array is not None and is_cupy_array(array):
        return "gpu"
    return "gpu" if _gpu_ready() else "cpu"


def get(backend="auto", array=None):
    """The backend module for a request, importing and probing it on first use.

    Raises :class:`~fastct.errors.BackendUnavailable` (with the original
    exception as its cause) when the backend cannot run here.
    """
    name = resolve(backend, array)
    st, cause = _probe(name)
    if not st.available:
        raise BackendUnavailable(f"backend {name!r} is unavailable: {st.reason}", cause)
    return importlib.import_module(f"fastct.{name}")


def reset_probe_cache() -> None:
    """Forget cached probe results (for tests and after installing CuPy)."""
    _probe.cache_clear()
