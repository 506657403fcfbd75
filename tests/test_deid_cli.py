"""`fastct deidentify` and `fastct process --deidentify`: the policy through the job engine and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from fastct import cli

KEY = "an example site key, 32 bytes..."

#: identifying values of the sources (from their headers), none of which may reach an output
SOURCES = ("CT_small.dcm", "MR_small.dcm")


@pytest.fixture
def study(tmp_path):
    src = tmp_path / "John_Doe_study"
    src.mkdir()
    for name in SOURCES:
        shutil.copy(get_testdata_file(name), src / name)
    shutil.copy(get_testdata_file("US1_J2KR.dcm"), src / "us.dcm")  # ultrasound: may show burned-in text
    (src / "notes.txt").write_text("referral letter for John Doe")
    np.save(src / "scan.npy", np.zeros((2, 8, 8), np.int16))
    key = tmp_path / "site.key"
    key.write_text(KEY)
    return src, key


def identifiers() -> list[bytes]:
    """Original values that must not appear in any output byte: names, IDs and every UID."""
    found = set()
    for name in SOURCES:
        ds = pydicom.dcmread(get_testdata_file(name))
        found.update({str(ds.PatientName), str(ds.PatientID)})
        for elem in ds.iterall():
            if elem.VR == "UI" and elem.value and not str(elem.value).startswith("1.2.840.10008."):
                found.add(str(elem.value))
    return [v.encode() for v in found if len(v) >= 4]


def output_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file() and p.name != "report.json"
            and not p.name.startswith(".")]


def statuses(out: Path) -> dict:
    """Input file name -> its entry of report.json (status, reason or error)."""
    report = json.loads((out / "report.json").read_text())
    return {Path(r["input"]).name: r for key in ("ok", "skipped", "failed") for r in report[key]}


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_deidentify_writes_no_identifier_and_changes_no_pixel(study, tmp_path, capsys):
    src, key = study
    out = tmp_path / "shared"
    code, stdout, err = run(["deidentify", str(src), "-o", str(out), "--key-file", str(key), "-q"], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    status = statuses(out)
    assert {n: status[n]["status"] for n in status} == {
        "CT_small.dcm": "ok", "MR_small.dcm": "ok", "us.dcm": "skipped", "notes.txt": "skipped", "scan.npy": "skipped"}
    assert "burned-in" in status["us.dcm"]["reason"] and "not an image" in status["notes.txt"]["reason"]
    assert "not DICOM" in status["scan.npy"]["reason"]  # other formats are never copied through
    written = output_bytes(out)
    assert sorted(p.name for p, _ in written) == ["CT_small.dcm", "MR_small.dcm"]
    for path, data in written:
        for value in identifiers():
            assert value not in data, (path.name, value)
        ds, source = pydicom.dcmread(path), pydicom.dcmread(src / path.name)
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
        assert ds.PixelData == source.PixelData
    # the report names inputs as given and holds no attribute value
    text = (out / "report.json").read_text()
    assert "CompressedSamples" not in text and report["work"] == "deidentify"


def test_same_key_same_pseudonyms_other_key_others(study, tmp_path, capsys, monkeypatch):
    src, key = study
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run(["deidentify", str(src), "-o", str(a), "--key-file", str(key), "-q"], capsys)[0] == 0
    assert run(["deidentify", str(src), "-o", str(b), "--key-file", str(key), "-q"], capsys)[0] == 0
    monkeypatch.setenv("FASTCT_DEID_KEY", "another key of at least 16 bytes")
    assert run(["deidentify", str(src), "-o", str(c), "-q"], capsys)[0] == 0
    for name in SOURCES:
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert pydicom.dcmread(a / name).SOPInstanceUID != pydicom.dcmread(c / name).SOPInstanceUID
    # a resume with another key would mix two mappings in one folder: refused, naming what differs
    code, _, err = run(["deidentify", str(src), "-o", str(a), "--resume", "-q"], capsys)
    assert code == cli.EXIT_USAGE and "key" in err


def test_rename_and_an_encrypted_linkage_table_outside_the_output(study, tmp_path, capsys, monkeypatch):
    from fastct.deid import LinkageTable

    src, key = study
    out, table = tmp_path / "shared", tmp_path / "secure" / "linkage.bin"
    table.parent.mkdir()
    monkeypatch.setenv(cli.LINKAGE_PASSPHRASE_ENV, "correct horse battery staple")
    code, _, err = run(["deidentify", str(src), "-o", str(out), "--key-file", str(key), "--rename",
                        "--linkage", str(out / "linkage.bin"), "-q"], capsys)
    assert code == cli.EXIT_USAGE and "inside the output folder" in err
    code, _, err = run(["deidentify", str(src), "-o", str(out), "--key-file", str(key), "--rename",
                        "--linkage", str(table), "-q"], capsys)
    assert code == 0, err
    names = [p.relative_to(out) for p, _ in output_bytes(out)]
    assert len(names) == 2 and all(n.parts[0].startswith("study-") and n.parts[1].startswith("series-") for n in names)
    assert not any("John" in str(n) or "small" in str(n) for n in names)
    linked = LinkageTable.load(table, "correct horse battery staple").as_dict()
    flat = json.dumps(linked)
    assert "CompressedSamples^CT1" in flat  # the table is what links back...
    assert b"CompressedSamples" not in table.read_bytes()  # ...and it is encrypted


def test_process_deidentify_cleans_every_output_format(study, tmp_path, capsys):
    src, key = study
    for fmt in ("nii", "dcm", "npy"):
        out = tmp_path / f"out-{fmt}"
        code, _, err = run(["process", str(src), "-o", str(out), "--format", fmt, "--steps", "erode:3",
                            "--backend", "cpu", "--per-file", "--deidentify", "--key-file", str(key), "-q"], capsys)
        assert code == 0, (fmt, err)
        written = output_bytes(out)
        assert written, fmt
        for path, data in written:
            for value in identifiers():
                assert value not in data, (fmt, path.name, value)
        if fmt == "dcm":
            ds = pydicom.dcmread(next(p for p, _ in written if p.suffix == ".dcm"))
            assert ds.PatientIdentityRemoved == "YES"
        assert statuses(out)["us.dcm"]["status"] == "skipped", fmt
    # the pixels are processed, not de-identified away
    got = np.load(tmp_path / "out-npy" / "CT_small.npy")
    assert got.shape[-2:] == (128, 128) and got.std() > 0


def test_deidentification_options_need_the_flag(study, tmp_path, capsys):
    src, key = study
    code, _, err = run(["process", str(src), "-o", str(tmp_path / "o"), "--key-file", str(key)], capsys)
    assert code == cli.EXIT_USAGE and "--deidentify" in err
    code, _, err = run(["deidentify", str(src), "-o", str(tmp_path / "o"), "--retain", "nonsense"], capsys)
    assert code == cli.EXIT_USAGE and "nonsense" in err
