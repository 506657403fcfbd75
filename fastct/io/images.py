"""Ordinary image files: PNG, JPEG, BMP (Pillow) and TIFF (tifffile), in and out.

8- and 16-bit greyscale stay as they are (uint8, uint16); 32-bit integer and
float TIFFs keep their values (narrowed to int16/uint16 when they fit);
colour (RGB, RGBA, palette, CMYK) is converted to grey with
:func:`fastct.to_gray`. Multi-page TIFFs and animated images become batches.
Pillow and tifffile are optional: ``pip install 'fastct-engine[io]'``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ._files import atomic_path, require
from ._values import as_batch3, native, rgb_to_gray
from .meta import ImageMeta

__all__ = ["read_image", "read_tiff", "write_tiff"]


def _pil_frame(frame, path: Path) -> tuple[np.ndarray, str]:
    mode = frame.mode
    if mode in ("1", "L", "I;16", "I;16B", "I;16L", "I;16N", "I", "F", "I;16S", "I;32"):
        arr = np.asarray(frame)
        if mode == "1":
            arr = arr.astype(np.uint8) * 255
        return native(arr), "MONOCHROME2"
    if mode in ("LA", "La"):
        return np.asarray(frame.convert("L")), "MONOCHROME2"
    if mode in ("P", "PA"):
        return rgb_to_gray(np.asarray(frame.convert("RGB"))), "PALETTE COLOR"
    if mode in ("RGB", "RGBA", "RGBa", "RGBX"):
        return rgb_to_gray(np.asarray(frame)[..., :3]), "RGB"
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return rgb_to_gray(np.asarray(frame.convert("RGB"))), mode
    raise FileFormatError(f"{path}: image mode {mode!r} is not supported")


def read_image(path, fmt: str | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read a PNG, JPEG, BMP or TIFF file as an ``(N, H, W)`` batch.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt : str, optional
        ``"png"``, ``"jpeg"``, ``"bmp"`` or ``"tiff"``; detected from the
        content when omitted.

    Returns
    -------
    batch : ndarray, shape (N, H, W)
        uint8, uint16 (16-bit files), or the TIFF's own dtype; grey.
    meta : ImageMeta

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from fastct.io.png import write_png
    >>> p = write_png(pathlib.Path(tempfile.mkdtemp()) / "a.png", np.arange(12, dtype=np.uint16).reshape(3, 4))
    >>> batch, meta = read_image(p)
    >>> batch.shape, batch.dtype, meta.squeeze
    ((1, 3, 4), dtype('uint16'), True)
    """
    path = Path(path)
    if fmt is None:
        from .detect import detect_format

        fmt = detect_format(path)
    if fmt == "tiff":
        return read_tiff(path)
    Image = _pil(fmt)
    try:
        with Image.open(path) as im:
            frames, photometric = [], "MONOCHROME2"
            n = getattr(im, "n_frames", 1)
            for i in range(n):
                im.seek(i)
                arr, photometric = _pil_frame(im, path)
                frames.append(arr)
            dpi = im.info.get("dpi")
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable {fmt.upper()} file: {type(exc).__name__}: {exc}") from exc
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise FileFormatError(f"{path}: frames of different sizes {sorted(shapes)}")
    dtypes = {f.dtype for f in frames}
    dtype = dtypes.pop() if len(dtypes) == 1 else np.float32
    batch = np.ascontiguousarray(np.stack([f.astype(dtype, copy=False) for f in frames]))
    spacing = None
    if dpi and dpi[0] and dpi[1]:
        spacing = (1.0, 25.4 / float(dpi[1]), 25.4 / float(dpi[0]))
    meta = ImageMeta(path=path, format=fmt, shape=batch.shape, dtype=batch.dtype, squeeze=len(frames) == 1,
                     spacing=spacing, photometric=photometric)
    return batch, meta


def _pil(fmt: str):
    require("PIL", f"reading {fmt.upper()} files")
    from PIL import Image

    return Image


def read_tiff(path) -> tuple[np.ndarray, ImageMeta]:
    """Read a (multi-page) TIFF as an ``(N, H, W)`` batch with tifffile.

    Pixel spacing written by :func:`write_tiff` (JSON in the description)
    comes back in ``meta.spacing``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_tiff(pathlib.Path(tempfile.mkdtemp()) / "a.tif", np.ones((2, 3, 4), np.float32))
    >>> read_tiff(p)[0].shape
    (2, 3, 4)
    """
    tifffile = require("tifffile", "reading TIFF files")
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            arr = series.asarray()
            axes = str(series.axes)
            page = tif.pages[0]
            photometric = getattr(page.photometric, "name", str(page.photometric))
            samples = int(getattr(page, "samplesperpixel", 1))
            described = tif.shaped_metadata[0] if tif.shaped_metadata else {}
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable TIFF file: {type(exc).__name__}: {exc}") from exc
    if photometric == "PALETTE":
        raise FileFormatError(f"{path}: palette TIFFs are not supported; save as greyscale or RGB")
    if samples > 1 and "S" in axes and len(axes) == arr.ndim:
        # Planar configuration "separate" puts the samples before rows and
        # columns (axes "SYX", "ZSYX" ...): move them last, where the
        # contiguous layout has them, so colour is never read as slices.
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if samples > 1 and arr.shape[-1] == samples:
        arr = rgb_to_gray(native(arr[..., :3])) if samples >= 3 else native(arr[..., 0])
        photometric = "RGB" if samples >= 3 else "MONOCHROME2"
    else:
        photometric = "MONOCHROME1" if photometric == "MINISWHITE" else "MONOCHROME2"
    arr = native(arr)
    squeeze = arr.ndim == 2
    if arr.ndim > 3:
        arr = arr.reshape((-1,) + arr.shape[-2:])
    batch, _ = as_batch3(arr)
    spacing = described.get("spacing") if isinstance(described, dict) else None
    spacing = tuple(float(s) for s in spacing) if spacing and len(spacing) == 3 else None
    meta = ImageMeta(path=path, format="tiff", shape=batch.shape, dtype=batch.dtype, squeeze=squeeze,
                     spacing=spacing, photometric=photometric)
    return batch, meta


def write_tiff(path, batch, meta: ImageMeta | None = None, *, overwrite: bool = False,
               compression: str | None = "zlib") -> Path:
    """Write a batch as a (multi-page) greyscale TIFF, keeping its dtype, atomically.

    Parameters
    ----------
    path : str or Path
    batch : ndarray, shape (H, W) or (N, H, W)
        float32 (float64 written as float32), uint8, uint16, int16, int32 ...
    meta : ImageMeta, optional
        Its ``spacing`` is stored (JSON description) and read back by :func:`read_tiff`.
    overwrite : bool
    compression : str or None
        tifffile compression (``"zlib"`` lossless by default, None for raw).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_tiff(pathlib.Path(tempfile.mkdtemp()) / "a.tif", np.zeros((4, 4), np.int16))
    >>> read_tiff(p)[1].squeeze
    True
    """
    tifffile = require("tifffile", "writing TIFF files")
    path = Path(path)
    a = np.asarray(batch)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    if a.dtype.kind not in "iuf" or a.ndim not in (2, 3):
        raise InvalidArgumentError(f"batch: expected (H, W) or (N, H, W) numbers, got shape {a.shape} dtype {a.dtype}")
    metadata = {}
    if meta is not None and meta.spacing is not None:
        metadata["spacing"] = [float(s) for s in meta.spacing]
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(a), photometric="minisblack", compression=compression,
                         metadata=metadata)
    return path
