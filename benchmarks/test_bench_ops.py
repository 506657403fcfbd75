"""The benchmark suite: every op x backend x dtype x batch, its peers and the copy floor.

Built from :mod:`fastct.bench.registry`, the list ``fastct bench`` times, so
the two never drift apart. One test per candidate; ``benchmark.group`` is
the op, so a run shows fastct, the floor and the peers of an op together::

    pytest benchmarks/test_bench_ops.py --benchmark-group-by=group,param:dtype,param:batch
    pytest benchmarks/test_bench_ops.py -k "erode and int16 and 64x512x512"

Batches are the issue's (1x512x512 and 64x512x512). With
``--benchmark-disable`` (as CI runs it) each callable runs once on small
batches (at most 2 slices of 64 x 64), so the file stays quick;
``FASTCT_BENCH_QUICK=1`` does the same with timing on. GPU candidates are
skipped, with the reason, when the GPU backend cannot run here; absent peer
libraries are skipped likewise.
"""

from __future__ import annotations

import os

import pytest

from fastct import backends
from fastct.bench.data import Batches
from fastct.bench.peers import Unavailable
from fastct.bench.registry import BACKENDS, DEFAULT_BATCHES, GROUPS, candidates, prepare

SMALL = (2, 64, 64)  # the largest batch used when not timing

_CANDIDATES = {c.id: c for c in candidates(GROUPS, BACKENDS, ("int16", "uint8", "float32"), DEFAULT_BATCHES)
               if not c.unsupported}
PARAMS = [pytest.param(c.group, c.backend, c.dtype, c.batch, c.name, id=cid) for cid, c in _CANDIDATES.items()]
_BATCHES = Batches()
_LIBS: dict = {}


def _small(shape):
    return (min(shape[0], SMALL[0]), min(shape[1], SMALL[1]), min(shape[2], SMALL[2]))


@pytest.mark.parametrize("group,backend,dtype,batch,impl", PARAMS)
def test_bench(benchmark, group, backend, dtype, batch, impl):
    cand = _CANDIDATES[f"{group}-{backend}-{dtype}-{batch}-{impl.replace(' ', '_')}"]
    if backend == "gpu":
        st = backends.status("gpu")
        if not st.available:
            pytest.skip(f"gpu backend unusable: {st.reason}")
    timing = not benchmark.disabled and os.environ.get("FASTCT_BENCH_QUICK") != "1"
    if not timing:
        cand = cand.at(_small(cand.shape))
    try:
        fn = prepare(cand, _BATCHES, _LIBS)
    except Unavailable as exc:
        pytest.skip(f"{impl}: {exc}")
    benchmark.group = group
    benchmark.extra_info.update(kind=cand.kind, data_dtype=cand.data_dtype, shape=list(cand.shape),
                                pixels=cand.shape[0] * cand.shape[1] * cand.shape[2])
    if not benchmark.disabled:
        fn()  # warm-up: compile or load the numba kernels, plans and caches before timing
    result = benchmark(fn)
    if cand.kind != "floor":
        assert result.shape == cand.shape
