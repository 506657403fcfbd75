"""Planning a run: find the inputs, name every output inside ``-o``, keep the resume manifest, lock the folder.

* :func:`plan` walks files, folders and glob patterns. Every path under an
  input ends in the plan as a :class:`Job` or as an early
  :class:`~fastct.jobs.report.FileResult` (skipped with the reason, or
  failed with the error): unreadable folders and files, hidden entries and
  symbolic-link loops included. Symbolic links to folders are followed, each
  real folder once, so a loop ends.
* Outputs mirror the inputs' tree below their common folder, from paths
  made absolute and normalised first, so ``..`` never climbs out of ``-o``;
  an output whose resolved path (links in ``-o`` included) lies outside the
  output folder is refused with :class:`OutsideOutputError`.
* :class:`Manifest` is the journal ``.fastct-manifest.jsonl`` in the output
  folder: a header (fastct version, work, steps, format, options) and one
  line per finished output (its files and its source's size and mtime).
  ``--resume`` compares the header and redoes outputs whose source changed.
* :class:`OutputLock` holds ``.fastct.lock`` (an advisory ``flock``, which
  the kernel drops when its process dies, so a stale lock never blocks).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..errors import (
    InvalidArgumentError,
    ManifestMismatchError,
    OutputExistsError,
    OutputLockedError,
    OutsideOutputError,
)
from .report import FileResult, failed_result

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "Job",
    "Manifest",
    "ManifestMismatchError",
    "OutputLock",
    "OutputLockedError",
    "OutsideOutputError",
    "Plan",
    "plan",
    "remove_stale_temporaries",
]

#: the resume journal kept in the output folder
MANIFEST_NAME = ".fastct-manifest.jsonl"
#: the lock file that keeps a second run out of the output folder
LOCK_NAME = ".fastct.lock"
#: names of temporaries left by a killed writer: ``.NAME.<8 hex>.part[suffix]``
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.part(\..*)?$")


@dataclass
class Job:
    """One unit of work: an input and where its result goes.

    Attributes
    ----------
    source : Path
        The input file, as found (not resolved: reports show the user's path).
    output : Path
        The output (for a PNG per slice, the name the slice numbers derive from).
    format : str
        Output format: ``npy``, ``png``, ``tiff``, ``nii`` or ``dcm``.
    source_format : str
        The input's format as sniffed (``dicom``, ``nifti``, ...).
    explicit : bool
        Named on the command line (not found in a folder).
    replace : bool
        Its output may replace existing files (``--overwrite``, or a resume
        redoing an incomplete or outdated output).
    series : fastct.io.DicomSeries or None
        For one output per DICOM series: the stack to read as one volume
        (its files in ``series.paths``; ``source`` is the first).
    """

    source: Path
    output: Path
    format: str
    source_format: str
    explicit: bool = False
    replace: bool = False
    series: object = None

    @property
    def sources(self) -> tuple:
        """Every input file this job reads."""
        return tuple(self.series.paths) if self.series is not None else (self.source,)


@dataclass
class Plan:
    """The planned run: jobs to do and inputs settled already."""

    jobs: list
    early: list
    output_dir: Path


# ---------------------------------------------------------------------------
# walking


def _skipped(path, reason: str, code: str) -> FileResult:
    return FileResult(Path(path), "skipped", error=f"{path}: {reason}", error_type=code)


class _Walker:
    """Recursive listing that follows links to folders, each real folder once, and reports what it cannot list."""

    def __init__(self, exclude: Path | None):
        self.exclude = exclude  # the resolved output folder: never searched
        self.seen: dict[tuple, Path] = {}  # (st_dev, st_ino) of folders listed -> the path first seen
        self.early: list[FileResult] = []

    def _identity(self, path: Path):
        st = os.stat(path)
        return (st.st_dev, st.st_ino)

    def walk(self, folder: Path):
        """Yield files below ``folder``, sorted, depth first."""
        try:
            ident = self._identity(folder)
        except OSError as exc:
            self.early.append(failed_result(folder, exc))
            return
        if ident in self.seen:
            first = self.seen[ident]
            self.early.append(_skipped(folder, f"a link to the folder {first}, searched already "
                                       "(a symbolic-link loop or a second link to it)", "LinkLoop"))
            return
        self.seen[ident] = folder
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.early.append(failed_result(folder, exc))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                self.early.append(failed_result(path, exc))
                continue
            if not is_dir and entry.is_symlink() and not os.path.exists(path):
                self.early.append(failed_result(path, FileNotFoundError(2, "broken symbolic link", str(path))))
                continue
            if is_dir and self.exclude is not None and path.resolve() == self.exclude:
                continue  # the output folder, inside an input: its files are outputs, not inputs
            if entry.name.startswith("."):
                if _is_own_file(entry.name):
                    continue
                self.early.append(_skipped(path, f"hidden {'folder, not searched' if is_dir else 'file'}", "Hidden"))
                continue
            if is_dir:
                yield from self.walk(path)
            else:
                yield path


def _is_own_file(name: str) -> bool:
    """fastct's temporaries, manifest and lock: never inputs, never reported."""
    return bool(_TEMPORARY.match(name)) or name in (MANIFEST_NAME, LOCK_NAME)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    return path == folder or folder in path.parents


def _glob_root(pattern: str) -> tuple[Path, list[str]]:
    """Split a pattern into the folder before its first wildcard and the remaining parts."""
    parts = Path(pattern).parts
    for i, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return Path(*parts[:i]) if i else Path("."), list(parts[i:])
    return Path(pattern), []


def _match_parts(rel: tuple, parts: list) -> bool:
    """Match path components against pattern components; ``**`` spans zero or more folders."""
    if not parts:
        return not rel
    head = parts[0]
    if head == "**":
        return any(_match_parts(rel[i:], parts[1:]) for i in range(len(rel) + 1))
    return bool(rel) and fnmatch.fnmatchcase(rel[0], head) and _match_parts(rel[1:], parts[1:])


def _glob(pattern: str, walker: _Walker) -> list[tuple[Path, bool]]:
    """Files and folders a glob pattern names, by one loop-safe walk of its fixed prefix.

    Python's own ``glob(recursive=True)`` descends symbolic-link loops until
    the path is too long, which with two loops takes exponential time.
    """
    root, parts = _glob_root(os.path.expanduser(pattern))
    if not parts or not root.is_dir():
        return []
    if "**" not in parts and len(parts) == 1:  # one level: a plain listing, hidden names left to the pattern
        try:
            names = sorted(os.listdir(root))
        except OSError as exc:
            walker.early.append(failed_result(root, exc))
            return []
        return [(root / n, True) for n in names if fnmatch.fnmatchcase(n, parts[0])
                and (not n.startswith(".") or parts[0].startswith("."))]
    matches = []
    folders_done = set()
    sub = _Walker(walker.exclude)
    for path in sub.walk(root):
        rel = path.relative_to(root).parts
        if _match_parts(rel, parts):
            matches.append((path, True))
            continue
        for depth in range(1, len(rel)):  # a folder that matches: all of it
            folder = rel[:depth]
            if folder not in folders_done and _match_parts(folder, parts):
                folders_done.add(folder)
                matches.append((root.joinpath(*folder), False))
                break
    walker.early += [r for r in sub.early if r.error_type != "Hidden"]
    return matches


# ---------------------------------------------------------------------------
# output names


def _absolute(path: Path) -> Path:
    """Absolute and normalised without following links, so ``..`` cannot climb out of a root."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _common_root(paths: list[Path]) -> Path:
    try:
        return Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:  # different drives: no common folder, outputs use bare names
        return Path(paths[0].anchor)


def _output_name(rel: Path, fmt: str, source: Path) -> Path:
    from .. import io as fio

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
    from .. import io as fio

    by_output: dict[Path, list[Job]] = {}
    for job in jobs:
        by_output.setdefault(job.output, []).append(job)
    for output, group in by_output.items():
        if len(group) > 1:
            for job in group:
                job.output = output.with_name(job.source.name + fio.output_suffix(job.format, job.source))


def check_inside(output: Path, output_dir: Path) -> None:
    """Raise :class:`OutsideOutputError` unless ``output`` resolves (links followed) inside ``output_dir``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> check_inside(out / "a" / "b.npy", out)
    >>> check_inside(out / ".." / "b.npy", out)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastct.errors.OutsideOutputError: ...b.npy: lies outside the output folder ...
    """
    real_dir = Path(output_dir).resolve()
    real = Path(output).resolve()
    if not _inside(real, real_dir) or real == real_dir:
        raise OutsideOutputError(f"{output}: lies outside the output folder {output_dir} (resolves to {real}); "
                                 "refused: fastct writes only inside -o")


#: output formats that hold a whole volume in one file: a DICOM series becomes one output by default
VOLUME_FORMATS = ("nii", "npy", "tiff")


def _group_series(jobs: list[Job], output_dir: Path, root: Path) -> list[Job]:
    """One job per DICOM series (a stack that reads as one volume) for volume formats; other jobs as they are.

    Stacks the grouping refuses (inconsistent spacing ...) and single files stay one job per file.
    """
    from .. import io as fio

    candidates = [j for j in jobs if j.source_format == "dicom" and j.format in VOLUME_FORMATS]
    if len(candidates) < 2:
        return jobs
    by_path = {j.source: j for j in candidates}
    merged: dict[Path, Job] = {}  # first file of a stack -> its job
    absorbed: set = set()
    for entry in fio.group_dicom_series([j.source for j in candidates]):
        if not entry.ok or len(entry.paths) < 2:
            continue
        first = by_path[Path(entry.paths[0])]
        folder = _absolute(first.source).parent
        try:
            rel_dir = folder.relative_to(root)
        except ValueError:
            rel_dir = Path()
        output = output_dir / rel_dir / (entry.key + fio.output_suffix(first.format, None))
        merged[first.source] = Job(first.source, output, first.format, "dicom", first.explicit, series=entry)
        absorbed.update(Path(p) for p in entry.paths)
    return [merged.get(j.source, j) for j in jobs if j.source in merged or j.source not in absorbed]


def plan(inputs, output_dir, fmt: str = "same", *, per_file: bool = True) -> Plan:
    """Find the input files and decide each one's output, inside ``output_dir``.

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders (searched recursively; links to folders followed,
        each real folder once) and glob patterns (``"scans/**/*.dcm"``).
    output_dir : str or Path
        Output root. Outputs mirror the inputs' tree below their common
        folder: ``scans/a/b.dcm`` goes to ``OUT/a/b.dcm``.
    fmt : {"same", "npy", "png", "tiff", "nii", "dcm"}
        Output format; ``same`` keeps the input's (JPEG and BMP become PNG,
        NPZ becomes NPY).
    per_file : bool
        One output per input file. False: for the volume formats (``nii``,
        ``npy``, ``tiff``) the DICOM files of one series (grouped by
        :func:`fastct.io.group_dicom_series`) become one volume, written as
        ``<folder of its first file>/<series key>.<ext>``
        (``s<SeriesNumber>_<Modality>_<6 hex digits of the UID>``).

    Returns
    -------
    Plan
        ``jobs`` (files to process, in a stable order) and ``early``
        (results settled now: non-image and hidden files skipped;
        unreadable files and folders, broken links, outputs that would
        replace an input or leave ``output_dir`` failed).

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
    >>> p = plan([src], "/tmp/out", "png")
    >>> [str(j.output) for j in p.jobs], [r.status for r in p.early]
    (['/tmp/out/sub/a.png'], ['skipped'])
    """
    from .. import io as fio

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise InvalidArgumentError("inputs: no input files or folders given")
    fio.output_format(fmt, "dicom")  # validates fmt
    output_dir = Path(output_dir)
    out_resolved = output_dir.resolve()
    walker = _Walker(out_resolved)
    candidates: list[tuple[Path, bool]] = []  # (file, explicit)
    roots: list[Path] = []

    def add_folder(folder: Path) -> None:
        roots.append(folder)
        candidates.extend((p, False) for p in walker.walk(folder))

    for item in inputs:
        item_path = Path(item)
        if item_path.is_dir():
            add_folder(item_path)
        elif item_path.exists() or item_path.is_symlink():
            roots.append(item_path.parent)
            candidates.append((item_path, True))
        else:
            matches = _glob(str(item), walker)
            if not matches:
                raise InvalidArgumentError(
                    f"inputs: {item!r} is no file or folder, and as a pattern it matches nothing")
            for path, is_file in matches:
                if _inside(path.resolve(), out_resolved):
                    continue
                if is_file:
                    roots.append(path.parent)
                    candidates.append((path, True))
                else:
                    add_folder(path)
    root = _common_root([_absolute(r) for r in roots]) if roots else Path.cwd()
    seen, jobs, early = set(), [], list(walker.early)
    for path, explicit in candidates:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            size = path.stat().st_size
            fmt_in = None if size == 0 else fio.sniff(path)
        except OSError as exc:
            early.append(failed_result(path, exc))
            continue
        if fmt_in is None:
            if explicit or fio.image_like_name(path) or size == 0:
                try:
                    fio.detect_format(path)  # raises the explanatory error
                except Exception as exc:  # noqa: BLE001 - recorded per file
                    early.append(failed_result(path, exc))
            else:
                early.append(_skipped(path, "not an image file (unrecognised content)", "NotAnImage"))
            continue
        out_fmt = fio.output_format(fmt, fmt_in)
        absolute = _absolute(path)
        try:
            rel = absolute.relative_to(root)
        except ValueError:
            rel = Path(absolute.name)
        jobs.append(Job(path, output_dir / _output_name(rel, out_fmt, path), out_fmt, fmt_in, explicit))
    if not per_file:
        jobs = _group_series(jobs, output_dir, root)
    _resolve_collisions(jobs)
    inputs_set = seen
    kept = []
    for job in jobs:
        try:
            check_inside(job.output, output_dir)
        except OutsideOutputError as exc:
            early.append(failed_result(job.source, exc))
            continue
        if job.output.resolve() in inputs_set:
            early.append(failed_result(job.source, OutputExistsError(
                f"{job.source}: its output {job.output} would replace an input file; choose another output folder")))
            continue
        kept.append(job)
    return Plan(kept, early, output_dir)


# ---------------------------------------------------------------------------
# outputs on disk


def output_files(job: Job, n_slices: int | None = None) -> list[Path]:
    """The files a job's output consists of: known ones, or (PNG per slice) those found."""
    from .. import io as fio

    if job.format == "png" and n_slices is None:
        if job.output.exists():
            return [job.output]
        return existing_slices(job)
    return fio.output_paths(job.output, job.format, n_slices or 1)


