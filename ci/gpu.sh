#!/usr/bin/env bash
# GPU suite, for a machine with an NVIDIA GPU (CUDA 13, CuPy 14, numba, scipy,
# scikit-image, OpenCV, pytest; no network needed). Uses the Python that has
# those packages ($PYTHON, default python3) with this checkout on PYTHONPATH.
#
#   1. compile-checks fastct/gpu/kernels/*.cu with nvcc (where nvcc exists) for
#      sm_80, sm_90 and the local GPU;
#   2. runs the whole test suite with the GPU required: FASTCT_REQUIRE_GPU=1
#      makes every GPU test fail instead of skip, FASTCT_GPU_READY=1 marks the
#      backend ready so the shared `backend` fixture (tests/conftest.py) runs
#      each op test on "gpu" too (and "auto" picks the GPU);
#   3. runs benchmarks/gpu_bench.py (device-resident and end-to-end timings)
#      and the classification-feature GPU/CPU throughput of
#      benchmarks/classify_phantoms.py (small data set: the F1 targets are a
#      CPU run's business).
#
# Writes benchmarks/results/gpu-<host>-<utc>.log (everything printed) and
# .json (the benchmark). Exits non-zero if a test or the benchmark failed.
# Extra arguments go to pytest (e.g. `bash ci/gpu.sh -x -k gpu_parity`).
# FASTCT_GPU_BENCH_ARGS passes options to the benchmark (e.g. "--slices 64").
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export FASTCT_REQUIRE_GPU=1
export FASTCT_GPU_READY=1
# The CPU emulator of the kernels (tests/test_gpu_parity.py) is for machines
# without a GPU; here the real device runs the same tests.
export FASTCT_GPU_EMULATOR=${FASTCT_GPU_EMULATOR:-0}

mkdir -p benchmarks/results
host=$(hostname -s 2>/dev/null || echo gpu)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="benchmarks/results/gpu-${host}-${stamp}"
log="${base}.log"

run() {
    echo "== $(date -u +%H:%M:%S) nvidia-smi"
    nvidia-smi || echo "nvidia-smi not found"
    echo "== versions"
    "$PYTHON" - <<'EOF'
import json, sys
import numpy, cupy
import fastct
from fastct import backends
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)
st = backends.status("gpu")
print("gpu backend:", st, json.dumps(st.info, default=str))
EOF

    status=0
    if command -v nvcc >/dev/null 2>&1; then
        echo "== nvcc compile check"
        local_arch=$("$PYTHON" -c "import cupy; print(cupy.cuda.Device().compute_capability)" 2>/dev/null || echo "")
        for f in fastct/gpu/kernels/*.cu; do
            for arch in 80 90 ${local_arch}; do
                nvcc -std=c++17 -fmad=false -arch=sm_${arch} -c "$f" -o /dev/null || status=1
            done
        done
    fi

    echo "== $(date -u +%H:%M:%S) test suite (GPU required)"
    "$PYTHON" -m pytest -q -p no:cacheprovider -rfEs "$@" || status=1

    echo "== $(date -u +%H:%M:%S) GPU benchmarks"
    # shellcheck disable=SC2086
    "$PYTHON" benchmarks/gpu_bench.py --output "${base}.json" ${FASTCT_GPU_BENCH_ARGS:-} || status=1
    echo "== $(date -u +%H:%M:%S) classification features, GPU vs CPU"
    "$PYTHON" benchmarks/classify_phantoms.py --n-per-class 16 --size 256 --throughput-slices 64 \
        --skip-baseline --output "${base}-features.json" || status=1
    echo "== $(date -u +%H:%M:%S) done, status ${status}"
    return $status
}

run "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo "log: $log"
exit "$rc"
