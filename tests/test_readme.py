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
