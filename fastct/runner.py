"""The batch engine behind ``fastct process``: files in, processed files out.

:func:`plan` finds the input files (files, folders searched recursively,
globs), decides each one's output path (mirroring the input tree under the
output folder) and format. :func:`process_files` runs the plan as three
overlapping stages:

* a pool of reader threads decodes files (DICOM, NIfTI, images, arrays);
* the calling thread groups slices of equal shape and dtype into batches
  (never padding) and runs the pipeline on the backend;
* a pool of writer threads encodes and writes the results atomically.

So the end-to-end rate is set by the slowest stage, not by the sum of the
three. One bad file never stops the run: it is recorded with its error in
the :class:`RunSummary` and in ``report.json``, and the others go on.
:func:`process_file` does the same for one file, without the pools (the unit
of work for a distributed runner).

Examples
--------
>>> import tempfile, pathlib, shutil
>>> from pydicom.data import get_testdata_file
>>> src, out = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp()) / "out"
>>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
>>> summary = process_files([src], out, steps="erode:3", backend="cpu", fmt="npy", progress="quiet")
>>> summary.exit_code, len(summary.ok), sorted(p.name for p in out.iterdir())
(0, 1, ['ct.npy', 'report.json'])
"""

from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .errors import (
    BackendUnavailable,
    FastCTError,
    InvalidArgumentError,
    NoPixelDataError,
    NotImplementedOnBackend,
    OutputExistsError,
)

__all__ = ["REPORT_NAME", "FileResult", "Job", "RunSummary", "plan", "process_file", "process_files"]

#: name of the run report written into the output folder
REPORT_NAME = "report.json"


# ---------------------------------------------------------------------------
# planning


@dataclass
class Job:
    """One input file and where its result goes."""

    source: Path
    output: Path
    format: str  # output format: npy | png | tiff | nii | dcm
    source_format: str
    explicit: bool = False  # named on the command line (not found in a folder)


@dataclass
class FileResult:
    """What happened to one input file."""

    source: Path
    status: str  # "ok" | "skipped" | "failed"
    outputs: list = field(default_factory=list)
    slices: int = 0
    error: str | None = None
    error_type: str | None = None

    def to_dict(self) -> dict:
        d = {"input": str(self.source), "status": self.status}
        if self.outputs:
            d["outputs"] = [str(p) for p in self.outputs]
        if self.slices:
            d["slices"] = self.slices
        if self.error:
            d["reason" if self.status == "skipped" else "error"] = self.error
            d["error_type"] = self.error_type
        return d


def _message(exc: BaseException) -> str:
    if isinstance(exc, FastCTError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _failed(source, exc: BaseException) -> FileResult:
    status = "skipped" if isinstance(exc, NoPixelDataError) else "failed"
    return FileResult(Path(source), status, error=_message(exc), error_type=type(exc).__name__)


def _is_hidden_or_temp(path: Path) -> bool:
    return path.name.startswith(".")


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _walk(folder: Path, exclude: Path | None):
    """Files below ``folder`` (sorted, recursive), skipping hidden entries and ``exclude``
    (the output folder, when it lies strictly inside ``folder``)."""
    if exclude is not None and not _inside(exclude, folder.resolve()) or exclude == folder.resolve():
        exclude = None
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not _inside((root_path / d).resolve(), exclude)
        )
        for name in sorted(files):
            if not name.startswith("."):
                yield root_path / name


def _common_root(paths: list[Path]) -> Path:
    try:
        return Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:  # different drives: no common folder, outputs use bare names
        return Path(paths[0].anchor)


