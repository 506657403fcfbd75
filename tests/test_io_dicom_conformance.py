"""Derived DICOM objects: written for every valid input, and conformant.

Conformance is checked with ``dciodvfy`` (Debian package ``dicom3tools``;
``ci/test.sh`` installs it where it can): a derived object may carry no
error its source does not have. Those tests skip, saying why, where
dciodvfy is absent. The rest (no raw exceptions, the object type chosen,
values read back) runs everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastct.io as fio
from fastct.errors import FastCTError, NoPixelDataError

pydicom = pytest.importorskip("pydicom")

from pydicom.data import get_testdata_file, get_testdata_files  # noqa: E402

DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(
    DCIODVFY is None, reason="dciodvfy not installed (apt-get install dicom3tools; ci/test.sh does it as root)"
)

SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"
SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"


def _errors(path) -> set:
    run = subprocess.run([DCIODVFY, "-new", str(path)], capture_output=True, text=True, errors="replace", timeout=60,
                         check=False)  # dciodvfy exits non-zero when it finds errors: they are read below
    lines = (run.stdout + run.stderr).splitlines()
    # dciodvfy prints some numbers in hex for one encoding, decimal for another: compare values without "0x"
    return {re.sub(r"<0x", "<", re.sub(r"\s+", " ", line.strip())) for line in lines if line.startswith("Error")}


def _new_errors(source, derived) -> list:
    """Errors of ``derived`` that ``source`` does not have.

    An invalid UID of the source comes back in the derived object's
    reference to it (SourceImageSequence): an error about that same value
    counts as the source's.
    """
    old = _errors(source) if source is not None else set()
    values = {m.group(1) for e in old for m in [re.search(r"= <([^>]*)>", e)] if m}
    new = []
    for e in _errors(derived) - old:
        m = re.search(r"= <([^>]*)>", e)
        if m and "UID" in e and m.group(1) in values:
            continue
        new.append(e)
    return new


def _variants(batch: np.ndarray):
    """What pipelines hand the writer: the source dtype, float32, and 8 bits."""
    yield "same", batch
    yield "float32", batch.astype(np.float32) * np.float32(0.37) + np.float32(0.5)
    yield "uint8", np.clip(batch, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def corpus():
    """Every DICOM file of pydicom's test data (and pydicom-data) fastct reads, read once."""
    return list(_readable_corpus())


def _readable_corpus():
    for f in sorted(get_testdata_files()):
        path = Path(f)
        if not path.is_file() or fio.sniff(path) != "dicom":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                batch, meta = fio.read(path)
            except FastCTError:
                continue
        yield path, batch, meta


def _write(path, batch, meta):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fio.write(path, batch, meta, format="dcm", description="test")[0]


def test_every_readable_dicom_is_written_without_raw_exceptions(tmp_path, corpus):
    written = 0
    failures = []
    for i, (path, batch, meta) in enumerate(corpus):
        for name, data in _variants(batch):
            try:
                out = _write(tmp_path / f"{i}_{name}.dcm", data, meta)
            except FastCTError as exc:
                assert path.name in str(exc) or str(tmp_path) in str(exc), exc
                failures.append(f"{path.name} ({name}): {exc}")
                continue
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{path.name} ({name}): raw {type(exc).__name__}: {exc}")
                continue
            back, _ = fio.read(out)
            atol = (float(data.max()) - float(data.min())) / 65535 + 1e-6 if data.dtype.kind == "f" else 0
            np.testing.assert_allclose(back.astype(np.float64), data.astype(np.float64), atol=atol,
                                       err_msg=f"{path.name} ({name})")
            written += 1
    assert not failures, "\n".join(failures)
    assert written >= 300, written


