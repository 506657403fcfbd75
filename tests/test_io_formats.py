"""Readers and writers: every format read -> write -> read keeps pixels and geometry.

Only files bundled with pydicom are used (no downloads); everything else is
made here, tiny.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import fastct
import fastct.io as fio
from fastct.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    OutputExistsError,
)
from fastct.io.meta import affine_from_geometry

nib = pytest.importorskip("nibabel")
pytest.importorskip("PIL")
pytest.importorskip("tifffile")


def sample(name):
    return get_testdata_file(name)


def raw_hu(name):
    import pydicom

    ds = pydicom.dcmread(sample(name))
    arr = ds.pixel_array.astype(np.float64)
    return arr * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


# ---------------------------------------------------------------------------
# DICOM


def test_read_ct_small_in_hounsfield_units(ct_slice):
    batch, meta = fio.read(sample("CT_small.dcm"))
    assert batch.shape == (1, 128, 128) and batch.dtype == np.int16
    np.testing.assert_array_equal(batch[0], ct_slice)
    assert meta.format == "dicom" and meta.rescale == (1.0, -1024.0) and meta.squeeze
    assert meta.spacing == pytest.approx((5.0, 0.661468, 0.661468))
    ds = meta.headers[0]
    origin = [float(v) for v in ds.ImagePositionPatient]
    # RAS affine of voxel (0, 0, 0) is the LPS ImagePositionPatient with x, y negated
    assert meta.affine[:3, 3] == pytest.approx([-origin[0], -origin[1], origin[2]])


def test_rescale_float_when_not_exact(tmp_path):
    import pydicom

    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.RescaleSlope = "0.5"
    ds.save_as(tmp_path / "half.dcm")
    batch, meta = fio.read(tmp_path / "half.dcm")
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], ds.pixel_array * 0.5 - 1024)


def test_reader_is_chosen_by_content_not_name(tmp_path):
    shutil.copy(sample("CT_small.dcm"), tmp_path / "looks_like.png")
    batch, meta = fio.read(tmp_path / "looks_like.png")
    assert meta.format == "dicom" and batch.shape == (1, 128, 128)
    png = fio.write_png(tmp_path / "x.png", np.arange(12, dtype=np.uint8).reshape(3, 4))
    png.rename(tmp_path / "image.dat")
    assert fio.read(tmp_path / "image.dat")[1].format == "png"
    shutil.copy(sample("MR_small.dcm"), tmp_path / "IM0001")  # no extension, as on many scanners
    assert fio.sniff(tmp_path / "IM0001") == "dicom"


def test_dicom_without_preamble_reads(tmp_path):
    import struct

    raw = open(sample("MR_small.dcm"), "rb").read()
    assert raw[128:132] == b"DICM"
    meta_length = struct.unpack("<I", raw[140:144])[0]  # (0002,0000) UL group length
    (tmp_path / "bare.dcm").write_bytes(raw[144 + meta_length :])  # no preamble, no file meta
    assert fio.sniff(tmp_path / "bare.dcm") == "dicom"
    batch, _ = fio.read(tmp_path / "bare.dcm")
    np.testing.assert_array_equal(batch, fio.read(sample("MR_small.dcm"))[0])


def test_big_endian_dicom_reads_as_native():
    big, _ = fio.read(sample("MR_small_bigendian.dcm"))
    little, _ = fio.read(sample("MR_small.dcm"))
    assert big.dtype.isnative and big.dtype == np.int16
    np.testing.assert_array_equal(big, little)


def test_rgb_and_palette_dicom_become_grey():
    import pydicom
    from pydicom.pixels import apply_color_lut

    rgb, meta = fio.read(sample("SC_rgb_small_odd.dcm"))
    ds = pydicom.dcmread(sample("SC_rgb_small_odd.dcm"))
    assert meta.photometric == "RGB" and rgb.shape == (1, 3, 3)
    np.testing.assert_array_equal(rgb[0], fastct.to_gray(ds.pixel_array, backend="cpu"))

    pal, meta = fio.read(sample("examples_palette.dcm"))
    ds = pydicom.dcmread(sample("examples_palette.dcm"))
    assert meta.photometric == "PALETTE COLOR" and pal.shape == (1, 350, 800)
    expected = fastct.to_gray(apply_color_lut(ds.pixel_array, ds), backend="cpu")
    np.testing.assert_array_equal(pal[0], expected)


def test_multiframe_dicom_is_a_batch():
    batch, meta = fio.read(sample("SC_rgb_rle_2frame.dcm"))
    assert batch.shape == (2, 100, 100) and not meta.squeeze
    dose, meta = fio.read(sample("rtdose.dcm"), images_only=False)  # not an image to filter, read on request
    assert dose.shape == (15, 10, 10) and meta.extra["multiframe"]


def test_compressed_dicom_decodes():
    reference, _ = fio.read(sample("MR_small.dcm"))
    rle, _ = fio.read(sample("MR_small_RLE.dcm"))  # pydicom decodes RLE without extras
    np.testing.assert_array_equal(rle, reference)
    pytest.importorskip("pylibjpeg")
    pytest.importorskip("libjpeg")
    jls, _ = fio.read(sample("MR_small_jpeg_ls_lossless.dcm"))
    np.testing.assert_array_equal(jls, reference)
    pytest.importorskip("openjpeg")
    j2k, _ = fio.read(sample("MR_small_jp2klossless.dcm"))
    np.testing.assert_array_equal(j2k, reference)


def test_missing_decoder_names_the_package(monkeypatch):
    import pydicom.pixels

    class Unavailable:
        is_available = False
        missing_dependencies = ["pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"]

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: Unavailable())
    with pytest.raises(MissingDependencyError, match=r"fastct-engine\[dicom\].*pylibjpeg-libjpeg") as info:
        fio.read(sample("MR_small_jpeg_ls_lossless.dcm"))
    assert info.value.extra == "dicom" and "MR_small_jpeg_ls_lossless.dcm" in str(info.value)


def _series(tmp_path, n=4, shuffle=True):
    """n slices of CT_small along the slice normal, files named in reverse order."""
    import pydicom

    folder = tmp_path / "series"
    folder.mkdir()
    base = pydicom.dcmread(sample("CT_small.dcm"))
    iop = np.array([float(v) for v in base.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(v) for v in base.ImagePositionPatient])
    for k in range(n):
        ds = pydicom.dcmread(sample("CT_small.dcm"))
        pix = ds.pixel_array.copy()
        pix[0, 0] = k  # tells the slices apart
        ds.PixelData = pix.tobytes()
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + 2.5 * k * normal]
        ds.InstanceNumber = (n - k) if shuffle else k + 1  # disagrees with position on purpose
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{k}"
        ds.save_as(folder / f"slice_{n - k:02d}.dcm")
    return folder


def test_series_sorted_along_the_normal(tmp_path):
    folder = _series(tmp_path)
    batch, meta = fio.read(folder)
    assert batch.shape == (4, 128, 128)
    assert [int(v) for v in batch[:, 0, 0] + 1024] == [0, 1, 2, 3]  # position order, not name or number
    assert meta.spacing[0] == pytest.approx(2.5, abs=1e-3)
    assert len(meta.headers) == 4 and [p.name for p in meta.extra["files"]][0] == "slice_04.dcm"


def test_series_falls_back_to_instance_number(tmp_path):
    import pydicom

    folder = _series(tmp_path)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    batch, _ = fio.read_dicom_series(folder)
    assert [int(v) for v in batch[:, 0, 0] + 1024] == [3, 2, 1, 0]  # InstanceNumber n - k


def test_series_folder_with_two_series(tmp_path):
    import pydicom

    folder = _series(tmp_path, n=2)
    ds = pydicom.dcmread(sample("MR_small.dcm"))
    ds.save_as(folder / "other_series.dcm")
    with pytest.raises(fastct.FastCTError, match="holds 2 series"):
        fio.read(folder)
    ct_uid = pydicom.dcmread(sample("CT_small.dcm")).SeriesInstanceUID
    batch, _ = fio.read_dicom_series(folder, series_uid=ct_uid)
    assert batch.shape == (2, 128, 128)


@pytest.mark.parametrize("kind", ["int16", "uint8", "float32"])
def test_dicom_round_trip(tmp_path, kind):
    hu, meta = fio.read(sample("CT_small.dcm"))
    if kind == "int16":
        data = hu
    elif kind == "uint8":
        data = fastct.window(hu, preset="lung", dtype=np.uint8, backend="cpu")
    else:
        data = fastct.equalize_hist(hu, backend="cpu")
    out = fio.write(tmp_path / "d.dcm", data, meta, description="test steps")[0]
    back, meta2 = fio.read(out)
    if kind == "float32":
        assert back.dtype == np.float32
        np.testing.assert_allclose(back, data, atol=0.5 / 65535 + 1e-7)
    else:
        # CT Image allows 16 bits allocated only: 8-bit results are widened, values unchanged
        assert back.dtype == (np.uint16 if kind == "uint8" else data.dtype)
        np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(meta2.affine, meta.affine)
    src, new = meta.headers[0], meta2.headers[0]
    assert new.SeriesInstanceUID != src.SeriesInstanceUID and new.SOPInstanceUID != src.SOPInstanceUID
    assert new.StudyInstanceUID == src.StudyInstanceUID and new.PatientID == src.PatientID
    assert list(new.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert new.DerivationDescription == "test steps"
    assert new.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert new.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    # same source + same steps -> same UIDs (a resumed run stays one series)
    again = fio.write(tmp_path / "e.dcm", data, meta, description="test steps")[0]
    assert fio.read(again)[1].headers[0].SOPInstanceUID == new.SOPInstanceUID


def test_dicom_series_round_trip(tmp_path):
    batch, meta = fio.read(_series(tmp_path))
    written = fio.write_dicom_series(tmp_path / "out", batch, meta, description="x")
    assert len(written) == 4
    back, meta2 = fio.read(tmp_path / "out")
    np.testing.assert_array_equal(back, batch)
    np.testing.assert_allclose(meta2.affine, meta.affine, atol=1e-6)
    assert len({h.SeriesInstanceUID for h in meta2.headers}) == 1


def test_dicom_from_an_array_is_secondary_capture(tmp_path):
    data = np.arange(3 * 5 * 7, dtype=np.uint16).reshape(3, 5, 7)
    meta = fio.ImageMeta(path=None, format="npy", shape=data.shape, dtype=data.dtype, spacing=(2.0, 0.5, 0.75))
    out = fio.write_dicom(tmp_path / "sc.dcm", data, meta)
    back, meta2 = fio.read(out)
    np.testing.assert_array_equal(back, data)
    assert meta2.spacing == pytest.approx((2.0, 0.5, 0.75))
    assert meta2.headers[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.3"


# ---------------------------------------------------------------------------
# NIfTI


def _affine():
    a = np.array([[0, 0, 2.5, -10], [-0.7, 0, 0, 20], [0, 0.8, 0, -5], [0, 0, 0, 1]], float)
    return a


def test_nifti_3d_round_trip(tmp_path):
    data = np.random.default_rng(0).integers(-1000, 2000, (7, 9, 5)).astype(np.int16)  # (I, J, K)
    nib.save(nib.Nifti1Image(data, _affine()), tmp_path / "v.nii.gz")
    batch, meta = fio.read(tmp_path / "v.nii.gz")
    assert batch.shape == (5, 9, 7) and batch.dtype == np.int16
    np.testing.assert_array_equal(batch, data.transpose(2, 1, 0))
    assert meta.spacing == pytest.approx((2.5, 0.8, 0.7))
    out = fio.write(tmp_path / "w.nii.gz", batch, meta)[0]
    img = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)
    np.testing.assert_allclose(img.affine, _affine())


def test_nifti_scaling_applied(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2, -1024)
    nib.save(img, tmp_path / "exact.nii")
    batch, meta = fio.read(tmp_path / "exact.nii")
    assert batch.dtype == np.int16 and meta.rescale == (2.0, -1024.0)
    np.testing.assert_array_equal(batch, (data * 2 - 1024).transpose(2, 1, 0))
    img.header.set_slope_inter(0.25, 0)
    nib.save(img, tmp_path / "float.nii")
    batch, _ = fio.read(tmp_path / "float.nii")
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch, (data * 0.25).transpose(2, 1, 0))


def test_nifti_4d_and_2d_round_trip(tmp_path):
    data = np.random.default_rng(1).standard_normal((6, 5, 4, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, _affine()), tmp_path / "v4.nii")
    batch, meta = fio.read(tmp_path / "v4.nii")
    assert batch.shape == (12, 5, 6)
    np.testing.assert_array_equal(batch[4:8], data[..., 1].transpose(2, 1, 0))  # volume 1
    out = fio.write(tmp_path / "w4.nii", batch * 2, meta)[0]
    np.testing.assert_array_equal(nib.load(out).get_fdata(dtype=np.float32), data * 2)

    flat = np.arange(12, dtype=np.uint8).reshape(4, 3)
    nib.save(nib.Nifti1Image(flat, np.eye(4)), tmp_path / "flat.nii")
    batch, meta = fio.read(tmp_path / "flat.nii")
    assert batch.shape == (1, 3, 4) and meta.squeeze
    out = fio.write(tmp_path / "flat2.nii", batch, meta)[0]
    np.testing.assert_array_equal(np.asanyarray(nib.load(out).dataobj), flat)


def test_nifti_slices_along_the_header_slice_axis(tmp_path):
    data = np.random.default_rng(2).integers(0, 100, (4, 6, 8)).astype(np.int16)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_dim_info(slice=0)
    nib.save(img, tmp_path / "sag.nii")
    batch, meta = fio.read(tmp_path / "sag.nii")
    assert batch.shape == (4, 8, 6)  # one slice per index of axis 0
    np.testing.assert_array_equal(batch[1], data[1].T)
    out = fio.write(tmp_path / "sag2.nii", batch, meta)[0]
    np.testing.assert_array_equal(np.asanyarray(nib.load(out).dataobj), data)


def test_dicom_geometry_survives_nifti(tmp_path):
    hu, meta = fio.read(sample("CT_small.dcm"))
    out = fio.write(tmp_path / "ct.nii.gz", hu, meta)[0]
    back, meta2 = fio.read(out)
    np.testing.assert_array_equal(back, hu)
    np.testing.assert_allclose(meta2.affine, meta.affine, atol=1e-5)
    assert meta2.spacing == pytest.approx(meta.spacing)


def test_nifti_nan_voxels_are_read_as_nan(tmp_path):
    data = np.zeros((4, 4, 2), np.float32)
    data[1, 2, 0] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "nan.nii")
    batch, _ = fio.read(tmp_path / "nan.nii")
    assert np.isnan(batch).sum() == 1  # the reader reports, the runner decides


# ---------------------------------------------------------------------------
# images and arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip(tmp_path, dtype):
    data = np.random.default_rng(3).integers(0, np.iinfo(dtype).max, (2, 5, 7)).astype(dtype)
    written = fio.write(tmp_path / "p.png", data, format="png")
    assert [p.name for p in written] == ["p_0.png", "p_1.png"]
    for i, p in enumerate(written):
        back, meta = fio.read(p)
        assert back.dtype == dtype and meta.squeeze
        np.testing.assert_array_equal(back[0], data[i])


def test_png_of_floats_and_refusal_of_negative_hu(tmp_path):
    eq = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    p16 = fio.write(tmp_path / "f16.png", eq)[0]
    np.testing.assert_array_equal(fio.read(p16)[0][0], np.rint(eq * 65535).astype(np.uint16))
    p8 = fio.write(tmp_path / "f8.png", eq, png_bits=8)[0]
    assert fio.read(p8)[0].dtype == np.uint8
    with pytest.raises(InvalidArgumentError, match="window.*equalize"):
        fio.write(tmp_path / "hu.png", np.array([[-1000, 40]], np.int16))
    assert not (tmp_path / "hu.png").exists()


def test_colour_and_palette_images_become_grey(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(4).integers(0, 256, (6, 8, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    batch, meta = fio.read(tmp_path / "rgb.png")
    assert meta.photometric == "RGB"
    np.testing.assert_array_equal(batch[0], fastct.to_gray(rgb, backend="cpu"))
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    assert fio.read(tmp_path / "pal.png")[0].shape == (1, 6, 8)
    Image.fromarray(rgb).save(tmp_path / "c.bmp")
    bmp, meta = fio.read(tmp_path / "c.bmp")
    assert meta.format == "bmp"
    np.testing.assert_array_equal(bmp[0], batch[0])
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpg", quality=95)
    jpg, meta = fio.read(tmp_path / "g.jpg")
    assert meta.format == "jpeg" and jpg.dtype == np.uint8
    assert np.abs(jpg[0].astype(int) - rgb[..., 0]).mean() < 20  # lossy


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint16])
def test_tiff_round_trip(tmp_path, dtype):
    data = (np.random.default_rng(5).standard_normal((3, 5, 7)) * 1000).astype(dtype)
    meta = fio.ImageMeta(path=None, format="npy", shape=data.shape, dtype=data.dtype, spacing=(3.0, 0.5, 0.5))
    out = fio.write(tmp_path / "t.tif", data, meta)[0]
    back, meta2 = fio.read(out)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, data)
    assert meta2.spacing == pytest.approx((3.0, 0.5, 0.5))


def test_npy_npz_round_trip(tmp_path):
    data = np.random.default_rng(6).integers(-5, 5, (4, 6)).astype(np.int16)
    p = fio.write(tmp_path / "a.npy", data[None], fio.ImageMeta(None, "npy", (1, 4, 6), np.int16, squeeze=True))[0]
    assert np.load(p).shape == (4, 6)  # a single image stays 2-D
    back, meta = fio.read(p)
    np.testing.assert_array_equal(back[0], data)
    np.savez(tmp_path / "b.npz", image=data, mask=data > 0)
    assert fio.read(tmp_path / "b.npz")[1].extra["key"] == "image"
    np.savez(tmp_path / "c.npz", x=data, y=data)
    with pytest.raises(fastct.FastCTError, match=r"holds arrays \['x', 'y'\]"):
        fio.read(tmp_path / "c.npz")
    assert fio.read_npz(tmp_path / "c.npz", key="y")[0].shape == (1, 4, 6)


def test_cross_format_geometry_helpers():
    a = affine_from_geometry([1, 2, 3], [0, 1, 0], [0, 0, -1], [-1, 0, 0], (4.0, 0.5, 0.25))
    o, r, c, n, s = fio.meta.geometry_from_affine(a)
    assert s == pytest.approx((4.0, 0.5, 0.25)) and r.tolist() == [0, 1, 0] and o.tolist() == [1, 2, 3]


# ---------------------------------------------------------------------------
# atomic, non-clobbering writes; optional packages


def test_writes_never_replace_without_overwrite(tmp_path):
    target = tmp_path / "a.npy"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="a.npy"):
        fio.write(target, np.zeros((2, 2)), format="npy")
    assert target.read_bytes() == b"precious"
    fio.write(target, np.zeros((2, 2)), format="npy", overwrite=True)
    assert np.load(target).shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]  # no temporary left


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), fio.atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk trouble")
    assert list(tmp_path.iterdir()) == []


def test_is_complete_spots_truncated_outputs(tmp_path):
    p = fio.write(tmp_path / "a.npy", np.zeros((4, 64, 64), np.float32), format="npy")[0]
    q = fio.write(tmp_path / "b.png", np.zeros((8, 8), np.uint8))[0]
    assert fio.is_complete(p, "npy") and fio.is_complete(q, "png")
    p.write_bytes(p.read_bytes()[:-100])
    q.write_bytes(q.read_bytes()[:-5])
    assert not fio.is_complete(p, "npy") and not fio.is_complete(q, "png")


def test_missing_optional_package_is_named(monkeypatch, tmp_path):
    import sys

    data = np.zeros((2, 3, 4), np.int16)
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import nibabel -> ImportError
    with pytest.raises(MissingDependencyError, match=r"nibabel.*pip install 'fastct-engine\[io\]'"):
        fio.write(tmp_path / "x.nii", data)
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(MissingDependencyError, match="tifffile"):
        fio.write(tmp_path / "x.tif", data)
    assert list(tmp_path.iterdir()) == []
