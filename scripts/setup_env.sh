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

# The Lambda runtime's Python (3.12) holding only AWS's runtime client, for local invokes of the
# built artifact (infra/local_invoke.py), and the SAM CLI in its own venv (its pins clash with ours).
PY312=${PYTHON312:-$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)}
PY312=${PY312:-$(command -v python3.12 || true)}
if [ -n "$PY312" ]; then
    [ -x .venv312/bin/python ] || "$PY312" -m venv .venv312
    .venv312/bin/python -m pip install -q --disable-pip-version-check awslambdaric
else
    echo "warning: no Python 3.12 found: the artifact tests through awslambdaric will be skipped" >&2
fi
[ -x .venv-sam/bin/sam ] || { python3 -m venv .venv-sam && .venv-sam/bin/python -m pip install -q --disable-pip-version-check aws-sam-cli; }
.venv/bin/python -c "import onnxruntime, torch; print('environment ready: torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"
