"""`fastct process` and the job engine behind it (fastct.jobs).

One tree mixes good and bad inputs; the run must write every good file, list
every bad one in report.json with its error, exit 1, and leave the inputs
untouched. Pipelines are kept cheap (erode:3) except where the default
pipeline itself is the point.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import fastct
import fastct.io as fio
from fastct import cli
from fastct import jobs as engine
from fastct.errors import OutputExistsError

nib = pytest.importorskip("nibabel")
pytest.importorskip("PIL")
pytest.importorskip("tifffile")

GOOD = {  # relative input path -> expected output (format npy) and slices
    "dicom/CT_small.dcm": ("dicom/CT_small.npy", 1),
    "dicom/sub dir/MR_small.dcm": ("dicom/sub dir/MR_small.npy", 1),
    "dicom/ü 東京/MR_small_bigendian.dcm": ("dicom/ü 東京/MR_small_bigendian.npy", 1),
    "dicom/rgb.dcm": ("dicom/rgb.npy", 1),
    "dicom/palette.dcm": ("dicom/palette.npy", 1),
    "dicom/IM0001": ("dicom/IM0001.npy", 1),
    "volumes/v4d.nii.gz": ("volumes/v4d.npy", 6),
    "images/odd 17x23.npy": ("images/odd 17x23.npy", 2),
    "images/small.png": ("images/small.npy", 1),
    "images/wide.png": ("images/wide.npy", 1),
    "images/also_small.png": ("images/also_small.npy", 1),
}
FAILED = {
    "dicom/MR_truncated.dcm": "truncated",
    "bad/empty.dcm": "empty file",
    "volumes/nan.nii": "NaN",
}
# failed or skipped as fastct.io classifies them; either way reported with the reason
NOT_IMAGES = {"bad/noise.dcm": "DICM", "bad/notes.dcm": "DICM", "dicom/rtplan.dcm": "not an image",
              "dicom/reportsi.dcm": "not an image", "README.txt": "not an image"}


def make_tree(root):
    """Good and bad inputs, all tiny."""
    def copy(name, rel):
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(get_testdata_file(name), dest)

    copy("CT_small.dcm", "dicom/CT_small.dcm")
    copy("MR_small.dcm", "dicom/sub dir/MR_small.dcm")
    copy("MR_small_bigendian.dcm", "dicom/ü 東京/MR_small_bigendian.dcm")
    copy("SC_rgb_small_odd.dcm", "dicom/rgb.dcm")
    copy("examples_palette.dcm", "dicom/palette.dcm")
    copy("MR_small.dcm", "dicom/IM0001")
    copy("MR_truncated.dcm", "dicom/MR_truncated.dcm")
    copy("rtplan.dcm", "dicom/rtplan.dcm")
    copy("reportsi.dcm", "dicom/reportsi.dcm")
    (root / "volumes").mkdir()
    rng = np.random.default_rng(0)
    nib.save(nib.Nifti1Image(rng.integers(-1000, 1000, (9, 8, 3, 2)).astype(np.int16), np.eye(4)),
             root / "volumes/v4d.nii.gz")
    nan = rng.standard_normal((6, 5, 2)).astype(np.float32)
    nan[2, 2, 1] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), root / "volumes/nan.nii")
    (root / "images").mkdir()
    np.save(root / "images/odd 17x23.npy", rng.integers(-1000, 1000, (2, 17, 23)).astype(np.int16))
    fio.write_png(root / "images/small.png", rng.integers(0, 255, (12, 10)).astype(np.uint8))
    fio.write_png(root / "images/also_small.png", rng.integers(0, 255, (12, 10)).astype(np.uint8))
    fio.write_png(root / "images/wide.png", rng.integers(0, 255, (7, 31)).astype(np.uint8))
    (root / "bad").mkdir()
    (root / "bad/empty.dcm").write_bytes(b"")
    (root / "bad/noise.dcm").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    (root / "bad/notes.dcm").write_text("this is a text file, not DICOM\n")
    (root / "README.txt").write_text("scans for the test\n")
    return root


def checksums(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def leftovers(root):
    """Hidden files a run left, besides its resume manifest."""
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name != ".fastct-manifest.jsonl"]


def visible(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastct.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def test_the_console_command_skips_the_teardown_after_a_run_with_everything_flushed(tmp_path):
    """``fastct process`` ends without the interpreter's teardown (a sixth of a second with numba loaded),
    yet its whole summary (stdout a pipe, so block-buffered), report and outputs are there."""
    (tmp_path / "in").mkdir()
    for i in range(3):
        np.save(tmp_path / "in" / f"{i}.npy", np.full((2, 16, 16), i, np.int16))
    probe = ("import atexit, sys; atexit.register(lambda: print('TEARDOWN')); "
             "from fastct.cli import console; sys.argv[0] = 'fastct'; console()")

    def console(*args):
        return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=300)

    run = console("process", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--steps", "erode:3",
                  "--backend", "cpu", "--json", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "TEARDOWN" not in run.stdout
    assert json.loads(run.stdout)["counts"]["ok"] == 3  # the JSON summary arrived whole
    assert json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["ok"] == 3
    assert np.load(tmp_path / "out" / "2.npy").shape == (2, 16, 16) and not leftovers(tmp_path / "out")
    usage = console("process", str(tmp_path / "in"), "-o", str(tmp_path / "new"), "--steps", "nosuchstep")
    assert usage.returncode == 2 and "TEARDOWN" in usage.stdout  # a raised error takes the ordinary way out
    assert "TEARDOWN" in console("info").stdout  # other commands too


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "in put")


def test_cli_process_mixed_tree(tree, tmp_path):
    out = tmp_path / "out"
    before = checksums(tree)
    proc = run_cli("process", str(tree), "-o", str(out), "--steps", "erode:3", "--format", "npy",
                   "--backend", "cpu", "--batch-size", "4", "--per-file")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert checksums(tree) == before  # inputs untouched
    assert "11 files ok, " in proc.stdout
    assert "slices/s" in proc.stdout and "worker time: read" in proc.stdout and "compute" in proc.stdout
    for rel, (out_rel, _slices) in GOOD.items():
        result = np.load(out / out_rel)
        source, _ = fio.read(tree / rel)
        expected = fastct.erode(source, 3, backend="cpu")
        np.testing.assert_array_equal(result.reshape(expected.shape), expected)  # never padded, never mixed
    report = json.loads((out / "report.json").read_text())
    counts = report["counts"]
    assert counts["ok"] == 11 and counts["skipped"] + counts["failed"] == 8 and counts["not_done"] == 0
    failed = {os.path.relpath(f["input"], tree): f["error"] for f in report["failed"]}
    skipped = {os.path.relpath(f["input"], tree): f["reason"] for f in report["skipped"]}
    assert set(FAILED) <= set(failed) and set(failed) | set(skipped) == set(FAILED) | set(NOT_IMAGES)
    for rel, words in FAILED.items():
        assert words in failed[rel] and os.path.basename(rel) in failed[rel]
    for rel, words in NOT_IMAGES.items():
        assert words in {**failed, **skipped}[rel]
    assert report["slices"] == sum(n for _, n in GOOD.values())
    assert report["slices_per_second"]["end_to_end"] > 0 and report["slices_per_second"]["compute"] > 0
    assert report["schema_version"] >= 2
    assert all(report["seconds"][k] >= 0 for k in ("read", "compute", "write", "wait"))
    assert report["seconds"]["read"] > 0
    assert "FAILED" in proc.stderr and "files]" in proc.stderr  # log lines, not a bar: stderr is no TTY
    assert not leftovers(out)

    # again: refuses to replace outputs (usage error), then --resume keeps them
    proc = run_cli("process", str(tree), "-o", str(out), "--steps", "erode:3", "--format", "npy", "--per-file")
    assert proc.returncode == 2 and "--resume" in proc.stderr
    proc = run_cli("process", str(tree), "-o", str(out), "--steps", "erode:3", "--format", "npy", "--resume",
                   "--quiet", "--per-file")
    assert proc.returncode == 1  # the bad files still fail
    assert f"0 files ok, {11 + counts['skipped']} skipped, {counts['failed']} failed" in proc.stdout
    assert proc.stderr == ""
    assert checksums(tree) == before


def test_default_pipeline_same_format_dicom(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    assert cli.main(["process", str(src), "-o", str(tmp_path / "out"), "--backend", "cpu", "-q"]) == 0
    back, meta = fio.read(tmp_path / "out" / "ct.dcm")
    hu, src_meta = fio.read(src / "ct.dcm")
    np.testing.assert_allclose(back, fastct.process(hu, backend="cpu"), atol=1e-5)
    assert list(meta.headers[0].ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert fastct.DEFAULT_STEPS.split(",")[0] in meta.headers[0].DerivationDescription
    np.testing.assert_allclose(meta.affine, src_meta.affine)


@pytest.mark.parametrize("fmt", ["npy", "png", "tiff", "nii", "dcm"])
def test_every_output_format(tmp_path, fmt):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "mr.dcm")
    summary = engine.process_files(src, tmp_path / "out", "erode:3,equalize", backend="cpu", fmt=fmt,
                                   progress="quiet")
    assert summary.exit_code == 0, summary.failed
    (output,) = summary.ok[0].outputs
    assert output.suffix == {"nii": ".nii", "tiff": ".tif"}.get(fmt, f".{fmt}")
    back, _ = fio.read(output)
    hu, _ = fio.read(src / "mr.dcm")
    expected = fastct.equalize_hist(fastct.erode(hu, 3, backend="cpu"), backend="cpu")
    tolerance = {"png": 0.5 / 65535, "dcm": 0.5 / 65535}.get(fmt, 0)
    scale = 65535.0 if fmt == "png" else 1.0
    np.testing.assert_allclose(back / scale, expected, atol=tolerance + 1e-7)


def test_shapes_are_batched_never_padded(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    shapes = [(5, 7), (7, 5), (5, 7), (1, 1), (5, 7), (33, 2)]
    for i, shape in enumerate(shapes):
        np.save(src / f"{i}.npy", rng.integers(0, 4000, shape).astype(np.uint16))
    summary = engine.process_files(src, tmp_path / "out", "dilate:3", backend="cpu", batch_size=2,
                                   progress="quiet")
    assert summary.exit_code == 0 and summary.slices == len(shapes)
    for i, shape in enumerate(shapes):
        result = np.load(tmp_path / "out" / f"{i}.npy")
        assert result.shape == shape
        np.testing.assert_array_equal(result, fastct.dilate(np.load(src / f"{i}.npy"), 3, backend="cpu"))


def test_a_volume_longer_than_the_batch_runs_in_pieces(tmp_path, monkeypatch):
    # 7 slices with batch_size=3: three pipeline calls into one result, of the
    # pipeline's output dtype (equalize turns int16 into float32)
    src = tmp_path / "src"
    src.mkdir()
    volume = np.random.default_rng(2).integers(-1000, 2000, (7, 12, 10)).astype(np.int16)
    np.save(src / "vol.npy", volume)
    pieces = []
    run = fastct.Pipeline.run

    def spy(self, batch, backend="auto", out=None):
        if out is not None:
            pieces.append((len(batch), out.dtype))
        return run(self, batch, backend, out=out)

    monkeypatch.setattr(fastct.Pipeline, "run", spy)
    summary = engine.process_files(src, tmp_path / "out", "erode:3,equalize", backend="cpu", batch_size=3,
                                   progress="quiet")
    assert pieces == [(3, np.float32), (3, np.float32), (1, np.float32)]  # not the per-file fallback
    assert summary.exit_code == 0 and summary.slices == 7
    result = np.load(tmp_path / "out" / "vol.npy")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, fastct.process(volume, "erode:3,equalize", backend="cpu"))


def test_output_folder_inside_the_input_folder(tree):
    out = tree / "results"
    s1 = engine.process_files(tree, out, "erode:3", backend="cpu", fmt="npy", per_file=True, progress="quiet")
    assert len(s1.ok) == 11
    s2 = engine.process_files(tree, out, "erode:3", backend="cpu", fmt="npy", per_file=True, resume=True,
                              progress="quiet")
    assert all("results" not in str(r.source.relative_to(tree)) for r in s2.results)  # outputs are not inputs
    assert len(s2.ok) == 0 and len(s2.skipped) == 11 + len(s1.skipped)


def test_output_folder_equal_to_the_input_folder(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    np.save(src / "sub" / "a.npy", np.zeros((4, 4), np.uint8))
    summary = engine.process_files(src, src, "erode:3", backend="cpu", fmt="tiff", progress="quiet")
    assert summary.exit_code == 0 and (src / "sub" / "a.tif").exists()  # subfolders are still searched


def test_output_never_replaces_an_input(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "a.npy", np.zeros((4, 4), np.int16))
    summary = engine.process_files(src, src, "erode:3", backend="cpu", fmt="npy", overwrite=True,
                                   progress="quiet")
    assert summary.exit_code == 1 and "would replace an input" in summary.failed[0].error
    assert np.load(src / "a.npy").shape == (4, 4)


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "a.npy", np.zeros((4, 4), np.int16))
    assert cli.main(["process", str(src), "-o", str(blocker / "out"), "--steps", "erode:3", "-q"]) == 2
    assert "cannot" in capsys.readouterr().err


def test_unwritable_subfolder_and_full_disk_fail_one_file_each(tmp_path, monkeypatch):
    """Simulated: root can write anywhere, and filling a disk in a test is rude."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        np.save(src / f"{name}.npy", np.full((3, 8, 8), ord(name), np.int16))
    real_write_npy = fio.write_npy

    def flaky_write_npy(path, batch, meta=None, *, overwrite=False):
        if path.name == "a.npy":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        if path.name == "b.npy":
            with fio.atomic_path(path, overwrite=overwrite) as tmp:
                tmp.write_bytes(b"\x93NUMPY half of it")
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        return real_write_npy(path, batch, meta, overwrite=overwrite)

    monkeypatch.setattr(fio, "write_npy", flaky_write_npy)
    summary = engine.process_files(src, tmp_path / "out", "erode:3", backend="cpu", progress="quiet")
    errors = {r.source.name: r.error for r in summary.failed}
    assert errors["a.npy"] == f"{tmp_path / 'out' / 'a.npy'}: permission denied"  # the output, not a temporary
    assert errors["b.npy"] == f"{tmp_path / 'out' / 'b.npy'}: no space left on device"
    assert [r.source.name for r in summary.ok] == ["c.npy"]
    assert visible(tmp_path / "out") == ["c.npy", "report.json"]  # no partial files


