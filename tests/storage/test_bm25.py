"""Our BM25 encoder (`handler.storage.bm25`) gives Qdrant's own BM25 numbers: every query and document
vector of the parity probes and the sample (fast tier) and of the 40k bench corpus (the full suite:
it takes a quarter of a minute), against Qdrant Edge's Bm25."""

from __future__ import annotations

import numpy as np
import pytest

from export.parity import BUILTIN_PROBES
from handler.storage import Bm25Encoder, read_records, record_text
from tests.support.helpers import BENCH_FILE, SAMPLE_FILE

qdrant_edge = pytest.importorskip("qdrant_edge")


PROBES = list(BUILTIN_PROBES) + ["You're here; it's the cat's toy!", "don't_stop snake_case_words", "naïve café ÉCOLE", "1234 v2.0 x86_64"]


def texts_of(path) -> list[str]:
    records, _ = read_records(path)
    return [record_text(r.data) for r in records]


def test_the_same_vectors_as_qdrants_bm25_on_the_probes_and_the_sample():
    assert_same_as_qdrant(PROBES + texts_of(SAMPLE_FILE))


@pytest.mark.slow
def test_the_same_vectors_as_qdrants_bm25_on_the_bench_corpus():
    texts = texts_of(BENCH_FILE)
    assert len(texts) > 40_000
    assert_same_as_qdrant(texts)


def assert_same_as_qdrant(texts: list[str]) -> None:
    ours, theirs = Bm25Encoder(), qdrant_edge.Bm25(qdrant_edge.Bm25Config(language="english"))
    for text in texts:
        reference = theirs.embed_query(text)
        query = ours.query(text)
        assert (list(query.indices), list(query.values)) == (sorted(reference.indices), [1.0] * len(reference.indices)), text[:80]
        reference = theirs.embed_document(text)
        order = np.argsort(reference.indices)
        document = ours.document(text)
        assert list(document.indices) == [reference.indices[i] for i in order], text[:80]
        assert np.allclose(document.values, [reference.values[i] for i in order], rtol=1e-6), text[:80]


def test_the_bm25_memo_is_bounded(monkeypatch):
    import handler.storage.bm25 as bm25

    monkeypatch.setattr(bm25, "MEMO", 50)
    encoder = bm25.Bm25Encoder()
    reference = bm25.Bm25Encoder().query("word17 word333")
    for i in range(500):
        encoder.query(f"word{i}")
    assert len(encoder._ids) <= 50
    assert encoder.query("word17 word333") == reference  # the memo never changes an answer
