"""Bulk embedding at scale on Ray Data: many JSON-lines files, many workers (CPU or GPU), resumable.

    python -m scripts.embed_ray --input PATH_OR_GLOB --out DIR [--address auto|local|ray://...]
                                [--workers N] [--gpus-per-worker 1] [--variant int8|int8_unsigned|fp32|fp16]
                                [--batch-size N] [--shard-lines 20000] [--model-dir DIR]

Needs the `scale` extra (ray[data]); nothing here ships in the Lambda artifact.

The input is cut into shards of --shard-lines lines (a file, its byte offset, its line count).
Ray Data hands the shards to a pool of actors (`ActorPoolStrategy`); each actor builds the
project's Encoder once (CUDA fp16 with its parity probe on a GPU worker, CPU otherwise, and says
which), reads its shard's lines, keeps the ones `scripts.embed` would keep (the same record rules
and text template; a bad line is reported with its file and line), takes every vector the cache
in DIR/cache holds (scripts/vector_cache.py, shared with scripts.embed: keyed by model file and
exact text), embeds the rest, and writes the shard's vectors, line numbers and report atomically
under DIR/shards, and its vectors as one cache segment. So a run on updated files embeds only new
and changed texts, and a run that is stopped or loses a worker is resumed by running the same
command: finished shards come from the cache. DIR/vectors_manifest.json (written last) lists every
shard; `scripts.upload --vectors DIR` reads it.

Why not `ray.data.read_json`: one malformed line fails its whole file there, and line numbers are
lost; reading byte ranges inside the actors keeps both the per-line report and the streaming.

Exit status: 0 every line embedded or reused; 3 done, but some lines were rejected; 2 bad arguments; 1 failure.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from handler.common import Schema, UsageError, atomic_save_npy, atomic_write_json, cli, env, load_schema, say
from handler.storage import Record, parse_line
from scripts.embed_run import drop_legacy, embed_with_cache, exit_status, summary
from scripts.vector_cache import VectorCache, keep_only, new_name

VECTORS_MANIFEST = "vectors_manifest.json"
LEGACY_MANIFEST = "manifest.json"  # its name before: the model export's manifest has that name too


def expand(spec: str) -> list[Path]:
    paths = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec))) if any(c in spec for c in "*?[") else [Path(spec).expanduser()]
    missing = [str(p) for p in paths if not p.is_file()]
    if not paths or missing:
        raise UsageError(f"--input '{spec}' matches no file" + (f" ({', '.join(missing[:3])} missing)" if missing else ""))
    return paths


def plan_shards(files: list[Path], shard_lines: int) -> list[dict]:
    """Cut each file into runs of shard_lines lines: (file, byte offset, first line, line count)."""
    shards = []
    for file in files:
        offset, line_no, start_offset, first_line = 0, 0, 0, 1
        with open(file, "rb") as handle:
            for raw in handle:
                line_no += 1
                offset += len(raw)
                if line_no - first_line + 1 == shard_lines:
                    shards.append({"file": str(file.resolve()), "offset": start_offset, "first_line": first_line, "lines": shard_lines})
                    start_offset, first_line = offset, line_no + 1
        if line_no >= first_line:
            shards.append({"file": str(file.resolve()), "offset": start_offset, "first_line": first_line, "lines": line_no - first_line + 1})
    for number, shard in enumerate(shards):
        shard["shard"] = f"{number:06d}"
    return shards


def read_shard(shard: dict, schema: Schema) -> tuple[list[Record], list[dict]]:
    """The shard's lines, kept or rejected by the schema, as scripts.embed reads them (`handler.storage.records`)."""
    good, bad = [], []
    with open(shard["file"], "rb") as handle:
        handle.seek(shard["offset"])
        for i in range(shard["lines"]):
            parsed = parse_line(handle.readline(), shard["first_line"] + i, schema)
            if isinstance(parsed, Record):
                good.append(parsed)
            elif parsed is not None:
                bad.append({"file": shard["file"], "line": parsed.line, "reason": parsed.reason})
    return good, bad


