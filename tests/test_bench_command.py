"""`fastct bench`: the report it writes, absent peers, and usage errors (tiny sizes)."""

from __future__ import annotations

import json
import math
import sys

import pytest

from fastct import backends, cli
from fastct.bench import registry

TINY = ["--quick", "--batch", "1x32x32,2x32x32", "--repeat", "1"]


def _bench(tmp_path, *args):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", *TINY, "--out", str(out), *args])
    return code, out


def test_quick_run_writes_report_and_chart(tmp_path, capsys):
    code, out = _bench(tmp_path)
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(out.read_text())
    for key in ("schema", "date", "machine", "settings", "op_params", "peers", "headline", "summary", "results",
                "startup", "memory", "chart", "wall_s"):
        assert key in report, key
    assert report["settings"]["batches"] == ["1x32x32", "2x32x32"]
    assert report["machine"]["cpus"] >= 1 and report["machine"]["versions"]["numba"]

    summary = report["summary"]
    assert {r["group"] for r in summary} == set(registry.GROUPS)
    assert {r["dtype"] for r in summary} == {"int16", "uint8", "float32"}
    ratios = [r[k] for r in summary for k in ("time_vs_best_peer", "time_vs_copy") if r[k] is not None]
    assert len(ratios) >= len(summary)  # at least the copy ratio of every comparison
    assert all(math.isfinite(v) and v > 0 for v in ratios)
    for r in summary:
        assert r["fastct_status"] == "ok" and r["fastct_mpx_s"] > 0
    statuses = {r["status"] for r in report["results"]}
    assert statuses <= {"ok", "absent", "unsupported", "skipped", "failed"}

    head = report["headline"]["cpu"]
    assert head["pipeline_int16_time_vs_copy"] > 0
    assert report["startup"]["import_s"] > 0 and report["startup"]["first_call_s"] > 0
    assert report["memory"]["groups"]["pipeline"]["output_bytes"] == 2 * 32 * 32 * 4

    png = out.with_suffix(".png")
    assert report["chart"] == png.name
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as img:
        img.verify()
    assert "t/peer" in text and "pipeline" in text and str(out) in text


def test_missing_peer_is_reported_not_fatal(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` fail, as when OpenCV is not installed
    code, out = _bench(tmp_path, "--ops", "erode,pipeline", "--dtypes", "int16", "--no-startup", "--no-memory")
    text = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.read_text())
    opencv = [r for r in report["results"] if r["library"] == "opencv"]
    assert opencv and {r["status"] for r in opencv} <= {"absent", "unsupported"}
    assert any(r["status"] == "absent" and "OpenCV" in r["reason"] for r in opencv)
    assert report["peers"]["cpu"]["OpenCV"] == "absent"
    for row in report["summary"]:
        assert row["fastct_status"] == "ok"
        assert row["best_peer"] and "OpenCV" not in row["best_peer"]  # scipy/skimage still compared
    assert "absent: OpenCV is not installed" in text
    assert report["startup"] is None and report["memory"] is None


@pytest.mark.parametrize("args, needle", [
    (["--ops", "erode,nosuch"], "--ops"),
    (["--dtypes", "float64"], "--dtypes"),
    (["--batch", "0x512x512"], "--batch"),
    (["--batch", "4x8x8"], "--batch"),
    (["--batch", "big"], "--batch"),
    (["--repeat", "0"], "--repeat"),
    (["--budget", "-1"], "--budget"),
    (["--backend", "tpu"], "--backend"),
])
def test_bad_arguments_exit_2_naming_the_option(args, needle, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "error" in err


def test_out_must_be_json_and_unusable_gpu_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["bench", "--quick", "--out", str(tmp_path / "r.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    if not backends.status("gpu").available:
        assert cli.main(["bench", "--quick", "--backend", "gpu", "--out", str(tmp_path / "g.json")]) == 2
        assert "--backend gpu" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written on a usage error


def test_registry_covers_every_op_with_fastct_floor_and_peers():
    cands = registry.candidates(registry.GROUPS, ["cpu", "gpu"], ["int16", "uint8", "float32"], [(1, 32, 32)])
    for backend in ("cpu", "gpu"):
        for group in registry.GROUPS:
            kinds = [c.kind for c in cands if c.group == group and c.backend == backend and c.dtype == "int16"]
            assert kinds.count("fastct") == 1 and kinds.count("floor") == 1, (group, backend)
            assert "peer" in kinds, (group, backend)
    ids = [c.id for c in cands]
    assert len(ids) == len(set(ids))
