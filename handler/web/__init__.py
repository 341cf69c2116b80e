"""The web wing: the HTTP face of the service.

- `create_app(settings, service, concurrency=...)`: the FastAPI app (routes, the page and /docs,
  the middleware, the one error table), on the `inline` runner (Lambda) or the `worker` runner
  (`python -m handler`);
- `METRICS`, `NAMESPACE`: the metrics the service emits (CloudWatch EMF on Lambda, /metrics in
  `python -m handler`; `handler.web.metrics`), the names the template's alarms use;
- `guarded(handler)`: the Lambda handler behind the event check (`handler.web.events`: anything
  but an API Gateway HTTP request is a JSON 400 in API Gateway's shape, never a stack trace);

The uvicorn protocol of `python -m handler` is `handler.web.local_server`, imported by that entry
point only: the Lambda artifact leaves it (and uvicorn) out.
"""

from handler.web.app import create_app
from handler.web.events import guarded
from handler.web.metrics import METRICS, NAMESPACE

__all__ = ["create_app", "guarded", "METRICS", "NAMESPACE"]