def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        np.save(src / f"{i:02d}.npy", np.full((2, 16, 16), i, np.int16))
    out = tmp_path / "out"

    def interrupt(result):
        if result.status == "ok":
            raise KeyboardInterrupt

    summary = engine.process_files(src, out, "erode:3", backend="cpu", batch_size=2, workers=2,
                                   progress="quiet", callback=interrupt)
    assert summary.interrupted and summary.exit_code == 130
    assert 1 <= len(summary.ok) and summary.not_done
    assert not leftovers(out)
    written = [p for p in out.glob("*.npy")]
    assert all(fio.is_complete(p, "npy") for p in written)
    assert json.loads((out / "report.json").read_text())["interrupted"] is True

    rest = engine.process_files(src, out, "erode:3", backend="cpu", resume=True, progress="quiet")
    assert rest.exit_code == 0 and len(rest.ok) + len(rest.skipped) == 12 and len(rest.skipped) >= len(written)
    for i in range(12):
        np.testing.assert_array_equal(np.load(out / f"{i:02d}.npy"), np.full((2, 16, 16), i, np.int16))


def test_resume_redoes_an_incomplete_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "a.npy", np.ones((2, 8, 8), np.int16))
    engine.process_files(src, tmp_path / "out", "erode:3", backend="cpu", progress="quiet")
    target = tmp_path / "out" / "a.npy"
    target.write_bytes(target.read_bytes()[:-10])  # truncated by something else
    summary = engine.process_files(src, tmp_path / "out", "erode:3", backend="cpu", resume=True, progress="quiet")
    assert len(summary.ok) == 1 and np.load(target).shape == (2, 8, 8)