def plan(inputs, output_dir, fmt: str = "same"):
    """Find the input files and decide each one's output.

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders (searched recursively; hidden files, fastct's
        temporary files and the output folder are left out) and glob
        patterns (``"scans/**/*.dcm"``).
    output_dir : str or Path
        Output root. Outputs mirror the inputs' tree below their common
        folder: ``fastct process scans -o out`` writes ``scans/a/b.dcm`` to
        ``out/a/b.dcm``.
    fmt : {"same", "npy", "png", "tiff", "nii", "dcm"}
        Output format; ``same`` keeps the input's (JPEG and BMP become PNG,
        NPZ becomes NPY).

    Returns
    -------
    jobs : list of Job
        The files to process, in a stable order.
    early : list of FileResult
        Files already settled: non-image files found in folders
        (``skipped``), unreadable or unrecognised files (``failed``).

    Raises
    ------
    InvalidArgumentError
        An input that names nothing (no file, folder or glob match), or a bad ``fmt``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> src = pathlib.Path(tempfile.mkdtemp())
    >>> (src / "sub").mkdir(); np.save(src / "sub" / "a.npy", np.zeros((4, 4)))
    >>> (src / "notes.txt").write_text("hello") and None
    >>> jobs, early = plan([src], "/tmp/out", "png")
    >>> [str(j.output) for j in jobs], [r.status for r in early]
    (['/tmp/out/sub/a.png'], ['skipped'])
    """
    from . import io as fio

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise InvalidArgumentError("inputs: no input files or folders given")
    fio.output_format(fmt, "dicom")  # validates fmt
    output_dir = Path(output_dir)
    out_resolved = output_dir.resolve()
    candidates: list[tuple[Path, bool]] = []  # (file, explicit)
    roots: list[Path] = []
    for item in inputs:
        item_path = Path(item)
        if item_path.is_dir():
            roots.append(item_path)
            candidates += [(p, False) for p in _walk(item_path, out_resolved)]
        elif item_path.exists() or item_path.is_symlink():
            roots.append(item_path.parent)
            candidates.append((item_path, True))
        else:
            matches = sorted(glob.glob(str(item), recursive=True))
            if not matches:
                raise InvalidArgumentError(f"inputs: {item!r} is no file or folder, and as a pattern it matches nothing")
            for m in matches:
                mp = Path(m)
                if _inside(mp.resolve(), out_resolved):
                    continue
                if mp.is_dir():
                    roots.append(mp)
                    candidates += [(p, False) for p in _walk(mp, out_resolved)]
                elif not _is_hidden_or_temp(mp):
                    roots.append(mp.parent)
                    candidates.append((mp, True))
    root = _common_root([r.absolute() for r in roots])
    seen, jobs, early = set(), [], []
    for path, explicit in candidates:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            if path.stat().st_size == 0:
                fmt_in = None
            else:
                fmt_in = fio.sniff(path)
        except OSError as exc:
            early.append(_failed(path, exc))
            continue
        if fmt_in is None:
            if explicit or fio.image_like_name(path) or path.stat().st_size == 0:
                try:
                    fio.detect_format(path)  # raises the explanatory error
                except Exception as exc:  # noqa: BLE001
                    early.append(_failed(path, exc))
            else:
                early.append(FileResult(path, "skipped", error=f"{path}: not an image file (unrecognised content)",
                                        error_type="NotAnImage"))
            continue
        out_fmt = fio.output_format(fmt, fmt_in)
        try:
            rel = path.absolute().relative_to(root)
        except ValueError:
            rel = Path(path.name)
        jobs.append(Job(path, output_dir / _output_name(rel, out_fmt, path), out_fmt, fmt_in, explicit))
    _resolve_collisions(jobs)
    inputs_set = {j.source.resolve() for j in jobs}
    kept = []
    for job in jobs:
        if job.output.resolve() in inputs_set:
            early.append(_failed(job.source, OutputExistsError(
                f"{job.source}: its output {job.output} would replace an input file; choose another output folder")))
        else:
            kept.append(job)
    return kept, early


def _output_name(rel: Path, fmt: str, source: Path) -> Path:
    from . import io as fio

    name = rel.name
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        stem = name[: -len(".nii.gz")]
    elif Path(lower).suffix in fio.EXTENSIONS:
        stem = Path(name).stem
    else:
        stem = name  # no (or no known) extension: keep the whole name, e.g. DICOM UIDs
    return rel.with_name(stem + fio.output_suffix(fmt, source))


def _resolve_collisions(jobs: list[Job]) -> None:
    """Two inputs mapping to one output (``a.png`` and ``a.dcm`` -> ``a.npy``): keep both source names."""
    from . import io as fio

    by_output: dict[Path, list[Job]] = {}
    for job in jobs:
        by_output.setdefault(job.output, []).append(job)
    for output, group in by_output.items():
        if len(group) > 1:
            for job in group:
                job.output = output.with_name(job.source.name + fio.output_suffix(job.format, job.source))


