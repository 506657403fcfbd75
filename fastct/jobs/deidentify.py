"""``fastct deidentify``: DICOM files copied through a de-identification policy.

The work object of :func:`deidentify_files` reads nothing but headers and
pixel bytes, changes no pixel, and writes each object with its source's
transfer syntax (:func:`fastct.deid.deidentify_file`), through the same
engine as ``fastct process``: planning, atomic writes, the lock, resume,
signals and ``report.json``. Images that may show identifying text in their
pixels, and files that are not DICOM, are reported as skipped with the
reason; a file that cannot be parsed fails and is never copied through.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import NotDicomError
from .run import run_work
from .stages import Work

__all__ = ["DeidentifyWork", "deidentify_files", "renamed_output"]


def renamed_output(job, meta, policy, output_dir: Path) -> Path:
    """Where ``job``'s output goes under ``--rename``: a pseudonymous path inside ``output_dir``.

    The name keeps the planned output's suffix (``.dcm``, ``.nii.gz`` ...).
    """
    name = job.output.name
    suffix = ".nii.gz" if name.endswith(".nii.gz") else job.output.suffix
    return Path(output_dir) / policy.output_name(meta, job.source, suffix)


class DeidentifyWork(Work):
    """Copy DICOM files through a :class:`fastct.deid.Policy`; pixels untouched.

    Parameters
    ----------
    policy : fastct.deid.Policy
    output_dir : Path
        The output root (for ``policy.rename``: pseudonymous paths below it).

    Examples
    --------
    >>> import tempfile, pathlib, pydicom
    >>> from pydicom.data import get_testdata_file
    >>> from fastct.deid import Policy
    >>> from fastct.jobs.plan import plan
    >>> from fastct.jobs.stages import run_chunk
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> job = plan([get_testdata_file("CT_small.dcm")], out, "dcm").jobs[0]
    >>> work = DeidentifyWork(Policy(key=b"0123456789abcdef"), out)
    >>> result = run_chunk(work, [job])[0]
    >>> result.status, pydicom.dcmread(result.outputs[0]).PatientIdentityRemoved
    ('ok', 'YES')
    """

    name = "deidentify"

    def __init__(self, policy, output_dir):
        self.policy = policy
        self.output_dir = Path(output_dir)

    def settings(self) -> dict:
        return {"deidentify": self.policy.settings()}

    def describe(self) -> str:
        options = ",".join(sorted(self.policy.options)) or "none"
        return f"de-identification, PS3.15 basic profile, options: {options}"

    def read(self, job):
        if job.source_format != "dicom":
            raise NotDicomError(f"{job.source}: not DICOM ({job.source_format}); fastct deidentify copies DICOM "
                                "objects (use fastct process --deidentify for other formats)")
        return job.source, None

    def slices(self, payload) -> int:
        return 1

    def write(self, job, result, meta, *, overwrite: bool) -> list[Path]:
        from ..deid import deidentify_file

        target = job.output
        if self.policy.rename:
            import pydicom

            header = pydicom.dcmread(job.source, stop_before_pixels=True)
            target = renamed_output(job, _Headers([header]), self.policy, self.output_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        return [deidentify_file(job.source, target, self.policy, overwrite=overwrite)]

    def warm(self, payload, meta) -> None:
        """Nothing to compile."""

    def sample(self, job):
        return job.source, None


class _Headers:
    """The one attribute of an ImageMeta that :meth:`fastct.deid.Policy.output_name` reads."""

    def __init__(self, headers):
        self.headers = headers


def deidentify_files(inputs, output_dir, policy, *, resume: bool = False, overwrite: bool = False,
                     executor="auto", workers: int | None = None, progress="auto", callback=None,
                     report: bool = True):
    """De-identify DICOM files and folders into ``output_dir`` (pixels unchanged).

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders (recursive) and glob patterns, as for :func:`fastct.jobs.process_files`.
    output_dir : str or Path
        Output root; the input tree is mirrored below it unless
        ``policy.rename`` asks for pseudonymous names.
    policy : fastct.deid.Policy
    resume, overwrite, executor, workers, progress, callback, report
        As in :func:`fastct.jobs.process_files`. A policy recording a
        linkage table runs on threads (the table lives in this process).

    Returns
    -------
    RunSummary

    Examples
    --------
    >>> import tempfile, pathlib, shutil
    >>> from pydicom.data import get_testdata_file
    >>> from fastct.deid import Policy
    >>> src, out = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    >>> (src / "notes.txt").write_text("not an image") and None
    >>> s = deidentify_files(src, out, Policy(key=b"0123456789abcdef"), progress="quiet")
    >>> s.exit_code, sorted((r.source.name, r.status) for r in s.results)
    (0, [('ct.dcm', 'ok'), ('notes.txt', 'skipped')])
    """
    if getattr(policy, "linkage", None) is not None and executor == "auto":
        executor = "threads"
    work = DeidentifyWork(policy, output_dir)
    return run_work(work, inputs, output_dir, fmt="same", per_file=True, resume=resume, overwrite=overwrite,
                    executor=executor, workers=workers, progress=progress, callback=callback, report=report)
