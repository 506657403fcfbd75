"""The CUDA sources compile as fastct compiles them, without needing a GPU.

- NVRTC (through CuPy, as ``RawModule`` does): every name expression of every
  kernel file, with fastct's options, for sm_80 and sm_90. Needs CuPy and the
  NVRTC library (no device).
- nvcc (where installed): the resource usage of the kernels that take dynamic
  shared memory shows no static shared memory (a block may use 48 KiB in all
  without an opt-in, and fastct sizes the dynamic part up to that).

ci/test.sh separately runs ``nvcc -c`` on every file for sm_80 and sm_90.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fastct.gpu import _kernels, _runtime

#: Kernels launched with dynamic shared memory (fastct.gpu._geometry sizes it to the whole 48 KiB).
DYNAMIC_SHARED_KERNELS = ("chain_tile", "histogram", "clahe_luts")


def _nvrtc_program():
    try:
        from cupy.cuda import compiler, nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - no CuPy or no NVRTC library: nothing to check here
        pytest.skip(f"NVRTC unavailable: {type(exc).__name__}: {exc}")
    program = getattr(compiler, "_NVRTCProgram", None)
    if program is None:
        pytest.skip("this CuPy has no _NVRTCProgram")
    return program


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90"])
@pytest.mark.parametrize("file", _kernels.KERNEL_FILES)
def test_nvrtc_compiles_every_name_expression(file, arch):
    program = _nvrtc_program()
    names = list(_kernels.instantiations(file))
    # The options CuPy's RawModule adds to fastct's (device default space, flush-to-zero).
    options = _runtime.COMPILE_OPTIONS + (f"-arch=sm_{arch}", "--device-as-default-execution-space", "-ftz=true")
    prog = program(_kernels.kernel_source(file), file, name_expressions=names, method="cubin")
    binary, mapping = prog.compile(options)
    assert len(binary) > 0
    assert sorted(mapping) == sorted(names)
    assert all(lowered.startswith("_Z") for lowered in mapping.values())


@pytest.mark.slow
@pytest.mark.parametrize("file", ["stencil.cu", "histogram.cu"])
def test_dynamic_shared_kernels_use_no_static_shared_memory(file, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not installed")
    from importlib import resources

    path = resources.files("fastct.gpu").joinpath("kernels", file)
    proc = subprocess.run([nvcc, "-std=c++17", "-arch=sm_80", "--resource-usage", "-c", str(path), "-o",
                           str(tmp_path / "k.o")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    usage = {}
    current = None
    for line in proc.stderr.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            current = m.group(1)
        m = re.search(r"Used (\d+) registers", line)
        if m and current:
            smem = re.search(r"(\d+) bytes smem", line)  # absent when the kernel has none
            usage[current] = (int(m.group(1)), int(smem.group(1)) if smem else 0)
    assert usage, proc.stderr
    for mangled, (registers, smem) in usage.items():
        base = next((k for k in DYNAMIC_SHARED_KERNELS if f"{len(k)}{k}I" in mangled), None)
        if base is not None:
            assert smem == 0, f"{mangled}: {smem} bytes of static shared memory"
        assert smem <= 16 * 1024, f"{mangled}: {smem} bytes of static shared memory"
        assert registers * 256 <= 65536, f"{mangled}: {registers} registers per thread"
