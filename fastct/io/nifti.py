"""NIfTI in and out (nibabel, an optional dependency: ``pip install 'fastct-engine[io]'``).

A NIfTI volume ``(I, J, K)`` becomes the batch ``(K, J, I)``: one slice per
index along the slice axis (the header's ``slice_dim`` when set, else the
third axis), rows along J, columns along I, which is how DICOM-derived
volumes are laid out. A 4-D volume ``(I, J, K, T)`` becomes ``(T*K, J, I)``
(all slices of volume 0, then volume 1 ...). Writers undo exactly this, so
``read -> write`` gives the original layout, affine and header back.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ._files import atomic_path, require
from ._values import apply_rescale, as_batch3, native
from .meta import ImageMeta, IOWarning

__all__ = ["read_nifti", "write_nifti"]


def _nib():
    return require("nibabel", "reading and writing NIfTI")


def _layout(shape, slice_axis):
    """Transpose order taking data (I, J, K[, T]) to (T, K, J, I)-like order."""
    spatial = [a for a in range(3) if a != slice_axis]
    col_axis, row_axis = spatial[0], spatial[1]
    order = [slice_axis, row_axis, col_axis]
    if len(shape) == 4:
        order = [3] + order
    return order, col_axis, row_axis


def read_nifti(path) -> tuple[np.ndarray, ImageMeta]:
    """Read a NIfTI-1/2 file (``.nii``, ``.nii.gz``, or a ``.hdr``/``.img`` pair) or an
    Analyze 7.5 pair (``.hdr``/``.img``), 2-D, 3-D or 4-D, as an ``(N, H, W)`` batch.

    The values equal nibabel's scaled data (``np.asanyarray(img.dataobj)``):
    exactly for integers, to float32 rounding otherwise.

    ``scl_slope``/``scl_inter`` are applied: int16 when exact, float32
    otherwise (like DICOM rescaling). The affine, header, original shape and
    slice axis are kept in ``meta`` for :func:`write_nifti`. NaN voxels are
    returned as they are (the batch runner rejects or fills them).

    Returns
    -------
    batch : ndarray, shape (N, H, W)
    meta : ImageMeta
        ``affine`` maps batch voxel ``(column, row, slice)`` to RAS mm for 3-D
        data; ``extra`` holds ``nifti_shape``, ``slice_axis`` and ``nifti_affine``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.nii.gz"
    >>> _ = write_nifti(p, np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    >>> batch, meta = read_nifti(p)
    >>> batch.shape, meta.extra["nifti_shape"]
    ((2, 3, 4), (4, 3, 2))
    """
    nib = _nib()
    path = Path(path)
    try:
        img = nib.load(str(path))
        # NIfTI-1/2 single files and header/image pairs, Analyze 7.5 (and SPM's variants of it)
        if not isinstance(img, nib.AnalyzeImage):
            raise FileFormatError(f"{path}: {type(img).__name__} is not a NIfTI or Analyze image")
        stored = np.asanyarray(img.dataobj.get_unscaled())
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: not a readable NIfTI file: {type(exc).__name__}: {exc}") from exc
    slope, inter = img.dataobj.slope, img.dataobj.inter
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    shape = stored.shape
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 4 or len(shape) < 2 or stored.dtype.fields is not None:
        raise FileFormatError(
            f"{path}: NIfTI of shape {stored.shape} dtype {stored.dtype}: expected 2-D, 3-D or 4-D scalar data"
        )
    data = stored.reshape(shape)
    squeeze = data.ndim == 2
    if squeeze:
        data = data[:, :, None]
    header = img.header
    try:
        slice_dim = header.get_dim_info()[2]
    except Exception:  # noqa: BLE001
        slice_dim = None
    slice_axis = slice_dim if slice_dim in (0, 1, 2) else 2
    order, col_axis, row_axis = _layout(data.shape, slice_axis)
    batch = np.transpose(data, order)
    if batch.ndim == 4:
        batch = batch.reshape((-1,) + batch.shape[2:])
    batch = np.ascontiguousarray(apply_rescale(batch, slope, inter))
    nifti_affine = np.asarray(img.affine, np.float64)
    affine = np.eye(4)
    affine[:, 0] = nifti_affine[:, col_axis]
    affine[:, 1] = nifti_affine[:, row_axis]
    affine[:, 2] = nifti_affine[:, slice_axis]
    affine[:, 3] = nifti_affine[:, 3]
    zooms = header.get_zooms()
    spacing = tuple(float(zooms[a]) if a < len(zooms) else 1.0 for a in (slice_axis, row_axis, col_axis))
    meta = ImageMeta(
        path=path,
        format="nifti",
        shape=batch.shape,
        dtype=batch.dtype,
        stored_dtype=native(np.empty(0, stored.dtype)).dtype,
        squeeze=squeeze,
        spacing=spacing,
        affine=affine,
        rescale=(slope, inter),
        headers=[header],
        extra={
            "nifti_shape": tuple(int(s) for s in stored.shape),
            "slice_axis": slice_axis,
            "nifti_affine": nifti_affine,
            "nifti_version": 2 if isinstance(img, (nib.Nifti2Image, nib.Nifti2Pair)) else 1,
            "nifti_class": type(img).__name__,
            "frames": int(data.shape[3]) if data.ndim == 4 else 1,
        },
    )
    return batch, meta


def write_nifti(path, batch, meta: ImageMeta | None = None, *, overwrite: bool = False) -> Path:
    """Write a batch as NIfTI (``.nii`` or, by the name, gzipped ``.nii.gz``), atomically.

    With ``meta`` from :func:`read_nifti` (and the same number of slices)
    the original shape, axis order, affine and header come back; the data
    dtype is the batch's (no scaling: ``scl_slope`` is reset). With other
    ``meta`` (DICOM, images) the volume is written ``(W, H, N)`` with
    ``meta.affine`` (or one from ``meta.spacing``). The dtype is kept
    (uint8, int16, uint16, float32 ...).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_nifti(pathlib.Path(tempfile.mkdtemp()) / "x.nii", np.zeros((3, 4, 5), np.float32))
    >>> p.suffix
    '.nii'
    """
    nib = _nib()
    path = Path(path)
    batch = np.asarray(batch)
    if batch.dtype == np.float16 or batch.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"batch: NIfTI output of dtype {batch.dtype} is not supported")
    batch = native(batch) if batch.dtype.kind in "iu" and batch.dtype.itemsize > 2 else batch
    batch3, _ = as_batch3(batch)
    header = None
    if meta is not None and meta.format == "nifti" and "nifti_shape" in meta.extra:
        shape = tuple(meta.extra["nifti_shape"])
        full = shape
        while len(full) > 4 and full[-1] == 1:
            full = full[:-1]
        if len(full) == 2:
            full = full + (1,)
        order, _, _ = _layout(full, meta.extra["slice_axis"])
        tshape = tuple(full[a] for a in order)  # (T,) K, J, I
        if batch3.shape == (int(np.prod(tshape[:-2])),) + tshape[-2:]:
            data = np.transpose(batch3.reshape(tshape), np.argsort(order)).reshape(shape)
            header = meta.headers[0].copy() if meta.headers else None
            affine = meta.extra["nifti_affine"]
    if header is None:
        data = np.transpose(batch3, (2, 1, 0))
        affine = meta.affine_or_default() if meta is not None else np.eye(4)
        if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            # A degenerate geometry (zero spacing, parallel direction cosines)
            # has no NIfTI affine; the voxel grid with 1 mm steps is written.
            where = meta.path if meta is not None and meta.path is not None else path
            warnings.warn(f"{where}: degenerate geometry (affine {affine[:3, :3].tolist()}); "
                          "written with 1 mm voxels at the origin", IOWarning, stacklevel=2)
            affine = np.eye(4)
    cls = nib.Nifti1Image
    if header is not None and meta.extra.get("nifti_version") == 2:
        cls = nib.Nifti2Image
    img = cls(np.ascontiguousarray(data) if data.flags.c_contiguous else data, affine, header=header)
    img.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1.0, 0.0)
    if header is None and meta is not None and meta.spacing is not None:
        img.header.set_xyzt_units("mm")
    name = path.name.lower()
    suffix = ".nii.gz" if name.endswith(".gz") else ".nii"
    with atomic_path(path, overwrite=overwrite, suffix=suffix) as tmp:
        nib.save(img, str(tmp))
    return path
