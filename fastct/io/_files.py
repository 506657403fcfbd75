"""Atomic, non-clobbering file writes and optional-dependency imports.

Every writer in :mod:`fastct.io` writes through :func:`atomic_path`: the data
goes to a hidden temporary file beside the destination
(``.NAME.XXXXXXXX.part``), which is renamed into place only once it is
complete. A reader never sees half a file, an interrupted run leaves no
partial output, and (unless ``overwrite=True``) an existing file is never
replaced: the final step is a hard link, which fails if the name exists.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import secrets
import threading
from pathlib import Path

from ..errors import MissingDependencyError, OutputExistsError, install_hint

__all__ = ["TEMP_SUFFIX", "atomic_path", "cleanup_temporaries", "require", "write_bytes_atomic"]

#: Marker in the names of temporary files (they also start with a dot).
TEMP_SUFFIX = ".part"

_live_lock = threading.Lock()
_live: set[str] = set()


def _register(path: str) -> None:
    with _live_lock:
        _live.add(path)


def _unregister(path: str) -> None:
    with _live_lock:
        _live.discard(path)


def cleanup_temporaries() -> int:
    """Remove temporary files of writes still in progress in this process.

    Called after an interrupted run, once the writer threads have stopped.
    Returns how many files were removed.
    """
    with _live_lock:
        paths = list(_live)
        _live.clear()
    removed = 0
    for p in paths:
        try:
            os.unlink(p)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def is_temporary(name: str) -> bool:
    """True for the names of fastct's temporary files."""
    return name.startswith(".") and TEMP_SUFFIX in name


def _commit(tmp: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails with EEXIST if the name exists: never clobbers
    except FileExistsError:
        raise OutputExistsError(
            f"{path}: output exists already (pass overwrite=True / --overwrite to replace it)"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # A file system without hard links: check, then rename (a small race remains).
        if os.path.lexists(path):
            raise OutputExistsError(
                f"{path}: output exists already (pass overwrite=True / --overwrite to replace it)"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False, suffix: str = ""):
    """Context manager yielding a temporary path to write; renamed to ``path`` on success.

    Parameters
    ----------
    path : str or Path
        Final destination. Its folder must exist.
    overwrite : bool
        Replace an existing file. When False an existing ``path`` raises
        :class:`~fastct.errors.OutputExistsError` and is left untouched.
    suffix : str
        Extension the temporary name ends with, for libraries that choose
        the format from the name (``".nii.gz"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> dest = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(dest) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> dest.read_text()
    'hello'
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path}: output exists already (pass overwrite=True / --overwrite to replace it)")
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}{suffix}")
    _register(tmp)
    try:
        yield Path(tmp)
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"{path}: the writer produced no file")
        _commit(tmp, path, overwrite)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _unregister(tmp)


def write_bytes_atomic(path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_bytes_atomic(pathlib.Path(tempfile.mkdtemp()) / "b.bin", b"xyz")
    >>> p.read_bytes()
    b'xyz'
    """
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
    return path


#: import name -> (pip package, fastct extra)
OPTIONAL = {
    "nibabel": ("nibabel", "io"),
    "PIL": ("Pillow", "io"),
    "tifffile": ("tifffile", "io"),
    "tqdm": ("tqdm", "io"),
}


def require(module: str, purpose: str):
    """Import an optional package or raise a clear :class:`MissingDependencyError`.

    Examples
    --------
    >>> require("numpy", "arrays").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, extra = OPTIONAL.get(module, (module, None))
        hint = f"{install_hint(extra)} (or pip install {package})" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"{purpose} needs the optional package {package!r}, which is not installed: {hint}",
            package=package,
            extra=extra,
        ) from exc
