"""BM25 sparse vectors for hybrid search: Qdrant's own BM25 (from qdrant-edge-py), so the
vectors are the same whichever backend stores them, and no inference service is needed.

Documents get term-frequency weights (k=1.2, b=0.75); a query gets weight 1 per distinct term;
the collection's IDF modifier supplies the rest at search time. English tokenization, stopwords
and stemming.
"""

from __future__ import annotations

from handler.storage import StorageError


class Bm25Encoder:
    def __init__(self, language: str = "english") -> None:
        try:
            import qdrant_edge
        except ImportError as exc:
            raise StorageError(f"hybrid search needs qdrant-edge-py for its BM25 vectors ({exc}): pip install qdrant-edge-py") from exc
        self._model = qdrant_edge.Bm25(qdrant_edge.Bm25Config(language=language))

    def document(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._model.embed_document(text)
        return list(vector.indices), list(vector.values)

    def query(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._model.embed_query(text)
        return list(vector.indices), list(vector.values)
