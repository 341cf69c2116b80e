"""The search wing: the search service (the model and the store, opened once) and what it answers.

- `SearchService`: `start(settings)`, then per request the named steps `cached_vector`,
  `embed_queries`, `answer` (or `run`, all three in one thread); `search(q, ...)` for scripts;
- the requests and results of the search routes (`SearchRequest`, `SimilarRequest`,
  `FacetRequest`), the modes (`MODES`, `DEFAULT_MODE`);
- `QueryCache`: popular queries skip the model;
- `weak`: the weak_match rule, its per-collection `Calibration`, and the word test it reads (`answers_share_word`).
"""

from handler.search.query_cache import QueryCache
from handler.search.requests import (
    DEFAULT_MODE,
    MODES,
    FacetRequest,
    FacetResult,
    SearchRequest,
    SearchResult,
    SimilarRequest,
)
from handler.search.service import SearchService
from handler.search.weak import SHOWN_ANSWERS, Calibration, answers_share_word, shares_word, weak

__all__ = [
    "QueryCache",
    "DEFAULT_MODE", "MODES", "FacetRequest", "FacetResult", "SearchRequest", "SearchResult", "SimilarRequest",
    "SearchService",
    "SHOWN_ANSWERS", "Calibration", "answers_share_word", "shares_word", "weak",
]
