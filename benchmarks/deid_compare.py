"""Which identifying attributes do other de-identification tools leave that fastct removes?

Runs pydicom's ``deid`` (its default ``deid.dicom`` recipe), ``dicognito``
(default settings) and ``fastct.deid`` (default policy) on the same DICOM
files: pydicom's own test files and a corpus with identifiers planted in every
attribute of PS3.15 Table E.1-1 (``tests/deid_corpus.py``). A tool that is
not installed is skipped with a message.

For each tool's output it lists the identifying attributes still holding
their original value (every attribute of Table E.1-1 at any depth, compared
value for value with the source), the private attributes left, and how many
planted values are still found anywhere in the output bytes. The summary
names, per tool, the attributes it leaves that fastct does not.

Usage::

    python benchmarks/deid_compare.py [-o benchmarks/results/deid_compare.json] [--files N]

The peers are best installed in a separate virtual environment
(``pip install deid dicognito``) with fastct on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata as md
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fastct.deid import Policy, check_burned_in, deidentify_file  # noqa: E402
from fastct.deid._table import lookup  # noqa: E402
from fastct.errors import FastCTError  # noqa: E402

KEY = b"deid_compare fixed key, not secret"


# ---------------------------------------------------------------------------
# the tools: each takes (source path, output folder) and returns the output path or raises


def run_fastct(src: Path, out: Path) -> Path:
    # Headers only are compared: images that may carry burned-in text are de-identified
    # here too (by default fastct refuses them; the report counts those separately).
    return deidentify_file(src, out / "fastct.dcm", Policy(key=KEY, allow_burned_in=True))


def run_dicognito(src: Path, out: Path) -> Path:
    from dicognito.anonymizer import Anonymizer

    ds = pydicom.dcmread(src, force=True)
    Anonymizer(seed="deid_compare").anonymize(ds)
    path = out / "dicognito.dcm"
    ds.save_as(path)
    return path


def run_deid(src: Path, out: Path) -> Path:
    from deid.config import DeidRecipe
    from deid.dicom import replace_identifiers

    recipe = DeidRecipe()  # the package's default recipe (deid.dicom)
    folder = out / "deid"
    folder.mkdir(exist_ok=True)
    files = replace_identifiers(dicom_files=[str(src)], deid=recipe, save=True, output_folder=str(folder),
                                overwrite=True)
    return Path(files[0])


TOOLS = {"fastct": run_fastct, "deid": run_deid, "dicognito": run_dicognito}
MODULES = {"fastct": None, "deid": "deid", "dicognito": "dicognito"}


# ---------------------------------------------------------------------------
# what is left


def _identifying(ds) -> dict:
    """``{path: value}`` of every Table E.1-1 attribute with a non-empty value, at any depth."""
    found = {}

    def walk(dataset, prefix):
        for elem in dataset:
            name = elem.keyword or str(elem.tag)
            if elem.VR == "SQ":
                for item in elem.value or ():
                    walk(item, f"{prefix}{name}/")
            if elem.tag.is_private or lookup(elem.tag) is None or elem.VR == "SQ":
                continue
            value = elem.value
            if value in (None, "", b"") or (hasattr(value, "__len__") and len(value) == 0):
                continue
            found.setdefault(prefix + name, set()).add(str(value))

    walk(ds, "")
    return found


def left_behind(src_ds, out_path: Path) -> tuple[set, int]:
    """Identifying attributes of the source still holding one of their original values, and private tags left."""
    out = pydicom.dcmread(out_path, force=True)
    before, after = _identifying(src_ds), _identifying(out)
    left = {name.split("/")[-1] for name, values in after.items() if values & before.get(name, set())}
    private = sum(1 for e in out.iterall() if e.tag.is_private)
    return left, private


def _testdata(limit: int | None) -> list[Path]:
    import pydicom.data.data_manager as dm

    files = sorted(glob.glob(os.path.join(dm.DATA_ROOT, "test_files", "**", "*.dcm"), recursive=True))
    keep = []
    for f in files:
        try:
            ds = pydicom.dcmread(f)
            if "SOPClassUID" in ds and "SOPInstanceUID" in ds:
                keep.append(Path(f))
        except Exception:  # noqa: BLE001 - unreadable test files are not part of the comparison
            continue
    return keep[:limit] if limit else keep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "deid_compare.json"))
    parser.add_argument("--files", type=int, default=None, help="at most this many pydicom test files")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    tools = {}
    for name, module in MODULES.items():
        if module is None:
            tools[name] = TOOLS[name]
            continue
        try:
            __import__(module)
            tools[name] = TOOLS[name]
        except ImportError as exc:
            print(f"skipping {name}: not installed ({exc})")

    import deid_corpus

    work = Path(tempfile.mkdtemp(prefix="deid_compare-"))
    (work / "corpus").mkdir()
    corpus_paths, planted, planted_uids = deid_corpus.write_study(work / "corpus", n_series=1, n_instances=2)
    sources = [(p, "planted") for p in corpus_paths] + [(p, "pydicom") for p in _testdata(args.files)]

    results = {name: {"files": 0, "refused": 0, "errors": Counter(), "left": Counter(), "private_left": 0,
                      "planted_found": 0, "seconds": 0.0, "per_file": {}, "left_pydicom": Counter()}
               for name in tools}
    burned_in = 0
    for i, (src, kind) in enumerate(sources):
        src_ds = pydicom.dcmread(src, force=True)
        burned_in += check_burned_in(src_ds) is not None
        for name, run in tools.items():
            res = results[name]
            out = work / f"{i}-{name}"
            out.mkdir()
            t0 = time.perf_counter()
            try:
                path = run(src, out)
            except FastCTError as exc:
                res["refused"] += 1
                res["errors"][type(exc).__name__] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - a peer's failure is a result, not a crash
                res["errors"][type(exc).__name__] += 1
                continue
            finally:
                res["seconds"] += time.perf_counter() - t0
            res["files"] += 1
            left, private = left_behind(src_ds, path)
            res["left"].update(left)
            if kind == "pydicom":
                res["left_pydicom"].update(left)
            res["per_file"][i] = left
            res["private_left"] += private
            if kind == "planted":
                data = path.read_bytes()
                res["planted_found"] += sum(v.encode() in data for v in planted + planted_uids)

    # Compare on the files both processed: fastct refuses burned-in kinds that the others accept.
    fastct_files = results["fastct"]["per_file"]
    summary = {}
    for name, res in results.items():
        extra = Counter()
        for i, left in res["per_file"].items():
            if i in fastct_files:
                extra.update(left - fastct_files[i])
        summary[name] = {
            "files_processed": res["files"],
            "refused": res["refused"],
            "errors": dict(res["errors"]),
            "private_attributes_left": res["private_left"],
            "planted_values_found_in_output_bytes": res["planted_found"],
            "identifying_attributes_left": dict(sorted(res["left"].items())),
            "identifying_attributes_left_in_pydicom_files": dict(sorted(res["left_pydicom"].items())),
            "left_that_fastct_removes": dict(sorted(extra.items())),
            "seconds": round(res["seconds"], 3),
        }
    versions = {"python": platform.python_version(), "pydicom": pydicom.__version__}
    for name, module in MODULES.items():
        if module and name in tools:
            try:
                versions[name] = md.version(module)
            except md.PackageNotFoundError:
                versions[name] = "unknown"
    report = {
        "what": "identifying attributes (PS3.15 Table E.1-1, any depth) still holding an original value after "
                "de-identification with each tool's defaults; counts are numbers of files; "
                "left_that_fastct_removes counts only files that fastct de-identified too; fastct ran with "
                "allow_burned_in=True (its default refuses fastct_default_refuses_burned_in of the files); "
                "planted = corpus of tests/deid_corpus.py",
        "machine": {"platform": platform.platform(), "machine": platform.machine()},
        "versions": versions,
        "sources": {"planted_files": len(corpus_paths), "pydicom_test_files": len(sources) - len(corpus_paths),
                    "planted_values": len(planted) + len(planted_uids)},
        "fastct_default_refuses_burned_in": burned_in,
        "tools": summary,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n")
    for name, s in summary.items():
        extra = list(s["left_that_fastct_removes"])
        print(f"{name:10s} files {s['files_processed']:3d} refused {s['refused']:3d} "
              f"errors {sum(s['errors'].values()):3d} private left {s['private_attributes_left']:5d} "
              f"planted found {s['planted_values_found_in_output_bytes']:5d} "
              f"attributes left {len(s['identifying_attributes_left']):3d}; not by fastct: "
              f"{', '.join(extra[:12])}{' ...' if len(extra) > 12 else ''}")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
