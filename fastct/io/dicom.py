"""DICOM in and out (pydicom).

Reading: single files, multi-frame files and whole series (a folder or a list
of files, sorted along the slice normal). Stored values are rescaled to
physical units (Hounsfield units for CT): int16 when exact, float32
otherwise. Colour (RGB, YBR) and palette images are converted to grey.
Compressed transfer syntaxes decode through pydicom's pixel-data handlers;
``pip install 'fastct-engine[dicom]'`` adds the JPEG, JPEG-LS and JPEG 2000 decoders.

Writing: a derived image in a new series (new Series and SOP Instance UIDs,
ImageType DERIVED), keeping the patient, study and geometry of the source,
with pixel data and rescale tags matching the processed dtype, in the
source's object type where the result fits it and a Multi-frame Grayscale
Secondary Capture otherwise (see :func:`write_dicom`). Objects that are not
images to filter (segmentations, RT dose ...) are refused when read.

Speed: pydicom parses and encodes; what it does per file besides (pixel
decoding set-up, converting every element touched, its general element
writer) cost as much as the parsing. So the common case takes short cuts
with pydicom's results: uncompressed grey pixel data is decoded here
(:func:`_native_grey_pixels`), the dozen header values the reader needs are
parsed from the raw elements (:func:`_value`), which stay raw, and raw
elements are copied into the derived file as bytes (:func:`_encode_file`).
Tests hold each short cut to pydicom's own output over its test corpus:
the same pixel values, the same values, the same file bytes.
"""

from __future__ import annotations

import copy
import functools
import struct
import warnings
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import (
    FastCTError,
    FileFormatError,
    InvalidArgumentError,
    MissingDependencyError,
    NoPixelDataError,
    install_hint,
)
from ._files import atomic_path
from ._values import apply_rescale, as_batch3, native, rgb_to_gray
from .detect import NotAnImageError
from .meta import ImageMeta, IOWarning, affine_from_geometry, geometry_from_affine

__all__ = ["derived_uid", "read_dicom", "read_dicom_series", "write_dicom", "write_dicom_series"]

_PIXEL_TAGS = frozenset((0x7FE00010, 0x7FE00008, 0x7FE00009))  # Pixel Data, Float / Double Float Pixel Data
_DROP_ON_WRITE = frozenset((
    0x00280006,  # PlanarConfiguration
    0x00280106,  # SmallestImagePixelValue
    0x00280107,  # LargestImagePixelValue
    0x00280108,  # SmallestPixelValueInSeries
    0x00280109,  # LargestPixelValueInSeries
    0x00281101, 0x00281102, 0x00281103,  # palette descriptors
    0x00281201, 0x00281202, 0x00281203,  # palette data
    0x00281199,  # PaletteColorLookupTableUID
    0x00281221, 0x00281222, 0x00281223,  # segmented palettes
    0x00282000,  # ICCProfile
    0x00283000,  # ModalityLUTSequence (replaced by rescale)
    0x00283010,  # VOILUTSequence
    0x00289001, 0x00289002, 0x00289003,  # data point rows/columns, signal domain
    0x00280004,  # PhotometricInterpretation (set again)
))

# DICOM objects that carry pixel data but are not images to filter: the
# numbers are labels, doses, or references, and a "smoothed" segmentation or
# dose grid would be meaningless. SOP Class UID prefix -> what it is.
_NOT_IMAGES = {
    "1.2.840.10008.5.1.4.1.1.66.": "a segmentation, registration or other non-image object",
    "1.2.840.10008.5.1.4.1.1.481.2": "an RT Dose grid (dose values, not an image)",
    "1.2.840.10008.5.1.4.1.1.481.3": "an RT Structure Set",
    "1.2.840.10008.5.1.4.1.1.481.": "an RT treatment object (plan, record)",
    "1.2.840.10008.5.1.4.1.1.88.59": "a key object selection",
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state",
    "1.2.840.10008.5.1.4.1.1.9.": "a waveform",
    "1.2.840.10008.5.1.4.1.1.104.": "an encapsulated document",
}
_RT_IMAGE = "1.2.840.10008.5.1.4.1.1.481.1"
_NOT_IMAGE_MODALITIES = {"SEG": "a segmentation", "RTDOSE": "an RT Dose grid (dose values, not an image)",
                         "RTSTRUCT": "an RT Structure Set", "RTPLAN": "an RT plan", "SR": "a structured report",
                         "PR": "a presentation state", "KO": "a key object selection", "REG": "a registration"}


def not_an_image_reason(ds) -> str | None:
    """Why a DICOM data set is no image to filter (None for images).

    Decided by the SOP Class UID (the Modality when the class is missing):
    segmentations, RT dose, structure sets and plans, structured reports,
    key object selections, presentation states, waveforms and encapsulated
    documents hold labels, doses or references, not intensities.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    >>> not_an_image_reason(ds)
    'Segmentation Storage: a segmentation, registration or other non-image object'
    >>> ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    >>> not_an_image_reason(ds) is None
    True
    """
    uid = str(_value(ds, "SOPClassUID", "") or "").strip()
    if uid:
        if uid == _RT_IMAGE:
            return None
        for prefix, what in _NOT_IMAGES.items():
            if uid == prefix.rstrip(".") or uid.startswith(prefix) and prefix.endswith("."):
                name = getattr(ds.SOPClassUID, "name", uid)
                return f"{name}: {what}"
        return None
    modality = str(_value(ds, "Modality", "") or "").strip().upper()
    return _NOT_IMAGE_MODALITIES.get(modality)


_PALETTE_TAGS = frozenset((0x00281101, 0x00281102, 0x00281103, 0x00281201, 0x00281202, 0x00281203, 0x00281199,
                           0x00281221, 0x00281222, 0x00281223))

# Which fastct extra / package brings a decoder for a transfer syntax.
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg-libjpeg",  # JPEG baseline (Pillow works too)
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg",  # JPEG extended (12-bit)
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg",  # JPEG lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "pylibjpeg-libjpeg",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg-libjpeg",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "pylibjpeg-rle",  # RLE (pydicom decodes it without extras, slower)
}


def _pydicom():
    import pydicom

    return pydicom


# ---------------------------------------------------------------------------
# reading


def _parts(raw: bytes) -> list[str]:
    """The backslash-separated values of a text element's bytes (none when empty)."""
    text = raw.decode("ascii").strip(" \x00")
    return text.split("\\") if text else []


def _one_or_list(values: list):
    if not values:
        return None
    return values[0] if len(values) == 1 else values


#: VR -> parser of an element's explicit-VR little-endian value bytes into what ``ds.get`` gives
#: (numbers as float / int, codes and UIDs as text; several values as a list, empty as None)
_RAW_PARSERS = {
    "DS": lambda raw: _one_or_list([float(v) for v in _parts(raw)]),
    "IS": lambda raw: _one_or_list([int(v) for v in _parts(raw)]),
    "US": lambda raw: _one_or_list(np.frombuffer(raw, "<u2").tolist()),
    "CS": lambda raw: _one_or_list([v.strip(" ") for v in _parts(raw)]),
    "UI": lambda raw: _one_or_list(_parts(raw)),
}


@functools.lru_cache(maxsize=None)
def _tag(keyword: str) -> int:
    from pydicom.datadict import tag_for_keyword

    return tag_for_keyword(keyword)


