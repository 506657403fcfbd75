"""Sample data: the labelled lung phantoms and labelled folders of scans."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastct.io
from fastct import datasets
from fastct.datasets import LUNG_CLASSES, load_folder, lung_phantoms
from fastct.errors import InvalidArgumentError

# ---------------------------------------------------------------------------
# lung_phantoms


@pytest.fixture(scope="module")
def phantoms():
    return lung_phantoms(3, 96, seed=7)


def test_lung_phantoms_shape_dtype_labels(phantoms):
    images, labels = phantoms
    assert images.shape == (12, 96, 96) and images.dtype == np.int16
    assert labels.shape == (12,)
    assert sorted(set(labels.tolist())) == sorted(LUNG_CLASSES)
    assert all((labels == c).sum() == 3 for c in LUNG_CLASSES)
    assert images.min() >= -1024 and images.max() <= 3071


def test_lung_phantoms_look_like_chest_ct(phantoms):
    images, _ = phantoms
    for img in images:
        assert np.median(img[:4]) < -950  # air above the body
        centre = img[40:56, 40:56]
        assert np.median(centre) > -200  # mediastinum: soft tissue
        lungs = img[(img > -950) & (img < -700)]
        assert lungs.size > 0.08 * img.size  # two lungs
        assert -900 < np.median(lungs) < -780  # near -850 HU
        assert (img > 300).sum() > 10  # spine and ribs


def test_lung_phantoms_deterministic_and_seeded():
    a_img, a_lab = lung_phantoms(2, 64, seed=3)
    b_img, b_lab = lung_phantoms(2, 64, seed=3)
    c_img, _ = lung_phantoms(2, 64, seed=4)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)


def test_lung_phantoms_class_subset_gives_the_same_slices():
    full_img, full_lab = lung_phantoms(2, 64, seed=1)
    sub_img, sub_lab = lung_phantoms(2, 64, classes=("cavity",), seed=1)
    assert set(sub_lab.tolist()) == {"cavity"}
    mine = full_img[full_lab == "cavity"]
    assert sorted(map(bytes, mine)) == sorted(map(bytes, sub_img))


def test_lung_phantoms_classes_differ_like_the_diseases():
    images, labels = lung_phantoms(4, 128, seed=2)

    def mean_count(cls, lo, hi):
        return np.mean([((im >= lo) & (im < hi)).sum() for im in images[labels == cls]])

    # honeycombing and ground glass: more pixels between lung and soft tissue
    assert mean_count("fibrosis", -750, -300) > 2 * mean_count("normal", -750, -300)
    # cavities: extra air inside the body (below -960 HU, away from the outside air)
    inner = (slice(30, 100), slice(15, 113))

    def air(cls):
        return np.mean([(im[inner] < -960).sum() for im in images[labels == cls]])

    assert air("cavity") > air("normal") + 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_per_class": -1}, "n_per_class"),
        ({"n_per_class": 2, "size": 16}, "size"),
        ({"n_per_class": 2, "classes": ("normal", "asthma")}, "classes"),
        ({"n_per_class": 2, "classes": ("normal", "normal")}, "once"),
        ({"n_per_class": 2, "classes": ()}, "classes"),
    ],
)
def test_lung_phantoms_bad_arguments(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        lung_phantoms(**kwargs)


def test_lung_phantoms_zero_per_class():
    images, labels = lung_phantoms(0, 64)
    assert images.shape == (0, 64, 64) and labels.shape == (0,)


# ---------------------------------------------------------------------------
# load_folder


def _dicom_file(path, hu_offset=0):
    """Write pydicom's CT_small.dcm with shifted pixel values (a real DICOM, in HU after rescale)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelData = (ds.pixel_array + hu_offset).astype(ds.pixel_array.dtype).tobytes()
    ds.save_as(path)
    return path


@pytest.fixture
def scans(tmp_path):
    root = tmp_path / "scans"
    (root / "normal").mkdir(parents=True)
    (root / "nodule" / "series1").mkdir(parents=True)
    np.save(root / "normal" / "a.npy", np.full((2, 128, 128), -1000, np.int16))
    _dicom_file(root / "nodule" / "b.dcm")
    _dicom_file(root / "nodule" / "series1" / "IM0001", hu_offset=5)  # DICOM without an extension
    (root / "nodule" / "broken.dcm").write_bytes(b"definitely not DICOM")
    (root / "nodule" / "notes.txt").write_text("a note")
    (root / "normal" / ".DS_Store").write_bytes(b"\0\0")
    (root / "README.md").write_text("not in a class folder")
    return root


def test_load_folder_reads_every_class_and_reports_bad_files(scans):
    images, labels, skipped = load_folder(scans, return_skipped=True)
    assert images.shape == (4, 128, 128)
    assert labels.tolist() == ["nodule", "nodule", "normal", "normal"]
    reasons = {p.split("/")[-1]: why for p, why in skipped}
    assert set(reasons) == {"broken.dcm", "notes.txt", "README.md"}
    assert "DICM" in reasons["broken.dcm"] or "DICOM" in reasons["broken.dcm"]
    expected = datasets.ct_sample()
    np.testing.assert_array_equal(images[0], expected)  # rescaled to HU like ct_sample
    np.testing.assert_array_equal(images[1], expected + 5)
    assert (images[2:] == -1000).all()


def test_load_folder_warns_about_skipped_files(scans):
    with pytest.warns(UserWarning, match="broken.dcm"):
        images, labels = load_folder(scans)
    assert len(images) == len(labels) == 4


def test_load_folder_different_shapes_need_size(scans):
    np.save(scans / "normal" / "small.npy", np.zeros((64, 64), np.int16))
    with pytest.raises(InvalidArgumentError, match="size="):
        load_folder(scans, return_skipped=True)
    images, labels, _ = load_folder(scans, size=96, return_skipped=True)
    assert images.shape == (5, 96, 96) and images.dtype == np.int16


@pytest.mark.parametrize("layout", ["empty", "no_class_dirs", "only_bad_files"])
def test_load_folder_empty_or_unusable_folder(tmp_path, layout):
    if layout == "no_class_dirs":
        np.save(tmp_path / "a.npy", np.zeros((8, 8), np.int16))
    if layout == "only_bad_files":
        (tmp_path / "normal").mkdir()
        (tmp_path / "normal" / "x.dcm").write_bytes(b"junk")
    with pytest.raises(InvalidArgumentError, match="class sub-folders|no readable slice"):
        load_folder(tmp_path)


def test_load_folder_not_a_folder(tmp_path):
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        load_folder(tmp_path / "missing")


def test_read_slices_without_fastct_io_read(scans, monkeypatch):
    """The stand-in reader (pydicom + NumPy) used when fastct.io has no read()."""
    monkeypatch.delattr(fastct.io, "read", raising=False)
    monkeypatch.delattr(fastct.io, "image_like_name", raising=False)
    dcm = datasets._read_slices(scans / "nodule" / "b.dcm")
    np.testing.assert_array_equal(dcm[0], datasets.ct_sample())
    assert datasets._read_slices(scans / "normal" / "a.npy").shape == (2, 128, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images, labels = load_folder(scans)
    assert len(images) == 4
