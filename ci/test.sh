#!/usr/bin/env bash
# The README's test command: makes .venv, installs fastct with its test extras,
# compile-checks CUDA sources where nvcc exists, and runs the whole suite.
# Extra arguments go to pytest (e.g. `bash ci/test.sh -x -k erode`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,bench]'

# dciodvfy (Debian's dicom3tools) checks the derived DICOM objects fastct writes;
# those tests skip without it. Installed only where apt-get exists and we are
# root; quiet, and never failing the script (offline machines go on without).
if ! command -v dciodvfy >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools; } >/dev/null 2>&1 \
        || echo "dicom3tools not installed (offline?): the dciodvfy tests will skip"
fi

# GPU kernels (fastct/gpu/kernels/*.cu) must compile even on machines without a GPU.
shopt -s nullglob
cu_files=(fastct/gpu/kernels/*.cu)
if command -v nvcc >/dev/null 2>&1 && [ ${#cu_files[@]} -gt 0 ]; then
    for f in "${cu_files[@]}"; do
        for arch in 80 90; do
            nvcc -std=c++17 -arch=sm_${arch} -c "$f" -o /dev/null
        done
    done
    echo "nvcc: ${#cu_files[@]} CUDA source(s) compile for sm_80 and sm_90"
fi

# Lint: the rule set lives in pyproject.toml ([tool.ruff]).
.venv/bin/ruff check .

# Benchmarks run once without timing so they never rot; then the test suite.
.venv/bin/python -m pytest -q -p no:cacheprovider benchmarks --benchmark-disable
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
