"""`fastct bench`: the report it writes, absent peers, and usage errors (tiny sizes)."""

from __future__ import annotations

import json
import math
import sys

import pytest

from fastct import backends, cli
from fastct.bench import command, registry

TINY = ["--quick", "--batch", "1x32x32,2x32x32", "--repeat", "1"]
#: The speed targets of this checkout (benchmarks/targets.py), as `fastct bench` loads them.
tg = command.load_targets()


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
                "startup", "memory", "targets", "chart", "wall_s"):
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


# ---------------------------------------------------------------------------
# targets section


def test_targets_come_from_the_checkout_and_pass_their_examples():
    import doctest

    assert tg is not None, f"no {command.checkout_targets()}"
    assert command.checkout_targets() == command.checkout_targets().parents[1] / "benchmarks" / "targets.py"
    assert command.load_targets(command.checkout_targets()) is tg  # loaded once per file
    result = doctest.testmod(tg, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_installed_without_targets_says_not_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(command, "checkout_targets", lambda: tmp_path / "benchmarks" / "targets.py")
    code, out = _bench(tmp_path, "--ops", "erode", "--dtypes", "int16", "--no-startup", "--no-memory")
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(out.read_text())
    assert report["targets"] is None and report["targets_file"] is None
    assert "targets: not checked" in text and "--targets FILE" in text


def test_targets_option(tmp_path, capsys):
    assert cli.main(["bench", *TINY, "--targets", str(tmp_path / "none.py"), "--out", str(tmp_path / "r.json")]) == 2
    assert "--targets" in capsys.readouterr().err
    code, out = _bench(tmp_path, "--ops", "erode", "--dtypes", "int16", "--no-startup", "--no-memory",
                       "--targets", str(command.checkout_targets()))
    assert code == 0
    assert json.loads(out.read_text())["targets_file"] == str(command.checkout_targets())

EXPECTED_TARGET_IDS = {
    "pipeline_vs_opencv_chain", "pipeline_vs_copy",
    *(f"{op}_{dt}_vs_opencv" for op in ("erode", "dilate", "gaussian_blur") for dt in ("int16", "float32")),
    "equalize_hist_int16_vs_opencv_uint8", "clahe_int16_vs_opencv_uint16",
    *(f"{op}_{dt}_vs_scipy_fft" for op in ("lowpass", "highpass") for dt in ("int16", "float32")),
    *(f"{op}_15x15_vs_3x3_{dt}" for op in ("erode", "dilate") for dt in ("int16", "float32")),
    "gaussian_sigma8_int16_vs_opencv", "gaussian_sigma8_float32_vs_opencv",
    "import_time", "first_call_time",
    *(f"memory_{g}" for g in registry.GROUPS),
}


def _rec(group, dtype, name, median_s, status="ok", batch="64x512x512", reason=None):
    return {"group": group, "backend": "cpu", "dtype": dtype, "batch": batch, "name": name, "status": status,
            "median_s": median_s if status == "ok" else None, "reason": reason}


def test_default_run_has_every_candidate_the_targets_need():
    ids = {t.id for t in tg.TARGETS}
    assert ids == EXPECTED_TARGET_IDS and len(ids) == len(tg.TARGETS)
    cands = {(c.group, c.dtype, c.name): c for c in registry.candidates(registry.GROUPS, ["cpu"])
             if c.batch == tg.TARGET_BATCH}
    for t in tg.TARGETS:
        for ref in filter(None, (t.num, t.den)):
            assert ref in cands and not cands[ref].unsupported, (t.id, ref)
    # the size baselines are the ops' default parameters: 3x3 and sigma 1.1
    assert registry.OP_PARAMS["erode"].startswith("3x3") and registry.OP_PARAMS["dilate"].startswith("3x3")
    assert registry.OP_PARAMS["gaussian_sigma1.1"].startswith("sigma 1.1")
    assert tg.by_id()["gaussian_sigma8_int16_vs_opencv"].den == ("gaussian_sigma8", "int16", "OpenCV int16")


def test_targets_met_and_not_met_on_synthetic_results():
    results = [
        _rec("pipeline", "int16", "fastct", 0.040),
        _rec("pipeline", "int16", "OpenCV classic chain uint8", 0.100),   # 0.4 <= 0.5: met
        _rec("pipeline", "int16", "copy int16->float32", 0.010),          # 4.0 > 3: not met
        _rec("erode", "int16", "fastct", 0.010),
        _rec("erode", "int16", "OpenCV int16", 0.010),                     # exactly the limit: met
        _rec("erode_15x15", "int16", "fastct", 0.030),                     # 3x the 3x3 > 2: not met
        _rec("gaussian_sigma1.1", "float32", "fastct", 0.010),
        _rec("gaussian_sigma8", "float32", "fastct", 0.025),
        _rec("gaussian_sigma8", "float32", "OpenCV float32", 0.020),       # 1.25 > 1: not met
        _rec("clahe", "int16", "fastct", 0.010),
        _rec("clahe", "int16", "OpenCV uint16", None, status="absent", reason="OpenCV is not installed"),
        _rec("lowpass", "int16", "fastct", 0.010, batch="4x64x64"),
        _rec("lowpass", "int16", "scipy.fft", 0.020, batch="4x64x64"),
    ]
    startup = {"import_s": 0.12, "first_call_s": 1.4, "shape": [1, 512, 512]}
    mib = 2**20
    memory = {"shape": [64, 512, 512], "groups": {
        "pipeline": {"ratio": 1.01, "extra_bytes": mib // 2, "output_bytes": 64 * mib},
        "lowpass": {"ratio": 3.26, "extra_bytes": 72 * mib, "output_bytes": 32 * mib}}}
    out = {r["id"]: r for r in tg.evaluate(results, startup, memory)}
    assert set(out) == EXPECTED_TARGET_IDS

    def check(tid, status, measured=None):
        r = out[tid]
        assert r["status"] == status, r
        if measured is None:
            assert r["measured"] is None
        else:
            assert r["measured"] == pytest.approx(measured)

    check("pipeline_vs_opencv_chain", "met", 0.4)
    check("pipeline_vs_copy", "not met", 4.0)
    check("erode_int16_vs_opencv", "met", 1.0)
    check("erode_15x15_vs_3x3_int16", "not met", 3.0)
    check("gaussian_sigma8_float32_vs_opencv", "not met", 1.25)
    check("import_time", "met", 0.12)
    check("first_call_time", "not met", 1.4)
    check("memory_pipeline", "met", 1.01)
    check("memory_lowpass", "not met", 3.26)
    # missing, absent or other-size candidates: not measured, with the reason
    check("clahe_int16_vs_opencv_uint16", "not measured")
    assert "absent" in out["clahe_int16_vs_opencv_uint16"]["note"]
    check("dilate_float32_vs_opencv", "not measured")
    assert "not in this run" in out["dilate_float32_vs_opencv"]["note"]
    check("lowpass_int16_vs_scipy_fft", "not measured")
    assert "0.50x at 4x64x64" in out["lowpass_int16_vs_scipy_fft"]["note"]
    check("memory_erode", "not measured")
    for r in out.values():
        assert r["status"] in tg.STATUSES and r["limit"] > 0 and r["candidates"]
    assert out["pipeline_vs_copy"]["candidates"] == ["pipeline-cpu-int16-64x512x512-fastct",
                                                     "pipeline-cpu-int16-64x512x512-copy_int16->float32"]
    text = tg.format_targets(list(out.values()))
    assert len(text.splitlines()) == len(out) + 2  # header, one line per target, counts
    assert "4.00x  <= 3x" in text and "not met" in text


def test_targets_without_any_run_data_are_not_measured_never_an_error():
    out = tg.evaluate([], None, {"error": "RuntimeError: boom"})
    assert {r["status"] for r in out} == {"not measured"}
    assert all(r["note"] for r in out)
    assert any("boom" in r["note"] for r in out if r["id"].startswith("memory_"))


def test_targets_from_a_tiny_run(tmp_path, capsys):
    code, out = _bench(tmp_path, "--ops", "erode,erode_15x15", "--dtypes", "int16", "--no-startup")
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(out.read_text())
    recs = {r["id"]: r for r in report["targets"]}
    assert set(recs) == EXPECTED_TARGET_IDS
    # --quick sizes are not the targets' 64x512x512: nothing is judged, and the lines say so
    assert {r["status"] for r in recs.values()} == {"not measured"}
    assert "at 2x32x32" in recs["erode_15x15_vs_3x3_int16"]["note"]
    assert "not in this run" in recs["pipeline_vs_copy"]["note"]
    assert "targets (" in text and "--quick" in text
    assert text.index("targets (") > text.index("t/peer")  # after the table
    # the same records read at the run's own batch: erode's targets are judged, the others stay not measured
    at = {r["id"]: r for r in tg.evaluate(report["results"], report["startup"], report["memory"], batch="2x32x32")}
    for tid in ("erode_int16_vs_opencv", "erode_15x15_vs_3x3_int16"):
        assert at[tid]["status"] in ("met", "not met") and at[tid]["measured"] > 0, at[tid]
    assert at["memory_erode"]["status"] in ("met", "not met")
    assert at["dilate_int16_vs_opencv"]["status"] == "not measured"
    assert at["erode_float32_vs_opencv"]["status"] == "not measured"  # --dtypes int16


@pytest.mark.parametrize("order", [9, None])
def test_memory_environment_is_recorded_and_page_reporting_noted(tmp_path, monkeypatch, capsys, order):
    from fastct.bench import machine

    env = {"transparent_hugepages": "madvise", "thp_defrag": "madvise", "free_page_reporting_order": order}
    monkeypatch.setattr(machine, "memory_environment", lambda: env)
    code, out = _bench(tmp_path, "--ops", "erode", "--dtypes", "int16", "--no-startup", "--no-memory")
    text = capsys.readouterr().out
    assert code == 0, text
    assert json.loads(out.read_text())["machine"]["memory"] == env
    assert ("free page reporting, order 9" in text) == (order is not None)


def test_kernel_setting_reads_the_selected_choice(tmp_path):
    from fastct.bench.machine import _read_setting

    (tmp_path / "enabled").write_text("always [madvise] never\n")
    (tmp_path / "order").write_text("9\n")
    assert _read_setting(str(tmp_path / "enabled")) == "madvise"
    assert _read_setting(str(tmp_path / "order")) == "9"
    assert _read_setting(str(tmp_path / "missing")) is None
