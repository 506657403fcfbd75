"""Bad files at the reader: each one gets a clear FastCTError naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import fastct.io as fio
from fastct.errors import FileFormatError, NoPixelDataError

nib = pytest.importorskip("nibabel")
pytest.importorskip("PIL")
pytest.importorskip("tifffile")


def test_truncated_dicom():
    path = get_testdata_file("MR_truncated.dcm")
    with pytest.raises(FileFormatError, match=r"MR_truncated\.dcm: truncated or corrupt pixel data"):
        fio.read(path)


@pytest.mark.parametrize("name, kind", [("rtplan.dcm", "RT Plan Storage"), ("reportsi.dcm", "Basic Text SR Storage")])
def test_dicom_without_pixel_data(name, kind):
    with pytest.raises(NoPixelDataError, match=rf"{name}: {kind}: .*not an image to process"):
        fio.read(get_testdata_file(name))


def test_dicom_with_a_broken_element():
    with pytest.raises(FileFormatError, match=r"badVR\.dcm"):
        fio.read(get_testdata_file("badVR.dcm"))  # NumberOfFrames "1A"


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"empty\.dcm: empty file \(0 bytes\)"):
        fio.read(tmp_path / "empty.dcm")


@pytest.mark.parametrize("name", ["noise.dcm", "noise.png", "noise.nii", "noise"])
def test_random_bytes(tmp_path, name):
    (tmp_path / name).write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    # no image signature, whatever the name: not an image (skipped by batch runs), never a crash
    with pytest.raises(fio.NotAnImageError, match=rf"{name}: not an image file"):
        fio.read(tmp_path / name)


def test_text_file_named_dcm(tmp_path):
    (tmp_path / "notes.dcm").write_text("Patient was scanned twice.\n" * 20)
    with pytest.raises(FileFormatError, match=r"notes\.dcm: .*no DICOM 'DICM' marker"):
        fio.read(tmp_path / "notes.dcm")


def _cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("fmt", ["npy", "png", "tiff", "nii", "dcm"])
def test_truncated_outputs_of_every_format(tmp_path, fmt):
    hu, meta = fio.read(get_testdata_file("CT_small.dcm"))
    data = hu if fmt != "png" else (hu - hu.min()).astype(np.uint16)
    path = fio.write(tmp_path / f"a.{fmt}", data, meta, format=fmt)[0]
    _cut(path, 0.6)
    with pytest.raises(FileFormatError, match=path.name):
        fio.read(path)


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="obj.npy"):
        fio.read(tmp_path / "obj.npy")


def test_npy_of_a_wrong_shape(tmp_path):
    np.save(tmp_path / "vec.npy", np.zeros(10))
    with pytest.raises(FileFormatError, match=r"vec\.npy: array of shape \(10,\)"):
        fio.read(tmp_path / "vec.npy")


def test_odd_sizes_read_as_they_are(tmp_path):
    for shape in ((1, 1), (17, 23), (1, 9)):
        p = fio.write(tmp_path / f"{shape[0]}x{shape[1]}.png", np.ones(shape, np.uint8))[0]
        assert fio.read(p)[0].shape == (1,) + shape
    assert fio.read(get_testdata_file("SC_rgb_small_odd.dcm"))[0].shape == (1, 3, 3)


def test_spaces_and_non_ascii_names(tmp_path):
    folder = tmp_path / "Dr Müller's scans ü 東京"
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "slice 1 é.dcm")
    batch, meta = fio.read(folder / "slice 1 é.dcm")
    out = fio.write(folder / "résultat 1.nii.gz", batch, meta)[0]
    assert fio.read(out)[0].shape == (1, 128, 128)
    assert fio.read(folder)[0].shape == (1, 128, 128)  # the series folder (the .nii.gz is not DICOM)


def test_folder_without_images(tmp_path):
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "plan.dcm")
    with pytest.raises(NoPixelDataError, match="no DICOM images"):
        fio.read(tmp_path)
