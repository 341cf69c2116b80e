#!/usr/bin/env bash
# The main job on a fresh machine: environment, ONNX export (parity-gated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
MODEL_DIR=${MODEL_DIR:-model}

$PY -m export --out "$MODEL_DIR"
