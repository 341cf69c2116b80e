"""Warm per-request latency: handler.lambda_handler (API Gateway event in, response out) and the
service's own search() on the embedded Qdrant Edge engine, beside the tutorial's searcher
(sentence-transformers encode + the same shard), each engine in its own process, in one run: on
every core, and on one core (pinned with taskset, one thread per engine: Lambda at <= 1,769 MB
has one vCPU). The query cache is off (QUERY_CACHE_SIZE=0) for every figure but the last row,
which times the same requests answered from the cache (a hit), apart from the speed-ups.

    python -m scripts.bench_search [--input FILE] [--vectors DIR] [--qdrant-path DIR] [--cores all,1]
                                   [--requests 300] [--baseline CHECKOUT] [--skip-reference]

--input defaults to the startups sample (259 records); ../shared/data/bench_corpus_40k.jsonl is
the tutorial's scale (embedded once into --vectors when that has no vectors yet). --baseline
times an older checkout of this project on the same shard and queries (e.g. `git worktree add
/tmp/before <commit>`), so before and after come from one run on one machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from handler.common import ENV, UsageError, cli, env, load_schema, say
from reference import SAMPLE_FILE
from scripts import benchkit

COLLECTION = "bench"

# Runs in a checkout's root: only handler.lambda_entry and the service's search() are used, which
# every version of this project has.
HANDLER_CHILD = """
import json, sys, time
events = json.load(open(sys.argv[1]))
import handler.lambda_entry as entry
service = entry.app.state.service
try:  # the filters of any schema (this checkout)
    from handler.storage import Filters
    search = lambda q: service.search(q["q"], limit=5, mode="neural", filters=Filters.of({k: [v] for k, v in q.items() if k not in ("q", "mode")}))
except ImportError:  # an older checkout: the startups' city
    search = lambda q: service.search(q["q"], limit=5, city=q.get("city"), mode="neural")
for event in events[:30] if len(sys.argv) < 3 else events:  # "hits": a first pass fills the query cache
    entry.lambda_handler(event, None); search(event["queryStringParameters"])
handler_ms, service_ms = [], []
for i, event in enumerate(events):  # the handler first, then the service first, by turns: neither always finds the caches warm
    if i % 2:
        start = time.perf_counter(); search(event["queryStringParameters"]); service_ms.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter(); response = entry.lambda_handler(event, None); handler_ms.append((time.perf_counter() - start) * 1000)
    assert response["statusCode"] == 200, response
    if not i % 2:
        start = time.perf_counter(); search(event["queryStringParameters"]); service_ms.append((time.perf_counter() - start) * 1000)
body = json.loads(response["body"])
print(json.dumps({"handler_ms": handler_ms, "service_ms": service_ms, "server_timing": {k.lower(): v for k, v in response["headers"].items()}.get("server-timing")}))
"""

TUTORIAL_CHILD = """
import json, sys, time
events = json.load(open(sys.argv[1]))
if sys.argv[4:] == ["1"]:
    import torch; torch.set_num_threads(1)  # one thread per engine, as ORT_THREADS=1 for ours
from handler.common import Settings
from handler.storage import EdgeStorage, Filters
from reference import TutorialSearcher
searcher = TutorialSearcher(EdgeStorage(sys.argv[2], sys.argv[3], Settings.from_env().schema))
queries = [e["queryStringParameters"] for e in events][:150]
filters = [Filters.of({k: [v] for k, v in q.items() if k not in ("q", "mode")}) for q in queries]
for q, f in list(zip(queries, filters))[:20]:
    searcher.storage.search(searcher.model.encode(q["q"]), 5, f)
total_ms, embed_ms = [], []
for q, f in zip(queries, filters):
    start = time.perf_counter(); vector = searcher.model.encode(q["q"]); embedded = time.perf_counter()
    searcher.storage.search(vector, 5, f); done = time.perf_counter()
    total_ms.append((done - start) * 1000); embed_ms.append((embedded - start) * 1000)
