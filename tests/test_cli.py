"""The `fastct` command: info, demo, usage errors; the PNG writer and sample data it uses."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from fastct import cli, datasets
from fastct.io.png import encode_png, write_png


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fastct.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_info_json_reports_backends_and_reason():
    proc = run_cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["backends"]["cpu"]["available"] is True
    assert info["backends"]["cpu"]["info"]["threads"] >= 1
    gpu = info["backends"]["gpu"]
    if not gpu["available"]:
        assert gpu["reason"]  # why it is unavailable, never an empty string
    assert info["auto"] in ("cpu", "gpu")
    assert info["versions"]["fastct"]


def test_info_text_names_each_backend(capsys):
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    assert "cpu: available" in text
    assert "gpu:" in text and "auto ->" in text


def test_demo_writes_montage_and_arrays(tmp_path):
    out = tmp_path / "demo out"  # a space in the path on purpose
    proc = run_cli("demo", "-o", str(out), "--slices", "3", "--size", "64", "--backend", "cpu")
    assert proc.returncode == 0, proc.stderr
    for step in ("erode", "dilate", "gaussian_blur", "equalize_hist", "total"):
        assert step in proc.stdout
    png = (out / "montage.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    result = np.load(out / "phantom_output.npy")
    source = np.load(out / "phantom_input.npy")
    assert source.dtype == np.int16 and source.shape == (3, 64, 64)
    assert result.dtype == np.float32 and result.shape == (3, 64, 64)
    assert 0.0 <= result.min() and result.max() == 1.0
    import fastct

    np.testing.assert_array_equal(result, fastct.process(source, backend="cpu"))
    sample = np.load(out / "ct_sample_output.npy")
    assert sample.shape == (128, 128) and sample.dtype == np.float32


def test_usage_errors_exit_2(tmp_path):
    assert run_cli().returncode == 2  # no command: help, usage status
    proc = run_cli("demo", "-o", str(tmp_path), "--steps", "erode:4")
    assert proc.returncode == 2
    assert "size" in proc.stderr and "odd" in proc.stderr
    proc = run_cli("demo", "--backend", "tpu")
    assert proc.returncode == 2


def test_help_has_examples():
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0 and "example" in proc.stdout


def _decode_png(data: bytes) -> np.ndarray:
    """Minimal reader for what encode_png writes (greyscale, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        if tag == b"IHDR":
            header = body
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    w, h = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth = header[8]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, -1)
    assert (raw[:, 0] == 0).all()
    pixels = raw[:, 1:]
    return pixels.copy() if depth == 8 else pixels.copy().view(">u2").astype(np.uint16).reshape(h, w)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip(tmp_path, rng, dtype):
    img = rng.integers(0, np.iinfo(dtype).max, (17, 23), dtype=dtype)
    path = write_png(tmp_path / "x.png", img)
    np.testing.assert_array_equal(_decode_png(path.read_bytes()), img)
    cv2 = pytest.importorskip("cv2")
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), img)
    assert not list(tmp_path.glob("*.part"))  # the temporary file was renamed away


def test_png_rejects_float():
    with pytest.raises(ValueError, match="image"):
        encode_png(np.zeros((2, 2), np.float32))


def test_chest_phantom_is_deterministic_ct():
    a = datasets.chest_phantom(3, 64, seed=5)
    b = datasets.chest_phantom(3, 64, seed=5)
    c = datasets.chest_phantom(3, 64, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.int16
    assert a[:, 0, 0].max() < -900  # air in the corner
    assert (a > 500).any()  # bone
    lung_like = ((a > -950) & (a < -750)).mean()
    assert 0.05 < lung_like < 0.5


def test_ct_sample_is_hounsfield():
    hu = datasets.ct_sample()
    assert hu.dtype == np.int16 and hu.shape == (128, 128)
    assert hu.min() < -500 and hu.max() > 500  # air/lung and bone present


def test_a_closed_pipe_ends_the_command_quietly():
    # `fastct info | head -0`: the reader is gone before fastct writes; no traceback.
    proc = subprocess.Popen([sys.executable, "-m", "fastct.cli", "info"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) in (0, cli.EXIT_BROKEN_PIPE)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
