"""How well weak_match tells real queries from nonsense, on the startups sample.

    python -m scripts.calibrate_weak [--input ../shared/data/startups_sample.jsonl] [--json FILE]

For each query of scripts/weak_queries.py (REAL: each has a close answer; NONSENSE: none has) it
measures the two signals weak_match reads, the best dense score (cosine) and whether any query
word occurs in the collection's BM25 vocabulary, then prints per class their range, the best
that the cosine alone can do (one threshold), what the service's rule (`handler.search.weak`:
FAR_COSINE, CLOSE_COSINE) gets wrong per mode, and the margins between the classes around each
threshold; then the rule's errors on the held-out queries, which were never tuned on. Uses the
same Qdrant Edge directory as scripts.eval_modes.
"""

from __future__ import annotations

import argparse
import json
import sys

from handler.common import cli, say
from handler.search import CLOSE_COSINE, FAR_COSINE
from scripts.eval_modes import add_arguments, start_service
from scripts.weak_queries import HELD_OUT_NONSENSE, HELD_OUT_REAL, NONSENSE, REAL

MODES = ("neural", "hybrid", "text")


def signals(service, queries: list[str]) -> list[dict]:
    """Each query's best cosine, whether a word of it is in the vocabulary, and weak_match per mode."""
    rows = []
    for q in queries:
        nearest = service.storage.search(service.encoder.embed_one(q), 1).nearest
        words = service.storage.words_found(service.bm25().query(q))
        weak = {mode: service.search(q, limit=5, mode=mode).weak_match for mode in MODES}
        rows.append({"q": q, "nearest": nearest, "words": words, "weak": weak})
    return rows


def cosine_alone(real: list[dict], nonsense: list[dict]) -> tuple[float, int]:
    """The single cosine threshold with the fewest queries on the wrong side, and that number."""
    cuts = sorted({row["nearest"] for row in real + nonsense})
    best = min(cuts, key=lambda cut: sum(r["nearest"] < cut for r in real) + sum(r["nearest"] >= cut for r in nonsense))
    return best, sum(r["nearest"] < best for r in real) + sum(r["nearest"] >= best for r in nonsense)


def report(real: list[dict], nonsense: list[dict]) -> dict:
    def span(rows, words=None):
        values = [r["nearest"] for r in rows if words is None or r["words"] is words]
        return (round(min(values), 3), round(max(values), 3)) if values else None

    cut, wrong = cosine_alone(real, nonsense)
    return {
        "queries": {"real": len(real), "nonsense": len(nonsense)},
        "cosine": {"real": span(real), "nonsense": span(nonsense)},
        "words_found": {"real": sum(bool(r["words"]) for r in real), "nonsense": sum(bool(r["words"]) for r in nonsense)},
        "cosine_alone": {"threshold": round(cut, 3), "wrong": wrong},
        "rule": {"far": FAR_COSINE, "close": CLOSE_COSINE},
        # around FAR: every query above it that has a word in the vocabulary counts as close
        "far_margin": {"nonsense_with_words_max": (span(nonsense, True) or (None, None))[1], "real_min": span(real)[0]},
        # around CLOSE: below it, a query with no word in the vocabulary is weak
        "close_margin": {"nonsense_without_words_max": (span(nonsense, False) or (None, None))[1], "real_without_words_min": (span(real, False) or (None, None))[0]},
        "wrong": {mode: {"real_said_weak": [r["q"] for r in real if r["weak"][mode]], "nonsense_said_close": [r["q"] for r in nonsense if not r["weak"][mode]]}
                  for mode in MODES},
    }


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.calibrate_weak", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    service = start_service(args.input, args.vectors, args.qdrant_path, args.model_dir, args.schema)
    try:
        real, nonsense = signals(service, REAL), signals(service, NONSENSE)
        held_real, held_nonsense = signals(service, HELD_OUT_REAL), signals(service, HELD_OUT_NONSENSE)
    finally:
        service.storage.close()
    figures = report(real, nonsense)
    figures["held_out"] = report(held_real, held_nonsense)
    say(f"{args.input.name}, model variant {service.encoder.variant}")
    print(f"{'queries':<9} {'n':>3} {'best cosine':>15} {'a word known':>13}")
    for label, rows in (("real", real), ("nonsense", nonsense)):
        low, high = figures["cosine"][label]
        print(f"{label:<9} {len(rows):>3} {low:>7.3f}..{high:<6.3f} {figures['words_found'][label]:>13}")
    print(f"cosine alone: best threshold {figures['cosine_alone']['threshold']:.3f} leaves {figures['cosine_alone']['wrong']} queries on the wrong side")
    print(f"rule: weak below {FAR_COSINE}; between {FAR_COSINE} and {CLOSE_COSINE}, weak unless a query word is known")
    far, close = figures["far_margin"], figures["close_margin"]
    print(f"  around {FAR_COSINE}: nonsense with a known word up to {far['nonsense_with_words_max']}, real queries from {far['real_min']}")
    print(f"  around {CLOSE_COSINE}: nonsense without one up to {close['nonsense_without_words_max']}, real ones without one from {close['real_without_words_min']}")
    for label, sets, (n_real, n_nonsense) in (("", figures, (len(real), len(nonsense))), ("held out: ", figures["held_out"], (len(held_real), len(held_nonsense)))):
        for mode, wrong in sets["wrong"].items():
            print(f"{label}{mode:<7} real said weak: {len(wrong['real_said_weak']):>3}/{n_real}   nonsense said close: {len(wrong['nonsense_said_close']):>3}/{n_nonsense}"
                  + (f"   ({', '.join(wrong['real_said_weak'] + wrong['nonsense_said_close'])})" if label and mode != "text" and wrong['real_said_weak'] + wrong['nonsense_said_close'] else ""))
    if args.json:
        queries = real + nonsense + held_real + held_nonsense
        args.json.write_text(json.dumps({"figures": figures, "queries": queries}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
