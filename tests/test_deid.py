"""fastct.deid: the PS3.15 E.1-1 profile, keyed pseudonyms, refusals, and proof in the output bytes."""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

import fastct.deid as deid
from fastct.deid import LinkageTable, Policy, clean_meta, deidentify, deidentify_file, pseudonymous_name
from fastct.deid._table import EDITION, OPTIONS, ProfileTableError, lookup, resolve, safe_private, table
from fastct.errors import (
    BurnedInAnnotationError,
    FastCTError,
    FileFormatError,
    InvalidArgumentError,
    LinkageTableError,
    OutputExistsError,
)

sys.path.insert(0, str(Path(__file__).parent))
import deid_corpus as corpus  # noqa: E402

KEY = b"fastct test key: not a secret!!"
OTHER_KEY = b"another key, unrelated to the first"
ACTIONS = {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}


def _local_testdata() -> list[str]:
    """pydicom's own test files shipped with the package (nothing downloaded)."""
    import pydicom.data.data_manager as dm

    files = glob.glob(os.path.join(dm.DATA_ROOT, "test_files", "**", "*"), recursive=True)
    return sorted(f for f in files if os.path.isfile(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    paths, values, uids = corpus.write_study(folder)
    return paths, values, uids


def _run(paths, out: Path, policy: Policy) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [deidentify_file(p, out / p.name, policy) for p in paths]


# ---------------------------------------------------------------------------
# the table as data


def test_table_transcription_is_complete_and_well_formed():
    exact, masked, private = table()
    rows = list(exact.values()) + [r for _, _, r in masked] + [private]
    # Every row of the 2026d table, and its Basic Profile actions counted as the standard has them.
    assert len(rows) == 657 and EDITION == "2026d"
    assert Counter(r.basic for r in rows) == {
        "X": 417, "D": 93, "U": 55, "Z": 42, "X/D": 23, "X/Z": 11, "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2,
    }
    for row in rows:
        assert row.basic in ACTIONS, row
        assert set(row.options) <= set(OPTIONS), row
        assert set(row.options.values()) <= {"K", "C", "X"}, row
    assert lookup(0x00100010).basic == "Z"
    assert lookup(0x00100040).options == {"patient_characteristics": "K"}
    assert lookup(0x00081140).basic == "X/Z/U*"
    assert lookup(0x00080018).options == {"uids": "K"}
    assert lookup(0x50021234).name == "Curve Data"
    assert private.options == {"safe_private": "C"} and private.tag == "(gggg,eeee) where gggg is odd"
    # The names are the standard's: the data dictionary agrees on nearly all of them.
    from pydicom.datadict import dictionary_description

    def norm(text):
        return "".join(c for c in text.lower() if c.isalnum())

    known = [(t, r) for t, r in exact.items() if pydicom.datadict.dictionary_has_tag(t)]
    same = sum(norm(dictionary_description(t)) == norm(r.name) for t, r in known)
    assert same >= 0.9 * len(known)


def test_resolve_prefers_keeping_options_and_valid_dummies():
    row = lookup(0x00080020)  # Study Date: Z, K, C
    assert resolve(row, frozenset()) == "Z"
    assert resolve(row, frozenset({"long_full_dates"})) == "K"
    assert resolve(row, frozenset({"long_modified_dates"})) == "C"
    assert resolve(lookup(0x00181000), frozenset()) == "D"  # Device Serial Number X/Z/D
    row = lookup(0x00181205)  # Date of Installation: X; Retain Device Identity K, modified dates C
    assert resolve(row, frozenset()) == "X" and resolve(row, frozenset({"long_modified_dates"})) == "C"
    assert resolve(row, frozenset({"device_identity", "long_modified_dates"})) == "K"


def test_data_files_cite_their_edition():
    for name, table_name in (("ps3_15_e1_1.csv", "Table E.1-1"), ("ps3_15_e3_10_1.csv", "Table E.3.10-1")):
        first = resources.files("fastct.deid").joinpath(name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# DICOM PS3.15 {EDITION}, {table_name} "), (name, first)


def test_rows_of_the_current_edition():
    """Rows that changed, or were added to Table E.1-1, after the 2020 edition."""
    assert lookup(0x00100020).basic == "Z/D"  # Patient ID: Z/D since 2024b
    machine = lookup(0x300A00B2)  # Treatment Machine Name: X/Z (was X), kept under Retain Device Identity
    assert (machine.basic, machine.options) == ("X/Z", {"device_identity": "K"})
    assert resolve(machine, frozenset()) == "Z"
    assert lookup(0x30060009).basic == "Z"  # Structure Set Time (was X/D)
    assert lookup(0x30100077).basic == "X/D"  # Treatment Site (was D)
    added = lookup(0x00181205)  # Date of Installation, added after 2020
    assert added.name == "Date of Installation" and added.options == {
        "device_identity": "K", "long_full_dates": "K", "long_modified_dates": "C"}
    assert lookup(0x00100042).options == {"patient_characteristics": "C", "clean_descriptors": "C"}
    assert lookup(0x3004007F).name == "Dose Calculation Model Name"  # added in 2026d
    assert lookup(0x00081120).options == {"uids": "K"}  # Referenced Patient Sequence
    assert lookup(0x00080055).options == {"device_identity": "C"}  # Station AE Title


def test_attribute_added_after_2020_and_its_options():
    ds = _ct()
    ds.DateOfInstallation, ds.ModifyingSystem = "20150310", "Q0MODSYS9"  # X/K/K/C and D/K
    basic = deidentify(ds, Policy(key=KEY))
    assert "DateOfInstallation" not in basic and basic.ModifyingSystem not in ("", "Q0MODSYS9")
    device = deidentify(ds, Policy(key=KEY, options=["device_identity"]))
    assert (device.DateOfInstallation, device.ModifyingSystem) == ("20150310", "Q0MODSYS9")
    shifted = deidentify(ds, Policy(key=KEY, options=["long_modified_dates"]))
    ds.StudyDate = "20150310"
    assert shifted.DateOfInstallation == deidentify(ds, Policy(key=KEY, options=["long_modified_dates"])).StudyDate
    assert shifted.DateOfInstallation != "20150310"


def test_treatment_machine_name_emptied_not_removed():
    ds = pydicom.dcmread(get_testdata_file("rtplan.dcm"))
    original = ds.BeamSequence[0].TreatmentMachineName
    beam = deidentify(ds, Policy(key=KEY)).BeamSequence[0]
    assert "TreatmentMachineName" in beam and beam.TreatmentMachineName in ("", None)  # Type 2: present, empty
    kept = deidentify(ds, Policy(key=KEY, options=["device_identity"])).BeamSequence[0]
    assert kept.TreatmentMachineName == original


def test_cleaning_never_empties_a_type_1_descriptor():
    ds = pydicom.dcmread(get_testdata_file("rtstruct.dcm"), force=True)
    ds.StructureSetLabel = ds.PatientID  # D, C under Clean Descriptors: all of it is an identifier
    out = deidentify(ds, Policy(key=KEY, options=["clean_descriptors"]))
    assert out.StructureSetLabel and ds.PatientID not in out.StructureSetLabel


def test_malformed_data_file_refused(monkeypatch):
    from fastct.deid import _table

    good = _table._data_lines(_table._DATA_FILE)
    header = good[0]
    cases = {
        "an action": [header, good[1].replace(",Z,", ",Q,", 1)],
        "not a tag": [header, good[1].replace("(0008,0050)", "(0008,00G0)")],
        "twice": [header, good[1], good[1]],
        "no row for private": [header, good[1]],
    }
    try:
        for message, lines in cases.items():
            monkeypatch.setattr(_table, "_data_lines", lambda name, lines=lines: lines)
            _table.table.cache_clear()
            with pytest.raises(ProfileTableError, match=message):
                _table.table()
        bad = ['tag,private_creator,vr,vm,meaning', '"(0018,xx23)",GEMS_ACQU_01,DS,1,even group']
        monkeypatch.setattr(_table, "_data_lines", lambda name: bad)
        _table.safe_private.cache_clear()
        with pytest.raises(ProfileTableError, match="not a private tag"):
            _table.safe_private()
    finally:
        _table.table.cache_clear()
        _table.safe_private.cache_clear()
    assert issubclass(ProfileTableError, FastCTError) and deid.ProfileTableError is ProfileTableError


# ---------------------------------------------------------------------------
# proof in the output bytes


def test_no_planted_identifier_or_uid_in_output_bytes(study, tmp_path):
    paths, values, uids = study
    outs = _run(paths, tmp_path / "out", Policy(key=KEY))
    assert len(values) > 1000 and len(uids) > 100
    for out in outs:
        data = out.read_bytes()
        leaks = [v for v in values + uids if v.encode() in data]
        assert leaks == [], f"{out.name}: {leaks[:10]}"
        ds = pydicom.dcmread(out)
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(e.tag.is_private for e in ds.iterall())


@pytest.mark.parametrize(
    "options",
    [["clean_descriptors"], ["clean_structured_content"], ["long_modified_dates"], ["safe_private"]],
)
def test_options_never_keep_identity(study, tmp_path, options):
    paths, values, uids = study
    identity = [corpus.PATIENT_ID, "Q0DOE9", "Q0JANE9", "Q0MARIE9", "Q0ACC90", "19480229", "20190304", "Q0VENDOR9"]
    for out in _run(paths, tmp_path / "out", Policy(key=KEY, options=options)):
        data = out.read_bytes()
        leaks = [v for v in identity + uids if v.encode() in data]
        assert leaks == [], f"{options} {out.name}: {leaks}"


def test_descriptors_are_scrubbed_under_clean_descriptors(study, tmp_path):
    paths, _, _ = study
    out = _run(paths[:1], tmp_path / "out", Policy(key=KEY, options=["clean_descriptors"]))[0]
    ds = pydicom.dcmread(out)
    assert ds.StudyDescription.startswith("CT chest for")
    assert "Q0DOE9" not in ds.StudyDescription and corpus.PATIENT_ID not in ds.StudyDescription
    assert ds.SeriesDescription.startswith("series of") and "20190304" not in ds.SeriesDescription
    assert "Q0JANE9" not in ds.SeriesDescription
    assert "StudyDescription" not in pydicom.dcmread(_run(paths[:1], tmp_path / "basic", Policy(key=KEY))[0])


def test_uids_consistent_across_series_and_study(study, tmp_path):
    paths, _, _ = study
    outs = [pydicom.dcmread(p) for p in _run(paths, tmp_path / "out", Policy(key=KEY))]
    assert len({ds.StudyInstanceUID for ds in outs}) == 1
    assert len({ds.FrameOfReferenceUID for ds in outs}) == 1
    by_series = {}
    for src, ds in zip(paths, outs, strict=True):
        by_series.setdefault(src.name.split("_")[0], set()).add(ds.SeriesInstanceUID)
    assert all(len(v) == 1 for v in by_series.values()) and len(set.union(*by_series.values())) == 2
    sop = {(ds.SeriesNumber, ds.InstanceNumber): ds.SOPInstanceUID for ds in outs}
    assert len(set(sop.values())) == len(outs)
    for ds in outs:
        assert ds.SOPInstanceUID.startswith("2.25.") and len(ds.SOPInstanceUID) <= 64
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
        if ds.InstanceNumber > 1:
            ref = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
            assert ref == sop[(ds.SeriesNumber, ds.InstanceNumber - 1)]


def test_same_key_same_bytes_other_key_other_uids(study, tmp_path):
    paths, _, _ = study
    a = _run(paths, tmp_path / "a", Policy(key=KEY))
    b = _run(paths, tmp_path / "b", Policy(key=KEY))
    c = _run(paths, tmp_path / "c", Policy(key=OTHER_KEY))
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    for pa, pc in zip(a, c, strict=True):
        da, dc = pydicom.dcmread(pa), pydicom.dcmread(pc)
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
            assert da[kw].value != dc[kw].value
        assert da.PatientID != dc.PatientID and da.PatientName != dc.PatientName


def test_random_key_when_none_given(monkeypatch):
    monkeypatch.delenv(deid.ENV_KEY, raising=False)
    a, b = Policy(), Policy()
    assert a.key_source == "random" and a.key != b.key
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3"
    assert deidentify(ds, a).SOPInstanceUID != deidentify(ds, b).SOPInstanceUID


def test_key_from_env_and_file(monkeypatch, tmp_path):
    monkeypatch.setenv(deid.ENV_KEY, KEY.decode())
    assert Policy().key == KEY and Policy().key_source == "env"
    keyfile = tmp_path / "key"
    keyfile.write_bytes(OTHER_KEY + b"\n")
    policy = Policy.from_key_file(keyfile)
    assert policy.key == OTHER_KEY and policy.key_source == "file"
    keyfile.write_bytes(b"short")
    with pytest.raises(InvalidArgumentError):
        Policy.from_key_file(keyfile)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        Policy.from_key_file(tmp_path / "missing")


def test_pixels_unchanged(study, tmp_path):
    paths, _, _ = study
    for src, out in zip(paths, _run(paths, tmp_path / "out", Policy(key=KEY)), strict=True):
        assert pydicom.dcmread(out).PixelData == pydicom.dcmread(src).PixelData


def test_source_dataset_not_modified():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    before = ds.to_json_dict(bulk_data_threshold=1 << 30, bulk_data_element_handler=None)
    deidentify(ds, Policy(key=KEY))
    assert ds.to_json_dict(bulk_data_threshold=1 << 30, bulk_data_element_handler=None) == before


# ---------------------------------------------------------------------------
# attributes: unknown removed, essentials kept, options


def _ct():
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def test_unknown_status_removed_essentials_kept():
    ds = _ct()
    ds.ReceiveCoilName = "Q0COIL9"  # SH, not in the table, not image-essential
    ds.add_new(0x0018FFF0, "LO", "Q0UNKNOWN9")  # not in the dictionary
    out = deidentify(ds, Policy(key=KEY))
    assert "ReceiveCoilName" not in out and 0x0018FFF0 not in out
    for kw in ("Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
               "RescaleSlope", "RescaleIntercept", "Modality", "SOPClassUID", "BitsAllocated", "KVP"):
        assert out[kw].value == ds[kw].value, kw
    assert out.FrameOfReferenceUID != ds.FrameOfReferenceUID


def test_modified_dates_shift_by_one_offset_per_patient():
    ds = _ct()
    ds.StudyDate, ds.AcquisitionDate, ds.AcquisitionDateTime = "20200110", "20200115", "20200115083000.5"
    ds.StudyTime = "081500"
    out = deidentify(ds, Policy(key=KEY, options=["long_modified_dates"]))
    day = lambda s: dt.datetime.strptime(s[:8], "%Y%m%d")  # noqa: E731
    assert (day(out.AcquisitionDate) - day(out.StudyDate)).days == 5
    assert out.StudyDate != ds.StudyDate and out.AcquisitionDateTime[:8] == out.AcquisitionDate
    assert out.AcquisitionDateTime[8:] == "083000.5" and out.StudyTime == "081500"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    other = _ct()
    other.PatientID, other.StudyDate = "someone else", "20200110"
    shifted = deidentify(other, Policy(key=KEY, options=["long_modified_dates"])).StudyDate
    assert shifted != out.StudyDate  # another patient, another offset (with this key)
    full = deidentify(ds, Policy(key=KEY, options=["long_full_dates"]))
    assert full.StudyDate == "20200110" and full.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert deidentify(ds, Policy(key=KEY)).LongitudinalTemporalInformationModified == "REMOVED"


def test_retain_options_keep_their_attributes():
    ds = _ct()
    ds.PatientSex, ds.PatientAge, ds.DeviceSerialNumber, ds.InstitutionName = "F", "042Y", "SN123", "Q0HOSP9"
    basic = deidentify(ds, Policy(key=KEY))
    assert basic.PatientSex in ("", None) and "PatientAge" not in basic and basic.DeviceSerialNumber != "SN123"
    kept = deidentify(ds, Policy(key=KEY, options=["patient_characteristics", "device_identity",
                                                    "institution_identity", "uids"]))
    assert (kept.PatientSex, kept.PatientAge, kept.DeviceSerialNumber) == ("F", "042Y", "SN123")
    assert kept.InstitutionName == "Q0HOSP9" and kept.SOPInstanceUID == ds.SOPInstanceUID
    codes = [item.CodeValue for item in kept.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113108", "113109", "113110", "113112"]
    assert all(item.CodingSchemeDesignator == "DCM" for item in kept.DeidentificationMethodCodeSequence)


def test_method_codes_match_cid_7050():
    from pydicom.sr.codedict import codes

    meanings = {c.value: c.meaning for c in (
        codes.DCM.BasicApplicationConfidentialityProfile, codes.DCM.CleanStructuredContentOption,
        codes.DCM.CleanDescriptorsOption, codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption,
        codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption,
        codes.DCM.RetainPatientCharacteristicsOption, codes.DCM.RetainDeviceIdentityOption,
        codes.DCM.RetainSafePrivateOption, codes.DCM.RetainInstitutionIdentityOption)}
    from fastct.deid._core import _CODES

    for value, meaning in _CODES.values():
        if value in meanings:
            assert meanings[value] == meaning
    assert _CODES["uids"] == ("113110", "Retain UIDs Option")


def test_safe_private_table_rows():
    rows = safe_private()
    assert len(rows) == 479  # Table E.3.10-1 of the 2026d edition
    assert rows[("GEMS_ACQU_01", 0x0019, 0x23)] == {"DS"}  # Table Speed [mm/rotation]
    assert rows[("SIEMENS MR HEADER", 0x0019, 0x0C)] == {"IS"}  # B Value
    assert rows[("Philips MR Imaging DD 001", 0x2005, 0x0E)] == {"FL"}  # Scale Slope
    assert rows[("Philips Imaging DD 001", 0x2001, 0x7D)] == {"OW", "OB"}  # Frame Pixel Data, "OW/OB"
    assert rows[("SIEMENS Ultrasound SC2000", 0x0119, 0x11)] == frozenset()  # the table gives no VR
    assert all(group & 1 for _, group, _ in rows)


def _private_ct():
    ds = _ct()
    for elem in [e for e in ds if e.tag.is_private]:
        del ds[elem.tag]
    return ds


def test_safe_private_kept_only_under_its_option_and_creator():
    ds = _private_ct()
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)  # block 0x10
    ge.add_new(0x23, "DS", "1.375")  # table speed: listed for GEMS_ACQU_01
    ge.add_new(0x10, "LO", "Q0PRIVNAME9")  # not listed
    ge.add_new(0x24, "LO", "Q0WRONGVR9")  # listed, but as DS: the VR does not match
    other = ds.private_block(0x0019, "Q0OTHER9 VENDOR", create=True)  # block 0x11: same offsets, another creator
    other.add_new(0x23, "DS", "9.125")
    siemens = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)  # block 0x12
    siemens.add_new(0x0C, "IS", "1000")  # B Value
    assert not any(e.tag.is_private for e in deidentify(ds, Policy(key=KEY)))
    out = deidentify(ds, Policy(key=KEY, options=["safe_private"]))
    kept = {e.tag: str(e.value) for e in out if e.tag.is_private}
    assert kept == {0x00190010: "GEMS_ACQU_01", 0x00191023: "1.375",
                    0x00190012: "SIEMENS MR HEADER", 0x0019120C: "1000"}
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113111"]


def test_safe_private_values_are_cleaned():
    from pydicom.sequence import Sequence

    ds = _private_ct()
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    ge.add_new(0x9E, "LO", f"seq for {ds.PatientID}")  # Internal Pulse Sequence Name: listed, free text
    nq = ds.private_block(0x0099, "NQHeader", create=True)
    nq.add_new(0x02, "UI", ds.SeriesInstanceUID)  # Analyzed Series UID: listed, an instance UID
    item = Dataset()
    item.PatientName = "Q0NESTED9^Q0NAME9"
    inner = item.private_block(0x2001, "Philips Imaging DD 001", create=True)
    inner.add_new(0x60, "SL", 3)  # MR Series Nr Of Stacks: listed
    inner.add_new(0x20, "LO", "Q0INNER9")  # not listed
    philips = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    philips.add_new(0x5F, "SQ", Sequence([item]))  # Stack Sequence: listed
    out = deidentify(ds, Policy(key=KEY, options=["safe_private"]))
    assert ds.PatientID not in out[0x0019109E].value and out[0x0019109E].value.startswith("seq for")
    assert out[0x00991002].value == out.SeriesInstanceUID != ds.SeriesInstanceUID
    got = out[0x2001105F].value[0]
    assert str(got.PatientName).startswith("ANON^")
    assert {e.tag: e.value for e in got if e.tag.is_private} == {0x20010010: "Philips Imaging DD 001", 0x20011060: 3}
    data = bytes(out.to_json(bulk_data_threshold=1 << 30), "utf-8")
    assert b"Q0NESTED9" not in data and b"Q0INNER9" not in data


def test_bad_options_refused():
    with pytest.raises(InvalidArgumentError, match="unknown"):
        Policy(key=KEY, options=["retain-everything"])
    with pytest.raises(InvalidArgumentError, match="not supported"):
        Policy(key=KEY, options=["clean_graphics"])
    with pytest.raises(InvalidArgumentError, match="exclude"):
        Policy(key=KEY, options=["long_full_dates", "long_modified_dates"])
    assert Policy(key=KEY, options="retain-uids, device").options == {"uids", "device_identity"}


# ---------------------------------------------------------------------------
# burned-in text


@pytest.mark.parametrize("modality", ["US", "SC", "OT"])
def test_burned_in_kinds_refused_unless_explicit_no(modality):
    ds = _ct()
    ds.Modality = modality
    with pytest.raises(BurnedInAnnotationError) as info:
        deidentify(ds, Policy(key=KEY))
    assert modality in info.value.reason and "Q0" not in str(info.value)
    assert deidentify(ds, Policy(key=KEY, allow_burned_in=True)).PatientIdentityRemoved == "YES"
    ds.BurnedInAnnotation = "NO"
    deidentify(ds, Policy(key=KEY))


def test_burned_in_yes_refused_for_any_modality(tmp_path):
    ds = _ct()
    ds.BurnedInAnnotation = "YES"
    src = tmp_path / "in.dcm"
    ds.save_as(src)
    with pytest.raises(BurnedInAnnotationError, match="BurnedInAnnotation is YES"):
        deidentify_file(src, tmp_path / "out.dcm", Policy(key=KEY))
    assert not (tmp_path / "out.dcm").exists()


def test_screen_capture_sop_class_refused():
    ds = _ct()
    ds.Modality = "CT"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.4"  # multi-frame true colour secondary capture
    with pytest.raises(BurnedInAnnotationError, match="SOP class"):
        deidentify(ds, Policy(key=KEY))


# ---------------------------------------------------------------------------
# files: bad input, transfer syntax, atomic writes


def test_unparsable_files_refused_not_copied(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    for src in (junk, Path(get_testdata_file("MR_truncated.dcm")), tmp_path / "README.txt"):
        if src.name == "README.txt":
            src.write_text("not dicom at all\n")
        out = tmp_path / ("out-" + src.name)
        with pytest.raises(FileFormatError) as info:
            deidentify_file(src, out, Policy(key=KEY))
        assert str(src) in str(info.value) and "not copied" in str(info.value)
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_exists_and_overwrite(tmp_path):
    src = get_testdata_file("CT_small.dcm")
    out = deidentify_file(src, tmp_path / "o.dcm", Policy(key=KEY))
    with pytest.raises(OutputExistsError):
        deidentify_file(src, out, Policy(key=KEY))
    deidentify_file(src, out, Policy(key=OTHER_KEY), overwrite=True)
    shutil.copy(src, tmp_path / "same.dcm")
    with pytest.raises(OutputExistsError):
        deidentify_file(tmp_path / "same.dcm", tmp_path / "same.dcm", Policy(key=KEY), overwrite=True)


def test_pydicom_test_files_deidentified_or_refused(tmp_path):
    """Every file pydicom ships: de-identified (same transfer syntax and pixel bytes) or refused with a reason."""
    policy = Policy(key=KEY)
    done = refused = 0
    for i, src in enumerate(_local_testdata()):
        out = tmp_path / f"{i}.dcm"
        try:
            deidentify_file(src, out, policy)
        except (FileFormatError, BurnedInAnnotationError) as exc:
            assert str(src) in str(exc) or getattr(exc, "reason", "")
            assert not out.exists()
            refused += 1
            continue
        done += 1
        before = pydicom.dcmread(src, force=True)
        after = pydicom.dcmread(out)
        assert after.PatientIdentityRemoved == "YES"
        assert not any(e.tag.is_private for e in after.iterall())
        if "TransferSyntaxUID" in before.file_meta:
            assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID, src
        if "PixelData" in before:
            assert after.PixelData == before.PixelData, src
        data = out.read_bytes()
        for kw in ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                   "InstitutionName", "ReferringPhysicianName", "AccessionNumber"):
            value = str(before.get(kw, "") or "").strip()
            # Short numbers may occur by chance inside a 39-digit 2.25 UID.
            chance = value.isdigit() and len(value) < 10
            if len(value) >= 4 and value not in ("ANONYMOUS", "Anonymized") and not chance:
                assert value.encode() not in data, (src, kw)
    assert done >= 60 and refused >= 10  # pydicom 3.0 ships 110 readable objects, 40 of burned-in kinds


def test_deidentified_file_reads_back_with_fastct_io(tmp_path):
    from fastct import io as fio

    src = get_testdata_file("CT_small.dcm")
    out = deidentify_file(src, tmp_path / "ct.dcm", Policy(key=KEY))
    a, meta_a = fio.read(src)
    b, meta_b = fio.read(out)
    assert np.array_equal(a, b) and meta_a.spacing == meta_b.spacing


# ---------------------------------------------------------------------------
# other outputs: metadata, names, linkage


def test_clean_meta_dicom_nifti_and_images(tmp_path):
    from fastct import io as fio
    from fastct.io.meta import ImageMeta

    _, meta = fio.read(get_testdata_file("CT_small.dcm"))
    clean = clean_meta(meta, Policy(key=KEY, rename=True))
    assert clean.headers[0].PatientIdentityRemoved == "YES" and meta.headers[0].get("PatientIdentityRemoved") is None
    assert clean.extra["series_uid"].startswith("2.25.") and clean.extra["sop_uids"][0].startswith("2.25.")
    assert clean.extra["files"][0].endswith(".dcm") and "CT_small" not in clean.extra["files"][0]
    nib = pytest.importorskip("nibabel")
    header = nib.Nifti1Header()
    for name, value in (("descrip", b"Q0DOE9"), ("aux_file", b"Q0A9"), ("intent_name", b"Q0I9"), ("db_name", b"Q0D9")):
        header[name] = value
    nmeta = ImageMeta(path=None, format="nifti", shape=(1, 2, 2), dtype="int16", headers=[header])
    h = clean_meta(nmeta, Policy(key=KEY)).headers[0]
    assert all(bytes(h[k].tobytes()).strip(b"\0") == b"" for k in ("descrip", "aux_file", "intent_name", "db_name"))
    assert header["descrip"] == b"Q0DOE9"  # the source header is untouched
    tmeta = ImageMeta(path=None, format="tiff", shape=(1, 2, 2), dtype="uint8",
                      extra={"description": "Q0DOE9", "software": b"x", "pages": 1})
    assert clean_meta(tmeta, Policy(key=KEY)).extra == {"pages": 1}


def test_pseudonymous_names_group_by_study_and_series(study):
    paths, _, uids = study
    policy = Policy(key=KEY)
    names = [pseudonymous_name(pydicom.dcmread(p), policy) for p in paths]
    assert len({n.parts[0] for n in names}) == 1
    assert len({n.parts[1] for n in names}) == 2 and len(set(names)) == len(names)
    assert not any(uid in str(n) for n in names for uid in uids)
    assert names == [pseudonymous_name(pydicom.dcmread(p), Policy(key=KEY)) for p in paths]
    assert names != [pseudonymous_name(pydicom.dcmread(p), Policy(key=OTHER_KEY)) for p in paths]


def test_linkage_table_round_trip_encrypted(study, tmp_path):
    pytest.importorskip("cryptography")
    paths, _, _ = study
    table = LinkageTable()
    policy = Policy(key=KEY, options=["long_modified_dates"], linkage=table)
    outs = _run(paths, tmp_path / "out", policy)
    ds = pydicom.dcmread(outs[0])
    assert table.pseudonym("PatientID", corpus.PATIENT_ID) == ds.PatientID
    assert table.original("uid", ds.StudyInstanceUID) == corpus.STUDY_UID
    assert table.pseudonym("date_offset_days", corpus.PATIENT_ID + "\x00" + corpus.PATIENT_NAME) is not None
    path = table.save(tmp_path / "linkage.bin", "correct horse battery staple")
    data = path.read_bytes()
    assert corpus.PATIENT_ID.encode() not in data and corpus.STUDY_UID.encode() not in data
    assert os.stat(path).st_mode & 0o077 == 0
    back = LinkageTable.load(path, "correct horse battery staple")
    assert back.as_dict() == table.as_dict()
    with pytest.raises(LinkageTableError):
        LinkageTable.load(path, "wrong passphrase")
    with pytest.raises(OutputExistsError):
        table.save(path, "x")
    no_table = Policy(key=KEY)
    assert no_table.linkage is None


def test_import_needs_neither_cryptography_nor_heavy_modules():
    code = (
        "import sys, fastct.deid, pydicom; "
        "heavy = [m for m in ('cryptography', 'numba', 'cupy', 'nibabel') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ---------------------------------------------------------------------------
# dciodvfy: no error the source does not have


def _dciodvfy_errors(path) -> set[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    lines = (run.stdout + run.stderr).splitlines()
    return {line.split(" - values are")[0].strip() for line in lines if line.startswith("Error")}


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
                                  "rtstruct.dcm", "rtplan.dcm", "JPEG2000.dcm"])
def test_dciodvfy_no_new_errors(name, tmp_path):
    src = get_testdata_file(name)
    out = deidentify_file(src, tmp_path / name, Policy(key=KEY, allow_burned_in=True))
    new = _dciodvfy_errors(out) - _dciodvfy_errors(src)
    assert new == set(), new


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
@pytest.mark.parametrize(
    "options", [["device_identity"], ["safe_private"], ["clean_descriptors", "long_modified_dates"]]
)
@pytest.mark.parametrize("name", ["rtplan.dcm", "rtstruct.dcm"])
def test_dciodvfy_rt_objects_under_options(name, options, tmp_path):
    # rtplan.dcm: Treatment Machine Name (Type 2) is emptied, not removed, since the table gives it X/Z.
    # rtstruct.dcm: cleaning Structure Set Label (Type 1) never leaves it empty.
    src = get_testdata_file(name)
    out = deidentify_file(src, tmp_path / name, Policy(key=KEY, options=options))
    new = _dciodvfy_errors(out) - _dciodvfy_errors(src)
    assert new == set(), new


def test_nested_rules_and_dummies():
    from pydicom.sequence import Sequence

    ds = _ct()
    item = Dataset()
    item.PatientName = "Q0NESTED9^Q0NAME9"
    item.AcquisitionUID = "1.2.826.0.1.3680043.10.999.77"  # not in the table, not a standard UID: replaced
    item.ReferencedSOPClassUID = "1.2.826.0.1.3680043.10.999.78"  # a (private) class: kept
    item.DateTime = "20200101120000"
    item.TextValue = "seen: Q0NESTED9"
    ds.PerformedProtocolCodeSequence = Sequence([item])  # not in the table: kept, its items cleaned
    ds.StudyDate = "20200101-20200201"
    out = deidentify(ds, Policy(key=KEY))
    got = out.PerformedProtocolCodeSequence[0]
    assert str(got.PatientName).startswith("ANON^") and got.AcquisitionUID.startswith("2.25.")
    assert got.ReferencedSOPClassUID == item.ReferencedSOPClassUID
    assert got.DateTime == "19000101000000" and "TextValue" not in got
    shifted = deidentify(ds, Policy(key=KEY, options=["long_modified_dates", "clean_structured_content"]))
    start, end = shifted.StudyDate.split("-")
    assert (dt.datetime.strptime(end, "%Y%m%d") - dt.datetime.strptime(start, "%Y%m%d")).days == 31
    assert shifted.PerformedProtocolCodeSequence[0].TextValue.strip() == "seen:"  # the name scrubbed
    for value in out.DeidentificationMethod:
        assert len(value) <= 64
