"""Bulk embedding at scale on Ray Data: many JSON-lines files, many workers (CPU or GPU), resumable.

    python -m scripts.embed_ray --input PATH_OR_GLOB --out DIR [--address auto|local|ray://...]
                                [--workers N] [--gpus-per-worker 1] [--variant int8|int8_blocks|fp32|fp16]
                                [--batch-size N] [--shard-lines 20000] [--model-dir DIR]

Needs the `scale` extra (ray[data]); nothing here ships in the Lambda artifact.

The input is cut into shards of --shard-lines lines (a file, its byte offset, its line count).
Ray Data hands the shards to a pool of actors (`ActorPoolStrategy`); each actor builds the
project's Encoder once (CUDA fp16 with its parity probe on a GPU worker, CPU otherwise, and says
which), reads its shard's lines, keeps the ones `scripts.embed` would keep (the same record rules
and text template; a bad line is reported with its file and line), embeds them and writes the
shard's vectors, line numbers and report atomically under DIR/shards. A run that is stopped or
loses a worker is resumed by running the same command: finished shards are skipped.
DIR/manifest.json lists every shard; `scripts.upload --vectors DIR` reads it.

Why not `ray.data.read_json`: one malformed line fails its whole file there, and line numbers are
lost; reading byte ranges inside the actors keeps both the per-line report and the streaming.

Exit status: 0 every line embedded; 3 done, but some lines were rejected; 2 bad arguments; 1 failure.
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

from handler.cli import cli, say
from handler.config import env
from handler.errors import UsageError
from handler.files import atomic_save_npy, atomic_write_json
from handler.record import DEFAULT_TEXT_TEMPLATE, record_text
from scripts.records import Record, parse_line, template_fields

EXIT_OK, EXIT_REJECTED = 0, 3
MANIFEST = "manifest.json"


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


def read_shard(shard: dict, template: str) -> tuple[list[Record], list[dict]]:
    """The shard's lines, kept or rejected by the rules of scripts.embed (scripts.records)."""
    fields = template_fields(template)
    good, bad = [], []
    with open(shard["file"], "rb") as handle:
        handle.seek(shard["offset"])
        for i in range(shard["lines"]):
            parsed = parse_line(handle.readline(), shard["first_line"] + i, fields)
            if isinstance(parsed, Record):
                good.append(parsed)
            elif parsed is not None:
                bad.append({"file": shard["file"], "line": parsed.line, "reason": parsed.reason})
    return good, bad


def shard_done(out: Path, shard: dict) -> bool:
    report = out / "shards" / f"{shard['shard']}.json"
    if not report.is_file():
        return False
    done = json.loads(report.read_text())
    return all(done.get(k) == shard[k] for k in ("file", "offset", "first_line", "lines"))


class ShardEmbedder:
    """A Ray actor: one Encoder for its life, one shard per call."""

    def __init__(self, model_dir: str, variant: str | None, device: str, batch_size: int, threads: int | None, template: str, out: str) -> None:
        from handler.encoder import Encoder

        self.encoder = Encoder.from_export(model_dir, variant, device=device, threads=threads, batch_size=batch_size)
        self.template, self.out = template, Path(out)
        # said out loud, per worker (Ray forwards actor output to the driver's stderr)
        print(f"embed_ray worker pid {os.getpid()}: variant '{self.encoder.variant}' on {self.encoder.provider}", file=sys.stderr, flush=True)

    def __call__(self, batch: dict) -> dict:
        summaries = []
        for row in range(len(batch["shard"])):
            shard = {key: (value[row].item() if hasattr(value[row], "item") else value[row]) for key, value in batch.items()}
            started = time.perf_counter()
            good, bad = read_shard(shard, self.template)
            vectors = self.encoder.embed([record_text(r.data, self.template) for r in good]) if good else np.empty((0, self.encoder.dim), np.float32)
            base = self.out / "shards" / shard["shard"]
            atomic_save_npy(base.with_suffix(".vectors.npy"), vectors)
            atomic_save_npy(base.with_suffix(".lines.npy"), np.asarray([r.line for r in good], dtype=np.int64))
            report = {**shard, "embedded": len(good), "rejected": bad, "provider": self.encoder.provider,
                      "variant": self.encoder.variant, "seconds": round(time.perf_counter() - started, 3)}
            atomic_write_json(base.with_suffix(".json"), report)  # written last: the shard is done
            summaries.append(json.dumps({k: v for k, v in report.items() if k != "rejected"} | {"rejected": len(bad)}))
        return {"summary": np.asarray(summaries, dtype=object)}


def fingerprint(files: list[Path], model_sha256: str, variant: str, template: str, shard_lines: int) -> dict:
    """What a resumed run must share with the first: inputs (path, size, mtime), model, settings."""
    return {
        "inputs": [{"file": str(f.resolve()), "bytes": f.stat().st_size, "mtime_ns": f.stat().st_mtime_ns} for f in files],
        "model_sha256": model_sha256, "variant": variant, "template": template, "shard_lines": shard_lines,
    }


