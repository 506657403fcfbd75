"""DICOM series: grouping into stacks, sorting, spacing checks, never stacking silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastct.io as fio
from fastct.errors import FileFormatError, NoPixelDataError

pydicom = pytest.importorskip("pydicom")

from pydicom.data import get_testdata_file  # noqa: E402

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]


def _slice(folder, name, z, *, series="1.2.3.4", iop=AXIAL, instance=1, size=None, frame="1.2.3.9", xy=(0.0, 0.0)):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.SOPInstanceUID = f"1.2.3.5.{abs(hash((name, series))) % 10**8}"
    ds.ImageOrientationPatient = iop
    normal = np.cross(iop[:3], iop[3:])
    ds.ImagePositionPatient = list(np.array([xy[0], xy[1], 0.0]) + z * normal)
    ds.InstanceNumber = instance
    if size is not None:
        ds.Rows, ds.Columns = size
        ds.PixelData = np.zeros(size, np.int16).tobytes()
    ds.save_as(folder / name)
    return folder / name


def _series(folder, zs, **kw):
    return [_slice(folder, f"s{i:02d}.dcm", z, instance=i + 1, **kw) for i, z in enumerate(zs)]


def test_one_series_sorted_along_the_normal(tmp_path):
    files = _series(tmp_path, [10.0, 0.0, 5.0, 2.5, 7.5])
    groups = fio.group_dicom_series(files[::-1])
    assert len(groups) == 1
    g = groups[0]
    assert g.ok and g.spacing == pytest.approx(2.5) and g.series_uid == "1.2.3.4"
    assert [p.name for p in g.paths] == ["s01.dcm", "s03.dcm", "s02.dcm", "s04.dcm", "s00.dcm"]
    batch, meta = fio.read_dicom_series(g.paths)
    assert batch.shape == (5, 128, 128) and meta.spacing[0] == pytest.approx(2.5)
    assert meta.extra["slice_spacing_from"] == "ImagePositionPatient" and meta.extra["series_key"] == g.key


def test_several_orientations_are_split_and_never_stacked(tmp_path):
    files = _series(tmp_path, [0.0, 5.0, 10.0])
    files += [_slice(tmp_path, f"c{i}.dcm", z, iop=CORONAL, instance=10 + i) for i, z in enumerate([0.0, 5.0])]
    files += [_slice(tmp_path, "sag.dcm", 0.0, iop=SAGITTAL, instance=20)]
    groups = fio.group_dicom_series(files)
    assert [len(g.paths) for g in groups] == [3, 2, 1]
    assert len({g.key for g in groups}) == 3 and all(g.ok for g in groups)
    assert groups[1].key == groups[0].key + "_2"
    with pytest.raises(FileFormatError, match="several orientations.*3 stacks.*key="):
        fio.read(tmp_path)
    batch, _ = fio.read_dicom_series(tmp_path, key=groups[1].key)
    assert batch.shape[0] == 2


def test_sizes_and_frames_of_reference_split(tmp_path):
    files = _series(tmp_path, [0.0, 1.0])
    files.append(_slice(tmp_path, "small.dcm", 2.0, size=(64, 64)))
    files.append(_slice(tmp_path, "other_for.dcm", 3.0, frame="1.2.3.10"))
    assert sorted(len(g.paths) for g in fio.group_dicom_series(files)) == [1, 1, 2]


def test_series_uids_split(tmp_path):
    a = _series(tmp_path, [0.0, 1.0])
    b = [_slice(tmp_path, "b.dcm", 0.0, series="1.2.3.7")]
    groups = fio.group_dicom_series(a + b)
    assert {g.series_uid for g in groups} == {"1.2.3.4", "1.2.3.7"}
    with pytest.raises(FileFormatError, match="holds 2 series"):
        fio.read_dicom_series(tmp_path)
    batch, _ = fio.read_dicom_series(tmp_path, series_uid="1.2.3.4")
    assert batch.shape[0] == 2


def test_inconsistent_spacing_is_refused(tmp_path):
    files = _series(tmp_path, [0.0, 1.0, 2.0, 4.5, 5.0])
    (g,) = fio.group_dicom_series(files)
    assert not g.ok and "inconsistent slice spacing" in g.reason and g.spacing is None
    with pytest.raises(FileFormatError, match="inconsistent slice spacing"):
        fio.read_dicom_series(files)


def test_gap_is_warned_and_noted(tmp_path):
    files = _series(tmp_path, [0.0, 2.0, 4.0, 8.0, 10.0])
    (g,) = fio.group_dicom_series(files)
    assert g.ok and g.spacing == pytest.approx(2.0) and "1 missing slice" in g.notes[0]
    with pytest.warns(fio.IOWarning, match="missing slice"):
        _, meta = fio.read_dicom_series(files)
    assert meta.spacing[0] == pytest.approx(2.0) and any("missing slice" in n for n in meta.notes)


def test_duplicate_positions_are_warned(tmp_path):
    files = _series(tmp_path, [0.0, 1.0, 1.0, 2.0])
    (g,) = fio.group_dicom_series(files)
    assert g.ok and g.spacing == pytest.approx(1.0) and "same position" in g.notes[0]
    with pytest.warns(fio.IOWarning, match="same position"):
        batch, _ = fio.read_dicom_series(files)
    assert batch.shape[0] == 4


def test_slices_side_by_side_are_not_a_stack(tmp_path):
    files = [_slice(tmp_path, f"t{i}.dcm", 0.0 + i, xy=(300.0 * i, 0.0), instance=i) for i in range(3)]
    (g,) = fio.group_dicom_series(files)
    assert not g.ok and "sideways" in g.reason


def test_non_dicom_and_non_images_come_back_with_their_error(tmp_path):
    files = _series(tmp_path, [0.0, 1.0])
    (tmp_path / "README").write_text("a series\n")
    dose = get_testdata_file("rtdose.dcm")
    groups = fio.group_dicom_series(files + [tmp_path / "README", dose])
    by_error = {type(g.error).__name__: g for g in groups if g.error is not None}
    assert set(by_error) == {"NotAnImageError"} or len(by_error) == 1
    errors = [g for g in groups if g.error is not None]
    assert len(errors) == 2 and all(isinstance(g.error, NoPixelDataError) for g in errors)
    assert sum(len(g.paths) for g in groups) == 4  # every input accounted for, once


def test_missing_series_uid_is_its_own_series(tmp_path):
    files = _series(tmp_path, [0.0, 1.0])
    ds = pydicom.dcmread(files[0])
    del ds.SeriesInstanceUID
    ds.save_as(tmp_path / "nouid.dcm")
    groups = fio.group_dicom_series(files + [tmp_path / "nouid.dcm"])
    assert sorted(len(g.paths) for g in groups) == [1, 2]
    assert all(g.ok for g in groups)


def test_multiframe_files_are_stacks_of_their_own(tmp_path):
    mf = get_testdata_file("emri_small.dcm")
    files = _series(tmp_path, [0.0, 1.0]) + [mf]
    groups = fio.group_dicom_series(files)
    assert [len(g.paths) for g in groups if str(g.paths[0]) == mf] == [1]


def test_no_positions_fall_back_to_instance_number(tmp_path):
    files = _series(tmp_path, [0.0, 1.0, 2.0])
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.InstanceNumber = 3 - i
        ds.save_as(f)
    (g,) = fio.group_dicom_series(files)
    assert [p.name for p in g.paths] == ["s02.dcm", "s01.dcm", "s00.dcm"] and "InstanceNumber" in g.notes[0]


def test_zero_pixel_spacing_is_noted_and_written(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelSpacing = [0, 0]
    ds.save_as(tmp_path / "zero.dcm")
    with pytest.warns(fio.IOWarning, match=r"zero\.dcm: PixelSpacing .* not positive; 1 mm assumed"):
        batch, meta = fio.read(tmp_path / "zero.dcm")
    assert meta.spacing[1:] == (1.0, 1.0) and meta.notes
    for fmt in ("nii", "dcm", "tiff", "npy"):
        out = fio.write(tmp_path / f"out.{fmt}", batch, meta, format=fmt)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert fio.read(out)[0].shape == batch.shape


def test_missing_pixel_spacing_is_noted(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del ds.PixelSpacing
    ds.save_as(tmp_path / "none.dcm")
    with pytest.warns(fio.IOWarning, match="no PixelSpacing; 1 mm assumed"):
        _, meta = fio.read(tmp_path / "none.dcm")
    assert meta.spacing[1:] == (1.0, 1.0)


def test_a_damaged_slice_fails_the_volume(tmp_path):
    files = _series(tmp_path, [0.0, 1.0, 2.0])
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"s01\.dcm"):
        fio.read(tmp_path)


def test_a_group_reads_as_it_is(tmp_path):
    files = _series(tmp_path, [0.0, 1.0, 2.0])
    files.append(_slice(tmp_path, "cor.dcm", 0.0, iop=CORONAL))
    main, single = fio.group_dicom_series(files)
    batch, meta = fio.read_dicom_series(main)
    assert batch.shape[0] == 3 and [p.name for p in meta.extra["files"]] == [p.name for p in main.paths]
    batch, meta = fio.read_dicom_series(single)
    assert batch.shape[0] == 1 and meta.extra["series_key"] == single.key
