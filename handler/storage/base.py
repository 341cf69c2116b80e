"""The storage base class: every search the service makes, built once on a few primitives that
each backend implements (handler/storage/edge.py, handler/storage/server.py).

One order on every engine: hits are ranked by score, then by point id. An engine's own cut
(the top n it returns) may split a run of equal scores anywhere, and engines split it
differently, so every list is asked for past its cut until the first score left out differs,
then sorted and cut here. Hybrid fuses its two lists here too (reciprocal rank fusion), for the
same reason: a server-side prefetch cuts each list where the engine likes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Callable, Iterator, Sequence

import numpy as np

from handler.storage.contract import (
    DISTANCE,
    HYBRID_DEPTH,
    LAYOUT_MARK,
    RRF_K,
    SPARSE,
    CollectionInfo,
    CollectionMismatch,
    CollectionMissing,
    CollectionOutdated,
    Hit,
    Hits,
    Layout,
    Nearest,
    PointData,
    PointNotFound,
    SparseMissing,
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


def fuse(lists: Sequence[Sequence[Hit]], limit: int, k: int = RRF_K) -> list[Hit]:
    """Reciprocal rank fusion as Qdrant computes it: each list adds 1 / (k + rank), rank from 0."""
    scores: dict[str, float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (k + rank)
    order = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(point_id, score) for point_id, score in order]


class Storage(ABC):
    """A collection in Qdrant. Subclasses implement the primitives (abstract below); everything
    the service asks for is composed here, the same way for both."""

    backend: str  # "qdrant-edge" | "qdrant-server"
    collection: str
    where: str  # for messages: which QDRANT_URL / QDRANT_PATH (never credentials)

    def __init__(self) -> None:
        self._has_sparse = False  # seen once, it stays: only an upload --recreate removes it

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect / open the shard now, so a problem is said at start (no-op where lazy is free)."""

    @abstractmethod
    def close(self) -> None: ...

    def reconnect(self) -> None:
        """Fresh network connections (after a SnapStart restore: pooled sockets are dead)."""

    def before_snapshot(self) -> None:
        """Nothing open to the network may be in a SnapStart snapshot."""

    def after_restore(self) -> None:
        self.reconnect()

    # -- primitives --------------------------------------------------------------------------------
    @abstractmethod
    def _info(self) -> CollectionInfo | None: ...

    @abstractmethod
    def _create(self, dim: int, layout: Layout) -> None:
        """A new collection: dense DISTANCE vectors of `dim`, the SPARSE vector with IDF, the
        PAYLOAD_INDEXES (first, as Qdrant advises for bulk uploads)."""

    @abstractmethod
    def _drop(self) -> None: ...

    @abstractmethod
    def _query(self, queries: Sequence[Nearest]) -> list[list[Hit]]:
        """Each query's hits, best first (one round trip where the backend can)."""

    @abstractmethod
    def _payloads(self, ids: Sequence[str]) -> dict[str, dict]: ...

    @abstractmethod
    def _vector(self, point_id: str) -> np.ndarray | None: ...

    @abstractmethod
    def _text_ids(self, words: Sequence[str], city: str | None, limit: int) -> list[Hit]:
        """Points holding every one of `words` (each in one of TEXT_FIELDS), by id, at most `limit`, with payloads."""

    @abstractmethod
    def _full_text_fields(self) -> set[str]:
        """The payload fields that have a full-text index."""

    @abstractmethod
    def upsert(self, points: Sequence[PointData]) -> None: ...

    @abstractmethod
    def finish_upload(self) -> None:
        """After the last upsert: the HNSW index built (restored to HNSW_M when it was deferred)."""

    @abstractmethod
    def count(self, ids: Sequence[str] | None = None) -> int: ...

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Remove these points (an absent id is no error). They leave BM25's IDF at the next
        finish_upload(), where the backend can (see each backend)."""

    @abstractmethod
    def _scroll(self, offset: str | None, limit: int) -> tuple[list[PointData], str | None]:
        """Up to `limit` points from `offset` on, in id order, with payload, dense and BM25
        vectors, and the id the next page starts at (None after the last page)."""

    @abstractmethod
    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]: ...

    # -- the collection ----------------------------------------------------------------------------
    def collection_info(self) -> CollectionInfo | None:
        info = self._info()
        if info is not None and SPARSE in info.sparse:
            self._has_sparse = True
        return info

    def require_match(self, info: CollectionInfo, dim: int) -> None:
        """CollectionMismatch unless the collection holds `dim`-dim DISTANCE vectors."""
        if info.dim != dim or info.distance != DISTANCE:
            raise CollectionMismatch(
                f"collection '{self.collection}' at {self.where} holds {info.dim}-dim {info.distance} vectors, "
                f"but the model makes {dim}-dim {DISTANCE} vectors; use another COLLECTION_NAME or delete the collection "
                "(it is never recreated automatically)"
            )

    def missing_message(self) -> str:
        return (
            f"collection '{self.collection}' does not exist at {self.where}; load it with "
            "`python -m scripts.embed ...` then `python -m scripts.upload ...` (see README)"
        )

    def sparse_missing_message(self) -> str:
        return (
            f"collection '{self.collection}' at {self.where} has no '{SPARSE}' sparse vectors (it was uploaded before hybrid "
            "search existed); upload it again with `python -m scripts.upload --input FILE --vectors DIR --recreate`"
        )

    def check_layout(self) -> None:
        """CollectionOutdated when the collection was uploaded before names were indexed."""
        if LAYOUT_MARK not in self._full_text_fields():
            raise CollectionOutdated(
                f"collection '{self.collection}' at {self.where} was uploaded before names were indexed (no full-text index on "
                f"'{LAYOUT_MARK}'); upload it again with `python -m scripts.upload --input FILE --vectors DIR --recreate`"
            )

    def check_collection(self, dim: int) -> int:
        """The point count; CollectionMissing / CollectionMismatch when the collection is not usable."""
        info = self.collection_info()
        if info is None:
            raise CollectionMissing(self.missing_message())
        self.require_match(info, dim)
        return self.count()

    def points(self, page: int = 1000) -> Iterator[PointData]:
        """Every point of the collection as stored (payload, dense and BM25 vectors), page by page
        in id order: what `scripts.upload --sync` compares its input with."""
        offset = None
        while True:
            found, offset = self._scroll(offset, page)
            yield from found
            if offset is None:
                return

    def ensure_collection(self, dim: int, recreate: bool = False, layout: Layout = Layout()) -> bool:
        """Create the collection when absent (True if created). An existing one of another schema is
        an error, dropped and created anew only with `recreate`."""
        info = self.collection_info()
        if info is not None and not recreate:
            self.require_match(info, dim)
            if SPARSE not in info.sparse:
                raise SparseMissing(self.sparse_missing_message())
            self.check_layout()
            return False
        if info is not None:
            self._drop()
        self._has_sparse = False
        self._create(dim, layout)
        self._has_sparse = True
        return True

    def _sparse_present(self) -> bool:
        """Whether the collection has the SPARSE vectors (CollectionMissing when there is no collection)."""
        if not self._has_sparse:
            if self.collection_info() is None:
                raise CollectionMissing(self.missing_message())
        return self._has_sparse

    def _require_sparse(self) -> None:
        if not self._sparse_present():
            raise SparseMissing(self.sparse_missing_message())

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

    def search(self, vector: np.ndarray, limit: int, city: str | None = None, *, offset: int = 0, hnsw_ef: int | None = None,
               exact: bool = False) -> Hits:
        """Nearest neighbours by cosine; hnsw_ef / exact tune the search (scripts.quality measures them)."""
        query = Nearest(np.asarray(vector, dtype=np.float32), offset + limit, city, with_payload=not offset, hnsw_ef=hnsw_ef, exact=exact)
        hits = self._ranked(query)
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def hybrid_search(self, vector: np.ndarray, sparse: SparseVector, limit: int, city: str | None = None, *, offset: int = 0) -> Hits:
        """The best HYBRID_DEPTH dense and BM25 candidates (each filtered by city), fused by
        reciprocal rank; past them, the rest of the dense list in its order, each scored as its rank
        would be (1 / (k + rank): below every fused score), so that any page has one place in one ranking."""
        self._require_sparse()
        n = offset + limit
        queries = [Nearest(np.asarray(vector, dtype=np.float32), HYBRID_DEPTH if n <= HYBRID_DEPTH else n + HYBRID_DEPTH, city, with_payload=False)]
        if sparse.indices:  # a query without a word BM25 knows has no BM25 list
            queries.append(Nearest(sparse, HYBRID_DEPTH, city, with_payload=False))
        lists = self._ranked_all(queries)
        dense, words = lists[0], lists[1] if len(lists) > 1 else []
        fused = fuse([dense[:HYBRID_DEPTH], words], n)
        if len(fused) < n:
            seen = {hit.id for hit in fused}
            fused += [Hit(hit.id, 1.0 / (RRF_K + rank)) for rank, hit in enumerate(dense) if rank >= HYBRID_DEPTH and hit.id not in seen][:n - len(fused)]
        return Hits(self._page(fused, offset, False), nearest=dense[0].score if dense else None, words=bool(words))

    def similar(self, point_id: str, limit: int, city: str | None = None, *, offset: int = 0) -> Hits:
        """The points nearest to a stored one, itself excluded."""
        vector = self._vector(point_id)
        if vector is None:
            raise PointNotFound(f"no point with id {point_id}")
        hits = self._ranked(Nearest(vector, offset + limit, city, exclude=point_id, with_payload=not offset))
        return Hits(self._page(hits, offset, not offset), nearest=hits[0].score if hits else None)

    def text_search(self, text: str, limit: int, city: str | None = None, *, sparse: SparseVector | None = None, offset: int = 0) -> Hits:
        """Any of the words, best first: the records holding every word (each in one of TEXT_FIELDS,
        Qdrant's full-text match) ranked by BM25, then those holding only some, ranked by BM25.
        `sparse` is the query's BM25 vector (computed here when not given). A query of stopwords
        alone, which BM25 cannot rank, gets the full-text match of all its words, by point id."""
        from handler.bm25 import Bm25Encoder, query_words  # here: handler.bm25 imports this package

        sparse = sparse if sparse is not None else Bm25Encoder().query(text)
        n = offset + limit
        if not sparse.indices or not self._sparse_present():  # (a collection uploaded before hybrid search has no BM25 either)
            words = query_words(text, stopwords=True)
            hits = self._text_ids(words, city, n) if words else []
            return Hits(self._page(hits, offset, True), words=bool(hits), all_words=bool(hits))
        words = query_words(text)
        tiers = self._ranked_all([Nearest(sparse, n, city, words=words, holding=holding, with_payload=not offset) for holding in (True, False)])
        found = (tiers[0] + tiers[1])[:n]
        return Hits(self._page(found, offset, not offset), words=bool(found), all_words=bool(tiers[0]))

    def words_found(self, sparse: SparseVector, city: str | None = None) -> bool | None:
        """Whether any of the query's BM25 tokens occurs in the collection (in that city); None when
        the collection has no BM25 vectors to tell."""
        if not self._sparse_present():
            return None
        return bool(sparse.indices) and bool(self._query([Nearest(sparse, 1, city, with_payload=False)])[0])

    def cities(self, limit: int) -> list[tuple[str, int]]:
        """Each city with its number of points, biggest first, then by name."""
        from handler.record import CITY_FIELD

        return sorted(self._facet(CITY_FIELD, limit), key=lambda item: (-item[1], item[0]))