# ---------------------------------------------------------------------------
# summary


@dataclass
class RunSummary:
    """The outcome of :func:`process_files`.

    Attributes
    ----------
    results : list of FileResult
        One per input file (ok, skipped or failed), in input order.
    not_done : list of Path
        Files not reached because the run was interrupted.
    slices : int
        Slices processed and written.
    wall_seconds : float
        Elapsed time of the run, without the one-off kernel warm-up.
    compute_seconds, read_seconds, write_seconds, warmup_seconds : float
        Time in the backend (pure compute), in readers and writers (summed
        over threads), and compiling / loading kernels.
    interrupted : bool
        Stopped by Ctrl-C (KeyboardInterrupt); finished outputs are valid.
    report_path : Path or None
        The ``report.json`` written.
    """

    results: list
    output_dir: Path
    steps: str
    backend: str
    format: str
    not_done: list = field(default_factory=list)
    slices: int = 0
    wall_seconds: float = 0.0
    compute_seconds: float = 0.0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    warmup_seconds: float = 0.0
    batches: int = 0
    interrupted: bool = False
    report_path: Path | None = None
    started: str = ""
    finished: str = ""

    def _with(self, status):
        return [r for r in self.results if r.status == status]

    @property
    def ok(self) -> list:
        """Results of the files processed and written."""
        return self._with("ok")

    @property
    def skipped(self) -> list:
        """Results of files skipped: no image in them, or complete output kept by ``resume``."""
        return self._with("skipped")

    @property
    def failed(self) -> list:
        """Results of files that failed, each with its error."""
        return self._with("failed")

    @property
    def end_to_end_rate(self) -> float:
        """Slices per second from first read to last write."""
        return self.slices / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def compute_rate(self) -> float:
        """Slices per second inside the backend (pure compute)."""
        return self.slices / self.compute_seconds if self.compute_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: all good; 1: some files failed; 130: interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict."""
        return {
            "fastct": __version__,
            "started": self.started,
            "finished": self.finished,
            "interrupted": self.interrupted,
            "output_dir": str(self.output_dir),
            "steps": self.steps,
            "backend": self.backend,
            "format": self.format,
            "counts": {
                "ok": len(self.ok),
                "skipped": len(self.skipped),
                "failed": len(self.failed),
                "not_done": len(self.not_done),
            },
            "slices": self.slices,
            "batches": self.batches,
            "seconds": {
                "wall": round(self.wall_seconds, 4),
                "compute": round(self.compute_seconds, 4),
                "read": round(self.read_seconds, 4),
                "write": round(self.write_seconds, 4),
                "warmup": round(self.warmup_seconds, 4),
            },
            "slices_per_second": {
                "end_to_end": round(self.end_to_end_rate, 2),
                "compute": round(self.compute_rate, 2),
            },
            "failed": [r.to_dict() for r in self.failed],
            "skipped": [r.to_dict() for r in self.skipped],
            "ok": [r.to_dict() for r in self.ok],
            "not_done": [str(p) for p in self.not_done],
        }

    def describe(self) -> str:
        """The human summary printed at the end of ``fastct process``."""
        lines = [
            f"{len(self.ok)} files ok, {len(self.skipped)} skipped, {len(self.failed)} failed"
            + (f", {len(self.not_done)} not done (interrupted)" if self.interrupted else "")
            + f"; {self.slices} slices in {self.wall_seconds:.2f} s",
            f"throughput: {self.end_to_end_rate:.1f} slices/s end-to-end, {self.compute_rate:.1f} slices/s pure compute "
            f"({self.compute_seconds:.2f} s in the {self.backend} backend, {self.read_seconds:.2f} s reading and "
            f"{self.write_seconds:.2f} s writing summed over threads"
            + (f", {self.warmup_seconds:.2f} s kernel warm-up not counted" if self.warmup_seconds else "")
            + ")",
        ]
        if self.report_path is not None:
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# progress


def _columns(stream) -> int:
    """Width of the terminal behind ``stream`` (0 when unknown: no bar then)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class _Progress:
    """tqdm bar on a terminal, plain log lines otherwise, nothing when quiet."""

    def __init__(self, mode: str, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.slices = 0
        self.start = time.perf_counter()
        self.last_log = self.start
        self.bar = None
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() and _columns(self.stream) else "log"
        if mode == "bar":
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="file", file=self.stream, dynamic_ncols=True, smoothing=0.1)
            except ImportError:
                mode = "log"
        self.mode = mode

    def note(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def update(self, result: FileResult) -> None:
        self.done += 1
        self.slices += result.slices
        if result.status == "failed":
            self.note(f"FAILED {result.error}")
        elapsed = time.perf_counter() - self.start
        rate = self.slices / elapsed if elapsed > 0 else 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rate:.1f} slices/s", refresh=False)
            self.bar.update(1)
        elif self.mode == "log":
            now = time.perf_counter()
            if now - self.last_log >= 5.0 or self.done == self.total:
                self.last_log = now
                eta = (self.total - self.done) * elapsed / self.done if self.done else 0.0
                print(
                    f"[{self.done}/{self.total} files] {self.slices} slices, {rate:.1f} slices/s, "
                    f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s",
                    file=self.stream,
                    flush=True,
                )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------
