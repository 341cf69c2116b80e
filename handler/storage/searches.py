"""Every search the service makes, composed once on the primitives each backend implements
(`handler.storage.base`): the same way, and so with the same answers, on both engines.

One order on every engine: hits are ranked by score, then by point id. An engine's own cut
(the top n it returns) may split a run of equal scores anywhere, and engines split it
differently, so every list is asked for past its cut until the first score left out differs,
then sorted and cut here. Hybrid fuses its two lists here too (reciprocal rank fusion), for the
same reason: a server-side prefetch cuts each list where the engine likes.

Hybrid and text searches put the records titled as the query first (the title's key:
`handler.common.title_key`), then the few whose titles are near it (begun by it, or a slip or two
away: found by their title trigrams, `Bm25Encoder.title_grams`), each found by one more query in
the same round trip.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from handler.common import Bm25Unavailable, PointNotFound, StorageError, fold, slips, title_key
from handler.storage.bm25 import Bm25Encoder, query_words
from handler.storage.contract import (
    FUSION,
    NEAR_CANDIDATES,
    NEAR_FROM,
    NEAR_TITLES,
    NO_FILTERS,
    TITLE_MATCHES,
    TITLE_SCORE,
    Filters,
    Fusion,
    Hit,
    Hits,
    Nearest,
    SparseVector,
)


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


def fuse(lists: Sequence[Sequence[Hit]], limit: int, fusion: Fusion = FUSION) -> list[Hit]:
    """The lists (dense, then BM25) fused, best first: by reciprocal rank as Qdrant computes it
    (each list adds weight / (k + rank), rank from 0), or by distribution-based score fusion (each
    list's scores mapped to 0..1 between its mean -/+ 3 standard deviations, weighed and added);
    the BM25 list weighs `fusion.words`, the dense one 1."""
    scores: dict[str, float] = {}
    for weight, hits in zip((1.0, fusion.words), lists):
        if fusion.method == "dbsf":
            values = np.array([hit.score for hit in hits], dtype=np.float64)
            low, high = (values.mean() - 3 * values.std(), values.mean() + 3 * values.std()) if len(values) else (0.0, 0.0)
            for hit in hits:
                share = 0.5 if high == low else min(max((hit.score - low) / (high - low), 0.0), 1.0)
                scores[hit.id] = scores.get(hit.id, 0.0) + weight * share
        else:
            for rank, hit in enumerate(hits):
                scores[hit.id] = scores.get(hit.id, 0.0) + weight / (fusion.k + rank)
    order = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(point_id, score) for point_id, score in order]


def allowed_slips(key: str) -> int:
    """How many slips of the fingers a title's key may be from the query's and still be near it."""
    return 0 if len(key) < 5 else 1 if len(key) < 9 else 2



COSINE_SLACK = 1e-3  # float32 rounding of unit vectors; a damaged vector page scores far outside (3.9e28 was seen)


def cosines(hits: list) -> list:
    """A dense list as it came, unless a score is no cosine ([-1, 1]): then the stored vectors are
    damaged, and nothing of it is served (BM25 scores have no such bound and are not checked)."""
    for hit in hits:
        if not -1 - COSINE_SLACK <= hit.score <= 1 + COSINE_SLACK:  # NaN fails too
            raise StorageError(f"point {hit.id} scored {hit.score:.3g}, which no cosine can: its stored vector is damaged; upload the collection again")
    return hits

class Searches:
    """The searches of `Storage` (its subclass), on its primitives: _query, _payloads, _vector,
    _text_ids, _facet, _sparse_present, _require_sparse. Each takes `filters` (`Filters`: keyword
    values and numeric ranges, combined with AND)."""

    # -- searches ----------------------------------------------------------------------------------
    # Each takes `limit` and `offset`: the best offset + limit hits, cut after sorting by (score, id),
    # then the page from `offset` on; so a page is the same slice of a longer `limit`.
    def _ranked(self, query: Nearest) -> list[Hit]:
        return ranked(lambda n: self._query([replace(query, limit=n)])[0], query.limit)

    def _ranked_all(self, queries: Sequence[Nearest], also: Sequence[Nearest] = ()) -> tuple[list[list[Hit]], list[list[Hit]]]:
        """Each query's best hits in one order (see `ranked`), all in one round trip unless a run of
        equal scores crosses a query's cut; with them, the hits of the `also` queries as found."""
        answers = self._query([replace(query, limit=query.limit + 1) for query in queries] + list(also))
        found = answers[len(queries):]
        lists = []
        for query, hits in zip(queries, answers):
            if len(hits) == query.limit + 1 and hits[-1].score == hits[query.limit - 1].score:  # a tie at the cut: ask again, past it
                hits = self._ranked(query)
            lists.append(sorted(hits, key=lambda hit: (-hit.score, hit.id))[:query.limit])
        return lists, found

    # -- titles: the records titled as the query, then those near it -------------------------------
    def _title_lookups(self, text: str, filters: Filters) -> list[Nearest]:
        """The queries for the records titled as `text` and for those whose title trigrams it shares
        (within the filters); none when its key is empty, no near one when it is short or the
        collection has no sparse vectors."""
        key = title_key(text)
        if not key:
            return []
        lookups = [Nearest(None, TITLE_MATCHES, filters, title=key)]
        if len(key) >= NEAR_FROM and self._sparse_present():
            try:
                lookups.append(Nearest(self._grams().title_grams(key, typed=True), NEAR_CANDIDATES, filters))
            except Bm25Unavailable:
                pass
        return lookups

    def _grams(self) -> Bm25Encoder:
        if self._gram_encoder is None:
            self._gram_encoder = Bm25Encoder()
        return self._gram_encoder

    def _titled(self, text: str, found: Sequence[Sequence[Hit]], scored: bool = True) -> list[Hit]:
        """The records of the title lookups: those titled as the query (first those whose title is
        the query's but for case and spaces, `fold`), then up to NEAR_TITLES near it (begun by it,
        then a slip away, then two; the more trigrams shared, the sooner); each scored above every
        fused score (`scored`), else None (text mode: found by title, not ranked by BM25)."""
        if not found:
            return []
        typed, key = fold(text), title_key(text)
        title = self.schema.title
        exact = sorted(found[0], key=lambda hit: (fold(str(hit.payload.get(title, ""))) != typed, hit.id))
        near = []
        for hit in found[1] if len(found) > 1 else []:
            other = title_key(str(hit.payload.get(title, "")))
            if other == key:
                continue
            allowed = allowed_slips(key)
            slipped = 0 if other.startswith(key) else slips(key, other, allowed)
            if slipped <= allowed:
                near.append((slipped, -hit.score, hit.id, hit))
        seen = {hit.id for hit in exact}
        chosen = exact + [hit for *_, hit in sorted(near, key=lambda item: item[:3]) if hit.id not in seen][:NEAR_TITLES]
        return [replace(hit, score=TITLE_SCORE + 1.0 / (1 + place) if scored else None) for place, hit in enumerate(chosen)]

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
        hits = cosines(self._ranked(query))
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def hybrid_search(self, vector: np.ndarray, sparse: SparseVector, limit: int, filters: Filters = NO_FILTERS, *, offset: int = 0,
                      text: str = "") -> Hits:
        """The records titled as `text` (the query as typed) or near it first; then the best
        `fusion.depth` dense and BM25 candidates (each within the filters), fused (`fuse`); past
        them, the rest of the dense list in its order, each scored below every fused score (rank
        fusion: as its rank would be in the lighter list, min(1, words) / (k + rank)), so that any
        page has one place in one ranking."""
        self._require_sparse()
        n, depth = offset + limit, self.fusion.depth
        queries = [Nearest(np.asarray(vector, dtype=np.float32), depth if n <= depth else n + depth, filters, with_payload=False)]
        if sparse.indices:  # a query without a word BM25 knows has no BM25 list
            queries.append(Nearest(sparse, depth, filters, with_payload=False))
        lists, found = self._ranked_all(queries, self._title_lookups(text, filters))
        dense, words = cosines(lists[0]), lists[1] if len(lists) > 1 else []
        titled = self._titled(text, found)
        ranking, seen = list(titled), {hit.id for hit in titled}
        fused = [hit for hit in fuse([dense[:depth], words], n + len(seen), self.fusion) if hit.id not in seen]
        ranking += fused
        if len(ranking) < n:
            seen = {hit.id for hit in ranking}
            floor = min((hit.score for hit in fused), default=0.0)  # dbsf: below the lowest fused score
            rest = [(rank, hit) for rank, hit in enumerate(dense) if rank >= depth and hit.id not in seen][:n - len(ranking)]
            lightest = min(1.0, self.fusion.words)  # a fused score is at least lightest / (k + depth - 1)
            ranking += [Hit(hit.id, lightest / (self.fusion.k + rank) if self.fusion.method == "rrf" else floor - (1 + rank - depth) * 1e-6)
                        for rank, hit in rest]
        return Hits(self._page(ranking[:n], offset, False), nearest=dense[0].score if dense else None, words=bool(words), titled=bool(titled),
                    dense=dense)

    def with_payloads(self, hits: Sequence[Hit]) -> list[Hit]:
        """These hits with their payloads (read in one call)."""
        return self._page(hits, 0, False)

    def similar(self, point_id: str, limit: int, filters: Filters = NO_FILTERS, *, offset: int = 0) -> Hits:
        """The points nearest to a stored one, itself excluded."""
        vector = self._vector(point_id)
        if vector is None:
            raise PointNotFound(f"no point with id {point_id}")
        hits = cosines(self._ranked(Nearest(vector, offset + limit, filters, exclude=point_id, with_payload=not offset)))
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def text_search(self, text: str, limit: int, filters: Filters = NO_FILTERS, *, sparse: SparseVector | None = None, offset: int = 0) -> Hits:
        """The records titled as the query first; then any of the words, best first: the records
        holding every word (each in one of the text fields, Qdrant's full-text match) ranked by BM25,
        then those holding only some, ranked by BM25. `sparse` is the query's BM25 vector (computed
        here when not given). A query of stopwords alone, which BM25 cannot rank, gets the full-text
        match of all its words, by point id."""
        sparse = sparse if sparse is not None else Bm25Encoder().query(text)
        n = offset + limit
        lookups = self._title_lookups(text, filters)
        if not sparse.indices or not self._sparse_present():  # (a collection uploaded before hybrid search has no BM25 either)
            words = query_words(text, stopwords=True)
            titled = self._titled(text, self._query(lookups) if lookups else [], scored=False)
            seen = {hit.id for hit in titled}
            hits = titled + [hit for hit in (self._text_ids(words, filters, n + len(seen)) if words else []) if hit.id not in seen]
            return Hits(self._page(hits[:n], offset, True), words=bool(hits), all_words=bool(hits), titled=bool(titled))
        words = query_words(text)
        extra = TITLE_MATCHES + NEAR_TITLES if lookups else 0  # the titled ones leave the tiers: ask for as many more
        tiers, found = self._ranked_all([Nearest(sparse, n + extra, filters, words=words, holding=holding, with_payload=not offset)
                                         for holding in (True, False)], lookups)
        titled = self._titled(text, found, scored=False)
        seen = {hit.id for hit in titled}
        hits = (titled + [hit for hit in tiers[0] + tiers[1] if hit.id not in seen])[:n]
        return Hits(self._page(hits, offset, not offset), words=bool(hits), all_words=bool(tiers[0]), titled=bool(titled))

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
