"""Upload embedded records into Qdrant: embedded Qdrant Edge by default, a server when QDRANT_URL is set.

    python -m scripts.upload --input FILE --vectors DIR [--schema FILE] [--collection NAME] [--batch-size N]
                             [--sync [--dry-run] [--max-delete 0.5] [--allow-mass-delete]] [--id-field NAME] [--allow-empty]

Idempotent: a record's point id is derived from its content (or from its schema's `key`, or
--id-field, a stable key), so uploading again overwrites the same points instead of adding
duplicates. The collection's payload indexes (full text, keywords and their folded copies, numbers)
come from the schema (--schema, default $SCHEMA_FILE or the built-in startups schema), which is
kept with the collection. With --sync the
collection ends holding exactly the input: unchanged points are not written, points whose records
are gone are deleted (scripts/sync.py). Exit status: 0 uploaded and counted; 2 bad arguments or
input (a refused mass delete included); 1 Qdrant failed (unreachable after retries, wrong
collection, count mismatch).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from handler.common import Schema, Settings, StorageUnavailable, UsageError, cli, env, load_schema, say, sha256_file
from handler.search import Calibration
from handler.storage import Layout, PointData, open_storage, read_records
from scripts.sync import Hasher, PointIds, SyncRules, check_deletions, make_plan, point_id, where_text  # noqa: F401  (point_id: re-exported)
from scripts.weak_calibration import calibrate

DELETE_BATCH = 1000  # point ids per delete request


def same_schema(schema: Schema, made_with: dict | None, what: str) -> None:
    """Refuse vectors made under another schema (their records were read by other rules); an embed
    run of an earlier version recorded none: it was the built-in startups schema."""
    differences = schema.differences(made_with or load_schema().fingerprint(), key=False)  # a key names points: the vectors do not depend on it
    if differences:
        raise UsageError(f"{what} were made with another schema than {schema.source} ({'; '.join(differences)}): "
                         "pass the --schema they were embedded with, or embed again")


def load_embedded(input_path: Path, vectors_dir: Path, schema: Schema | None = None):
    """The (line, record, vector) triples of an embed run, checked against the input file, and the
    schema with the template the run embedded."""
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
    expected = report["embedded"] + report.get("reused", 0)  # an earlier version's report has no `reused`: all were embedded
    if len(vectors) != len(lines) or len(vectors) != expected:
        raise UsageError(f"'{vectors_dir}' is inconsistent: {len(vectors)} vectors, {len(lines)} line numbers, report says {expected}")
    schema = schema or load_schema()
    same_schema(schema, report.get("schema"), f"the vectors in '{vectors_dir}'")
    schema = schema.with_template(report["template"])
    records, _ = read_records(input_path, schema)
    by_line = {r.line: r.data for r in records}
    missing = [int(n) for n in lines if int(n) not in by_line]
    if missing:
        raise UsageError(f"lines {missing[:5]} of '{input_path}' have vectors but are not valid records any more")
    return schema, [(int(n), by_line[int(n)]) for n in lines], vectors


def load_sharded(vectors_dir: Path, schema: Schema):
    """The output of scripts.embed_ray: (schema with its template, dim, chunks) where each chunk is
    one shard's ((file, line), record) items and vectors, read shard by shard from the input files."""
    from scripts.embed_ray import read_shard

    manifest = json.loads(sharded_manifest(vectors_dir).read_text())
    same_schema(schema, manifest["fingerprint"].get("schema"), f"the vectors in '{vectors_dir}'")
    schema = schema.with_template(manifest["fingerprint"]["template"])
    for source in manifest["fingerprint"]["inputs"]:
        path = Path(source["file"])
        if not path.is_file() or path.stat().st_size != source["bytes"] or path.stat().st_mtime_ns != source["mtime_ns"]:
            raise UsageError(f"input '{path}' changed (or is gone) since these vectors were made; embed it again")

    def chunks():
        for shard in manifest["shards"]:
            base = vectors_dir / "shards" / shard["shard"]
            vectors, lines = np.load(base.with_suffix(".vectors.npy")), np.load(base.with_suffix(".lines.npy"))
            good, _ = read_shard(shard, schema)
            by_line = {r.line: r.data for r in good}
            if len(vectors) != len(lines) or any(int(n) not in by_line for n in lines):
                raise UsageError(f"shard {shard['shard']} of '{vectors_dir}' does not match its input lines; embed it again")
            yield [((shard["file"], int(n)), by_line[int(n)]) for n in lines], vectors

    dim = len(np.load(vectors_dir / "shards" / f"{manifest['shards'][0]['shard']}.vectors.npy", mmap_mode="r")[0]) if manifest["shards"] else 384
    return schema, dim, chunks()


