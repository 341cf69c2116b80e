"""What a route asks the search service for, and what it gets back: one request type per route,
so that every search route goes through the runner the same way (`runner.run(request)`)."""

from __future__ import annotations

from dataclasses import dataclass

from handler.storage import NO_FILTERS, Filters, Hit

# The search modes, what each does (the API's documentation and the page's switch read this), and
# the default: `python -m scripts.eval_modes` (docs/quality.md) measured hybrid best at finding a
# record by its title while keeping the meaning queries' answers.
MODES = {
    "hybrid": "meaning and words together: the ONNX encoder's vector search and Qdrant's BM25, fused by reciprocal rank",
    "neural": "meaning alone: vector search with the ONNX encoder (the tutorial's search)",
    "text": "words alone: any of the words, ranked by BM25, the records holding all of them first",
}
DEFAULT_MODE = "hybrid"


@dataclass(frozen=True)
class SearchRequest:
    """/api/search: a query, from the route to the storage call."""

    q: str
    limit: int = 5
    filters: Filters = NO_FILTERS
    mode: str = DEFAULT_MODE
    offset: int = 0  # the page: hits offset .. offset + limit - 1 of the ranking

    @property
    def needs_vector(self) -> bool:
        return self.mode != "text"


@dataclass(frozen=True)
class SimilarRequest:
    """/api/similar: the records nearest to a stored one."""

    id: str
    limit: int = 5
    filters: Filters = NO_FILTERS
    offset: int = 0
    needs_vector = False  # the anchor's stored vector is used


@dataclass(frozen=True)
class FacetRequest:
    """/api/facets/{field} (and /api/cities, the startups schema's city facet): a keyword's values."""

    field: str
    limit: int = 100
    needs_vector = False


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: str
    embed_ms: float
    search_ms: float
    weak_match: bool | None = False  # nothing is really close: these are only the nearest (None: the collection is not calibrated)


@dataclass
class FacetResult:
    field: str
    counts: list[tuple[str, int]]  # (value as stored, number of records), biggest first
