"""The ``fastct bench`` command.

:func:`register` adds it to the ``fastct`` parser; importing this module
imports no backend and no peer library. Exit status: 0 when every fastct
candidate ran (peers may be absent or fail: that is reported), 1 when a
fastct candidate failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Where a source checkout keeps the speed targets, relative to its root. They
#: are the benchmarks' business, so they are not installed with fastct.
TARGETS_FILE = Path("benchmarks") / "targets.py"
_targets_lock = threading.Lock()
_targets_loaded: dict = {}

_EPILOG = """\
examples:
  fastct bench                                  # every op, int16/uint8/float32, 1x512x512 and 64x512x512
  fastct bench --quick                          # small smoke run (seconds)
  fastct bench --ops erode,pipeline --dtypes int16 --batch 64x512x512 --repeat 9
  fastct bench --backend gpu --out results/gpu.json

Every candidate is called once untimed (compiles numba kernels, fills caches),
then timed round-robin with the others of its comparison; the median is
reported. GPU calls synchronise the device inside the timed call. Ratios are
time ratios: t/peer = fastct's time / the fastest peer's (below 1: fastct is
faster), t/copy = fastct's time / a plain copy of the same bytes.
Peers: OpenCV (per-slice loop, on the CT dtype and on its best dtype),
scipy.ndimage, scikit-image, scipy.fft (workers=-1), NumPy; on a GPU
cupyx.scipy.ndimage, cuCIM and cupyx.scipy.fft. A peer that is not installed
is reported as absent. Also measured, each in a fresh process: import and
first-call time with a warm kernel cache, and peak memory per op.
Last, the performance issue's CPU targets, each checked against this run's own
numbers at 64x512x512: met, not met, or not measured (a candidate it needs is
not in the run, e.g. with --ops, --dtypes, --batch or --quick). The targets
live in benchmarks/targets.py of fastct's source checkout (or --targets FILE);
an installed fastct without one reports them as not checked.
"""


def checkout_targets() -> Path:
    """The targets file of the source checkout this fastct is imported from (it may not exist).

    Examples
    --------
    >>> checkout_targets().name
    'targets.py'
    """
    return Path(__file__).resolve().parents[2] / TARGETS_FILE


def load_targets(path=None):
    """The speed targets module (``benchmarks/targets.py``), or None where there is none.

    Parameters
    ----------
    path : str or Path, optional
        A targets file (``fastct bench --targets``). Default: the one of the
        source checkout fastct runs from (:func:`checkout_targets`); an
        installed fastct has none, and then None is returned.

    Returns
    -------
    module or None
        With ``evaluate``, ``format_targets``, ``TARGETS`` ... (loaded once
        per file).

    Raises
    ------
    fastct.errors.InvalidArgumentError
        ``path`` was given and is not a file.

    Examples
    --------
    >>> tg = load_targets()
    >>> tg is None or tg.by_id()["pipeline_vs_copy"].limit == 3.0
    True
    """
    from ..errors import InvalidArgumentError

    file = checkout_targets() if path is None else Path(path)
    if not file.is_file():
        if path is None:
            return None
        raise InvalidArgumentError(f"--targets: expected a targets file (benchmarks/targets.py), got {str(path)!r}")
    key = str(file.resolve())
    with _targets_lock:
        module = _targets_loaded.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(f"_fastct_bench_targets_{len(_targets_loaded)}", file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[spec.name]
                raise
            _targets_loaded[key] = module
    return module


def _csv(choices, what):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if items == ["all"]:
            return list(choices)
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, bad)) or repr(text)}; expected a comma-separated list of "
                f"{', '.join(choices)} (or all)"
            )
        return list(dict.fromkeys(items))

    return parse


def _batches(text: str):
    from .registry import parse_batch

    try:
        return [parse_batch(t) for t in text.split(",") if t.strip()] or [parse_batch(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def register(subparsers) -> None:
    """Add ``bench`` to the ``fastct`` subcommand parsers.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser(prog="fastct").add_subparsers()
    >>> register(sub)
    """
    from .data import DTYPES
    from .registry import GROUPS

    p = subparsers.add_parser(
        "bench",
        help="benchmark every op against OpenCV, scipy, scikit-image and a plain copy",
        description=(
            "Time each op x backend x dtype x batch, and the default pipeline, side by side with peer libraries\n"
            "and a copy of the same bytes, in one run. Prints a table of Mpx/s and time ratios and writes a\n"
            "JSON report and a PNG bar chart."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu", "all"),
                   help="auto (default): the CPU, plus the GPU when it is usable; all: both, the GPU required")
    p.add_argument("--ops", type=_csv(GROUPS, "op"), default=list(GROUPS), metavar="OP[,OP...]",
                   help=f"ops to run (default all: {', '.join(GROUPS)})")
    p.add_argument("--dtypes", type=_csv(DTYPES, "dtype"), default=list(DTYPES), metavar="DTYPE[,...]",
                   help=f"input dtypes (default {','.join(DTYPES)})")
    p.add_argument("--batch", type=_batches, default=None, metavar="NxHxW[,...]",
                   help="batch shapes (default 1x512x512,64x512x512; --quick: 1x64x64,4x64x64)")
    p.add_argument("--repeat", type=_positive(int), default=None, metavar="N",
                   help="most timed samples per candidate (default 5; --quick: 3)")
    p.add_argument("--budget", type=_positive(float), default=None, metavar="SECONDS",
                   help="about this much timed time per candidate; slow calls get fewer samples "
                        "(default 0.6; --quick: 0.05)")
    p.add_argument("--max-call", type=_positive(float), default=3.0, metavar="SECONDS",
                   help="skip a candidate whose rate on a smaller batch predicts longer calls (default 3)")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="JSON report; the chart goes beside it as .png "
                        "(default benchmarks/results/<machine>.json, --quick: <machine>-quick.json)")
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run of seconds")
    p.add_argument("--no-startup", action="store_true", help="skip the import / first-call measurement")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--targets", type=Path, default=None, metavar="FILE",
                   help=f"speed targets to check the run against (default {TARGETS_FILE} of the source checkout "
                        "fastct runs from; without one they are not checked)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print every candidate's result")
    p.set_defaults(func=cmd_bench)


def _usage(message: str) -> int:
    print(f"fastct bench: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _resolve_backends(choice: str):
    """Backends to run, or an error message."""
    from .. import backends

    gpu = backends.status("gpu")
    if choice == "cpu":
        return ["cpu"], None
    if choice == "auto":
        return (["cpu", "gpu"] if gpu.available else ["cpu"]), None
    if not gpu.available:
        return None, f"--backend {choice}: the GPU backend is unavailable here: {gpu.reason}"
    return (["gpu"] if choice == "gpu" else ["cpu", "gpu"]), None


def _gpu_name() -> str | None:
    try:
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - only a label
        return None


def resolve_settings(args) -> str | None:
    """Fill the defaults that depend on other options (--quick, the batches, the GPU); an error or None."""
    from .machine import machine_name
    from .registry import DEFAULT_BATCHES, QUICK_BATCHES

    if getattr(args, "backends", None) is None:
        args.backends, error = _resolve_backends(args.backend)
        if error:
            return error
    if args.batch is None:
        args.batch = list(QUICK_BATCHES if args.quick else DEFAULT_BATCHES)
    args.repeat = args.repeat or (3 if args.quick else 5)
    args.budget = args.budget or (0.05 if args.quick else 0.6)
    largest = max(args.batch, key=lambda b: b[0] * b[1] * b[2])
    args.memory_shape = largest  # the check is at 64x512x512, the default's largest batch
    args.startup_shape = (1, largest[1], largest[2]) if args.quick else (1, 512, 512)
    args.startup_runs = 1 if args.quick else 3
    args.gpu_name = _gpu_name() if "gpu" in args.backends else None
    args.machine = machine_name(args.gpu_name) + ("-quick" if args.quick else "")
    if args.out is None:
        args.out = Path("benchmarks") / "results" / f"{args.machine}.json"
    if args.out.suffix.lower() != ".json":
        return f"--out: expected a .json file name, got {str(args.out)!r}"
    return None


def run_bench(args) -> tuple[dict, list, list]:
    """Run a parsed ``fastct bench``: returns (report dict, results, summary).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(); register(sub)
    >>> args = parser.parse_args(["bench", "--quick", "--ops", "window", "--dtypes", "int16",
    ...                           "--batch", "1x32x32", "--no-startup", "--no-memory"])
    >>> args.backends = ["cpu"]
    >>> resolve_settings(args)
    >>> report, results, summary = run_bench(args)
    >>> summary[0]["group"], report["settings"]["quick"]
    ('window', True)
    """
    from . import process_stats, runner
    from . import report as rep
    from .machine import machine_info, source_state
    from .peers import VERSION_MODULES, library_names
    from .registry import OP_PARAMS, candidates

    t0 = time.perf_counter()
    targets = load_targets(getattr(args, "targets", None))  # a bad --targets fails before any timing
    cands = candidates(args.ops, args.backends, args.dtypes, args.batch)

    live = sys.stderr.isatty()  # a one-line progress display, only on a terminal

    def progress(res):
        c = res[0].cand
        if args.verbose:
            for r in res:
                rate = f"{r.mpx_per_s:10.1f} Mpx/s" if r.mpx_per_s else f"{r.status:>16}"
                print(f"  {c.group:<14}{c.backend:<5}{c.dtype:<8}{c.batch:>11}  {r.cand.name:<36}{rate}"
                      + (f"  ({r.reason})" if r.reason and r.status != "unsupported" else ""), flush=True)
        elif live:
            print(f"\r  {c.backend} {c.batch} {c.group} {c.dtype}".ljust(60), end="", flush=True, file=sys.stderr)

    results = runner.run(cands, repeat=args.repeat, budget_s=args.budget, max_call_s=args.max_call, progress=progress)
    if live and not args.verbose:
        print("\r".ljust(61), end="\r", file=sys.stderr)
    summary = rep.summarize(results)
    extras = {}
    if "cpu" in args.backends and not args.no_startup:
        try:
            extras["startup"] = process_stats.measure_startup(args.startup_shape, runs=args.startup_runs)
        except Exception as exc:  # noqa: BLE001 - reported, the timings stand on their own
            extras["startup"] = {"error": f"{type(exc).__name__}: {exc}"}
    if "cpu" in args.backends and not args.no_memory:
        try:
            extras["memory"] = process_stats.measure_memory(args.memory_shape, args.ops)
        except Exception as exc:  # noqa: BLE001
            extras["memory"] = {"error": f"{type(exc).__name__}: {exc}"}
    info = machine_info("cv2", "scipy", "skimage", "PIL", *(["cupy", "cucim"] if "gpu" in args.backends else []))
    peers = {}
    for backend in args.backends:
        peers[backend] = {}
        for key, display in library_names(backend).items():
            absent = any(r.status == "absent" and r.cand.library == key and r.cand.backend == backend
                         for r in results)
            version = "absent" if absent else info["versions"].get(VERSION_MODULES[backend][key])
            if version is None:
                from .machine import package_version

                version = package_version(VERSION_MODULES[backend][key])
            peers[backend][display] = version
    report = {
        "schema": "fastct-bench/1",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": dict(info, gpu=args.gpu_name),
        "source": source_state(),
        "settings": {
            "backends": args.backends, "ops": args.ops, "dtypes": args.dtypes,
            "batches": ["x".join(map(str, b)) for b in args.batch], "repeat": args.repeat,
            "budget_s": args.budget, "max_call_s": args.max_call, "quick": bool(args.quick),
            "statistic": "median seconds per call; Mpx/s = input pixels / median",
            "ratios": "time ratios: time_vs_best_peer = fastct / fastest peer, time_vs_copy = fastct / copy floor",
            "data": "synthetic chest CT phantom (fastct.datasets.chest_phantom), int16 HU; uint8 = (HU + 1024) >> 4; "
                    "float32 = HU; at most 8 distinct slices, repeated",
        },
        "op_params": {g: OP_PARAMS[g] for g in args.ops},
        "peers": peers,
        "headline": rep.headline(summary),
        "summary": summary,
        "startup": extras.get("startup"),
        "memory": extras.get("memory"),
        "results": [r.to_dict() for r in results],
        "targets": None,
        "targets_file": targets.__file__ if targets else None,
        "wall_s": None,
    }
    if targets:
        report["targets"] = targets.evaluate(report["results"], report["startup"], report["memory"])
    report["wall_s"] = time.perf_counter() - t0
    return report, results, summary


def cmd_bench(args) -> int:
    """Entry point of ``fastct bench`` (after argument parsing)."""
    from ..errors import InvalidArgumentError
    from . import report as rep

    error = resolve_settings(args)
    if error:
        return _usage(error)
    try:
        targets = load_targets(args.targets)
    except InvalidArgumentError as exc:
        return _usage(str(exc))
    out, name = args.out, args.machine

    print(f"fastct bench: {', '.join(args.backends)}; ops {','.join(args.ops)}; dtypes {','.join(args.dtypes)}; "
          f"batches {', '.join('x'.join(map(str, b)) for b in args.batch)}; up to {args.repeat} samples each")
    report, results, summary = run_bench(args)
    print(rep.format_table(summary))
    skipped = rep.not_timed(results)
    if skipped:
        print("\nnot timed:")
        print("\n".join("  " + line for line in skipped))
    print()
    text = rep.format_headline(report["headline"])
    if text:
        print(text)
    extras = rep.format_extras(report["startup"], report["memory"])
    if extras:
        print(extras)
    order = report["machine"].get("memory", {}).get("free_page_reporting_order")
    if order is not None:
        print(f"note: this virtual machine reports freed memory to its host (free page reporting, order {order}); "
              "calls that allocate their result may then stall on host page faults, so compare ratios across "
              "runs (benchmarks/README.md)")
    if targets:
        text = targets.format_targets(report["targets"], quick=args.quick)
        if text:
            print("\n" + text)
    else:
        print(f"\ntargets: not checked: no {TARGETS_FILE} here (the speed targets live in fastct's source "
              f"checkout, not in the installed package; pass --targets FILE to check them)")
    chart = rep.write_chart(summary, out.with_suffix(".png"),
                            title=f"fastct bench on {name} ({report['date'][:10]}): Mpx/s, higher is better")
    report["chart"] = chart.name if chart else None
    path = rep.write_json(report, out)
    print(f"wrote {path}" + (f" and {chart}" if chart else " (no chart: Pillow is not installed)")
          + f"; {report['wall_s']:.0f} s")
    failed: dict = {}
    for r in results:
        if r.cand.kind == "fastct" and r.status == "failed":
            failed.setdefault(r.reason, []).append(r.cand.id)
    for reason, ids in failed.items():
        print(f"fastct bench: fastct failed in {len(ids)} case(s) (first {ids[0]}): {reason}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK
