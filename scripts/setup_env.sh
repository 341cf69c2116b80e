#!/usr/bin/env bash
# Creates ./.venv with everything the main job and the tests need, on a CPU machine.
# Idempotent: a second run only checks that the pins are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The torch 2.13.0 CPU wheel on this machine's disk is for Python 3.11.
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --disable-pip-version-check --upgrade pip
# torch first, pinned: that spec takes the CPU build from local disk. Any other spec
# (or letting sentence-transformers pull torch) downloads gigabytes of CUDA wheels.
pip install -q --disable-pip-version-check torch==2.13.0
pip install -q --disable-pip-version-check -e ".[cpu,export,dev]"
.venv/bin/python -c "import onnxruntime, torch; print('environment ready: torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"