# stages


@dataclass
class _Item:
    job: Job
    batch: np.ndarray
    meta: object
    replace: bool


def _read(job: Job, fill_nan):
    from . import io as fio

    start = time.perf_counter()
    batch, meta = fio.read(job.source)
    if batch.dtype.kind == "f":
        bad = ~np.isfinite(batch)
        n_bad = int(bad.sum())
        if n_bad:
            if fill_nan is None:
                raise InvalidArgumentError(
                    f"{job.source}: {n_bad} of {batch.size} values are NaN or infinite; fastct does not compute "
                    "on them (pass --fill-nan VALUE / fill_nan= to replace them)"
                )
            batch = np.where(bad, np.asarray(fill_nan, batch.dtype), batch)
    return batch, meta, time.perf_counter() - start


def _write(item: _Item, result: np.ndarray, overwrite: bool, description: str, png_bits):
    from . import io as fio

    start = time.perf_counter()
    item.job.output.parent.mkdir(parents=True, exist_ok=True)
    written = fio.write(item.job.output, result, item.meta, item.job.format, overwrite=overwrite or item.replace,
                        description=description, png_bits=png_bits)
    return written, time.perf_counter() - start


def _already_done(job: Job, n_slices: int | None = None) -> bool:
    from . import io as fio

    paths = fio.output_paths(job.output, job.format, n_slices or 1)
    if n_slices is None and job.format == "png" and not job.output.exists():
        return False  # a multi-slice PNG's names are known after reading
    return all(fio.is_complete(p, job.format) for p in paths)


def _any_output_exists(job: Job) -> bool:
    if job.output.exists():
        return True
    if job.format == "png":
        return any(job.output.parent.glob(glob.escape(job.output.stem) + "_*" + job.output.suffix))
    return False


class _Batcher:
    """Groups files of equal (H, W, dtype) until a batch holds ``size`` slices; never pads."""

    def __init__(self, size: int):
        self.size = size
        self.groups: dict[tuple, list[_Item]] = {}
        self.pending = 0

    def add(self, item: _Item) -> list[list[_Item]]:
        key = item.batch.shape[1:] + (item.batch.dtype.str,)
        group = self.groups.setdefault(key, [])
        group.append(item)
        self.pending += len(item.batch)
        ready = []
        if sum(len(i.batch) for i in group) >= self.size:
            ready.append(self._pop(key))
        while self.pending > 4 * self.size and self.groups:  # many shapes: bound the memory held
            ready.append(self._pop(max(self.groups, key=lambda k: sum(len(i.batch) for i in self.groups[k]))))
        return ready

    def _pop(self, key) -> list[_Item]:
        group = self.groups.pop(key)
        self.pending -= sum(len(i.batch) for i in group)
        return group

    def flush(self) -> list[list[_Item]]:
        return [self._pop(k) for k in list(self.groups)]


