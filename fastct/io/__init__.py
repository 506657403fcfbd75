"""Readers and writers: DICOM (pydicom), NIfTI (nibabel), PNG/JPEG/TIFF/BMP
(Pillow, tifffile), NPY/NPZ.

:func:`read` picks the reader by the file's content (magic bytes, the DICOM
``DICM`` marker), not its name, and returns the pixel batch ``(N, H, W)``
plus an :class:`ImageMeta`. :func:`write` writes a batch in one of the
output formats ``npy``, ``png``, ``tiff``, ``nii``, ``dcm``. Every write is
atomic (temporary file, then rename) and refuses to replace an existing file
unless ``overwrite=True``.

DICOM files are grouped into volumes by :func:`group_dicom_series` (series,
frame of reference, orientation, size; spacing checked), and a group is read
with :func:`read_dicom_series`. Files that hold no image to process (text,
DICOM segmentations, RT dose, reports ...) raise :class:`NotAnImageError`, a
:class:`~fastct.errors.NoPixelDataError`, whatever they are called.

nibabel, Pillow and tifffile are optional (``pip install 'fastct-engine[io]'``); a
missing one raises :class:`~fastct.errors.MissingDependencyError` naming it.

Examples
--------
>>> import tempfile, pathlib, fastct.io
>>> from pydicom.data import get_testdata_file
>>> hu, meta = fastct.io.read(get_testdata_file("CT_small.dcm"))
>>> hu.shape, hu.dtype, meta.format
((1, 128, 128), dtype('int16'), 'dicom')
>>> out = fastct.io.write(pathlib.Path(tempfile.mkdtemp()) / "ct.nii.gz", hu, meta)
>>> fastct.io.read(out[0])[0].shape
(1, 128, 128)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ._files import atomic_path, cleanup_temporaries, write_bytes_atomic
from ._values import for_png
from .arrays import read_npy, read_npz, write_npy
from .detect import (
    EXTENSIONS,
    FORMATS,
    NotAnImageError,
    detect_format,
    image_like_name,
    sniff,
)
from .dicom import (
    not_an_image_reason,
    read_dicom,
    read_dicom_series,
    write_dicom,
    write_dicom_series,
)
from .images import read_image, read_tiff, write_tiff
from .meta import ImageMeta, IOWarning
from .nifti import read_nifti, write_nifti
from .png import encode_png, write_png
from .series import DicomSeries, group_dicom_series

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "OUTPUT_FORMATS",
    "DicomSeries",
    "IOWarning",
    "ImageMeta",
    "NotAnImageError",
    "atomic_path",
    "cleanup_temporaries",
    "detect_format",
    "encode_png",
    "group_dicom_series",
    "image_like_name",
    "is_complete",
    "not_an_image_reason",
    "output_format",
    "output_paths",
    "output_suffix",
    "read",
    "read_dicom",
    "read_dicom_series",
    "read_image",
    "read_nifti",
    "read_npy",
    "read_npz",
    "read_tiff",
    "sniff",
    "write",
    "write_bytes_atomic",
    "write_dicom",
    "write_dicom_series",
    "write_nifti",
    "write_npy",
    "write_png",
    "write_tiff",
]

#: formats :func:`write` writes, by their short names
OUTPUT_FORMATS = ("npy", "png", "tiff", "nii", "dcm")
_ALIASES = {"nifti": "nii", "dicom": "dcm", "tif": "tiff", "nii.gz": "nii"}
#: input format -> output format for ``format="same"``
_SAME = {"dicom": "dcm", "nifti": "nii", "png": "png", "jpeg": "png", "bmp": "png", "tiff": "tiff",
         "npy": "npy", "npz": "npy"}


def read(path, **options) -> tuple[np.ndarray, ImageMeta]:
    """Read any supported file (or a DICOM series folder) as an ``(N, H, W)`` batch.

    The reader is chosen by content: the DICOM preamble, PNG/JPEG/TIFF/BMP
    signatures, the NPY magic, the NIfTI header (also gzipped); the
    extension only settles ambiguous cases (``.npz`` archives, DICOM files
    without preamble).

    Parameters
    ----------
    path : str or Path
        A file, or a folder holding one DICOM series.
    **options
        Passed to the reader (``series_uid=`` or ``key=`` for a DICOM folder,
        ``key=`` for NPZ, ``images_only=False`` to read the pixel data of
        DICOM objects that are not images, such as RT dose).

    Returns
    -------
    batch : ndarray, shape (N, H, W)
        Physical units for DICOM and NIfTI (rescale applied: int16 when
        exact, float32 otherwise), grey for colour images.
    meta : ImageMeta
        Format, spacing, affine, rescale, source headers.

    Raises
    ------
    FileFormatError
        Empty, unrecognised, truncated or corrupt file (the message names
        it and says what was wrong); :class:`~fastct.errors.NoPixelDataError`
        for DICOM objects without an image, and its subclass
        :class:`NotAnImageError` for files that are no image to process.
    MissingDependencyError
        An optional reader (nibabel, Pillow, tifffile, a DICOM decoder) is
        not installed; the message names the package.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> batch, meta = read(get_testdata_file("MR_small_bigendian.dcm"))
    >>> batch.dtype.isnative, meta.shape
    (True, (1, 64, 64))
    """
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path, **options)
    fmt = detect_format(path)
    if fmt == "dicom":
        return read_dicom(path, **options)
    if fmt == "nifti":
        return read_nifti(path, **options)
    if fmt == "npy":
        return read_npy(path, **options)
    if fmt == "npz":
        return read_npz(path, **options)
    return read_image(path, fmt, **options)


def output_format(fmt: str, source_format: str | None = None) -> str:
    """The output format for a ``--format`` choice and the input's format.

    Examples
    --------
    >>> output_format("same", "jpeg"), output_format("nifti"), output_format("same", "dicom")
    ('png', 'nii', 'dcm')
    """
    fmt = str(fmt).lower()
    fmt = _ALIASES.get(fmt, fmt)
    if fmt == "same":
        if source_format is None:
            raise InvalidArgumentError("format: 'same' needs the input's format")
        return _SAME[source_format]
    if fmt not in OUTPUT_FORMATS:
        raise InvalidArgumentError(f"format: expected one of same, {', '.join(OUTPUT_FORMATS)}; got {fmt!r}")
    return fmt


def output_suffix(fmt: str, source: Path | None = None) -> str:
    """File extension for output format ``fmt`` (``.nii.gz`` kept for gzipped NIfTI sources).

    Examples
    --------
    >>> output_suffix("nii", Path("a.nii.gz")), output_suffix("tiff"), output_suffix("dcm")
    ('.nii.gz', '.tif', '.dcm')
    """
    if fmt == "nii":
        return ".nii.gz" if source is not None and source.name.lower().endswith(".nii.gz") else ".nii"
    return {"npy": ".npy", "png": ".png", "tiff": ".tif", "dcm": ".dcm"}[output_format(fmt)]


def output_paths(path, fmt: str, n_slices: int) -> list[Path]:
    """Files :func:`write` produces for ``n_slices`` slices: one, except for
    PNG, which holds one slice per file (``name_000.png``, ``name_001.png`` ...).

    Examples
    --------
    >>> [p.name for p in output_paths("a/x.png", "png", 2)]
    ['x_0.png', 'x_1.png']
    """
    path = Path(path)
    if output_format(fmt) != "png" or n_slices <= 1:
        return [path]
    width = len(str(n_slices - 1))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(n_slices)]


def write(path, batch, meta: ImageMeta | None = None, format: str | None = None, *, overwrite: bool = False,
          description: str | None = None, png_bits: int | None = None) -> list[Path]:
    """Write a batch in format ``format`` (default: from the extension), atomically.

    Parameters
    ----------
    path : str or Path
        Destination. Its folder must exist.
    batch : ndarray, shape (H, W) or (N, H, W)
    meta : ImageMeta, optional
        From the reader: geometry, headers and layout to write back.
    format : {"npy", "png", "tiff", "nii", "dcm"}, optional
        Default from the extension of ``path``.
    overwrite : bool
        Replace existing files (never done otherwise).
    description : str, optional
        DICOM DerivationDescription (the steps).
    png_bits : {8, 16}, optional
        PNG depth for float data in [0, 1]; default 8 when the source was
        8-bit, else 16 (see :func:`fastct.io._values.for_png`).

    Returns
    -------
    list of Path
        The files written (several for a multi-slice PNG).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in write(folder / "a.png", np.zeros((2, 4, 4), np.float32))]
    ['a_0.png', 'a_1.png']
    """
    path = Path(path)
    if format is None:
        source = EXTENSIONS.get(".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower())
        if source not in _SAME or source in ("jpeg", "bmp", "npz"):
            raise InvalidArgumentError(f"format: cannot tell the output format from {path.name!r}; pass format=")
        format = _SAME[source]
    fmt = output_format(format)
    a = np.asarray(batch)
    if a.ndim not in (2, 3):
        raise InvalidArgumentError(f"batch: expected (H, W) or (N, H, W), got shape {a.shape}")
    if fmt == "npy":
        return [write_npy(path, a, meta, overwrite=overwrite)]
    if fmt == "tiff":
        return [write_tiff(path, a, meta, overwrite=overwrite)]
    if fmt == "nii":
        return [write_nifti(path, a, meta, overwrite=overwrite)]
    if fmt == "dcm":
        return [write_dicom(path, a, meta, description=description, overwrite=overwrite)]
    # png: one file per slice
    if png_bits is None and meta is not None:
        png_bits = 8 if meta.stored_dtype.itemsize == 1 else 16
    slices = a[None] if a.ndim == 2 else a
    pixels = for_png(slices, png_bits)
    written = []
    try:
        for target, image in zip(output_paths(path, "png", len(slices)), pixels, strict=True):
            written.append(write_png(target, image, overwrite=overwrite))
    except BaseException:
        for p in written:  # all slices or none
            p.unlink(missing_ok=True)
        raise
    return written


def is_complete(path, fmt: str) -> bool:
    """True when ``path`` holds a whole, readable output of format ``fmt``.

    Used by ``--resume``: fastct's writes are atomic, so an output that
    exists is complete unless something else truncated it; this checks
    cheaply (NPY size against its header, the PNG end chunk, DICOM pixel
    data length) or, for TIFF and NIfTI, by reading it.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_npy(pathlib.Path(tempfile.mkdtemp()) / "a.npy", np.zeros((2, 2)))
    >>> is_complete(p, "npy"), is_complete(p.with_name("b.npy"), "npy")
    (True, False)
    """
    path = Path(path)
    fmt = output_format(fmt)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        if fmt == "npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
            return True
        if fmt == "png":
            with open(path, "rb") as fh:
                head = fh.read(8)
                fh.seek(-12, 2)
                tail = fh.read(12)
            return head == b"\x89PNG\r\n\x1a\n" and tail == b"\x00\x00\x00\x00IEND\xaeB`\x82"
        if fmt == "dcm":
            import pydicom

            ds = pydicom.dcmread(path)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            need = ds.Rows * ds.Columns * frames * ds.SamplesPerPixel * (ds.BitsAllocated // 8)
            return len(ds.PixelData) >= need
        read(path)
        return True
    except (Exception, FileFormatError):  # noqa: BLE001 - unreadable means incomplete
        return False
