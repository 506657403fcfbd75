"""The performance issue's CPU targets, checked against one ``fastct bench`` run.

They belong to the benchmarks, not to the installed package: ``fastct bench``
loads this file from the source checkout it runs from (or from
``--targets FILE``) with :func:`fastct.bench.command.load_targets`, and
prints "not checked" where there is none.

Each :class:`Target` is a limit on a number the run measured: a time ratio
of two candidates' medians in the same run (CPU backend, 64x512x512), a
start-up time, or a peak-memory ratio. :func:`evaluate` reads the run's own
records (the ``results``, ``startup`` and ``memory`` of the JSON report) and
gives each target a status:

``met`` / ``not met``
    the measured value is at most / above the limit;
``not measured``
    something the target needs is not in the run (``--ops`` or ``--dtypes``
    left a candidate out, a peer is not installed, failed or was skipped,
    ``--quick`` or ``--batch`` ran other sizes, ``--no-memory`` ...); the
    ``note`` says what, never an error.

The targets (see :data:`TARGETS`):

1. the default pipeline on int16 at most 0.5x OpenCV's classic 8-bit chain
   and at most 3x the int16 -> float32 copy floor;
2. erode, dilate and gaussian_blur on int16 and float32 at most 1x OpenCV
   on the same dtype;
3. equalize_hist int16 (one bin per HU) at most 1x ``cv2.equalizeHist`` on uint8;
4. CLAHE int16 at most 0.5x OpenCV's CLAHE on uint16;
5. lowpass and highpass (int16, float32) at most 1x scipy.fft
   ``rfft2``/``irfft2`` with all workers;
6. cost independent of size: erode/dilate 15x15 at most 2x the 3x3 time,
   Gaussian sigma 8 at most 3x sigma 1.1 (int16, float32);
7. ``import fastct`` under 0.3 s, first call with a warm kernel cache under
   1 s (on a 512 x 512 slice);
8. peak RSS increase during a 64x512x512 call at most 1.1x the output.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The batch every timing and memory target is stated at.
TARGET_BATCH = "64x512x512"
#: Peak-memory limit: RSS increase during the call / output bytes (output + small per-thread buffers).
MEMORY_LIMIT = 1.1
STATUSES = ("met", "not met", "not measured")


@dataclass(frozen=True)
class Target:
    """One target: what is measured and its limit.

    Attributes
    ----------
    id : str
        Stable key (``pipeline_vs_opencv_chain``, ``erode_int16_vs_opencv`` ...).
    description : str
        One line, as printed.
    limit : float
        The largest value that meets the target.
    unit : {"x", "s"}
        ``x``: a ratio (time or memory); ``s``: seconds.
    num, den : (group, dtype, candidate name) or None
        For a time ratio: the candidates whose medians are divided (CPU,
        :data:`TARGET_BATCH`).
    startup : str or None
        For a start-up target: the key of the ``startup`` record
        (``import_s`` or ``first_call_s``).
    memory : str or None
        For a memory target: the group of the ``memory`` record.
    """

    id: str
    description: str
    limit: float
    unit: str = "x"
    num: tuple | None = None
    den: tuple | None = None
    startup: str | None = None
    memory: str | None = None

    def candidate_ids(self, batch: str = TARGET_BATCH, backend: str = "cpu") -> list[str]:
        """The ids of what the target reads (as in the results' ``id``).

        Examples
        --------
        >>> by_id()["clahe_int16_vs_opencv_uint16"].candidate_ids()
        ['clahe-cpu-int16-64x512x512-fastct', 'clahe-cpu-int16-64x512x512-OpenCV_uint16']
        >>> by_id()["import_time"].candidate_ids()
        ['startup.import_s']
        """
        if self.startup:
            return [f"startup.{self.startup}"]
        if self.memory:
            return [f"memory.{self.memory}"]
        return [f"{g}-{backend}-{d}-{batch}-{n.replace(' ', '_')}" for g, d, n in (self.num, self.den)]


def _ratio(id_, description, limit, num, den) -> Target:
    return Target(id_, description, float(limit), "x", num=num, den=den)


def _build() -> tuple:
    from fastct.bench.registry import GROUPS

    out = [
        _ratio("pipeline_vs_opencv_chain", "default pipeline int16 / OpenCV classic 8-bit chain", 0.5,
               ("pipeline", "int16", "fastct"), ("pipeline", "int16", "OpenCV classic chain uint8")),
        _ratio("pipeline_vs_copy", "default pipeline int16 / int16->float32 copy", 3,
               ("pipeline", "int16", "fastct"), ("pipeline", "int16", "copy int16->float32")),
    ]
    for op in ("erode", "dilate", "gaussian_blur"):
        for dt in ("int16", "float32"):
            out.append(_ratio(f"{op}_{dt}_vs_opencv", f"{op} {dt} / OpenCV {dt}", 1,
                              (op, dt, "fastct"), (op, dt, f"OpenCV {dt}")))
    out += [
        _ratio("equalize_hist_int16_vs_opencv_uint8", "equalize_hist int16 / cv2.equalizeHist uint8", 1,
               ("equalize_hist", "int16", "fastct"), ("equalize_hist", "int16", "OpenCV uint8")),
        _ratio("clahe_int16_vs_opencv_uint16", "clahe int16 / OpenCV CLAHE uint16", 0.5,
               ("clahe", "int16", "fastct"), ("clahe", "int16", "OpenCV uint16")),
    ]
    for op in ("lowpass", "highpass"):
        for dt in ("int16", "float32"):
            out.append(_ratio(f"{op}_{dt}_vs_scipy_fft", f"{op} {dt} / scipy.fft rfft2+irfft2", 1,
                              (op, dt, "fastct"), (op, dt, "scipy.fft")))
    for op in ("erode", "dilate"):
        for dt in ("int16", "float32"):
            out.append(_ratio(f"{op}_15x15_vs_3x3_{dt}", f"{op} {dt}: 15x15 / 3x3", 2,
                              (f"{op}_15x15", dt, "fastct"), (op, dt, "fastct")))
    # The default Gaussian is exact at every sigma: wide kernels are held to
    # OpenCV's GaussianBlur with the same 65 taps, not to the box cascade.
    for dt in ("int16", "float32"):
        out.append(_ratio(f"gaussian_sigma8_{dt}_vs_opencv", f"gaussian {dt} sigma 8 (exact) / OpenCV {dt} 65x65", 1,
                          ("gaussian_sigma8", dt, "fastct"), ("gaussian_sigma8", dt, f"OpenCV {dt}")))
    out += [
        Target("import_time", "import fastct, fresh process", 0.3, "s", startup="import_s"),
        Target("first_call_time", "first call, warm kernel cache, 1x512x512", 1.0, "s", startup="first_call_s"),
    ]
    for group in sorted(GROUPS, key=lambda g: g != "pipeline"):  # the default pipeline first
        out.append(Target(f"memory_{group}", f"peak RSS increase / output, {group} int16", MEMORY_LIMIT,
                          memory=group))
    return tuple(out)


#: Every target, in the order they are printed.
TARGETS: tuple = _build()


def by_id() -> dict:
    """:data:`TARGETS` by id.

    Examples
    --------
    >>> by_id()["pipeline_vs_copy"].limit
    3.0
    """
    return {t.id: t for t in TARGETS}


def _record(t: Target, status: str, measured=None, note: str | None = None, batch: str = TARGET_BATCH) -> dict:
    return {"id": t.id, "description": t.description, "measured": measured, "limit": t.limit, "unit": t.unit,
            "status": status, "candidates": t.candidate_ids(batch), "note": note}


def _judge(t: Target, value: float, batch: str, note: str | None = None) -> dict:
    return _record(t, "met" if value <= t.limit else "not met", value, note, batch)


def _shape_text(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def _time_ratio(t: Target, index: dict, batch: str, backend: str) -> dict:
    recs = [index.get((backend, batch, g, d, n)) for g, d, n in (t.num, t.den)]
    if all(r is not None for r in recs):
        for (g, d, n), r in zip((t.num, t.den), recs, strict=True):
            if r.get("status") != "ok" or not r.get("median_s"):
                why = r.get("reason") or r.get("status")
                return _record(t, "not measured", None, f"{n} ({g} {d}) {r.get('status')}: {why}", batch)
        return _judge(t, recs[0]["median_s"] / recs[1]["median_s"], batch)
    present = {(k[2], k[3], k[4]) for k in index if k[0] == backend}
    missing = [f"{n} ({g} {d})" for g, d, n in (t.num, t.den) if (g, d, n) not in present]
    if missing:
        return _record(t, "not measured", None, f"not in this run: {', '.join(missing)}", batch)
    note = f"no {backend} {batch} batch in this run"
    batches = {k[1] for k in index if k[0] == backend}
    for b in sorted(batches, key=lambda b: [int(v) for v in b.split("x")], reverse=True):
        rs = [index.get((backend, b, g, d, n)) for g, d, n in (t.num, t.den)]
        if all(r is not None and r.get("status") == "ok" and r.get("median_s") for r in rs):
            # the same ratio at the run's largest other batch, for information only
            note += f"; {rs[0]['median_s'] / rs[1]['median_s']:.2f}x at {b}"
            break
    return _record(t, "not measured", None, note, batch)


def _startup(t: Target, startup: dict | None) -> dict:
    if not startup:
        return _record(t, "not measured", None, "start-up not measured: --no-startup, or no cpu backend")
    if t.startup not in startup:
        return _record(t, "not measured", None, f"start-up: {startup.get('error') or startup.get('skipped')}")
    value = float(startup[t.startup])
    shape = startup.get("shape") or []
    if t.startup == "first_call_s" and len(shape) == 3 and (shape[1] < 512 or shape[2] < 512):
        return _record(t, "not measured", None,
                       f"first call timed on {_shape_text(shape)} (target: 512x512 slices): {value:.3f} s")
    return _judge(t, value, TARGET_BATCH)


def _memory(t: Target, memory: dict | None, batch: str) -> dict:
    if not memory:
        return _record(t, "not measured", None, "memory not measured: --no-memory, or no cpu backend")
    groups = memory.get("groups")
    if groups is None:
        return _record(t, "not measured", None, f"memory: {memory.get('error') or memory.get('skipped')}")
    rec = groups.get(t.memory)
    if rec is None or rec.get("ratio") is None:
        return _record(t, "not measured", None, f"not in this run: {t.memory}")
    shape = _shape_text(memory.get("shape") or [])
    if shape != batch:
        return _record(t, "not measured", None, f"memory measured on {shape}, not {batch}: {rec['ratio']:.2f}x")
    extra = rec.get("extra_bytes")
    note = f"{extra / 2**20:+.1f} MiB beyond the output" if extra is not None else None
    return _judge(t, float(rec["ratio"]), batch, note)


def evaluate(results, startup: dict | None = None, memory: dict | None = None, *, batch: str = TARGET_BATCH,
             backend: str = "cpu", targets=None) -> list[dict]:
    """Every target's measured value and status, from one run's records.

    Parameters
    ----------
    results : list of dict
        The run's ``results`` (:meth:`~fastct.bench.runner.Result.to_dict`):
        ``group, backend, dtype, batch, name, status, median_s`` are read.
    startup, memory : dict or None
        The run's ``startup`` and ``memory`` records (None: not measured).
    batch : str
        The batch the timing and memory targets are read at (the targets
        are stated at :data:`TARGET_BATCH`; another value is for tests).
    backend : str
        The backend the timing targets are read on (they are CPU targets).
    targets : sequence of Target, optional
        Default :data:`TARGETS`.

    Returns
    -------
    list of dict
        One per target: ``id, description, measured, limit, unit, status,
        candidates, note``; ``status`` is ``met``, ``not met`` or
        ``not measured`` (then ``measured`` is None and ``note`` says why).

    Examples
    --------
    >>> def rec(group, name, t):
    ...     return {"group": group, "backend": "cpu", "dtype": "int16", "batch": "64x512x512",
    ...             "name": name, "status": "ok", "median_s": t}
    >>> runs = [rec("pipeline", "fastct", 0.02), rec("pipeline", "OpenCV classic chain uint8", 0.05),
    ...         rec("pipeline", "copy int16->float32", 0.005)]
    >>> out = {r["id"]: r for r in evaluate(runs)}
    >>> out["pipeline_vs_opencv_chain"]["status"], round(out["pipeline_vs_opencv_chain"]["measured"], 2)
    ('met', 0.4)
    >>> out["pipeline_vs_copy"]["status"], out["pipeline_vs_copy"]["measured"]
    ('not met', 4.0)
    >>> out["erode_int16_vs_opencv"]["status"], out["erode_int16_vs_opencv"]["note"]
    ('not measured', 'not in this run: fastct (erode int16), OpenCV int16 (erode int16)')
    """
    index = {}
    for r in results:
        index[(r["backend"], r["batch"], r["group"], r["dtype"], r["name"])] = r
    out = []
    for t in TARGETS if targets is None else targets:
        if t.startup:
            out.append(_startup(t, startup))
        elif t.memory:
            out.append(_memory(t, memory, batch))
        else:
            out.append(_time_ratio(t, index, batch, backend))
    return out


def _value(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.3f} s"
    return f"{v:.2f}x" if v < 100 else f"{v:.0f}x"


def format_targets(records: list[dict], quick: bool = False) -> str:
    """The targets section: one line per target (measured, limit, status, note).

    Parameters
    ----------
    records : list of dict
        From :func:`evaluate`.
    quick : bool
        The run was ``--quick``: a line says why most targets are not measured.

    Examples
    --------
    >>> print(format_targets([{"id": "pipeline_vs_copy", "description": "pipeline / copy", "measured": 4.0,
    ...                        "limit": 3.0, "unit": "x", "status": "not met", "note": None}]))
    targets (performance issue; cpu 64x512x512; ratios of medians from this run; met when measured <= limit):
      pipeline / copy                                         4.00x  <= 3x      not met
    """
    if not records:
        return ""
    head = (f"targets (performance issue; cpu {TARGET_BATCH}; ratios of medians from this run; "
            f"met when measured <= limit):")
    lines = [head]
    if quick:
        lines.append(f"  (--quick runs small batches, not {TARGET_BATCH}: its timing and memory targets are not "
                     f"measured; the value at the largest batch is shown for information)")
    for r in records:
        limit = f"{r['limit']:g}{' s' if r['unit'] == 's' else 'x'}"
        line = f"  {r['description']:<52}{_value(r['measured'], r['unit']):>9}  <= {limit:<7}{r['status']}"
        if r.get("note"):
            line += f"  ({r['note']})"
        lines.append(line)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in STATUSES}
    if len(records) > 1:
        lines.append("  " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
