"""Optional dependencies of the classification stage, with errors that say what to install."""

from __future__ import annotations

import importlib

from ..errors import install_hint

INSTALL_HINT = install_hint("ml")


def require_sklearn(what: str):
    """Import scikit-learn or raise an ImportError naming it and how to install it."""
    try:
        return importlib.import_module("sklearn")
    except ImportError as exc:
        raise ImportError(
            f"{what} needs scikit-learn, which is not installed here; install it with {INSTALL_HINT} "
            f"(or pip install scikit-learn joblib)"
        ) from exc


def require_joblib(what: str):
    """Import joblib or raise an ImportError naming it."""
    try:
        return importlib.import_module("joblib")
    except ImportError as exc:
        raise ImportError(f"{what} needs joblib, which is not installed here; install it with {INSTALL_HINT}") from exc