def test_nan_volume_can_be_filled(tmp_path):
    data = np.zeros((6, 5, 2), np.float32)
    data[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "nan.nii")
    failed = engine.process_files(tmp_path / "nan.nii", tmp_path / "o1", "erode:3", backend="cpu", progress="quiet")
    assert "--fill-nan" in failed.failed[0].error
    filled = engine.process_files(tmp_path / "nan.nii", tmp_path / "o2", "erode:3", backend="cpu", fill_nan=-1000,
                                  progress="quiet")
    assert filled.exit_code == 0
    out = nib.load(tmp_path / "o2" / "nan.nii").get_fdata()
    assert out.shape == (6, 5, 2) and np.isfinite(out).all() and out.min() == -1000


def test_globs_and_several_inputs_mirror_below_their_common_folder(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / "x.npy", np.zeros((4, 4), np.uint8))
    jobs = engine.plan([str(tmp_path / "*" / "x.npy")], tmp_path / "out", "png").jobs
    assert sorted(str(j.output.relative_to(tmp_path / "out")) for j in jobs) == ["a/x.png", "b/x.png"]
    jobs = engine.plan([tmp_path / "a", tmp_path / "b"], tmp_path / "out", "same").jobs
    assert sorted(str(j.output.relative_to(tmp_path / "out")) for j in jobs) == ["a/x.npy", "b/x.npy"]
    np.save(tmp_path / "a" / "y.npy", np.zeros((4, 4), np.uint8))
    fio.write_png(tmp_path / "a" / "y.png", np.zeros((4, 4), np.uint8))
    jobs = engine.plan([tmp_path / "a"], tmp_path / "out", "tiff").jobs  # y.npy and y.png -> both kept apart
    assert sorted(j.output.name for j in jobs) == ["x.tif", "y.npy.tif", "y.png.tif"]


