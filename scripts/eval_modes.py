"""Search quality of the three modes on a catalogue: neural vs text vs hybrid.

    python -m scripts.eval_modes [--input ../shared/data/startups_sample.jsonl] [--schema FILE] [--vectors DIR] [--sweep | --long]

The query sets of the catalogue (`scripts.query_sets`, by the schema's collection), each query
with the records it should find:
- titles: a record's title as typed (every record's, or the set's TITLES), then the same titles
  spelled apart (punctuation as spaces, capitalised), typed part-way (the last two characters
  left out) and with a slip (two neighbouring letters of the longest word swapped);
- meaning: a need in other words, with the titles a person would accept.
Prints hits@1, hits@5 and MRR per mode and set (the share of queries whose record is first / in
the top 5; the mean of 1/rank within the top 5), and writes them as JSON with --json FILE.
`--long` measures QUERY_MAX_TOKENS instead: neural and hybrid on the catalogue's LONG set
(paragraph-long queries) under each token limit (`--limits`), one service started per limit as the
setting starts it (its own query cache, so no vector embedded under another limit is served), with
the tokens each query is embedded from (median, max) and the model's time per query at each limit
(`Encoder.embed_one`, the best of `--rounds`, the limits taken in turn in each round).
`--sweep` evaluates hybrid's fusion instead: RRF's k and DBSF at each prefetch depth, on the meaning
and title sets. It embeds and uploads the input into its own Qdrant Edge directory when that is
empty (`--vectors DIR` uploads an embed run of yours instead, for example one made with another
`--text-template`; give it its own `--qdrant-path`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from handler.common import UsageError, cli, env, say, title_key
from handler.search import MODES
from handler.storage import Fusion, read_records
from reference import SAMPLE_FILE
from scripts import benchkit
from scripts.query_sets import for_collection

COLLECTION = "eval"
SWEEP = ([Fusion("rrf", k, depth, 1.0) for depth in (40, 100, 200) for k in (1, 2, 5, 20, 60)] + [Fusion("dbsf", 60, depth, 1.0) for depth in (40, 100, 200)]
         + [Fusion(method, k, depth, words) for method, k in (("rrf", 2), ("rrf", 5), ("rrf", 20), ("rrf", 60), ("dbsf", 60)) for depth in (40, 100)
            for words in (0.7, 0.5, 0.3, 0.2, 0.1)])


def spelled_apart(title: str) -> str:
    return " ".join(word.capitalize() for word in re.split(r"[\W_]+", title) if word)


def typed_part_way(title: str) -> str:
    """The title up to its last two letters or digits (what the search box holds just before it is typed out)."""
    ends = [m.start() for m in re.finditer(r"[^\W_]", title)]
    return title[:ends[-2]].rstrip() if len(ends) > 2 else title


def with_a_slip(title: str) -> str:
    """Two neighbouring letters in the middle of the title's longest word swapped (the title
    unchanged when no word has two different neighbours)."""
    words = [(m.start(), m.group()) for m in re.finditer(r"[^\W\d_]{3,}", title)]
    if not words:
        return title
    start, word = max(words, key=lambda item: len(item[1]))
    i = len(word) // 2 - 1
    while i + 1 < len(word) and word[i] == word[i + 1]:
        i += 1
    if i + 1 >= len(word):
        return title
    slipped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return title[:start] + slipped + title[start + len(word):]


TITLE_VARIANTS = {"titles": str, "titles spelled apart": spelled_apart, "titles typed part-way": typed_part_way, "titles with a slip": with_a_slip}


def hits_at(service, queries: list[tuple[str, tuple[str, ...]]], mode: str) -> dict:
    """hits@1, hits@5 and MRR (within the top 5) of queries, each with the titles it may find
    (compared by their keys: `handler.common.title_key`)."""
    first = top5 = reciprocal = 0.0
    title = service.settings.schema.title
    for query, expected in queries:
        keys = {title_key(t) for t in expected}
        found = service.search(query, limit=5, mode=mode)
        titles = [title_key(str(hit.payload.get(title) or "")) for hit in found.hits]
        rank = next((i for i, t in enumerate(titles, 1) if t in keys), None)
        first += rank == 1
        top5 += rank is not None
        reciprocal += 1 / rank if rank else 0
    n = max(len(queries), 1)
    return {"hits@1": first / n, "hits@5": top5 / n, "mrr": reciprocal / n, "queries": len(queries)}


def query_sets(service, input_path: Path) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """The catalogue's sets: each title variant (of its TITLES, or of every record's title) and
    its meaning queries (with the accepted titles it holds)."""
    schema = service.settings.schema
    records, _ = read_records(input_path, schema)
    known = {str(r.data.get(schema.title) or "") for r in records}
    sets = for_collection(schema.collection)
    titles = list(sets.TITLES) if sets is not None and sets.TITLES is not None else sorted(t for t in known if t.strip())
    found = {name: [(variant(t), (t,)) for t in titles if variant(t) != t or name == "titles"] for name, variant in TITLE_VARIANTS.items()}
    meaning = [(q, tuple(t for t in accepted if t in known)) for q, accepted in (sets.MEANING if sets is not None else [])]
    found["meaning"] = [(q, accepted) for q, accepted in meaning if accepted]
    return found


def evaluate(service, input_path: Path, modes=MODES) -> dict:
    sets = query_sets(service, input_path)
    return {mode: {name: hits_at(service, queries, mode) for name, queries in sets.items()} for mode in modes}


def sweep(service, input_path: Path) -> list[dict]:
    """Hybrid's figures under each fusion of SWEEP (the storage's fusion put back after)."""
    sets = query_sets(service, input_path)
    rows, kept = [], service.storage.fusion
    try:
        for fusion in SWEEP:
            service.storage.fusion = fusion
            rows.append({"fusion": fusion.method, "k": fusion.k, "depth": fusion.depth, "words": fusion.words,
                         **{name: hits_at(service, sets[name], "hybrid") for name in ("meaning", "titles", "titles typed part-way", "titles with a slip")}})
    finally:
        service.storage.fusion = kept
    return rows


LIMITS = (16, 32, 48, 64, 96, 128, 192, 256)
LONG_MODES = ("neural", "hybrid")  # text mode reads the whole query whatever the limit


def long_queries(service, input_path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The catalogue's LONG set, each query with the accepted titles the input holds."""
    schema = service.settings.schema
    records, _ = read_records(input_path, schema)
    known = {str(r.data.get(schema.title) or "") for r in records}
    sets = for_collection(schema.collection)
    found = [(q, tuple(t for t in accepted if t in known)) for q, accepted in getattr(sets, "LONG", None) or []]
    if not any(accepted for _, accepted in found):
        raise UsageError(f"the query sets of collection '{schema.collection}' have no LONG queries with answers in {input_path}")
    return [(q, accepted) for q, accepted in found if accepted]


