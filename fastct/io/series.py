"""DICOM files grouped into series and stacks that each make one volume.

A DICOM *series* (one SeriesInstanceUID) is not always one volume: a
localizer series holds axial, coronal and sagittal slices; a series may mix
image sizes or frames of reference. :func:`group_dicom_series` reads only the
headers and splits the files into *stacks*: files of one series with the same
frame of reference, the same orientation (parallel slices) and the same size.
Inside a stack the slices are sorted along the slice normal and their spacing
is checked:

- equal steps (to 1 % or 0.01 mm): one volume with that spacing;
- some steps a whole multiple of the median step (missing slices): one
  volume, with a warning about the gap (its geometry is then only
  approximate);
- two slices at the same position: kept (ordered by InstanceNumber) with a
  warning;
- steps that are none of these: refused (``reason`` says why), never stacked
  with an invented spacing.

Multi-frame files are volumes on their own (one stack each). Files without
ImagePositionPatient are ordered by InstanceNumber with a note.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FastCTError, FileFormatError

__all__ = ["DicomSeries", "group_dicom_series"]

_ORIENTATION_TOL = 1e-3  # direction cosines closer than this are the same orientation
_SPACING_RTOL = 0.01
_SPACING_ATOL = 0.01  # mm
_DUPLICATE_TOL = 1e-3  # mm


@dataclass(frozen=True)
class DicomSeries:
    """One stack of DICOM files that make one volume (or the reason they cannot).

    Attributes
    ----------
    paths : tuple of Path
        The files, sorted along the slice normal (by ImagePositionPatient;
        InstanceNumber, then name, where positions are missing).
    series_uid : str
        The SeriesInstanceUID ("" when the files have none).
    key : str
        A short name, unique among the stacks of one call, safe in file
        names: ``s<SeriesNumber>_<Modality>_<6 hex digits of the UID>``,
        with ``_<n>`` appended when a series splits into several stacks
        (orientations, sizes, frames of reference) and ``_f<n>`` for the
        n-th multi-frame file of a series.
    reason : str or None
        Why these files cannot be read as one volume (inconsistent slice
        spacing, unreadable header ...); None when they can.
    error : FastCTError or None
        For a single file that is no DICOM image or whose header cannot be
        read: the error :func:`fastct.io.read` would raise (a
        :class:`~fastct.errors.NoPixelDataError` means "skip", any other
        :class:`~fastct.errors.FileFormatError` "failed").
    spacing : float or None
        The slice spacing (mm) the stack will be read with; None for a
        single slice, a multi-frame file, or a refused stack.
    notes : tuple of str
        Warnings about the stack (gaps, duplicate positions, missing
        positions); also issued as :class:`~fastct.io.IOWarning` when read.
    description : str
        SeriesDescription, for logs.
    """

    paths: tuple
    series_uid: str
    key: str
    reason: str | None = None
    error: FastCTError | None = None
    spacing: float | None = None
    notes: tuple = field(default_factory=tuple)
    description: str = ""

    @property
    def ok(self) -> bool:
        """True when the files can be read as one volume."""
        return self.reason is None and self.error is None


@dataclass
class _Header:
    path: Path
    series_uid: str
    series_number: str
    modality: str
    description: str
    frame_of_reference: str
    orientation: tuple | None
    position: np.ndarray | None
    instance: int
    size: tuple
    multiframe: bool


def _floats(value, n):
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n and all(np.isfinite(vals)) else None


def _header(path: Path) -> _Header:
    from .detect import detect_format
    from .dicom import NotAnImageError, _dcmread, not_an_image_reason

    fmt = detect_format(path)
    if fmt != "dicom":
        raise FileFormatError(f"{path}: a {fmt.upper()} file, not DICOM")
    ds = _dcmread(path, stop_before_pixels=True)
    reason = not_an_image_reason(ds)
    if reason is not None:
        raise NotAnImageError(f"{path}: {reason}; not an image to process")
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    ipp = _floats(ds.get("ImagePositionPatient"), 3)
    try:
        instance = int(ds.get("InstanceNumber") or 0)
    except (TypeError, ValueError):
        instance = 0
    frames = ds.get("NumberOfFrames")
    try:
        multiframe = int(frames or 1) > 1 or "PerFrameFunctionalGroupsSequence" in ds
    except (TypeError, ValueError):
        multiframe = True
    return _Header(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "") or "").strip(),
        series_number=str(ds.get("SeriesNumber", "") or "").strip(),
        modality=str(ds.get("Modality", "") or "").strip(),
        description=str(ds.get("SeriesDescription", "") or "").strip(),
        frame_of_reference=str(ds.get("FrameOfReferenceUID", "") or "").strip(),
        orientation=None if iop is None else tuple(iop),
        position=None if ipp is None else np.array(ipp),
        instance=instance,
        size=(ds.get("Rows"), ds.get("Columns")),
        multiframe=multiframe,
    )


def _same_orientation(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.max(np.abs(np.subtract(a, b))) < _ORIENTATION_TOL)


def _normal(orientation) -> np.ndarray:
    if orientation is None:
        return np.array([0.0, 0.0, 1.0])
    n = np.cross(orientation[:3], orientation[3:])
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")[:16] or "x"


def _check_spacing(steps: np.ndarray):
    """(spacing, notes, reason) for the sorted steps between slice positions."""
    notes = []
    duplicates = int(np.sum(steps < _DUPLICATE_TOL))
    if duplicates:
        notes.append(f"{duplicates} slice(s) at the same position as another (kept, ordered by InstanceNumber)")
    steps = steps[steps >= _DUPLICATE_TOL]
    if steps.size == 0:
        return None, notes, None
    base = float(np.median(steps))  # the regular step; gaps are whole multiples of it
    tol = max(_SPACING_ATOL, _SPACING_RTOL * base)
    multiples = np.rint(steps / base)
    whole = (multiples >= 1) & (np.abs(steps - multiples * base) <= tol * np.maximum(multiples, 1))
    if not whole.all():
        return None, notes, (f"inconsistent slice spacing: steps from {float(np.min(steps)):g} to "
                             f"{float(np.max(steps)):g} mm along the slice normal; not stacked into one volume")
    regular = steps[multiples == 1]
    gaps = int(np.sum(multiples - 1))
    if gaps:
        notes.append(f"{gaps} missing slice(s): gaps of up to {float(np.max(steps)):g} mm between slices "
                     f"{base:g} mm apart (geometry of the stacked volume is approximate)")
    return float(np.mean(regular)), notes, None


def _stack(headers: list, uid: str, key: str) -> DicomSeries:
    normal = _normal(headers[0].orientation)
    desc = headers[0].description
    if len(headers) == 1:
        return DicomSeries((headers[0].path,), uid, key, description=desc)
    if all(h.position is not None for h in headers):
        headers = sorted(headers, key=lambda h: (float(np.dot(h.position, normal)), h.instance, str(h.path)))
        proj = np.array([float(np.dot(h.position, normal)) for h in headers])
        spacing, notes, reason = _check_spacing(np.diff(proj))
        # positions off the line along the normal: slices side by side, not a stack
        offsets = np.array([h.position - float(np.dot(h.position, normal)) * normal for h in headers])
        drift = float(np.max(np.linalg.norm(offsets - offsets[0], axis=1)))
        if reason is None and spacing is not None and drift > max(1.0, 10 * spacing):
            reason = f"slice positions move {drift:g} mm sideways within the stack; not stacked into one volume"
    else:
        headers = sorted(headers, key=lambda h: (h.instance, str(h.path)))
        spacing, reason = None, None
        notes = [("no ImagePositionPatient on some slices: ordered by InstanceNumber; slice spacing from "
                  "SpacingBetweenSlices or SliceThickness (1 mm when absent)")]
    return DicomSeries(tuple(h.path for h in headers), uid, key, reason=reason,
                       spacing=spacing if reason is None else None, notes=tuple(notes), description=desc)


def group_dicom_series(paths) -> list[DicomSeries]:
    """Group DICOM files into stacks that each read as one volume.

    Reads only the headers (no pixel data). Files are grouped by
    SeriesInstanceUID, then, inside a series, by FrameOfReferenceUID,
    ImageOrientationPatient (parallel slices) and image size; each
    multi-frame file is a stack of its own; a file without a
    SeriesInstanceUID is a series of its own. Stacks are sorted along the
    slice normal and their spacing checked (see the module notes): gaps and
    duplicate positions are noted, inconsistent spacing refuses the stack
    with a ``reason``. Nothing is ever stacked silently.

    Parameters
    ----------
    paths : iterable of str or Path
        DICOM files (those :func:`fastct.io.sniff` calls ``"dicom"``), in
        any order. A file that is not a DICOM image (no image in it, a
        damaged header, another format) comes back as a one-file entry
        with ``error`` set.

    Returns
    -------
    list of DicomSeries
        In a stable order (by series number, series UID, then position of
        the first file in ``paths``). Every input path is in exactly one
        entry. Read an ``ok`` entry with
        ``fastct.io.read_dicom_series(entry)`` (one volume, its files in
        ``meta.extra["files"]``, a derived series written back with
        :func:`fastct.io.write_dicom_series`); report the files of an entry
        with ``reason`` as failed (or read them one by one with
        :func:`fastct.io.read`); an entry with ``error`` is that file's
        error (skipped when it is a
        :class:`~fastct.errors.NoPixelDataError`, failed otherwise).

    Examples
    --------
    >>> import shutil, tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), folder / "a.dcm")
    >>> _ = shutil.copy(get_testdata_file("MR_small.dcm"), folder / "b.dcm")
    >>> _ = (folder / "notes.txt").write_text("hello")
    >>> groups = group_dicom_series(sorted(folder.iterdir()))
    >>> [(g.key, [p.name for p in g.paths], g.ok) for g in groups]
    [('s1_CT_493a79', ['a.dcm'], True), ('s1_MR_18fe18', ['b.dcm'], True), ('notes-txt', ['notes.txt'], False)]
    >>> type(groups[-1].error).__name__
    'NotAnImageError'
    >>> from fastct.io import read_dicom_series
    >>> batch, meta = read_dicom_series(groups[0])
    >>> batch.shape, meta.extra["series_key"]
    ((1, 128, 128), 's1_CT_493a79')
    """
    headers: list = []
    failed: list = []
    order = {}
    for i, p in enumerate(paths):
        p = Path(p)
        order.setdefault(p, i)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                headers.append(_header(p))
        except FastCTError as exc:
            failed.append(DicomSeries((p,), "", _safe(p.name), error=exc))
        except Exception as exc:  # noqa: BLE001 - every file must end in the result, named
            err = FileFormatError(f"{p}: not a readable DICOM header: {type(exc).__name__}: {exc}")
            failed.append(DicomSeries((p,), "", _safe(p.name), error=err))
    by_uid: dict = {}
    for h in headers:
        uid = h.series_uid or f"<none>:{h.path}"
        by_uid.setdefault(uid, []).append(h)

    def series_order(item):
        uid, hs = item
        number = hs[0].series_number
        return (0, int(number)) if number.lstrip("-").isdigit() else (1, 0), uid, min(order[h.path] for h in hs)

    result = []
    used: set = set()
    for _, hs in sorted(by_uid.items(), key=series_order):
        real_uid = hs[0].series_uid
        digest = hashlib.sha1((real_uid or str(hs[0].path)).encode()).hexdigest()[:6]
        base = f"s{_safe(hs[0].series_number) if hs[0].series_number else 'x'}_{_safe(hs[0].modality or 'OT')}_{digest}"
        stacks: list = []
        frames: list = []
        for h in sorted(hs, key=lambda h: order[h.path]):
            if h.multiframe:
                frames.append([h])
                continue
            for stack in stacks:
                ref = stack[0]
                if (ref.frame_of_reference == h.frame_of_reference and ref.size == h.size
                        and _same_orientation(ref.orientation, h.orientation)):
                    stack.append(h)
                    break
            else:
                stacks.append([h])
        stacks.sort(key=len, reverse=True)  # the main stack first, keeps the plain key
        keys = [base if i == 0 else f"{base}_{i + 1}" for i in range(len(stacks))]
        keys += [f"{base}_f{i + 1}" if len(frames) > 1 or stacks else base for i in range(len(frames))]
        for group, key in zip(stacks + frames, keys, strict=True):
            while key in used:
                key += "x"
            used.add(key)
            result.append(_stack(group, real_uid, key))
    return result + failed
