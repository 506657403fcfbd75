"""A small, dependency-free PNG writer (8- and 16-bit greyscale).

Writes are atomic: the file is written beside its destination under a
temporary name and renamed into place, so a reader never sees half a file.
(Reading PNG goes through Pillow: :func:`fastct.io.images.read_image`.)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ._files import write_bytes_atomic

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, data: bytes) -> bytes:
    body = tag + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a 2-D uint8 or uint16 greyscale image.

    Examples
    --------
    >>> encode_png(np.zeros((2, 3), np.uint8))[:8] == _SIGNATURE
    True
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise InvalidArgumentError(
            f"image: expected a 2-D uint8 or uint16 array, got shape {image.shape} dtype {image.dtype}"
        )
    h, w = image.shape
    depth = 8 if image.dtype == np.uint8 else 16
    header = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)  # greyscale, no interlace
    rows = image.astype(">u2") if depth == 16 else image
    raw = np.concatenate([np.zeros((h, 1), np.uint8), np.ascontiguousarray(rows).view(np.uint8).reshape(h, -1)], 1)
    data = zlib.compress(raw.tobytes(), 6)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def write_atomic(path, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    return write_bytes_atomic(path, data, overwrite=overwrite)


def write_png(path, image: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write a 2-D uint8/uint16 image as a greyscale PNG (atomically).

    Parameters
    ----------
    path : str or Path
        Destination file.
    image : ndarray, shape (H, W), uint8 or uint16
    overwrite : bool
        Replace an existing file (the default, for figures); the batch
        writers of :mod:`fastct.io` pass False.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> write_png(out, np.full((4, 4), 255, np.uint8)).stat().st_size > 0
    True
    """
    return write_bytes_atomic(path, encode_png(image), overwrite=overwrite)
