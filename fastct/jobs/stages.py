"""The stages of one unit of work: read a file, batch slices, compute, write its output atomically.

What is read, computed and written is a :class:`Work` object, so one engine
runs every kind of files-in/files-out job; :class:`PipelineWork` (decode,
run a :class:`~fastct.Pipeline`, encode) is the one ``fastct process``
uses. :func:`run_chunk` runs a few jobs through a work object and is what
every executor calls, in a thread, a worker process or a Dask task: there is
one code path for the stages wherever they run.

A work object is pickled to worker processes and Dask workers, so it holds
only plain settings (steps, options), never open files or pools.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import (
    FastCTError,
    InvalidArgumentError,
    WriteError,
)
from .plan import Job
from .report import FileResult, failed_result

__all__ = ["PipelineWork", "Work", "WriteError", "process_file", "run_chunk"]


def _write_error(exc: OSError, output: Path) -> WriteError:
    cause = (exc.strerror or str(exc) or type(exc).__name__)
    cause = cause[:1].lower() + cause[1:]
    return WriteError(f"{output}: {cause}")


class Work:
    """The per-unit work a run does: the interface :func:`run_chunk` drives.

    Subclasses define :meth:`read`, :meth:`compute` and :meth:`write`; the
    engine does everything else (planning, batching, atomic-write bookkeeping,
    resume, the report). A work object must pickle (it travels to worker
    processes). Batched compute is optional: :meth:`batch_key` returning None
    computes each unit alone.

    Attributes
    ----------
    name : str
        What the report and manifest call this kind of run (``process``, ``deidentify``).
    """

    name = "work"

    def settings(self) -> dict:
        """What decides the outputs' content: compared by ``--resume`` with the folder's manifest."""
        return {}

    def describe(self) -> str:
        """A one-line description for the report (for a pipeline, its steps)."""
        return self.name

    def read(self, job: Job):
        """Read ``job.source``; return ``(payload, meta)``."""
        raise NotImplementedError

    def slices(self, payload) -> int:
        """How many slices a payload holds (for the report)."""
        return int(len(payload)) if hasattr(payload, "__len__") else 1

    def batch_key(self, payload):
        """Payloads with equal keys may be computed together; None: compute alone."""
        return None

    def compute(self, payloads: list) -> list:
        """Compute a group of payloads (one, unless :meth:`batch_key` groups them); one result each."""
        return list(payloads)

    def write(self, job: Job, result, meta, *, overwrite: bool) -> list[Path]:
        """Write ``result`` as ``job.output`` (atomically); return the files written."""
        raise NotImplementedError

    def warm(self, payload, meta) -> None:
        """Prepare compute for payloads like this one (compile kernels); called once per kind."""

    def sample(self, job: Job):
        """A cheap ``(payload, meta)`` like ``job``'s, to warm up on (default: :meth:`read`)."""
        return self.read(job)


