"""Run under an emulated CPU (tests/model/test_emulated_cpus.py): embed texts with each variant, once.

    python tests/support/emulated_embed.py MODEL_DIR TEXTS_JSON OUT_NPZ VARIANT...

One process per CPU: emulation is slow (QEMU's TCG), and the interpreter, onnxruntime and the
sessions are paid for once. Needs only numpy, tokenizers, onnxruntime and handler.model (the
aarch64 root has nothing else). Writes each variant's vectors, what `Encoder.from_export` serves
here when no variant is named (after the known-vector check) and the wall time of each step.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: handler.model

from handler.model import Encoder  # noqa: E402


def main(model_dir: str, texts_file: str, out: str, *variants: str) -> None:
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    served = Encoder.from_export(model_dir, verify="size")
    report = {"machine": platform.machine(), "served": served.variant, "fallback": served.fallback,
              "known_vector_cosine": served.known_vector_cosine, "start_s": round(time.perf_counter() - started, 1), "embed_s": {}}
    arrays = {}
    for variant in variants:
        began = time.perf_counter()
        encoder = served if variant == served.variant else Encoder(Path(model_dir) / json.loads((Path(model_dir) / "manifest.json").read_text())["variants"][variant]["file"],
                                                                       Path(model_dir) / "tokenizer.json", variant=variant)
        arrays[variant] = encoder.embed(texts)
        report["embed_s"][variant] = round(time.perf_counter() - began, 1)
    report["total_s"] = round(time.perf_counter() - started, 1)
    np.savez(out, **arrays)
    Path(out).with_suffix(".json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
