"""The README's examples run as written.

Every fenced ``python`` block runs in a fresh interpreter namespace, in a
folder holding the files the examples read (``slices.npy``, ``archive.zarr``,
``scans/``). Blocks that need a GPU are skipped when none is usable.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import fastct

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _python_blocks():
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", README, flags=re.S | re.M):
        line = README.count("\n", 0, match.start()) + 1
        blocks.append(pytest.param(match.group(1), id=f"README.md:{line}"))
    return blocks


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    """The files the README's examples name, small."""
    from pydicom.data import get_testdata_file

    from fastct.datasets import chest_phantom

    batch = chest_phantom(4, 64, seed=1)
    np.save(tmp_path / "slices.npy", batch)
    scans = tmp_path / "scans"
    scans.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), scans / "ct.dcm")
    try:
        import zarr

        zarr.save_array(str(tmp_path / "archive.zarr"), batch)
    except ImportError:
        pass
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 3


@pytest.mark.parametrize("code", _python_blocks())
def test_readme_python_block_runs(code, example_folder):
    if re.search(r"^\s*import cupy|dask_cuda|cupy\.", code, flags=re.M):
        status = fastct.available_backends()["gpu"]
        if not status.available:
            pytest.skip(f"needs a GPU: {status.reason}")
    if "zarr" in code and not (example_folder / "archive.zarr").exists():
        pytest.skip("zarr is not installed (pip install 'fastct-engine[distributed]')")
    namespace = {"__name__": "__main__"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own examples
    assert os.getcwd() == str(example_folder)


def _cli_examples():
    """Every ``fastct ...`` command of the README's bash blocks, as argv lists (after ``fastct``)."""
    import shlex

    commands = []
    for match in re.finditer(r"^```bash\n(.*?)^```", README, flags=re.S | re.M):
        for line in match.group(1).splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0].endswith("fastct") and words[0] in ("fastct", ".venv/bin/fastct"):
                    commands.append(words[1:])
    return commands


def test_every_cli_example_parses():
    # Commands and options named in the README exist and take the values shown.
    from fastct import cli

    examples = _cli_examples()
    assert len(examples) >= 10
    parser = cli.build_parser()
    for argv in examples:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse's way of refusing
            raise AssertionError(f"README example does not parse: fastct {' '.join(argv)}") from exc
        assert args.command == argv[0]


def _runnable(argv) -> bool:
    text = " ".join(argv)
    return argv[0] in ("process", "deidentify") and "--scheduler" not in text and "/shared/" not in text \
        and "/secure/" not in text and "--backend gpu" not in text


@pytest.mark.parametrize("argv", [pytest.param(a, id=" ".join(a)) for a in _cli_examples() if _runnable(a)])
def test_file_examples_run_as_written(argv, example_folder, capsys):
    # the README's process/deidentify examples on small real files: no usage error, no failure
    from fastct import cli

    nibabel = pytest.importorskip("nibabel")
    study = example_folder / "study"
    study.mkdir()
    shutil.copy(example_folder / "scans" / "ct.dcm", study / "ct.dcm")
    nibabel.save(nibabel.Nifti1Image(np.zeros((16, 16, 3), np.int16), np.eye(4)), str(example_folder / "volume.nii.gz"))
    (example_folder / "site.key").write_text("a README example key, 16+ bytes")
    code = cli.main(argv + ["--quiet"])
    err = capsys.readouterr().err
    assert code == 0, (argv, err)
