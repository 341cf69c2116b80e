"""Lambda events the function cannot serve: anything but an API Gateway HTTP request (payload
format 1.0 or 2.0) is answered 400 in API Gateway's shape, with a JSON body that says what is wrong
in one line, before Mangum sees it. Mangum would raise (RuntimeError, KeyError, a base64 error), and
the Lambda runtime would hand its `errorType` and `stackTrace`, file paths included, to whoever
invoked the function directly. An event of another AWS service (SQS, S3, SNS, EventBridge, ...)
is named as such.
"""

from __future__ import annotations

import binascii
import json
import logging

from handler.common import cut
from handler.web.responses import PERIMETER_ERRORS

log = logging.getLogger("handler")
VERSIONS = ("1.0", "2.0")  # API Gateway's payload formats (REST APIs send 1.0 without a `version`)


def guarded(handler):
    """`handler` (Mangum) behind the event check: `lambda_handler = guarded(Mangum(app))`."""

    def lambda_handler(event, context):
        problem = event_problem(event)
        if problem is None:
            try:
                return handler(event, context)
            except Exception as exc:  # Mangum could not read it after all (the app itself never raises: RequestLog answers 500)
                log.exception(json.dumps({"event": "bad_event", "error": type(exc).__name__}))
                problem = "it could not be read as an API Gateway HTTP request"
        else:
            log.warning(json.dumps({"event": "bad_event", "problem": problem, "aws_request_id": getattr(context, "aws_request_id", None)}))
        return bad_event(problem)

    return lambda_handler


def bad_event(problem: str) -> dict:
    status, detail = PERIMETER_ERRORS["bad_event"]
    body = json.dumps({"error": "bad_event", "detail": detail.format(problem=problem)})
    return {"statusCode": status, "isBase64Encoded": False, "body": body,
            "headers": {"content-type": "application/json", "x-content-type-options": "nosniff", "cache-control": "no-store"}}


def event_problem(event) -> str | None:
    """What keeps `event` from being served, in one line; None when Mangum can take it."""
    if not isinstance(event, dict):
        return f"the event is {'null' if event is None else 'a JSON ' + type(event).__name__}, not an object"
    service = other_service(event)
    if service:
        return f"it is an event of {service}, not an API Gateway HTTP request; this function serves only those"
    version = event.get("version", "1.0")
    if version not in VERSIONS:
        return f"payload format version {shown(version)} is not served (API Gateway's 1.0 and 2.0 are)"
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return "requestContext is missing or not an object"
    if version == "2.0":
        http = context.get("http")
        if not isinstance(http, dict) or not isinstance(http.get("method"), str) or not isinstance(http.get("path"), str):
            return "requestContext.http (with method and path) is missing or not an object"
        if not isinstance(event.get("rawPath"), str):
            return "rawPath is missing or not a string"
        if not isinstance(event.get("headers", {}), dict):
            return "headers is not an object"
    else:
        if not isinstance(event.get("httpMethod"), str) or not isinstance(event.get("path"), str):
            return "httpMethod and path must be strings"
        for key in ("headers", "multiValueHeaders"):
            if not isinstance(event.get(key) or {}, dict):
                return f"{key} is not an object"
    for key in ("queryStringParameters", "multiValueQueryStringParameters"):
        if not isinstance(event.get(key) or {}, dict):
            return f"{key} is not an object"
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return "body is not a string"
    if body and event.get("isBase64Encoded"):
        try:
            binascii.a2b_base64(body.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            return "body is marked isBase64Encoded but is not valid base64"
    return None


def other_service(event: dict) -> str | None:
    """The AWS service an event comes from when it is not API Gateway's (their documented shapes)."""
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return shown(source) if source else "a service that sends Records"
    if "detail-type" in event and "source" in event:
        return f"EventBridge ({shown(event['source'])})"
    if "awslogs" in event:
        return "CloudWatch Logs"
    return None


def shown(value) -> str:
    """A value of the event, short, for the one line that says what is wrong."""
    return cut(value if isinstance(value, str) else json.dumps(value), 40)
