"""Which format a file holds, decided by its content (magic bytes), not its name.

The extension is only a tie-breaker (``.npz`` vs any zip file, DICOM files
written without the 128-byte preamble and ``DICM`` marker).
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from pathlib import Path

from ..errors import (
    FileFormatError,
    NotAnImageError,
)

__all__ = ["EXTENSIONS", "FORMATS", "NotAnImageError", "detect_format", "image_like_name", "sniff"]


#: format name -> the extensions fastct writes it with (first is the default)
FORMATS = {
    "dicom": (".dcm", ".dicom", ".ima"),
    "nifti": (".nii", ".nii.gz"),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg", ".jpe"),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp", ".dib"),
    "npy": (".npy",),
    "npz": (".npz",),
}

#: every extension fastct knows, lower case
EXTENSIONS = {ext: fmt for fmt, exts in FORMATS.items() for ext in exts}

_HEAD = 352  # enough for every magic number below (NIfTI-1 magic ends at 348)


def _ext(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def image_like_name(path) -> bool:
    """True when the name says "image": a known extension, or none (DICOM files often have none).

    Examples
    --------
    >>> image_like_name("a/b/IM000001"), image_like_name("x.PNG"), image_like_name("notes.txt")
    (True, True, False)
    """
    path = Path(path)
    ext = _ext(path)
    return ext in EXTENSIONS or ext == "" or _numeric_suffix(path)


def _numeric_suffix(path: Path) -> bool:
    # DICOM files named by UID: 1.2.840.113619.2.55.3.604.1 -> suffix ".1"
    return path.suffix[1:].isdigit()


def _nifti_magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return struct.unpack("<i", head[:4])[0] == 348 or struct.unpack(">i", head[:4])[0] == 348
    if len(head) >= 12 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return struct.unpack("<i", head[:4])[0] == 540 or struct.unpack(">i", head[:4])[0] == 540
    return False


def _analyze_header(path: Path, head: bytes) -> bool:
    """An Analyze 7.5 header (``.hdr``; its voxels are in the ``.img`` beside it)."""
    if _ext(path) != ".hdr" or len(head) < 348:
        return False
    return struct.unpack("<i", head[:4])[0] == 348 or struct.unpack(">i", head[:4])[0] == 348


def pair_header(path) -> Path | None:
    """The ``.hdr`` of a header/image pair when ``path`` is its ``.img`` data file, else None."""
    path = Path(path)
    if path.suffix.lower() != ".img":
        return None
    for suffix in (".hdr", ".HDR"):
        hdr = path.with_suffix(suffix)
        if hdr.is_file():
            with open(hdr, "rb") as fh:
                head = fh.read(_HEAD)
            if len(head) >= 348 and (_nifti_magic(head) or _analyze_header(hdr, head)):
                return hdr
    return None


def _looks_like_raw_dicom(path: Path) -> bool:
    """A DICOM data set without preamble/meta: parse a few elements and check them."""
    import pydicom
    from pydicom.datadict import dictionary_has_tag

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True, defer_size=256)
            tags = [elem.tag for elem in ds]
    except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
        return False
    known = sum(1 for t in tags if dictionary_has_tag(t))
    return known >= 3 and known >= len(tags) // 2


def sniff(path) -> str | None:
    """The format a file holds, from its first bytes; None when unrecognised.

    Parameters
    ----------
    path : str or Path
        A file.

    Returns
    -------
    str or None
        One of :data:`FORMATS`' keys.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> sniff(get_testdata_file("CT_small.dcm"))
    'dicom'
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        return None
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"BM") and len(head) >= 26 and struct.unpack("<I", head[2:6])[0] in (0, os.path.getsize(path)):
        return "bmp"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz" if _ext(path) == ".npz" else None
    if _nifti_magic(head) or _analyze_header(path, head):
        return "nifti"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as fh:
                inner = fh.read(_HEAD)
        except (OSError, EOFError):
            return None
        return "nifti" if _nifti_magic(inner) else None
    ext = _ext(path)
    if (ext in FORMATS["dicom"] or ext == "" or _numeric_suffix(path)) and _looks_like_raw_dicom(path):
        return "dicom"
    return None


def detect_format(path) -> str:
    """Like :func:`sniff`, but raise a clear error for a file that is no image.

    An empty file (or a folder, or a missing one) raises
    :class:`~fastct.errors.FileFormatError` (a failure). Content without any
    image signature raises :class:`NotAnImageError` (a
    :class:`~fastct.errors.NoPixelDataError`: skipped by batch runs),
    whatever the file is called; the message says when the name promised
    an image.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "notes.dcm"
    >>> _ = p.write_text("not an image")
    >>> detect_format(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastct.errors.NotAnImageError: ...notes.dcm: not an image file: no DICOM 'DICM' marker ...
    """
    path = Path(path)
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, not a file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    if size == 0:
        raise FileFormatError(f"{path}: empty file (0 bytes)")
    fmt = sniff(path)
    if fmt is not None:
        return fmt
    with open(path, "rb") as fh:
        if fh.read(6) in (b"GIF87a", b"GIF89a"):
            raise FileFormatError(f"{path}: GIF images are not supported (lossy palette format); convert to PNG")
    hdr = pair_header(path)
    if hdr is not None:
        raise NotAnImageError(f"{path}: the voxel data of the header/image pair {hdr.name}; read {hdr.name} instead")
    with open(path, "rb") as fh:
        start = fh.read(16)
    ext = _ext(path)
    said = EXTENSIONS.get(ext)
    named = f"; its name says {said.upper()} but the content does not match" if said else ""
    # Whatever the name (README, notes.txt, a file without extension, a text
    # file called x.png): content with no image signature is not an image and
    # is skipped. Damaged images that keep their signature fail when read.
    raise NotAnImageError(
        f"{path}: not an image file: no DICOM 'DICM' marker at byte 128, no DICOM data elements at the start "
        f"and no image signature (starts with {start!r}){named}; "
        "readable: DICOM, NIfTI, PNG, JPEG, TIFF, BMP, NPY, NPZ"
    )
