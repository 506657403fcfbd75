"""Files in, files out: the job engine behind ``fastct process``.

A run is plan -> stages on an executor -> settle, one code path whatever
runs the stages:

* :mod:`~fastct.jobs.plan`: walk the inputs, name every output inside the
  output folder, the resume manifest, the folder lock;
* :mod:`~fastct.jobs.stages`: read one file, batch slices, compute, write
  one output atomically, driven by a pluggable :class:`Work`;
* :mod:`~fastct.jobs.executors`: threads, local worker processes, a Dask client;
* :mod:`~fastct.jobs.report`: per-file results, the run summary, ``report.json``;
* :mod:`~fastct.jobs.run`: :func:`process_files` and :func:`run_work`.

Examples
--------
>>> import tempfile, pathlib
>>> from pydicom.data import get_testdata_file
>>> out = pathlib.Path(tempfile.mkdtemp()) / "out"
>>> summary = process_files(get_testdata_file("CT_small.dcm"), out, "erode:3", backend="cpu", fmt="npy",
...                         progress="quiet")
>>> summary.exit_code, sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
(0, ['CT_small.npy', 'report.json'])
"""

from .executors import DaskExecutor, Executor, ProcessExecutor, ThreadExecutor, connect, local_cluster
from .plan import (
    Job,
    ManifestMismatchError,
    OutputLockedError,
    OutsideOutputError,
    Plan,
    plan,
)
from .report import REPORT_NAME, SCHEMA_VERSION, FileResult, RunSummary
from .run import process_files, run_work
from .stages import PipelineWork, Work, WriteError, process_file, run_chunk

__all__ = [
    "REPORT_NAME",
    "SCHEMA_VERSION",
    "DaskExecutor",
    "Executor",
    "FileResult",
    "Job",
    "ManifestMismatchError",
    "OutputLockedError",
    "OutsideOutputError",
    "PipelineWork",
    "Plan",
    "ProcessExecutor",
    "RunSummary",
    "ThreadExecutor",
    "Work",
    "WriteError",
    "connect",
    "local_cluster",
    "plan",
    "process_file",
    "process_files",
    "run_chunk",
    "run_work",
]