def _value(ds, keyword: str, default=None):
    """``ds.get(keyword, default)`` for the elements the reader needs, without pydicom's conversion
    while the element is still raw (explicit VR little endian).

    Converting an element costs a tenth of a millisecond per dozen; and an
    element left raw is copied into a derived DICOM file as its bytes (see
    :func:`_encode_file`). Values that do not parse cleanly are left to
    pydicom, with its rules for broken values.
    """
    from pydicom.dataelem import RawDataElement

    elem = ds.get_item(_tag(keyword))
    if elem is None:
        return default
    if isinstance(elem, RawDataElement):
        parse = _RAW_PARSERS.get(elem.VR)
        if parse is not None and elem.is_little_endian and isinstance(elem.value, bytes):
            try:
                value = parse(elem.value)
            except (ValueError, UnicodeDecodeError):
                pass  # pydicom decides what a malformed value means
            else:
                return default if value is None else value
    return ds.get(keyword, default)


def _dcmread(path: Path, stop_before_pixels: bool = False):
    pydicom = _pydicom()
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
            except InvalidDicomError:
                # a data set without the preamble / DICM marker
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
                _guess_transfer_syntax(ds)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a folder; use read_dicom_series for a whole series") from None
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable DICOM file: {type(exc).__name__}: {exc}") from exc
    # pydicom stops quietly (with a warning) at the end of a truncated file,
    # returning what it parsed: a truncated file must fail, not pass as an
    # object "without pixel data".
    for w in caught:
        text = str(w.message)
        if "End of file reached" in text:
            raise FileFormatError(f"{path}: truncated DICOM file: {text.split(' in file ')[0]}")
    if len(ds) == 0:
        raise FileFormatError(f"{path}: no DICOM data elements could be read (truncated or corrupt file)")
    return ds


