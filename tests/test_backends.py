"""Backend dispatch: lazy imports, the cached probe, errors, auto fallback, numba's cache."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastct
from fastct import backends
from fastct.cpu import _jit

REPO_ROOT = Path(fastct.__file__).resolve().parent.parent
HAVE_CUPY = importlib.util.find_spec("cupy") is not None


def _run_python(code: str, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO_ROOT),
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture
def fresh_probe():
    """Forget cached probe results before and after the test."""
    backends.reset_probe_cache()
    yield
    backends.reset_probe_cache()


# ---------------------------------------------------------------------------
# import cost


def test_import_fastct_imports_neither_numba_nor_cupy():
    proc = _run_python(
        """
        import sys
        import fastct
        assert fastct.__version__
        loaded = sorted(m for m in ("numba", "cupy", "cupyx", "llvmlite", "fastct.cpu", "fastct.gpu")
                        if m in sys.modules)
        print("LOADED", loaded)
        fastct.backends.get("cpu")          # first use imports the CPU backend ...
        print("AFTER", "numba" in sys.modules, "cupy" in sys.modules)
        """
    )
    assert "LOADED []" in proc.stdout
    assert "AFTER True False" in proc.stdout  # ... and numba with it (the check above can fail)


# ---------------------------------------------------------------------------
# the probe and its answers


def test_available_backends_here():
    status = fastct.available_backends()
    assert set(status) == {"cpu", "gpu"}
    cpu = status["cpu"]
    assert isinstance(cpu, fastct.BackendStatus)
    assert cpu.available and cpu.reason is None
    assert {"numba", "threads", "cache_dir"} <= set(cpu.info)
    assert cpu.info["threads"] >= 1
    assert str(cpu) == "cpu: available"
    gpu = status["gpu"]
    if HAVE_CUPY:
        pytest.skip("CuPy is installed: GPU availability depends on the machine")
    assert not gpu.available
    assert "cupy" in gpu.reason.lower() and "ModuleNotFoundError" in gpu.reason
    assert str(gpu).startswith("gpu: unavailable: ")


def test_probe_runs_once_and_is_cached(monkeypatch, fresh_probe):
    import fastct.gpu

    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("no CUDA device in this test")

    monkeypatch.setattr(fastct.gpu, "runtime_info", broken)
    for _ in range(3):
        st = backends.status("gpu")
    assert len(calls) == 1
    assert not st.available and st.reason == "RuntimeError: no CUDA device in this test"
    assert fastct.available_backends()["gpu"] is st
    backends.reset_probe_cache()
    backends.status("gpu")
    assert len(calls) == 2


def _gpu_usable() -> bool:
    return backends.status("gpu").available


@pytest.mark.parametrize(
    "call",
    [
        lambda b: fastct.erode(np.zeros((4, 4), np.int16), 3, backend=b),
        lambda b: fastct.lowpass(np.zeros((4, 4), np.float32), 0.2, backend=b),
        lambda b: fastct.equalize_hist(np.zeros((2, 4, 4), np.uint8), backend=b),
        lambda b: fastct.to_gray(np.zeros((4, 4, 3), np.uint8), backend=b),
        lambda b: fastct.process(np.zeros((2, 8, 8), np.int16), backend=b),
        lambda b: fastct.Pipeline("erode:3").run_timed(np.zeros((8, 8), np.int16), backend=b),
    ],
    ids=["erode", "lowpass", "equalize_hist", "to_gray", "process", "run_timed"],
)
def test_gpu_unavailable_raises_with_reason_and_cause(call):
    if _gpu_usable():
        pytest.skip("a GPU is usable here")
    reason = backends.status("gpu").reason
    with pytest.raises(fastct.BackendUnavailable) as info:
        call("gpu")
    err = info.value
    assert reason in str(err) and "'gpu'" in str(err)
    assert err.__cause__ is not None and err.cause is err.__cause__
    assert f"{type(err.__cause__).__name__}: {err.__cause__}" == reason
    assert isinstance(err, fastct.FastCTError) and isinstance(err, RuntimeError)


def test_usable_but_unready_gpu_is_explicit_only(monkeypatch, fresh_probe):
    # a GPU that probes fine while its kernels are not yet verified on hardware:
    # "auto" keeps the CPU, an explicit "gpu" reaches the GPU twin (no silent CPU fallback)
    import fastct.gpu
    import fastct.gpu.morphology

    monkeypatch.setattr(fastct.gpu, "runtime_info", lambda: {"device": "test double"})
    monkeypatch.setattr(fastct.gpu, "READY", False)
    assert backends.status("gpu").available
    assert backends.resolve("auto") == "cpu"
    image = np.arange(16, dtype=np.int16).reshape(4, 4)
    np.testing.assert_array_equal(fastct.erode(image, 3, backend="auto"), fastct.erode(image, 3, backend="cpu"))
    calls = []

    def twin(batch, out, **params):
        calls.append(params)
        out[...] = 7
        return out

    monkeypatch.setattr(fastct.gpu.morphology, "erode", twin)
    assert (fastct.erode(image, 3, backend="gpu") == 7).all()
    assert len(calls) == 1 and calls[0]["mode"] == "nearest"
    # once ready, auto picks it
    monkeypatch.setattr(fastct.gpu, "READY", True)
    assert backends.resolve("auto") == "gpu"


def test_auto_runs_on_cpu_here(rng):
    import fastct.gpu

    if _gpu_usable() and fastct.gpu.READY:
        pytest.skip("auto picks the GPU here")
    assert backends.resolve("auto") == "cpu"
    image = rng.integers(-1000, 2000, (2, 16, 16)).astype(np.int16)
    for func in (
        lambda b: fastct.erode(image, 3, backend=b),
        lambda b: fastct.gaussian_blur(image, 1.0, backend=b),
        lambda b: fastct.highpass(image, 0.1, backend=b),
        lambda b: fastct.process(image, backend=b),
    ):
        np.testing.assert_array_equal(func("auto"), func("cpu"))
    # auto is the default
    np.testing.assert_array_equal(fastct.process(image), fastct.process(image, backend="cpu"))


@pytest.mark.parametrize("bad", ["tpu", "CPU", "", None, 0, "cuda"])
def test_unknown_backend_names_backend(bad):
    image = np.zeros((4, 4), np.int16)
    calls = [
        lambda: fastct.erode(image, 3, backend=bad),
        lambda: fastct.lowpass(image, 0.2, backend=bad),
        lambda: fastct.window(image, preset="lung", backend=bad),
        lambda: fastct.to_gray(np.zeros((4, 4, 3), np.uint8), backend=bad),
        lambda: fastct.process(image, backend=bad),
        lambda: backends.status(bad),
    ]
    for call in calls:
        with pytest.raises(fastct.InvalidArgumentError, match=r"^backend: expected one of auto, cpu, gpu") as info:
            call()
        assert isinstance(info.value, ValueError)


class _FakeCupyArray:
    """Looks like a CuPy array to fastct's type check (cupy itself is never imported)."""

    __module__ = "cupy._core.core"
    ndim = 2
    shape = (4, 4)
    dtype = np.dtype(np.int16)