def test_encoder_gives_pydicoms_bytes(corpus):
    """fastct's DICOM encoder writes byte for byte what pydicom's dcmwrite writes, for every derived object."""
    import io

    from fastct.io.dicom import _derived, _encode_file

    compared = 0
    for path, batch, meta in corpus:
        for name, data in _variants(batch):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ds = _derived(meta.headers[0], data, meta, "test", 0)
                except Exception:  # noqa: BLE001, S112 - not writable at all: the test above covers these
                    continue
                ours = _encode_file(ds)
                theirs = io.BytesIO()
                pydicom.dcmwrite(theirs, ds, enforce_file_format=True)
            assert ours == theirs.getvalue(), f"{path.name} ({name})"
            compared += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = _derived(None, np.arange(2 * 9 * 7, dtype=np.float32).reshape(2, 9, 7), None, "test", 0)
        theirs = io.BytesIO()
        pydicom.dcmwrite(theirs, ds, enforce_file_format=True)
        assert _encode_file(ds) == theirs.getvalue()  # a new Secondary Capture: no raw elements at all
    assert compared >= 300, compared


@needs_dciodvfy
def test_derived_objects_have_no_errors_their_sources_lack(tmp_path, corpus):
    checked = 0
    failures = []
    for i, (path, batch, meta) in enumerate(corpus):
        for name, data in list(_variants(batch))[:2]:  # same dtype and float32 (uint8: see below)
            out = _write(tmp_path / f"{i}_{name}.dcm", data, meta)
            new = _new_errors(path, out)
            if new:
                failures.append(f"{path.name} ({name}): " + "; ".join(sorted(new)[:3]))
            checked += 1
    assert not failures, f"{len(failures)} of {checked} derived objects:\n" + "\n".join(failures)
    assert checked >= 250, checked


@needs_dciodvfy
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm", "OBXXXX1A.dcm",
                                  "emri_small.dcm", "eCT_Supplemental.dcm", "SC_rgb_32bit_2frame.dcm"])
def test_eight_bit_results_are_conformant(tmp_path, name):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is in pydicom-data, not installed")
    batch, meta = fio.read(path)
    out = _write(tmp_path / "u8.dcm", np.clip(batch, 0, 255).astype(np.uint8), meta)
    assert _new_errors(path, out) == []


@needs_dciodvfy
@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "float32"])
@pytest.mark.parametrize("frames", [1, 4])
def test_non_dicom_inputs_give_complete_secondary_capture(tmp_path, dtype, frames):
    rng = np.random.default_rng(0)
    data = (rng.random((frames, 9, 11)) * 200 - (100 if dtype in ("int16", "float32") else 0)).astype(dtype)
    fio.write_nifti(tmp_path / "v.nii", data)
    batch, meta = fio.read(tmp_path / "v.nii")
    for label, m in (("nifti", meta), ("none", None)):
        out = _write(tmp_path / f"{label}.dcm", batch, m)
        assert _errors(out) == set(), label
        ds = pydicom.dcmread(out)
        assert ds.SOPClassUID == (SC_BYTE if dtype == "uint8" else SC_WORD)
        assert int(ds.NumberOfFrames) == frames and ("FrameIncrementPointer" in ds) == (frames > 1)
        back, _ = fio.read(out)
        np.testing.assert_allclose(back, batch, atol=float(np.ptp(batch)) / 65535 + 1e-6)


