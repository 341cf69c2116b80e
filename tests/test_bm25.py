"""Our BM25 encoder (handler/bm25.py) gives Qdrant's own BM25 numbers: every query and document
vector of the sample, the 40k bench corpus and the parity probes, against Qdrant Edge's Bm25."""

from __future__ import annotations

import numpy as np
import pytest

from export.parity import BUILTIN_PROBES
from handler.bm25 import Bm25Encoder
from handler.record import record_text
from scripts.records import read_records
from tests.helpers import BENCH_FILE, SAMPLE_FILE

qdrant_edge = pytest.importorskip("qdrant_edge")


def corpus() -> list[str]:
    texts = list(BUILTIN_PROBES) + ["You're here; it's the cat's toy!", "don't_stop snake_case_words", "naïve café ÉCOLE", "1234 v2.0 x86_64"]
    for path in (SAMPLE_FILE, BENCH_FILE):
        records, _ = read_records(path)
        texts += [record_text(r.data) for r in records]
    return texts


def test_the_same_vectors_as_qdrants_bm25():
    ours, theirs = Bm25Encoder(), qdrant_edge.Bm25(qdrant_edge.Bm25Config(language="english"))
    texts = corpus()
    assert len(texts) > 40_000
    for text in texts:
        reference = theirs.embed_query(text)
        query = ours.query(text)
        assert (list(query.indices), list(query.values)) == (sorted(reference.indices), [1.0] * len(reference.indices)), text[:80]
        reference = theirs.embed_document(text)
        order = np.argsort(reference.indices)
        document = ours.document(text)
        assert list(document.indices) == [reference.indices[i] for i in order], text[:80]
        assert np.allclose(document.values, [reference.values[i] for i in order], rtol=1e-6), text[:80]
