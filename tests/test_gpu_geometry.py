"""GPU backend parts that run without a GPU: launch geometry, memory plans,
kernel registry, compile options, import hygiene. Pure Python, always run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastct._shared.fusion import STAGE_LINEAR, STAGE_MIN, ChainStage, build_program
from fastct._shared.gaussian import resolve_gaussian
from fastct.gpu import _geometry as geo
from fastct.gpu import _kernels, _runtime, _transfer

# ---------------------------------------------------------------------------
# kernel registry and sources


@pytest.mark.parametrize("file", _kernels.KERNEL_FILES)
def test_name_expressions_match_the_nvcc_instantiation_list(file):
    # What ci/test.sh compiles with nvcc -c is exactly what NVRTC is asked for.
    requested = _kernels.instantiations(file)
    listed = _kernels.listed_instantiations(_kernels.read_text(file))
    assert len(set(requested)) == len(requested)
    assert sorted(requested) == sorted(listed)


@pytest.mark.parametrize("file", _kernels.KERNEL_FILES)
def test_kernel_source_is_self_contained(file):
    src = _kernels.kernel_source(file)
    assert not [line for line in src.splitlines() if line.lstrip().startswith("#include")]  # prelude inlined
    assert "namespace fct" in src and src.count("FASTCT_COMMON_CU") >= 2


@pytest.mark.parametrize("file", _kernels.KERNEL_FILES + (_kernels.COMMON_FILE,))
def test_kernel_files_include_no_host_headers(file):
    text = _kernels.read_text(file)
    includes = [line for line in text.splitlines() if line.startswith("#include")]
    assert includes in ([], ['#include "_common.cu"'])


def test_every_dtype_group_is_nonempty_and_partitions_the_file():
    for file in _kernels.KERNEL_FILES:
        groups = [set(_kernels.for_dtype(file, t)) for t in _kernels.MORPH_DTYPES]
        union = set().union(*groups)
        assert union == set(_kernels.instantiations(file))
        assert sum(len(g) for g in groups) == len(union)  # each name in exactly one group


def test_name_expr_and_ctype():
    assert _kernels.name_expr("equalize_apply", np.uint16, np.uint8) == "equalize_apply<unsigned short, unsigned char>"
    assert _kernels.name_expr("chain_tile", np.float64, np.float32, True) == "chain_tile<double, float, true>"
    with pytest.raises(KeyError):
        _kernels.ctype(np.complex64)


def test_compile_options_forbid_fma_contraction():
    assert "-fmad=false" in _runtime.COMPILE_OPTIONS
    assert any(o.startswith("--std=c++17") for o in _runtime.COMPILE_OPTIONS)


def test_kernels_ship_as_package_data():
    # pyproject ships gpu/kernels/*.cu: the prelude must be a .cu file too.
    from importlib import resources

    files = {p.name for p in resources.files("fastct.gpu").joinpath("kernels").iterdir()}
    assert set(_kernels.KERNEL_FILES) | {_kernels.COMMON_FILE} <= files
    assert all(name.endswith(".cu") for name in files if not name.startswith("__"))


# ---------------------------------------------------------------------------
# import hygiene


def test_importing_the_gpu_backend_does_no_cuda_work():
    code = textwrap.dedent(
        """
        import sys
        import fastct.gpu, fastct.gpu._transfer, fastct.gpu._runtime
        from fastct.gpu import filters, frequency, fused, histogram, intensity, morphology
        print("CUPY", "cupy" in sys.modules, "READY", fastct.gpu.READY)
        """
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "FASTCT_GPU_READY"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "CUPY False READY False" in proc.stdout


def test_ready_follows_the_environment():
    code = "import fastct.gpu; print(fastct.gpu.READY)"
    env = dict(__import__("os").environ, FASTCT_GPU_READY="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.stdout.strip() == "True", proc.stderr


# ---------------------------------------------------------------------------
# launch geometry


def test_slice_parts_cover_everything_within_the_grid_limit():
    for n in (0, 1, 5, 65535, 65536, 200000):
        parts = geo.slice_parts(n)
        assert sum(b - a for a, b in parts) == n
        assert all(0 < b - a <= geo.MAX_GRID_SLICES for a, b in parts)
        assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_elementwise_and_plane_grids():
    grid, block = geo.elementwise_grid(10**12)
    assert grid == (geo.MAX_ELEMENTWISE_BLOCKS,) and block == (geo.BLOCK_THREADS,)
    grid, _ = geo.plane_grid(512 * 512, 70000)
    assert grid == (512 * 512 // geo.PIXELS_PER_BLOCK, 70000)  # callers split slices with slice_parts


def test_chain_tile_plan_layout_is_consistent():
    # the layout the kernel trusts: two pixel buffers, then the row-pass buffer, then stats
    for kys, kxs, t, a, stats in [([3], [3], 1, 4, False), ([3, 3, 5], [3, 3, 5], 2, 4, True),
                                  ([25], [25], 2, 8, False), ([1], [7], 8, 4, False), ([5, 5], [1, 1], 4, 4, True)]:
        plan = geo.chain_tile_plan(kys, kxs, True, t, a, stats)
        assert plan is not None
        hy, hx = sum(k // 2 for k in kys), sum(k // 2 for k in kxs)
        assert plan.buf_elems == (plan.tile_h + 2 * hy) * (plan.tile_w + 2 * hx)
        assert plan.h_offset >= 2 * plan.buf_elems * t and plan.h_offset % 8 == 0
        assert plan.stats_offset >= plan.h_offset + plan.buf_elems * max(t, a) and plan.stats_offset % 8 == 0
        bx, by = geo.tile_block()
        assert plan.shared_bytes == plan.stats_offset + (bx * by * 4 if stats else 0)
        assert plan.shared_bytes <= geo.SHARED_LIMIT
        assert plan.buf_elems <= geo.MAX_TILE_REDUNDANCY * plan.tile_h * plan.tile_w


def test_chain_tile_plan_shrinks_then_gives_up():
    # sigma 3 with float64 sums does not fit a 32x32 tile's shared memory: a smaller tile
    plan = geo.chain_tile_plan([25, 25], [25, 25], True, 4, 8)
    assert plan is None or plan.shared_bytes <= geo.SHARED_LIMIT
    assert geo.chain_tile_plan([201], [1], False, 2, 4) is None  # far too tall: two passes
    assert geo.chain_tile_plan([1], [1], False, 1, 4).buf_elems == geo.TILE_H * geo.TILE_W


def test_chain_tile_plan_respects_patched_tiles(monkeypatch):
    monkeypatch.setattr(geo, "TILE_H", 4)
    monkeypatch.setattr(geo, "TILE_W", 2)
    plan = geo.chain_tile_plan([3], [3], False, 2, 4)
    assert (plan.tile_h, plan.tile_w) == (4, 2)
    assert plan.grid(17, 23, 3) == (12, 5, 3)


def test_default_chain_plans_for_the_default_pipeline():
    taps = resolve_gaussian(0, 5)[0]
    stages = [ChainStage(STAGE_MIN, 3, 3, None, None, "nearest", 0),
              ChainStage(1, 3, 3, None, None, "nearest", 0),
              ChainStage(STAGE_LINEAR, 5, 5, taps, taps, "nearest", 0)]
    prog = build_program(stages, (512, 512), np.int16)
    assert prog.taps_x.dtype == np.float32  # OpenCV's dyadic 5-tap rule sums exactly in float32
    plan = geo.chain_tile_plan(prog.ky, prog.kx, True, 2, prog.taps_x.dtype.itemsize, stats=True)
    assert (plan.tile_h, plan.tile_w) == (32, 32)


# ---------------------------------------------------------------------------
# memory plans


def test_chunk_slices():
    assert geo.chunk_slices(256, 1 << 20, 1 << 30) == 256  # fits: one upload, one download
    c = geo.chunk_slices(256, 1 << 20, 100 << 20, fixed_bytes=10 << 20)
    assert c == 45  # two chunks in flight within the budget
    assert 2 * c * (1 << 20) + (10 << 20) <= 100 << 20
    assert geo.chunk_slices(3, 10**9, 10) == 1  # never zero
    assert geo.chunk_slices(0, 100, 10) == 1


def test_equalize_strides():
    assert geo.equalize_stride(np.uint8, 0) == 256
    assert geo.equalize_stride(np.uint16, 0) == 65536
    assert geo.equalize_stride(np.float32, 256) == 256
    assert geo.histogram_shared_bins(65536) == geo.HIST_SHARED_BINS


def test_clahe_stride_rules():
    from fastct.errors import FastCTError
    from fastct.gpu.histogram import clahe_lut_slices, clahe_stride, fixed_ranges

    assert clahe_stride(np.int16, 0, None) == 65536
    assert clahe_stride(np.uint8, 0, (0, 255)) == 256
    assert clahe_stride(np.int16, 0, (-1000.5, 999.5)) == 2000  # ceil / floor: -1000..999, as the CPU backend
    assert clahe_stride(np.float32, 256, (0.0, 1.0)) == 256
    with pytest.raises(FastCTError, match="value_range"):
        clahe_stride(np.uint16, 0, (0, 70000))
    np.testing.assert_array_equal(fixed_ranges(np.int16, (-1.5, 2.5), 2), [[-1, 2], [-1, 2]])
    assert clahe_lut_slices(1000, 8, 8, 65536) == 16  # 256 MiB of 16 MiB tables
    assert clahe_lut_slices(3, 8, 8, 256) == 3


def test_transfer_budget_honours_the_test_cap(monkeypatch):
    class Rt:
        def free_bytes(self):
            return 10**12

    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", 12345)
    assert _transfer.budget_bytes(Rt()) == 12345
    monkeypatch.setattr(_transfer, "MAX_DEVICE_BYTES", None)
    assert _transfer.budget_bytes(Rt()) == int(10**12 * _transfer.MEMORY_FRACTION)
