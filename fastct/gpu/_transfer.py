"""Data movement of the GPU twins: NumPy in -> NumPy out, CuPy in -> CuPy out.

Every twin wraps its device computation ``compute(src, dst, *aux)`` (device
arrays of a run of whole slices) in :func:`run`:

- CuPy input: ``compute`` runs on the caller's arrays, no host copy.
- NumPy input that fits the device: one upload, the computation, one
  download into the caller's ``out``.
- NumPy input larger than the device memory available: processed in chunks
  of whole slices along N (slices are independent: no halo), through pinned
  host buffers on two CUDA streams, so that the upload of one chunk, the
  computation of the other and the downloads overlap.
"""

from __future__ import annotations

from . import _geometry, _runtime

#: Share of the free device memory a call plans to use.
MEMORY_FRACTION = 0.6
#: If set (bytes), the device memory budget is at most this (tests force chunking with it).
MAX_DEVICE_BYTES: int | None = None


def budget_bytes(rt) -> int:
    """Device memory one call may plan for."""
    budget = int(rt.free_bytes() * MEMORY_FRACTION)
    if MAX_DEVICE_BYTES is not None:
        budget = min(budget, int(MAX_DEVICE_BYTES))
    return budget


def run(batch, out, compute, *, slice_bytes: int = 0, fixed_bytes: int = 0, aux=()):
    """Run ``compute(src, dst, *aux_device)`` over ``batch`` into ``out``; return ``out``.

    Parameters
    ----------
    batch, out
        Validated C-contiguous arrays with the slices on axis 0, both NumPy or both CuPy.
    compute
        Called with device arrays holding the same run of slices of the input
        and the output (and of each per-slice ``aux`` array). It must only
        enqueue device work on the current stream (no host synchronisation).
    slice_bytes
        Device scratch ``compute`` needs per slice, besides the input and output.
    fixed_bytes
        Device scratch ``compute`` needs whatever the number of slices.
    aux
        ``(array, per_slice)`` pairs: extra inputs (a mask...). Per-slice ones
        are split with the batch; the others are passed whole.
    """
    rt = _runtime.get()
    if rt.is_device(batch):
        compute(batch, out, *(a for a, _ in aux))
        return out
    n = batch.shape[0]
    per_slice = _slice_nbytes(batch) + _slice_nbytes(out) + int(slice_bytes)
    per_slice += sum(_slice_nbytes(a) for a, split in aux if split)
    fixed = int(fixed_bytes) + sum(a.nbytes for a, split in aux if not split)
    chunk = _geometry.chunk_slices(n, per_slice, budget_bytes(rt), fixed)
    if chunk >= n:
        src = rt.upload(batch)
        dst = rt.empty(out.shape, out.dtype)
        compute(src, dst, *(rt.upload(a) for a, _ in aux))
        rt.download(dst, out)
        return out
    _run_streamed(rt, batch, out, compute, aux, chunk)
    return out


def _slice_nbytes(array) -> int:
    return array.nbytes // array.shape[0] if array.shape[0] else 0


def _run_streamed(rt, batch, out, compute, aux, chunk: int) -> None:
    """Chunks alternate between two streams; each has its own pinned and device buffers."""
    streams = rt.streams()
    whole = [rt.upload(a) if not split else None for a, split in aux]
    if any(w is not None for w in whole):
        rt.synchronize()  # uploaded on the current stream; the non-blocking streams do not wait for it
    pin_in = [rt.pinned((chunk,) + batch.shape[1:], batch.dtype) for _ in streams]
    pin_out = [rt.pinned((chunk,) + out.shape[1:], out.dtype) for _ in streams]
    dev_in = [rt.empty((chunk,) + batch.shape[1:], batch.dtype) for _ in streams]
    dev_out = [rt.empty((chunk,) + out.shape[1:], out.dtype) for _ in streams]
    pending = [None] * len(streams)  # (start, stop) whose result is on its way to pin_out[i]

    def collect(i):
        if pending[i] is not None:
            rt.wait(streams[i])  # its download (and so its upload) has finished
            start, stop = pending[i]
            out[start:stop] = pin_out[i][: stop - start]
            pending[i] = None

    for k, start in enumerate(range(0, batch.shape[0], chunk)):
        i = k % len(streams)
        stop = min(batch.shape[0], start + chunk)
        m = stop - start
        collect(i)  # frees pin_in[i] / pin_out[i] for this chunk
        pin_in[i][:m] = batch[start:stop]
        with rt.on(streams[i]):
            rt.h2d_async(dev_in[i][:m], pin_in[i][:m], streams[i])
            extra = [w if w is not None else rt.upload(a[start:stop]) for w, (a, _) in zip(whole, aux)]
            compute(dev_in[i][:m], dev_out[i][:m], *extra)
            rt.d2h_async(pin_out[i][:m], dev_out[i][:m], streams[i])
        pending[i] = (start, stop)
    for i in range(len(streams)):
        collect(i)


def run_segments(batch, runners, out_dtype, scratch_factor: int = 6, out=None):
    """Run device callables one after another on ``batch``; return the result (``out`` if given).

    For pipelines of several segments: a NumPy batch is uploaded once and
    the last result downloaded once (in chunks of whole slices, through two
    streams, when the batch exceeds the device memory); each runner maps a
    device batch to a device batch of the same shape. A CuPy batch just runs
    through them. ``scratch_factor`` slices of scratch per slice are planned
    for the runners' intermediates.
    """
    rt = _runtime.get()

    def compute(src, dst):
        data = src
        for run in runners:
            data = run(data)
        dst[...] = data

    if out is None:
        out = (rt.xp if rt.is_device(batch) else _np()).empty(batch.shape, out_dtype)
    if batch.shape[0] == 0:
        return out
    per_slice = max(batch[0].nbytes, out[0].nbytes, batch[0].size * 8)
    return run(batch, out, compute, slice_bytes=scratch_factor * per_slice)


def _np():
    import numpy

    return numpy
