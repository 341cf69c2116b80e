"""Every search the service makes, composed once on the primitives each backend implements
(`handler.storage.base`): the same way, and so with the same answers, on both engines.

One order on every engine: hits are ranked by score, then by point id. An engine's own cut
(the top n it returns) may split a run of equal scores anywhere, and engines split it
differently, so every list is asked for past its cut until the first score left out differs,
then sorted and cut here. Hybrid fuses its two lists here too (reciprocal rank fusion), for the
same reason: a server-side prefetch cuts each list where the engine likes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from handler.common import PointNotFound
from handler.storage.bm25 import Bm25Encoder, query_words
from handler.storage.contract import HYBRID_DEPTH, NO_FILTERS, RRF_K, Filters, Hit, Hits, Nearest, SparseVector


def ranked(fetch: Callable[[int], list[Hit]], limit: int) -> list[Hit]:
    """The best `limit` hits in one order on every engine: `fetch(n)` returns an engine's top n
    by score; n grows until the first hit past the cut scores lower than the last one kept."""
    asked = limit + 1
    while True:
        hits = fetch(asked)
        if len(hits) < asked or hits[-1].score != hits[limit - 1].score:
            break
        asked *= 2
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))[:limit]


def fuse(lists: Sequence[Sequence[Hit]], limit: int, k: int = RRF_K) -> list[Hit]:
    """Reciprocal rank fusion as Qdrant computes it: each list adds 1 / (k + rank), rank from 0."""
    scores: dict[str, float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (k + rank)
    order = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(point_id, score) for point_id, score in order]


class Searches:
    """The searches of `Storage` (its subclass), on its primitives: _query, _payloads, _vector,
    _text_ids, _facet, _sparse_present, _require_sparse. Each takes `filters` (`Filters`: keyword
    values and numeric ranges, combined with AND)."""

    # -- searches ----------------------------------------------------------------------------------
    # Each takes `limit` and `offset`: the best offset + limit hits, cut after sorting by (score, id),
    # then the page from `offset` on; so a page is the same slice of a longer `limit`.
    def _ranked(self, query: Nearest) -> list[Hit]:
        return ranked(lambda n: self._query([replace(query, limit=n)])[0], query.limit)

    def _ranked_all(self, queries: Sequence[Nearest]) -> list[list[Hit]]:
        """Each query's best hits in one order (see `ranked`), all in one round trip unless a run of
        equal scores crosses a query's cut."""
        lists = []
        for query, hits in zip(queries, self._query([replace(query, limit=query.limit + 1) for query in queries])):
            if len(hits) == query.limit + 1 and hits[-1].score == hits[query.limit - 1].score:  # a tie at the cut: ask again, past it
                hits = self._ranked(query)
            lists.append(sorted(hits, key=lambda hit: (-hit.score, hit.id))[:query.limit])
        return lists

    def _page(self, hits: Sequence[Hit], offset: int, fetched: bool) -> list[Hit]:
        """hits[offset:], with their payloads (read now unless the query `fetched` them)."""
        page = list(hits[offset:])
        if fetched:
            return page
        payloads = self._payloads([hit.id for hit in page])
        return [replace(hit, payload=payloads.get(hit.id, {})) for hit in page]

    def search(self, vector: np.ndarray, limit: int, filters: Filters = NO_FILTERS, *, offset: int = 0, hnsw_ef: int | None = None,
               exact: bool = False) -> Hits:
        """Nearest neighbours by cosine; hnsw_ef / exact tune the search (scripts.quality measures them)."""
        query = Nearest(np.asarray(vector, dtype=np.float32), offset + limit, filters, with_payload=not offset, hnsw_ef=hnsw_ef, exact=exact)
        hits = self._ranked(query)
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def hybrid_search(self, vector: np.ndarray, sparse: SparseVector, limit: int, filters: Filters = NO_FILTERS, *, offset: int = 0) -> Hits:
        """The best HYBRID_DEPTH dense and BM25 candidates (each within the filters), fused by
        reciprocal rank; past them, the rest of the dense list in its order, each scored as its rank
        would be (1 / (k + rank): below every fused score), so that any page has one place in one ranking."""
        self._require_sparse()
        n = offset + limit
        queries = [Nearest(np.asarray(vector, dtype=np.float32), HYBRID_DEPTH if n <= HYBRID_DEPTH else n + HYBRID_DEPTH, filters, with_payload=False)]
        if sparse.indices:  # a query without a word BM25 knows has no BM25 list
            queries.append(Nearest(sparse, HYBRID_DEPTH, filters, with_payload=False))
        lists = self._ranked_all(queries)
        dense, words = lists[0], lists[1] if len(lists) > 1 else []
        fused = fuse([dense[:HYBRID_DEPTH], words], n)
        if len(fused) < n:
            seen = {hit.id for hit in fused}
            fused += [Hit(hit.id, 1.0 / (RRF_K + rank)) for rank, hit in enumerate(dense) if rank >= HYBRID_DEPTH and hit.id not in seen][:n - len(fused)]
        return Hits(self._page(fused, offset, False), nearest=dense[0].score if dense else None, words=bool(words))

    def similar(self, point_id: str, limit: int, filters: Filters = NO_FILTERS, *, offset: int = 0) -> Hits:
        """The points nearest to a stored one, itself excluded."""
        vector = self._vector(point_id)
        if vector is None:
            raise PointNotFound(f"no point with id {point_id}")
        hits = self._ranked(Nearest(vector, offset + limit, filters, exclude=point_id, with_payload=not offset))
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def text_search(self, text: str, limit: int, filters: Filters = NO_FILTERS, *, sparse: SparseVector | None = None, offset: int = 0) -> Hits:
        """Any of the words, best first: the records holding every word (each in one of the text fields,
        Qdrant's full-text match) ranked by BM25, then those holding only some, ranked by BM25.
        `sparse` is the query's BM25 vector (computed here when not given). A query of stopwords
        alone, which BM25 cannot rank, gets the full-text match of all its words, by point id."""
        sparse = sparse if sparse is not None else Bm25Encoder().query(text)
        n = offset + limit
        if not sparse.indices or not self._sparse_present():  # (a collection uploaded before hybrid search has no BM25 either)
            words = query_words(text, stopwords=True)
            hits = self._text_ids(words, filters, n) if words else []
            return Hits(self._page(hits, offset, True), words=bool(hits), all_words=bool(hits))
        words = query_words(text)
        tiers = self._ranked_all([Nearest(sparse, n, filters, words=words, holding=holding, with_payload=not offset) for holding in (True, False)])
        found = (tiers[0] + tiers[1])[:n]
        return Hits(self._page(found, offset, not offset), words=bool(found), all_words=bool(tiers[0]))

    def words_found(self, sparse: SparseVector, filters: Filters = NO_FILTERS) -> bool | None:
        """Whether any of the query's BM25 tokens occurs in the collection (within the filters); None when
        the collection has no BM25 vectors to tell."""
        if not self._sparse_present():
            return None
        return bool(sparse.indices) and bool(self._query([Nearest(sparse, 1, filters, with_payload=False)])[0])

    def facet(self, field: str, limit: int) -> list[tuple[str, int]]:
        """Each value of a keyword field, as stored, with its number of points, biggest first, then
        by value (at the cut too: a tie of counts there is asked past, as for scores). An empty
        value counts as missing."""
        def values(n: int) -> list[Hit]:  # one more than asked: a blank value left out must not end the list early
            return [Hit(value, float(count)) for value, count in self._facet(field, n + 1) if value.strip()][:n]

        return [(hit.id, int(hit.score)) for hit in ranked(values, limit)]

    def cities(self, limit: int) -> list[tuple[str, int]]:
        """The startups schema's city facet (`facet("city", limit)`)."""
        return self.facet("city", limit)
