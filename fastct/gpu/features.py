"""GPU twin of ``fastct.cpu.features`` (feature kernels pending; see :mod:`fastct.gpu`).

The feature kernels are not part of this version: ``features`` raises
:class:`~fastct.errors.NotImplementedOnBackend`. The hooks the SVM stage of
:mod:`fastct.ml` needs on the GPU are here: the CuPy namespace (fastct's own
linear SVM runs on it) and cuML's ``SVC`` when cuML is importable. Both import
lazily: importing this module does no CUDA work.
"""

from __future__ import annotations

from ._pending import pending

#: False while ``features`` has no GPU kernel: ``backend="auto"`` then computes features on the CPU.
READY = False

features = pending("features", "features")


def array_module():
    """The array namespace of this backend (CuPy)."""
    import cupy

    return cupy


def cuml_svc():
    """``cuml.svm.SVC`` when cuML imports here, else None (fastct's own linear SVM is used then)."""
    try:
        from cuml.svm import SVC
    except Exception:  # noqa: BLE001 - cuML is optional; any import failure means "not here"
        return None
    return SVC