def sharded_points(vectors_dir: Path) -> int:
    """How many vectors scripts.embed_ray's shards hold (without reading them)."""
    manifest = json.loads(sharded_manifest(vectors_dir).read_text())
    return sum(len(np.load(vectors_dir / "shards" / f"{shard['shard']}.lines.npy", mmap_mode="r")) for shard in manifest["shards"])


def sharded_manifest(vectors_dir: Path) -> Path | None:
    """The manifest of scripts.embed_ray's output, under its name or its earlier one (manifest.json,
    also the name of a model export's manifest: refused clearly)."""
    from scripts.embed_ray import LEGACY_MANIFEST, VECTORS_MANIFEST

    if (vectors_dir / VECTORS_MANIFEST).is_file():
        return vectors_dir / VECTORS_MANIFEST
    legacy = vectors_dir / LEGACY_MANIFEST
    if not legacy.is_file():
        return None
    if "shards" not in json.loads(legacy.read_text()):
        raise UsageError(f"--vectors '{vectors_dir}' holds a {LEGACY_MANIFEST} that is not scripts.embed_ray's (a model export?): "
                         "pass the --out directory of scripts.embed or scripts.embed_ray")
    return legacy


def with_retries(fn, *, attempts: int = 5, base_delay: float = 0.5, on_retry=None):
    """Retry transient failures (StorageUnavailable) with exponential backoff and jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except StorageUnavailable as exc:
            if attempt == attempts:
                raise
            if on_retry:
                on_retry(attempt, exc)
            time.sleep(base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))


def upload(storage, items, vectors: np.ndarray | None = None, *, schema: Schema | None = None, batch_size: int = 256, retries: int = 5, encoder=None,
           recreate: bool = False, parallel: int = 1, chunks=None, dim: int | None = None, layout: Layout = Layout(),
           id_field: str | None = None, sync: SyncRules | None = None, allow_empty: bool = False) -> dict:
    """Upsert (where, record) items with their dense vectors and the BM25 sparse vectors of their
    indexed text (the schema's: the embedded text with every text field it leaves out, the title
    first), into a collection created (or, with recreate, replaced) as needed; payloads as the
    schema keeps them (each keyword's folded copy beside it).
    `chunks` (an iterable of (items, vectors), one per shard of scripts.embed_ray) replaces
    items/vectors for sharded input; `parallel` upsert streams (a Qdrant server's bulk advice:
    about one per shard); `layout` (shards, replicas, a deferred index) goes to a server;
    `id_field` names a stable key for the point ids (default: the schema's `key`, else each record's
    content). Zero points create or sync nothing unless `allow_empty`. With `sync`,
    points are held until the whole input is read and compared with the collection's
    (scripts/sync.py); then only the added and updated are upserted and the ones whose records are
    gone are deleted (with sync.dry_run, nothing is written)."""
    from concurrent.futures import ThreadPoolExecutor

    from handler.storage import Bm25Encoder

    started = time.perf_counter()
    schema = (schema or storage.schema).with_key(id_field)
    bm25 = Bm25Encoder()
    chunks = chunks if chunks is not None else [(items, vectors)]
    dim = dim or int(vectors.shape[1])
    ids = PointIds(schema.key)
    hasher = Hasher(schema, bm25)  # every point carries its content hash: what --sync compares
    held_records: dict[str, dict] = {}  # a sync's records, by point id: BM25 vectors only for the points it writes

    def complete(point: PointData) -> PointData:
        if point.sparse is not None:
            return point
        return PointData(point.id, point.vector, point.payload, bm25.record(schema, held_records[point.id]))

    def retried(what: str, fn):
        return with_retries(fn, attempts=retries, on_retry=lambda attempt, exc: say(f"{what} failed ({exc}); retry {attempt}/{retries - 1}"))

    created = None if sync else retried("creating the collection", lambda: storage.ensure_collection(dim, recreate=recreate, layout=layout))
    seen, duplicates, uploaded, held, plan = {}, [], 0, [], None
    with ThreadPoolExecutor(max_workers=parallel) as streams:
        def upsert(batches):
            list(streams.map(lambda job: retried(f"upsert of points {job[0]}..{job[0] + len(job[1]) - 1}", lambda: storage.upsert(job[1])), batches))

        for chunk_items, chunk_vectors in chunks:
            points = []
            for (where, record), vector in zip(chunk_items, chunk_vectors):
                pid = ids.of(record, where)
                if pid in seen:
                    duplicates.append((where, seen[pid]))
                    continue
                seen[pid] = where
                sparse = None if sync else bm25.record(schema, record)
                if sync:
                    held_records[pid] = record
                points.append(hasher.hashed(PointData(pid, vector, schema.payload(record), sparse), record))
            batches = [(uploaded + start, points[start : start + batch_size]) for start in range(0, len(points), batch_size)]
            if sync is None:
                upsert(batches)
            else:
                held.extend(points)  # a sync writes nothing before it has compared the whole input with the collection
            uploaded += len(points)
        if sync is not None:
            read = time.perf_counter()
            plan = retried("reading the collection", lambda: make_plan(storage, held, dim, complete))
            compared = time.perf_counter()
            check_deletions(plan, sync, storage.collection)
            if sync.dry_run:
                return {"collection": storage.collection, "backend": storage.backend, "plan": plan, "dry_run": True, "points": uploaded,
                        "duplicates": duplicates, "seconds": round(time.perf_counter() - started, 2)}
            created = retried("creating the collection", lambda: storage.ensure_collection(dim, layout=layout))
            writes = [complete(point) for point in plan.writes]
            upsert([(start, writes[start : start + batch_size]) for start in range(0, len(writes), batch_size)])
            for start in range(0, len(plan.deleted), DELETE_BATCH):
                gone = plan.deleted[start : start + DELETE_BATCH]
                retried(f"deleting points {start}..{start + len(gone) - 1} of {len(plan.deleted)}", lambda: storage.delete(gone))
    upserted = time.perf_counter()
    storage.finish_upload()
    indexed = time.perf_counter()
    counted = retried("counting the uploaded points", lambda: storage.count(list(seen)))
    total = storage.count()
    storage.record(points=total)  # what /health compares the collection with (a shard that lost points is damaged)
    calibration = None
    if encoder is not None:  # weak_match's thresholds, measured on what the collection now holds
        calibration = retried("calibrating weak_match", lambda: calibrate(storage, encoder))
        storage.record(**{Calibration.KEY: calibration.kept() if calibration else None})
    return {
        "collection": storage.collection,
        "backend": storage.backend,
        "created": created,
        "points": uploaded,
        "plan": plan,
        **({"prepare_seconds": round(read - started, 2), "compare_seconds": round(compared - read, 2),
            "write_seconds": round(upserted - compared, 2)} if sync else {}),
        "duplicates": duplicates,
        "counted": counted,
        "collection_total": total,
        "upsert_seconds": round(upserted - started, 2),
        "index_seconds": round(indexed - upserted, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "calibration": calibration,
    }


def calibration_encoder(model_dir: str, variant: str):
    """The query encoder the service will use (MODEL_DIR, EMBED_VARIANT), to calibrate weak_match
    with; None, said, when there is no model there (the collection then has weak_match null)."""
    from handler.common import ConfigError, EncoderError, ModelFileError
    from handler.model import Encoder

    try:
        return Encoder.from_export(model_dir, variant or None, device="cpu")
    except (ConfigError, EncoderError, ModelFileError, OSError) as exc:
        say(f"note: no model to calibrate weak_match with ({exc}); the collection gets no calibration and its searches "
            "answer weak_match null: pass --model-dir (or set MODEL_DIR) and upload or --sync again")
        return None


@cli()
def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m scripts.upload", description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default=env("SCHEMA_FILE"), help="the catalogue's schema, a TOML file (docs/schema.md; default: $SCHEMA_FILE, "
                        "else the built-in startups schema); the one the vectors were embedded with")
    parser.add_argument("--input", type=Path, help="the JSON-lines file that was embedded (not needed for scripts.embed_ray output: its manifest names its inputs)")
    parser.add_argument("--vectors", required=True, type=Path, help="the output directory of scripts.embed or scripts.embed_ray")
    parser.add_argument("--collection", default=None, help="collection name (default: $COLLECTION_NAME, else the schema's `collection`)")
    parser.add_argument("--batch-size", type=int, default=256, help="points per upsert request (Qdrant advises 64-256)")
    parser.add_argument("--retries", type=int, default=5, help="attempts per request when Qdrant is unreachable (exponential backoff)")
    parser.add_argument("--recreate", action="store_true",
                        help="drop the collection and create it anew with the current schema (for a collection made before hybrid search)")
    scale = parser.add_argument_group("a Qdrant server at scale (QDRANT_URL); fixed when the collection is created")
    scale.add_argument("--shards", type=int, default=None, help="shard_number (at least 2 per node; cannot change later)")
    scale.add_argument("--replicas", type=int, default=None, help="replication_factor")
    scale.add_argument("--parallel", type=int, default=1, help="concurrent upsert streams (about one per shard)")
    scale.add_argument("--defer-index", action="store_true", help="build no HNSW graph while uploading (m=0), then restore m=16 and let the server index once")
    parser.add_argument("--id-field", default=None, help="a record field holding a stable key, overriding the schema's `key`: point ids come from it, "
                        "not from the whole record")
    parser.add_argument("--allow-empty", action="store_true", help="create or sync the collection even from zero points (it then holds none)")
    parser.add_argument("--model-dir", default=settings.model_dir, help="the exported model the service answers with (default: $MODEL_DIR): "
                        "weak_match is calibrated with it on the collection")
    follow = parser.add_argument_group("the collection follows the input (--sync)")
    follow.add_argument("--sync", action="store_true", help="write only added and changed points, and delete those whose records are gone")
    follow.add_argument("--dry-run", action="store_true", help="print the added / updated / unchanged / deleted counts and change nothing")
    follow.add_argument("--max-delete", type=float, default=None, help="refuse to delete more than this fraction of the collection (default 0.5)")
    follow.add_argument("--allow-mass-delete", action="store_true", help="delete past --max-delete")
    args = parser.parse_args(argv)
    schema = load_schema(args.schema).with_key(args.id_field)
    settings = replace(settings, schema=schema, collection_name=args.collection or env("COLLECTION_NAME") or schema.collection)

    for name in ("batch_size", "retries", "parallel"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("shards", "replicas"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    server_only = [f"--{n.replace('_', '-')}" for n in ("shards", "replicas", "defer_index") if getattr(args, n) not in (None, False)]
    if server_only and not settings.qdrant_url:
        raise UsageError(f"{', '.join(server_only)} configure a Qdrant server's collection: set QDRANT_URL (the embedded Qdrant Edge is one shard in one process)")
    layout = Layout(args.shards, args.replicas, args.defer_index)
    sync_only = [f"--{n.replace('_', '-')}" for n in ("dry_run", "max_delete", "allow_mass_delete") if getattr(args, n) not in (None, False)]
    if sync_only and not args.sync:
        raise UsageError(f"{', '.join(sync_only)} only apply with --sync")
    if args.sync and args.recreate:
        raise UsageError("--sync keeps the collection and --recreate drops it: use one of them")
    if args.max_delete is not None and not 0 <= args.max_delete <= 1:
        raise UsageError(f"--max-delete is a fraction of the collection, from 0 to 1, got {args.max_delete}")
    rules = SyncRules(args.dry_run, 0.5 if args.max_delete is None else args.max_delete, args.allow_mass_delete) if args.sync else None

    if sharded_manifest(args.vectors):
        schema, dim, chunks = load_sharded(args.vectors, schema)
        items = vectors = None
        points = sharded_points(args.vectors)
        what = f"the shards of {args.vectors}"
    else:
        if args.input is None:
            raise UsageError(f"--input is needed: '{args.vectors}' is the output of scripts.embed (report.json), which names no input to re-read")
        schema, items, vectors = load_embedded(args.input, args.vectors, schema)
        dim, chunks, points = None, None, len(items)
        what = f"{len(items)} points"
    if not points and not args.allow_empty:
        raise UsageError(f"'{args.vectors}' holds no points: {'syncing' if rules else 'uploading'} it would leave collection '{settings.collection_name}' "
                         "empty (and searches answering nothing); embed records first, or pass --allow-empty if an empty collection is meant")
    storage = open_storage(settings, cooldown=0)  # transient failures are retried with backoff here
    say(f"{'syncing' if rules else 'uploading'} {what} into '{settings.collection_name}' ({storage.backend}, {storage.where}) with {schema.source}")
    try:
        encoder = None if rules and rules.dry_run else calibration_encoder(args.model_dir, settings.embed_variant)
        result = upload(storage, items, vectors, schema=schema, batch_size=args.batch_size, retries=args.retries, recreate=args.recreate,
                        parallel=args.parallel, chunks=chunks, dim=dim, layout=layout, sync=rules, encoder=encoder)
    finally:
        storage.close()

    for where, first in result["duplicates"]:
        say(f"duplicate: {where_text(where)} is identical to {where_text(first)}; stored once")
    if result.get("calibration"):
        calibration = result["calibration"]
        say(f"weak_match calibrated on the collection: weak below cosine {calibration.far}; close from {calibration.close} "
            f"(between them, close when the answers share a word with the query)")
    if rules:
        return report_sync(result)
    print(
        f"uploaded {result['points']} points into '{result['collection']}' ({result['backend']}) in {result['seconds']} s "
        f"(upsert {result['upsert_seconds']} s, index {result['index_seconds']} s); "
        f"{result['counted']} of them found by count; collection holds {result['collection_total']}"
    )
    if result["counted"] != result["points"]:
        say(f"error: count check failed: uploaded {result['points']} points, found {result['counted']}")
        return 1
    return 0


def report_sync(result: dict) -> int:
    plan = result["plan"]
    if plan.legacy():
        say(plan.legacy())
    if result.get("dry_run"):
        print(f"dry run: '{result['collection']}' ({result['backend']}) holds {plan.before} points; a sync would make it "
              f"{plan.counts()}; nothing was changed")
        return 0
    print(f"synced '{result['collection']}' ({result['backend']}) in {result['seconds']} s (points {result['prepare_seconds']} s, "
          f"reading the collection's content hashes and comparing {result['compare_seconds']} s"
          f"{f' ({plan.read_back} points without one read back in full)' if plan.read_back else ''}, writing {result['write_seconds']} s, "
          f"index {result['index_seconds']} s): {plan.counts()}; collection holds {result['collection_total']}")
    if result["counted"] != result["points"] or result["collection_total"] != result["points"]:
        say(f"error: count check failed: the input has {result['points']} points, the collection holds {result['collection_total']} "
            f"({result['counted']} of the input's)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
