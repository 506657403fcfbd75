"""`fastct classify` and `fastct predict`: outputs, reports, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fastct import cli
from fastct.datasets import lung_phantoms

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("classify")
    model = out / "model.fastct"
    argv = ["classify", "--synthetic", "6", "--size", "64", "--backend", "cpu", "--baseline",
            "--report", str(out / "report"), "--save", str(model)]
    return out, model, argv


def test_classify_prints_table_and_writes_report(trained, capsys):
    out, model, argv = trained
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    for word in ("precision", "recall", "f1", "weighted", "accuracy", "confusion matrix", "baseline", "slices/s"):
        assert word in text
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["data"]["n_slices"] == 24 and report["data"]["shape"] == [64, 64]
    assert report["split"]["random_state"] == 42 and report["split"]["test_size"] == 0.2
    assert set(report["metrics"]) >= {"accuracy", "recall_weighted", "f1_weighted", "per_class", "confusion_matrix"}
    assert report["baseline"]["f1_weighted"] >= 0.0 and report["model"]["solver"] == "sklearn"
    assert (out / "report" / "confusion.png").read_bytes().startswith(b"\x89PNG")
    assert model.is_file()


def test_predict_new_scans(trained, tmp_path, capsys):
    out, model, argv = trained
    if not model.is_file():
        assert cli.main(argv) == 0
    images, labels = lung_phantoms(1, 64, seed=9)
    np.save(tmp_path / "one.npy", images[0])
    np.save(tmp_path / "stack.npy", images[1:3])
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(model), str(tmp_path / "one.npy"), str(tmp_path / "stack.npy")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert {line.split("\t")[2] for line in lines} <= {"normal", "nodule", "cavity", "fibrosis"}
    for line in lines:  # the last column is the probability of the predicted class
        assert line.split("\t")[3].startswith("p=") and 0.0 <= float(line.split("\t")[3][2:]) <= 1.0
    assert cli.main(["predict", "--model", str(model), "--json", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["predictions"]) == 3 and result["failed_inputs"] == 0
    assert result["slice_shape"] == [64, 64] and result["resampled_to"] is None
    for row in result["predictions"]:
        assert abs(sum(row["probabilities"].values()) - 1.0) < 1e-9
        assert row["probability"] == row["probabilities"][row["prediction"]]
    # the same numbers as the saved model's predict_proba
    from fastct.ml import load_model

    loaded = load_model(model)
    proba = loaded.predict_proba(images[1:3])
    assert [r["probability"] for r in result["predictions"] if r["file"].endswith("stack.npy")] == pytest.approx(
        [proba[i, list(loaded.classes_).index(loaded.predict(images[1:3])[i])] for i in range(2)])


def test_predict_refuses_another_slice_size_or_resamples_when_asked(trained, tmp_path, capsys):
    out, model, argv = trained
    if not model.is_file():
        assert cli.main(argv) == 0
    np.save(tmp_path / "big.npy", lung_phantoms(1, 96, classes=("normal",), seed=5)[0])
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(model), str(tmp_path / "big.npy")]) == 1
    err = capsys.readouterr().err
    assert "96x96" in err and "64x64" in err and "--size 64" in err
    assert cli.main(["predict", "--model", str(model), "--size", "64", str(tmp_path / "big.npy")]) == 0
    assert "p=" in capsys.readouterr().out
    assert cli.main(["predict", "--model", str(model), "--size", "96", str(tmp_path / "big.npy")]) == 2
    assert "64x64" in capsys.readouterr().err


def test_a_model_trained_with_resampling_resamples_at_prediction(tmp_path, capsys):
    images, labels = lung_phantoms(5, 96, classes=("normal", "cavity"), seed=6)
    for cls in ("normal", "cavity"):
        (tmp_path / "data" / cls).mkdir(parents=True)
    for i, (img, lab) in enumerate(zip(images, labels)):
        np.save(tmp_path / "data" / lab / f"s{i}.npy", img)
    model = tmp_path / "m.fastct"
    assert cli.main(["classify", "--data", str(tmp_path / "data"), "--size", "64", "--backend", "cpu",
                     "--save", str(model), "--json"]) == 0
    capsys.readouterr()
    from fastct.ml import read_header

    assert read_header(model)["input"]["resize"] == [64, 64]
    np.save(tmp_path / "new.npy", images[:2])  # 96x96, resampled to 64x64 as in training
    assert cli.main(["predict", "--model", str(model), "--json", str(tmp_path / "new.npy")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["resampled_to"] == [64, 64] and len(result["predictions"]) == 2
    assert cli.main(["predict", "--model", str(model), "--size", "80", str(tmp_path / "new.npy")]) == 2
    assert "resampled to 64x64" in capsys.readouterr().err


def test_pickled_models_need_trust(trained, tmp_path, capsys):
    import joblib

    from fastct.ml import load_model

    out, model, argv = trained
    if not model.is_file():
        assert cli.main(argv) == 0
    joblib.dump(load_model(model), tmp_path / "old.joblib")
    np.save(tmp_path / "one.npy", lung_phantoms(1, 64, classes=("normal",))[0])
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(tmp_path / "old.joblib"), str(tmp_path / "one.npy")]) == 2
    err = capsys.readouterr().err
    assert "--trust-model-file" in err and "runs any code" in err and "Traceback" not in err
    assert cli.main(["predict", "--model", str(tmp_path / "old.joblib"), "--trust-model-file",
                     str(tmp_path / "one.npy")]) == 0
    assert "p=" in capsys.readouterr().out  # a pickled calibrated model still gives probabilities


def test_predict_reports_bad_inputs(trained, tmp_path, capsys):
    out, model, argv = trained
    if not model.is_file():
        assert cli.main(argv) == 0
    np.save(tmp_path / "good.npy", lung_phantoms(1, 64, classes=("normal",))[0])
    (tmp_path / "bad.dcm").write_bytes(b"junk")
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(model), str(tmp_path), str(tmp_path / "missing.dcm")]) == 1
    captured = capsys.readouterr()
    assert "good.npy" in captured.out
    assert "bad.dcm" in captured.err and "missing.dcm" in captured.err


def test_classify_kfold_on_a_folder(tmp_path, capsys):
    images, labels = lung_phantoms(4, 64, classes=("normal", "cavity"), seed=2)
    for cls in ("normal", "cavity"):
        (tmp_path / "data" / cls).mkdir(parents=True)
    for i, (img, lab) in enumerate(zip(images, labels)):
        np.save(tmp_path / "data" / lab / f"s{i}.npy", img)
    (tmp_path / "data" / "normal" / "broken.dcm").write_bytes(b"junk")
    assert cli.main(["classify", "--data", str(tmp_path / "data"), "--cv", "2", "--backend", "cpu",
                     "--solver", "fastct", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["metrics"]["method"] == "2-fold" and len(report["metrics"]["folds"]) == 2
    assert report["model"]["solver"] == "fastct" and report["data"]["skipped"] == 1
    assert "broken.dcm" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["classify"],  # neither --data nor --synthetic
        ["classify", "--data", "x", "--synthetic", "3"],
        ["classify", "--synthetic", "3", "--kernel", "poly"],
        ["classify", "--synthetic", "3", "--cv", "3", "--test-size", "0.3"],
        ["predict", "x.npy"],  # no --model
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["classify", "--synthetic", "3", "--cv", "1"], "--cv"),
        (["classify", "--synthetic", "3", "--test-size", "1.5"], "--test-size"),
        (["classify", "--synthetic", "1", "--size", "64"], "--synthetic"),
        (["classify", "--synthetic", "3", "--steps", "erode:-1"], "erode"),
        (["classify", "--synthetic", "3", "--groups", "colour"], "colour"),
        (["classify", "--data", "/nonexistent/folder"], "not a folder"),
        (["predict", "--model", "/nonexistent/model.fastct", "x.npy"], "no such file"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_empty_data_folder_exits_2(tmp_path, capsys):
    assert cli.main(["classify", "--data", str(tmp_path)]) == 2
    assert "class sub-folders" in capsys.readouterr().err


def test_help_has_examples():
    for command in ("classify", "predict"):
        proc = subprocess.run([sys.executable, "-m", "fastct.cli", command, "--help"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and "examples:" in proc.stdout and "fastct predict" in proc.stdout


def test_commands_without_sklearn_exit_1_and_say_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "from fastct import cli\n"
        "assert cli.main(['info']) == 0\n"
        "sys.exit(cli.main(['classify', '--synthetic', '2']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "scikit-learn" in proc.stderr and "fastct-engine[ml]" in proc.stderr