def existing_slices(job: Job) -> list[Path]:
    """PNG slice files of ``job`` present on disk (``NAME_0.png``, ``NAME_1.png`` ...)."""
    import glob as _globmod

    pattern = _globmod.escape(job.output.stem) + "_*" + job.output.suffix
    pick = re.compile(re.escape(job.output.stem) + r"_\d+" + re.escape(job.output.suffix) + "$")
    return sorted(p for p in job.output.parent.glob(pattern) if pick.match(p.name))


def any_output_exists(job: Job) -> bool:
    """True when a file of ``job``'s output is on disk already."""
    return os.path.lexists(job.output) or (job.format == "png" and bool(existing_slices(job)))


def remove_stale_temporaries(output_dir) -> list[Path]:
    """Remove temporaries (``.NAME.xxxxxxxx.part``) that killed runs left in ``output_dir``.

    Called with the folder's lock held, so no running writer owns them.
    Returns the paths removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> (out / ".a.npy.0123abcd.part").write_bytes(b"x") and None
    >>> [p.name for p in remove_stale_temporaries(out)]
    ['.a.npy.0123abcd.part']
    """
    removed = []
    for folder, _dirs, files in os.walk(output_dir):
        for name in files:
            if _TEMPORARY.match(name):
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


# ---------------------------------------------------------------------------
# the resume manifest


