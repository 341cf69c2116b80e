"""The API's routes: GET /api/search, /api/similar, /api/facets/{field} (and /api/cities for the
startups schema), and /health. The filter parameters are the schema's (`handler.web.filters`).

Each route validates its parameters (422 names the parameter), builds one request, awaits the
runner (`handler.web.runners`: inline on Lambda, worker threads in `python -m handler`) and renders
the answer directly, with a `Cache-Control` a CDN may act on (CACHE_MAX_AGE; `/health` never):
the body is built here from typed parts, so validating it again against the response model
(which documents it) would only cost time. Errors are raised and turned into
bodies by the exception handlers (`handler.web.app`) from one table (`handler.web.responses`).
"""


import uuid
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from handler.common import FOLDED, Settings, normalize
from handler.search import DEFAULT_MODE, MODES, FacetRequest, SearchRequest, SearchResult, SimilarRequest
from handler.storage import Filters
from handler.web.filters import filter_names, filters_dependency, invalid, only, plain_filters
from handler.web.responses import ERRORS, NOT_FOUND, CitiesResponse, FacetsResponse, HealthResponse, SearchResponse

MAX_LIMIT = 100
MAX_OFFSET = 100  # pages beyond the 200th result are not served
MAX_FACETS = 1000
# The tutorial demo's newer frontend names the modes by what they do: accepted as the same modes.
MODE_ALIASES = {"semantic": "neural", "keyword": "text"}
Mode = Literal[tuple(MODES) + tuple(MODE_ALIASES)]
# The tutorial's demo frontend (qdrant_demo) reads these names: a search that uses its `neural=`
# parameter gets them, and DEMO_FIELD_ALIASES=1 adds them to every result.
DEMO_ALIASES = {"document": "description", "short_description": "description", "logo_url": "images", "homepage_url": "link"}


def _not_blank(parameter: str):
    def check(value):
        if isinstance(value, str):
            value = normalize(value)
            if not value:
                raise ValueError(f"{parameter} must not be blank (control, format and whitespace characters do not count)")
        return value

    return BeforeValidator(check)


