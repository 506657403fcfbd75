"""Benchmark report: the summary per comparison, a text table, JSON and a PNG bar chart.

Ratios are time ratios, the way the performance targets are written:
``t/peer`` is fastct's median time over the fastest peer's (below 1: fastct
is faster), ``t/copy`` fastct's time over the copy floor's (at least 1; how
many copies of the same bytes the op costs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .. import _draw
from ..errors import MissingDependencyError
from .data import DTYPES
from .registry import GROUPS, OPS

_DTYPE_ORDER = {d: i for i, d in enumerate(DTYPES)}


def summarize(results) -> list[dict]:
    """One row per comparison: fastct, its fastest peer and the copy floor.

    Parameters
    ----------
    results : list of :class:`~fastct.bench.runner.Result`

    Returns
    -------
    list of dict
        Keys ``group, backend, dtype, batch, fastct_mpx_s, best_peer,
        best_peer_mpx_s, floor, floor_mpx_s, time_vs_best_peer, time_vs_copy``;
        a value is None where that candidate did not run.

    Examples
    --------
    >>> from fastct.bench import registry, runner
    >>> res = runner.run(registry.candidates(["window"], ["cpu"], ["int16"], [(1, 32, 32)]), repeat=1)
    >>> row = summarize(res)[0]
    >>> row["group"], row["time_vs_copy"] > 0
    ('window', True)
    """
    rows: dict = {}
    for r in results:
        c = r.cand
        row = rows.setdefault(c.comparison, {
            "group": c.group, "backend": c.backend, "dtype": c.dtype, "batch": c.batch, "pixels": math.prod(c.shape),
            "fastct_mpx_s": None, "fastct_status": None, "best_peer": None, "best_peer_mpx_s": None,
            "floor": None, "floor_mpx_s": None, "peers_timed": 0, "peers_not_timed": 0,
            "_t": {},
        })
        med = r.median_s if r.status == "ok" else None
        if c.kind == "fastct":
            row["fastct_mpx_s"], row["fastct_status"], row["_t"]["fastct"] = r.mpx_per_s, r.status, med
            if r.status != "ok":
                row["fastct_reason"] = r.reason
        elif c.kind == "floor":
            row["floor"], row["floor_mpx_s"], row["_t"]["floor"] = c.name, r.mpx_per_s, med
        elif med is not None:
            row["peers_timed"] += 1
            if row["_t"].get("peer") is None or med < row["_t"]["peer"]:
                row["best_peer"], row["best_peer_mpx_s"], row["_t"]["peer"] = c.name, r.mpx_per_s, med
        else:
            row["peers_not_timed"] += 1
    out = []
    for row in rows.values():
        t = row.pop("_t")
        f = t.get("fastct")
        row["time_vs_best_peer"] = f / t["peer"] if f and t.get("peer") else None
        row["time_vs_copy"] = f / t["floor"] if f and t.get("floor") else None
        out.append(row)
    return out


def _geomean(values):
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def headline(summary: list[dict]) -> dict:
    """The numbers worth a sentence, per backend at its largest batch.

    The default pipeline on int16 (``pipeline_time_vs_best_peer``,
    ``pipeline_time_vs_copy``), the geometric mean of ``t/peer`` over the
    ops on int16 and over every op x dtype, and how many comparisons fastct
    wins. Ops are those of :data:`~fastct.bench.registry.OPS`: the size
    variants (``erode_15x15``, ``gaussian_sigma8`` ...) repeat three of them
    with other parameters and would weigh those three twice or three times.

    Examples
    --------
    >>> headline([])
    {}
    """
    out = {}
    for backend in sorted({r["backend"] for r in summary}):
        rows = [r for r in summary if r["backend"] == backend]
        largest = max(r["pixels"] for r in rows)
        big = [r for r in rows if r["pixels"] == largest]
        ops = [r for r in big if r["group"] in OPS]
        ratios = [r["time_vs_best_peer"] for r in ops if r["time_vs_best_peer"]]
        pipe = next((r for r in big if r["group"] == "pipeline" and r["dtype"] == "int16"), None)
        out[backend] = {
            "batch": big[0]["batch"],
            "pipeline_int16_best_peer": pipe and pipe["best_peer"],
            "pipeline_int16_time_vs_best_peer": pipe and pipe["time_vs_best_peer"],
            "pipeline_int16_time_vs_copy": pipe and pipe["time_vs_copy"],
            "ops_int16_geomean_time_vs_best_peer": _geomean(r["time_vs_best_peer"] for r in ops
                                                            if r["dtype"] == "int16"),
            "ops_all_dtypes_geomean_time_vs_best_peer": _geomean(ratios),
            "ops_faster_than_best_peer": sum(1 for v in ratios if v < 1),
            "ops_compared": len(ratios),
        }
    return out


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def _ratio(v) -> str:
    """Two decimals below 100, none above (the column stays narrow)."""
    return "-" if v is None else format(v, ".2f" if v < 100 else ".0f")


def format_table(summary: list[dict]) -> str:
    """The summary as a text table, grouped by op.

    Examples
    --------
    >>> print(format_table([]).splitlines()[0].split()[:3])
    ['op', 'backend', 'dtype']
    """
    w = max([14] + [len(r["group"]) + 2 for r in summary])  # the op column fits the longest group name
    head = (f"{'op':<{w}}{'backend':<8}{'dtype':<8}{'batch':>11}  {'fastct':>8}  {'best peer':<32}{'peer':>8}"
            f"  {'copy':>8}  {'t/peer':>8}  {'t/copy':>8}")
    lines = [head, f"{'':<{w + 27}}  {'Mpx/s':>8}  {'':<32}{'Mpx/s':>8}  {'Mpx/s':>8}", "-" * len(head)]
    order = {g: i for i, g in enumerate(GROUPS)}
    last = None
    for r in sorted(summary, key=lambda r: (order.get(r["group"], 99), r["backend"], _DTYPE_ORDER.get(r["dtype"], 9),
                                            r["pixels"])):
        name = r["group"] if r["group"] != last else ""
        if name and last is not None:
            lines.append("")
        last = r["group"]
        fast = _fmt(r["fastct_mpx_s"], ".0f", r["fastct_status"] or "-")
        lines.append(
            f"{name:<{w}}{r['backend']:<8}{r['dtype']:<8}{r['batch']:>11}  {fast:>8}  {(r['best_peer'] or '-'):<32}"
            f"{_fmt(r['best_peer_mpx_s'], '.0f'):>8}  {_fmt(r['floor_mpx_s'], '.0f'):>8}  "
            f"{_ratio(r['time_vs_best_peer']):>8}  {_ratio(r['time_vs_copy']):>8}"
        )
    return "\n".join(lines)


def format_headline(head: dict) -> str:
    """One or two sentences per backend.

    Examples
    --------
    >>> format_headline({})
    ''
    """
    lines = []
    for backend, h in head.items():
        if h["pipeline_int16_time_vs_best_peer"] is not None:
            lines.append(
                f"{backend} {h['batch']}: default pipeline on int16 takes {h['pipeline_int16_time_vs_best_peer']:.2f}x "
                f"the time of the best peer ({h['pipeline_int16_best_peer']}) and "
                f"{_fmt(h['pipeline_int16_time_vs_copy'], '.2f')}x the int16->float32 copy"
            )
        if h["ops_compared"]:
            lines.append(
                f"{backend} {h['batch']}: ops, time vs best peer, geometric mean "
                f"{_fmt(h['ops_int16_geomean_time_vs_best_peer'], '.2f')}x on int16, "
                f"{_fmt(h['ops_all_dtypes_geomean_time_vs_best_peer'], '.2f')}x over all dtypes; "
                f"fastct faster in {h['ops_faster_than_best_peer']} of {h['ops_compared']}"
            )
    return "\n".join(lines)


def format_extras(startup: dict | None, memory: dict | None) -> str:
    """Start-up and peak-memory lines.

    Examples
    --------
    >>> format_extras(None, None)
    ''
    """
    lines = []
    if startup and "import_s" in startup:
        lines.append(
            f"start-up (fresh process, warm numba cache, median of {len(startup['runs'])}): import fastct "
            f"{startup['import_s']:.3f} s (target < {startup['target_import_s']} s), first call "
            f"{startup['first_call_s']:.3f} s on {'x'.join(map(str, startup['shape']))} "
            f"(target < {startup['target_first_call_s']} s)"
        )
    elif startup:
        lines.append(f"start-up: {startup.get('error') or startup.get('skipped')}")
    if memory and "groups" in memory:
        lines.append(f"peak memory, fresh process, {'x'.join(map(str, memory['shape']))} int16, cpu "
                     f"(increase of peak RSS during the call / output size):")
        parts = [f"{name} {rec['ratio']:.2f}x ({rec['increase_bytes'] / 2**20:.0f} MiB)"
                 for name, rec in memory["groups"].items() if rec["ratio"] is not None]
        for i in range(0, len(parts), 4):
            lines.append("  " + ", ".join(parts[i:i + 4]))
    elif memory:
        lines.append(f"peak memory: {memory.get('error') or memory.get('skipped')}")
    return "\n".join(lines)


def not_timed(results) -> list[str]:
    """One line per peer library or reason that kept candidates from being timed.

    Examples
    --------
    >>> not_timed([])
    []
    """
    seen: dict = {}
    for r in results:
        if r.status in ("ok", "unsupported"):
            continue
        key = (r.status, r.cand.name if r.status != "absent" else r.cand.library,
               r.reason if r.status != "skipped" else "over the per-call time limit")
        seen.setdefault(key, []).append(r.cand)
    lines = []
    for (status, name, reason), cands in seen.items():
        places = sorted({f"{c.group} {c.dtype} {c.batch}" for c in cands})
        where = ", ".join(places[:6]) + (f" and {len(places) - 6} more" if len(places) > 6 else "")
        if status == "absent":
            lines.append(f"absent: {reason} (not timed: {len(cands)} candidates)")
        else:
            lines.append(f"{status}: {name}: {reason} [{where}]")
    return lines


def write_json(report: dict, path) -> Path:
    """Write ``report`` as indented JSON, creating the folder.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_json({"a": 1}, os.path.join(tempfile.mkdtemp(), "r.json"))
    >>> p.read_text().strip().startswith("{")
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return path


