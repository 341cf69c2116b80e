"""How well weak_match tells real queries from nonsense and off-topic ones, on a catalogue.

    python -m scripts.calibrate_weak [--input ../shared/data/startups_sample.jsonl] [--schema FILE] [--json FILE]

weak_match reads two signals (`handler.search.weak`): a search's best cosine and whether its
first answers share a word with the query; its two thresholds are measured on each collection at
upload (`scripts.weak_calibration`: the probes). This script measures both signals for the
catalogue's weak-match sets (`scripts.query_sets`: REAL and TYPO have good answers, NONSENSE and
OFF_TOPIC none), then prints
- each set's cosine range and how many of its queries' answers share a word;
- the calibration the collection keeps, and the errors weak_match makes with it, per set and mode
  (a REAL or TYPO query said weak, a NONSENSE or OFF_TOPIC one said close), on the calibration sets
  and on the held-out ones, which no setting was chosen on;
- the errors the rule would make on the calibration sets under other settings of the
  calibration (the probes' quantiles and the margin), the chosen one marked.
Uses the same Qdrant Edge directory as scripts.eval_modes.
"""

from __future__ import annotations

import argparse
import json
import sys

from handler.common import UsageError, cli, say
from handler.search import Calibration, weak
from scripts import weak_calibration
from scripts.eval_modes import add_arguments, start_service
from scripts.query_sets import WEAK_SETS, for_collection

MODES = ("neural", "hybrid", "text")
EXPECTED_WEAK = {"REAL": False, "TYPO": False, "NONSENSE": True, "OFF_TOPIC": True}
SETTINGS = [(far_q, close_q, margin) for far_q in (0.25, 0.5, 0.6, 0.75) for close_q in (0.95, 1.0) for margin in (0.0, 0.005, 0.01)]


def signals(service, queries: list[str]) -> list[dict]:
    """Each query's best cosine, whether its first answers share a word with it, and weak_match per mode."""
    rows = []
    found = weak_calibration.signals(service.storage, service.encoder, service.bm25(), queries)
    for q, (nearest, shared) in zip(queries, found):
        rows.append({"q": q, "nearest": nearest, "shared": shared, "weak": {mode: service.search(q, limit=5, mode=mode).weak_match for mode in MODES}})
    return rows


def errors(rows: list[dict], expected: bool, judge) -> list[str]:
    return [row["q"] for row in rows if judge(row) != expected]


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.calibrate_weak", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    service = start_service(args.input, args.vectors, args.qdrant_path, args.model_dir, args.schema)
    sets = for_collection(service.settings.schema.collection)
    if sets is None:
        raise UsageError(f"no weak-match sets for collection '{service.settings.schema.collection}' in scripts.query_sets")
    try:
        calibration = service.calibration
        if calibration is None:
            raise UsageError("the evaluation collection keeps no weak-match calibration: delete its directory and run again")
        probes = weak_calibration.signals(service.storage, service.encoder, service.bm25(), weak_calibration.PROBES)
        measured = {f"{prefix}{name}": signals(service, list(getattr(sets, prefix + name, [])))
                    for prefix in ("", "HELD_OUT_") for name in WEAK_SETS}
    finally:
        service.storage.close()

    say(f"{args.input.name} ({service.settings.schema.source}), model variant {service.encoder.variant}")
    print(f"calibration kept with the collection: far {calibration.far}, close {calibration.close} ({calibration.facts.get('rule')}, "
          f"{calibration.facts.get('probes')} probes)")
    print(f"{'set':<20} {'n':>3} {'best cosine':>13} {'share a word':>13}  " + "  ".join(f"{mode + ' errors':>13}" for mode in MODES))
    report = {"calibration": calibration.kept(), "sets": {}, "settings": []}
    for name, rows in measured.items():
        if not rows:
            continue
        expected = EXPECTED_WEAK[name.removeprefix("HELD_OUT_")]
        cosines = [row["nearest"] for row in rows if row["nearest"] is not None]
        wrong = {mode: errors(rows, expected, lambda row, mode=mode: bool(row["weak"][mode])) for mode in MODES}
        report["sets"][name] = {"queries": len(rows), "cosine": [min(cosines), max(cosines)], "shared": sum(row["shared"] for row in rows), "errors": wrong}
        print(f"{name:<20} {len(rows):>3} {min(cosines):>6.3f}..{max(cosines):<5.3f} {sum(row['shared'] for row in rows):>13}  "
              + "  ".join(f"{len(wrong[mode]):>13}" for mode in MODES))
    for name, entry in report["sets"].items():
        for mode in ("neural", "hybrid"):
            if entry["errors"][mode]:
                print(f"  {name} {mode}: {', '.join(entry['errors'][mode])}")

    print("\nother calibrations, errors of the rule (neural's answers) on the calibration sets (and, not chosen on, the held-out ones):")
    print(f"{'far quantile':>12} {'close quantile':>14} {'margin':>7} {'far':>6} {'close':>6} {'errors':>7} {'held out':>9}")
    chosen = (weak_calibration.FAR_QUANTILE, weak_calibration.CLOSE_QUANTILE, weak_calibration.MARGIN)
    for far_q, close_q, margin in SETTINGS:
        far, close = weak_calibration.thresholds(probes, far_q, close_q, margin)
        other = Calibration(far, close, {})
        wrong, held = (sum(len(errors(measured[prefix + name], EXPECTED_WEAK[name], lambda row: weak(row["nearest"], lambda: row["shared"], other)))
                           for name in WEAK_SETS) for prefix in ("", "HELD_OUT_"))
        report["settings"].append({"far_quantile": far_q, "close_quantile": close_q, "margin": margin, "far": far, "close": close, "errors": wrong,
                                   "held_out_errors": held})
        print(f"{far_q:>12} {close_q:>14} {margin:>7} {far:>6.3f} {close:>6.3f} {wrong:>7} {held:>9}"
              + ("  <- chosen" if (far_q, close_q, margin) == chosen else ""))
    if args.json:
        args.json.write_text(json.dumps({"report": report, "queries": measured}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