class ShardEmbedder:
    """A Ray actor: one Encoder and one view of the cache for its life, one shard per call."""

    def __init__(self, model_dir: str, variant: str | None, device: str, batch_size: int | None, threads: int | None, schema: Schema, out: str,
                 run: str) -> None:
        from handler.model import Encoder

        self.encoder = Encoder.from_export(model_dir, variant, device=device, threads=threads, batch_size=batch_size)
        self.schema, self.out, self.run = schema, Path(out), run
        self.cache = VectorCache(self.out, self.encoder.sha256, self.encoder.dim)
        # said out loud, per worker (Ray forwards actor output to the driver's stderr)
        print(f"embed_ray worker pid {os.getpid()}: variant '{self.encoder.variant}' on {self.encoder.provider}", file=sys.stderr, flush=True)

    def __call__(self, batch: dict) -> dict:
        summaries = []
        for row in range(len(batch["shard"])):
            shard = {key: (value[row].item() if hasattr(value[row], "item") else value[row]) for key, value in batch.items()}
            started = time.perf_counter()
            good, bad = read_shard(shard, self.schema)
            done = embed_with_cache([self.schema.embed_text(r.data) for r in good], self.cache, self.encoder)
            self.cache.add(done.keys, done.vectors, name=f"{self.run}-{shard['shard']}")
            base = self.out / "shards" / shard["shard"]
            atomic_save_npy(base.with_suffix(".vectors.npy"), done.vectors)
            atomic_save_npy(base.with_suffix(".lines.npy"), np.asarray([r.line for r in good], dtype=np.int64))
            report = {**shard, "run": self.run, "records": len(good), "embedded": done.embedded, "reused": done.reused, "rejected": bad,
                      "provider": self.encoder.provider, "variant": self.encoder.variant, "seconds": round(time.perf_counter() - started, 3)}
            atomic_write_json(base.with_suffix(".json"), report)  # written last: the shard is done
            summaries.append(json.dumps({k: v for k, v in report.items() if k != "rejected"} | {"rejected": len(bad)}))
        return {"summary": np.asarray(summaries, dtype=object)}


def shard_report(out: Path, shard: dict, run: str) -> dict | None:
    """The shard's report when this run wrote it, else None."""
    path = out / "shards" / f"{shard['shard']}.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    return report if report.get("run") == run and all(report.get(k) == shard[k] for k in ("file", "offset", "first_line", "lines")) else None


def uncommit(out: Path) -> None:
    """Before a run: no manifest (scripts.upload reads none of a half-made run), no state of an
    earlier version; a model export's manifest.json is never touched, and refused as --out."""
    legacy = out / LEGACY_MANIFEST
    if legacy.is_file():
        if "shards" not in json.loads(legacy.read_text()):
            raise UsageError(f"--out '{out}' holds a {LEGACY_MANIFEST} that is not scripts.embed_ray's (a model export?); use another --out")
        legacy.unlink()
    (out / VECTORS_MANIFEST).unlink(missing_ok=True)
    drop_legacy(out, ("state.json",))


def fingerprint(files: list[Path], model_sha256: str, variant: str, schema: Schema, shard_lines: int) -> dict:
    """What the vectors were made from: inputs (path, size, mtime; scripts.upload checks them), model, schema, settings."""
    return {
        "inputs": [{"file": str(f.resolve()), "bytes": f.stat().st_size, "mtime_ns": f.stat().st_mtime_ns} for f in files],
        "model_sha256": model_sha256, "variant": variant, "template": schema.embed, "schema": schema.fingerprint(), "shard_lines": shard_lines,
    }