def test_cupy_input_stays_on_the_gpu():
    fake = _FakeCupyArray()
    assert backends.resolve("auto", fake) == "gpu"
    assert backends.resolve("gpu", fake) == "gpu"
    with pytest.raises(fastct.InvalidArgumentError, match="^backend: 'cpu' cannot compute on a CuPy array"):
        backends.resolve("cpu", fake)
    with pytest.raises(fastct.InvalidArgumentError, match="^backend"):
        fastct.erode(fake, 3, backend="cpu")


def test_process_int16_air_default_pipeline():
    out = fastct.process(np.zeros((2, 64, 64), np.int16) - 1000, backend="cpu")
    assert out.dtype == np.float32 and out.shape == (2, 64, 64)
    assert (out == 0).all()  # a constant slice equalises to 0


# ---------------------------------------------------------------------------
# numba's on-disk cache


def test_cache_dir_choice(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    package = tmp_path / "pkg"
    user = str(tmp_path / "xdg" / "fastct" / "numba")
    assert _jit.user_cache_dir() == Path(user)
    # read-only package folder -> the per-user folder
    assert _jit.choose_cache_dir(package, writable=lambda p: False) == user
    # writable -> keep numba's default (beside the sources)
    assert _jit.choose_cache_dir(package, writable=lambda p: True) is None
    # an explicit NUMBA_CACHE_DIR always wins, writable or not
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "explicit"))
    assert _jit.choose_cache_dir(package, writable=lambda p: False) is None
    assert _jit.cache_dir() == str(tmp_path / "explicit")
    # without XDG_CACHE_HOME: ~/.cache
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _jit.choose_cache_dir(package, writable=lambda p: False) == str(
        tmp_path / "home" / ".cache" / "fastct" / "numba"
    )


def test_cache_dir_writability_probe(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _jit._is_writable(tmp_path / "pkg" / "__pycache__")  # created on the way
    assert (tmp_path / "pkg" / "__pycache__").is_dir()
    assert not list((tmp_path / "pkg" / "__pycache__").iterdir())  # the probe file is gone
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert not _jit._is_writable(blocker / "__pycache__")
    # the real probe on an unusable package folder falls back to the user folder
    assert _jit.choose_cache_dir(blocker) == str(tmp_path / "xdg" / "fastct" / "numba")


def test_configure_cache_sets_numba_live(monkeypatch, tmp_path):
    from numba.core import config

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # restored afterwards
    monkeypatch.setattr(_jit, "choose_cache_dir", lambda: str(tmp_path / "forced"))
    _jit.configure_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "forced")
    assert config.CACHE_DIR == str(tmp_path / "forced")
    monkeypatch.setattr(_jit, "choose_cache_dir", lambda: None)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "untouched")
    _jit.configure_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == "untouched"


def test_numba_cache_files_written_to_numba_cache_dir(tmp_path):
    cache = tmp_path / "numba-cache"
    proc = _run_python(
        """
        import numpy as np, fastct
        hu = np.array([[-1000, 40, 1000]], np.int16)
        print(fastct.window(hu, preset="brain", dtype=np.uint8, backend="cpu").tolist())
        print("CACHE", fastct.available_backends()["cpu"].info["cache_dir"])
        """,
        {"NUMBA_CACHE_DIR": str(cache)},
    )
    assert "[[0, 129, 255]]" in proc.stdout
    assert f"CACHE {cache}" in proc.stdout
    index = list(cache.rglob("*.nbi"))
    data = list(cache.rglob("*.nbc"))
    assert index and data, f"no numba cache files under {cache}: {list(cache.rglob('*'))}"
