"""Benchmark fixtures: a CT-like batch and a warm-up-first runner.

Sizes come from the environment so CI can run every benchmark once, small
(``--benchmark-disable``), while a real run uses the issue's sizes:
``FASTCT_BENCH_SLICES=64 FASTCT_BENCH_SIZE=512 pytest benchmarks``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastct.bench.data import to_uint8
from fastct.datasets import chest_phantom


@pytest.fixture(scope="session")
def ct_batch():
    n = int(os.environ.get("FASTCT_BENCH_SLICES", "4"))
    size = int(os.environ.get("FASTCT_BENCH_SIZE", "128"))
    return chest_phantom(n, size, seed=0)


@pytest.fixture
def warm_benchmark(benchmark):
    """Like ``benchmark`` but calls the function once untimed first (numba compiles then)."""

    def run(fn, *args, **kwargs):
        fn(*args, **kwargs)
        return benchmark(fn, *args, **kwargs)

    return run


def uint8_view(batch: np.ndarray) -> np.ndarray:
    """The classic 8-bit squeeze of HU used by OpenCV workflows."""
    return to_uint8(batch)
