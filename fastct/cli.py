"""The ``fastct`` command.

``fastct info``      backends, why one is unavailable, versions, threads, device.
``fastct process``   files and folders of scans in, processed files out.
``fastct demo``      the default pipeline on embedded data, with timings and images.
``fastct bench``     every op against peer libraries and a plain copy (:mod:`fastct.bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .errors import (
    BackendUnavailable,
    FastCTError,
    InvalidArgumentError,
    NotImplementedOnBackend,
    OutputExistsError,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: a closed output pipe (SIGPIPE's conventional status, 128 + 13)
EXIT_BROKEN_PIPE = 141


# ---------------------------------------------------------------------------
# fastct info


def _versions() -> dict:
    found = {"fastct": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for name in ("numba", "scipy", "pydicom", "cupy"):
        try:
            module = __import__(name)
            found[name] = getattr(module, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - report, don't fail
            found[name] = f"not available ({type(exc).__name__})"
    return found


def gather_info() -> dict:
    """Everything ``fastct info`` reports, as a JSON-ready dict."""
    from .backends import available_backends, resolve

    statuses = available_backends()
    return {
        "versions": _versions(),
        "platform": platform.platform(),
        "cpu_count": _cpu_count(),
        "backends": {
            name: {"available": st.available, "reason": st.reason, "info": st.info} for name, st in statuses.items()
        },
        "auto": resolve("auto"),
    }


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cmd_info(args) -> int:
    info = gather_info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    print(f"fastct {info['versions']['fastct']} on {info['platform']} ({info['cpu_count']} CPUs)")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if k != "fastct"))
    print("backends:")
    for name, st in info["backends"].items():
        if st["available"]:
            details = ", ".join(f"{k}={v}" for k, v in st["info"].items())
            print(f"  {name}: available ({details})")
        else:
            print(f"  {name}: unavailable - {st['reason']}")
    print(f"auto -> {info['auto']}")
    return EXIT_OK


# ---------------------------------------------------------------------------
# fastct demo


def _montage(before: list, after: list, names: list, steps: str):
    """The demo's picture: inputs on the top row, results below, one column per named slice."""
    from . import _draw

    return _draw.tile_grid(
        [[_draw.display_u8(t) for t in before], [_draw.display_u8(t) for t in after]],
        box=max(max(t.shape) for t in before + after), row_labels=["input", "processed"], column_titles=names,
        heading=f"fastct demo: {steps} (input in the lung window)")


def _median_timings(pipe, batch, backend, runs: int = 5):
    """``(result, [(step, seconds)])`` of ``pipe.run_timed``, each step's median over ``runs`` runs."""
    results = [pipe.run_timed(batch, backend) for _ in range(runs)]
    names = [name for name, _ in results[0][1]]
    medians = [(name, float(np.median([r[1][i][1] for r in results]))) for i, name in enumerate(names)]
    return results[-1][0], medians


