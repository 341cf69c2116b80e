#!/usr/bin/env bash
# Creates ./.venv with everything the main job and the tests need, on a CPU machine, plus
# .venv312 (the Lambda runtime's Python 3.12 with only awslambdaric), .venv-sam (the SAM CLI,
# whose pins clash with ours) and .venv-checkov (checkov, the template's policy scanner; its pins
# clash too). Idempotent: a second run only checks that the pins are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip, quietly: only its errors and warnings that are ours to act on. This machine's pip config
# lists local wheel folders that may not exist; pip warns about each on every call ("Location ...
# is ignored"), which says nothing about this project.
pip_in() {
    local python=$1; shift
    "$python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# The torch 2.13.0 CPU wheel on this machine's disk is for Python 3.11.
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_in .venv/bin/python --upgrade pip
# torch first, pinned: that spec takes the CPU build from local disk. Any other spec
# (or letting sentence-transformers pull torch) downloads gigabytes of CUDA wheels.
pip_in .venv/bin/python torch==2.13.0
# setuptools' note on every editable build ("be careful with folders named like the package")
# is informational; the layout is deliberate (the repository root is the import root).
PYTHONWARNINGS="ignore:Editable installation" pip_in .venv/bin/python -e ".[cpu,export,scale,dev]"
# swagger-ui-bundle (Swagger UI 4, pinned before) and swagger-ui-bundle-v2 install the same module:
# where the old one is still there, remove it and lay the new one's files again.
if .venv/bin/python -m pip show -q swagger-ui-bundle >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q swagger-ui-bundle
    pip_in .venv/bin/python --force-reinstall --no-deps "$(grep -o 'swagger-ui-bundle-v2==[0-9.]*' pyproject.toml)"
fi

if PY312=$(python3 infra/toolchain.py 2>/dev/null); then
    [ -x .venv312/bin/python ] || "$PY312" -m venv .venv312
    pip_in .venv312/bin/python awslambdaric
else
    echo "warning: no Python 3.12 found (set PYTHON312): the artifact tests through awslambdaric will be skipped" >&2
fi
# A real browser for `tests.web.test_page`: Debian's Chromium and chromedriver (Selenium is told
# where they are; no browser is downloaded). Without root or apt the browser tests skip, saying so.
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
    as_root=""; [ "$(id -u)" = 0 ] || as_root="sudo -n"
    { $as_root apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { $as_root apt-get update -q >/dev/null 2>&1 && $as_root apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; } \
      || echo "warning: could not install chromium and chromium-driver: the browser tests will be skipped" >&2
fi
[ -x .venv-sam/bin/sam ] || { python3 -m venv .venv-sam && pip_in .venv-sam/bin/python aws-sam-cli; }
[ -x .venv-checkov/bin/checkov ] || { python3 -m venv .venv-checkov && pip_in .venv-checkov/bin/python checkov==3.3.30; }
.venv/bin/python -c "import onnxruntime, torch; print('environment ready: torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"
