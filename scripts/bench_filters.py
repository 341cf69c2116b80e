"""What filters cost a search, and what loading a catalogue of another schema costs.

    python -m scripts.bench_filters [--input ../shared/data/pypi_packages_20k.jsonl] [--schema examples/packages.toml]
                                    [--vectors DIR] [--qdrant-path bench_qdrant] [--queries 20] [--rounds 5]

Embeds the catalogue once (into --vectors, reused when present) and loads it into Qdrant Edge and
into the server backend: a Qdrant server when QDRANT_URL is set, else qdrant-client's local mode
(Qdrant's Python implementation of the server API: its times are not a server's, and the table
says so). Then, per backend and mode, the p50 of `SearchService.answer` (the storage step: each
query's vector is computed once beforehand) without filters, with one, and with two (the schema's
first keyword at its commonest value, and its first number's range up to its median), every query
asked --rounds times. Prints the load times and the p50s side by side, with the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from handler.common import Settings, UsageError, cli, env, load_schema, say
from handler.search import SearchRequest, SearchService
from handler.storage import EdgeStorage, Filters, read_records
from reference import PACKAGES_FILE
from scripts import benchkit

COLLECTION = "bench_filters"
QUERIES = [
    "parse command line arguments", "read excel files", "retry failed http requests", "http client", "testing framework", "yaml parser",
    "image processing", "database migrations", "async web framework", "machine learning", "plot charts", "pdf text extraction",
    "send email", "date and time parsing", "progress bar", "json schema validation", "aws sdk", "web scraping", "type checking", "logging",
]


def filters_of(records, schema) -> tuple[Filters, Filters]:
    """One filter (the first keyword at its commonest value) and two (plus the first number up to its median)."""
    if not schema.keywords or not schema.ranges:
        raise UsageError(f"{schema.source} needs a keyword field and a number field for this benchmark")
    keyword, number = schema.keywords[0], next(iter(schema.ranges))
    values = [r.data.get(keyword) for r in records if r.data.get(keyword)]
    commonest = max(set(values), key=values.count)
    median = statistics.median(r.data[number] for r in records if r.data.get(number) is not None)
    one = Filters.of({keyword: [commonest]})
    return one, Filters.of({keyword: [commonest]}, {number: (None, median)})


def p50_ms(service, vectors, filters, mode: str, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        for q, vector in zip(QUERIES, vectors):
            request = SearchRequest(q, 10, filters, mode)
            started = time.perf_counter()
            service.answer(request, None if mode == "text" else vector)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_filters", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=PACKAGES_FILE)
    parser.add_argument("--schema", default=env("SCHEMA_FILE") or str(benchkit.ROOT / "examples" / "packages.toml"))
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    from handler.model import Encoder
    from handler.storage import ServerStorage
    from scripts.embed import embed_file
    from scripts.upload import load_embedded, upload

    benchkit.existing_file(args.input)
    schema = load_schema(args.schema)
    records, _ = read_records(args.input, schema)
    queries = QUERIES[: args.queries]
    vectors_dir = args.vectors or args.qdrant_path.absolute() / f"{args.input.stem}-filters-vectors"
    encoder = Encoder.from_export(args.model_dir)
    if not (vectors_dir / "report.json").is_file():
        say(f"embedding {len(records)} records of {args.input.name} into {vectors_dir} (once)")
        report = embed_file(args.input, vectors_dir, encoder, schema=schema, progress=False)
        print(f"embedded {report['embedded']} records in {report['seconds']} s ({report['texts_per_second']} texts/s, {report['variant']})")
    schema, items, matrix = load_embedded(args.input, vectors_dir, schema)
    say(f"{len(items)} records of {args.input.name} ({schema.source}); {benchkit.cpu_name()}, Python {sys.version.split()[0]}")

    edge_root = args.qdrant_path.absolute() / f"{args.input.stem}-filters"
    backends = []
    edge = EdgeStorage(edge_root, COLLECTION, schema)
    if edge.collection_info() is not None:
        edge._drop()
    backends.append(("Qdrant Edge", edge))
    if env("QDRANT_URL"):
        backends.append(("Qdrant server", ServerStorage(env("QDRANT_URL"), COLLECTION, env("QDRANT_API_KEY") or None, schema=schema)))
    else:
        from qdrant_client import QdrantClient  # the server backend's client; its local mode stands in for a server here

        backends.append(("local mode (qdrant-client's Python engine, not a server)",
                         ServerStorage("http://local-mode.invalid:6333", COLLECTION, client_factory=lambda: QdrantClient(":memory:"), schema=schema)))
    one, two = filters_of(records, schema)
    vectors = encoder.embed(queries)
    settings = replace(Settings.from_env(), schema=schema, collection_name=COLLECTION, query_cache_size=0)
    rows = []
    for name, storage in backends:
        started = time.perf_counter()
        result = upload(storage, items, matrix, schema=schema, batch_size=256, recreate=True)
        load_s = time.perf_counter() - started
        service = SearchService(settings, encoder, storage)
        for mode in ("neural", "hybrid", "text"):
            times = [p50_ms(service, vectors, filters, mode, args.rounds) for filters in (Filters(), one, two)]
            rows.append((name, mode, load_s, result["points"], *times))
        storage.close()
    print(f"filters: one = {one.keywords}; two = {one.keywords} and {two.ranges} (AND)")
    print(f"{'backend':<58} {'mode':<7} {'load s':>7} {'points':>7} {'no filter':>10} {'one':>8} {'two':>8}  (p50 ms of the storage step)")
    for name, mode, load_s, points, none, first, second in rows:
        print(f"{name:<58} {mode:<7} {load_s:>7.1f} {points:>7} {none:>10.2f} {first:>8.2f} {second:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
