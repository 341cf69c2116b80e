#!/usr/bin/env bash
# The main job on a fresh machine: environment -> ONNX export (parity-gated) -> batch embedding
# -> upload into the embedded Qdrant Edge -> the search service on http://localhost:8000.
#   INPUT=FILE_OR_URL  records to load (default: ../shared/data/startups_sample.jsonl when present,
#                      else the tutorial's full dataset, downloaded)
#   MODEL_DIR, QDRANT_PATH, QDRANT_URL, PORT: see README.md
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
export MODEL_DIR=${MODEL_DIR:-model}
VECTORS=${VECTORS:-vectors}

if [ -f "$MODEL_DIR/manifest.json" ] && [ -z "${FORCE_EXPORT:-}" ]; then
    echo "using the export in $MODEL_DIR (FORCE_EXPORT=1 to export again)"
else
    $PY -m export --out "$MODEL_DIR"
fi

SAMPLE=../shared/data/startups_sample.jsonl
INPUT=${INPUT:-$([ -f "$SAMPLE" ] && echo "$SAMPLE" || echo "")}
if [ -z "$INPUT" ]; then
    # scripts.embed downloads the tutorial's dataset into a cache; the upload reads that copy.
    INPUT="${NEURAL_SEARCH_CACHE:-$HOME/.cache/neural-search}/startups_demo.json"
    EMBED_INPUT=()
else
    EMBED_INPUT=(--input "$INPUT")
fi
status=0
$PY -m scripts.embed "${EMBED_INPUT[@]}" --out "$VECTORS" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi   # 3: some lines rejected (listed above)
$PY -m scripts.upload --input "$INPUT" --vectors "$VECTORS"

exec $PY -m handler