class PipelineWork(Work):
    """Decode a file, run a pipeline on its slices, encode the result: ``fastct process``.

    Parameters
    ----------
    pipeline : Pipeline, str or list
        The steps.
    backend : {"auto", "cpu", "gpu"}
    fill_nan : float, optional
        Replace NaN and infinite input values with this (default: such files fail).
    png_bits : {8, 16}, optional
        PNG depth for float results (see :func:`fastct.io.write`).
    batch_size : int
        Slices per backend call (a longer volume runs in pieces into one result).
    deidentify : object, optional
        A de-identification policy handed to the write stage: before each
        output is encoded, ``meta = deidentify.apply_to_meta(meta)`` (a new
        :class:`~fastct.io.ImageMeta` whose headers are de-identified) is
        called, so every output format gets de-identified metadata. Its
        ``settings()`` (a dict), when present, is part of the manifest. With
        its ``rename`` set, outputs take pseudonymous names under ``output_dir``
        (:meth:`fastct.deid.Policy.output_name`).
    output_dir : Path, optional
        The output root (needed for pseudonymous names only).
    volume : bool
        Run every step volumetrically (``Pipeline(steps, volume=True)``) on
        each file or series as one 3-D array, with the voxel spacing its
        header gives (``ImageMeta.spacing``, z first), so steps in mm
        (``gaussian:2mm``) are converted per file. ``pipeline`` must then be
        a step string or list.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> from fastct.jobs.plan import plan
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> job = plan([get_testdata_file("CT_small.dcm")], out, "npy").jobs[0]
    >>> [r.status for r in run_chunk(PipelineWork("erode:3", "cpu"), [job])]
    ['ok']
    """

    name = "process"

    def __init__(self, pipeline=None, backend: str = "cpu", *, fill_nan=None, png_bits=None, batch_size: int = 64,
                 deidentify=None, output_dir=None, volume: bool = False):
        from ..pipeline import Pipeline

        self.volume = bool(volume)
        if self.volume:
            if isinstance(pipeline, Pipeline):
                raise InvalidArgumentError("steps: a volume run takes the steps as text or a list (each file's "
                                           "spacing is applied to them), not a built Pipeline")
            # Built once here with unit spacing so that bad steps fail before any file is read.
            self.pipeline = Pipeline(pipeline, volume=True, spacing=(1.0, 1.0, 1.0))
            self.steps_given = pipeline
        else:
            self.pipeline = pipeline if isinstance(pipeline, Pipeline) else Pipeline(pipeline)
        self.backend = backend
        self.fill_nan = fill_nan
        self.png_bits = png_bits
        self.batch_size = int(batch_size)
        self.deidentify = deidentify
        self.output_dir = None if output_dir is None else Path(output_dir)  # the root --rename names outputs under
        self.description = f"fastct {__version__}: {self.pipeline.describe()}"

    def __getstate__(self):
        # A pipeline travels as its steps text (it may hold functions that do not pickle) and is rebuilt there.
        state = dict(self.__dict__)
        state.pop("_volume_pipelines", None)
        if self.volume:
            state["pipeline"] = None
        else:
            state["pipeline"] = (self.pipeline.describe(), getattr(self.pipeline, "fuse", True))
        return state

    def __setstate__(self, state):
        from ..pipeline import Pipeline

        if state.get("volume"):
            state["pipeline"] = Pipeline(state["steps_given"], volume=True, spacing=(1.0, 1.0, 1.0))
        else:
            steps, fuse = state["pipeline"]
            state["pipeline"] = Pipeline(steps, fuse=fuse)
        self.__dict__.update(state)

    def _pipeline_for(self, spacing):
        """The volume pipeline for one file's spacing (built once per spacing)."""
        from ..pipeline import Pipeline

        cache = self.__dict__.setdefault("_volume_pipelines", {})
        key = None if spacing is None else tuple(float(s) for s in spacing)
        if key not in cache:
            cache[key] = Pipeline(self.steps_given, volume=True, spacing=key)
        return cache[key]

    def settings(self) -> dict:
        s = {"steps": self.pipeline.describe(), "fill_nan": self.fill_nan, "png_bits": self.png_bits}
        if self.volume:
            s["volume"] = True
        if self.deidentify is not None:
            policy = self.deidentify
            s["deidentify"] = policy.settings() if hasattr(policy, "settings") else repr(policy)
        return s

    def describe(self) -> str:
        return self.pipeline.describe()

    def read(self, job: Job):
        from .. import io as fio

        batch, meta = fio.read_dicom_series(job.series) if job.series is not None else fio.read(job.source)
        if batch.dtype.kind == "f":
            bad = ~np.isfinite(batch)
            n_bad = int(bad.sum())
            if n_bad:
                if self.fill_nan is None:
                    raise InvalidArgumentError(
                        f"{job.source}: {n_bad} of {batch.size} values are NaN or infinite; fastct does not compute "
                        "on them (pass --fill-nan VALUE / fill_nan= to replace them)"
                    )
                batch = np.where(bad, np.asarray(self.fill_nan, batch.dtype), batch)
        if self.volume:
            return _Volume(batch, meta.spacing), meta
        return batch, meta

    def batch_key(self, payload):
        if self.volume:
            return None  # volumes never mix: each is computed alone, whole
        return payload.shape[1:] + (payload.dtype.str,)

    def compute(self, payloads: list) -> list:
        if self.volume:
            return [self._pipeline_for(p.spacing).run(p.array, self.backend) for p in payloads]
        cat = payloads[0] if len(payloads) == 1 else np.concatenate(payloads)
        if len(cat) <= self.batch_size:
            out = self.pipeline.run(cat, self.backend)
        else:  # a long volume: batch_size slices at a time, straight into one result
            out = np.empty(cat.shape, self.pipeline.output_dtype(cat.dtype))
            for i in range(0, len(cat), self.batch_size):
                self.pipeline.run(cat[i : i + self.batch_size], self.backend, out=out[i : i + self.batch_size])
        results, offset = [], 0
        for p in payloads:
            results.append(out[offset : offset + len(p)])
            offset += len(p)
        return results

    def write(self, job: Job, result, meta, *, overwrite: bool) -> list[Path]:
        from .. import io as fio

        target = job.output
        if self.deidentify is not None:
            if getattr(self.deidentify, "rename", False) and self.output_dir is not None:
                from .deidentify import renamed_output

                target = renamed_output(job, meta, self.deidentify, self.output_dir)  # named from the source
            meta = self.deidentify.apply_to_meta(meta)
        target.parent.mkdir(parents=True, exist_ok=True)
        return fio.write(target, result, meta, job.format, overwrite=overwrite,
                         description=self.description, png_bits=self.png_bits)

    def warm(self, payload, meta) -> None:
        if self.volume:
            array = payload.array if isinstance(payload, _Volume) else payload
            self._pipeline_for(getattr(meta, "spacing", None)).run(array[:3], self.backend)
            return
        self.pipeline.run(payload[:1], self.backend)

    def sample(self, job: Job):
        from .. import io as fio

        return fio.read(job.source)  # for a series, its first file is enough to warm up on