def cmd_demo(args) -> int:
    from ._draw import png_bytes
    from .datasets import chest_phantom, ct_sample
    from .errors import MissingDependencyError
    from .io.png import write_atomic
    from .pipeline import Pipeline

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe = Pipeline(args.steps)
    phantom = chest_phantom(args.slices, args.size, seed=0)
    sample = ct_sample()
    print(f"fastct demo: steps {pipe.describe()}")
    print(f"data: synthetic chest phantom {phantom.shape} int16 HU + pydicom's CT_small.dcm {sample.shape} in HU")

    from .backends import resolve

    backend = resolve(args.backend)
    t0 = time.perf_counter()
    pipe.run(phantom[:1], backend)  # first call: compiles (or loads the cached) kernels
    first = time.perf_counter() - t0
    print(f"backend: {backend}; first call (compile or cache load): {first:.2f} s")

    # Per-step timings come from an unfused run; the fused run is what process() does.
    # Each is the median of a few runs after a warm-up on the full batch (thread
    # start-up and first-touch memory are not the steps' cost).
    unfused = Pipeline(pipe, fuse=False)
    unfused.run(phantom, backend)
    pipe.run(phantom, backend)
    _, timings = _median_timings(unfused, phantom, backend)
    result, fused_timings = _median_timings(pipe, phantom, backend)
    sample_out = pipe.run(sample, backend)
    mpx = phantom.size / 1e6

    def row(label, seconds):
        rate = mpx / seconds if seconds else float("inf")
        print(f"{label:<44}{seconds * 1e3:>10.2f}{rate:>10.0f}")

    print(f"{'step (one pass each)':<44}{'ms':>10}{'Mpx/s':>10}")
    for name, seconds in timings:
        row(name, seconds)
    row("total, step by step", sum(t for _, t in timings))
    for name, seconds in fused_timings:
        row(f"{name} (as run)" if "+" not in name else f"fused: {name}", seconds)
    row("total, as process() runs it", sum(t for _, t in fused_timings))

    np.save(out_dir / "phantom_input.npy", phantom)
    np.save(out_dir / "phantom_output.npy", result)
    np.save(out_dir / "ct_sample_input.npy", sample)
    np.save(out_dir / "ct_sample_output.npy", sample_out)
    shown = min(4, len(phantom))
    before = [phantom[i] for i in range(shown)] + [sample]
    after = [result[i] for i in range(shown)] + [sample_out]
    names = [f"phantom slice {i}" for i in range(shown)] + ["CT_small.dcm"]
    try:
        picture = _montage(before, after, names, pipe.describe())
    except MissingDependencyError as exc:  # the timings and arrays stand without the picture
        print(f"wrote 4 .npy arrays to {out_dir.resolve()}; no montage: {exc}")
        return EXIT_OK
    montage = write_atomic(out_dir / "montage.png", png_bytes(picture))
    print(f"wrote {montage} (top: input, lung window; bottom: processed) and 4 .npy arrays to {out_dir.resolve()}")
    return EXIT_OK


# ---------------------------------------------------------------------------
# fastct process

PROCESS_EXAMPLES = """\
examples:
  fastct process scans/ -o out/
      every readable file below scans/ through the default pipeline; out/ mirrors scans/
  fastct process "scans/**/*.dcm" -o out/ --steps "erode:3,dilate:3,gaussian:1.1,equalize" --format dcm
      DICOM in, a derived DICOM series out (new UIDs, geometry kept)
  fastct process study/ volume.nii.gz -o out/ --format npy --backend cpu --batch-size 128
  fastct process scans/ -o out/ --resume
      continue a stopped run: outputs finished with the same settings from unchanged sources are kept,
      the rest is (re)done; other steps, format or options are refused (exit 2) and named
  fastct process ct.dcm -o out/ --steps "window:preset=lung:dtype=uint8" --format png
  fastct process archive/ -o out/ --executor processes --workers 4
  fastct process archive/ -o out/ --scheduler local:4
      one Dask task per file on 4 local worker processes (or --scheduler tcp://host:8786 for a cluster)

formats:
  in:  DICOM (files, series folders, multi-frame; compressed with the dicom extra),
       NIfTI (.nii, .nii.gz, 3-D/4-D), PNG, JPEG, TIFF, BMP, NPY, NPZ - chosen by content
  out: same (keeps the input's; JPEG/BMP -> PNG, NPZ -> NPY), npy, png, tiff, nii, dcm

exit status: 0 all files ok (or skipped), 1 some files failed (the others are written),
             2 usage error (bad option, steps or input; existing outputs; --resume with other
             settings; another run writing to OUTDIR), 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.
A report.json in OUTDIR lists every input path: ok, skipped (why) or failed (error).
"""