def _ascii_digits(value):
    """Strict integers: Python and pydantic also read `5_0` as 50, `+5`, ` 5` (a raw + in a query
    string is a space), `1.0` and other scripts' digits; a parameter takes ASCII digits only."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number written with the digits 0-9 only")
        digits = value.lstrip("0") or "0"  # leading zeros never count: int() refuses strings of over 4,300 digits
        if len(digits) > 18:
            raise ValueError("is too large")
        return int(digits)
    return value


# A count in a query string (limit, offset, ...): ASCII digits only, 422 otherwise. Bounds go in Query(ge=, le=).
Count = Annotated[int, BeforeValidator(_ascii_digits)]


MODE_NAMES = frozenset(MODES) | frozenset(MODE_ALIASES)


class FastLane:
    """/api/search's plain requests, read without FastAPI's per-request parameter machinery (half
    of what a warm Lambda request spent outside the search: docs/benchmarks.md, "The framework"), and
    everything else handed to the route as FastAPI built it: the route stays the one documented in
    OpenAPI, and every refusal is still its 422. `read` returns the request or None (not plain);
    `render` is the route's own body. What the lane reads, the route would have read the same
    (tests/web/test_fast_lane.py compares the two on a corpus of query strings)."""

    def __init__(self, route_app, read, render) -> None:
        self.route_app = route_app  # FastAPI's: parameters declared, validated, documented
        self.read = read
        self.render = render

    async def __call__(self, scope, receive, send):
        request = Request(scope, receive, send)
        searched = self.read(request.query_params)
        if searched is None:
            return await self.route_app(scope, receive, send)
        found = await request.app.state.runner.run(searched)  # its errors go to the app's handlers, as the route's do
        await self.render(found, request, searched)(scope, receive, send)


def add_api_routes(router: FastAPI, settings: Settings) -> None:
    """The routes, on the app itself (an included APIRouter costs a lookup per request)."""
    schema = settings.schema
    display = schema.describe()["display"]
    noun = display["noun"]
    Limit = Annotated[Count, Query(ge=1, le=MAX_LIMIT, description=f"number of results, 1 to {MAX_LIMIT} (digits only)")]
    Offset = Annotated[Count, Query(ge=0, le=MAX_OFFSET, description=f"results to skip, 0 to {MAX_OFFSET} (digits only): the next page starts at "
                                    "offset + limit (a page is the same slice of a longer `limit`)")]
    FacetLimit = Annotated[Count, Query(ge=1, le=MAX_FACETS, description=f"how many values, 1 to {MAX_FACETS} (digits only)")]
    filters = Depends(filters_dependency(schema))
    takes = {
        "search": frozenset({"q", "limit", "offset", "mode", "neural", *filter_names(schema)}),
        "similar": frozenset({"id", "limit", "offset", *filter_names(schema)}),
        "facets": frozenset({"limit"}),
    }
    # an answer may be kept this long by a CDN or API Gateway's cache (errors: no-store, the `Perimeter` middleware)
    cache_headers = {"cache-control": f"public, max-age={settings.cache_max_age}" if settings.cache_max_age else "no-store"}
    mode_help = "; ".join(f"`{mode}`{' (default)' if mode == DEFAULT_MODE else ''}: {text}" for mode, text in MODES.items())
    mode_help += "; `semantic` and `keyword` (the tutorial demo's names) are `neural` and `text`"
    aliases = {alias: field for alias, field in DEMO_ALIASES.items() if field in schema.names}  # the startups schema's

    def body(found: SearchResult, request: Request, q_chars: int = 0, demo: bool = False) -> JSONResponse:
        embed_ms, search_ms = round(found.embed_ms, 2), round(found.search_ms, 2)
        request.state.timing.update(mode=found.mode, embed_ms=embed_ms, search_ms=search_ms, hits=len(found.hits), weak_match=found.weak_match,
                                    q_chars=q_chars)  # the log's and the metrics'
        timings = {"took_ms": {"embed": embed_ms, "search": search_ms}} if settings.timing_details else {}  # a cache hit shows in them: opt-in
        if timings:
            request.state.server_timing = f"embed;dur={embed_ms}, search;dur={search_ms}"
        for hit in found.hits:
            hit.payload.pop(FOLDED, None)  # the filters' folded copy is the store's, not the record's
        result = [hit.payload for hit in found.hits]
        if (demo or settings.demo_field_aliases) and aliases:
            result = [{**payload, **{alias: payload.get(field) for alias, field in aliases.items()}, "uuid": hit.id} for payload, hit in zip(result, found.hits)]
        return JSONResponse({
            "result": result,
            "hits": [{"id": hit.id, "score": hit.score} for hit in found.hits],
            "mode": found.mode,
            "weak_match": found.weak_match,
            **timings,
        }, headers=cache_headers)

    @router.get("/api/search", response_model=SearchResponse, responses=ERRORS, summary=f"Search {schema.collection} by meaning, by words, or both (hybrid)")
    async def search(
        request: Request,
        q: Annotated[str, _not_blank("q"), Query(
            min_length=1, max_length=settings.query_max_chars,
            description=f"what to look for, 1 to {settings.query_max_chars} characters (QUERY_MAX_CHARS); control and format characters are "
                        "removed and runs of whitespace become one space first, and a `q` with nothing left is refused",
            examples=display["examples"][:1] or None,
        )],
        limit: Limit = 5,
        offset: Offset = 0,
        mode: Mode | None = Query(None, description=mode_help),
        neural: bool | None = Query(None, description="the tutorial demo's spelling of the mode: `true` = `mode=neural`, `false` = `mode=text`; must agree "
                                    "with `mode` when both are given" + ("; its results also carry the demo's field names (`document`, "
                                    "`short_description`, `logo_url`, `homepage_url`, `uuid`)" if aliases else "")),
        filtered: Filters = filters,
    ):
        only(request, takes["search"])
        mode = MODE_ALIASES.get(mode, mode)
        if neural is not None:
            implied = "neural" if neural else "text"
            if mode is not None and mode != implied:
                raise invalid("neural", f"neural={str(neural).lower()} means mode={implied}, but mode={mode} was given", str(neural).lower())
            mode = implied
        found = await request.app.state.runner.run(SearchRequest(q, limit, filtered, mode or DEFAULT_MODE, offset))
        return body(found, request, len(q), demo=neural is not None)

    def plain_search(params) -> SearchRequest | None:
        """The request of a query string whose every parameter is plainly valid, read by the rules the
        route's declarations above state (`search`'s): known names, each once but a keyword filter's
        values, a `q` of 1 to QUERY_MAX_CHARS characters once normalized, counts of at most 3 digits in
        their bounds; None for anything else (an unknown or repeated parameter, a bound crossed, a
        blank q, the demo's `neural`), which the route itself then
        reads and, where it is wrong, refuses with the 422 that names it."""
        for name in params:
            if name not in plain_names:
                return None
        qs = params.getlist("q")
        if len(qs) != 1:
            return None
        q = normalize(qs[0])
        if not 1 <= len(q) <= settings.query_max_chars:
            return None
        numbers = []
        for name, default, low, high in (("limit", 5, 1, MAX_LIMIT), ("offset", 0, 0, MAX_OFFSET)):
            values = params.getlist(name)
            if not values:
                numbers.append(default)
                continue
            if len(values) > 1 or not (len(values[0]) <= 3 and values[0].isascii() and values[0].isdigit() and low <= int(values[0]) <= high):  # 3 digits: the bounds' (int() of thousands of digits raises)
                return None
            numbers.append(int(values[0]))
        modes = params.getlist("mode")
        if len(modes) > 1 or (modes and modes[0] not in MODE_NAMES):
            return None
        filtered = plain_filters(schema, params)
        if filtered is None:
            return None
        return SearchRequest(q, numbers[0], filtered, MODE_ALIASES.get(modes[0], modes[0]) if modes else DEFAULT_MODE, numbers[1])

    plain_names = takes["search"] - {"neural"}
    route = next(r for r in router.routes if getattr(r, "path", None) == "/api/search")
    route.app = FastLane(route.app, plain_search, lambda found, request, searched: body(found, request, len(searched.q)))

    @router.get("/api/similar", response_model=SearchResponse, responses={**ERRORS, **NOT_FOUND}, summary=f"The {schema.collection} most like a stored one (itself excluded)")
    async def similar(
        request: Request,
        id: uuid.UUID = Query(description=f"a {noun}'s point id: `hits[i].id` of a search", examples=["4467450f-6634-57d6-95f0-d72772dafaff"]),
        limit: Limit = 5,
        offset: Offset = 0,
        filtered: Filters = filters,
    ):
        only(request, takes["similar"])
        return body(await request.app.state.runner.run(SimilarRequest(str(id), limit, filtered, offset)), request)

    if schema.keywords:
        Field = Literal[tuple(schema.keywords)]

        @router.get("/api/facets/{field}", response_model=FacetsResponse, responses=ERRORS,
                    summary="A keyword field's values as stored, with their number of records, biggest first")
        async def facets(request: Request, field: Annotated[Field, Path(description="a keyword field of the schema")], limit: FacetLimit = 100):
            only(request, takes["facets"])
            found = await request.app.state.runner.run(FacetRequest(field, limit))
            return JSONResponse({"field": field, "values": [{"value": value, "count": count} for value, count in found.counts]}, headers=cache_headers)

    if "city" in schema.keywords:
        @router.get("/api/cities", response_model=CitiesResponse, responses=ERRORS,
                    summary="The cities in the collection, with their number of records, biggest first (the facet of `city`)")
        async def cities(request: Request, limit: FacetLimit = 100):
            only(request, takes["facets"])
            found = await request.app.state.runner.run(FacetRequest("city", limit))
            return JSONResponse({"cities": [{"city": city, "count": count} for city, count in found.counts]}, headers=cache_headers)

    @router.get("/health", response_model=HealthResponse, summary="Is the service usable: model loaded, collection reachable and not empty",
                responses={200: {"model": HealthResponse, "description": "`ok`: it can serve; `busy`: it serves, at its limit of requests in flight "
                                 "(`python -m handler`; /health is counted apart, so a busy instance still answers)"},
                           503: {"model": HealthResponse, "description": "`degraded` (the reason in `reason`): the model thread stopped, or the "
                                 "collection is unreachable, missing, empty, of another size, or Qdrant's answer cannot be used"}})
    async def health(request: Request):
        state = request.app.state
        report = await state.runner.probe(state.service.health, settings.health_details, model_running=state.runner.alive())
        if report["status"] == "ok" and getattr(request.state, "busy", False):  # set by InFlightLimit: the searches fill their limit
            report = {**report, "status": "busy"}
        return JSONResponse(status_code=503 if report["status"] == "degraded" else 200, content=report, headers={"cache-control": "no-store"})
