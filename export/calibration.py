"""Activation ranges for the int8 grids, measured on text no gate looks at.

The texts are bench-corpus lines with even numbers before the held-out block (HELD_OUT in
export/parity.py takes odd ones from line 30001), falling back to the built-in probes when the
corpus is absent (the manifest says which). One text per run, one thread: the same texts give the
same ranges, so the export stays deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COUNT = 256  # texts; more changed the gate's figures by less than their noise
# Degenerate text beside the catalogue lines (#29): repeated punctuation, one word many times, emoji
# runs, one character, whitespace. Without them the fixed grids clip what such text drives past the
# lines' ranges ("?!" * 150 at a cosine of 0.907, "word " * 1000 at 0.949); with them 0.995 and
# 0.977, real text unchanged (docs/pipeline.md#degenerate-text; the attention output's row scale
# took "word " * 1000 to 0.998). Written unlike the gate's
# DEGENERATE_PROBES (export/parity.py), so the gate measures text calibration never saw.
DEGENERATE = [
    "!?" * 140,
    "hello " * 700,
    "😀🎉🔥" * 25,
    "z",
    "  \n\t lots \t\t of \n\n whitespace   here \t  ",
    "-" * 120,
    "b " * 60,
    "0123456789" * 12,
    "," * 80,
    "lol" * 90,
]


def texts(bench_file: Path | None, below_line: int) -> tuple[list[str], str]:
    from export.parity import BUILTIN_PROBES
    from handler.storage import DEFAULT_TEXT_TEMPLATE, read_records, record_text

    if bench_file is not None and Path(bench_file).is_file():
        records, _ = read_records(bench_file)
        picked = [r for r in records if r.line < below_line and r.line % 2 == 0][:COUNT]
        return ([record_text(r.data, DEFAULT_TEXT_TEMPLATE) for r in picked] + DEGENERATE,
                f"{len(picked)} even lines of {Path(bench_file).name} before line {below_line} + {len(DEGENERATE)} degenerate texts")
    return list(BUILTIN_PROBES), f"the {len(BUILTIN_PROBES)} built-in probes ({bench_file} not found)"


def activation_ranges(model, tokenizer_file: Path, calibration: list[str], names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel (min, max) of each named activation of `model` (a ModelProto) over the texts."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = onnx.ModelProto.FromString(model.SerializeToString())
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names if n not in known)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for encoding in tokenizer.encode_batch(calibration):
        ids = np.asarray([encoding.ids], dtype=np.int64)
        for name, value in zip(names, session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})):
            value = value.reshape(-1, value.shape[-1])
            lo, hi = value.min(axis=0), value.max(axis=0)
            ranges[name] = (np.minimum(ranges[name][0], lo), np.maximum(ranges[name][1], hi)) if name in ranges else (lo, hi)
    return ranges


def matmul_inputs(model) -> list[str]:
    """The activations weight MatMuls multiply: what calibration measures."""
    inits = {i.name for i in model.graph.initializer}
    return sorted({n.input[0] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits})