print(json.dumps({"total_ms": total_ms, "embed_ms": embed_ms}))
"""


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_search", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--vectors", type=Path, default=None, help="scripts.embed output for --input (made when absent)")
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--baseline-model-dir", type=Path, default=None, help="the baseline's export (default: --model-dir)")
    parser.add_argument("--baseline", default=None, help="another checkout of this project to time on the same workload")
    parser.add_argument("--skip-reference", action="store_true", help="leave the tutorial's searcher out")
    parser.add_argument("--cores", default="all,1", help="comma-separated: all (every core) and/or 1 (pinned to core 0, one thread per engine)")
    args = parser.parse_args(argv)
    core_runs = [c.strip() for c in args.cores.split(",") if c.strip()]
    if not core_runs or set(core_runs) - {"all", "1"}:
        raise UsageError(f"--cores takes all and/or 1, got {args.cores!r}")
    if "1" in core_runs and not shutil.which("taskset"):
        raise UsageError("--cores 1 needs taskset (util-linux) to pin the processes to one core")

    qdrant_path = (args.qdrant_path / args.input.stem).absolute()
    schema = load_schema(args.schema)
    points = benchkit.ensure_shard(args.input, args.vectors, qdrant_path, COLLECTION, args.model_dir, schema)
    # mode=neural on both sides: the handler's work is then exactly service.search()'s, so the
    # difference is the framework's (and an older checkout knows that mode).
    queries = benchkit.workload(args.input, args.requests, mode="neural", schema=schema)
    events_file = benchkit.write_events([benchkit.http_api_event(q) for q in queries])
    child_env = {"MODEL_DIR": str(args.model_dir.absolute()), "QDRANT_PATH": str(qdrant_path), "QDRANT_URL": "", "TIMING_DETAILS": "1", "COLLECTION_NAME": COLLECTION, **benchkit.schema_env(args.schema),
                 "LOG_LEVEL": "WARNING", "QUERY_CACHE_SIZE": "0"}
    say(f"{len(queries)} requests on {points} points ({args.input.name}), {benchkit.cpu_name()}, Python {sys.version.split()[0]}")

    rows = []  # (name, samples, the tutorial's p50 to compare with, or None)
    checkouts = [("this checkout", benchkit.ROOT)] + ([("baseline " + args.baseline, benchkit.checkout(args.baseline))] if args.baseline else [])
    for cores in core_runs:
        pin = ["taskset", "-c", "0"] if cores == "1" else []
        core_env = {"ORT_THREADS": "1"} if cores == "1" else {}
        where = "1 core" if cores == "1" else f"{os.cpu_count()} cores"
        reference = tutorial_ms = None
        if not args.skip_reference:
            tutorial, _ = benchkit.run_child(TUTORIAL_CHILD, str(events_file), str(qdrant_path), COLLECTION, cores, cwd=benchkit.ROOT, env=child_env, prefix=pin)
            tutorial_ms = tutorial["total_ms"]
            reference = benchkit.median(tutorial_ms)
        for label, root in checkouts:
            model_env = {"MODEL_DIR": str((args.baseline_model_dir or args.model_dir).absolute())} if root != benchkit.ROOT else {}
            result, _ = benchkit.run_child(HANDLER_CHILD, str(events_file), cwd=root, env={**child_env, **core_env, **model_env}, prefix=pin)
            handler_ms, service_ms = result["handler_ms"], result["service_ms"]
            rows.append((f"lambda_handler, {label}, {where}", handler_ms, reference))
            rows.append((f"service.search(), {label}, {where}", service_ms, reference))
            rows.append((f"  framework overhead (handler - service p50), {label}, {where}", [benchkit.median(handler_ms) - benchkit.median(service_ms)], None))
            if result.get("server_timing"):
                say(f"Server-Timing of the last response ({label}, {where}): {result['server_timing']}")
        if tutorial_ms is not None:
            rows.append((f"tutorial searcher (sentence-transformers encode + same Edge shard), {where}", tutorial_ms, None))
    hits, _ = benchkit.run_child(HANDLER_CHILD, str(events_file), "hits", cwd=benchkit.ROOT, env={**child_env, "QUERY_CACHE_SIZE": ENV["QUERY_CACHE_SIZE"][0]})
    rows.append(("lambda_handler, this checkout, query cache hit (not a speed-up: the model is skipped)", hits["handler_ms"], None))

    width = max(len(name) for name, _, _ in rows) + 1
    print(f"{'':<{width}} {'p50 ms':>8} {'p99 ms':>8} {'tutorial / this':>16}")
    for name, samples, reference in rows:
        p50 = benchkit.median(samples)
        p99 = f"{benchkit.percentile(samples, 99):>8.2f}" if len(samples) > 1 else f"{'':>8}"
        ratio = f"{reference / p50:>15.1f}x" if reference and len(samples) > 1 else ""
        print(f"{name:<{width}} {p50:>8.2f} {p99} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