def test_process_file_is_the_unit_of_work(tmp_path):
    jobs = engine.plan([get_testdata_file("CT_small.dcm")], tmp_path, "npy").jobs
    result = engine.process_file(jobs[0], "erode:3", "cpu")
    assert result.status == "ok" and result.slices == 1
    bad = engine.process_file(engine.Job(tmp_path / "missing.dcm", tmp_path / "m.npy", "npy", "dicom"), "erode:3")
    assert bad.status == "failed" and "missing.dcm" in bad.error


def test_usage_errors_exit_2(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "a.npy", np.zeros((4, 4), np.int16))
    out = str(tmp_path / "out")
    assert cli.main(["process", str(src), "-o", out, "--steps", "erode:4"]) == 2  # even size
    assert "erode" in capsys.readouterr().err
    assert cli.main(["process", str(tmp_path / "nowhere"), "-o", out]) == 2
    assert "matches nothing" in capsys.readouterr().err
    assert cli.main(["process", str(src), "-o", out, "--resume", "--overwrite"]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["process", str(src), "-o", out, "--batch-size", "0"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["process", str(src)])  # no -o
    assert exc.value.code == 2
    (tmp_path / "out3").mkdir()
    np.save(tmp_path / "out3" / "a.npy", np.zeros(1))
    with pytest.raises(OutputExistsError, match="1 output"):
        engine.process_files(src, tmp_path / "out3", "erode:3", progress="quiet")
    assert np.load(tmp_path / "out3" / "a.npy").shape == (1,)


def test_help_has_examples(capsys):
    for argv in (["--help"], ["process", "--help"], ["info", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "example" in text
    with pytest.raises(SystemExit):
        cli.main(["process", "--help"])
    text = capsys.readouterr().out
    flags = ("--steps", "--backend", "--format", "--batch-size", "--resume", "--overwrite", "--quiet", "exit status")
    for flag in flags:
        assert flag in text


def test_sigint_leaves_no_partial_files(tmp_path):
    import signal
    import time

    src = tmp_path / "src"
    src.mkdir()
    for i in range(400):
        np.save(src / f"{i:03d}.npy", np.full((1, 48, 48), i, np.int16))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastct.cli", "process", str(src), "-o", str(out), "--steps", "erode:3",
         "--backend", "cpu", "--batch-size", "1", "--workers", "1", "--executor", "threads"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not any(out.glob("*.npy")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, stdout + stderr
    assert "stopped by SIGINT" in stderr
    assert not leftovers(out)
    assert all(fio.is_complete(p, "npy") for p in out.glob("*.npy"))
