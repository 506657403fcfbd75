"""A corpus of CT objects with identifiers planted in every class of PS3.15 Table E.1-1 attribute.

Every attribute of the table that the data dictionary knows (at the top level,
and again inside a nested sequence) gets a unique planted value; so do private
tags, multi-valued and multi-component person names, dates in several
attributes, and free-text descriptions that repeat the patient's name and ID.
Planted text holds the digits 0 and 9, which never occur in base32 tokens, and
planted UIDs have a root that no ``2.25.`` pseudonym can contain: a planted
value found in the output bytes is a leak, never a coincidence.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from fastct.deid._table import table

UID_ROOT = "1.2.826.0.1.3680043.10.999."
PATIENT_NAME = "Q0DOE9^Q0JANE9^Q0MARIE9^Q0DR9^Q0JR9"
PATIENT_ID = "Q0PID4242429"
STUDY_UID = UID_ROOT + "1"
FRAME_UID = UID_ROOT + "2"

_SKIP_GROUPS = (0x0000, 0x0002, 0x0004)  # command, file meta and DICOMDIR groups are not data set attributes
_TEXT = {"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT", "UR"}


class Planter:
    """Hands out unique planted values and remembers them."""

    def __init__(self, prefix: str = "Q0"):
        self.prefix = prefix
        self.n = 0
        self.values: list[str] = []

    def text(self, maxlen: int = 16) -> str:
        self.n += 1
        value = f"{self.prefix}{self.n:05d}9"[:maxlen]
        self.values.append(value)
        return value

    def uid(self) -> str:
        self.n += 1
        value = f"{UID_ROOT}{1000 + self.n}"
        self.values.append(value)
        return value

    def date(self) -> str:
        self.n += 1
        value = (dt.date(1931, 1, 1) + dt.timedelta(days=37 * self.n)).strftime("%Y%m%d")
        self.values.append(value)
        return value

    def time(self) -> str:
        self.n += 1
        value = f"{(self.n % 23):02d}{(self.n * 7) % 60:02d}{(self.n * 13) % 60:02d}.{self.n:06d}"
        self.values.append(value)
        return value


def _value_for(vr: str, planter: Planter):
    if vr == "PN":
        a, b = planter.text(12), planter.text(12)
        c, d = planter.text(12), planter.text(12)
        return [f"{a}^{b}^{c}", f"{d}^Q0X9"]  # multi-valued, multi-component
    if vr in _TEXT:
        return planter.text(16)
    if vr == "DA":
        return planter.date()
    if vr == "DT":
        return planter.date() + "101010"
    if vr == "TM":
        return planter.time()
    if vr == "UI":
        return planter.uid()
    if vr in ("DS", "IS"):
        return "7"
    if vr in ("US", "SS", "UL", "SL"):
        return 7
    if vr in ("FL", "FD"):
        return 7.0
    if vr == "AS":
        return "042Y"
    return None


def _nested_item(planter: Planter) -> Dataset:
    item = Dataset()
    item.PersonName = planter.text(12) + "^" + planter.text(12)
    item.ReferencedSOPInstanceUID = planter.uid()
    item.ReferencedSOPClassUID = CTImageStorage
    item.TextValue = f"{PATIENT_ID} seen by {planter.text(16)}"
    deeper = Dataset()
    deeper.InstitutionName = planter.text(16)
    deeper.PatientName = planter.text(12) + "^" + planter.text(12)
    deeper.add_new(0x00091010, "LO", planter.text(16))  # private without creator, deep inside
    item.ContentSequence = Sequence([deeper])
    return item


def planted_attributes(ds: Dataset, planter: Planter, *, depth: int = 0) -> None:
    """Plant a value in every Table E.1-1 attribute the dictionary knows."""
    exact, masked, _ = table()
    for tag in sorted(exact):
        group = tag >> 16
        if group in _SKIP_GROUPS or tag in (0xFFFAFFFA, 0xFFFCFFFC):
            continue
        try:
            vr = dictionary_VR(tag)
            keyword = keyword_for_tag(tag)
        except KeyError:
            continue
        if not keyword or keyword in ("PixelData",):
            continue
        vr = vr.split(" or ")[0]
        if vr == "SQ":
            if depth == 0:
                ds.add_new(tag, "SQ", Sequence([_nested_item(planter)]))
            continue
        value = _value_for(vr, planter)
        if value is None:
            continue
        if vr != "PN" and isinstance(value, list):
            value = value[0]
        ds.add_new(tag, vr, value)
    # repeating groups: overlay comments and curve-group text
    ds.add_new(0x60004000, "LT", planter.text(16))


def planted_instance(series: int, instance: int, planter: Planter, *, rows: int = 8, cols: int = 8) -> Dataset:
    """One CT image of the planted study: series ``series``, instance ``instance``."""
    ds = Dataset()
    planted_attributes(ds, planter)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"{UID_ROOT}{series}.{instance}"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = f"{UID_ROOT}{series}"
    ds.FrameOfReferenceUID = FRAME_UID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.OtherPatientIDs = [planter.text(16), planter.text(16)]
    ds.PatientBirthDate = "19480229"
    ds.AccessionNumber = "Q0ACC90"
    ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate, ds.ContentDate = "20190304", "20190304", "20190305", "20190305"
    ds.StudyTime = "093015.250"
    ds.StudyDescription = f"CT chest for {PATIENT_NAME.split('^')[0]} {PATIENT_ID}"
    ds.SeriesDescription = f"series of Q0JANE9 {series} on 20190304"
    ds.ImageComments = f"patient {PATIENT_ID} Q0DOE9 born 19480229"
    ds.Modality = "CT"
    ds.BurnedInAnnotation = "NO"
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, float(instance)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    pixels = (np.arange(rows * cols, dtype=np.int16).reshape(rows, cols) * (series + instance)).astype("<i2")
    ds.PixelData = pixels.tobytes()
    if instance > 1:
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = f"{UID_ROOT}{series}.{instance - 1}"
        ds.ReferencedImageSequence = Sequence([ref])
    src = Dataset()
    src.ReferencedSOPClassUID = CTImageStorage
    src.ReferencedSOPInstanceUID = f"{UID_ROOT}{series}.{instance}"
    ds.SourceImageSequence = Sequence([src])
    # private block with a creator, text and a nested private sequence
    block = ds.private_block(0x0029, "Q0VENDOR9 PRIVATE", create=True)
    block.add_new(0x10, "LO", planter.text(16))
    block.add_new(0x11, "LT", f"{PATIENT_ID} private note")
    inner = Dataset()
    inner.add_new(0x00291010, "LO", planter.text(16))
    block.add_new(0x12, "SQ", Sequence([inner]))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"Q0PREAMBLE9".ljust(128, b"\0")
    planter.values.extend([PATIENT_ID, "Q0DOE9", "Q0JANE9", "Q0MARIE9", "Q0ACC90", "19480229",
                           "20190304", "20190305", "Q0VENDOR9", "Q0PREAMBLE9"])
    return ds


def write_study(folder, n_series: int = 2, n_instances: int = 3):
    """Write the planted study to ``folder``; returns (paths, planted values, planted UIDs)."""
    planter = Planter()
    paths, uids = [], {STUDY_UID, FRAME_UID}
    for s in range(1, n_series + 1):
        uids.add(f"{UID_ROOT}{s}")
        for i in range(1, n_instances + 1):
            ds = planted_instance(s, i, planter)
            uids.add(ds.SOPInstanceUID)
            path = folder / f"s{s}_i{i}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    values = sorted(set(planter.values))
    uids |= {v for v in values if v.startswith(UID_ROOT)}
    return paths, values, sorted(uids)


if __name__ == "__main__":  # pragma: no cover - manual inspection
    import sys
    import tempfile
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    paths, values, uids = write_study(out)
    print(f"{len(paths)} files, {len(values)} planted values, {len(uids)} UIDs in {out}")
    print(pydicom.dcmread(paths[0]))
