"""The query parameters a schema makes, and the one rule that no other parameter is taken.

- a keyword field `city`: `?city=London`, repeatable for any of several (`?city=London&city=Paris`),
  compared without case or surrounding spaces; a blank value filters nothing;
- an integer or float field `rank`: `?rank_min=` and `?rank_max=`, inclusive, each an optional `-`
  and ASCII digits (a float: then an optional `.digits`; no exponent, `inf` or `nan`).

Every filter of a request is combined with AND into one `Filters`. A parameter that no route takes is
a 422 naming it and listing the ones it takes: a mistyped filter must never return unfiltered results.
"""

from __future__ import annotations

import inspect
import re
from typing import Annotated

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, StringConstraints

from handler.common import Schema, cut, normalize
from handler.storage import Filters

MAX_KEYWORD_CHARS = 100  # one keyword value
MAX_KEYWORD_VALUES = 20  # values of one keyword filter (any of them)
INTEGER = re.compile(r"-?[0-9]{1,18}")
FLOAT = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?")


def _normalized(value):
    return normalize(value) if isinstance(value, str) else value


def _number(pattern: re.Pattern, kind, words: str):
    def parse(value):
        if isinstance(value, str):
            if not pattern.fullmatch(value):
                raise ValueError(f"must be {words}")
            return kind(value)
        return value

    return BeforeValidator(parse)


Keyword = Annotated[str, BeforeValidator(_normalized), StringConstraints(max_length=MAX_KEYWORD_CHARS)]
WHOLE = _number(INTEGER, int, "a whole number: an optional - and the digits 0-9")
DECIMAL = _number(FLOAT, float, "a number: an optional -, the digits 0-9 and an optional .digits (no exponent, inf or nan)")


def filter_names(schema: Schema) -> tuple[str, ...]:
    """The query parameters of a schema's filters."""
    return (*schema.keywords, *(f"{name}_{end}" for name in schema.ranges for end in ("min", "max")))


def filters_dependency(schema: Schema, examples: dict[str, str] | None = None):
    """A FastAPI dependency whose parameters are the schema's filters (so OpenAPI lists each, typed
    and described) and whose value is their `Filters`."""
    examples = examples or {}
    parameters = []
    for name in schema.keywords:
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=list[Keyword] | None, default=Query(
            None, max_length=MAX_KEYWORD_VALUES,
            description=f"only records whose `{name}` is this value (case and surrounding spaces ignored; see /api/facets/{name}); repeat the "
                        f"parameter for any of several (at most {MAX_KEYWORD_VALUES}); blank = any",
            **({"examples": [[examples[name]]]} if name in examples else {}))))
    for name, kind in schema.ranges.items():
        annotation = Annotated[int | None, WHOLE] if kind == "integer" else Annotated[float | None, DECIMAL]
        number = "a whole number" if kind == "integer" else "a number (digits, an optional .digits)"
        for end, side in (("min", "at least"), ("max", "at most")):
            parameters.append(inspect.Parameter(f"{name}_{end}", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=Query(
                None, description=f"only records whose `{name}` is {side} this, inclusive ({number}); records without a `{name}` are left out")))

    async def filters(**given) -> Filters:  # async: FastAPI runs a plain def in a worker thread (under Mangum a new thread per request)
        for name in schema.ranges:
            low, high = given.get(f"{name}_min"), given.get(f"{name}_max")
            if low is not None and high is not None and low > high:
                raise invalid(f"{name}_max", f"{name}_max must not be less than {name}_min ({low})", high)
        return _filters(schema, given)

    filters.__signature__ = inspect.Signature(parameters, return_annotation=Filters)
    return filters


def _filters(schema: Schema, given: dict) -> Filters:
    return Filters.of({name: given.get(name) or () for name in schema.keywords},
                      {name: (given.get(f"{name}_min"), given.get(f"{name}_max")) for name in schema.ranges})


def plain_filters(schema: Schema, params) -> Filters | None:
    """The `Filters` of a request's query parameters (a Starlette QueryParams) when every filter
    given is plainly valid; None when any is not (too many values, too long, a number to read, a
    range upside down), and the dependency above then reads them and says what is wrong. The fast
    lane of /api/search (`handler.web.routes`) reads the filters with this, FastAPI's with that: the
    same rules, so the same Filters (tests/web/test_fast_lane.py holds the two to each other)."""
    given = {}
    for name in schema.keywords:
        values = params.getlist(name)
        if values:
            if len(values) > MAX_KEYWORD_VALUES:
                return None
            values = [normalize(value) for value in values]
            if any(len(value) > MAX_KEYWORD_CHARS for value in values):
                return None
            given[name] = values
    for name, kind in schema.ranges.items():
        pattern, number = (INTEGER, int) if kind == "integer" else (FLOAT, float)
        for end in ("min", "max"):
            values = params.getlist(f"{name}_{end}")
            if not values:
                continue
            if len(values) > 1 or not pattern.fullmatch(values[0]):
                return None
            given[f"{name}_{end}"] = number(values[0])
        low, high = given.get(f"{name}_min"), given.get(f"{name}_max")
        if low is not None and high is not None and low > high:
            return None
    return _filters(schema, given)


def invalid(parameter: str, message: str, value, kind: str = "value_error") -> RequestValidationError:
    """A 422 of the same shape as FastAPI's own (`detail[].loc` names the parameter)."""
    return RequestValidationError([{"loc": ("query", parameter), "msg": message, "type": kind, "input": value}])


def only(request: Request, known: frozenset[str]) -> None:
    """A 422 for the first query parameter the route does not take, naming the ones it takes."""
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise invalid(cut(unknown[0], 40), f"unknown parameter; this route takes: {', '.join(sorted(known))}", cut(request.query_params[unknown[0]], 40),
                      "unknown_parameter")