def run(files: list[Path], out: Path, *, model_dir: Path, variant: str | None, address: str, workers: int, gpus_per_worker: float,
        batch_size: int, shard_lines: int, template: str, threads: int | None, ray_temp_dir: str | None) -> dict:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"scripts.embed_ray needs the scale extra: pip install -e '.[scale]' ({exc})") from exc
    from handler.encoder import read_manifest

    device = "cuda" if gpus_per_worker > 0 else "cpu"
    manifest = read_manifest(model_dir)
    variant = variant or manifest["defaults"][device]
    if variant not in manifest["variants"]:
        raise UsageError(f"variant '{variant}' is not in {model_dir}/manifest.json (has: {', '.join(sorted(manifest['variants']))})")
    expected = fingerprint(files, manifest["variants"][variant]["sha256"], variant, template, shard_lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    state = out / "state.json"
    if state.is_file() and json.loads(state.read_text()) != expected:
        previous = json.loads(state.read_text())
        changed = sorted(k for k in expected if previous.get(k) != expected[k])
        raise UsageError(f"--out '{out}' holds a run with other settings ({', '.join(changed)} differ); use another --out or delete it")
    atomic_write_json(state, expected)

    shards = plan_shards(files, shard_lines)
    todo = [s for s in shards if not shard_done(out, s)]
    if len(todo) < len(shards):
        say(f"resuming: {len(shards) - len(todo)} of {len(shards)} shards already embedded")
    started = time.perf_counter()
    ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=True,
             ignore_reinit_error=True, **({"_temp_dir": ray_temp_dir} if ray_temp_dir else {}))
    ray_start_s = time.perf_counter() - started
    per_worker_threads = (threads or max(1, (os.cpu_count() or 1) // workers)) if device == "cpu" else threads
    embed_started = time.perf_counter()
    try:
        if todo:
            dataset = ray.data.from_items(todo).map_batches(
                ShardEmbedder,
                fn_constructor_kwargs={"model_dir": str(model_dir.resolve()), "variant": variant, "device": device, "batch_size": batch_size,
                                       "threads": per_worker_threads, "template": template, "out": str(out.resolve())},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_gpus=gpus_per_worker if gpus_per_worker > 0 else None,
                num_cpus=per_worker_threads if device == "cpu" else 1,
            )
            dataset.materialize()
    finally:
        embed_seconds = time.perf_counter() - embed_started
        ray.shutdown()

    reports = [json.loads((out / "shards" / f"{s['shard']}.json").read_text()) for s in shards if shard_done(out, s)]
    missing = [s["shard"] for s in shards if not shard_done(out, s)]
    if missing:
        raise UsageError(f"{len(missing)} shards were not embedded ({', '.join(missing[:5])}); run the same command again to resume")
    embedded_now = sum(r["embedded"] for r in reports if r["shard"] in {s["shard"] for s in todo})
    summary = {
        "fingerprint": expected,
        "shards": [{k: r[k] for k in ("shard", "file", "offset", "first_line", "lines", "embedded", "provider", "variant")} for r in reports],
        "lines_read": sum(r["lines"] for r in reports) - sum(_blank_lines(r) for r in reports),
        "embedded": sum(r["embedded"] for r in reports),
        "rejected_lines": [bad for r in reports for bad in r["rejected"]],
        "workers": workers, "gpus_per_worker": gpus_per_worker,
        "ray_start_seconds": round(ray_start_s, 2),
        "embed_seconds": round(embed_seconds, 2),
        "texts_per_second_this_run": round(embedded_now / embed_seconds, 1) if embedded_now else None,
    }
    summary["rejected"] = len(summary["rejected_lines"])
    atomic_write_json(out / MANIFEST, summary)
    return summary


def _blank_lines(report: dict) -> int:
    """Lines of a shard that were neither embedded nor rejected: blank lines (not records)."""
    return report["lines"] - report["embedded"] - len(report["rejected"])


@cli(interrupted="finished shards are kept; run the same command again to resume")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.embed_ray", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a JSON-lines file or a glob of them (quote it)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--address", default="local", help="local (start Ray here), auto (a running cluster) or ray://host:port")
    parser.add_argument("--workers", type=int, default=2, help="actors in the pool")
    parser.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs per actor (0 = CPU workers)")
    parser.add_argument("--variant", default=None, help="model variant (default: the manifest's, int8 on CPU and fp16 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-lines", type=int, default=20_000, help="lines per shard (the unit of work and of resuming)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per CPU actor (default: cores / workers)")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--text-template", default=DEFAULT_TEXT_TEMPLATE)
    parser.add_argument("--ray-temp-dir", default=None, help="Ray's session directory (default: Ray's own)")
    args = parser.parse_args(argv)
    for name in ("workers", "batch_size", "shard_lines"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.gpus_per_worker < 0:
        raise UsageError("--gpus-per-worker must be >= 0")
    template_fields(args.text_template)
    files = expand(args.input)

    summary = run(files, args.out, model_dir=args.model_dir, variant=args.variant, address=args.address, workers=args.workers,
                  gpus_per_worker=args.gpus_per_worker, batch_size=args.batch_size, shard_lines=args.shard_lines,
                  template=args.text_template, threads=args.threads, ray_temp_dir=args.ray_temp_dir)
    for bad in summary["rejected_lines"]:
        say(f"rejected: {bad['file']}: line {bad['line']}: {bad['reason']}")
    speed = f", {summary['texts_per_second_this_run']} texts/s in {summary['embed_seconds']} s (Ray start {summary['ray_start_seconds']} s)" if summary["texts_per_second_this_run"] else ""
    print(f"read {summary['lines_read']} lines = {summary['embedded']} embedded + {summary['rejected']} rejected in {len(summary['shards'])} shards "
          f"({args.workers} workers{speed}); wrote {args.out}/{MANIFEST}")
    return EXIT_REJECTED if summary["rejected"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
