"""Spread a serial ``nogil`` kernel's jobs over threads.

Some kernels are serial numba functions over a job range (see
:mod:`fastct.cpu.fused` for why they are not ``prange`` kernels). They release
the GIL, so plain Python threads run them in parallel. The thread count
follows numba's (``NUMBA_NUM_THREADS``, ``numba.set_num_threads`` in the
calling thread), so a Dask worker that limits numba limits these kernels too.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numba

#: Chunks per thread: a few, so a slow chunk does not leave the others idle.
CHUNKS_PER_THREAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS),
                                       thread_name_prefix="fastct-cpu")
        return _pool


def job_ranges(jobs: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous ``(first, end)`` ranges covering ``range(jobs)``: about :data:`CHUNKS_PER_THREAD` per thread.

    Examples
    --------
    >>> job_ranges(10, 2)
    [(0, 1), (1, 2), (2, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 10)]
    >>> job_ranges(3, 8)
    [(0, 1), (1, 2), (2, 3)]
    """
    chunks = max(1, min(jobs, CHUNKS_PER_THREAD * threads))
    return [(c * jobs // chunks, (c + 1) * jobs // chunks) for c in range(chunks)]


def run_jobs(kernel, args: tuple, jobs: int) -> None:
    """Call ``kernel(*args, first, end)`` over chunks of ``range(jobs)`` on numba's thread count.

    The calling thread runs chunks too; with one thread (or one job) nothing
    else is involved. The first exception raised by a chunk is re-raised
    after every chunk has finished (no chunk is left writing to the output).
    """
    if jobs <= 0:
        return
    threads = numba.get_num_threads()
    ranges = job_ranges(jobs, threads)
    if threads == 1 or len(ranges) == 1:
        kernel(*args, 0, jobs)
        return
    # Chunks are handed out from a shared counter: the pool's threads and
    # the caller take the next one when done, so uneven chunks balance.
    next_chunk = iter(ranges)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                item = next(next_chunk, None)
            if item is None:
                return
            kernel(*args, item[0], item[1])

    pool = _executor()
    futures = [pool.submit(worker) for _ in range(threads - 1)]
    errors = []
    try:
        worker()
    except BaseException as exc:  # noqa: BLE001 - re-raised below once the others have stopped
        errors.append(exc)
    for future in futures:
        # A pool thread that has not started yet would find no chunk left:
        # cancel it rather than wait for it to wake up (tens of microseconds).
        if future.cancel():
            continue
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    if errors:
        raise errors[0]
