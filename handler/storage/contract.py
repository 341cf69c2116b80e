"""What every storage backend promises: the data it takes and gives, and the schema of the
collection it keeps (its errors are the project's: `handler.common.errors`). The base class
(`handler.storage.base`) builds every search on these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from handler.common import FOLDED, TITLE_KEY, Schema

# -- the collection's layout, declared once for both backends -----------------------------------------
DISTANCE = "Cosine"  # the model's vectors are L2-normalized: cosine = dot product
SPARSE = "bm25"  # the named sparse vector beside the default dense one, with Qdrant's IDF modifier
HNSW_M = 16  # Qdrant's default graph degree; an upload with a deferred index builds with m=0 first
KEYWORD, FULL_TEXT, INTEGER, FLOAT = "keyword", "text", "integer", "float"  # payload index types (full text: Qdrant's word tokenizer, lowercased)
# Hybrid's fusion, chosen by `scripts.eval_modes --sweep` on both catalogues (docs/quality.md): a
# small k and the BM25 list at 0.3 of the dense one's weight put hybrid at or above neural on
# meaning queries (exact and near titles come first whatever the fusion).
RRF_K = 5  # reciprocal rank fusion's constant (Cormack et al. use 60)
BM25_WEIGHT = 0.3
# How many candidates each side of a hybrid query brings to the fusion: one number for every limit
# and offset, so that every page of a search is cut from one ranking (past the fused lists, the
# ranking goes on by the dense list alone).
HYBRID_DEPTH = 40


@dataclass(frozen=True)
class Fusion:
    """How hybrid search fuses its dense and BM25 lists (`handler.storage.searches.fuse`): reciprocal
    rank fusion ("rrf", with its constant k) or distribution-based score fusion ("dbsf"), each list
    `depth` long, the BM25 list's share weighed by `words` (the dense list's by 1)."""

    method: str = "rrf"
    k: int = RRF_K
    depth: int = HYBRID_DEPTH
    words: float = BM25_WEIGHT


FUSION = Fusion()
TITLE_INDEX = f"{FOLDED}.{TITLE_KEY}"  # the title's key (`handler.common.title_key`)
TITLE_MATCHES = 10  # at most this many records titled as the query come first (the rest are ranked as any other)
# Then the titles near the query: those it begins (typed part-way), or a slip or two away (a typo):
NEAR_TITLES = 3  # at most this many, chosen among
NEAR_CANDIDATES = 20  # the titles sharing the most trigrams with the query
NEAR_FROM = 3  # characters of the query's title key, at least (fewer begin too many titles)
# A record titled as the query, or near it, scores TITLE_SCORE + 1 / (1 + its place among them):
# above every fused score (reciprocal rank fusion's are at most 2 / k).
TITLE_SCORE = 2.0


def payload_indexes(schema: Schema) -> dict[str, str]:
    """The payload indexes a collection of this schema has (field -> index type), made first when
    it is created (as Qdrant advises for bulk uploads): full text on the text fields and the title
    (text mode), a keyword index on each keyword as stored (its facet) and on its folded copy (its
    filter: case and spaces ignored), an integer or float index on each number (its range), and a
    keyword index on the title's key (exact-title lookups)."""
    indexes = {name: FULL_TEXT for name in schema.text_fields}
    indexes[TITLE_INDEX] = KEYWORD
    for name in schema.keywords:
        indexes.setdefault(name, KEYWORD)
        indexes[f"{FOLDED}.{name}"] = KEYWORD
    indexes.update({name: INTEGER if kind == "integer" else FLOAT for name, kind in schema.ranges.items()})
    return indexes


# -- data ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """What a search is limited to, every part combined with AND: for each keyword field the values
    it may hold (any of them, compared folded: `handler.common.fold`), and for each numeric field an
    inclusive range (None: open on that side)."""

    keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()

    @classmethod
    def of(cls, keywords: dict | None = None, ranges: dict | None = None) -> "Filters":
        """From {field: [values]} and {field: (low, high)}; blank values and empty lists filter nothing."""
        kept = tuple((name, tuple(v for v in values if v)) for name, values in (keywords or {}).items())
        return cls(tuple((name, values) for name, values in kept if values),
                   tuple((name, low, high) for name, (low, high) in (ranges or {}).items() if low is not None or high is not None))

    def __bool__(self) -> bool:
        return bool(self.keywords or self.ranges)


NO_FILTERS = Filters()

@dataclass(frozen=True)
class SparseVector:
    """A BM25 vector: token indices (sorted, distinct) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float | None  # None for text mode: a full-text match has no similarity score
    payload: dict = field(default_factory=dict)


class Hits(list):
    """A page of ranked hits (a list of Hit), with what the search saw beyond the page, from which
    the service tells a close match from the nearest of nothing close:

    - nearest: the best dense (cosine) score among all candidates; None without a dense list;
    - words: whether any query word (BM25 token) occurs in a candidate; None when not asked;
    - all_words: whether some candidate holds every query word (text mode); None when not asked;
    - titled: whether some record is titled as the query or near it (hybrid and text modes: they come first);
    - dense: hybrid's dense list, best first, without payloads (what its meaning alone found).
    """

    def __init__(self, hits=(), *, nearest: float | None = None, words: bool | None = None, all_words: bool | None = None,
                 titled: bool = False, dense: list | None = None) -> None:
        super().__init__(hits)
        self.nearest, self.words, self.all_words, self.titled, self.dense = nearest, words, all_words, titled, dense


@dataclass(frozen=True)
class PointData:
    id: str  # UUID string
    vector: np.ndarray
    payload: dict
    sparse: SparseVector | None = None  # BM25 of the same text


@dataclass(frozen=True)
class CollectionInfo:
    dim: int | None  # None: the collection has named dense vectors, not ours
    distance: str
    sparse: tuple[str, ...]  # names of its sparse vectors
    hnsw_m: int | None = None


@dataclass(frozen=True)
class Layout:
    """How a Qdrant server lays a new collection out (fixed at creation). The embedded engine is
    one shard in one process and takes only the default."""

    shards: int | None = None
    replicas: int | None = None
    defer_index: bool = False  # build no HNSW graph (m=0) until finish_upload() restores HNSW_M

    @property
    def is_default(self) -> bool:
        return self == Layout()


@dataclass(frozen=True)
class Nearest:
    """One ranked query: the points nearest to a dense or sparse vector, within `filters`, without
    one point (similar), by whether a record holds every one of `words` (each in one of the
    schema's text fields): `holding` True keeps those that do, False those that do not, None all,
    and to the records whose title's key is `title` (exact-title lookups) when given.
    What each backend executes; the base class composes them."""

    vector: np.ndarray | SparseVector | None  # None: no ranking, the points that pass the filter, by id
    limit: int
    filters: Filters = NO_FILTERS
    exclude: str | None = None
    words: tuple[str, ...] = ()
    holding: bool | None = None
    title: str | None = None
    with_payload: bool = True
    hnsw_ef: int | None = None
    exact: bool = False

    @property
    def using(self) -> str | None:
        return SPARSE if isinstance(self.vector, SparseVector) else None
