#!/usr/bin/env bash
# `fastct bench` with this checkout's virtual environment (.venv, made by
# ci/test.sh) or $PYTHON: every op against OpenCV, scipy, scikit-image and a
# plain copy; prints the table and writes benchmarks/results/<machine>.json
# and .png. Arguments go to `fastct bench`, e.g.
#   bash ci/bench.sh --quick
#   bash ci/bench.sh --ops erode,pipeline --dtypes int16 --repeat 9
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
else
    PY=${PYTHON:-python3}
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m fastct.cli bench "$@"
