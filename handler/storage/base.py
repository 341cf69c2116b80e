"""The storage base class: the collection's lifecycle and schema, and the primitives each backend
implements (`handler.storage.edge`, `handler.storage.server`). The searches are composed once on
those primitives, the same way for both backends (`handler.storage.searches`), and so are the
filters and the reading of points: each backend only names its client library's models
(`Conditions`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from handler.common import FOLDED, CollectionMismatch, CollectionMissing, CollectionOutdated, Schema, SchemaMismatch, SparseMissing, fold
from handler.storage.contract import (
    DISTANCE,
    FUSION,
    NO_FILTERS,
    SPARSE,
    CollectionInfo,
    Filters,
    Fusion,
    Hit,
    Layout,
    TITLE_INDEX,
    Nearest,
    PointData,
    SparseVector,
    payload_indexes,
)
from handler.storage.searches import Searches


class Conditions(ABC):
    """A client library's names for the few filter parts the service uses (Qdrant Edge's and
    qdrant-client's models differ only in spelling); the filters themselves are built once, below."""

    @abstractmethod
    def match_value(self, key: str, value: str) -> Any: ...

    @abstractmethod
    def match_any(self, key: str, values: Sequence[str]) -> Any: ...

    @abstractmethod
    def match_text(self, key: str, word: str) -> Any: ...

    @abstractmethod
    def range(self, key: str, low: float | None, high: float | None) -> Any:
        """low <= value <= high (None: open on that side)."""

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
    fusion: Fusion = FUSION  # how hybrid search fuses its lists (scripts.eval_modes --sweep tries others)

    def __init__(self, schema: Schema) -> None:
        self.schema = schema  # the catalogue's: its payload indexes, text fields and filters
        self._has_sparse = False  # seen once, it stays: only an upload --recreate removes it
        self._gram_encoder = None  # the near-title lookup's trigrams (`Searches._grams`), built on first use

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
    def _create(self, dim: int, layout: Layout, indexes: dict[str, str]) -> None:
        """A new collection: dense DISTANCE vectors of `dim`, the SPARSE vector with IDF, the payload
        `indexes` (`_add_indexes`: first, as Qdrant advises for bulk uploads)."""

    @abstractmethod
    def _add_indexes(self, indexes: dict[str, str]) -> None:
        """Payload indexes: field -> KEYWORD, FULL_TEXT (Qdrant's word tokenizer, lowercased), INTEGER or FLOAT."""

    @abstractmethod
    def _drop(self) -> None: ...

    @abstractmethod
    def _query(self, queries: Sequence[Nearest]) -> list[list[Hit]]:
        """Each query's hits, best first (one round trip where the backend can)."""

    @abstractmethod
    def _retrieve(self, ids: Sequence[str], *, payload: bool, vectors: bool) -> list:
        """The client library's records of these ids (those that exist)."""

    @abstractmethod
    def _layout(self) -> tuple[dict[str, str], dict]:
        """The collection's payload indexes (field -> KEYWORD, FULL_TEXT, INTEGER or FLOAT; others by
        their own name) and its metadata, in one look where the backend can."""

    @abstractmethod
    def _read_metadata(self) -> dict:
        """What the collection keeps about itself (its schema, its point count, its calibration); {} when nothing."""

    @abstractmethod
    def _write_metadata(self, metadata: dict) -> None: ...

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
    def _scroll_page(self, offset: str | None, limit: int, flt=None, *, vectors: bool, payload: bool | Sequence[str] = True) -> tuple[list, str | None]:
        """Up to `limit` of the client library's records from `offset` on, in id order, matching
        `flt`, with payloads (only the `payload` fields, dotted paths, when a list) and vectors when
        asked, and the id the next page starts at (None after the last page)."""

    @abstractmethod
    def _facet(self, field: str, limit: int) -> list[tuple[str, int]]: ...

    # -- composed on the primitives, the same for both backends -------------------------------------
    def _query_filter(self, query: Nearest):
        """The filter of a Nearest (what both backends give their client library)."""
        return self._filter(query.filters, query.words, query.holding, query.exclude, query.title)

    def _filter(self, filters: Filters = NO_FILTERS, words: Sequence[str] = (), holding: bool | None = None, exclude: str | None = None,
                title: str | None = None):
        """Each keyword's values (folded, any of them) and each range, every one of `words` (each in
        one of the schema's text fields) held or not held, one point left out, one title's key; None
        when nothing is filtered."""
        c = self.conditions
        must, must_not = [], []
        if title is not None:
            must.append(c.match_value(TITLE_INDEX, title))
        for name, values in filters.keywords:
            folded = sorted({fold(value) for value in values})
            must.append(c.match_value(f"{FOLDED}.{name}", folded[0]) if len(folded) == 1 else c.match_any(f"{FOLDED}.{name}", folded))
        for name, low, high in filters.ranges:
            must.append(c.range(name, low, high))
        if words and holding is not None:
            every = [c.filter(should=[c.match_text(field, word) for field in self.schema.text_fields]) for word in words]
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

    def _text_ids(self, words: Sequence[str], filters: Filters, limit: int) -> list[Hit]:
        """Points holding every one of `words` (each in one of the text fields), by id, at most `limit`, with payloads."""
        records, _ = self._scroll_page(None, limit, self._filter(filters, words, True), vectors=False)
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

    def metadata(self) -> dict:
        return self._read_metadata()

    def record(self, **facts) -> None:
        """Keep facts with the collection (merged into what it keeps: `metadata()`)."""
        self._write_metadata({**self._read_metadata(), **facts})

    def check_layout(self) -> None:
        """SchemaMismatch when the collection was built with another schema (the fields that differ
        named); CollectionOutdated when it lacks a payload index this schema needs (uploaded by an
        earlier version, before names were indexed or before keywords were folded: an upload or
        `--sync` brings it up to date)."""
        lacking = self._lacking()
        if lacking:
            raise CollectionOutdated(f"collection '{self.collection}' at {self.where} lacks the payload index(es) "
                                     f"{', '.join(f'{name} ({kind})' for name, kind in lacking.items())} that {self.schema.source} needs "
                                     f"(it was uploaded by an earlier version); `python -m scripts.upload ... --sync` adds them and rewrites the "
                                     f"payloads (or {CollectionOutdated.fix})")

    def _lacking(self) -> dict[str, str]:
        """The payload indexes this schema needs that the collection lacks; SchemaMismatch first."""
        have, metadata = self._layout()
        built = metadata.get("schema")
        if built is not None:
            differences = self.schema.differences(built)
            if differences:
                raise SchemaMismatch(f"collection '{self.collection}' at {self.where} was built with another schema than {self.schema.source} "
                                     f"({'; '.join(differences)}); use its schema, another COLLECTION_NAME, or upload again with --recreate")
        return {name: kind for name, kind in payload_indexes(self.schema).items() if have.get(name) != kind}

    def bring_up_to_date(self) -> None:
        """Before an upload into an existing collection: the payload indexes this schema needs that
        it lacks are added, and the schema is kept with it (SchemaMismatch if it was built with another)."""
        lacking = self._lacking()
        if lacking:
            self._add_indexes(lacking)
        if lacking or "schema" not in self._read_metadata():
            self.record(schema=self.schema.fingerprint())

    def check_collection(self, dim: int) -> int:
        """The point count; CollectionMissing / CollectionMismatch when the collection is not usable."""
        info = self.collection_info()
        if info is None:
            raise CollectionMissing(self.missing_message())
        self.require_match(info, dim)
        return self.count()

    def damage(self) -> str | None:
        """What is wrong with the stored points, or None. The embedded backend checks its files
        (`EdgeStorage.damage`); a server keeps its own, and is not asked for more on each /health."""
        return None

    def points(self, page: int = 1000) -> Iterator[PointData]:
        """Every point of the collection as stored (payload, dense and BM25 vectors), page by page
        in id order: what `scripts.upload --sync` compares its input with."""
        return _paged(self._scroll, page)

    def fields(self, names: Sequence[str], page: int = 10_000) -> Iterator[tuple[str, dict]]:
        """Every point's id and only these payload fields (dotted paths), no vectors, page by page
        in id order: what `scripts.upload --sync` reads of each point (its content hash)."""
        records = _paged(lambda offset, size: self._scroll_page(offset, size, vectors=False, payload=list(names)), page)
        return ((str(r.id), r.payload or {}) for r in records)

    def points_of(self, ids: Sequence[str]) -> list[PointData]:
        """These points as stored (payload, dense and BM25 vectors); absent ids left out."""
        return [point_of(r) for r in self._retrieve(list(ids), payload=True, vectors=True)] if ids else []

    def ensure_collection(self, dim: int, recreate: bool = False, layout: Layout = Layout()) -> bool:
        """Create the collection when absent (True if created). An existing one of another schema is
        an error, dropped and created anew only with `recreate`."""
        info = self.collection_info()
        if info is not None and not recreate:
            self.require_match(info, dim)
            if SPARSE not in info.sparse:
                raise SparseMissing(self.sparse_missing_message())
            self.bring_up_to_date()
            return False
        if info is not None:
            self._drop()
        self._has_sparse = False
        self._create(dim, layout, payload_indexes(self.schema))
        self._write_metadata({"schema": self.schema.fingerprint()})
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


def _paged(fetch: Callable[[Any, int], tuple[Sequence, Any]], page: int) -> Iterator:
    """What `fetch(offset, page)` finds, page after page, until it gives no next offset."""
    offset = None
    while True:
        found, offset = fetch(offset, page)
        yield from found
        if offset is None:
            return