def run(files: list[Path], out: Path, *, model_dir: Path, variant: str | None, address: str, workers: int, gpus_per_worker: float,
        batch_size: int | None, shard_lines: int, schema: Schema, threads: int | None, ray_temp_dir: str | None) -> dict:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"scripts.embed_ray needs the scale extra: pip install -e '.[scale]' ({exc})") from exc
    from handler.model import choose_variant, read_manifest, variant_sha256

    device = "cuda" if gpus_per_worker > 0 else "cpu"
    manifest = read_manifest(model_dir)
    variant, fallback = choose_variant(manifest, variant, device)  # as scripts.embed chooses (every worker then loads this one)
    if fallback:
        say(f"variant '{variant}': {fallback}")
    if variant not in manifest["variants"]:
        raise UsageError(f"variant '{variant}' is not in {model_dir}/manifest.json (has: {', '.join(sorted(manifest['variants']))})")
    made_from = fingerprint(files, variant_sha256(manifest["variants"][variant]), variant, schema, shard_lines)
    out.mkdir(parents=True, exist_ok=True)
    uncommit(out)
    (out / "shards").mkdir(exist_ok=True)
    run_name = new_name()

    shards = plan_shards(files, shard_lines)
    started = time.perf_counter()
    ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=True,
             ignore_reinit_error=True, **({"_temp_dir": ray_temp_dir} if ray_temp_dir else {}))
    ray_start_s = time.perf_counter() - started
    per_worker_threads = (threads or max(1, (os.cpu_count() or 1) // workers)) if device == "cpu" else threads
    embed_started = time.perf_counter()
    try:
        if shards:
            dataset = ray.data.from_items(shards).map_batches(
                ShardEmbedder,
                fn_constructor_kwargs={"model_dir": str(model_dir.resolve()), "variant": variant, "device": device, "batch_size": batch_size,
                                       "threads": per_worker_threads, "schema": schema, "out": str(out.resolve()), "run": run_name},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_gpus=gpus_per_worker if gpus_per_worker > 0 else None,
                num_cpus=per_worker_threads if device == "cpu" else 1,
            )
            dataset.materialize()
    finally:
        embed_seconds = time.perf_counter() - embed_started
        ray.shutdown()

    reports = [shard_report(out, s, run_name) for s in shards]
    missing = [s["shard"] for s, r in zip(shards, reports) if r is None]
    if missing:
        raise UsageError(f"{len(missing)} shards were not embedded ({', '.join(missing[:5])}); run the same command again to resume")
    planned = {s["shard"] for s in shards}
    for stale in (out / "shards").iterdir():  # shards of an earlier, longer input
        if stale.name.split(".")[0] not in planned:
            stale.unlink()
    keep_only(out, {f"{run_name}-{s['shard']}" for s in shards})  # the cache now holds exactly this run's vectors
    embedded = sum(r["embedded"] for r in reports)
    result = {
        "fingerprint": made_from,
        "shards": [{k: r[k] for k in ("shard", "file", "offset", "first_line", "lines", "records", "embedded", "reused", "provider", "variant")}
                   for r in reports],
        "lines_read": sum(r["records"] + len(r["rejected"]) for r in reports),  # blank lines are not records
        "embedded": embedded,
        "reused": sum(r["reused"] for r in reports),
        "rejected_lines": [bad for r in reports for bad in r["rejected"]],
        "workers": workers, "gpus_per_worker": gpus_per_worker,
        "ray_start_seconds": round(ray_start_s, 2),
        "embed_seconds": round(embed_seconds, 2),
        "texts_per_second": round(embedded / embed_seconds, 1) if embedded else None,
    }
    result["rejected"] = len(result["rejected_lines"])
    assert result["lines_read"] == result["embedded"] + result["reused"] + result["rejected"]
    atomic_write_json(out / VECTORS_MANIFEST, result)  # last: the run is done
    return result


@cli(interrupted="finished shards are kept in the vector cache; run the same command again to resume")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.embed_ray", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a JSON-lines file or a glob of them (quote it)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--address", default="local", help="local (start Ray here), auto (a running cluster) or ray://host:port")
    parser.add_argument("--workers", type=int, default=2, help="actors in the pool")
    parser.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs per actor (0 = CPU workers)")
    parser.add_argument("--variant", default=None, help="model variant (default: the manifest's, int8 on CPU (int8_unsigned where the export left int8 out) and fp16 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="texts per onnxruntime call (default: the fastest measured on this CPU, handler.model.cpu.BATCH_ROWS; 32 elsewhere and on CUDA)")
    parser.add_argument("--shard-lines", type=int, default=20_000, help="lines per shard (the unit of work and of what a killed run keeps)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per CPU actor (default: cores / workers)")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--schema", default=env("SCHEMA_FILE"), help="the catalogue's schema, a TOML file (docs/schema.md; default: $SCHEMA_FILE, "
                        "else the built-in startups schema)")
    parser.add_argument("--text-template", default=None, help="text to embed, overriding the schema's `embed`")
    parser.add_argument("--ray-temp-dir", default=None, help="Ray's session directory (default: Ray's own)")
    args = parser.parse_args(argv)
    for name in ("workers", "batch_size", "shard_lines"):
        if getattr(args, name) is not None and getattr(args, name) < 1:  # batch_size None: this CPU's
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.gpus_per_worker < 0:
        raise UsageError("--gpus-per-worker must be >= 0")
    schema = load_schema(args.schema).with_template(args.text_template)
    files = expand(args.input)

    done = run(files, args.out, model_dir=args.model_dir, variant=args.variant, address=args.address, workers=args.workers,
                  gpus_per_worker=args.gpus_per_worker, batch_size=args.batch_size, shard_lines=args.shard_lines,
                  schema=schema, threads=args.threads, ray_temp_dir=args.ray_temp_dir)
    for bad in done["rejected_lines"]:
        say(f"rejected: {bad['file']}: line {bad['line']}: {bad['reason']}")
    speed = f", {done['texts_per_second']} texts/s in {done['embed_seconds']} s (Ray start {done['ray_start_seconds']} s)" if done["texts_per_second"] else ""
    print(f"{summary(done['lines_read'], done['embedded'], done['reused'], done['rejected'])} in {len(done['shards'])} shards "
          f"({args.workers} workers{speed}); wrote {args.out}/{VECTORS_MANIFEST}")
    return exit_status(done["rejected"])


if __name__ == "__main__":
    sys.exit(main())