class _Volume:
    """A volume read by a volume run, with its voxel spacing (mm, z first) for the steps in mm."""

    def __init__(self, array, spacing):
        self.array, self.spacing = array, spacing

    def __len__(self) -> int:
        return len(self.array)


#: serialises backend calls of threads in one process: a kernel uses every core itself
COMPUTE_LOCK = threading.RLock()


def _timed(seconds: dict, stage: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - t0


def _compute_group(work: Work, group: list, lock) -> list:
    """Compute a group; if it raises, compute each member alone to find which one is bad."""
    payloads = [g[2] for g in group]
    seconds: dict = {}
    try:
        with lock:
            results = _timed(seconds, "compute", work.compute, payloads)
    except Exception:  # noqa: BLE001 - find the file
        results = []
        for p in payloads:
            try:
                with lock:
                    results.append(_timed(seconds, "compute", work.compute, [p])[0])
            except Exception as exc:  # noqa: BLE001 - recorded per file
                results.append(exc)
    total = sum(work.slices(p) for p in payloads) or 1
    share = [seconds.get("compute", 0.0) * work.slices(p) / total for p in payloads]
    return list(zip(results, share))


def run_chunk(work: Work, jobs: list, *, overwrite: bool = False, lock=None, on_result=None,
              stop=None) -> list[FileResult]:
    """Run ``jobs`` through ``work``: read each, compute in batches, write each; never raises for a bad file.

    Parameters
    ----------
    work : Work
    jobs : list of Job
    overwrite : bool
        Outputs may replace existing files (besides jobs marked ``replace``):
        a rescheduled Dask task completing what its dead attempt wrote.
    lock : context manager, optional
        Held around compute (threads of one process share the cores through it).
    on_result : callable, optional
        Called with each :class:`FileResult` as soon as it is settled.
    stop : threading.Event, optional
        Once set, no further file is read or written (a write in progress
        finishes); the jobs not reached have no result.

    Returns
    -------
    list of FileResult
        One per job, with its stage times in ``seconds``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from fastct.jobs.plan import Job
    >>> d = pathlib.Path(tempfile.mkdtemp()); np.save(d / "a.npy", np.zeros((2, 8, 8), np.int16))
    >>> job = Job(d / "a.npy", d / "out" / "a.npy", "npy", "npy")
    >>> r = run_chunk(PipelineWork("erode:3", "cpu"), [job])[0]
    >>> r.status, r.slices, sorted(r.seconds)
    ('ok', 2, ['compute', 'read', 'write'])
    """
    lock = lock if lock is not None else COMPUTE_LOCK
    results: list[FileResult] = []

    def settle(result, job=None):
        if job is not None and job.series is not None:
            result.inputs = list(job.sources)  # a series: the report names every file of it
        results.append(result)
        if on_result is not None:
            on_result(result)

    read_items = []  # (job, meta, payload, seconds)
    for job in jobs:
        if stop is not None and stop.is_set():
            return results
        seconds: dict = {}
        try:
            payload, meta = _timed(seconds, "read", work.read, job)
        except Exception as exc:  # noqa: BLE001 - recorded per file
            settle(failed_result(job.source, exc, seconds), job)
            continue
        read_items.append((job, meta, payload, seconds))
    groups: dict = {}
    for item in read_items:
        key = work.batch_key(item[2])
        groups.setdefault(key if key is not None else id(item), []).append(item)
    for group in groups.values():
        for (job, meta, payload, seconds), (result, compute_s) in zip(group, _compute_group(work, group, lock)):
            seconds["compute"] = compute_s
            if isinstance(result, BaseException):
                settle(failed_result(job.source, result, seconds), job)
                continue
            if stop is not None and stop.is_set():
                return results
            try:
                written = _timed(seconds, "write", work.write, job, result, meta, overwrite=overwrite or job.replace)
            except OSError as exc:
                if not isinstance(exc, FastCTError):
                    exc = _write_error(exc, job.output)
                settle(failed_result(job.source, exc, seconds), job)
                continue
            except Exception as exc:  # noqa: BLE001 - recorded per file
                settle(failed_result(job.source, exc, seconds), job)
                continue
            settle(FileResult(job.source, "ok", list(written), work.slices(payload), seconds=seconds), job)
    return results


def process_file(job: Job, pipeline, backend: str = "cpu", *, overwrite: bool = False, fill_nan=None,
                 png_bits=None) -> FileResult:
    """Read, process and write one file; returns its :class:`FileResult` (never raises for bad input).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> from fastct.jobs.plan import plan
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> job = plan([get_testdata_file("CT_small.dcm")], out, "tiff").jobs[0]
    >>> result = process_file(job, "erode:3", "cpu")
    >>> result.status, result.slices, result.outputs[0].name
    ('ok', 1, 'CT_small.tif')
    """
    work = PipelineWork(pipeline, backend, fill_nan=fill_nan, png_bits=png_bits)
    return run_chunk(work, [job], overwrite=overwrite)[0]

