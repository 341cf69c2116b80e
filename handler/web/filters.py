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

    def filters(**given) -> Filters:
        for name in schema.ranges:
            low, high = given.get(f"{name}_min"), given.get(f"{name}_max")
            if low is not None and high is not None and low > high:
                raise invalid(f"{name}_max", f"{name}_max must not be less than {name}_min ({low})", high)
        return Filters.of({name: given.get(name) or () for name in schema.keywords},
                          {name: (given.get(f"{name}_min"), given.get(f"{name}_max")) for name in schema.ranges})

    filters.__signature__ = inspect.Signature(parameters, return_annotation=Filters)
    return filters


def invalid(parameter: str, message: str, value, kind: str = "value_error") -> RequestValidationError:
    """A 422 of the same shape as FastAPI's own (`detail[].loc` names the parameter)."""
    return RequestValidationError([{"loc": ("query", parameter), "msg": message, "type": kind, "input": value}])


def only(request: Request, known: frozenset[str]) -> None:
    """A 422 for the first query parameter the route does not take, naming the ones it takes."""
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise invalid(cut(unknown[0], 40), f"unknown parameter; this route takes: {', '.join(sorted(known))}", cut(request.query_params[unknown[0]], 40),
                      "unknown_parameter")