def test_output_types():
    """Which object type each kind of source and result becomes."""
    cases = [
        ("CT_small.dcm", np.int16, "1.2.840.10008.5.1.4.1.1.2", 16),  # kept
        ("CT_small.dcm", np.uint8, "1.2.840.10008.5.1.4.1.1.2", 16),  # CT allows 16 bits only: widened
        ("US1_UNCR.dcm", np.uint8, "1.2.840.10008.5.1.4.1.1.6.1", 8),  # ultrasound stays 8-bit
        ("US1_UNCR.dcm", np.float32, SC_WORD, 16),  # ultrasound holds no 16-bit data: converted
        ("SC_rgb_32bit_2frame.dcm", np.float32, SC_WORD, 16),  # 2 frames in a single-frame SC: converted
        ("emri_small.dcm", np.float32, "1.2.840.10008.5.1.4.1.1.4.1", 16),  # enhanced MR kept
    ]
    import tempfile

    folder = Path(tempfile.mkdtemp())
    for name, dtype, sop, bits in cases:
        batch, meta = fio.read(get_testdata_file(name))
        data = batch.astype(dtype) if dtype != np.uint8 else np.clip(batch, 0, 255).astype(np.uint8)
        ds = pydicom.dcmread(_write(folder / f"{name}_{np.dtype(dtype).name}.dcm", data, meta))
        assert (ds.SOPClassUID, ds.BitsAllocated) == (sop, bits), (name, dtype)
        assert ds.ImageType[0] == "DERIVED"
        if sop == "1.2.840.10008.5.1.4.1.1.4.1":
            assert ds.ImageType[1] == "PRIMARY"  # enhanced objects: value 2 PRIMARY
        if "WindowWidth" in ds:
            assert float(ds.WindowWidth) >= 1
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == meta.headers[0].SOPInstanceUID


def test_digital_xray_keeps_identity_rescale(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.Modality, ds.PresentationIntentType = "DX", "FOR PRESENTATION"
    ds.save_as(tmp_path / "dx.dcm")
    batch, meta = fio.read(tmp_path / "dx.dcm")
    unsigned = (batch.astype(np.int32) - batch.min()).astype(np.uint16)
    kept = pydicom.dcmread(_write(tmp_path / "u16.dcm", unsigned, meta))
    assert kept.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1" and float(kept.get("RescaleSlope", 1)) == 1
    # a float result needs RescaleSlope != 1, which DX forbids: a Secondary Capture instead
    converted = pydicom.dcmread(_write(tmp_path / "f.dcm", batch * np.float32(0.5), meta))
    assert converted.SOPClassUID == SC_WORD and converted.PatientID == kept.PatientID
    if DCIODVFY:
        assert _new_errors(tmp_path / "dx.dcm", tmp_path / "u16.dcm") == []
        assert _new_errors(tmp_path / "dx.dcm", tmp_path / "f.dcm") == []


@pytest.mark.parametrize("name", ["JPEGLSNearLossless_08.dcm", "SC_rgb_jpeg.dcm"])
def test_sources_without_series_uid_or_with_mixed_encoding(tmp_path, name):
    path = get_testdata_file(name)
    batch, meta = fio.read(path)
    ds = pydicom.dcmread(_write(tmp_path / "out.dcm", batch, meta))
    assert ds.SeriesInstanceUID and ds.SOPInstanceUID and ds.StudyInstanceUID
    # the same input and steps give the same UIDs (resumable), another input others
    again = pydicom.dcmread(_write(tmp_path / "again.dcm", batch, meta))
    assert again.SeriesInstanceUID == ds.SeriesInstanceUID


@pytest.mark.parametrize("name", ["rtdose.dcm", "liver.dcm", "rtstruct.dcm", "reportsi.dcm", "rtplan.dcm"])
def test_objects_that_are_no_images_are_skipped(name):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is in pydicom-data, not installed")
    with pytest.raises(NoPixelDataError, match=re.escape(name)):
        fio.read(path)


def test_series_written_back_as_a_derived_series(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = f"1.2.3.4.{i}"
        ds.ImagePositionPatient = [0, 0, 2.0 * i]
        ds.InstanceNumber = i + 1
        ds.save_as(src / f"{i}.dcm")
    batch, meta = fio.read(src)
    outs = fio.write_dicom_series(tmp_path / "out", batch.astype(np.float32) / 4, meta, description="halve")
    uids = {pydicom.dcmread(p).SeriesInstanceUID for p in outs}
    assert len(outs) == 3 and len(uids) == 1
    if DCIODVFY:
        for s, o in zip(sorted(src.iterdir()), outs, strict=True):
            assert _new_errors(s, o) == []