def process_file(job: Job, pipeline, backend: str = "cpu", *, overwrite: bool = False, fill_nan=None,
                 description: str | None = None, png_bits=None) -> FileResult:
    """Read, process and write one file, returning its :class:`FileResult` (never raising for bad input).

    The building block for running files elsewhere (one task per file).

    Parameters
    ----------
    job : Job
        From :func:`plan`.
    pipeline : Pipeline or str
        The steps.
    backend : {"auto", "cpu", "gpu"}
    overwrite, fill_nan, description, png_bits
        As in :func:`process_files`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> jobs, _ = plan([get_testdata_file("CT_small.dcm")], out, "tiff")
    >>> result = process_file(jobs[0], "erode:3", "cpu")
    >>> result.status, result.slices, result.outputs[0].name
    ('ok', 1, 'CT_small.tif')
    """
    from .pipeline import Pipeline

    pipe = pipeline if isinstance(pipeline, Pipeline) else Pipeline(pipeline)
    try:
        batch, meta, _ = _read(job, fill_nan)
        result = pipe.run(batch, backend)
        item = _Item(job, batch, meta, False)
        written, _ = _write(item, result, overwrite, description or _description(pipe), png_bits)
        return FileResult(job.source, "ok", list(written), len(batch))
    except Exception as exc:  # noqa: BLE001 - recorded, not raised
        return _failed(job.source, exc)


def _description(pipe) -> str:
    return f"fastct {__version__}: {pipe.describe()}"


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(2, min(8, cpus))


def prepare(inputs, output_dir, steps=None, *, backend="auto", fmt="same", resume=False, overwrite=False,
            fill_nan=None):
    """Everything checked before a run touches a file: steps, backend, options, plan, output folder.

    Returns ``(pipeline, backend_name, jobs, early_results, output_dir)``;
    raises like :func:`process_files` does. Shared by the local runner and
    :func:`fastct.distributed.process_files`.
    """
    from . import backends
    from .pipeline import Pipeline

    pipe = steps if isinstance(steps, Pipeline) else Pipeline(steps)
    backend_name = backends.resolve(backend)
    backends.get(backend_name)  # BackendUnavailable now, not once per file
    if backend_name != "cpu":  # every op runs on the CPU; elsewhere, find a missing one before reading files
        try:
            pipe.run(np.zeros((1, 32, 32), np.float32), backend_name)
        except (BackendUnavailable, NotImplementedOnBackend):
            raise
        except Exception:  # noqa: BLE001 - data-dependent problems are reported per file
            pass
    if resume and overwrite:
        raise InvalidArgumentError("resume, overwrite: choose one (resume keeps complete outputs, overwrite replaces them)")
    if fill_nan is not None and not np.isfinite(fill_nan):
        raise InvalidArgumentError(f"fill_nan: expected a finite number, got {fill_nan!r}")
    output_dir = Path(output_dir)
    jobs, early = plan(inputs, output_dir, fmt)
    if not resume and not overwrite:
        existing = [j.output for j in jobs if _any_output_exists(j)]
        if existing:
            raise OutputExistsError(
                f"output_dir: {len(existing)} output(s) exist already (first: {existing[0]}); "
                "pass --resume to keep complete ones or --overwrite to replace them"
            )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".fastct-write-test-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidArgumentError(f"output_dir: cannot write to {output_dir}: {_message(exc)}") from exc

    return pipe, backend_name, jobs, early, output_dir


def finish(summary, results, early, jobs, *, report=True, note=print):
    """Order the results, list files not reached, stamp the end and write ``report.json``."""
    from .io._files import write_bytes_atomic

    order = {j.source: i for i, j in enumerate(jobs)}
    all_sources = [r.source for r in early] + [j.source for j in jobs]
    summary.results = [results[s] for s in all_sources if s in results]
    summary.not_done = [s for s in all_sources if s not in results]
    summary.results.sort(key=lambda r: order.get(r.source, -1))
    summary.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if report:
        path = summary.output_dir / REPORT_NAME
        try:
            write_bytes_atomic(path, json.dumps(summary.to_dict(), indent=2).encode(), overwrite=True)
            summary.report_path = path
        except OSError as exc:
            note(f"could not write {path}: {_message(exc)}")
    return summary


