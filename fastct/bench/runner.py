"""Timing: warm up, then interleaved repeats; the median per candidate.

Candidates of one comparison are timed round-robin (one sample of each in
turn), so load from other processes lands on all of them alike. A call
shorter than :data:`MIN_SAMPLE_S` is looped within a sample (as ``timeit``
does) and the sample divided by the loop count. Each candidate gets at most
``repeat`` samples and about ``budget_s`` seconds of timed calls. On a
larger batch, a candidate whose rate at a smaller batch predicts more than
``max_call_s`` per call is skipped (reported, with the estimate).
"""

from __future__ import annotations

import math
import statistics
import time
import traceback
from dataclasses import dataclass, field

from .data import Batches
from .peers import Unavailable
from .registry import Candidate, prepare

MIN_SAMPLE_S = 0.005
MAX_LOOPS = 200


@dataclass
class Result:
    """The outcome for one candidate.

    ``status``: ``ok`` (timed), ``absent`` (library not installed),
    ``unsupported`` (dtype or op not offered), ``skipped`` (over the time
    limit) or ``failed`` (raised; ``reason`` has the error).
    """

    cand: Candidate
    status: str = "ok"
    reason: str | None = None
    times_s: list = field(default_factory=list)
    loops: int = 1

    @property
    def median_s(self) -> float | None:
        """Median seconds per call, None when not timed."""
        return statistics.median(self.times_s) if self.times_s else None

    @property
    def mpx_per_s(self) -> float | None:
        """Megapixels per second (input pixels), None when not timed."""
        med = self.median_s
        return math.prod(self.cand.shape) / 1e6 / med if med else None

    def to_dict(self) -> dict:
        """JSON-ready record."""
        c = self.cand
        return {
            "id": c.id, "group": c.group, "backend": c.backend, "dtype": c.dtype, "batch": c.batch,
            "shape": list(c.shape),
            "name": c.name, "kind": c.kind, "data_dtype": c.data_dtype, "library": c.library,
            "status": self.status, "reason": self.reason, "median_s": self.median_s, "mpx_per_s": self.mpx_per_s,
            "times_s": self.times_s, "loops_per_sample": self.loops,
        }


def _one_sample(fn, loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops


def _error(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def time_comparison(cands, batches: Batches, *, repeat: int = 5, budget_s: float = 1.0, max_call_s: float = 3.0,
                    rates: dict | None = None, libs: dict | None = None) -> list[Result]:
    """Time the candidates of one comparison, interleaved.

    Parameters
    ----------
    cands : list of Candidate
        Usually one comparison (same group, backend, dtype and shape).
    batches : Batches
        Input cache.
    repeat : int
        Most samples per candidate.
    budget_s : float
        About how many seconds of timed calls each candidate gets; fewer
        samples (at least one) when its calls are slow.
    max_call_s : float
        Skip a candidate whose known rate (``rates``) predicts a longer call.
    rates : dict, optional
        ``(group, backend, name, data_dtype) -> Mpx/s`` from smaller batches;
        updated with this comparison's results.
    libs : dict, optional
        Shared peer-library cache (see :func:`~fastct.bench.registry.prepare`).

    Returns
    -------
    list of Result
        In the order of ``cands``.

    Examples
    --------
    >>> from fastct.bench.registry import candidates
    >>> res = time_comparison(candidates(["window"], ["cpu"], ["int16"], [(1, 32, 32)]), Batches(), repeat=2)
    >>> res[0].cand.name, res[0].status, res[0].mpx_per_s > 0
    ('fastct', 'ok', True)
    """
    rates = {} if rates is None else rates
    results = [Result(c) for c in cands]
    live = []  # (result, fn, samples wanted)
    for res in results:
        c = res.cand
        key = (c.group, c.backend, c.name, c.data_dtype)
        known = rates.get(key)
        if known:
            estimate = math.prod(c.shape) / 1e6 / known
            if estimate > max_call_s:
                res.status = "skipped"
                res.reason = (f"estimated {estimate:.1f} s per call from {known:.1f} Mpx/s on a smaller batch "
                              f"(limit {max_call_s:g} s)")
                continue
        try:
            fn = prepare(c, batches, libs)
            fn()  # warm-up: compile or load kernels, plans, caches; page in the output
            first = _one_sample(fn, 1)
        except Unavailable as exc:
            res.status, res.reason = exc.status, exc.reason
            continue
        except Exception as exc:  # noqa: BLE001 - a peer failing is reported, never fatal
            res.status, res.reason = "failed", _error(exc)
            continue
        res.loops = 1 if first >= MIN_SAMPLE_S else min(MAX_LOOPS, math.ceil(MIN_SAMPLE_S / max(first, 1e-9)))
        if res.loops == 1:  # the first timed call counts as a sample
            res.times_s.append(first)
        wanted = max(1, min(repeat, int(budget_s / max(first * res.loops, 1e-9))))
        live.append((res, fn, wanted))
    while True:
        pending = [(res, fn) for res, fn, wanted in live if len(res.times_s) < wanted and res.status == "ok"]
        if not pending:
            break
        for res, fn in pending:
            try:
                res.times_s.append(_one_sample(fn, res.loops))
            except Exception as exc:  # noqa: BLE001
                res.status, res.reason, res.times_s = "failed", _error(exc), []
    for res in results:
        if res.status == "ok" and res.mpx_per_s:
            c = res.cand
            rates[(c.group, c.backend, c.name, c.data_dtype)] = res.mpx_per_s
    return results


def run(cands, *, repeat: int = 5, budget_s: float = 1.0, max_call_s: float = 3.0, progress=None,
        batches: Batches | None = None) -> list[Result]:
    """Time every candidate, comparison by comparison, smaller batches first.

    Parameters
    ----------
    cands : list of Candidate
    repeat, budget_s, max_call_s
        As in :func:`time_comparison`.
    progress : callable, optional
        Called with each comparison's list of results as it finishes.
    batches : Batches, optional
        Input cache (a fresh one by default; freed at the end).

    Returns
    -------
    list of Result

    Examples
    --------
    >>> from fastct.bench.registry import candidates
    >>> res = run(candidates(["erode"], ["cpu"], ["uint8"], [(1, 32, 32)]), repeat=1)
    >>> {r.status for r in res} <= {"ok", "absent", "unsupported"}
    True
    """
    own = batches is None
    batches = Batches() if own else batches
    groups: dict = {}
    for c in cands:
        groups.setdefault(c.comparison, []).append(c)
    # smaller batches first, so their rates can predict (and skip) hopeless calls on larger ones
    order = sorted(groups, key=lambda k: (k[1], math.prod(k[3])))
    rates: dict = {}
    libs: dict = {}
    out = []
    for key in order:
        res = time_comparison(groups[key], batches, repeat=repeat, budget_s=budget_s, max_call_s=max_call_s,
                              rates=rates, libs=libs)
        out += res
        if progress is not None:
            progress(res)
    if own:
        batches.clear()
    return out