# ---------------------------------------------------------------------------
# chart

_COLOURS = {"fastct": _draw.ACCENT, "best peer": (255, 127, 14), "copy floor": (160, 160, 160)}


def _tick(value: float) -> str:
    """Short axis labels: 10, 100, 1k, 10k, 1M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def write_chart(summary: list[dict], path, title: str = "fastct bench") -> Path | None:
    """A horizontal bar chart (log scale, Mpx/s) of fastct, its best peer and the copy floor.

    One panel per backend and batch, one row per op and dtype. Needs Pillow;
    returns None without it (the chart is optional).

    Parameters
    ----------
    summary : list of dict
        From :func:`summarize`.
    path : str or Path
        PNG to write.
    title : str

    Returns
    -------
    Path or None

    Examples
    --------
    >>> import tempfile, os
    >>> row = {"group": "erode", "backend": "cpu", "dtype": "int16", "batch": "1x8x8", "pixels": 64,
    ...        "fastct_mpx_s": 900.0, "best_peer_mpx_s": 500.0, "floor_mpx_s": 4000.0, "best_peer": "x"}
    >>> p = write_chart([row], os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> p is None or p.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    try:
        Image, ImageDraw = _draw.pillow()
    except MissingDependencyError:
        return None
    order = {g: i for i, g in enumerate(GROUPS)}
    panels = sorted({(r["backend"], r["pixels"], r["batch"]) for r in summary})
    rows = sorted({(r["group"], r["dtype"]) for r in summary},
                  key=lambda k: (order.get(k[0], 99), _DTYPE_ORDER.get(k[1], 9)))
    if not panels or not rows:
        return None
    series = (("fastct", "fastct_mpx_s"), ("best peer", "best_peer_mpx_s"), ("copy floor", "floor_mpx_s"))
    values = [r[key] for r in summary for _, key in series if r[key]]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 1.0
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 10.0
    hi = max(hi, lo * 10)
    bar, gap, label_w, panel_w, top, bottom = 7, 9, 190, 430, 84, 40
    row_h = bar * len(series) + gap
    width = label_w + panel_w * len(panels) + 20
    height = top + row_h * len(rows) + bottom
    img = Image.new("RGB", (width, height), _draw.WHITE)
    draw = ImageDraw.Draw(img)
    _draw.text(draw, (10, 8), title, size=_draw.HEADING)
    x = 10
    for name, colour in _COLOURS.items():  # legend, under the title
        draw.rectangle([x, 34, x + 12, 44], fill=colour)
        _draw.text(draw, (x + 16, 39), name, size=13, anchor="lm")
        x += 120
    index = {(r["backend"], r["pixels"], r["group"], r["dtype"]): r for r in summary}
    span = math.log10(hi) - math.log10(lo)
    for p, (backend, pixels, batch) in enumerate(panels):
        x0 = label_w + p * panel_w
        plot_w = panel_w - 30
        _draw.text(draw, (x0, top - 34), f"{backend}, {batch}  (Mpx/s, log scale)", size=13)
        decade = lo
        while decade <= hi * 1.0001:  # grid lines per decade
            gx = x0 + plot_w * (math.log10(decade) - math.log10(lo)) / span
            draw.line([gx, top - 6, gx, top + row_h * len(rows)], fill=_draw.GRID)
            _draw.text(draw, (gx, top + row_h * len(rows) + 4), _tick(decade), size=10, anchor="ma")
            decade *= 10
        for i, (group, dtype) in enumerate(rows):
            y = top + i * row_h
            if p == 0:
                _draw.text(draw, (10, y + (row_h - gap) // 2), f"{group} {dtype}", size=13, anchor="lm")
            r = index.get((backend, pixels, group, dtype))
            if r is None:
                continue
            for k, (name, key) in enumerate(series):
                v = r[key]
                if not v:
                    continue
                w = plot_w * (math.log10(max(v, lo)) - math.log10(lo)) / span
                yy = y + k * bar
                draw.rectangle([x0, yy, x0 + max(w, 1), yy + bar - 2], fill=_COLOURS[name])
    from ..io.png import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, _draw.png_bytes(img))