def process_files(
    inputs,
    output_dir,
    steps=None,
    *,
    backend: str = "auto",
    fmt: str = "same",
    batch_size: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    fill_nan: float | None = None,
    png_bits: int | None = None,
    progress="auto",
    callback=None,
    report: bool = True,
) -> RunSummary:
    """Process files and folders of CT images into ``output_dir``; never stops at a bad file.

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders (recursive) and glob patterns (see :func:`plan`).
    output_dir : str or Path
        Output root (created); the input tree is mirrored below it.
    steps : str, list or Pipeline, optional
        The pipeline (default :data:`fastct.DEFAULT_STEPS`); validated
        before any file is read.
    backend : {"auto", "cpu", "gpu"}
    fmt : {"same", "npy", "png", "tiff", "nii", "dcm"}
        Output format; ``same`` keeps the input's (see :func:`plan`).
    batch_size : int
        Slices per backend call; files of equal slice shape and dtype are
        grouped, never padded. A file with more slices runs in pieces.
    resume : bool
        Skip files whose outputs exist and are complete.
    overwrite : bool
        Replace existing outputs. Without ``resume`` or ``overwrite``,
        existing outputs raise :class:`~fastct.errors.OutputExistsError`
        before anything runs. Inputs are never replaced.
    workers : int, optional
        Reader threads and writer threads (each); default min(8, max(2, CPUs)).
    fill_nan : float, optional
        Replace NaN/infinite input values with this (default: such files fail).
    png_bits : {8, 16}, optional
        PNG depth for float results (see :func:`fastct.io.write`).
    progress : {"auto", "bar", "log", "quiet"}
        ``auto``: a tqdm bar when stderr is a terminal, else log lines.
    callback : callable, optional
        Called with each :class:`FileResult` as it is settled (in the calling thread).
    report : bool
        Write ``report.json`` into ``output_dir``.

    Returns
    -------
    RunSummary
        Counts, per-file results and errors, slices, timings, rates.

    Raises
    ------
    StepError, InvalidArgumentError
        Bad steps, options or inputs (nothing was processed).
    OutputExistsError
        Outputs exist and neither ``resume`` nor ``overwrite`` was given.
    BackendUnavailable
        The backend asked for cannot run here.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> src, out = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> np.save(src / "a.npy", np.zeros((3, 16, 16), np.int16))
    >>> (src / "bad.npy").write_bytes(b"garbage") and None
    >>> s = process_files(src, out, "dilate:3", backend="cpu", progress="quiet")
    >>> s.exit_code, len(s.ok), len(s.failed), s.slices
    (1, 1, 1, 3)
    """
    from .io._files import cleanup_temporaries

    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        raise InvalidArgumentError(f"workers: expected >= 1, got {workers}")
    pipe, backend_name, jobs, early, output_dir = prepare(
        inputs, output_dir, steps, backend=backend, fmt=fmt, resume=resume, overwrite=overwrite, fill_nan=fill_nan
    )

    description = _description(pipe)
    summary = RunSummary(results=[], output_dir=output_dir, steps=pipe.describe(), backend=backend_name, format=fmt,
                         started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    results: dict[Path, FileResult] = {}
    bar = _Progress(progress, len(jobs) + len(early))

    def settle(result: FileResult) -> None:
        results[result.source] = result
        if result.status == "ok":
            summary.slices += result.slices
        bar.update(result)
        if callback is not None:
            callback(result)

    for r in early:
        settle(r)

    warmed: set = set()
    start = time.perf_counter()
    readers = ThreadPoolExecutor(workers, thread_name_prefix="fastct-read")
    writers = ThreadPoolExecutor(workers, thread_name_prefix="fastct-write")
    reads: dict = {}
    writes: dict = {}
    job_iter = iter(jobs)
    batcher = _Batcher(batch_size)
    prefetch = 2 * workers
    max_writes = max(4 * workers, 2 * batch_size)

    def harvest_writes(limit: int | None = None) -> None:
        """Settle finished writes; while more than ``limit`` are pending, wait (0: wait for all)."""
        while writes:
            done = [f for f in writes if f.done()]
            if not done:
                if limit is None or len(writes) <= limit:
                    return
                done, _ = wait(list(writes), return_when=FIRST_COMPLETED)
            for fut in done:
                item = writes.pop(fut)
                try:
                    written, seconds = fut.result()
                    summary.write_seconds += seconds
                    settle(FileResult(item.job.source, "ok", list(written), len(item.batch)))
                except Exception as exc:  # noqa: BLE001
                    settle(_failed(item.job.source, exc))

    def refill() -> None:
        while len(reads) < prefetch:
            job = next(job_iter, None)
            if job is None:
                return
            replace = False
            if resume and job.output.exists():
                if _already_done(job):
                    settle(FileResult(job.source, "skipped", list(_existing_outputs(job)),
                                      error=f"{job.output}: complete output kept (--resume)", error_type="Resumed"))
                    continue
                replace = True  # incomplete: redo it
            fut = readers.submit(_read, job, fill_nan)
            reads[fut] = (job, replace)

    def compute(group: list[_Item]) -> None:
        key = group[0].batch.shape[1:] + (group[0].batch.dtype.str,)
        if key[-1] not in warmed:  # compile (or load cached) kernels outside the timed region
            w0 = time.perf_counter()
            try:
                pipe.run(group[0].batch[:1], backend_name)
            except Exception:  # noqa: BLE001 - the real run reports it per file
                pass
            summary.warmup_seconds += time.perf_counter() - w0
            warmed.add(key[-1])
        cat = group[0].batch if len(group) == 1 else np.concatenate([i.batch for i in group])
        summary.batches += 1
        try:
            t0 = time.perf_counter()
            if len(cat) <= batch_size:
                out = pipe.run(cat, backend_name)
            else:  # a long volume: batch_size slices at a time, straight into one result
                out = np.empty(cat.shape, pipe.output_dtype(cat.dtype))
                for i in range(0, len(cat), batch_size):
                    pipe.run(cat[i : i + batch_size], backend_name, out=out[i : i + batch_size])
            summary.compute_seconds += time.perf_counter() - t0
            outs, offset = [], 0
            for item in group:
                outs.append(out[offset : offset + len(item.batch)])
                offset += len(item.batch)
        except Exception:  # noqa: BLE001 - find which file it was
            outs = []
            for item in group:
                try:
                    t0 = time.perf_counter()
                    outs.append(pipe.run(item.batch, backend_name))
                    summary.compute_seconds += time.perf_counter() - t0
                except Exception as exc:  # noqa: BLE001
                    outs.append(exc)
        for item, out in zip(group, outs):
            if isinstance(out, BaseException):
                settle(_failed(item.job.source, out))
                continue
            if resume and item.job.format == "png" and len(item.batch) > 1 and _already_done(item.job, len(item.batch)):
                settle(FileResult(item.job.source, "skipped", error=f"{item.job.output}: complete output kept (--resume)",
                                  error_type="Resumed"))
                continue
            fut = writers.submit(_write, item, out, overwrite, description, png_bits)
            writes[fut] = item
            harvest_writes(max_writes)

    try:
        refill()
        while reads:
            done, _ = wait(list(reads), return_when=FIRST_COMPLETED)
            for fut in done:
                job, replace = reads.pop(fut)
                try:
                    batch, meta, seconds = fut.result()
                    summary.read_seconds += seconds
                except Exception as exc:  # noqa: BLE001
                    settle(_failed(job.source, exc))
                    continue
                for group in batcher.add(_Item(job, batch, meta, replace)):
                    compute(group)
            harvest_writes()
            refill()
        for group in batcher.flush():
            compute(group)
        harvest_writes(0)
    except KeyboardInterrupt:
        summary.interrupted = True
        for fut in reads:
            fut.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)  # running writes finish (they are atomic)
        for fut, item in list(writes.items()):
            if fut.done() and not fut.cancelled():
                try:
                    written, seconds = fut.result()
                    summary.write_seconds += seconds
                    results[item.job.source] = FileResult(item.job.source, "ok", list(written), len(item.batch))
                    summary.slices += len(item.batch)
                except Exception as exc:  # noqa: BLE001
                    results[item.job.source] = _failed(item.job.source, exc)
        cleanup_temporaries()
    finally:
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        bar.close()
    summary.wall_seconds = max(time.perf_counter() - start - summary.warmup_seconds, 0.0)
    return finish(summary, results, early, jobs, report=report, note=bar.note)


def _existing_outputs(job: Job) -> list[Path]:
    return [job.output] if job.output.exists() else []

