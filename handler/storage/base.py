"""The storage base class: the collection's lifecycle and schema, and the primitives each backend
implements (`handler.storage.edge`, `handler.storage.server`). The searches are composed once on
those primitives, the same way for both backends (`handler.storage.searches`), and so are the
filters and the reading of points: each backend only names its client library's models
(`Conditions`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterator, Sequence

import numpy as np

from handler.common import CollectionMismatch, CollectionMissing, CollectionOutdated, SparseMissing
from handler.storage.contract import DISTANCE, LAYOUT_MARK, SPARSE, CollectionInfo, Hit, Layout, Nearest, PointData, SparseVector
from handler.storage.record import CITY_FIELD, TEXT_FIELDS
from handler.storage.searches import Searches


class Conditions(ABC):
    """A client library's names for the few filter parts the service uses (Qdrant Edge's and
    qdrant-client's models differ only in spelling); the filters themselves are built once, below."""

    @abstractmethod
    def match_value(self, key: str, value: str) -> Any: ...

    @abstractmethod
    def match_text(self, key: str, word: str) -> Any: ...

    @abstractmethod
    def has_id(self, ids: Sequence[str]) -> Any: ...

    @abstractmethod
    def filter(self, must: list | None = None, must_not: list | None = None, should: list | None = None) -> Any: ...


def point_of(record) -> PointData:
    """A point as a backend returns it (id, payload, and its dense and BM25 vectors when they were
    asked for): both client libraries' records have these attributes; qdrant-client gives a bare
    list for a collection of one unnamed vector."""
    vectors = {}
    if record.vector is not None:
        vectors = record.vector if isinstance(record.vector, dict) else {"": record.vector}
    sparse = vectors.get(SPARSE)
    dense = np.asarray(vectors[""], dtype=np.float32) if "" in vectors else np.empty(0, np.float32)
    return PointData(str(record.id), dense, record.payload or {},
                     SparseVector(tuple(sparse.indices), tuple(sparse.values)) if sparse is not None else None)


class Storage(Searches, ABC):
    """A collection in Qdrant. Subclasses implement the primitives (abstract below); everything
    the service asks for is composed here, the same way for both."""

    backend: str  # "qdrant-edge" | "qdrant-server"
    collection: str
    where: str  # for messages: which QDRANT_URL / QDRANT_PATH (never credentials)
    conditions: Conditions  # the client library's filter models

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
    def _retrieve(self, ids: Sequence[str], *, payload: bool, vectors: bool) -> list:
        """The client library's records of these ids (those that exist)."""

    @abstractmethod
    def _full_text_fields(self) -> set[str]:
        """The payload fields that have a full-text index."""

    @abstractmethod
    def upsert(self, points: Sequence[PointData]) -> None: ...

    @abstractmethod
    def finish_upload(self) -> None:
        """After the last upsert: the HNSW index built (restored to HNSW_M when it was deferred)."""

    @abstractmethod
    def _count(self, flt) -> int: ...

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Remove these points (an absent id is no error). They leave BM25's IDF at the next
        finish_upload(), where the backend can (see each backend)."""

    @abstractmethod
    def _scroll_page(self, offset: str | None, limit: int, flt=None, *, vectors: bool) -> tuple[list, str | None]:
        """Up to `limit` of the client library's records from `offset` on, in id order, matching
        `flt`, with payloads (and vectors when asked), and the id the next page starts at (None
        after the last page)."""

    @abstractmethod
    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]: ...

    # -- composed on the primitives, the same for both backends -------------------------------------
    def _filter(self, city: str | None, words: Sequence[str] = (), holding: bool | None = None, exclude: str | None = None):
        """The filter of a Nearest: the city, every one of `words` (each in one of TEXT_FIELDS) held or
        not held, one point left out; None when nothing is filtered."""
        c = self.conditions
        must, must_not = [], []
        if city is not None:
            must.append(c.match_value(CITY_FIELD, city))
        if words and holding is not None:
            every = [c.filter(should=[c.match_text(field, word) for field in TEXT_FIELDS]) for word in words]
            if holding:
                must.extend(every)
            else:
                must_not.append(c.filter(must=every))
        if exclude is not None:
            must_not.append(c.has_id([exclude]))
        return c.filter(must=must or None, must_not=must_not or None) if must or must_not else None

    def count(self, ids: Sequence[str] | None = None) -> int:
        """Points in the collection (of these ids, when given)."""
        return self._count(self.conditions.filter(must=[self.conditions.has_id(list(ids))]) if ids is not None else None)

    def _payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        return {str(r.id): r.payload or {} for r in self._retrieve(list(ids), payload=True, vectors=False)} if ids else {}

    def _vector(self, point_id: str) -> np.ndarray | None:
        found = self._retrieve([point_id], payload=False, vectors=True)
        return point_of(found[0]).vector if found else None

    def _text_ids(self, words: Sequence[str], city: str | None, limit: int) -> list[Hit]:
        """Points holding every one of `words` (each in one of TEXT_FIELDS), by id, at most `limit`, with payloads."""
        records, _ = self._scroll_page(None, limit, self._filter(city, words, True), vectors=False)
        return sorted((Hit(str(r.id), None, r.payload or {}) for r in records), key=lambda hit: hit.id)

    def _scroll(self, offset: str | None, limit: int) -> tuple[list[PointData], str | None]:
        records, next_offset = self._scroll_page(offset, limit, vectors=True)
        return [point_of(r) for r in records], None if next_offset is None else str(next_offset)

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
        return f"collection '{self.collection}' does not exist at {self.where}; {CollectionMissing.fix}"

    def sparse_missing_message(self) -> str:
        return (f"collection '{self.collection}' at {self.where} has no '{SPARSE}' sparse vectors (it was uploaded before hybrid "
                f"search existed); {SparseMissing.fix}")

    def check_layout(self) -> None:
        """CollectionOutdated when the collection was uploaded before names were indexed."""
        if LAYOUT_MARK not in self._full_text_fields():
            raise CollectionOutdated(f"collection '{self.collection}' at {self.where} was uploaded before names were indexed (no full-text "
                                     f"index on '{LAYOUT_MARK}'); {CollectionOutdated.fix}")

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
