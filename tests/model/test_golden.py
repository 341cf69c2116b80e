"""Golden vectors: the exported fp32 graph, run by onnxruntime without torch, reproduces numbers
recorded once from sentence-transformers (`golden/record.py` beside this file). A drift in the export, the
tokenizer settings or the pooling shows up here even where sentence-transformers is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handler.model import Encoder

GOLDEN = json.loads((Path(__file__).resolve().parent / "golden" / "minilm_l6_v2.json").read_text())


def test_fp32_reproduces_the_recorded_vectors(model_dir):
    encoder = Encoder.from_export(model_dir, "fp32")
    texts = [v["text"] for v in GOLDEN["vectors"]]
    vectors = encoder.embed(texts)
    assert vectors.shape == (len(texts), GOLDEN["dim"])
    for text, row, golden in zip(texts, vectors, GOLDEN["vectors"]):
        first = np.asarray(golden["first"], dtype=np.float32)
        assert np.abs(row[: len(first)] - first).max() <= 1e-5, text


def test_the_serving_variant_stays_close_to_them(model_dir):
    encoder = Encoder.from_export(model_dir)  # the CPU default (int8 or int8_unsigned)
    for golden in GOLDEN["vectors"]:
        first = np.asarray(golden["first"], dtype=np.float32)
        assert np.abs(encoder.embed_one(golden["text"])[: len(first)] - first).max() <= 0.02, golden["text"]
