"""One output per DICOM series for the volume formats; --per-file keeps one per file."""

from __future__ import annotations

import json
import os

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import fastct
import fastct.io as fio
from fastct import jobs

STEPS = "erode:3"


def _series(folder, n, number, seed):
    """``n`` CT slices of one series, 1 mm apart, written in shuffled name order."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(seed)
    uid = generate_uid()
    order = rng.permutation(n)
    for i in range(n):
        ds = template.copy()
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SOPInstanceUID = uid, number, generate_uid()
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        ds.InstanceNumber = i + 1
        ds.PixelData = rng.integers(0, 2000, (ds.Rows, ds.Columns)).astype(np.int16).tobytes()
        ds.save_as(folder / f"img{order[i]:02d}.dcm")
    return sorted(folder.iterdir())


def test_a_series_becomes_one_volume_and_per_file_keeps_files(tmp_path):
    a = _series(tmp_path / "in" / "a", 4, 3, 0)
    b = _series(tmp_path / "in" / "b", 3, 5, 1)
    summary = jobs.process_files(tmp_path / "in", tmp_path / "out", STEPS, backend="cpu", fmt="nii", progress="quiet")
    assert summary.exit_code == 0 and len(summary.ok) == 2 and summary.slices == 7
    for files, folder in ((a, "a"), (b, "b")):
        (out,) = [p for p in (tmp_path / "out" / folder).iterdir()]
        assert out.name.startswith("s") and out.name.endswith("_CT_" + out.name.split("_")[-1])
        volume, _ = fio.read_dicom_series(files)
        back, meta = fio.read(out)
        np.testing.assert_array_equal(back, fastct.process(volume, STEPS, backend="cpu"))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    listed = sorted(os.path.basename(p) for r in report["ok"] for p in r["inputs"])
    assert listed == sorted(p.name for p in a + b)  # every input file is in the report

    per_file = jobs.process_files(tmp_path / "in", tmp_path / "pf", STEPS, backend="cpu", fmt="nii", per_file=True,
                                  progress="quiet")
    assert len(per_file.ok) == 7 and (tmp_path / "pf" / "a" / "img00.nii").exists()


def test_dicom_output_stays_per_file(tmp_path):
    _series(tmp_path / "in", 3, 1, 2)
    summary = jobs.process_files(tmp_path / "in", tmp_path / "out", STEPS, backend="cpu", fmt="dcm",
                                 progress="quiet")
    assert len(summary.ok) == 3 and sorted(p.name for p in (tmp_path / "out").glob("*.dcm")) == [
        "img00.dcm", "img01.dcm", "img02.dcm"]


def test_resume_redoes_a_series_when_one_of_its_files_changed(tmp_path):
    files = _series(tmp_path / "in", 3, 1, 3)
    out = tmp_path / "out"
    jobs.process_files(tmp_path / "in", out, STEPS, backend="cpu", fmt="npy", progress="quiet")
    same = jobs.process_files(tmp_path / "in", out, STEPS, backend="cpu", fmt="npy", resume=True, progress="quiet")
    assert len(same.skipped) == 1 and len(same.skipped[0].inputs) == 3
    st = os.stat(files[1])
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = jobs.process_files(tmp_path / "in", out, STEPS, backend="cpu", fmt="npy", resume=True, progress="quiet")
    assert len(again.ok) == 1 and again.slices == 3
    with pytest.raises(jobs.ManifestMismatchError, match="per_file"):
        jobs.process_files(tmp_path / "in", out, STEPS, backend="cpu", fmt="npy", per_file=True, resume=True,
                           progress="quiet")