def cmd_process(args) -> int:
    from .jobs import ManifestMismatchError, OutputLockedError, process_files

    progress = "quiet" if args.quiet else "auto"
    policy, passphrase = None, None
    if args.deidentify:
        policy, passphrase = _deid_policy(args, "process")
    else:
        given = [f"--{n.replace('_', '-')}" for n in ("key_file", "retain", "linkage") if getattr(args, n)]
        given += [f"--{n.replace('_', '-')}" for n in ("rename", "allow_burned_in") if getattr(args, n)]
        if given:
            raise InvalidArgumentError(f"{', '.join(given)}: de-identification options need --deidentify")
    if args.scheduler:
        return _process_on_cluster(args, progress, policy)
    try:
        summary = process_files(
            args.inputs,
            args.output,
            args.steps,
            backend=args.backend,
            fmt=args.format,
            per_file=args.per_file,
            batch_size=args.batch_size,
            resume=args.resume,
            overwrite=args.overwrite,
            workers=args.workers,
            fill_nan=args.fill_nan,
            png_bits=args.png_bits,
            deidentify=policy,
            volume=args.volume,
            executor="threads" if policy is not None and policy.linkage is not None else args.executor,
            progress=progress,
        )
    except (OutputExistsError, OutputLockedError, ManifestMismatchError, BackendUnavailable,
            NotImplementedOnBackend) as exc:
        print(f"fastct process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if policy is not None:
        _save_linkage(policy, args, passphrase)
    return _process_summary(summary, args)


def _process_summary(summary, args, command: str = "process") -> int:
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.describe())
    if summary.interrupted:
        print(f"fastct {command}: stopped by {summary.signal}; finished outputs are complete, no temporary files "
              "were left (run again with --resume to continue)", file=sys.stderr)
    return summary.exit_code


def _process_on_cluster(args, progress, policy=None) -> int:
    """``fastct process --scheduler``: the same run with the Dask executor, one task per file."""
    from .jobs import ManifestMismatchError, OutputLockedError, connect, process_files

    if policy is not None and policy.linkage is not None:
        raise InvalidArgumentError("--linkage: not with --scheduler (the table is kept by one process); "
                                   "run without --scheduler to write a linkage table")
    client, cluster = connect(args.scheduler)
    try:
        summary = process_files(
            args.inputs, args.output, args.steps, client=client, backend=args.backend, fmt=args.format,
            per_file=args.per_file, batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite,
            fill_nan=args.fill_nan, png_bits=args.png_bits, deidentify=policy, volume=args.volume,
            progress=progress,
        )
    except (OutputExistsError, OutputLockedError, ManifestMismatchError, BackendUnavailable,
            NotImplementedOnBackend) as exc:
        print(f"fastct process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return _process_summary(summary, args)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


#: what ``fastct warmup`` compiles by default: the dtypes scans and images come in
WARMUP_DTYPES = "int16,uint8,uint16,float32"


def cmd_warmup(args) -> int:
    """``fastct warmup``: compile the kernels of a pipeline for some dtypes into the cache, once."""
    from .pipeline import Pipeline

    pipe = Pipeline(args.steps)
    print(f"compiling the {args.backend} kernels of {pipe.describe()} for {args.dtypes} into the kernel cache "
          "(once; each dtype takes seconds, later runs load them at once)", flush=True)
    total = 0.0
    for name in args.dtypes.split(","):
        dtype = np.dtype(name.strip())
        t0 = time.perf_counter()
        pipe.run(np.zeros((1, 64, 64), dtype), args.backend)
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"{dtype}: kernels ready in {seconds:.1f} s")
    print(f"done in {total:.1f} s; later runs of these steps load the kernels from the cache")
    return EXIT_OK


DEIDENTIFY_EXAMPLES = """\
examples:
  fastct deidentify study/ -o shared/ --key-file site.key
  fastct deidentify "archive/**/*.dcm" -o shared/ --retain long-modified-dates,patient-characteristics --rename
  fastct deidentify study/ -o shared/ --key-file site.key --linkage /secure/linkage.bin
  fastct process study/ -o out/ --format nii --deidentify --key-file site.key

The key file holds the secret of the keyed pseudonyms (16 bytes or more): the same key gives the same
pseudonyms on every run and machine, another key unrelated ones. Without --key-file, $FASTCT_DEID_KEY is
used, else a random key (nothing links two runs). The linkage table's passphrase comes from
$FASTCT_LINKAGE_PASSPHRASE or is asked for on the terminal.
"""

#: environment variable holding the passphrase of a linkage table
LINKAGE_PASSPHRASE_ENV = "FASTCT_LINKAGE_PASSPHRASE"


