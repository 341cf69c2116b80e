"""What the API answers: the response bodies (for OpenAPI) and the one table that turns an
exception into a status, a machine-readable code and words a person can act on. The same table
writes the OpenAPI descriptions of the error responses, so the two cannot drift apart.

Error bodies never carry a stack trace, a path, a URL or what a backend said: that goes to the log.
"""

from __future__ import annotations

from typing import Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from handler.common import (
    Bm25Unavailable,
    CollectionMismatch,
    CollectionMissing,
    PointNotFound,
    RequestExpired,
    SchemaMismatch,
    SparseMissing,
    StorageError,
    StorageUnavailable,
)
from handler.search import MODES

# exception class -> HTTP status; the error code and the words a client reads are the exception
# class's own (`code`, `public`: handler.common.errors), so the log's message and the client's words
# share one home. Looked up along the exception's MRO, so a subclass without a row of its own gets
# its base's. {collection} in the words is the collection's name.
ERROR_STATUS: dict[type[Exception], int] = {
    PointNotFound: 404,
    SparseMissing: 503,
    SchemaMismatch: 503,
    Bm25Unavailable: 503,
    StorageUnavailable: 503,
    CollectionMissing: 503,
    CollectionMismatch: 503,
    StorageError: 503,
    RequestExpired: 503,
}
ERROR_TABLE: dict[type[Exception], tuple[int, str, str]] = {cls: (status, cls.code, cls.public) for cls, status in ERROR_STATUS.items()}
INTERNAL = (500, "internal_error", "unexpected error; quote request id {request_id}")
# Errors answered around the routes, at the HTTP perimeter: by the local server's protocol
# (`handler.web.local_server`), the router, CORS and the in-flight limit (`handler.web.middleware`):
# code -> (status, what to tell the client).
PERIMETER_ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the request is not valid HTTP/1.x, or says its body's length twice (Content-Length and Transfer-Encoding)"),
    "head_too_large": (431, "the request line and headers are over {limit} bytes"),
    "not_found": (404, "no such path (the API: /api/search, /api/similar, /api/facets/{{field}}, /health; see /docs)"),
    "method_not_allowed": (405, "this path answers GET and HEAD only"),
    "websocket_refused": (403, "this service has no WebSocket endpoint: the API is plain HTTP GET (see /docs)"),
    "cors_refused": (400, "this origin, method or header may not call the API from another site"),
    "overloaded": (503, "too many requests in flight; try again in a moment"),
    "bad_event": (400, "this Lambda function serves API Gateway HTTP requests only: {problem}"),
}
INVALID = "invalid_parameter"  # the error code of a 422


def error_for(exc: Exception) -> tuple[int, str, str] | None:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return None


def error_response(status: int, error: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


def perimeter_error(code: str, headers: dict | None = None, **values) -> JSONResponse:
    status, detail = PERIMETER_ERRORS[code]
    return error_response(status, code, detail.format(**values), headers)


def _described(status: int, *perimeter: str) -> str:
    rows = sorted({(code, text) for s, code, text in ERROR_TABLE.values() if s == status} | {(code, PERIMETER_ERRORS[code][1]) for code in perimeter})
    return "; ".join(f"`{code}`: {text.format(collection='<collection>')}" for code, text in rows)


class HitInfo(BaseModel):
    id: str = Field(description="Qdrant point id (a UUID derived from the record's content): what /api/similar takes")
    score: float | None = Field(description="cosine similarity (neural, similar), fused reciprocal-rank score (hybrid), BM25 score (text; the records "
                                            "holding every word come first, so scores may rise there; null for a query of stopwords alone, matched without ranking); "
                                            "in hybrid and text modes a record titled as the query, or nearly (typed part-way or with a slip), comes first: in "
                                            "hybrid with a score of 2 + 1/(1 + its place), in text with null (found by title, not ranked by BM25)")


class SearchResponse(BaseModel):
    result: list[dict] = Field(description="the matching records (payloads), best first: the tutorial's response shape")
    hits: list[HitInfo] = Field(description="id and score of each entry of `result`, in the same order")
    mode: Literal[tuple(MODES) + ("similar",)]
    weak_match: bool | None = Field(description="true when nothing is really close: the results are only the nearest there are. Neural and hybrid: "
                                                "the best cosine is below the collection's calibrated `far`, or below its `close` and none of the first "
                                                "five answers by meaning shares a word with the query (typos allowed); never when a record is titled "
                                                "as the query or nearly (hybrid); null when the collection keeps no calibration (it is measured "
                                                "by the upload and each --sync). Text: no record holds every word. Similar: always false")
    took_ms: dict[str, float] | None = Field(None, description="only with TIMING_DETAILS=1: embed and search time inside the service (a query "
                                                            "cache hit shows in them, so they are off unless a private deployment turns them on)")


class CityCount(BaseModel):
    city: str
    count: int


class CitiesResponse(BaseModel):
    cities: list[CityCount] = Field(description="each city with its number of records, biggest first")


class FacetValue(BaseModel):
    value: str = Field(description="the value as stored (a filter ignores its case and surrounding spaces)")
    count: int


class FacetsResponse(BaseModel):
    field: str
    values: list[FacetValue] = Field(description="each value with its number of records, biggest first, then by value")


class ErrorResponse(BaseModel):
    error: str = Field(description="machine-readable reason: " + ", ".join(sorted({code for _, code, _ in ERROR_TABLE.values()} | {INTERNAL[1]} | set(PERIMETER_ERRORS))))
    detail: str = Field(description="what happened and what to do, in words")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='where: ["query", "<parameter>"]')
    msg: str
    type: str
    input: object | None = Field(None, description="the value received, cut to its first 40 characters")


class ValidationErrorResponse(BaseModel):
    error: Literal["invalid_parameter"]
    detail: list[ValidationIssue]


class HealthResponse(BaseModel):
    status: Literal["ok", "busy", "degraded"] = Field(description="`ok` (200): it can serve; `busy` (200): it serves, at its limit of requests in "
                                                      "flight; `degraded` (503): it cannot serve, `reason` says why")
    model: Literal["ok", "stopped"]
    collection: Literal["ok", "empty", "missing", "mismatch", "unreachable", "error", "damaged"]
    reason: str | None = Field(None, description="only when degraded: why, in words (what the store said goes to the log)")
    details: dict | None = Field(None, description="only with HEALTH_DETAILS=1")


ERRORS = {
    422: {"model": ValidationErrorResponse, "description": "a parameter is invalid (named in `detail[].loc`)"},
    500: {"model": ErrorResponse, "description": "unexpected error (the body quotes the request id; the log has the rest)"},
    503: {"model": ErrorResponse, "description": _described(503, "overloaded")},
}
NOT_FOUND = {404: {"model": ErrorResponse, "description": _described(404)}}
