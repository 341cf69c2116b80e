"""Search quality of the three modes on a catalogue: neural vs text vs hybrid.

    python -m scripts.eval_modes [--input ../shared/data/startups_sample.jsonl] [--schema FILE] [--vectors DIR]

Two query sets, each with the record it should find:
- titles: every record's title alone (what a user types to find one they know: a startup's name);
- meaning: descriptions in other words (the tutorial's kind of query, written to share few
  words with the answer, so full-text matching has little to hold on to), from MEANING_SETS by
  the schema's collection (none for a catalogue without a set).
Prints hits@1, hits@5 and MRR per mode and set (the share of queries whose record is first / in
the top 5; the mean of 1/rank within the top 5), and writes them as JSON with --json FILE. It embeds and uploads the sample into its own
Qdrant Edge directory when that is empty (`--vectors DIR` uploads an embed run of yours instead,
for example one made with another `--text-template`; give it its own `--qdrant-path`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from handler.common import UsageError, cli, env, say
from handler.search import MODES
from handler.storage import read_records
from reference import SAMPLE_FILE
from scripts import benchkit

COLLECTION = "eval"

# (query, the startup it should find): paraphrases written for this check, not copied text.
MEANING = [
    ("QR codes for restaurants during COVID", "SaferCodes"),
    ("personalized online shopping for fashion and lifestyle", "StyleSeek"),
    ("physician referrals inside hospitals", "Human Practice"),
    ("add a mobile network connection to any hardware gadget", "Konekt"),
    ("business intelligence for schools and teachers", "learnmetrics"),
    ("start your own marketplace for trading raw materials", "Exchangery"),
    ("browse your friends' pictures from every social network in one place", "Pictarine"),
    ("software that lowers energy costs of power plants", "Root3 Technologies"),
    ("help employees choose their health insurance benefits", "Spotlite"),
    ("book golf tee times and earn rewards", "Golfmiles"),
    ("get rewarded for good deeds", "GoodPays.me"),
    ("plan trips by saving places and comparing flight prices", "Tripnary"),
    ("notifications about discounted airfare", "NowBoarding ✈️"),
    ("book a hairdresser who comes to your home", "Stylisted"),
    ("rent college course books by the day", "Packback"),
    ("sell unwanted store vouchers to other people", "Raise"),
    ("behavioural therapy help for kids with developmental disorders", "Special Learning, Inc."),
    ("compare electricity suppliers to cut your power bill", "Power2Switch (acquired by Choose Energy)"),
    ("property owners renting out homes without an agent", "Rentalutions"),
    ("tip writers with tiny donations for their articles", "CentUp"),
    ("discounted supplies for puppies and their owners", "Doggyloot"),
    ("video job interviews to screen applicants", "RIVS"),
    ("nutrition for people who cannot swallow", "Real Food Blends"),
    ("monitor custom metrics of your application", "StatHat"),
    ("find a film to watch through friends' recommendations", "MyZeus"),
    ("get found on Google without hiring an agency", "UpCity (formerly DIYSEO)"),
    ("recycling water from oil wells", "Digital H2O"),
    ("reserve a table tonight at a discount", "TableSAVVY"),
    ("rent a luxury holiday home", "Vaystays"),
    ("buy and sell used sofas near you", "Furnishly"),
    ("create interactive stories for kids without programming", "Demibooks"),
    ("private social network for nurses and hospitals", "dxcare"),
]


# The meaning queries of each catalogue, by its schema's collection: (query, the titles a person would accept).
MEANING_SETS = {"startups": [(q, (name,)) for q, name in MEANING]}


def hits_at(service, queries: list[tuple[str, tuple[str, ...]]], mode: str) -> dict:
    """hits@1, hits@5 and MRR (within the top 5) of queries, each with the titles it may find."""
    first = top5 = reciprocal = 0.0
    title = service.settings.schema.title
    for query, expected in queries:
        found = service.search(query, limit=5, mode=mode)
        titles = [hit.payload.get(title) for hit in found.hits]
        rank = next((i for i, t in enumerate(titles, 1) if t in expected), None)
        first += rank == 1
        top5 += rank is not None
        reciprocal += 1 / rank if rank else 0
    n = max(len(queries), 1)
    return {"hits@1": first / n, "hits@5": top5 / n, "mrr": reciprocal / n, "queries": len(queries)}


def evaluate(service, input_path: Path, meaning_set: list | None = None) -> dict:
    schema = service.settings.schema
    records, _ = read_records(input_path, schema)
    titles = [(str(r.data[schema.title]), (str(r.data[schema.title]),)) for r in records if str(r.data.get(schema.title) or "").strip()]
    known = {str(r.data.get(schema.title)) for r in records}
    meaning = [(q, tuple(t for t in accepted if t in known)) for q, accepted in (meaning_set if meaning_set is not None else MEANING_SETS.get(schema.collection, []))]
    meaning = [(q, accepted) for q, accepted in meaning if accepted]
    return {mode: {"names": hits_at(service, titles, mode), "meaning": hits_at(service, meaning, mode)} for mode in MODES}


def start_service(input_path: Path, vectors: Path | None, qdrant_path: Path, model_dir: Path, schema_file: str = ""):
    """A SearchService over the input's records in a Qdrant Edge directory of its own under
    `qdrant_path` (embedded and uploaded the first time; `vectors` reuses an embed run)."""
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
                       log_level="WARNING", schema=schema)
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
    args = parser.parse_args(argv)
    service = start_service(args.input, args.vectors, args.qdrant_path, args.model_dir, args.schema)
    try:
        figures = evaluate(service, args.input)
    finally:
        service.storage.close()
    say(f"{args.input.name}, model variant {service.encoder.variant}")
    print(f"{'mode':<8} {'titles hits@1':>14} {'titles hits@5':>14} {'titles MRR':>11} {'meaning hits@1':>15} {'meaning hits@5':>15} {'meaning MRR':>12}")
    for mode, sets in figures.items():
        names, meaning = sets["names"], sets["meaning"]
        print(f"{mode:<8} {names['hits@1']:>14.3f} {names['hits@5']:>14.3f} {names['mrr']:>11.3f} "
              f"{meaning['hits@1']:>15.3f} {meaning['hits@5']:>15.3f} {meaning['mrr']:>12.3f}")
    print(f"({figures['neural']['names']['queries']} title queries, {figures['neural']['meaning']['queries']} meaning queries)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
