"""``process_files()``: plan -> stages on an executor -> settle.

One code path for every run, local or on a cluster:

1. **check** the work (steps, backend, options) before any file is touched;
2. **plan** the inputs (:func:`fastct.jobs.plan.plan`), take the output
   folder's lock, compare ``--resume`` with the folder's manifest, remove
   temporaries that killed runs left;
3. **run** chunks of jobs through the work's stages on an executor
   (threads, local processes or Dask), warming the kernels first;
4. **settle** each result as it arrives (manifest line, progress, callback)
   and, at the end or on a stop, write ``report.json``.

SIGTERM and SIGHUP stop a run like Ctrl-C: no new file is started, what
finished is kept and journalled, temporaries are removed, ``report.json``
says ``interrupted: true``, and the exit code is 128 + the signal number.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, OutputExistsError
from .executors import ProcessExecutor, make_executor, native_threads, one_kernel_thread, threads_settle_to
from .plan import Manifest, ManifestMismatchError, OutputLock, any_output_exists, plan, remove_stale_temporaries
from .report import FileResult, Progress, RunSummary, _now, describe_error
from .stages import PipelineWork, Work

__all__ = ["Stopped", "process_files", "run_work"]

#: seconds a kernel warm-up may take before the user is told it is compiling
COMPILE_NOTICE_AFTER = 1.0


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: handled like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_stop_the_run():
    """Turn SIGTERM and SIGHUP into :class:`Stopped` while a run is on (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Stopped(signum)

    old = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _chunks(jobs: list, size: int) -> list[list]:
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def _chunk_size(executor, n_jobs: int, requested: int | None) -> int:
    if requested is not None:
        return max(1, int(requested))
    if executor.name == "dask":
        return 1  # one task per file: the scheduler balances and reruns at the finest grain
    # a few chunks per worker keep them all busy to the end; chunks of several files batch compute
    return max(1, min(8, n_jobs // (4 * executor.workers) or 1))


def _check_options(batch_size, resume, overwrite, fill_nan):
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if resume and overwrite:
        raise InvalidArgumentError(
            "resume, overwrite: choose one (resume keeps complete outputs, overwrite replaces them)")
    if fill_nan is not None and not np.isfinite(fill_nan):
        raise InvalidArgumentError(f"fill_nan: expected a finite number, got {fill_nan!r}")


def _check_backend(work: PipelineWork) -> str:
    """Resolve the backend and find an op it lacks before any file is read."""
    from .. import backends
    from ..errors import BackendUnavailable, NotImplementedOnBackend

    name = backends.resolve(work.backend)
    backends.get(name)  # BackendUnavailable now, not once per file
    if name != "cpu":  # every op runs on the CPU; elsewhere, find a missing one now
        try:
            work.pipeline.run(np.zeros((1, 32, 32), np.float32), name)
        except (BackendUnavailable, NotImplementedOnBackend):
            raise
        except Exception:  # noqa: BLE001 - data-dependent problems are reported per file
            pass
    return name


def _prepare_folder(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".fastct-write-test-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidArgumentError(f"output_dir: cannot write to {output_dir}: {describe_error(exc)}") from exc


def _warm(work: Work, executor, first_job, note) -> float:
    """Compile (or load) the kernels for the first file's kind before the run; tell the user when it is slow.

    For worker processes on the CPU backend the kernels are warmed here with
    one kernel thread (so no thread pool starts) and the workers are forked
    afterwards, inheriting them; where that is not possible each worker warms
    its own as it starts. Returns the seconds spent.
    """
    processes = isinstance(executor, ProcessExecutor)
    try:
        payload, meta = work.sample(first_job)
        sample = payload[:1] if hasattr(payload, "__getitem__") else payload
    except Exception:  # noqa: BLE001 - the run reports the file
        if processes:
            executor.start(work)
        return 0.0
    kind = getattr(payload, "dtype", None)
    kind = f"for {kind} " if kind is not None else ""
    here = not processes or getattr(work, "backend", "cpu") == "cpu"
    if processes and here:
        # Loading kernels makes numba import scipy.linalg, whose BLAS starts idle threads on import
        # (harmless to a fork): import it first, so that the count below changes only with kernel pools.
        with contextlib.suppress(ImportError):
            import scipy.linalg  # noqa: F401
    threads_before = native_threads()
    t0 = time.perf_counter()
    if not here:
        executor.start(work, sample, meta)  # a GPU stays out of this process: the workers warm themselves
    timer = threading.Timer(COMPILE_NOTICE_AFTER, note,
                            (f"compiling kernels {kind}(first run only; later runs load them from the cache) ...",))
    timer.daemon = True
    timer.start()
    try:
        if not here:
            executor.wait_ready()
        elif processes:
            with one_kernel_thread():
                work.warm(sample, meta)
        else:
            work.warm(sample, meta)
    except Exception:  # noqa: BLE001 - the real run reports it per file
        pass
    finally:
        timer.cancel()
        timer.join()  # gone before workers are forked
    if processes and here:
        # fork only if warming started no thread (a kernel thread pool would not survive a fork)
        executor.start(work, sample, meta, fork=threads_settle_to(threads_before))
    seconds = time.perf_counter() - t0
    if seconds > COMPILE_NOTICE_AFTER:
        note(f"kernels ready {kind}in {seconds:.1f} s")
    return seconds


def run_work(work: Work, inputs, output_dir, *, fmt: str = "same", per_file: bool = True, resume: bool = False,
             overwrite: bool = False,
             executor="auto", workers: int | None = None, client=None, chunk_size: int | None = None,
             progress="auto", callback=None, report: bool = True, backend_name: str = "cpu") -> RunSummary:
    """Run any :class:`~fastct.jobs.stages.Work` over files: the engine behind :func:`process_files`.

    Parameters are those of :func:`process_files`; ``work`` says what is
    read, computed and written for each input (``fastct deidentify`` passes
    a work that copies DICOM files through a de-identification policy).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> src, out = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> np.save(src / "a.npy", np.zeros((2, 8, 8), np.int16))
    >>> s = run_work(PipelineWork("erode:3", "cpu"), src, out, executor="threads", progress="quiet")
    >>> s.exit_code, s.work, [r.status for r in s.results]
    (0, 'process', ['ok'])
    """
    output_dir = Path(output_dir)
    the_plan = plan(inputs, output_dir, fmt, per_file=per_file)
    jobs, early = the_plan.jobs, the_plan.early
    settings = {"format": fmt, "per_file": per_file, **work.settings()}
    _prepare_folder(output_dir)
    lock = OutputLock(output_dir).acquire()
    manifest = None
    ex = None
    try:
        previous = Manifest.load(output_dir)
        if resume and previous is not None:
            differs = previous.differences(settings)
            if previous.work != work.name:
                differs.insert(0, f"work: {work.name!r} now, {previous.work!r} in the folder")
            if differs:
                raise ManifestMismatchError(
                    f"output_dir: --resume into {output_dir}, written with other settings: " + "; ".join(differs)
                    + " (run with --overwrite to redo everything, or choose another output folder)")
        if not resume and not overwrite:
            existing = [j.output for j in jobs if any_output_exists(j)]
            if existing:
                raise OutputExistsError(
                    f"output_dir: {len(existing)} output(s) exist already (first: {existing[0]}); "
                    "pass --resume to keep complete ones or --overwrite to replace them")
        removed = remove_stale_temporaries(output_dir)  # ours to remove: the lock is held
        summary = RunSummary(results=[], output_dir=output_dir, steps=work.describe(), backend=backend_name,
                             format=fmt, work=work.name)
        bar = Progress(progress, len(jobs) + len(early))
        if removed:
            bar.note(f"removed {len(removed)} temporary file(s) left by an earlier, stopped run")
        results: dict[Path, FileResult] = {}
        by_source = {j.source: j for j in jobs}
        manifest = Manifest(output_dir, settings, work.name)

        def settle(result: FileResult) -> None:
            results[result.source] = result
            if result.status == "ok":
                summary.slices += result.slices
                job = by_source.get(result.source)
                if job is not None:
                    manifest.record(job, result.outputs)
            summary.add_seconds(result.seconds)
            bar.update(result)
            if callback is not None:
                callback(result)

        stopping = []

        def settle_all(chunk_results) -> None:
            # Every result of a finished chunk is journalled, even when a callback stops the run midway;
            # once stopping, executors hand over what finished and a callback cannot interrupt that again.
            stop = None
            for r in chunk_results:
                try:
                    settle(r)
                except KeyboardInterrupt as exc:
                    stop = stop or exc
            if stop is not None and not stopping:
                stopping.append(stop)
                raise stop

        todo = []
        kept = []
        for job in jobs:
            if resume and previous is not None:
                files = previous.done(job)
                if files is not None:
                    kept.append((job, files))
                    continue
            if overwrite or (resume and any_output_exists(job)):
                job.replace = True  # --overwrite, or an incomplete / outdated output redone
            todo.append(job)
        # a fresh journal unless resuming one written with these settings, whose lines carry over
        appending = resume and previous is not None
        if appending:
            manifest.entries.update(previous.entries)
        manifest.start(fresh=not appending)
        for r in early:
            settle(r)
        for job, files in kept:
            settle(FileResult(job.source, "skipped", list(files),
                              error=f"{job.output}: complete output kept (--resume)", error_type="Resumed",
                              inputs=list(job.sources) if job.series is not None else []))

        ex = make_executor(executor, workers, backend=backend_name, client=client, n_jobs=len(todo))
        summary.executor, summary.workers = ex.name, ex.workers
        with _signals_stop_the_run():
            try:
                if todo and ex.name != "dask":
                    summary.warmup_seconds = _warm(work, ex, todo[0], bar.note)
                bar.open()
                start = time.perf_counter()
                try:
                    chunks = _chunks(todo, _chunk_size(ex, len(todo), chunk_size))
                    summary.batches = len(chunks)
                    ex.run(work, chunks, settle_all)
                finally:
                    summary.wall_seconds = time.perf_counter() - start
            except KeyboardInterrupt as exc:
                summary.interrupted = True
                summary.signal = signal.Signals(exc.signum).name if isinstance(exc, Stopped) else "SIGINT"
            finally:
                ex.close()
                from ..io._files import cleanup_temporaries

                cleanup_temporaries()
                remove_stale_temporaries(output_dir)
                bar.close()
        busy = summary.read_seconds + summary.compute_seconds + summary.write_seconds
        summary.wait_seconds = max(0.0, summary.wall_seconds * summary.workers - busy)
        order = {j.source: i for i, j in enumerate(jobs)}
        sources = [r.source for r in early] + [j.source for j in jobs]
        summary.results = sorted((results[s] for s in sources if s in results), key=lambda r: order.get(r.source, -1))
        summary.not_done = [r.source for r in early if r.source not in results] + [
            p for j in jobs if j.source not in results for p in j.sources]
        summary.finished = _now()
        if report:
            summary.write_report(note=bar.note)
        return summary
    finally:
        if ex is not None:
            ex.close()
        if manifest is not None:
            manifest.close()
        lock.release()


def process_files(inputs, output_dir, steps=None, *, backend: str = "auto", fmt: str = "same", per_file: bool = False,
                  batch_size: int = 64, resume: bool = False, overwrite: bool = False, executor="auto",
                  workers: int | None = None, client=None, chunk_size: int | None = None,
                  fill_nan: float | None = None, png_bits: int | None = None,
                  deidentify=None, volume: bool = False, progress="auto", callback=None,
                  report: bool = True) -> RunSummary:
    """Process files and folders of CT images into ``output_dir``; never stops at a bad file.

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders (recursive; links to folders followed, each real
        folder once) and glob patterns (see :func:`fastct.jobs.plan.plan`).
    output_dir : str or Path
        Output root (created, locked for the run); the input tree is
        mirrored below it, and nothing is written outside it.
    steps : str, list or Pipeline, optional
        The pipeline (default :data:`fastct.DEFAULT_STEPS`); validated
        before any file is read.
    backend : {"auto", "cpu", "gpu"}
    fmt : {"same", "npy", "png", "tiff", "nii", "dcm"}
        Output format; ``same`` keeps the input's.
    per_file : bool
        One output per input file. By default the DICOM files of a series
        become one volume for the volume formats (``nii``, ``npy``,
        ``tiff``); see :func:`fastct.jobs.plan.plan` for the names.
    batch_size : int
        Slices per backend call; files of equal slice shape and dtype in a
        chunk are computed together, never padded.
    resume : bool
        Keep outputs finished by an earlier run with the same settings and
        an unchanged source (the folder's manifest says which); redo the
        rest. Other steps, format or options raise
        :class:`~fastct.errors.ManifestMismatchError` naming what differs.
    overwrite : bool
        Replace existing outputs. Without ``resume`` or ``overwrite``,
        existing outputs raise :class:`~fastct.errors.OutputExistsError`
        before anything runs. Inputs are never replaced.
    executor : {"auto", "threads", "processes", "dask"} or Executor
        Where the stages run (see :mod:`fastct.jobs.executors`); ``auto``
        picks Dask with a ``client``, worker processes for the CPU backend
        on several cores, threads otherwise.
    workers : int, optional
        Threads or processes (default: one process per core; 2 to 8 threads).
    client : distributed.Client, optional
        Run on this Dask cluster (workers must see the same paths).
    chunk_size : int, optional
        Files per task (default: a few chunks per worker, 1 on Dask).
    fill_nan : float, optional
        Replace NaN/infinite input values with this (default: such files fail).
    png_bits : {8, 16}, optional
        PNG depth for float results (see :func:`fastct.io.write`).
    deidentify : fastct.deid.Policy, optional
        De-identify every output: its metadata is cleaned in the write stage
        (``policy.apply_to_meta(meta)``: DICOM headers through the PS3.15
        profile, NIfTI and image text fields blanked), and with
        ``policy.rename`` outputs take pseudonymous names (see
        :class:`~fastct.jobs.stages.PipelineWork`).
    volume : bool
        Run each file (or DICOM series) as one volume: every step is
        volumetric (``axes=(0, 1, 2)``) with the voxel spacing of the file's
        header, so steps may be given in mm (``gaussian:2mm``); see
        :class:`~fastct.jobs.stages.PipelineWork`.
    progress : {"auto", "bar", "log", "quiet"}
        ``auto``: a tqdm bar when stderr is a terminal, else log lines.
    callback : callable, optional
        Called with each :class:`~fastct.jobs.report.FileResult` as it is settled (in the calling thread).
    report : bool
        Write ``report.json`` into ``output_dir``.

    Returns
    -------
    RunSummary
        Counts, per-file results and errors, slices, stage times, rates.

    Raises
    ------
    StepError, InvalidArgumentError
        Bad steps, options or inputs (nothing was processed).
    OutputExistsError
        Outputs exist and neither ``resume`` nor ``overwrite`` was given.
    ManifestMismatchError
        ``resume`` into a folder written with other settings.
    OutputLockedError
        Another run is writing to ``output_dir``.
    BackendUnavailable
        The backend asked for cannot run here.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> src, out = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> np.save(src / "a.npy", np.zeros((3, 16, 16), np.int16))
    >>> (src / "bad.npy").write_bytes((src / "a.npy").read_bytes()[:-100]) and None  # truncated
    >>> s = process_files(src, out, "dilate:3", backend="cpu", progress="quiet")
    >>> s.exit_code, len(s.ok), len(s.failed), s.slices
    (1, 1, 1, 3)
    """
    _check_options(batch_size, resume, overwrite, fill_nan)
    work = PipelineWork(steps, backend, fill_nan=fill_nan, png_bits=png_bits, batch_size=int(batch_size),
                        deidentify=deidentify, output_dir=output_dir, volume=volume)
    backend_name = _check_backend(work)
    work.backend = backend_name
    return run_work(work, inputs, output_dir, fmt=fmt, per_file=per_file, resume=resume, overwrite=overwrite,
                    executor=executor,
                    workers=workers, client=client, chunk_size=chunk_size, progress=progress, callback=callback,
                    report=report, backend_name=backend_name)

