"""Search-quality report, as Qdrant's "Measure Search Quality" tutorial does it: what HNSW costs in
recall against exact search, at the default beam width and others, with the latency of each; and
how far the served variant's query vectors (the manifest's CPU default) move results from fp32's.

    python -m scripts.quality [--input ../shared/data/bench_corpus_40k.jsonl] [--vectors DIR]
                              [--limit N] [--queries 300] [--json quality.json]

The collection is the input's records, embedded (or --vectors reused) and uploaded into its own
Qdrant Edge directory. Queries are the `alt` line of --queries records spread over the input (a
package's one-line summary): each of those records was embedded from `alt. description`, so no
query is the exact text of a point. precision@10 = the share of exact search's top 10 that the
HNSW search returns (Qdrant's definition); "exact agreeing with itself" is printed as a check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from handler.common import UsageError, cli, env, load_schema, say
from handler.storage import read_records
from reference import BENCH_FILE
from scripts import benchkit

COLLECTION = "quality"
EFS = (None, 16, 64, 256)  # None: the collection's default (ef_construct, 100)
K = 10


def overlap(a: list[str], b: list[str]) -> float:
    return len(set(a) & set(b)) / max(len(b), 1)


def timed_search(storage, vector, **params) -> tuple[list[str], float]:
    started = time.perf_counter()
    hits = storage.search(vector, K, **params)
    return [h.id for h in hits], (time.perf_counter() - started) * 1000


def measure(storage, served_vectors, fp32_vectors, variant: str) -> dict:
    exact = [timed_search(storage, v, exact=True) for v in served_vectors]
    exact_ids = [ids for ids, _ in exact]
    report = {"queries": len(exact_ids), "k": K, "exact": {
        "precision@10": statistics.mean(overlap(timed_search(storage, v, exact=True)[0], ids) for v, ids in zip(served_vectors[:50], exact_ids)),
        "latency_ms_p50": statistics.median(ms for _, ms in exact),
    }, "hnsw": []}
    for ef in EFS:
        runs = [timed_search(storage, v, hnsw_ef=ef) for v in served_vectors]
        report["hnsw"].append({
            "hnsw_ef": ef if ef is not None else "default",
            "precision@10": statistics.mean(overlap(ids, truth) for (ids, _), truth in zip(runs, exact_ids)),
            "latency_ms_p50": statistics.median(ms for _, ms in runs),
        })
    fp32_exact = [timed_search(storage, v, exact=True)[0] for v in fp32_vectors]
    report["served_vs_fp32_queries"] = {"variant": variant,
                                        "top10_overlap_of_results": statistics.mean(overlap(a, b) for a, b in zip(exact_ids, fp32_exact))}
    return report


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BENCH_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines of --input (for a quick run)")
    parser.add_argument("--vectors", type=Path, default=None, help="scripts.embed output for the same input and limit, reused when present")
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    benchkit.existing_file(args.input)
    if args.queries < 1 or (args.limit is not None and args.limit < K + 1):
        raise UsageError(f"--queries must be >= 1 and --limit >= {K + 1}")

    from handler.model import Encoder
    from handler.storage import EdgeStorage

    source = args.input
    if args.limit is not None:
        with open(args.input, "rb") as handle:
            lines = [line for _, line in zip(range(args.limit), handle)]
        source = Path(tempfile.mkdtemp(prefix="quality-")) / f"{args.input.stem}-first{args.limit}.jsonl"
        source.write_bytes(b"".join(lines))
    qdrant_path = (args.qdrant_path / f"{source.stem}-quality").absolute()
    vectors = args.vectors or qdrant_path.parent / f"{qdrant_path.name}-vectors"
    started = time.perf_counter()
    schema = load_schema(args.schema)
    points = benchkit.ensure_shard(source, vectors, qdrant_path, COLLECTION, args.model_dir, schema)
    say(f"{points} points ready in {time.perf_counter() - started:.1f} s ({source.name}); {benchkit.cpu_name()}")

    records, _ = read_records(source, schema)
    step = max(1, len(records) // args.queries)
    # a query per sampled record: its second text field (the startups' `alt` line), else its title
    field = next((name for name in schema.of_type("text") if name != schema.title), schema.title)
    queries = [str(r.data[field]) for r in records[::step] if str(r.data.get(field) or "").strip()][: args.queries]
    served = Encoder.from_export(args.model_dir)  # what the service embeds queries with on this CPU
    fp32 = Encoder.from_export(args.model_dir, "fp32").embed(queries)
    storage = EdgeStorage(qdrant_path, COLLECTION, schema)
    try:
        report = measure(storage, served.embed(queries), fp32, served.variant)
    finally:
        storage.close()
    report.update(points=points, input=source.name, cpu=benchkit.cpu_name())

    print(f"{len(queries)} queries (records' alt lines) on {points} points, top {K}")
    print(f"{'search':<22} {'precision@10':>13} {'p50 ms':>8}")
    print(f"{'exact (reference)':<22} {report['exact']['precision@10']:>13.4f} {report['exact']['latency_ms_p50']:>8.3f}")
    for row in report["hnsw"]:
        print(f"{'HNSW ef=' + str(row['hnsw_ef']):<22} {row['precision@10']:>13.4f} {row['latency_ms_p50']:>8.3f}")
    versus = report["served_vs_fp32_queries"]
    print(f"{versus['variant']} (served) vs fp32 query vectors, exact search: top-10 overlap of results {versus['top10_overlap_of_results']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
