"""Search quality of the three modes on the startups sample: neural vs text vs hybrid.

    python -m scripts.eval_modes [--input ../shared/data/startups_sample.jsonl] [--vectors DIR]

Two query sets, each with the startup it should find:
- names: every startup's name alone (what a user types to find one they know);
- meaning: descriptions in other words (the tutorial's kind of query; none shares a rare word
  with its answer, so full-text matching has little to hold on to).
Prints hits@1 and hits@5 per mode and set (the share of queries whose startup is first / in the
top 5), and writes them as JSON with --json FILE. It embeds and uploads the sample into its own
Qdrant Edge directory when that is empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from handler.cli import cli, say
from handler.config import env
from handler.service import MODES
from scripts import benchkit
from scripts.records import SAMPLE_FILE, read_records

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
]


def hits_at(service, queries: list[tuple[str, str]], mode: str) -> dict:
    first = top5 = 0
    for query, expected in queries:
        found = service.search(query, limit=5, city=None, mode=mode)
        names = [hit.payload.get("name") for hit in found.hits]
        first += bool(names[:1] == [expected])
        top5 += expected in names
    return {"hits@1": first / len(queries), "hits@5": top5 / len(queries), "queries": len(queries)}


def evaluate(service, input_path: Path) -> dict:
    records, _ = read_records(input_path)
    names = [(r.data["name"], r.data["name"]) for r in records if r.data["name"].strip()]
    known = {r.data["name"] for r in records}
    meaning = [(q, name) for q, name in MEANING if name in known]
    return {mode: {"names": hits_at(service, names, mode), "meaning": hits_at(service, meaning, mode)} for mode in MODES}


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.eval_modes", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from dataclasses import replace

    from handler.config import Settings
    from handler.service import SearchService

    qdrant_path = (args.qdrant_path / f"{args.input.stem}-eval").absolute()
    benchkit.ensure_shard(args.input, args.vectors, qdrant_path, COLLECTION, args.model_dir)
    settings = replace(Settings.from_env(), model_dir=str(args.model_dir), qdrant_path=str(qdrant_path), qdrant_url="", collection_name=COLLECTION, log_level="WARNING")
    service = SearchService.start(settings)
    try:
        figures = evaluate(service, args.input)
    finally:
        service.storage.close()
    say(f"{args.input.name}, model variant {service.encoder.variant}")
    print(f"{'mode':<8} {'names hits@1':>13} {'names hits@5':>13} {'meaning hits@1':>15} {'meaning hits@5':>15}")
    for mode, sets in figures.items():
        print(f"{mode:<8} {sets['names']['hits@1']:>13.3f} {sets['names']['hits@5']:>13.3f} {sets['meaning']['hits@1']:>15.3f} {sets['meaning']['hits@5']:>15.3f}")
    print(f"({figures['neural']['names']['queries']} name queries, {figures['neural']['meaning']['queries']} meaning queries)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
