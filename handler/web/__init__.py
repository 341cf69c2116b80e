"""The web wing: the HTTP face of the service.

- `create_app(settings, service, concurrency=...)`: the FastAPI app (routes, the page and /docs,
  the middleware, the one error table), on the `inline` runner (Lambda) or the `worker` runner
  (`python -m handler`);
- `METRICS`, `NAMESPACE`: the metrics the service emits (CloudWatch EMF on Lambda, /metrics in
  `python -m handler`; `handler.web.metrics`), the names the template's alarms use;

The uvicorn protocol of `python -m handler` is `handler.web.local_server`, imported by that entry
point only: the Lambda artifact leaves it (and uvicorn) out.
"""

from handler.web.app import create_app
from handler.web.metrics import METRICS, NAMESPACE

__all__ = ["create_app", "METRICS", "NAMESPACE"]
