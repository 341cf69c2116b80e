"""Run under an emulated CPU (tests/model/test_emulated_cpus.py): embed texts with each variant, once.

    python tests/support/emulated_embed.py MODEL_DIR TEXTS_JSON OUT_NPZ VARIANT...

One process per CPU: emulation is slow (QEMU's TCG), and the interpreter, onnxruntime and the
sessions are paid for once. Needs only numpy, tokenizers, onnxruntime and handler.model (the
aarch64 root has nothing else). Writes each variant's vectors, what `Encoder.from_export` serves
here when no variant is named (after the known-vector check) and the wall time of each step.
Every text is run alone (ROWS) on one thread (THREADS): emulated time grows with the tokens run, and
a batch padded to its longest text ran 2.4x the tokens (Haswell, 4 texts: 405 -> 171 s, Intel Xeon
host); the CPUs are emulated side by side, where a second thread per process only contends.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: handler.model

from handler.model import Encoder, cpu_description  # noqa: E402

ROWS = 1
THREADS = 1


def main(model_dir: str, texts_file: str, out: str, *variants: str) -> None:
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    served = Encoder.from_export(model_dir, verify="size", threads=THREADS, batch_size=ROWS)
    report = {"machine": platform.machine(), "cpu": cpu_description(), "served": served.variant, "fallback": served.fallback,
              "known_vector_cosine": served.known_vector_cosine, "start_s": round(time.perf_counter() - started, 1), "embed_s": {}}
    arrays = {}
    for variant in variants:
        began = time.perf_counter()
        encoder = served if variant == served.variant else Encoder(Path(model_dir) / json.loads((Path(model_dir) / "manifest.json").read_text())["variants"][variant]["file"],
                                                                       Path(model_dir) / "tokenizer.json", variant=variant, threads=THREADS, batch_size=ROWS)
        arrays[variant] = encoder.embed(texts)
        report["embed_s"][variant] = round(time.perf_counter() - began, 1)
    report["total_s"] = round(time.perf_counter() - started, 1)
    report["finished_at"] = time.time()  # the launcher's wall time ends here, not when a test reads the report
    np.savez(out, **arrays)
    Path(out).with_suffix(".json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
