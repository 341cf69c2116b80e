"""The model wing: the exported ONNX model, loaded and checked, and the CPU facts that decide
which variant may run.

- `Encoder`: tokenizers + onnxruntime (never torch); `Encoder.from_export(MODEL_DIR)` picks the
  manifest's variant for the device;
- `read_manifest`, `choose_variant`, `MANIFEST`: an export's `manifest.json`; `model_files`: a
  variant's graph and weights files, `variant_bytes`: their size, `variant_sha256`: one digest of both;
- `ModelCheck`, `check_tokenizer`: the served files' and the tokenizer's sha256, checked at start;
- `known_vector`, `known_vector_cosine`, `KNOWN_TEXT`: the export's vector of a known text per
  variant, which the encoder reproduces at start (the kernels are the gated ones, whatever
  /proc/cpuinfo says);
- `missing`, `INT8_DOT`, `cpu_flags`: what a variant needs from the CPU; `cpu_description`: the CPU as benchmarks name it; `usable_cores`,
  `crossover_tokens`: how many threads a call gets (`cpu.CROSSOVER_TOKENS`, measured per CPU; `DEFAULT_CROSSOVER` elsewhere);
  `batch_rows`: texts per call in bulk (`BATCH_ROWS` per CPU; `DEFAULT_BATCH_ROWS` elsewhere).
"""

from handler.model.cpu import BATCH_ROWS, CROSSOVER_TOKENS, DEFAULT_BATCH_ROWS, DEFAULT_CROSSOVER, INT8_DOT, batch_rows, cpu_description, cpu_flags, cpu_kind, crossover_tokens, missing, usable_cores
from handler.model.encoder import (
    CPU,
    CPU_DISABLED_OPTIMIZERS,
    CUDA,
    CUDA_PARITY_MIN_COSINE,
    DEVICES,
    OUTPUT_NAME,
    Encoder,
    providers_for,
    resolve_device,
)
from handler.model.integrity import ModelCheck, check_tokenizer
from handler.model.kernels import KNOWN_TEXT, KNOWN_VECTOR, KNOWN_VECTOR_MIN_COSINE, known_vector, known_vector_cosine, known_vector_floor
from handler.model.manifest import MANIFEST, WEIGHTS, ModelFile, choose_variant, model_files, read_manifest, variant_bytes, variant_sha256

__all__ = [
    "BATCH_ROWS", "CROSSOVER_TOKENS", "DEFAULT_BATCH_ROWS", "DEFAULT_CROSSOVER", "INT8_DOT", "batch_rows", "cpu_description", "cpu_flags", "cpu_kind", "crossover_tokens", "missing", "usable_cores",
    "CPU", "CPU_DISABLED_OPTIMIZERS", "CUDA", "CUDA_PARITY_MIN_COSINE", "DEVICES", "OUTPUT_NAME", "Encoder", "providers_for", "resolve_device",
    "ModelCheck", "check_tokenizer",
    "KNOWN_TEXT", "KNOWN_VECTOR", "KNOWN_VECTOR_MIN_COSINE", "known_vector", "known_vector_cosine", "known_vector_floor",
    "MANIFEST", "WEIGHTS", "ModelFile", "choose_variant", "model_files", "read_manifest", "variant_bytes", "variant_sha256",
]
