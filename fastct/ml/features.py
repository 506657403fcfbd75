"""Fixed-length feature vectors of CT slices, computed on a backend.

See :mod:`fastct.ml.spec` for what each feature group measures. This module
validates, preprocesses (for the groups that read the preprocessed slice) and
dispatches to the backend twin ``features.features`` (Numba kernels on the
CPU, CUDA kernels through CuPy on the GPU; both give the same bits).
"""

from __future__ import annotations

import numpy as np

from .. import backends
from .._shared.arrays import is_cupy_array
from .._shared.validation import as_batch
from ..errors import InvalidArgumentError
from .spec import DEFAULT_GRID, GROUPS, check_groups, resolve_spec

__all__ = ["features", "feature_names", "feature_backend", "GROUPS"]


def _namespace(array):
    if is_cupy_array(array):
        import cupy  # the caller already holds a CuPy array

        return cupy
    return np


def feature_backend(backend="auto", batch=None):
    """The backend name and module that compute features for a request.

    The same choice as every other operation (:func:`fastct.backends.resolve`
    and :func:`fastct.backends.get`): both backends have the feature kernels.

    Examples
    --------
    >>> feature_backend("cpu")[0]
    'cpu'
    """
    name = backends.resolve(backend, batch)
    return name, backends.get(name, batch)  # BackendUnavailable, with the reason


def feature_names(groups=None, grid: int = DEFAULT_GRID) -> list[str]:
    """Names of the features :func:`features` returns, in column order.

    Parameters
    ----------
    groups : list of str or str, optional
        Feature groups (default :data:`~fastct.ml.spec.DEFAULT_GROUPS`;
        ``"all"`` for every group of :data:`GROUPS`), in that order.
    grid : int
        Side of the coarse grid of the ``image`` group.

    Returns
    -------
    list of str

    Examples
    --------
    >>> names = feature_names()
    >>> len(names), names[:3]
    (65, ['body_area', 'lung_area', 'hu[<-950]'])
    >>> len(feature_names("all")), feature_names("all")[64]
    (129, 'body_area')
    >>> feature_names(["masks", "air"])[:3]
    ['body_area', 'lung_area', 'air[r>=1]']
    """
    return resolve_spec(256, 256, groups, grid).names()


def features(batch, *, steps=None, preprocessed=None, groups=None, grid: int = DEFAULT_GRID, backend="auto"):
    """Feature vectors of CT slices: picture, HU histograms, lesion sizes, texture.

    Parameters
    ----------
    batch : ndarray, shape (H, W) or (N, H, W)
        Raw slices in Hounsfield units (int16 as read from DICOM, or any
        real dtype holding HU), NumPy or CuPy. Slices of at least 8x8.
    steps : str or list, optional
        Preprocessing for the groups that read the preprocessed slice
        (``image``, ``lbp``); default :data:`fastct.DEFAULT_STEPS`. The other
        groups always read the raw HU, which preprocessing such as
        equalisation would destroy.
    preprocessed : ndarray, optional
        Already preprocessed slices (same shape as ``batch``) to use instead
        of running ``steps``; give one or the other.
    groups : list of str or str, optional
        Feature groups to compute (default :data:`~fastct.ml.spec.DEFAULT_GROUPS`,
        every group but ``image``; ``"all"`` for all of :data:`GROUPS`); see
        :mod:`fastct.ml.spec`.
    grid : int
        Side of the coarse grid of the ``image`` group (default 8: 64 values).
    backend : {"auto", "cpu", "gpu"}
        Where to compute, chosen as for every operation (``"auto"``: the
        GPU when it is usable and ready, else the CPU; a CuPy batch stays on
        the GPU). Both backends give the same bits.

    Returns
    -------
    ndarray of float64, shape (n_features,) or (N, n_features)
        Same array type as ``batch``; names from :func:`feature_names`.

    Examples
    --------
    >>> from fastct.datasets import lung_phantoms
    >>> images, labels = lung_phantoms(2, 64)
    >>> X = features(images, backend="cpu")
    >>> X.shape, X.dtype
    ((8, 65), dtype('float64'))
    >>> features(images[0], groups=["masks"], backend="cpu").round(2).tolist()  # body / image, lungs / body
    [0.43, 0.38]
    """
    groups = check_groups(groups)
    backends.check_name(backend)
    hu, squeeze = as_batch(batch, "batch")
    n, h, w = hu.shape
    spec = resolve_spec(h, w, groups, grid)
    if hu.dtype.kind == "f" and hu.size:
        lo, hi = float(hu.min()), float(hu.max())
        if 0.0 <= lo and hi <= 1.0:
            raise InvalidArgumentError(
                "batch: values lie in [0, 1], which looks like preprocessed output; features expect raw "
                "Hounsfield units (pass the raw slices: the preprocessing for the image groups is the steps= "
                "argument, or give the preprocessed slices as preprocessed=)"
            )
    if preprocessed is not None and steps is not None:
        raise InvalidArgumentError("steps: give steps or preprocessed, not both")
    backend_name, module = feature_backend(backend, hu)  # errors before any work
    pre = None
    if preprocessed is not None:
        pre, _ = as_batch(preprocessed, "preprocessed")
        if pre.shape != hu.shape:
            raise InvalidArgumentError(
                f"preprocessed: expected shape {hu.shape if not squeeze else hu.shape[1:]} like batch, "
                f"got {tuple(preprocessed.shape)}"
            )
        if is_cupy_array(pre) != is_cupy_array(hu):
            raise InvalidArgumentError("preprocessed: must live where batch lives (both NumPy or both CuPy)")
    else:
        from ..pipeline import Pipeline

        pipe = Pipeline(steps)  # validated even when no image group needs it
        if spec.needs_image and n:
            pre = pipe.run(hu, backend_name)
    if not spec.needs_image:
        pre = None
    params = spec.kernel_params()  # host arrays; a GPU twin uploads them with the batch
    # The twin gets arrays of the caller's type and moves the data itself (a
    # NumPy batch on the GPU: one upload, one download), like every twin.
    xp = _namespace(hu)
    full = xp.zeros((n, int(params["offsets"][-1])), dtype=np.float64)
    if n:
        module.features.features(hu, full, image=pre, **params)
    columns = spec.columns()
    result = full if len(columns) == full.shape[1] else xp.ascontiguousarray(full[:, xp.asarray(columns)])
    return result[0] if squeeze else result
