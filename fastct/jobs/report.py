"""What a run did: per-file results, the run summary, progress output, ``report.json``.

Every input path ends as one :class:`FileResult`: ``ok`` (written),
``skipped`` (with the reason) or ``failed`` (with the error). The
:class:`RunSummary` adds counts, stage times and rates; ``report.json`` is its
:meth:`RunSummary.to_dict`, versioned by :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..errors import FastCTError, SkippedInputError

__all__ = ["REPORT_NAME", "SCHEMA_VERSION", "FileResult", "RunSummary", "describe_error", "failed_result"]

#: name of the run report written into the output folder
REPORT_NAME = "report.json"
#: version of report.json's layout; raised when a key changes meaning or goes away
SCHEMA_VERSION = 2
_WORKER_NOUN = {"threads": "thread", "processes": "process", "dask": "Dask"}


@dataclass
class FileResult:
    """What happened to one input file (or folder that could not be searched).

    Attributes
    ----------
    source : Path
        The input, as given or found.
    status : {"ok", "skipped", "failed"}
    outputs : list of Path
        Files written (several for a PNG per slice).
    slices : int
        Slices processed.
    error : str or None
        Why it failed or was skipped (names the file and the cause).
    error_type : str or None
        The exception class name (or a reason code such as ``Resumed``).
    seconds : dict
        Time this file spent in each stage (``read``, ``compute``, ``write``).
    inputs : list of Path
        For one output made of several inputs (a DICOM series): all of them.
    """

    source: Path
    status: str
    outputs: list = field(default_factory=list)
    slices: int = 0
    error: str | None = None
    error_type: str | None = None
    seconds: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {"input": str(self.source), "status": self.status}
        if self.inputs:
            d["inputs"] = [str(p) for p in self.inputs]
        if self.outputs:
            d["outputs"] = [str(p) for p in self.outputs]
        if self.slices:
            d["slices"] = self.slices
        if self.error:
            d["reason" if self.status == "skipped" else "error"] = self.error
            d["error_type"] = self.error_type
        return d


def describe_error(exc: BaseException, path=None) -> str:
    """One line naming the file and the cause.

    fastct's own errors name their file already; an ``OSError`` becomes
    ``"out/a.dcm: no space left on device"``.

    Examples
    --------
    >>> import errno, os
    >>> describe_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/a.dcm"))
    'out/a.dcm: no space left on device'
    """
    if isinstance(exc, FastCTError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else path
        cause = exc.strerror[:1].lower() + exc.strerror[1:]
        return f"{where}: {cause}" if where is not None else cause
    text = f"{type(exc).__name__}: {exc}"
    return f"{path}: {text}" if path is not None and str(path) not in text else text


def failed_result(source, exc: BaseException, seconds: dict | None = None) -> FileResult:
    """The result of a file whose read, compute or write raised ``exc`` (a file without an image is skipped).

    Examples
    --------
    >>> failed_result("a.dcm", ValueError("bad")).to_dict()
    {'input': 'a.dcm', 'status': 'failed', 'error': 'a.dcm: ValueError: bad', 'error_type': 'ValueError'}
    """
    status = "skipped" if isinstance(exc, SkippedInputError) else "failed"
    return FileResult(Path(source), status, error=describe_error(exc, source), error_type=type(exc).__name__,
                      seconds=dict(seconds or {}))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunSummary:
    """The outcome of :func:`fastct.jobs.process_files`.

    Attributes
    ----------
    results : list of FileResult
        One per input path (ok, skipped or failed), in plan order.
    not_done : list of Path
        Inputs not reached because the run was stopped.
    slices : int
        Slices processed and written.
    wall_seconds : float
        Elapsed time from the first read to the last write (kernel warm-up excluded).
    read_seconds, compute_seconds, write_seconds : float
        Time in each stage, summed over workers.
    wait_seconds : float
        Worker time spent in none of them: start-up, queueing, waiting for
        the compute lock or for the scheduler. ``wall x workers`` is the sum
        of the four.
    warmup_seconds : float
        Compiling or loading kernels before the run.
    interrupted : bool
        Stopped by Ctrl-C, SIGTERM or SIGHUP; finished outputs are valid.
    signal : str or None
        The signal that stopped the run (``SIGINT``, ``SIGTERM``, ``SIGHUP``).
    executor, workers : str, int
        How the files were run.
    report_path : Path or None
        The ``report.json`` written.
    """

    results: list
    output_dir: Path
    steps: str
    backend: str
    format: str
    work: str = "process"
    executor: str = "threads"
    workers: int = 1
    not_done: list = field(default_factory=list)
    slices: int = 0
    batches: int = 0
    wall_seconds: float = 0.0
    read_seconds: float = 0.0
    compute_seconds: float = 0.0
    write_seconds: float = 0.0
    wait_seconds: float = 0.0
    warmup_seconds: float = 0.0
    interrupted: bool = False
    signal: str | None = None
    report_path: Path | None = None
    started: str = field(default_factory=_now)
    finished: str = ""

    def _with(self, status):
        return [r for r in self.results if r.status == status]

    @property
    def ok(self) -> list:
        """Results of the files processed and written."""
        return self._with("ok")

    @property
    def skipped(self) -> list:
        """Results of files skipped: no image in them, hidden, or complete output kept by ``resume``."""
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
        """0: all good; 1: some files failed; 128 + signal number when stopped (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
        if self.interrupted:
            return {"SIGTERM": 143, "SIGHUP": 129}.get(self.signal or "", 130)
        return 1 if self.failed else 0

    def add_seconds(self, seconds: dict) -> None:
        """Add one file's (or chunk's) stage times."""
        self.read_seconds += seconds.get("read", 0.0)
        self.compute_seconds += seconds.get("compute", 0.0)
        self.write_seconds += seconds.get("write", 0.0)

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict (the content of ``report.json``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "fastct": __version__,
            "work": self.work,
            "started": self.started,
            "finished": self.finished,
            "interrupted": self.interrupted,
            "signal": self.signal,
            "output_dir": str(self.output_dir),
            "steps": self.steps,
            "backend": self.backend,
            "format": self.format,
            "executor": self.executor,
            "workers": self.workers,
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
                "read": round(self.read_seconds, 4),
                "compute": round(self.compute_seconds, 4),
                "write": round(self.write_seconds, 4),
                "wait": round(self.wait_seconds, 4),
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
        stopped = ""
        if self.interrupted:
            stopped = f", {len(self.not_done)} not done (stopped by {self.signal or 'an interrupt'})"
        busy = {"read": self.read_seconds, "compute": self.compute_seconds, "write": self.write_seconds,
                "wait": self.wait_seconds}
        slowest = max(busy, key=busy.get) if any(busy.values()) else None
        lines = [
            f"{len(self.ok)} files ok, {len(self.skipped)} skipped, {len(self.failed)} failed{stopped}; "
            f"{self.slices} slices in {self.wall_seconds:.2f} s ({self.end_to_end_rate:.1f} slices/s, "
            f"{self.workers} {_WORKER_NOUN.get(self.executor, self.executor)} "
            f"worker{'s' if self.workers != 1 else ''})",
            "worker time: " + ", ".join(f"{k} {v:.2f} s" for k, v in busy.items())
            + (f" (most in {slowest})" if slowest else "")
            + (f"; kernel warm-up {self.warmup_seconds:.2f} s not counted" if self.warmup_seconds >= 0.05 else ""),
        ]
        if self.report_path is not None:
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)

    def write_report(self, note=print) -> Path | None:
        """Write ``report.json`` into the output folder (atomically); a failure is noted, not raised."""
        from ..io._files import write_bytes_atomic

        path = Path(self.output_dir) / REPORT_NAME
        try:
            write_bytes_atomic(path, json.dumps(self.to_dict(), indent=2).encode(), overwrite=True)
        except OSError as exc:
            note(f"could not write the report: {describe_error(exc, path)}")
            return None
        self.report_path = path
        return path


# ---------------------------------------------------------------------------
# progress


def _columns(stream) -> int:
    """Width of the terminal behind ``stream`` (0 when unknown: no bar then)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class Progress:
    """A tqdm bar on a terminal, plain log lines otherwise, nothing when quiet.

    ``mode`` is ``"auto"``, ``"bar"``, ``"log"`` or ``"quiet"``. Failures are
    always printed (except when quiet), one line each naming the file.
    """

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
        self.mode = mode

    def open(self) -> None:
        """Start the bar (after worker processes exist: tqdm runs a monitor thread)."""
        if self.mode == "bar" and self.bar is None:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=self.total, initial=self.done, unit="file", file=self.stream,
                                dynamic_ncols=True, smoothing=0.1)
            except ImportError:
                self.mode = "log"

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
                print(f"[{self.done}/{self.total} files] {self.slices} slices, {rate:.1f} slices/s, "
                      f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
