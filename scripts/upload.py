"""Upload embedded records into Qdrant: embedded Qdrant Edge by default, a server when QDRANT_URL is set.

    python -m scripts.upload --input FILE --vectors DIR [--collection startups] [--batch-size N]

Idempotent: a record's point id is derived from its content, so uploading again overwrites the
same points instead of adding duplicates. Exit status: 0 uploaded and counted; 2 bad arguments
or input; 1 Qdrant failed (unreachable after retries, wrong collection, count mismatch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from handler.cli import cli, say
from handler.errors import UsageError
from handler.files import sha256_file
from scripts.records import DEFAULT_TEXT_TEMPLATE, read_records, record_text

# Fixed namespace: the same record gets the same point id on every run and every machine.
POINT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://qdrant.tech/documentation/tutorials/neural-search/")


def point_id(record: dict) -> str:
    return str(uuid.uuid5(POINT_ID_NAMESPACE, json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))))


def load_embedded(input_path: Path, vectors_dir: Path):
    """The (line, record, vector) triples of an embed run, checked against the input file."""
    report_file = vectors_dir / "report.json"
    if not report_file.is_file():
        raise UsageError(f"--vectors '{vectors_dir}' has no report.json: run `python -m scripts.embed --out {vectors_dir}` first (or let it finish)")
    report = json.loads(report_file.read_text())
    if not input_path.is_file():
        raise UsageError(f"--input '{input_path}' does not exist or is not a file")
    if sha256_file(input_path) != report["input_sha256"]:
        raise UsageError(f"--input '{input_path}' is not the file these vectors were made from ({report['input']}, sha256 {report['input_sha256'][:12]}…); embed it again")
    vectors = np.load(vectors_dir / "vectors.npy")
    lines = np.load(vectors_dir / "lines.npy")
    if len(vectors) != len(lines) or len(vectors) != report["embedded"]:
        raise UsageError(f"'{vectors_dir}' is inconsistent: {len(vectors)} vectors, {len(lines)} line numbers, report says {report['embedded']}")
    records, _ = read_records(input_path, report["template"])
    by_line = {r.line: r.data for r in records}
    missing = [int(n) for n in lines if int(n) not in by_line]
    if missing:
        raise UsageError(f"lines {missing[:5]} of '{input_path}' have vectors but are not valid records any more")
    return report, [(int(n), by_line[int(n)]) for n in lines], vectors


def upload(storage, items, vectors: np.ndarray, *, template: str = DEFAULT_TEXT_TEMPLATE, batch_size: int = 256, retries: int = 5,
           recreate: bool = False) -> dict:
    """Upsert (line, record) items with their dense vectors and the BM25 sparse vectors of the
    same text (`template`), into a collection created (or, with recreate, replaced) as needed."""
    from handler.bm25 import Bm25Encoder
    from handler.storage import PointData, with_retries

    started = time.perf_counter()
    bm25 = Bm25Encoder()

    def retried(what: str, fn):
        return with_retries(fn, attempts=retries, on_retry=lambda attempt, exc: say(f"{what} failed ({exc}); retry {attempt}/{retries - 1}"))

    created = retried("creating the collection", lambda: storage.ensure_collection(int(vectors.shape[1]), recreate=recreate))
    points, seen = [], {}
    duplicates = []
    for (line, record), vector in zip(items, vectors):
        pid = point_id(record)
        if pid in seen:
            duplicates.append((line, seen[pid]))
            continue
        seen[pid] = line
        points.append(PointData(pid, vector, record, bm25.document(record_text(record, template))))
    for start in range(0, len(points), batch_size):
        batch = points[start : start + batch_size]
        retried(f"upsert of points {start}..{start + len(batch) - 1}", lambda: storage.upsert(batch))
    upserted = time.perf_counter()
    storage.finish_upload()
    indexed = time.perf_counter()
    counted = retried("counting the uploaded points", lambda: storage.count(list(seen)))
    return {
        "collection": storage.collection,
        "backend": storage.backend,
        "created": created,
        "points": len(points),
        "duplicates": duplicates,
        "counted": counted,
        "collection_total": storage.count(),
        "upsert_seconds": round(upserted - started, 2),
        "index_seconds": round(indexed - upserted, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


@cli()
def main(argv: list[str] | None = None) -> int:
    from handler.config import Settings
    from handler.storage import open_storage

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m scripts.upload", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path, help="the JSON-lines file that was embedded")
    parser.add_argument("--vectors", required=True, type=Path, help="the output directory of scripts.embed")
    parser.add_argument("--collection", default=settings.collection_name, help="collection name (default: $COLLECTION_NAME or %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256, help="points per upsert request")
    parser.add_argument("--retries", type=int, default=5, help="attempts per request when Qdrant is unreachable (exponential backoff)")
    parser.add_argument("--recreate", action="store_true",
                        help="drop the collection and create it anew with the current schema (for a collection made before hybrid search)")
    args = parser.parse_args(argv)
    settings = replace(settings, collection_name=args.collection)

    for name in ("batch_size", "retries"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    report, items, vectors = load_embedded(args.input, args.vectors)
    storage = open_storage(settings)
    say(f"uploading {len(items)} points into '{args.collection}' ({storage.backend}, {storage.where})")
    try:
        result = upload(storage, items, vectors, template=report["template"], batch_size=args.batch_size, retries=args.retries, recreate=args.recreate)
    finally:
        storage.close()

    for line, first in result["duplicates"]:
        say(f"duplicate: line {line} is identical to line {first}; stored once")
    print(
        f"uploaded {result['points']} points into '{result['collection']}' ({result['backend']}) in {result['seconds']} s "
        f"(upsert {result['upsert_seconds']} s, index {result['index_seconds']} s); "
        f"{result['counted']} of them found by count; collection holds {result['collection_total']}"
    )
    if result["counted"] != result["points"]:
        say(f"error: count check failed: uploaded {result['points']} points, found {result['counted']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