def _guess_transfer_syntax(ds) -> None:
    """Give a data set read without file meta the transfer syntax its encoding implies."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import (
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in ds.file_meta:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    ds.file_meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    )


def _transfer_syntax(ds):
    meta = getattr(ds, "file_meta", None)
    return None if meta is None else meta.get("TransferSyntaxUID")


def _check_decoder(ds, path: Path) -> None:
    ts = _transfer_syntax(ds)
    if ts is None or not ts.is_compressed:
        return
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise FileFormatError(f"{path}: pixel data is compressed as {ts.name}, which pydicom cannot decode") from None
    if not decoder.is_available:
        package = _DECODER_PACKAGES.get(str(ts), "pylibjpeg")
        options = "; ".join(decoder.missing_dependencies)
        raise MissingDependencyError(
            f"{path}: pixel data is compressed as {ts.name} and no installed decoder handles it: "
            f"{install_hint('dicom')} (installs {package}); pydicom's options: {options}",
            package=package,
            extra="dicom",
        )


def _decode(ds, path: Path, images_only: bool = True) -> np.ndarray:
    reason = not_an_image_reason(ds) if images_only else None
    if reason is not None:
        raise NotAnImageError(f"{path}: {reason}; not an image to process")
    if not any(tag in ds for tag in _PIXEL_TAGS):
        if "Rows" in ds and "Columns" in ds and "BitsAllocated" in ds:
            raise FileFormatError(f"{path}: the header describes a {ds.Rows}x{ds.Columns} image but the file "
                                  "ends before its pixel data (truncated)")
        kind = ds.get("Modality") or ds.get("SOPClassUID", None)
        kind = getattr(kind, "name", kind) or "DICOM object"
        raise NoPixelDataError(f"{path}: {kind} without pixel data (no image to process)")
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if keyword not in ds:
            raise FileFormatError(f"{path}: DICOM image without the required {keyword} element")
    _check_decoder(ds, path)
    arr = _native_grey_pixels(ds)
    if arr is not None:
        return arr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except MissingDependencyError:
        raise
    except ValueError as exc:
        if "less than expected" in str(exc) or "truncated" in str(exc).lower():
            raise FileFormatError(f"{path}: truncated or corrupt pixel data: {exc}") from exc
        raise FileFormatError(f"{path}: cannot decode pixel data: {exc}") from exc
    except Exception as exc:
        ts = _transfer_syntax(ds)
        hint = ""
        if ts is not None and ts.is_compressed:
            try:
                import pylibjpeg  # noqa: F401
            except ImportError:
                hint = f" (installing the decoders may help: {install_hint('dicom')})"
        name = ts.name if ts is not None else "unknown transfer syntax"
        raise FileFormatError(f"{path}: cannot decode {name} pixel data: {type(exc).__name__}: {exc}{hint}") from exc
    return arr


#: uncompressed little-endian transfer syntaxes whose Pixel Data bytes are the pixel values as they are
_NATIVE_LITTLE_ENDIAN = frozenset(("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"))


def _native_grey_pixels(ds) -> np.ndarray | None:
    """Pixel values of an uncompressed 8- or 16-bit grey image, as pydicom's ``pixel_array`` gives them.

    CT's common case, decoded here without ``pixel_array``'s per-call set-up
    (about as long as parsing the header); the same values: the bytes read
    as (un)signed integers of Bits Allocated, and where Bits Stored is
    smaller, the unused high bits dropped by the same left-then-right shift
    (sign-extending signed values). Returns None for everything else (and
    for pixel data shorter than the header promises), which pydicom decodes,
    raising its errors.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None or str(meta.get("TransferSyntaxUID", "")) not in _NATIVE_LITTLE_ENDIAN:
        return None
    if 0x7FE00010 not in ds or int(_value(ds, "SamplesPerPixel", 1) or 1) != 1:
        return None
    if not str(_value(ds, "PhotometricInterpretation", "")).strip().startswith("MONOCHROME"):
        return None
    try:
        bits, stored = int(_value(ds, "BitsAllocated")), int(_value(ds, "BitsStored"))
        rows, cols = int(_value(ds, "Rows")), int(_value(ds, "Columns"))
        frames = int(_value(ds, "NumberOfFrames", 1) or 1)
        signed = int(_value(ds, "PixelRepresentation")) == 1
    except (TypeError, ValueError):
        return None
    if bits not in (8, 16) or not 0 < stored <= bits or rows < 1 or cols < 1 or frames < 1:
        return None
    data = ds.PixelData
    dtype = np.dtype(("<i" if signed else "<u") + str(bits // 8))
    count = frames * rows * cols
    if not isinstance(data, bytes) or len(data) < count * dtype.itemsize:
        return None
    # A read-only view on the element's bytes: the modality LUT makes the result a new array in the
    # usual case, and read_dicom copies it when nothing did.
    arr = np.frombuffer(data, dtype, count).reshape((frames, rows, cols) if frames > 1 else (rows, cols))
    if stored < bits:
        arr = arr.copy()
        np.left_shift(arr, bits - stored, out=arr)
        np.right_shift(arr, bits - stored, out=arr)
    return arr


def _to_grey(arr: np.ndarray, ds, path: Path) -> tuple[np.ndarray, str]:
    """Grey (frames, H, W) or (H, W) from whatever pixel_array returned."""
    photometric = str(_value(ds, "PhotometricInterpretation", "MONOCHROME2")).strip()
    samples = int(_value(ds, "SamplesPerPixel", 1))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            raise FileFormatError(f"{path}: palette colour image with an unusable lookup table: {exc}") from exc
        samples = 3
    if samples > 1:
        if arr.shape[-1] != samples:
            raise FileFormatError(f"{path}: {samples} samples per pixel but pixel data of shape {arr.shape}")
        return rgb_to_gray(arr[..., :3]), photometric
    return arr, photometric


def _floats(value, n=None):
    if value is None:
        return None
    try:
        items = value if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") else [value]
        vals = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    if n is not None and len(vals) != n:
        return None
    return vals


def _fg_item(ds, sequence: str, frame: int | None = None):
    """An item of a functional group macro (per-frame when ``frame`` is given, else shared)."""
    try:
        if frame is not None:
            groups = ds.PerFrameFunctionalGroupsSequence[frame]
        else:
            groups = ds.SharedFunctionalGroupsSequence[0]
        return getattr(groups, sequence)[0]
    except (AttributeError, IndexError, TypeError):
        return None


def _frame_attr(ds, sequence: str, keyword: str, frame: int):
    if "SharedFunctionalGroupsSequence" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
        return _value(ds, keyword)  # not an enhanced object (looking for its groups costs more than the rest)
    for item in (_fg_item(ds, sequence, frame), _fg_item(ds, sequence)):
        if item is not None and keyword in item:
            return item.get(keyword)
    return ds.get(keyword)


def _rescale(ds, frames: int):
    slopes, inters = [], []
    for f in range(frames):
        slope = _frame_attr(ds, "PixelValueTransformationSequence", "RescaleSlope", f)
        inter = _frame_attr(ds, "PixelValueTransformationSequence", "RescaleIntercept", f)
        slopes.append(float(slope) if slope not in (None, "") else 1.0)
        inters.append(float(inter) if inter not in (None, "") else 0.0)
    if len(set(slopes)) == 1 and len(set(inters)) == 1:
        return slopes[0], inters[0]
    return slopes, inters


def _geometry(ds, frames: int, notes: list | None = None):
    """(positions per frame or None, row_dir, col_dir, spacing (slice, row, col)).

    Decisions taken for missing or unusable values are appended to ``notes``.
    """
    notes = [] if notes is None else notes
    iop = _floats(_frame_attr(ds, "PlaneOrientationSequence", "ImageOrientationPatient", 0), 6)
    row_dir, col_dir = (np.array(iop[:3]), np.array(iop[3:])) if iop else (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    ps = _floats(_frame_attr(ds, "PixelMeasuresSequence", "PixelSpacing", 0), 2) or _floats(
        _value(ds, "ImagerPixelSpacing"), 2
    )
    if ps and not all(np.isfinite(v) and v > 0 for v in ps):
        notes.append(f"PixelSpacing {ps} is not positive; 1 mm assumed")
        ps = None
    elif not ps and ("ImageOrientationPatient" in ds or "PerFrameFunctionalGroupsSequence" in ds):
        # Only images placed in patient space promise a spacing; photos and
        # secondary captures without one are plain pixel grids.
        notes.append("no PixelSpacing; 1 mm assumed")
    sr, sc = ps if ps else (1.0, 1.0)
    positions = []
    for f in range(frames):
        ipp = _floats(_frame_attr(ds, "PlanePositionSequence", "ImagePositionPatient", f), 3)
        positions.append(None if ipp is None else np.array(ipp))
    thick = _floats(_frame_attr(ds, "PixelMeasuresSequence", "SpacingBetweenSlices", 0), 1) or _floats(
        _frame_attr(ds, "PixelMeasuresSequence", "SliceThickness", 0), 1
    )
    sk = thick[0] if thick and np.isfinite(thick[0]) and thick[0] > 0 else 1.0
    if any(p is None for p in positions):
        positions = None
    return positions, row_dir, col_dir, (sk, sr, sc)


def _normal(row_dir, col_dir):
    n = np.cross(row_dir, col_dir)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _slice_spacing(positions, normal, default):
    if positions is None or len(positions) < 2:
        return default
    proj = np.array([float(np.dot(p, normal)) for p in positions])
    steps = np.abs(np.diff(proj))
    steps = steps[steps > 1e-6]
    return float(np.median(steps)) if steps.size else default


def read_dicom(path, *, keep_pixel_data: bool = False, images_only: bool = True) -> tuple[np.ndarray, ImageMeta]:
    """Read one DICOM file (single- or multi-frame) as an ``(N, H, W)`` batch.

    Parameters
    ----------
    path : str or Path
        A DICOM file.
    keep_pixel_data : bool
        Keep the encoded pixel data in ``meta.headers[0]`` (dropped by
        default to halve the memory; writers don't need it).
    images_only : bool
        Refuse objects that are not images to filter (segmentations, RT
        dose, structured reports ..., see :func:`not_an_image_reason`) with
        :class:`~fastct.io.NotAnImageError`. False reads their pixel data anyway.

    Returns
    -------
    batch : ndarray, shape (N, H, W)
        Physical units, the values of pydicom's ``apply_modality_lut``
        (Modality LUT Sequence, else RescaleSlope/RescaleIntercept; for
        enhanced objects the per-frame Pixel Value Transformation): int16
        when exact, float32 otherwise (uint16 for LUT outputs above 32767).
        Colour is converted to grey with ITU-R BT.601 weights (the values of
        :func:`fastct.to_gray` on pydicom's RGB output; palette colour
        through its lookup table first).
    meta : ImageMeta
        Spacing, affine, rescale, the source header and, in ``extra``, the
        series UID, positions and transfer syntax.

    Raises
    ------
    FileFormatError
        Not DICOM, truncated, or undecodable pixel data.
    NoPixelDataError
        A DICOM object without an image (RT plan, structured report ...);
        :class:`~fastct.io.NotAnImageError` (a subclass) for objects whose
        pixel data are not an image (segmentation, RT dose ...).
    MissingDependencyError
        Compressed pixel data without an installed decoder (the message
        names the package).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> batch, meta = read_dicom(get_testdata_file("CT_small.dcm"))
    >>> batch.shape, batch.dtype, meta.rescale, meta.spacing[1:]
    ((1, 128, 128), dtype('int16'), (1.0, -1024.0), (0.661468, 0.661468))
    """
    path = Path(path)
    ds = _dcmread(path)
    arr = _decode(ds, path, images_only)
    stored_dtype = arr.dtype
    arr, photometric = _to_grey(arr, ds, path)
    frames = int(_value(ds, "NumberOfFrames", 1) or 1)
    multiframe = "NumberOfFrames" in ds
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] != frames:
        frames = arr.shape[0]
    modality_lut = photometric.startswith("MONOCHROME") and _has_modality_lut(ds)
    if modality_lut:
        batch = np.ascontiguousarray(_apply_modality_lut(arr, ds, path))
        slope, inter = 1.0, 0.0
    else:
        slope, inter = _rescale(ds, frames)
        batch = np.ascontiguousarray(apply_rescale(arr, slope, inter))
    if not batch.flags.writeable:  # still a view on the file's bytes: the caller gets its own array
        batch = batch.copy()
    notes: list = []
    positions, row_dir, col_dir, spacing = _geometry(ds, frames, notes)
    normal = _normal(row_dir, col_dir)
    if multiframe and positions is None and "ImagePositionPatient" in ds:
        origin = np.array(_floats(ds.ImagePositionPatient, 3) or [0.0, 0.0, 0.0])
        positions = [origin + f * spacing[0] * normal for f in range(frames)]
    spacing = (_slice_spacing(positions, normal, spacing[0]), spacing[1], spacing[2])
    origin = positions[0] if positions else np.zeros(3)
    if not keep_pixel_data:
        for tag in _PIXEL_TAGS:
            if tag in ds:
                del ds[tag]
    meta = ImageMeta(
        path=path,
        format="dicom",
        shape=batch.shape,
        dtype=batch.dtype,
        stored_dtype=native(np.empty(0, stored_dtype)).dtype,
        squeeze=not multiframe,
        spacing=spacing,
        affine=affine_from_geometry(origin, row_dir, col_dir, normal, spacing),
        rescale=(slope, inter) if np.isscalar(slope) else (tuple(slope), tuple(inter)),
        photometric=photometric,
        headers=[ds],
        notes=notes,
        extra={
            "modality_lut": modality_lut,
            "series_uid": str(_value(ds, "SeriesInstanceUID", "")),
            "sop_uids": [str(_value(ds, "SOPInstanceUID", ""))],
            "files": [path],
            "positions": None if positions is None else [p.tolist() for p in positions],
            "transfer_syntax": str(_transfer_syntax(ds) or ""),
            "multiframe": multiframe,
            "modality": str(_value(ds, "Modality", "")),
        },
    )
    for note in notes:
        warnings.warn(f"{path}: {note}", IOWarning, stacklevel=2)
    return batch, meta


def _has_modality_lut(ds) -> bool:
    try:
        return "ModalityLUTSequence" in ds and len(ds.ModalityLUTSequence) > 0
    except Exception:  # noqa: BLE001 - an unreadable sequence counts as absent
        return False


def _apply_modality_lut(arr: np.ndarray, ds, path: Path) -> np.ndarray:
    """Stored values through the Modality LUT Sequence (pydicom's rule), as a native dtype."""
    from pydicom.pixels import apply_modality_lut

    try:
        out = apply_modality_lut(arr, ds)
    except Exception as exc:
        raise FileFormatError(f"{path}: unusable Modality LUT Sequence: {type(exc).__name__}: {exc}") from exc
    return native(out)


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_dicom_series(source, *, series_uid: str | None = None, key: str | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read one stack of DICOM slices (a folder, searched recursively, or a list of files) as a volume.

    The files are grouped with :func:`fastct.io.group_dicom_series` (series,
    frame of reference, orientation, size); exactly one stack must remain
    (after ``series_uid`` / ``key`` choose), else the error lists them.
    Slices are sorted along the slice normal (InstanceNumber where
    positions are missing). Inconsistent slice spacing is refused; gaps and
    duplicate positions are warned about (:class:`~fastct.io.IOWarning`) and
    kept in ``meta.notes``. Files without pixel data and non-DICOM files in
    a folder are ignored.

    Parameters
    ----------
    source : str, Path, list of them, or DicomSeries
        A series folder, the files of a series, or one entry of
        :func:`fastct.io.group_dicom_series` (read as it is, not regrouped).
    series_uid : str, optional
        The SeriesInstanceUID to read when the files hold several series.
    key : str, optional
        The :attr:`DicomSeries.key` of the stack to read.

    Returns
    -------
    batch : ndarray, shape (N, H, W)
        The slices in order, in physical units (see :func:`read_dicom`).
    meta : ImageMeta
        ``headers`` holds one header per slice in the same order;
        ``extra["files"]`` the sorted files; ``spacing[0]`` the slice
        spacing used (from the positions; ``extra["slice_spacing_from"]``
        says where it came from).

    Raises
    ------
    FileFormatError
        Several stacks and no choice, a refused stack (inconsistent
        spacing), or an unreadable slice.
    NoPixelDataError
        No DICOM image among the files.

    Examples
    --------
    >>> import shutil, tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), folder / "a.dcm")
    >>> batch, meta = read_dicom_series(folder)
    >>> batch.shape, len(meta.headers)
    ((1, 128, 128), 1)
    """
    from .detect import sniff
    from .series import DicomSeries, group_dicom_series

    if isinstance(source, DicomSeries):
        if source.error is not None:
            raise source.error
        groups, where = [source], (str(source.paths[0]) if len(source.paths) == 1 else f"series {source.key}")
    elif isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.is_dir():
            raise FileFormatError(f"{folder}: not a folder")
        files = [p for p in _walk(folder) if sniff(p) == "dicom"]
        where = str(folder)
    else:
        files = [Path(p) for p in source]
        where = f"{len(files)} files" if len(files) != 1 else str(files[0])
    if not isinstance(source, DicomSeries):
        groups = group_dicom_series(files)
    # A damaged slice fails the volume (it is never dropped silently);
    # objects without an image (a structure set beside the slices) are left out.
    hard = [g.error for g in groups if g.error is not None and not isinstance(g.error, NoPixelDataError)]
    if hard:
        raise hard[0]
    groups = [g for g in groups if g.error is None]
    if not groups:
        raise NoPixelDataError(f"{where}: no DICOM images found")
    if series_uid is not None:
        chosen = [g for g in groups if g.series_uid == series_uid]
        if not chosen:
            found = sorted({g.series_uid for g in groups})
            raise InvalidArgumentError(f"series_uid: {series_uid!r} is not in {where}; found {found}")
        groups = chosen
    if key is not None:
        chosen = [g for g in groups if g.key == key]
        if not chosen:
            raise InvalidArgumentError(f"key: {key!r} is not in {where}; found {[g.key for g in groups]}")
        groups = chosen
    if len(groups) > 1:
        uids = {g.series_uid for g in groups}
        found = "; ".join(f"{g.key} ({len(g.paths)} files{', ' + g.reason if g.reason else ''})" for g in groups)
        what = (f"{len(uids)} series" if len(uids) > 1
                else "one series with slices of several orientations, sizes or frames of reference")
        raise FileFormatError(
            f"{where}: holds {what}, {len(groups)} stacks: {found}; not stacking them into one volume. "
            "Pass series_uid= or key=, or group the files with fastct.io.group_dicom_series"
        )
    group = groups[0]
    if group.reason is not None:
        raise FileFormatError(f"{where}: {group.reason}")
    slices = [read_dicom(f) for f in group.paths]
    first = slices[0][1]
    if len(slices) == 1:
        first.extra["series_key"] = group.key
        return slices[0]
    _, row_dir, col_dir, _ = _geometry(first.headers[0], 1)
    normal = _normal(row_dir, col_dir)
    dtypes = {b.dtype for b, _ in slices}
    dtype = dtypes.pop() if len(dtypes) == 1 else np.float32
    batch = np.ascontiguousarray(np.concatenate([b.astype(dtype, copy=False) for b, _ in slices]))
    positions = [np.array(p) for _, m in slices for p in (m.extra["positions"] or [])]
    positions = positions if len(positions) == batch.shape[0] else None
    if group.spacing is not None:
        spacing, spacing_from = group.spacing, "ImagePositionPatient"
    else:
        spacing, spacing_from = first.spacing[0], "SpacingBetweenSlices/SliceThickness (1 mm when absent)"
    spacing = (spacing, first.spacing[1], first.spacing[2])
    origin = positions[0] if positions else np.zeros(3)
    notes = list(group.notes)
    for _, m in slices:
        notes += [n for n in m.notes if n not in notes]
    for note in group.notes:
        warnings.warn(f"{where}: {note}", IOWarning, stacklevel=2)
    meta = ImageMeta(
        path=Path(source) if isinstance(source, (str, Path)) else None,
        format="dicom",
        shape=batch.shape,
        dtype=batch.dtype,
        stored_dtype=first.stored_dtype,
        squeeze=False,
        spacing=spacing,
        affine=affine_from_geometry(origin, row_dir, col_dir, normal, spacing),
        rescale=first.rescale,
        photometric=first.photometric,
        headers=[m.headers[0] for _, m in slices],
        notes=notes,
        extra={
            "series_uid": first.extra["series_uid"],
            "series_key": group.key,
            "sop_uids": [m.extra["sop_uids"][0] for _, m in slices],
            "files": [m.path for _, m in slices],
            "positions": None if positions is None else [p.tolist() for p in positions],
            "slice_spacing_from": spacing_from,
            "multiframe": False,
            "modality": first.extra["modality"],
            "modality_lut": any(m.extra.get("modality_lut") for _, m in slices),
        },
    )
    return batch, meta


# ---------------------------------------------------------------------------
# writing


# Object types (SOP Class UIDs) and what their IODs allow for pixel data.
_SC = "1.2.840.10008.5.1.4.1.1.7"
_SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"  # Multi-frame Grayscale Byte Secondary Capture
_SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word Secondary Capture
# 8-bit grayscale only: ultrasound, VL photography/endoscopy/microscopy,
# ophthalmic photography 8 bit, the byte secondary capture.
_EIGHT_BIT_ONLY = ("1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.6.2",
                   _SC_BYTE, "1.2.840.10008.5.1.4.1.1.77.1.")
# 16 bits allocated only: an 8-bit result is widened (losslessly) to 16.
_SIXTEEN_BIT_ONLY = ("1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1",
                     "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.4",
                     "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.128.1", "1.2.840.10008.5.1.4.1.1.130",
                     _SC_WORD)
# Digital X-ray (DX, mammography, intra-oral): unsigned pixels, RescaleSlope 1
# and RescaleIntercept 0 are enumerated values, so a rescaled or signed
# result cannot stay one of them.
_IDENTITY_RESCALE_UNSIGNED = ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
                              "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1",
                              "1.2.840.10008.5.1.4.1.1.1.3", "1.2.840.10008.5.1.4.1.1.1.3.1")

# Attributes of the Enhanced MR "MR Pulse Sequence" module that dciodvfy (and
# the IOD's condition) want only for ORIGINAL or MIXED images: a derived
# image must not carry them.
_ORIGINAL_ONLY = ("PulseSequenceName", "MRAcquisitionType", "EchoPulseSequence", "MultipleSpinEcho",
                  "MultiPlanarExcitation", "PhaseContrast", "VelocityEncodingAcquisitionSequence",
                  "TimeOfFlightContrast", "ArterialSpinLabelingContrast", "SteadyStateContrast",
                  "EchoPlanarPulseSequence", "SaturationRecovery", "SpectrallySelectedSuppression",
                  "OversamplingPhase", "GeometryOfKSpaceTraversal", "RectilinearPhaseEncodeReordering",
                  "SegmentedKSpaceTraversal", "CoverageOfKSpace", "NumberOfKSpaceTrajectories",
                  "BulkMotionCompensationTechnique", "BulkMotionSignalSource")

# Patient, study and equipment attributes a converted (Secondary Capture)
# object keeps from its source.
_KEEP_ON_CONVERT = ("SpecificCharacterSet", "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                    "PatientSex", "PatientAge", "PatientWeight", "PatientSize", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber", "StudyDescription",
                    "SeriesNumber", "SeriesDescription", "BodyPartExamined", "Laterality", "FrameOfReferenceUID",
                    "PositionReferenceIndicator", "ContentDate", "ContentTime", "InstanceNumber",
                    "PatientOrientation", "BurnedInAnnotation")


# Enhanced (multi-frame functional group) object types: their ImageType value 2
# is PRIMARY even when derived, and their rescale lives in functional groups.
_ENHANCED = ("1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.1",
             "1.2.840.10008.5.1.4.1.1.4.3", "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.6.2",
             "1.2.840.10008.5.1.4.1.1.12.1.1", "1.2.840.10008.5.1.4.1.1.12.2.1", "1.2.840.10008.5.1.4.1.1.13.1.",
             "1.2.840.10008.5.1.4.1.1.128.1", "1.2.840.10008.5.1.4.1.1.130")


def _in(uid: str, classes) -> bool:
    return any(uid == c or (c.endswith(".") and uid.startswith(c)) for c in classes)


def derived_uid(*sources) -> str:
    """A UID derived deterministically from ``sources`` (same inputs, same UID).

    Re-running (or resuming) the same processing of the same source gives the
    same Series and SOP Instance UIDs, so a resumed series stays one series.

    Examples
    --------
    >>> derived_uid("1.2.3", "erode:3") == derived_uid("1.2.3", "erode:3") != derived_uid("1.2.3", "dilate:3")
    True
    """
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["fastct"] + [str(s) for s in sources]))


def _ds_number(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def _quantise(batch: np.ndarray, unsigned: bool = False):
    """Stored values, slope and intercept that represent ``batch`` in DICOM.

    uint8, uint16 and int16 are stored as they are; with ``unsigned`` (an
    object type that allows only unsigned pixels) int16 is stored offset by
    32768 with RescaleIntercept -32768 (exact). Floats are quantised to
    uint16 over their range.
    """
    a = batch
    if a.dtype.kind in "iu" and a.dtype.itemsize > 2:
        a = native(a)  # narrows when the values fit
    if a.dtype.kind == "b":
        return a.astype(np.uint8), 1.0, 0.0
    if a.dtype in (np.uint8, np.uint16):
        return a, 1.0, 0.0
    if a.dtype == np.int16:
        if not unsigned:
            return a, 1.0, 0.0
        return (a.astype(np.int32) + 32768).astype(np.uint16), 1.0, -32768.0
    a = np.asarray(a, np.float32 if a.dtype == np.float32 else np.float64)  # float32 resolves 1/65535 steps
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidArgumentError("image: DICOM cannot store NaN or infinite values")
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    if hi == lo:
        hi = lo + 1.0
    slope = float(_ds_number((hi - lo) / 65535.0))
    intercept = float(_ds_number(lo))
    # the same operations in place: every fresh slice-sized temporary costs as much as the arithmetic
    scaled = np.subtract(a, a.dtype.type(intercept))
    np.divide(scaled, a.dtype.type(slope), out=scaled)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 65535, out=scaled)
    return scaled.astype(np.uint16), slope, intercept


def _output_class(template, batch: np.ndarray, frames: int) -> tuple[str | None, str]:
    """(SOP class to write, why) for ``batch`` derived from ``template``.

    None keeps the source's class. A source class that cannot hold the
    result (16-bit or rescaled values in an 8-bit-only or identity-rescale
    type, several frames in a single-frame Secondary Capture) is replaced
    by a Multi-frame Grayscale Secondary Capture.
    """
    if template is None or "SOPClassUID" not in template:
        kind = "byte" if batch.dtype == np.uint8 else "word"
        return (_SC_BYTE if kind == "byte" else _SC_WORD), "not from a DICOM image"
    uid = str(template.SOPClassUID)
    word = _SC_BYTE if batch.dtype == np.uint8 else _SC_WORD
    if _in(uid, _EIGHT_BIT_ONLY) and batch.dtype != np.uint8:
        return word, f"{template.SOPClassUID.name} holds 8-bit pixels only; the result is {batch.dtype}"
    if _in(uid, _IDENTITY_RESCALE_UNSIGNED) and batch.dtype not in (np.uint8, np.uint16):
        return word, (f"{template.SOPClassUID.name} allows unsigned pixels without rescaling only; "
                      f"the result is {batch.dtype}")
    if uid == _SC and frames > 1:
        return word, "a single-frame Secondary Capture cannot hold several frames"
    if uid.startswith("1.2.840.10008.5.1.4.1.1.7.") and uid not in (_SC_BYTE, _SC_WORD):
        return word, "colour Secondary Capture"  # RGB types: the result is grey
    return None, ""


def _set_rescale(ds, slope: float, intercept: float, rescaled: bool, enhanced: bool) -> None:
    from pydicom.dataset import Dataset

    s, b = _ds_number(slope), _ds_number(intercept)
    if enhanced:
        # Enhanced objects carry the rescale in the Pixel Value Transformation
        # functional group, never at the top level.
        for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
            if keyword in ds:
                delattr(ds, keyword)
        shared = ds.get("SharedFunctionalGroupsSequence") or []
        found = False
        for fg_name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            for group in ds.get(fg_name, []) or []:
                if "PixelValueTransformationSequence" in group:
                    found = True
                    for item in group.PixelValueTransformationSequence:
                        item.RescaleSlope, item.RescaleIntercept = s, b
                        item.RescaleType = "US" if rescaled else item.get("RescaleType", "US")
        if not found and rescaled and shared:
            item = Dataset()
            item.RescaleSlope, item.RescaleIntercept, item.RescaleType = s, b, "US"
            shared[0].PixelValueTransformationSequence = [item]
        return
    had = "RescaleSlope" in ds or "RescaleIntercept" in ds
    sc = str(ds.SOPClassUID) in (_SC_BYTE, _SC_WORD)  # their IODs require the rescale triplet
    if had or rescaled or sc or str(ds.get("Modality", "")) == "CT":
        ds.RescaleSlope, ds.RescaleIntercept = s, b
        if "RescaleType" in ds or rescaled or sc:
            ds.RescaleType = "US" if rescaled or "RescaleType" not in ds else ds.RescaleType


def _new_dataset(meta: ImageMeta | None, sop_class: str, template=None):
    """A Multi-frame Grayscale Secondary Capture data set, with every type 1 and 2
    attribute of its IOD; patient and study from ``template`` when converting
    a DICOM source, geometry from ``meta``.

    Returns the data set and ``(location of the first slice, slice spacing)``
    along the slice normal, for the frames' Slice Location Vector.
    """
    from pydicom.dataset import Dataset, FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = sop_class
    source = str(meta.path) if meta is not None and meta.path is not None else "array"
    # type 2: present, empty when unknown
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber", "Laterality", "PatientOrientation",
                    "Manufacturer", "ContentDate", "ContentTime", "SeriesNumber", "InstanceNumber"):
        setattr(ds, keyword, None)
    if template is not None:
        for keyword in _KEEP_ON_CONVERT:
            if keyword in template:
                ds[keyword] = copy.deepcopy(template[keyword])
    if not ds.get("StudyInstanceUID"):
        ds.StudyInstanceUID = derived_uid("study", source)
    ds.SeriesInstanceUID = derived_uid("series", source)
    ds.Modality = str(template.get("Modality", "") or "OT") if template is not None else "OT"
    ds.ConversionType = "WSD"
    ds.SeriesNumber = ds.SeriesNumber if ds.SeriesNumber not in (None, "") else 1
    ds.InstanceNumber = ds.InstanceNumber if ds.InstanceNumber not in (None, "") else 1
    ds.BurnedInAnnotation = ds.get("BurnedInAnnotation") or "NO"
    if meta is not None and (meta.affine is not None or meta.spacing is not None):
        origin, row_dir, col_dir, normal, spacing = geometry_from_affine(meta.affine_or_default())
        ds.ImageOrientationPatient = [_ds_number(v) for v in list(row_dir) + list(col_dir)]
        ds.ImagePositionPatient = [_ds_number(v) for v in origin]
        ds.PixelSpacing = [_ds_number(spacing[1]), _ds_number(spacing[2])]
        ds.SpacingBetweenSlices = _ds_number(spacing[0])
        ds.SliceThickness = _ds_number(spacing[0])
        return ds, (float(np.dot(origin, normal)), float(spacing[0]))
    return ds, (0.0, 1.0)


def _copy_header(template):
    """A copy of ``template`` without pixel data, cheap enough to make per slice.

    Elements not yet decoded (pydicom's immutable raw elements) are shared
    when their bytes are already explicit VR little endian, the output's
    encoding; all others are decoded (with their own VR rules, a data set may
    mix them) so that pydicom re-encodes them. Decoded elements are copied
    (sequences deeply), so the template is never changed.
    """
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset

    ds = Dataset()
    photometric = str(template.get("PhotometricInterpretation", "")).strip()
    # The element dict itself: Dataset's accessors re-make each tag and look it up again, which
    # costs more than the copy does for a header of a few hundred elements.
    for tag, elem in list(template._dict.items()):
        if tag in _PIXEL_TAGS or tag >> 16 == 0x0002:
            continue
        # A supplemental palette (monochrome image with a colour overlay LUT)
        # stays; a palette that was the image's colour model goes.
        if tag in _DROP_ON_WRITE and not (tag in _PALETTE_TAGS and photometric.startswith("MONOCHROME")):
            continue
        if isinstance(elem, RawDataElement) and elem.value is None:
            elem = template.get_item(tag)  # empty or deferred: pydicom's accessor converts these
        if isinstance(elem, RawDataElement):
            if elem.VR is not None and not elem.is_implicit_VR and elem.is_little_endian and elem.VR != "UN":
                ds._dict[tag] = elem  # immutable: safe to share; decoded only when touched
                continue
            try:
                elem = template[tag]  # decode, to be re-encoded explicit VR little endian
            except Exception:  # noqa: BLE001, S112 - an undecodable private or broken element is left out
                continue
        ds.add(copy.deepcopy(elem) if elem.VR == "SQ" else copy.copy(elem))
    ds.set_original_encoding(False, True, template.original_character_set)
    return ds


def _derived(template, batch: np.ndarray, meta, description: str | None, index: int):
    """Derived data set for one file: ``batch`` is ``(frames, H, W)``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    frames, rows, cols = batch.shape
    sop_class, _ = _output_class(template, batch, frames)
    source_class = str(template.get("SOPClassUID", "")) if template is not None else ""
    unsigned = sop_class in (_SC_WORD, _SC_BYTE) or (
        template is not None and sop_class is None and _in(source_class, _IDENTITY_RESCALE_UNSIGNED))
    stored, slope, intercept = _quantise(batch, unsigned=unsigned)
    if sop_class is None and template is not None:
        uid = str(template.get("SOPClassUID", ""))
        if _in(uid, _SIXTEEN_BIT_ONLY) and stored.dtype == np.uint8:
            stored = stored.astype(np.uint16)  # the type allows 16 bits only: widen, losslessly
        if _in(uid, _EIGHT_BIT_ONLY) and stored.dtype != np.uint8:
            sop_class = _SC_WORD
        if _in(uid, _IDENTITY_RESCALE_UNSIGNED) and (slope != 1.0 or intercept != 0.0):
            sop_class = _SC_WORD
            stored, slope, intercept = _quantise(batch, unsigned=True)
    if sop_class == _SC_BYTE and stored.dtype != np.uint8:
        sop_class = _SC_WORD
    if sop_class == _SC_WORD and stored.dtype == np.uint8:
        stored = stored.astype(np.uint16)
    rescaled = stored.dtype != batch.dtype or slope != 1.0 or intercept != 0.0
    source_sop = source_series = None
    if template is not None:
        source_sop = str(template.get("SOPInstanceUID", "") or "")
        source_series = str(template.get("SeriesInstanceUID", "") or "")
    converted = sop_class is not None
    locations = (0.0, 1.0)
    if converted:
        ds, locations = _new_dataset(meta, sop_class, template)
    else:
        ds = _copy_header(template)
    ds.file_meta = FileMetaDataset()
    if not converted:
        for elem in getattr(template, "file_meta", []) or []:
            if elem.tag.element not in (0x0000, 0x0010):  # group length, transfer syntax: set below
                ds.file_meta.add(copy.deepcopy(elem))
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = _SC
    source = str(meta.path) if meta is not None and meta.path is not None else "array"
    # missing UIDs get new ones, derived from the file so that reruns agree
    if not ds.get("StudyInstanceUID"):
        ds.StudyInstanceUID = derived_uid("study", source)
    tag = description or f"fastct {__version__}"
    ds.SeriesInstanceUID = derived_uid("series", source_series or source, tag, sop_class or "")
    ds.SOPInstanceUID = derived_uid("sop", source_sop or f"{source}.{index}", tag, sop_class or "")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationVersionName = f"FASTCT_{__version__}"[:16]
    groups = "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds
    enhanced = not converted and (groups or _in(str(ds.SOPClassUID), _ENHANCED))
    kept = list(template.ImageType)[2:] if template is not None and "ImageType" in template else []
    # Enhanced objects allow only PRIMARY as value 2 (they describe the
    # whole frame set); other objects say SECONDARY for a derived image.
    ds.ImageType = ["DERIVED", "PRIMARY" if enhanced else "SECONDARY"] + [str(v) for v in kept]
    if enhanced:
        for keyword in _ORIGINAL_ONLY:
            if keyword in ds:
                delattr(ds, keyword)
    ds.DerivationDescription = tag[:1024]
    series_desc = str(ds.get("SeriesDescription", "") or "").strip()
    ds.SeriesDescription = (f"{series_desc} [fastct]" if series_desc else "fastct")[:64]
    if template is not None and source_sop and "SOPClassUID" in template:
        ref = Dataset()
        ref.ReferencedSOPClassUID = template.SOPClassUID
        ref.ReferencedSOPInstanceUID = source_sop
        ds.SourceImageSequence = [ref]
    photometric = meta.photometric if meta is not None and meta.photometric == "MONOCHROME1" else "MONOCHROME2"
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 1
    ds.Rows, ds.Columns = rows, cols
    bits = stored.dtype.itemsize * 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    multiframe = (converted or frames > 1 or "NumberOfFrames" in ds
                  or (meta is not None and meta.extra.get("multiframe")))
    if multiframe:
        ds.NumberOfFrames = frames
    elif "NumberOfFrames" in ds:
        del ds.NumberOfFrames
    if converted:
        ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
        if frames > 1:
            # The Multi-frame SC module wants a frame increment pointer for
            # several frames; the slice location is what varies along a volume.
            z0, dz = locations
            ds.SliceLocationVector = [_ds_number(z0 + i * dz) for i in range(frames)]
            ds.FrameIncrementPointer = 0x00182005  # Slice Location Vector
    if str(ds.SOPClassUID) == _SC and "Laterality" not in ds:
        ds.Laterality = None  # dciodvfy wants this type 2C element in Secondary Capture (empty when unknown)
    _set_rescale(ds, slope, intercept, rescaled, enhanced and groups)
    if rescaled or stored.dtype != (meta.dtype if meta is not None else stored.dtype):
        lo, hi = (float(batch.min()), float(batch.max())) if batch.size else (0.0, 1.0)
        center, width = (lo + hi) / 2, max(hi - lo, 1.0)  # WindowWidth >= 1 (PS3.3 C.11.2.1.2)
        if enhanced and groups:
            for keyword in ("WindowCenter", "WindowWidth"):
                if keyword in ds:
                    delattr(ds, keyword)
            for fg_name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
                for group in ds.get(fg_name, []) or []:
                    for item in group.get("FrameVOILUTSequence", []) or []:
                        item.WindowCenter, item.WindowWidth = _ds_number(center), _ds_number(width)
        else:
            ds.WindowCenter, ds.WindowWidth = _ds_number(center), _ds_number(width)
        for keyword in ("WindowCenterWidthExplanation", "VOILUTFunction"):
            if keyword in ds:
                delattr(ds, keyword)
    ds.PixelData = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<"), copy=False)).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    return ds


def _derive_or_explain(template, batch, meta, description, index, path):
    """:func:`_derived`, with any unexpected error turned into a FileFormatError
    naming the source file (a header pydicom parsed but cannot re-encode)."""
    try:
        return _derived(template, batch, meta, description, index)
    except FastCTError:
        raise
    except Exception as exc:
        source = _source_name(meta, index)
        raise FileFormatError(
            f"{source or 'array'}: cannot derive a DICOM object for {path}: {type(exc).__name__}: {exc}"
        ) from exc


def _source_name(meta, index: int):
    if meta is None:
        return "array"
    files = meta.extra.get("files") or [meta.path]
    return files[index] if index < len(files) else meta.path


#: explicit VR little-endian element headers: group, element, VR, length (16-bit; or reserved + 32-bit)
_ELEMENT_HEADER = struct.Struct("<HH2sH")
_ELEMENT_HEADER_32 = struct.Struct("<HH2sHL")


def _encode_file(ds, fp=None) -> bytes | None:
    """``ds`` as a DICOM file (explicit VR little endian): the bytes of pydicom's
    ``dcmwrite(..., enforce_file_format=True)``, several times faster; written
    to ``fp`` (a pydicom ``DicomFileLike``) or, without one, returned.

    A derived header shares most of its elements with the source as pydicom's
    raw elements (see :func:`_copy_header`): when they already are explicit VR
    little endian, their encoding is their tag, VR, length and value bytes,
    written here directly instead of through pydicom's general per-element
    writer (which costs as long for a 4-byte string as for the pixel data).
    Every other element, and the whole data set when its original encoding or
    character set differs from the output's, goes through pydicom's writer.
    """
    from pydicom.dataelem import RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

    if any(tag >> 16 in (0, 2) for tag in ds._dict):
        raise ValueError("command (0000,eeee) or file meta (0002,eeee) elements in the data set")
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = False  # native pixel data (as dcmwrite sets for this syntax)
    preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    file_meta = copy.deepcopy(ds.file_meta)
    for meta_key, ds_key in (("MediaStorageSOPClassUID", "SOPClassUID"),
                             ("MediaStorageSOPInstanceUID", "SOPInstanceUID")):
        if file_meta.get(meta_key) is None or (ds.get(ds_key) and ds.get(ds_key) != file_meta.get(meta_key)):
            setattr(file_meta, meta_key, ds.get(ds_key))
    to_bytes = fp is None
    fp = DicomBytesIO() if to_bytes else fp
    fp.is_implicit_VR, fp.is_little_endian = False, True
    fp.write(preamble)
    fp.write(b"DICM")
    write_file_meta_info(fp, file_meta, enforce_standard=True)
    if (False, True) != ds.original_encoding or ds.original_character_set != ds._character_set:
        write_dataset(fp, ds)  # pydicom re-encodes every element (VR and character set rules)
        return fp.getvalue() if to_bytes else None
    encodings = ds.get("SpecificCharacterSet", "iso8859")
    pack_short, pack_long = _ELEMENT_HEADER.pack, _ELEMENT_HEADER_32.pack
    for tag, elem in sorted(ds._dict.items()):  # the elements as write_dataset's get_item gives them
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        if isinstance(elem, RawDataElement) and elem.value is None:
            elem = ds.get_item(tag)  # empty or deferred: converted, as get_item does
        if (isinstance(elem, RawDataElement) and elem.VR and not elem.is_implicit_VR and elem.is_little_endian
                and elem.length != 0xFFFFFFFF and isinstance(elem.value, bytes)):
            value, vr = elem.value, elem.VR
            if vr in EXPLICIT_VR_LENGTH_32:
                fp.write(pack_long(group, element, vr.encode("ascii"), 0, len(value)))
                fp.write(value)
                continue
            if len(value) <= 0xFFFF:
                fp.write(pack_short(group, element, vr.encode("ascii"), len(value)) + value)
                continue
        write_data_element(fp, elem, encodings)  # as pydicom's write_dataset hands it over
    return fp.getvalue() if to_bytes else None


def _save(ds, path: Path, overwrite: bool, source=None) -> Path:
    from pydicom.filebase import DicomFileLike

    try:
        # streamed into the temporary file: a large multi-frame object is never held twice in memory
        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _encode_file(ds, DicomFileLike(fh))
    except FastCTError:
        raise
    except OSError:
        raise
    except Exception as exc:
        raise FileFormatError(
            f"{source or 'array'}: could not encode its derived DICOM object {path}: {type(exc).__name__}: {exc}"
        ) from exc
    return path


def write_dicom(path, batch, meta: ImageMeta | None = None, *, description: str | None = None,
                overwrite: bool = False) -> Path:
    """Write a processed batch as one derived DICOM file (atomically).

    Parameters
    ----------
    path : str or Path
        Destination file.
    batch : ndarray, shape (H, W) or (N, H, W)
        uint8, uint16 and int16 are stored as they are (rescale slope 1,
        intercept 0); floats (and integers too wide for 16 bits) are
        quantised to uint16 with RescaleSlope/RescaleIntercept so that
        ``stored * slope + intercept`` gives the values back (to within half
        a slope step; [0, 1] data uses slope 1/65535).
    meta : ImageMeta, optional
        From :func:`read_dicom`: its header is the template (patient, study,
        geometry, everything but pixel data), with new Series and SOP
        Instance UIDs (missing Study UIDs get new ones too), ImageType
        DERIVED and a SourceImageSequence pointing at the source. The
        source's object type is kept where the result fits it: 8-bit
        results are widened for types that allow 16 bits only (CT, MR, CR,
        PET ...); enhanced objects get ImageType DERIVED\\PRIMARY and their
        rescale in the Pixel Value Transformation functional group. Where it
        does not fit (16-bit or float results of ultrasound and other
        8-bit-only types, DX/MG/IO results that need a rescale or signed
        pixels, several frames of a single-frame Secondary Capture, colour
        Secondary Captures) a Multi-frame Grayscale Word (or Byte) Secondary
        Capture keeping patient and study is written. Without a DICOM header
        (NIfTI, PNG, arrays) a complete Multi-frame Grayscale Secondary
        Capture is written (geometry from ``meta`` when given). The result
        has no ``dciodvfy`` error its source does not have.
    description : str, optional
        DerivationDescription (the pipeline steps); also seeds the new UIDs.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> hu, meta = read_dicom(get_testdata_file("CT_small.dcm"))
    >>> out = write_dicom(pathlib.Path(tempfile.mkdtemp()) / "d.dcm", hu, meta, description="none")
    >>> again, meta2 = read_dicom(out)
    >>> bool((again == hu).all()), list(meta2.headers[0].ImageType[:2])
    (True, ['DERIVED', 'SECONDARY'])
    """
    path = Path(path)
    batch, _ = as_batch3(np.asarray(batch))
    template = None
    if meta is not None and meta.format == "dicom" and meta.headers:
        if len(meta.headers) > 1:
            raise InvalidArgumentError(
                "meta: a series of several files; write it with write_dicom_series (one file per slice)"
            )
        template = meta.headers[0]
    ds = _derive_or_explain(template, batch, meta, description, 0, path)
    return _save(ds, path, overwrite, _source_name(meta, 0))


def write_dicom_series(folder, batch, meta: ImageMeta, *, description: str | None = None,
                       overwrite: bool = False, names=None) -> list[Path]:
    """Write a series read by :func:`read_dicom_series` back as a derived series, one file per slice.

    Parameters
    ----------
    folder : str or Path
        Output folder (created when missing).
    batch : ndarray, shape (N, H, W)
        The processed slices, in the order of ``meta.headers``.
    meta : ImageMeta
        From :func:`read_dicom_series`.
    description, overwrite
        As in :func:`write_dicom`.
    names : list of str, optional
        File names; default the source names.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import shutil, tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> src = pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), src / "a.dcm")
    >>> batch, meta = read_dicom_series(src)
    >>> [p.name for p in write_dicom_series(src / "out", batch, meta)]
    ['a.dcm']
    """
    folder = Path(folder)
    batch, _ = as_batch3(np.asarray(batch))
    if meta is None or len(meta.headers) != batch.shape[0]:
        raise InvalidArgumentError(
            f"meta: expected one DICOM header per slice ({batch.shape[0]}), "
            f"got {0 if meta is None else len(meta.headers)}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [Path(p).name for p in meta.extra.get("files", [])] or [f"{i:05d}.dcm" for i in range(len(batch))]
    written = []
    for i, (header, name) in enumerate(zip(meta.headers, names, strict=False)):  # extra names unused
        ds = _derive_or_explain(header, batch[i : i + 1], meta, description, i, folder / name)
        written.append(_save(ds, folder / name, overwrite, _source_name(meta, i)))
    return written