def _add_files_arguments(parser) -> None:
    """The arguments every files-in, files-out command takes (the job engine's)."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders (recursive) or glob patterns")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created)")
    parser.add_argument("--resume", action="store_true",
                        help="keep outputs finished earlier with the same settings from unchanged sources")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output, only the summary")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")


def _add_deid_options(parser, *, in_process: bool) -> None:
    from .deid import OPTIONS

    group = parser.add_argument_group("de-identification (DICOM PS3.15 Annex E, keyed pseudonyms)")
    if in_process:
        group.add_argument("--deidentify", action="store_true",
                           help="de-identify every output: DICOM headers through the profile, NIfTI and image text "
                                "fields blanked; images that may show identifying text are skipped")
    group.add_argument("--key-file", metavar="FILE",
                       help="secret key of the pseudonyms (default: $FASTCT_DEID_KEY, else random per run)")
    group.add_argument("--retain", default="", metavar="OPTION,...",
                       help="profile options, comma-separated: " + ", ".join(o.replace("_", "-") for o in OPTIONS))
    group.add_argument("--rename", action="store_true",
                       help="pseudonymous output names (study-<hex>/series-<hex>/...) instead of the input's")
    group.add_argument("--linkage", metavar="FILE",
                       help="write the table original <-> pseudonym there, encrypted with a passphrase "
                            f"(${LINKAGE_PASSPHRASE_ENV} or asked); it may not lie inside the output folder")
    group.add_argument("--allow-burned-in", action="store_true",
                       help="also write images that may show identifying text in their pixels (unchanged)")


def _deid_policy(args, command: str):
    """The policy of ``--deidentify`` / ``fastct deidentify`` and the linkage passphrase; usage errors raise."""
    from .deid import LinkageTable, Policy
    from .jobs.plan import check_inside

    out = Path(args.output)
    passphrase = None
    if args.linkage:
        linkage = Path(args.linkage)
        try:
            check_inside(linkage.resolve(), out.resolve())
        except FastCTError:
            pass  # outside the output folder: where it belongs
        else:
            raise InvalidArgumentError(f"--linkage: {linkage} lies inside the output folder {out}; the table "
                                       "links pseudonyms back to patients, keep it apart from the shared outputs")
        if linkage.exists() and not args.overwrite:
            raise InvalidArgumentError(f"--linkage: {linkage} exists already (--overwrite replaces it)")
        passphrase = os.environ.get(LINKAGE_PASSPHRASE_ENV)
        if not passphrase:
            if not sys.stdin.isatty():
                raise InvalidArgumentError(f"--linkage: set {LINKAGE_PASSPHRASE_ENV} (no terminal to ask on)")
            import getpass

            passphrase = getpass.getpass(f"fastct {command}: passphrase for {linkage}: ")
            if passphrase != getpass.getpass("again: "):
                raise InvalidArgumentError("--linkage: the two passphrases differ")
    policy = Policy.from_key_file(args.key_file, options=args.retain, allow_burned_in=args.allow_burned_in,
                                  rename=args.rename, linkage=LinkageTable() if args.linkage else None)
    if policy.key_source == "random":
        print(f"fastct {command}: no --key-file or $FASTCT_DEID_KEY: a random key is used, so these outputs "
              "cannot be linked to any other run's (and --resume will refuse them)", file=sys.stderr)
    return policy, passphrase


def _save_linkage(policy, args, passphrase) -> None:
    if policy.linkage is not None:
        path = policy.linkage.save(args.linkage, passphrase, overwrite=args.overwrite)
        print(f"linkage table (encrypted): {path}", file=sys.stderr)


def cmd_deidentify(args) -> int:
    from .jobs import ManifestMismatchError, OutputLockedError
    from .jobs.deidentify import deidentify_files

    policy, passphrase = _deid_policy(args, "deidentify")
    try:
        summary = deidentify_files(args.inputs, args.output, policy, resume=args.resume, overwrite=args.overwrite,
                                   workers=args.workers, progress="quiet" if args.quiet else "auto")
    except (OutputExistsError, OutputLockedError, ManifestMismatchError) as exc:
        print(f"fastct deidentify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _save_linkage(policy, args, passphrase)
    return _process_summary(summary, args, "deidentify")


def _add_process(sub, default_steps: str) -> None:
    process = sub.add_parser(
        "process",
        help="process files and folders of scans (DICOM, NIfTI, images, arrays) into an output folder",
        description=(
            "Read scans (files, folders searched recursively, glob patterns), run a pipeline of steps on "
            "every slice, and write the results under OUTDIR, mirroring the input tree. Files are read, "
            "computed in batches of equal-shape slices and written by worker processes (CPU) or threads (GPU). "
            "Bad files are reported and skipped over; the run goes on. Writes are atomic; nothing is written "
            "outside OUTDIR; inputs are never replaced; existing outputs only with --overwrite (or kept with "
            "--resume). One run at a time per OUTDIR (a lock); SIGTERM and SIGHUP stop it like Ctrl-C."
        ),
        epilog=PROCESS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_files_arguments(process)
    process.add_argument("--steps", default=default_steps,
                         help=f"pipeline steps, comma-separated (default: {default_steps})")
    process.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu"),
                         help="compute backend (default: auto = GPU when usable, else CPU)")
    process.add_argument("--format", default="same", choices=("same", "npy", "png", "tiff", "nii", "dcm"),
                         help="output format (default: same as the input)")
    process.add_argument("--per-file", action="store_true",
                         help="one output per input file (default for nii, npy and tiff: one volume per DICOM "
                              "series, named <series key>.<ext> in the folder of its first file)")
    process.add_argument("--batch-size", type=_positive_int, default=64, metavar="N",
                         help="slices per backend call (default: 64)")
    process.add_argument("--executor", default="auto", choices=("auto", "threads", "processes"),
                         help="where files run: worker processes (default on the CPU backend with enough files) "
                              "or threads of one process (default on the GPU)")
    process.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                         help="worker processes or threads (default: one process per core; threads: 2 to 8)")
    process.add_argument("--fill-nan", type=float, default=None, metavar="VALUE",
                         help="replace NaN/infinite input values with VALUE (default: such files fail)")
    process.add_argument("--png-bits", type=int, choices=(8, 16), default=None,
                         help="PNG depth for float results (default: 8 for 8-bit inputs, else 16)")
    process.add_argument("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
                         help="run one Dask task per file: on a local cluster of N worker processes, or on the "
                              "cluster at that scheduler address (needs the distributed extra; workers must see "
                              "the same paths)")
    process.add_argument("--volume", action="store_true",
                         help="run each file or DICOM series as one 3-D volume with its header's voxel spacing "
                              "(steps may then be in mm: gaussian:2mm, erode:3mm)")
    _add_deid_options(process, in_process=True)
    process.set_defaults(func=cmd_process)

    deid = sub.add_parser(
        "deidentify",
        help="de-identify DICOM files (PS3.15 basic profile, keyed pseudonyms) into an output folder",
        description=(
            "Copy DICOM files and folders into OUTDIR through DICOM PS3.15's Basic Application Level "
            "Confidentiality Profile (table E.1-1, as data in fastct.deid) with keyed pseudonyms: UIDs become "
            "2.25.<HMAC-SHA256(key, UID)>, names and IDs keyed tokens; private tags are removed. Pixels and "
            "transfer syntax are unchanged. Images that may show identifying text in their pixels (BurnedIn"
            "Annotation YES; ultrasound, secondary and screen captures without an explicit NO) and files that "
            "are not DICOM are skipped with the reason; unreadable files fail and are never copied. The "
            "engine of 'fastct process': atomic writes, --resume, one run per OUTDIR, report.json, exit "
            "status 0 / 1 (some failed) / 2 (usage)."
        ),
        epilog=DEIDENTIFY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_files_arguments(deid)
    deid.add_argument("--workers", type=_positive_int, default=None, metavar="N", help="worker threads or processes")
    _add_deid_options(deid, in_process=False)
    deid.set_defaults(func=cmd_deidentify)

    warmup = sub.add_parser(
        "warmup",
        help="compile the kernels of a pipeline once, so the first 'fastct process' starts at once",
        description=(
            "Compile the CPU (or GPU) kernels a pipeline needs for the given dtypes and store them in the "
            "kernel cache. A first run compiles them anyway; warm up at set-up time to keep that out of it."
        ),
        epilog="examples:\n  fastct warmup\n  fastct warmup --dtypes int16 --steps erode:3,gaussian:1.1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    warmup.add_argument("--steps", default=default_steps, help=f"pipeline steps (default: {default_steps})")
    warmup.add_argument("--dtypes", default=WARMUP_DTYPES,
                        help=f"comma-separated dtypes (default: {WARMUP_DTYPES}: CT's int16, 8- and 16-bit "
                             "images, float volumes)")
    warmup.add_argument("--backend", default="cpu", choices=("auto", "cpu", "gpu"), help="backend (default: cpu)")
    warmup.set_defaults(func=cmd_warmup)


# ---------------------------------------------------------------------------
# entry point


def build_parser() -> argparse.ArgumentParser:
    from .pipeline import DEFAULT_STEPS

    parser = argparse.ArgumentParser(
        prog="fastct",
        description="Fast preprocessing of CT image batches (Numba CPU / CuPy GPU).",
        epilog=(
            "examples:\n  fastct info\n"
            "  fastct process scans/ -o out/ --steps \"erode:3,dilate:3,gaussian:1.1,equalize\"\n"
            "  fastct demo -o demo-out --backend cpu\n\n"
            "'fastct COMMAND --help' describes each command."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser(
        "info",
        help="show backends, versions, threads and devices",
        description="Show which backends can run here (and why not), versions, threads and the GPU device.",
        epilog="example:\n  fastct info --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(func=cmd_info)

    _add_process(sub, DEFAULT_STEPS)

    demo = sub.add_parser(
        "demo",
        help="run the default pipeline on embedded sample data",
        description=(
            "Run a pipeline on a synthetic chest CT phantom batch and on the real CT slice that pydicom "
            "ships, print per-step timings, and write a before/after PNG montage and the arrays."
        ),
        epilog="example:\n  fastct demo -o demo-out --slices 32 --backend auto",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("-o", "--output", default="fastct-demo", help="output folder (default: ./fastct-demo)")
    demo.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu"), help="compute backend")
    demo.add_argument("--steps", default=DEFAULT_STEPS, help=f"pipeline steps (default: {DEFAULT_STEPS})")
    demo.add_argument("--slices", type=int, default=32, help="phantom slices (default: 32)")
    demo.add_argument("--size", type=int, default=256, help="phantom slice size (default: 256)")
    demo.set_defaults(func=cmd_demo)

    # Subcommands defined in other modules register themselves here.
    from .ml.commands import register as register_ml

    register_ml(sub)
    from .bench.command import register as register_bench

    register_bench(sub)
    return parser


#: commands whose process may end without the interpreter's teardown (see :func:`console`)
QUICK_EXIT_COMMANDS = frozenset(("process", "deidentify"))


def main(argv=None, *, quick_exit: bool = False) -> int:
    """Run the ``fastct`` command; returns the exit status.

    With ``quick_exit`` (the console command), a files-in/files-out command
    that returns normally ends the process at once (see :func:`console`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code = args.func(args)
        if quick_exit and args.command in QUICK_EXIT_COMMANDS:
            _exit_now(code)
        return code
    except KeyboardInterrupt:
        print(f"fastct {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FastCTError as exc:
        print(f"fastct {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (ValueError, TypeError)) else EXIT_FAILED
    except BrokenPipeError:
        # the reader went away (`fastct demo | head`): stop quietly, as Unix tools do,
        # and point stdout at devnull so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _exit_now(code: int) -> None:
    """End the process now, skipping the interpreter's teardown.

    Unloading numba, LLVM and several hundred modules takes about 0.16 s, as
    long as processing 50 slices; the job engine has closed every output, the
    manifest and report.json, stopped its workers and removed its temporaries
    before the command returns, so nothing is left for the teardown to do but
    flushing the standard streams and logging, done here.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            pass
    os._exit(code)


def console() -> None:
    """The ``fastct`` console command (``python -m fastct.cli`` too)."""
    sys.exit(main(quick_exit=True))


if __name__ == "__main__":
    console()
