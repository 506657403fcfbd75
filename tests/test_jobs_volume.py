"""`fastct process --volume`: each file or series as one 3-D volume with its header's spacing."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastct
from fastct import cli

nib = pytest.importorskip("nibabel")


@pytest.fixture
def volume_file(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.integers(-1000, 1000, (20, 24, 9)).astype(np.int16)  # NIfTI (I, J, K): 9 slices
    nib.save(nib.Nifti1Image(v, np.diag([0.7, 0.7, 2.5, 1.0])), str(tmp_path / "vol.nii.gz"))
    return tmp_path / "vol.nii.gz"


def run(argv, capsys):
    code = cli.main(argv + ["--backend", "cpu", "-q"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("steps,call", [
    ("gaussian:2mm", lambda b, s: fastct.gaussian_blur(b, 2.0, spacing=s, axes=(0, 1, 2), backend="cpu")),
    ("erode:3,dilate:3", lambda b, s: fastct.dilate(fastct.erode(b, 3, axes=(0, 1, 2), backend="cpu"), 3,
                                                    axes=(0, 1, 2), backend="cpu")),
])
def test_volume_run_equals_the_volumetric_call_with_the_header_spacing(volume_file, tmp_path, capsys, steps, call):
    out = tmp_path / "out"
    code, err = run(["process", str(volume_file), "-o", str(out), "--volume", "--steps", steps, "--format", "npy"],
                    capsys)
    assert code == 0, err
    batch, meta = fastct.io.read(volume_file)
    assert meta.spacing == pytest.approx((2.5, 0.7, 0.7))
    got = np.load(out / "vol.npy")
    np.testing.assert_array_equal(got, call(batch, meta.spacing))
    # and it is not the per-slice result: the volume really mixed slices
    per_slice = fastct.process(batch, steps.replace("2mm", str(2.0 / 0.7)), backend="cpu")
    assert not np.array_equal(got, per_slice)
    manifest = (out / ".fastct-manifest.jsonl").read_text().splitlines()[0]
    assert json.loads(manifest)["settings"]["volume"] is True


def test_steps_in_mm_need_a_volume_run_or_a_spacing(tmp_path, volume_file, capsys):
    np.save(tmp_path / "plain.npy", np.zeros((3, 8, 8), np.int16))  # no spacing in an .npy file
    code, err = run(["process", str(tmp_path / "plain.npy"), "-o", str(tmp_path / "o1"), "--volume",
                     "--steps", "gaussian:2mm"], capsys)
    assert code == cli.EXIT_FAILED and "spacing" in err.lower() + (tmp_path / "o1" / "report.json").read_text()
    code, err = run(["process", str(volume_file), "-o", str(tmp_path / "o2"), "--steps", "gaussian:2mm"], capsys)
    assert code == cli.EXIT_USAGE and "spacing" in err  # a per-slice run knows no spacing: refused up front
