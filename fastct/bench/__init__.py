"""Benchmarks of fastct against peer libraries and a plain copy: ``fastct bench``.

:mod:`~fastct.bench.registry`
    What is timed: fastct's call per op, its peers (OpenCV, scipy.ndimage,
    scikit-image, scipy.fft, NumPy; cupyx.scipy.ndimage, cuCIM, CuPy on a
    GPU) and the copy floor, as zero-argument callables.
:mod:`~fastct.bench.runner`
    Warm-up, interleaved repeats, medians.
:mod:`~fastct.bench.report`
    Summary, table, JSON and PNG chart.
:mod:`~fastct.bench.process_stats`
    Import and first-call time, peak memory, each in a fresh process.
:mod:`~fastct.bench.command`
    The ``fastct bench`` subcommand; it checks the run against the speed
    targets of ``benchmarks/targets.py`` where fastct runs from a source
    checkout (the targets are not part of the installed package).

Peer libraries are imported only when a benchmark runs; a missing one is
reported as absent. ``benchmarks/test_bench_ops.py`` builds its
pytest-benchmark suite from the same registry.

Examples
--------
>>> from fastct.bench import registry, runner, report
>>> res = runner.run(registry.candidates(["erode"], ["cpu"], ["int16"], [(1, 32, 32)]), repeat=1)
>>> report.summarize(res)[0]["group"]
'erode'
"""

from .command import register

__all__ = ["register"]
