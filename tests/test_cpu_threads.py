"""The job runner that spreads serial CPU kernels over threads (fastct.cpu._threads)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from fastct.cpu import _threads  # noqa: E402


@pytest.mark.parametrize("jobs,threads", [(1, 1), (1, 4), (7, 2), (64, 2), (100, 3), (5, 8)])
def test_job_ranges_cover_every_job_once_in_order(jobs, threads):
    ranges = _threads.job_ranges(jobs, threads)
    assert ranges[0][0] == 0 and ranges[-1][1] == jobs
    assert all(a < b for a, b in ranges)  # no empty chunk
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert len(ranges) == min(jobs, _threads.CHUNKS_PER_THREAD * threads)


def _record(out, names, first, end):
    out[first:end] += 1
    names.add(threading.current_thread().name)


@pytest.mark.parametrize("threads", [1, 2])
def test_run_jobs_runs_each_job_exactly_once(threads):
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        out = np.zeros(37, np.int64)
        names = set()
        _threads.run_jobs(_record, (out, names), 37)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(out, 1)
    if threads == 1:  # one thread: everything runs in the caller
        assert names == {threading.current_thread().name}


def test_run_jobs_with_no_jobs_calls_nothing():
    calls = []
    _threads.run_jobs(lambda first, end: calls.append((first, end)), (), 0)
    assert calls == []


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_run_jobs_reraises_a_chunk_error_once_no_chunk_is_running():
    started, finished = [], []
    before = numba.get_num_threads()
    numba.set_num_threads(2)

    def kernel(first, end):
        started.append(first)
        if first == 0:
            raise RuntimeError("chunk failed")
        time.sleep(0.01)  # a slow chunk still writing when the failure happens
        finished.append(first)

    try:
        with pytest.raises(RuntimeError, match="chunk failed"):
            _threads.run_jobs(kernel, (), 40)
    finally:
        numba.set_num_threads(before)
    # Every chunk that started has finished: none is left writing to the output.
    assert sorted(started) == sorted([0] + finished)
