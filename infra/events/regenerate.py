"""Regenerate the API Gateway events in this folder from `sam local generate-event`, then fix
them up to carry a real search query (run it where the sam CLI is installed):

    python infra/events/regenerate.py [--sam PATH_TO_SAM]

The events of other services (sqs_receive_message.json, s3_delete.json, sns_notification.json,
eventbridge_scheduled.json: what the function must refuse, `tests.web.test_bad_events`) are
sam's samples as it writes them with its defaults (`sam local generate-event sqs receive-message`,
`s3 delete`, `sns notification`, `cloudwatch scheduled-event`), kept as they are.

Fix-ups, and why: sam's samples carry a base64 body on a GET and placeholder query strings;
for REST (v1) events it also leaves `multiValueQueryStringParameters` with placeholder values,
which Mangum reads first, so both query dictionaries are rewritten together.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
QUERY = {"q": "QR codes for restaurants", "limit": "3"}


OTHER_SERVICES = {"sqs_receive_message.json": ("sqs", "receive-message"), "s3_delete.json": ("s3", "delete"),
                  "sns_notification.json": ("sns", "notification"), "eventbridge_scheduled.json": ("cloudwatch", "scheduled-event")}


def generate(sam: str, *args: str, service: str = "apigateway") -> dict:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return json.loads(subprocess.run([sam, "local", "generate-event", service, *args], check=True, capture_output=True, text=True, env=env).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sam", default="sam")
    sam = parser.parse_args().sam

    v2 = generate(sam, "http-api-proxy", "--method", "GET", "--path", "api/search", "--stage", "$default")
    v2.update(rawQueryString=urlencode(QUERY), queryStringParameters=dict(QUERY), body=None, isBase64Encoded=False, cookies=[])
    v2.pop("pathParameters", None)
    v2["headers"] = {"accept": "application/json", "host": v2["requestContext"]["domainName"], "user-agent": "curl/8.5.0"}

    v1 = generate(sam, "aws-proxy", "--method", "GET", "--path", "api/search", "--stage", "Prod")
    v1.update(
        queryStringParameters=dict(QUERY),
        multiValueQueryStringParameters={k: [v] for k, v in QUERY.items()},
        body=None,
        isBase64Encoded=False,
    )

    others = {name: generate(sam, kind, service=service) for name, (service, kind) in OTHER_SERVICES.items()}
    for name, event in (("http_api_v2.json", v2), ("rest_api_v1.json", v1), *others.items()):
        (HERE / name).write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
