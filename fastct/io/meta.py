"""The small metadata object every reader returns beside the pixel batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["IOWarning", "ImageMeta", "affine_from_geometry", "geometry_from_affine"]


class IOWarning(UserWarning):
    """A file was read, but something about it needed a decision the user
    should know of (a missing or zero pixel spacing, gaps or duplicate
    positions in a series ...). The same text is kept in ``ImageMeta.notes``."""

# LPS (DICOM patient coordinates) <-> RAS (NIfTI world coordinates): flip x and y.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class ImageMeta:
    """What a reader knows about the batch it returns.

    The batch is always ``(N, H, W)``: N slices (frames, pages, NIfTI slices)
    of H rows and W columns. Geometry is given for that layout.

    Attributes
    ----------
    path : Path or None
        The file (or series folder) read.
    format : str
        ``"dicom"``, ``"nifti"``, ``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``,
        ``"npy"`` or ``"npz"``.
    shape : tuple
        Shape of the returned batch.
    dtype : numpy.dtype
        dtype of the returned batch (after rescaling).
    stored_dtype : numpy.dtype
        dtype of the values as stored in the file, before rescaling.
    squeeze : bool
        The file held a single 2-D image (writers write it back as 2-D).
    spacing : tuple of float or None
        ``(slice, row, column)`` spacing in mm; row spacing is the distance
        between rows (DICOM PixelSpacing[0]).
    affine : ndarray (4, 4) or None
        RAS+ world coordinates (mm, NIfTI convention) of voxel
        ``(column, row, slice, 1)``.
    rescale : tuple of float
        ``(slope, intercept)`` applied to the stored values.
    photometric : str
        ``"MONOCHROME2"``, ``"MONOCHROME1"``, or the colour model the data was
        converted from to grey (``"RGB"``, ``"PALETTE COLOR"`` ...).
    headers : list
        Source headers for writing back: the pydicom ``Dataset`` of each
        source file for DICOM, in slice order (pixel data dropped unless the
        reader was asked to keep it; otherwise untouched, so de-identification
        and writers see the source elements), the nibabel header for NIfTI,
        else empty.
    extra : dict
        Format details (DICOM series UID and sorted file list, NIfTI shape and
        slice axis, TIFF metadata ...).
    notes : list of str
        Decisions the reader made that the user should know of (each was
        also issued as an :class:`IOWarning`): a spacing of 1 mm assumed for
        a missing or zero PixelSpacing, gaps or duplicate slice positions.

    Examples
    --------
    >>> import numpy as np
    >>> meta = ImageMeta(path=None, format="npy", shape=(2, 3, 4), dtype=np.dtype("int16"))
    >>> meta.affine_or_default()[:3, :3].diagonal().tolist()
    [1.0, 1.0, 1.0]
    """

    path: Path | None
    format: str
    shape: tuple
    dtype: np.dtype
    stored_dtype: np.dtype | None = None
    squeeze: bool = False
    spacing: tuple | None = None
    affine: np.ndarray | None = None
    rescale: tuple = (1.0, 0.0)
    photometric: str = "MONOCHROME2"
    headers: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)
        self.dtype = np.dtype(self.dtype)
        if self.stored_dtype is None:
            self.stored_dtype = self.dtype
        self.stored_dtype = np.dtype(self.stored_dtype)
        if self.affine is not None:
            self.affine = np.asarray(self.affine, np.float64)

    @property
    def n_slices(self) -> int:
        """Number of slices in the batch."""
        return self.shape[0]

    def affine_or_default(self) -> np.ndarray:
        """The affine, or one built from ``spacing`` (identity when unknown)."""
        if self.affine is not None:
            return self.affine
        a = np.eye(4)
        if self.spacing is not None:
            sk, sr, sc = self.spacing
            a[0, 0], a[1, 1], a[2, 2] = sc, sr, sk
        return a

    def summary(self) -> str:
        """One line describing the batch (for logs)."""
        name = self.path.name if self.path is not None else "<array>"
        spacing = "" if self.spacing is None else " spacing " + "x".join(f"{s:g}" for s in self.spacing) + " mm"
        return f"{name}: {self.format} {self.shape} {self.dtype}{spacing}"


def affine_from_geometry(origin_lps, row_dir, col_dir, normal, spacing) -> np.ndarray:
    """RAS affine of voxel ``(column, row, slice)`` from DICOM geometry.

    ``row_dir`` is the direction in which the column index grows (the first
    triplet of ImageOrientationPatient), ``col_dir`` the direction in which
    the row index grows, ``spacing`` is ``(slice, row, column)`` in mm and
    ``origin_lps`` the ImagePositionPatient of the first slice.
    """
    sk, sr, sc = spacing
    lps = np.eye(4)
    lps[:3, 0] = np.asarray(row_dir, float) * sc
    lps[:3, 1] = np.asarray(col_dir, float) * sr
    lps[:3, 2] = np.asarray(normal, float) * sk
    lps[:3, 3] = np.asarray(origin_lps, float)
    return _LPS_TO_RAS @ lps


def geometry_from_affine(affine):
    """Inverse of :func:`affine_from_geometry`.

    Returns ``(origin_lps, row_dir, col_dir, normal, spacing)``.

    Examples
    --------
    >>> a = affine_from_geometry([1, 2, 3], [1, 0, 0], [0, 1, 0], [0, 0, 1], (2.5, 0.5, 0.75))
    >>> o, r, c, n, s = geometry_from_affine(a)
    >>> o.tolist(), s
    ([1.0, 2.0, 3.0], (2.5, 0.5, 0.75))
    """
    lps = _LPS_TO_RAS @ np.asarray(affine, float)
    cols = [lps[:3, i] for i in range(3)]
    norms = [float(np.linalg.norm(c)) or 1.0 for c in cols]
    row_dir, col_dir, normal = (c / n for c, n in zip(cols, norms, strict=True))
    return lps[:3, 3].copy(), row_dir, col_dir, normal, (norms[2], norms[1], norms[0])
