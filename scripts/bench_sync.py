"""The update workflow at scale: a dataset with a fraction of its records changed, re-embedded
(the vector cache in --out) and synced (`scripts.upload --sync`), against a full run of the same
data, in one run, each step the command a user runs (a fresh process: model load included).

    python -m scripts.bench_sync [--input ../shared/data/bench_corpus_40k.jsonl] [--change 0.01]
                                 [--limit N] [--work DIR [--reuse]] [--baseline CHECKOUT] [--model-dir model]

The update changes `--change` of the records: a third reworded (description), a third removed, a
third added (other records under new names). Steps, on Qdrant Edge:
  full run     scripts.embed v1 (every text) + scripts.upload v1 into an empty collection
  update       scripts.embed v2 into a copy of that --out + scripts.upload v2 --sync into that collection
  fresh load   scripts.upload v2 into an empty collection, the reference for the synced one,
               and once more into another: how far two fresh loads of one file differ
With --baseline (another commit's checkout, e.g. `git worktree add /tmp/before main`), its code
runs the full run's upload and the update too, first, on the same files (v1's vectors copied):
before and after in one run. With --reuse, the full run's vectors that an earlier run left in
--work (made from the same v1) are used again, so its embedding (minutes at 40k) is not repeated;
the full run's embed is then not timed (said so in its row).
Then each synced collection and the second fresh load answer the same queries as the first fresh
load (hybrid, neural, neural exact, text, and BM25 with its scores): how many answers have the
same ids in the same order, and the largest score gap. HNSW is approximate and its graph is
built differently each time, so two fresh loads differ too: that is the yardstick.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from handler.common import UsageError, cli, env, say
from reference import BENCH_FILE
from scripts import benchkit


def make_update(source: Path, target: Path, fraction: float) -> dict:
    """v2 of source: every k-th record reworded, removed or renamed-and-added in turn."""
    lines = source.read_text().splitlines()
    step = max(1, round(1 / fraction))
    counts, out, added = {"reworded": 0, "removed": 0, "added": 0}, [], []
    for number, line in enumerate(lines):
        if number % step or not line.strip():
            out.append(line)
            continue
        record, kind = json.loads(line), ("reworded", "removed", "added")[(number // step) % 3]
        counts[kind] += 1
        if kind == "reworded":
            out.append(json.dumps({**record, "description": record["description"] + " (updated)"}))
        elif kind == "added":
            out.append(line)
            added.append(json.dumps({**record, "name": record["name"] + " 2", "description": "A fork of " + record["description"]}))
    target.write_text("\n".join(out + added) + "\n")
    return counts


def timed(label: str, rows: list, *args: str, extra_env: dict | None = None, root: Path = benchkit.ROOT) -> str:
    """Run `python -m args` with the code of checkout `root` (its folder first on PYTHONPATH); its
    row: wall seconds and CPU seconds (user + system, all its threads: on a shared machine the
    steadier figure)."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", *args], cwd=root, env={**os.environ, **(extra_env or {}), "PYTHONPATH": str(root)},
                            capture_output=True, text=True)
    seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode not in (0, 3):  # 3: scripts.embed rejected some lines (listed), and went on
        raise UsageError(f"{label} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    rows.append((label, seconds, cpu, result.stdout.strip().splitlines()[-1]))
    say(f"{label}: {seconds:.1f} s (cpu {cpu:.1f} s)")
    return result.stdout


def fresh_dir(path: Path, copy_of: Path | None = None) -> Path:
    """path emptied (the bench's own folder under --work), or a copy of copy_of."""
    shutil.rmtree(path, ignore_errors=True)
    if copy_of is not None:
        shutil.copytree(copy_of, path)
    return path


def reusable(vectors: Path, v1: Path) -> bool:
    """Whether an earlier run left v1's finished vectors in `vectors`."""
    from handler.common import sha256_file

    report = vectors / "report.json"
    return report.is_file() and json.loads(report.read_text()).get("input_sha256") == sha256_file(v1)


def compare(other_path: Path, fresh_path: Path, model_dir: Path) -> list[tuple[str, int, int, float]]:
    """(what, answers with the same ids in the same order, answers, largest relative score gap)."""
    from handler.model import Encoder
    from handler.storage import Bm25Encoder, EdgeStorage, Nearest

    encoder, bm25 = Encoder.from_export(model_dir), Bm25Encoder()
    stores = EdgeStorage(other_path, "startups"), EdgeStorage(fresh_path, "startups")
    asks = {
        "hybrid": lambda s, q, v: s.hybrid_search(v, bm25.query(q), 10),
        "neural (HNSW)": lambda s, q, v: s.search(v, 10),
        "neural (exact)": lambda s, q, v: s.search(v, 10, exact=True),
        "text": lambda s, q, v: s.text_search(q, 10),
        "BM25 alone": lambda s, q, v: s._ranked(Nearest(bm25.query(q), 40, with_payload=False)),
    }
    rows = []
    try:
        for what, ask in asks.items():
            same, gap = 0, 0.0
            for q in benchkit.QUERIES:
                vector = encoder.embed_one(q)
                a, b = (ask(store, q, vector) for store in stores)
                same += [h.id for h in a] == [h.id for h in b]
                gap = max([gap] + [abs(x.score - y.score) / max(1.0, abs(y.score)) for x, y in zip(a, b) if x.score is not None])
            rows.append((what, same, len(benchkit.QUERIES), gap))
    finally:
        for store in stores:
            store.close()
    return rows


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BENCH_FILE)
    parser.add_argument("--change", type=float, default=0.01, help="fraction of the records the update changes")
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines of --input")
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a new temporary one)")
    parser.add_argument("--reuse", action="store_true", help="use the full run's vectors an earlier run left in --work again (its embed is not timed)")
    parser.add_argument("--baseline", type=Path, default=None, help="another commit's checkout: its full run's upload and its update are timed too, first")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    args = parser.parse_args(argv)
    benchkit.existing_file(args.input)
    if not 0 < args.change <= 1:
        raise UsageError(f"--change is a fraction of the records, above 0 and at most 1, got {args.change}")
    if args.reuse and args.work is None:
        raise UsageError("--reuse uses what an earlier run left in --work: pass --work DIR")
    if args.baseline is not None and not (args.baseline / "scripts" / "upload.py").is_file():
        raise UsageError(f"--baseline '{args.baseline}' is not a checkout of this project (no scripts/upload.py there)")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-sync-"))
    work.mkdir(parents=True, exist_ok=True)
    v1, v2, full_vectors = work / "v1.jsonl", work / "v2.jsonl", work / "vectors"
    with open(args.input) as handle:
        text = "".join(line for _, line in zip(range(args.limit or sys.maxsize), handle))
    if not (v1.is_file() and v1.read_text() == text):  # unchanged, so that --reuse finds its vectors
        v1.write_text(text)
    counts = make_update(v1, v2, args.change)
    say(f"{benchkit.cpu_name()}; load average {os.getloadavg()[0]:.2f} at start; update: {counts}; work in {work}")

    edge = {"QDRANT_URL": "", "COLLECTION_NAME": "startups"}
    sides = ([("before", args.baseline.resolve())] if args.baseline else []) + [("after" if args.baseline else "", benchkit.ROOT)]
    rows: list = []
    full, update, synced = {}, {}, {}
    if args.reuse and reusable(full_vectors, v1):
        rows.append(("full run: scripts.embed v1", 0.0, 0.0, f"not timed: --reuse, the vectors an earlier run left in {full_vectors}"))
        say("full run: scripts.embed v1: reused from --work")
    else:
        timed("full run: scripts.embed v1", rows, "scripts.embed", "--model-dir", str(args.model_dir), "--out", str(fresh_dir(full_vectors)), "--input", str(v1))
    embed_v1, embed_v1_cpu = rows[-1][1:3]
    for side, root in sides:
        tag = f" ({side})" if side else ""
        folder = work / (side or "update")
        vectors, collection = fresh_dir(folder / "vectors", copy_of=full_vectors), fresh_dir(folder / "synced")
        timed(f"full run: scripts.upload v1{tag}", rows, "scripts.upload", "--input", str(v1), "--vectors", str(vectors),
              extra_env={**edge, "QDRANT_PATH": str(collection)}, root=root)
        full[side] = embed_v1 + rows[-1][1], embed_v1_cpu + rows[-1][2]
        timed(f"update: scripts.embed v2{tag}", rows, "scripts.embed", "--model-dir", str(args.model_dir), "--out", str(vectors), "--input", str(v2), root=root)
        timed(f"update: scripts.upload v2 --sync{tag}", rows, "scripts.upload", "--input", str(v2), "--vectors", str(vectors), "--sync",
              extra_env={**edge, "QDRANT_PATH": str(collection)}, root=root)
        update[side], synced[side] = (rows[-2][1] + rows[-1][1], rows[-2][2] + rows[-1][2]), collection
    for name in ("fresh", "fresh-again"):
        timed(f"{name.replace('-', ' ')} load: scripts.upload v2", rows, "scripts.upload", "--input", str(v2), "--vectors", str(vectors),
              extra_env={**edge, "QDRANT_PATH": str(fresh_dir(work / name))})
    load_end = os.getloadavg()[0]

    print(f"{benchkit.cpu_name()}; load average {load_end:.2f} at the end; update of {v1.name}: {counts}")
    print(f"{'':<45} {'wall':>8}   {'cpu':>8}")
    for label, seconds, cpu, last_line in rows:
        print(f"{label:<45} {seconds:>8.1f} s {cpu:>8.1f} s   {last_line[:150]}")
    for side, _ in sides:
        tag = f" ({side})" if side else ""
        print(f"{'full run (embed + upload)' + tag:<45} {full[side][0]:>8.1f} s {full[side][1]:>8.1f} s")
        print(f"{'update (embed + upload --sync)' + tag:<45} {update[side][0]:>8.1f} s {update[side][1]:>8.1f} s   "
              + (f"{full[side][0] / update[side][0]:.1f}x faster than the full run" if embed_v1 else "(the full run's embed was reused: no ratio)"))
    print("answers like the fresh load's (the same ids in the same order; largest relative score gap):  "
          + "  |  ".join([f"synced{f' ({side})' if side else ''}" for side, _ in sides] + ["fresh load again"]))
    columns = [compare(synced[side], work / "fresh", args.model_dir) for side, _ in sides] + [compare(work / "fresh-again", work / "fresh", args.model_dir)]
    for lines in zip(*columns):
        what, total = lines[0][0], lines[0][2]
        print(f"  {what:<16} " + "   |  ".join(f"{same:>3}/{total} {gap:.1e}" for _, same, _, gap in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