def by_token_limit(start, input_path: Path, limits=LIMITS, count: int | None = None, rounds: int = 3) -> list[dict]:
    """neural and hybrid on LONG under each QUERY_MAX_TOKENS, one service each (`start(limit)`),
    with the tokens embedded and the model's best time per query (limits in turn in each round)."""
    rows, encoders, queries = [], {}, None
    for limit in limits:
        service = start(limit)
        try:
            queries = queries or long_queries(service, input_path)[:count]
            tokens = [len(service.encoder.tokenizer.encode(q).ids) for q, _ in queries]
            rows.append({"limit": limit, "variant": service.encoder.variant, "ort_threads": service.settings.ort_threads,
                         "tokens_median": statistics.median(tokens), "tokens_max": max(tokens),
                         **{mode: hits_at(service, queries, mode) for mode in LONG_MODES}})
            encoders[limit] = service.encoder
        finally:
            service.storage.close()
    best = {limit: [float("inf")] * len(queries) for limit in limits}
    for turn in range(rounds):  # each round starts at another limit: the machine's drift touches each alike
        for limit in limits[turn % len(limits):] + limits[:turn % len(limits)]:
            for i, (q, _) in enumerate(queries):
                started = time.perf_counter()
                encoders[limit].embed_one(q)
                best[limit][i] = min(best[limit][i], time.perf_counter() - started)
    for row in rows:
        row["ms_per_query"] = 1000 * statistics.mean(best[row["limit"]])
    return rows


def print_long(rows: list[dict]) -> None:
    print(f"{'QUERY_MAX_TOKENS':>16} {'tokens median':>13} {'max':>4} " + " ".join(f"{m + ' hits@1':>13} {m + ' hits@5':>13} {m + ' MRR':>10}" for m in LONG_MODES)
          + f" {'model ms/query':>14}")
    for row in rows:
        print(f"{row['limit']:>16} {row['tokens_median']:>13g} {row['tokens_max']:>4} "
              + " ".join(f"{row[m]['hits@1']:>13.3f} {row[m]['hits@5']:>13.3f} {row[m]['mrr']:>10.3f}" for m in LONG_MODES) + f" {row['ms_per_query']:>14.2f}")
    print(f"({rows[0]['neural']['queries']} LONG queries; model time: the best of the rounds, mean over the queries)")


