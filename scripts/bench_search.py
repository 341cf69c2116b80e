"""Per-request latency of handler.lambda_handler (API Gateway event in, response out) on the
embedded Qdrant Edge engine, beside the tutorial's sentence-transformers searcher, in one run.

    python -m scripts.bench_search --vectors DIR [--input ../shared/data/bench_corpus_40k.jsonl]
                                   [--qdrant-path DIR] [--requests 300]

DIR is the output of `python -m scripts.embed` over --input. The collection is uploaded into
--qdrant-path first when it is not there yet (the upload time is printed).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path

from handler.config import env
from scripts.records import BENCH_FILE

EVENT_FILE = Path(__file__).resolve().parents[1] / "infra" / "events" / "http_api_v2.json"
QUERIES = [
    "library for parsing JSON", "3D strategy game", "python bindings for image processing", "command line tool to edit audio",
    "documentation for the GNU C library", "font with Chinese characters", "web server with TLS", "database driver for PostgreSQL",
    "fast compression utility", "scientific plotting package", "password manager", "email client with encryption",
    "network monitoring daemon", "perl module for dates", "haskell web framework", "video player", "spell checker dictionary",
    "machine learning toolkit", "kernel firmware for wifi cards", "backup software with deduplication",
]
CITIES = [None, None, None, "libs", "python", "games"]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_search", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BENCH_FILE)
    parser.add_argument("--vectors", type=Path, required=True)
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args(argv)

    os.environ.update(MODEL_DIR=str(args.model_dir), QDRANT_PATH=str(args.qdrant_path), QDRANT_URL="", COLLECTION_NAME="bench", LOG_LEVEL="WARNING")
    from handler.config import Settings
    from handler.storage import EdgeStorage
    from scripts.upload import load_embedded, upload

    if not (args.qdrant_path / "bench").is_dir():
        _, items, vectors = load_embedded(args.input, args.vectors)
        storage = EdgeStorage(args.qdrant_path, "bench")
        result = upload(storage, items, vectors, batch_size=512)
        storage.close()
        print(f"upload of {result['points']} points into Qdrant Edge: {result['seconds']} s (upsert {result['upsert_seconds']} s, HNSW index {result['index_seconds']} s)")

    started = time.perf_counter()
    import handler.lambda_entry as entry

    init_ms = (time.perf_counter() - started) * 1000
    service = entry.app.state.service
    print(f"init (import handler, load model, open shard of {service.storage.count()} points): {init_ms:.0f} ms; threads: ORT_THREADS={Settings.from_env().ort_threads or 'default'}")

    template = json.loads(EVENT_FILE.read_text())
    events = []
    for i in range(args.requests):
        event = copy.deepcopy(template)
        query, city = QUERIES[i % len(QUERIES)], CITIES[i % len(CITIES)]
        params = {"q": query, **({"city": city} if city else {})}
        event["queryStringParameters"] = params
        event["rawQueryString"] = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in params.items())
        events.append(event)

    for event in events[:20]:  # warm-up
        entry.lambda_handler(event, None)
    totals, embeds, searches = [], [], []
    for event in events:
        start = time.perf_counter()
        response = entry.lambda_handler(event, None)
        totals.append((time.perf_counter() - start) * 1000)
        assert response["statusCode"] == 200, response
        took = json.loads(response["body"])["took_ms"]
        embeds.append(took["embed"])
        searches.append(took["search"])

    rows = [("lambda_handler (ONNX int8 + Qdrant Edge)", embeds, searches, totals)]
    if not args.skip_reference:
        from scripts.reference import load_sentence_transformer

        model = load_sentence_transformer()
        st_embeds, st_searches, st_totals = [], [], []
        for i in range(min(args.requests, 100) + 10):
            query, city = QUERIES[i % len(QUERIES)], CITIES[i % len(CITIES)]
            start = time.perf_counter()
            vector = model.encode(query)  # the tutorial's NeuralSearcher.search
            embedded = time.perf_counter()
            service.storage.search(vector, 5, city)
            done = time.perf_counter()
            if i >= 10:
                st_embeds.append((embedded - start) * 1000)
                st_searches.append((done - embedded) * 1000)
                st_totals.append((done - start) * 1000)
        rows.append(("tutorial searcher (sentence-transformers + same Edge shard, no HTTP layer)", st_embeds, st_searches, st_totals))

    print(f"{'':<78} {'embed p50':>9} {'search p50':>10} {'total p50':>9} {'total p99':>9}")
    for name, e, s, t in rows:
        print(f"{name:<78} {statistics.median(e):>9.2f} {statistics.median(s):>10.2f} {statistics.median(t):>9.2f} {percentile(t, 99):>9.2f}")
    if len(rows) == 2:
        print(f"ratio of total p50 (tutorial / ours): {statistics.median(rows[1][3]) / statistics.median(totals):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
