"""NumPy files: NPY (one array) and NPZ (an archive of arrays), in; NPY out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ._files import atomic_path
from ._values import as_batch3, native, rgb_to_gray
from .meta import ImageMeta

__all__ = ["read_npy", "read_npz", "write_npy"]


def _to_batch(arr: np.ndarray, path: Path, fmt: str) -> tuple[np.ndarray, ImageMeta]:
    if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
        raise FileFormatError(f"{path}: array of dtype {arr.dtype} holds no pixel values")
    photometric = "MONOCHROME2"
    if arr.ndim == 4 and arr.shape[-1] in (3, 4):
        arr = rgb_to_gray(native(arr[..., :3]))
        photometric = "RGB"
    if arr.ndim not in (2, 3):
        raise FileFormatError(
            f"{path}: array of shape {arr.shape}; expected (H, W), (N, H, W) or (N, H, W, 3|4) colour"
        )
    squeeze = arr.ndim == 2
    batch, _ = as_batch3(native(arr))
    meta = ImageMeta(path=path, format=fmt, shape=batch.shape, dtype=batch.dtype, squeeze=squeeze,
                     photometric=photometric)
    return batch, meta


def read_npy(path) -> tuple[np.ndarray, ImageMeta]:
    """Read an ``.npy`` array of shape (H, W), (N, H, W) or (N, H, W, 3|4) as a batch.

    Pickled object arrays are refused (never unpickled).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_npy(pathlib.Path(tempfile.mkdtemp()) / "a.npy", np.zeros((2, 3, 4), np.int16))
    >>> read_npy(p)[0].shape
    (2, 3, 4)
    """
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable NPY file: {type(exc).__name__}: {exc}") from exc
    return _to_batch(arr, path, "npy")


def read_npz(path, key: str | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read one array of an ``.npz`` archive as a batch.

    Parameters
    ----------
    key : str, optional
        The array's name. Default: the only array, else ``"image"``,
        ``"data"`` or ``"arr_0"`` when present; otherwise an error lists the names.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(p, image=np.zeros((3, 4), np.uint8))
    >>> read_npz(p)[0].shape
    (1, 3, 4)
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None:
                if len(names) == 1:
                    key = names[0]
                else:
                    key = next((k for k in ("image", "data", "arr_0") if k in names), None)
                    if key is None:
                        raise FileFormatError(f"{path}: holds arrays {names}; pass key= to choose one")
            if key not in names:
                raise InvalidArgumentError(f"key: {key!r} is not in {path} (arrays: {names})")
            arr = archive[key]
    except (FileFormatError, InvalidArgumentError):
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable NPZ file: {type(exc).__name__}: {exc}") from exc
    batch, meta = _to_batch(arr, path, "npz")
    meta.extra["key"] = key
    return batch, meta


def write_npy(path, batch, meta: ImageMeta | None = None, *, overwrite: bool = False) -> Path:
    """Write a batch as ``.npy`` (atomically), as 2-D when ``meta.squeeze`` says the source was one image.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_npy(pathlib.Path(tempfile.mkdtemp()) / "a.npy", np.ones((1, 2, 2), np.float32))
    >>> np.load(p).shape
    (1, 2, 2)
    """
    path = Path(path)
    a = np.asarray(batch)
    if meta is not None and meta.squeeze and a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(a), allow_pickle=False)
    return path
