"""Dask overhead and scaling: the same pipeline single-process vs on local worker processes.

Usage::

    python benchmarks/dask_scaling.py [--slices 256] [--size 512] [--chunk 16] [--repeats 3]

1. Single process: ``fastct.process`` on the NumPy batch with every core.
2. A ``LocalCluster`` of 1 and of 2 worker processes (1 thread each, numba
   threads per task matched): the batch is generated on the workers and
   persisted first, then ``fastct.process(dask_array).persist()`` is timed,
   so the figure is compute plus scheduling, not data shipping.
3. Scheduling overhead per task: the wall time of 1000 no-op tasks / 1000.
4. The scheduling floor of this very graph: the same persisted chunks
   through a ``map_blocks`` that does nothing (one task per chunk). No
   pipeline on the cluster can take less than the single process's compute
   time shared by the workers plus this floor, hence the bound
   ``single / (single + floor)`` printed beside the measured ratio.

Medians of ``--repeats`` runs; results go to
``benchmarks/results/<machine>-dask_scaling-chunk<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastct
from fastct.datasets import chest_phantom
from fastct.jobs import local_cluster

try:
    from ._machine import machine_info, machine_name
except ImportError:  # run as a script
    from _machine import machine_info, machine_name


def _phantom_block(block_id, chunk, size, seed):
    return chest_phantom(chunk, size, seed=seed + block_id)


def _noop_block(block):
    return block[:, :1, :1].copy()


def median_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_cluster(n_workers, slices, size, chunk, steps, repeats):
    import dask.array as da
    from dask import delayed
    from distributed import Client, wait

    cluster = local_cluster(n_workers, 1)
    client = Client(cluster)
    try:
        blocks = [
            da.from_delayed(delayed(_phantom_block)(i, chunk, size, 0), (chunk, size, size), np.int16)
            for i in range(slices // chunk)
        ]
        x = client.persist(da.concatenate(blocks))
        wait(x)
        warm = client.persist(fastct.process(x[:chunk], steps, backend="cpu"))  # compile / load kernels everywhere
        wait(warm)
        client.run(lambda: None)

        def once():
            t0 = time.perf_counter()
            y = client.persist(fastct.process(x, steps, backend="cpu"))
            wait(y)
            elapsed = time.perf_counter() - t0
            # Release the result: graph keys are deterministic, so a result
            # still held by the cluster would make the next run free.
            client.cancel(y)
            del y
            time.sleep(0.5)
            return elapsed

        once()  # every worker warm
        seconds = statistics.median(once() for _ in range(repeats))
        noop = median_of(lambda: client.gather(client.map(lambda i: i, range(1000), pure=False)), repeats)

        def floor_once(i):
            t0 = time.perf_counter()
            y = client.persist(x.map_blocks(_noop_block, dtype=x.dtype, token=f"noop-{i}"))
            wait(y)
            elapsed = time.perf_counter() - t0
            client.cancel(y)
            return elapsed

        floor_once(-1)
        floor = statistics.median(floor_once(i) for i in range(max(repeats, 5)))
        return seconds, noop / 1000, floor
    finally:
        client.close()
        cluster.close()


def main(argv=None) -> int:
    import logging

    import numba

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # shutdown chatter, not results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", default=fastct.DEFAULT_STEPS)
    args = parser.parse_args(argv)

    batch = np.concatenate([_phantom_block(i, args.chunk, args.size, 0) for i in range(args.slices // args.chunk)])
    pipe = fastct.Pipeline(args.steps)
    pipe.run(batch[:2], "cpu")
    single = median_of(lambda: pipe.run(batch, "cpu"), args.repeats)
    rows = {"single process": {"seconds": single, "slices_per_s": args.slices / single}}
    print(f"{args.slices}x{args.size}x{args.size} int16, chunks of {args.chunk}, steps {args.steps}")
    threads = numba.get_num_threads()
    print(f"single process ({threads} numba threads): {single:.3f} s, {args.slices / single:.0f} slices/s")
    for n in (1, 2):
        seconds, per_task, floor = run_cluster(n, args.slices, args.size, args.chunk, args.steps, args.repeats)
        rows[f"LocalCluster {n}x1"] = {
            "seconds": seconds,
            "slices_per_s": args.slices / seconds,
            "ratio_to_single": single / seconds,
            "noop_task_overhead_ms": per_task * 1e3,
            "graph_floor_s": floor,
            "ratio_bound_from_floor": single / (single + floor),
        }
        print(f"LocalCluster {n} workers x 1 thread: {seconds:.3f} s, {args.slices / seconds:.0f} slices/s, "
              f"{single / seconds:.2f}x single process; no-op task overhead {per_task * 1e3:.2f} ms; "
              f"the same graph doing nothing: {floor * 1e3:.1f} ms, so at best {single / (single + floor):.2f}x")
    report = {
        "benchmark": "dask_scaling",
        "shape": [args.slices, args.size, args.size],
        "chunk": args.chunk,
        "steps": args.steps,
        "statistic": f"median of {args.repeats}",
        "machine": machine_info("dask", "distributed"),
        "results": rows,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(__file__).parent / "results" / f"{machine_name()}-dask_scaling-chunk{args.chunk}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