def start_service(input_path: Path, vectors: Path | None, qdrant_path: Path, model_dir: Path, schema_file: str = "", **overrides):
    """A SearchService over the input's records in a Qdrant Edge directory of its own under
    `qdrant_path` (embedded and uploaded the first time; `vectors` reuses an embed run), its
    settings replaced by `overrides` (for example query_max_tokens)."""
    from dataclasses import replace

    from handler.common import CollectionOutdated, SchemaMismatch, Settings, load_schema
    from handler.search import SearchService
    from handler.storage import EdgeStorage

    schema = load_schema(schema_file)
    shard_path = (qdrant_path / f"{input_path.stem}-eval").absolute()
    benchkit.ensure_shard(input_path, vectors, shard_path, COLLECTION, model_dir, schema)
    storage = EdgeStorage(shard_path, COLLECTION, schema)
    try:
        storage.check_layout()
    except (CollectionOutdated, SchemaMismatch) as exc:
        raise UsageError(f"'{shard_path}' holds an evaluation collection of an earlier layout or another schema; delete {shard_path}* and run again") from exc
    finally:
        storage.close()
    settings = replace(Settings.from_env(), model_dir=str(model_dir), qdrant_path=str(shard_path), qdrant_url="", collection_name=COLLECTION,
                       log_level="WARNING", schema=schema, **overrides)
    return SearchService.start(settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--vectors", type=Path, default=None, help="an embed run of --input to upload (default: embedded once, with the default template)")
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.eval_modes", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--sweep", action="store_true", help="hybrid under each fusion (RRF k, DBSF) and prefetch depth instead of the modes")
    parser.add_argument("--long", action="store_true", help="neural and hybrid on the LONG set under each QUERY_MAX_TOKENS instead of the modes")
    parser.add_argument("--limits", default=None, help=f"with --long: the token limits (default {','.join(map(str, LIMITS))})")
    parser.add_argument("--queries", type=int, default=None, help="with --long: only the first N queries of LONG")
    parser.add_argument("--rounds", type=int, default=3, help="with --long: timing rounds (the best is kept)")
    args = parser.parse_args(argv)
    if args.sweep and args.long:
        raise UsageError("--sweep and --long are two evaluations: give one")
    if args.long:
        return main_long(args)
    service = start_service(args.input, args.vectors, args.qdrant_path, args.model_dir, args.schema)
    try:
        figures = sweep(service, args.input) if args.sweep else evaluate(service, args.input)
    finally:
        service.storage.close()
    say(f"{args.input.name} ({service.settings.schema.source}), model variant {service.encoder.variant}")
    if args.sweep:
        print(f"{'fusion':<6} {'k':>3} {'depth':>5} {'BM25 weight':>11} {'meaning hits@1':>15} {'meaning hits@5':>15} {'meaning MRR':>12} {'titles hits@1':>14} "
              f"{'part-way hits@5':>16} {'slip hits@5':>12}")
        for row in figures:
            meaning = row["meaning"]
            print(f"{row['fusion']:<6} {row['k'] if row['fusion'] == 'rrf' else '':>3} {row['depth']:>5} {row['words']:>11} {meaning['hits@1']:>15.3f} {meaning['hits@5']:>15.3f} "
                  f"{meaning['mrr']:>12.3f} {row['titles']['hits@1']:>14.3f} {row['titles typed part-way']['hits@5']:>16.3f} {row['titles with a slip']['hits@5']:>12.3f}")
        print(f"({figures[0]['meaning']['queries']} meaning queries, {figures[0]['titles']['queries']} titles)")
    else:
        names = list(next(iter(figures.values())))
        print(f"{'mode':<8} {'set':<22} {'hits@1':>7} {'hits@5':>7} {'MRR':>6} {'queries':>8}")
        for mode, sets in figures.items():
            for name in names:
                row = sets[name]
                print(f"{mode:<8} {name:<22} {row['hits@1']:>7.3f} {row['hits@5']:>7.3f} {row['mrr']:>6.3f} {row['queries']:>8}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def parse_limits(text: str | None) -> tuple[int, ...]:
    if text is None:
        return LIMITS
    try:
        limits = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--limits must be whole numbers separated by commas, got '{text}'") from None
    if not limits or min(limits) < 8:
        raise UsageError(f"--limits must each be at least 8 (QUERY_MAX_TOKENS' least), got '{text}'")
    return limits


def main_long(args) -> int:
    limits = parse_limits(args.limits)
    if args.queries is not None and args.queries < 1 or args.rounds < 1:
        raise UsageError("--queries and --rounds must be at least 1")
    rows = by_token_limit(lambda limit: start_service(args.input, args.vectors, args.qdrant_path, args.model_dir, args.schema, query_max_tokens=limit),
                          args.input, limits, args.queries, args.rounds)
    say(f"{args.input.name}, model variant {rows[0]['variant']}, {rows[0]['ort_threads'] or 'all'} onnxruntime threads")
    print_long(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
