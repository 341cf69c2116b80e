"""Lambda events the function cannot serve get a JSON 400 in API Gateway's shape, in one line, with
no stack trace and no file path (before, Mangum raised and the runtime handed its errorType and
stackTrace to the invoker). The events are real: API Gateway's, SQS's, S3's, SNS's and EventBridge's
as `sam local generate-event` writes them (infra/events), and API Gateway's damaged the ways a
direct invoker can. Mangum is real; a trivial ASGI app stands in for the search (the search's
events are in `tests.web.test_lambda_events`). Fast tier."""

from __future__ import annotations

import copy
import json

import pytest
from mangum import Mangum

from handler.web import guarded
from tests.support.helpers import EVENTS, load_event
from tests.support.servers import hello_app

V2, V1 = load_event("http_api_v2.json"), load_event("rest_api_v1.json")


def changed(event: dict, **fields) -> dict:
    event = copy.deepcopy(event)
    event.update(fields)
    return event


def without(event: dict, *keys: str) -> dict:
    return {k: v for k, v in event.items() if k not in keys}


def real(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


BAD = {  # event -> the words the 400 must carry
    "empty object": ({}, "requestContext is missing"),
    "null": (None, "the event is null"),
    "a list": ([], "a JSON list"),
    "a string": ("GET /", "a JSON str"),
    "v2 headers null": (changed(V2, headers=None), "headers is not an object"),
    "v2 invalid base64 body": (changed(V2, body="!!!not base64", isBase64Encoded=True), "not valid base64"),
    "v1 invalid base64 body": (changed(V1, body="%%%", isBase64Encoded=True), "not valid base64"),
    "v2 without requestContext.http": (changed(V2, requestContext={"requestId": "x"}), "requestContext.http"),
    "v2 without requestContext": (without(V2, "requestContext"), "requestContext is missing"),
    "version 3.0": (changed(V2, version="3.0"), "payload format version 3.0 is not served"),
    "v1 without httpMethod": (without(V1, "httpMethod"), "httpMethod and path"),
    "v2 query not an object": (changed(V2, queryStringParameters=["q"]), "queryStringParameters is not an object"),
    "v2 body not a string": (changed(V2, body={"q": 1}), "body is not a string"),
    "SQS": (real("sqs_receive_message.json"), "an event of aws:sqs"),
    "S3": (real("s3_delete.json"), "an event of aws:s3"),
    "SNS": (real("sns_notification.json"), "an event of aws:sns"),
    "EventBridge": (real("eventbridge_scheduled.json"), "an event of EventBridge (aws.events)"),
}


@pytest.fixture(scope="module")
def lambda_handler():
    return guarded(Mangum(hello_app, lifespan="off"))  # as handler.lambda_entry wraps the app


@pytest.mark.parametrize("name", BAD)
def test_a_malformed_event_is_a_json_400_in_api_gateways_shape(lambda_handler, name, caplog):
    event, words = BAD[name]
    response = lambda_handler(copy.deepcopy(event), None)
    assert response["statusCode"] == 400 and response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json" and response["headers"]["x-content-type-options"] == "nosniff"
    body = json.loads(response["body"])
    assert body["error"] == "bad_event" and words in body["detail"], body
    assert "\n" not in body["detail"] and ".py" not in response["body"] and "Traceback" not in response["body"]
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}  # no errorType, no stackTrace


@pytest.mark.parametrize("name", ["http_api_v2.json", "rest_api_v1.json"])
def test_api_gateway_events_still_reach_the_app(lambda_handler, name):
    assert lambda_handler(load_event(name), None)["statusCode"] == 200
    assert lambda_handler(changed(load_event(name), body="eyJxIjogMX0=", isBase64Encoded=True), None)["statusCode"] == 200  # valid base64


def test_a_rest_event_with_null_headers_is_served_as_api_gateway_sends_it(lambda_handler):
    assert lambda_handler(changed(V1, headers=None, multiValueHeaders=None), None)["statusCode"] == 200


def test_what_mangum_cannot_read_after_the_check_is_still_a_400(caplog):
    def broken(event, context):
        raise KeyError("path")  # what Mangum raised for a shape the check lets through

    response = guarded(broken)(load_event(), None)
    assert response["statusCode"] == 400 and "could not be read" in json.loads(response["body"])["detail"]
