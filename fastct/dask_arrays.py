"""The same pipelines on Dask arrays.

``fastct.process(dask_array, steps)`` returns a lazy Dask array computed chunk
by chunk with the single-machine kernels, so results are identical to
``fastct.process`` on the whole array:

* chunks holding whole slices run with ``map_blocks`` (no halo: slices never mix);
* chunks split inside a slice run with ``map_overlap`` whose depth is the
  pipeline's halo (the sum of its steps' radii). Outer borders are not
  padded by Dask (``boundary="none"``): a block at the true edge of a slice
  reaches it, and each step applies its own border mode there exactly as in
  the single-machine run;
* pipelines that need whole slices (equalisation, CLAHE, frequency filters)
  or that wrap around the slice (``mode="wrap"``) rechunk to whole slices
  first, with a :class:`RechunkWarning` when those chunks get large;
* volumetric pipelines (``Pipeline(..., volume=True)`` or steps with
  ``axes=(0, 1, 2)``) mix slices: chunks split along z (and inside slices)
  run with ``map_overlap`` whose depth along z is the pipeline's
  :attr:`~fastct.Pipeline.halo_z`, again with ``boundary="none"`` so the
  first and last slices see the volume's true border. A volumetric step that
  needs the whole volume (3-D equalisation or FFT) or wraps around it
  rechunks to one chunk.

NumPy chunks run on the CPU backend, CuPy chunks on the GPU backend (with
``backend="auto"``); ``meta`` is always given, so Dask never calls the kernels
with a probe array of the wrong type. Importing this module does not import
Dask; it is needed only when a Dask array is passed.

Files on a Dask cluster are run by the job engine: see
:mod:`fastct.jobs.executors`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ._shared.arrays import is_dask_array
from .errors import InvalidArgumentError, install_hint

__all__ = ["RechunkWarning", "WHOLE_SLICE_WARN_BYTES", "limit_numba_threads", "process_dask"]

#: Chunks larger than this after a whole-slice rechunk raise a RechunkWarning.
WHOLE_SLICE_WARN_BYTES = 512 << 20


class RechunkWarning(UserWarning):
    """A pipeline needs whole slices and the rechunked chunks are large."""


def _require_dask():
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without dask
        raise InvalidArgumentError(
            "batch: a Dask array needs dask installed: " + install_hint("distributed")
        ) from exc
    return da


def _meta_like(array, dtype):
    meta = getattr(array, "_meta", None)
    if meta is not None and type(meta).__module__.split(".")[0] == "cupy":
        import cupy  # the caller's chunks are CuPy already

        return cupy.empty((0,) * array.ndim, dtype=dtype)
    return np.empty((0,) * array.ndim, dtype=dtype)


def _run_block(block, pipeline, backend):
    """Run the pipeline on one chunk, with numba threads matched to this worker."""
    limit_numba_threads()
    return pipeline.run(block, backend)


def limit_numba_threads() -> int | None:
    """Inside a Dask worker, give each task ``cores / threads_per_worker`` numba threads.

    A worker running T tasks at once on C cores would otherwise start C numba
    threads per task (C x T threads in all). Outside a worker nothing changes.
    Returns the thread count set, or None.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    nthreads = max(1, int(getattr(worker.state, "nthreads", None) or getattr(worker, "nthreads", 1)))
    import numba

    cores = int(os.environ.get("NUMBA_NUM_THREADS") or numba.config.NUMBA_NUM_THREADS)
    per_task = max(1, cores // nthreads)
    numba.set_num_threads(min(per_task, numba.config.NUMBA_NUM_THREADS))
    return per_task


def process_dask(array, pipeline, backend="auto"):
    """Lazy Dask version of :meth:`fastct.Pipeline.run` (see the module docstring).

    Parameters
    ----------
    array : dask.array.Array, shape (H, W) or (N, H, W)
        Chunks may split N freely; chunks split inside slices get a halo
        (stencil pipelines) or are rechunked to whole slices (pipelines with
        equalisation, CLAHE, frequency filters or ``mode="wrap"``).
    pipeline : fastct.Pipeline
    backend : {"auto", "cpu", "gpu"}

    Returns
    -------
    dask.array.Array
        Same shape and chunking along N; dtype ``pipeline.output_dtype``.

    Examples
    --------
    >>> import dask.array as da, numpy as np, fastct
    >>> x = da.from_array(np.zeros((4, 64, 64), np.int16) - 1000, chunks=(2, 32, 32))
    >>> y = fastct.process(x, "erode:3,gaussian:1", backend="cpu")
    >>> y.chunks[0], y.dtype
    ((2, 2), dtype('int16'))
    >>> bool((y.compute() == -1000).all())
    True
    """
    da = _require_dask()
    if array.ndim not in (2, 3):
        raise InvalidArgumentError(
            f"batch: expected a 2-D slice (H, W) or 3-D batch (N, H, W), got shape {array.shape}"
        )
    from ._shared.validation import check_dtype

    check_dtype(array.dtype, "batch")
    out_dtype = pipeline.output_dtype(array.dtype)
    meta = _meta_like(array, out_dtype)
    h_axis, w_axis = array.ndim - 2, array.ndim - 1
    split = len(array.chunks[h_axis]) > 1 or len(array.chunks[w_axis]) > 1
    wraps = any(step.params.get("mode") == "wrap" for step in pipeline.steps)
    if array.ndim == 3 and pipeline.volumetric:
        return _process_volume(da, array, pipeline, backend, out_dtype, meta, split, wraps)
    if split and (pipeline.needs_whole_slice or wraps):
        array = _whole_slices(da, array)
        split = False
    if not split:
        return array.map_blocks(_run_block, pipeline, backend, dtype=out_dtype, meta=meta)
    hy, hx = pipeline.halo
    array = _ensure_min_chunks(array, h_axis, w_axis, 2 * hy + 1, 2 * hx + 1)
    depth = {h_axis: hy, w_axis: hx}
    if array.ndim == 3:
        depth[0] = 0
    return da.map_overlap(
        _run_block, array, depth=depth, boundary="none", dtype=out_dtype, meta=meta, trim=True,
        pipeline=pipeline, backend=backend,
    )


def _process_volume(da, array, pipeline, backend, out_dtype, meta, split, wraps):
    """A volumetric pipeline over a ``(z, y, x)`` Dask array: z halo, or one chunk when it needs the whole volume."""
    z_split = len(array.chunks[0]) > 1
    if (split or z_split) and (pipeline.needs_whole_slice or wraps):
        if array.nbytes > WHOLE_SLICE_WARN_BYTES:
            warnings.warn(
                f"the pipeline needs the whole volume: one chunk of {array.nbytes / 2**20:.0f} MiB",
                RechunkWarning,
                stacklevel=4,
            )
        array = array.rechunk(array.shape)
        split = z_split = False
    if not (split or z_split):
        return array.map_blocks(_run_block, pipeline, backend, dtype=out_dtype, meta=meta)
    hy, hx = pipeline.halo
    hz = pipeline.halo_z
    array = _ensure_min_chunks(array, 1, 2, 2 * hy + 1, 2 * hx + 1)
    array = _ensure_min_chunks(array, 0, 2, 2 * hz + 1, 1)
    # an axis left in one chunk needs no overlap (and Dask refuses a depth beyond the array)
    depth = {axis: (h if len(array.chunks[axis]) > 1 else 0) for axis, h in ((0, hz), (1, hy), (2, hx))}
    return da.map_overlap(
        _run_block, array, depth=depth, boundary="none", dtype=out_dtype, meta=meta, trim=True,
        pipeline=pipeline, backend=backend,
    )


def _whole_slices(da, array):
    """Rechunk so every chunk holds whole slices, warning when chunks get large."""
    chunks = list(array.chunks)
    chunks[-2] = (array.shape[-2],)
    chunks[-1] = (array.shape[-1],)
    slice_bytes = array.shape[-2] * array.shape[-1] * array.dtype.itemsize
    if array.ndim == 3:
        largest = max(array.chunks[0]) if array.chunks[0] else 0
        if largest * slice_bytes > WHOLE_SLICE_WARN_BYTES:
            per_chunk = max(1, WHOLE_SLICE_WARN_BYTES // slice_bytes)
            warnings.warn(
                f"the pipeline needs whole slices: rechunking to {largest} whole slices per chunk "
                f"({largest * slice_bytes / 2**20:.0f} MiB); consider chunks of <= {per_chunk} slices",
                RechunkWarning,
                stacklevel=4,
            )
    elif slice_bytes > WHOLE_SLICE_WARN_BYTES:
        warnings.warn(
            f"the pipeline needs the whole slice: one chunk of {slice_bytes / 2**20:.0f} MiB",
            RechunkWarning,
            stacklevel=4,
        )
    return array.rechunk(tuple(chunks))


def _ensure_min_chunks(array, h_axis, w_axis, min_h, min_w):
    """Merge chunks smaller than the halo needs (so edge blocks still see their border rows)."""
    chunks = list(array.chunks)
    changed = False
    for axis, minimum in ((h_axis, min_h), (w_axis, min_w)):
        sizes = chunks[axis]
        if min(sizes) >= minimum:
            continue
        merged, acc = [], 0
        for size in sizes:
            acc += size
            if acc >= minimum:
                merged.append(acc)
                acc = 0
        if acc:
            if merged:
                merged[-1] += acc
            else:
                merged.append(acc)
        chunks[axis] = tuple(merged)
        changed = True
    return array.rechunk(tuple(chunks)) if changed else array


def is_dask(obj) -> bool:
    """True for Dask arrays (re-exported for the pipeline's dispatch)."""
    return is_dask_array(obj)