def source_stamp(path) -> dict:
    """Size and modification time of a source: what tells that it changed."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    """The journal of a run in its output folder (``.fastct-manifest.jsonl``).

    Line 1 is the header: ``{"fastct", "work", "settings"}`` where settings
    are what decides the outputs' content (steps, format, options). Each
    further line is one finished output: ``{"output", "files", "sources"}``
    (output paths relative to the output folder; per source its absolute
    path, ``size`` and ``mtime_ns``). Lines are
    appended and flushed as outputs finish, so a killed run keeps them; a
    torn last line is ignored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> m = Manifest(out, {"steps": "erode:3", "format": "npy"})
    >>> m.start(fresh=True); m.close()
    >>> m.differences(Manifest.load(out).settings)
    []
    >>> m.differences({"steps": "dilate:3", "format": "npy"})
    ["steps: 'dilate:3' now, 'erode:3' in the folder"]
    """

    def __init__(self, output_dir, settings: dict, work: str = "process"):
        self.output_dir = Path(output_dir)
        self.settings = dict(settings)
        self.work = work
        self.entries: dict[str, dict] = {}
        self.version = __version__
        self._fh = None

    @property
    def path(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @classmethod
    def load(cls, output_dir) -> Manifest | None:
        """The manifest in ``output_dir``, or None when there is none (or its header is unreadable)."""
        path = Path(output_dir) / MANIFEST_NAME
        try:
            lines = path.read_text().splitlines()
        except OSError:
            return None
        try:
            head = json.loads(lines[0])
        except (IndexError, ValueError):
            return None
        m = cls(output_dir, head.get("settings", {}), head.get("work", "process"))
        m.version = head.get("fastct", "?")
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                m.entries[entry["output"]] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a kill
        return m

    def differences(self, settings: dict) -> list[str]:
        """What differs between ``settings`` and this manifest's, one line each (empty: none)."""
        out = []
        for key in sorted(set(settings) | set(self.settings)):
            now, before = settings.get(key), self.settings.get(key)
            if now != before:
                out.append(f"{key}: {now!r} now, {before!r} in the folder")
        return out

    def _rel(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.output_dir))
        except ValueError:
            return str(path)

    def done(self, job: Job) -> list[Path] | None:
        """The files of ``job``'s output when it was finished from the same, unchanged source; else None."""
        from .. import io as fio

        entry = self.entries.get(self._rel(job.output))
        if entry is None or entry.get("sources") != self._stamps(job):
            return None
        files = [self.output_dir / f for f in entry.get("files", [])]
        if not files or not all(fio.is_complete(f, job.format) for f in files):
            return None
        return files

    def start(self, fresh: bool) -> None:
        """Open for appending; ``fresh`` starts a new journal (a first run or ``--overwrite``)."""
        if fresh or not self.path.exists():
            self.entries.clear()
            header = {"fastct": __version__, "work": self.work, "settings": self.settings,
                      "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            tmp = self.path.with_name(self.path.name + ".new")
            tmp.write_text(json.dumps(header) + "\n")
            os.replace(tmp, self.path)
        self._fh = open(self.path, "a")

    @staticmethod
    def _stamps(job: Job) -> list | None:
        try:
            return [{"path": str(_absolute(p)), **source_stamp(p)} for p in job.sources]
        except OSError:
            return None

    def record(self, job: Job, files) -> None:
        """Journal a finished output (called once its files are all in place)."""
        stamps = self._stamps(job)
        if stamps is None:
            return  # a source went away: nothing to compare with later, so it is redone on resume
        entry = {"output": self._rel(job.output), "files": [self._rel(f) for f in files], "sources": stamps}
        self.entries[entry["output"]] = entry
        if self._fh is not None:
            self._fh.write(json.dumps(entry) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------------------
# the lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    """An exclusive lock on an output folder: ``.fastct.lock`` held with ``flock``.

    The kernel drops a ``flock`` when its process dies, so a lock file left by
    a killed run is stale and simply taken over. Where ``flock`` is not
    available, the lock file's pid (same host) tells whether its owner lives.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with OutputLock(out):
    ...     OutputLock(out).acquire()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastct.errors.OutputLockedError: ...another fastct run ... is writing to ...
    """

    def __init__(self, output_dir):
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / LOCK_NAME
        self.fd = None

    def _owner(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f" (pid {info.get('pid')} on {info.get('host')}, started {info.get('started')})"
        except (OSError, ValueError):
            return ""

    def acquire(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            fcntl = None
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise OutputLockedError(
                            f"output_dir: another fastct run{self._owner()} is writing to {self.output_dir}; "
                            "wait for it to finish or choose another output folder"
                        ) from None
                else:
                    self._check_pid()
                # the file may have been removed (by its previous owner) between open and lock: retry then
                if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                    os.close(fd)
                    continue
            except FileNotFoundError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
            self.fd = fd
            return self
        raise OutputLockedError(f"output_dir: could not take the lock {self.path} (it keeps being replaced)")

    def _check_pid(self) -> None:  # pragma: no cover - only where flock is missing
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return
        if info.get("host") == socket.gethostname() and info.get("pid") and _pid_alive(int(info["pid"])) \
                and int(info["pid"]) != os.getpid():
            raise OutputLockedError(f"output_dir: another fastct run{self._owner()} is writing to {self.output_dir}")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

