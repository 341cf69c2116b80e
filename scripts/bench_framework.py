"""What a warm Lambda request costs around the search itself, layer by layer, in one process.

    python -m scripts.bench_framework [--input FILE] [--rounds 2000] [--cores 1|all] [--model-dir model]

The search's own work is taken out: every app here answers from one search result computed
beforehand (a runner that returns it), so what is timed is the framework alone: the event check,
Mangum's event and response translation, the middleware (ids, the log line, the metrics),
Starlette's routing, FastAPI's parameters, the JSON body. Each row is that same request through
an app with one part removed, and the rows are timed in turn, request by request (interleaved),
so a change in the machine's load touches every row alike. The last column is what the part
costs: the full request's p50 minus the row's.

The real request (with the model and Qdrant Edge) is timed in the same rounds, beside the
service's own `run()` of the same request: their difference is the overhead `scripts.bench_search`
reports, measured here with less noise.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import shutil
import sys
import time
from pathlib import Path

from handler.common import UsageError, cli, env, load_schema, say
from reference import SAMPLE_FILE
from scripts import benchkit

COLLECTION = "bench"


class Answered:
    """A runner that answers every request with one result computed beforehand (the runner
    interface of `handler.web`'s Inline; tests/web/test_fast_lane.py records through it too)."""

    def __init__(self, result) -> None:
        self.result = result

    async def run(self, request):
        return self.result

    async def probe(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        pass


def ablations(settings, service, result):
    """(name, lambda_handler) pairs: the full framework, then one part taken away each."""
    from mangum import Mangum

    from handler.web import create_app, guarded

    def app_without(*middleware: str, metrics: bool = True):
        app = create_app(settings, service, concurrency="inline")
        app.state.runner = Answered(result)
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in middleware]
        if not metrics:
            app.state.metrics = None
        return app

    async def bare(scope, receive, send):  # the smallest ASGI answer: Mangum's translation alone
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    rows = [
        ("framework, all of it (the search answered beforehand)", guarded(Mangum(app_without(), lifespan="off"))),
        ("  without the metrics (EMF members of the log line)", guarded(Mangum(app_without(metrics=False), lifespan="off"))),
        ("  without Perimeter (nosniff, HEAD, no-store)", guarded(Mangum(app_without("Perimeter"), lifespan="off"))),
        ("  without StageRootPath", guarded(Mangum(app_without("StageRootPath"), lifespan="off"))),
        ("  without the event check (guarded)", Mangum(app_without(), lifespan="off")),
        ("Mangum around the smallest ASGI answer", Mangum(bare, lifespan="off")),
    ]
    return rows


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_framework", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--vectors", type=Path, default=None, help="scripts.embed output for --input (made when absent)")
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--rounds", type=int, default=2000, help="requests per row")
    parser.add_argument("--cores", default="1", choices=("1", "all"), help="1: pinned to core 0 with one onnxruntime thread (Lambda's one vCPU)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 50:
        raise UsageError(f"--rounds must be at least 50 (got {args.rounds}): a p50 of fewer is noise")
    qdrant_path = (args.qdrant_path / args.input.stem).absolute()
    if not args.child:
        schema = load_schema(args.schema)
        benchkit.ensure_shard(args.input, args.vectors, qdrant_path, COLLECTION, args.model_dir, schema)
        if args.cores == "1" and not shutil.which("taskset"):
            raise UsageError("--cores 1 needs taskset (util-linux) to pin the process to one core")
        # a fresh process with the serving settings (and pinned): this one has imported the batch jobs' modules
        child_env = {**os.environ, "MODEL_DIR": str(args.model_dir.absolute()), "QDRANT_PATH": str(qdrant_path), "QDRANT_URL": "",
                     "COLLECTION_NAME": COLLECTION, "QUERY_CACHE_SIZE": "0", **benchkit.schema_env(args.schema),
                     **({"ORT_THREADS": "1"} if args.cores == "1" else {})}
        pin = ["taskset", "-c", "0"] if args.cores == "1" else []
        os.execvpe(pin[0] if pin else sys.executable, [*pin, sys.executable, "-m", "scripts.bench_framework", *(argv or sys.argv[1:]), "--child"], child_env)
    return measure(args)


def measure(args) -> int:
    from handler.common import Settings
    from handler.search import SearchService
    from handler.web import create_app, guarded
    from mangum import Mangum

    settings = Settings.from_env()
    # the request log goes where Lambda's goes (a stream), here one that is thrown away
    sink = io.StringIO()
    service = SearchService.start(settings)
    queries = benchkit.workload(args.input, 20, mode="neural", schema=settings.schema)
    events = [benchkit.http_api_event(q) for q in queries]
    real_app = create_app(settings, service, concurrency="inline")
    real = guarded(Mangum(real_app, lifespan="off"))
    for handler in logging.getLogger("handler").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    first = real(events[0], None)
    if first["statusCode"] != 200:
        raise UsageError(f"the search answered {first['statusCode']}: {first['body'][:300]}")
    from handler.search import SearchRequest
    from handler.storage import Filters

    q = queries[0]
    request = SearchRequest(q["q"], 5, Filters.of({k: [v] for k, v in q.items() if k not in ("q", "mode")}), "neural")
    result = service.run(request)
    for hit in result.hits:
        hit.payload.pop("_folded", None)
    rows = ablations(settings, service, result)
    samples = {name: [] for name, _ in rows}
    real_ms, service_ms = [], []
    event = events[0]
    for _ in range(30):  # warm every path
        for name, handler in rows:
            handler(dict(event), None)
    perf = time.perf_counter
    order = random.Random(0)
    for i in range(args.rounds):
        for name, handler in order.sample(rows, len(rows)):  # a new order each round: no row always follows the real request
            e = dict(event)
            start = perf()
            response = handler(e, None)
            samples[name].append((perf() - start) * 1000)
        if i % 4 == 0:  # the real request, a quarter as often (it is 5-10x longer), and the service's run of it, in either order by turns
            e = events[i // 4 % len(events)]
            params = e["queryStringParameters"]
            r = SearchRequest(params["q"], 5, Filters.of({k: [v] for k, v in params.items() if k not in ("q", "mode")}), "neural")
            for step in (("handler", "service") if i // 4 % 2 else ("service", "handler")):
                start = perf()
                if step == "handler":
                    response = real(dict(e), None)
                    real_ms.append((perf() - start) * 1000)
                    assert response["statusCode"] == 200, response
                else:
                    service.run(r)
                    service_ms.append((perf() - start) * 1000)
        sink.seek(0)
        sink.truncate()
    say(f"{args.rounds} requests per row, {benchkit.cpu_name()}, {'1 core (taskset), ORT_THREADS=1' if args.cores == '1' else 'every core'}, "
        f"Python {sys.version.split()[0]}, variant {service.encoder.variant}")
    full = benchkit.median(samples[rows[0][0]])
    width = max(len(name) for name, _ in rows) + 2
    print(f"{'':<{width}} {'p50 ms':>8} {'p99 ms':>8} {'the part':>9}")
    for name, _ in rows:
        p50 = benchkit.median(samples[name])
        part = f"{full - p50:>9.3f}" if name != rows[0][0] else ""
        print(f"{name:<{width}} {p50:>8.3f} {benchkit.percentile(samples[name], 99):>8.3f} {part}")
    real_p50, service_p50 = benchkit.median(real_ms), benchkit.median(service_ms)
    print(f"{'real request (model + Qdrant Edge), lambda_handler':<{width}} {real_p50:>8.3f} {benchkit.percentile(real_ms, 99):>8.3f}")
    print(f"{'  service.run() of the same requests':<{width}} {service_p50:>8.3f} {benchkit.percentile(service_ms, 99):>8.3f}")
    print(f"{'  overhead (handler - service p50)':<{width}} {real_p50 - service_p50:>8.3f}")
    print(f"{'the metrics alone: observe() + the join, per request':<{width}} {metrics_us(real_app) / 1000:>8.3f}   (timeit, best of 7)")
    return 0


def metrics_us(app) -> float:
    """Microseconds of a Lambda request's metrics on their own: `Metrics.observe` (the values and the
    EMF members) and joining them onto the log line, as RequestLog does; the best of 7 repeats (the
    least disturbed by the machine's load)."""
    import json
    import timeit

    class Context:
        function_name, aws_request_id = "neural-search", "0" * 36

    scope = {"path": "/api/search", "aws.event": {}, "aws.context": Context()}
    timing = {"mode": "neural", "embed_ms": 1.23, "search_ms": 0.45, "hits": 5, "weak_match": False, "q_chars": 19}
    line = json.dumps({"event": "request", "method": "GET", "path": "/api/search", "status": 200, "total_ms": 2.5, "request_id": "0" * 16, **timing})
    metrics = app.state.metrics

    def one():
        return f"{line[:-1]}, {metrics.observe(scope, 200, 2.5, timing)}}}"

    number = 20_000
    return min(timeit.repeat(one, number=number, repeat=7)) / number * 1e6


if __name__ == "__main__":
    sys.exit(main())
