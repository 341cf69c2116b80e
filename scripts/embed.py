"""Offline batch embedding: JSON-lines records -> DIR/vectors.npy (the tutorial's startup_vectors.npy).

    python -m scripts.embed --input FILE_OR_URL --out DIR [--schema FILE] [--model-dir DIR] [--device auto|cuda|cpu]
                            [--variant int8|int8_unsigned|fp32|fp16] [--batch-size N] [--limit N] [--text-template T]

Incremental and resumable: DIR/cache keeps every vector under its model file and exact text
(scripts/vector_cache.py), so a run on an updated file embeds only new and changed texts, and a
run stopped by a crash or Ctrl-C continues from its last finished chunk when run again.

Each line is read against the catalogue's schema (--schema, default $SCHEMA_FILE or the built-in
startups schema): a line that does not fit is rejected with its number and the field at fault.

Exit status: 0 every line embedded or reused; 3 done, but some lines were rejected (listed in the report);
1 nothing to embed (every line rejected, or none at all: the previous output is left as it was);
2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np

from handler.common import (
    NeuralSearchError,
    Schema,
    UsageError,
    atomic_save_npy,
    atomic_write_json,
    cli,
    env,
    load_schema,
    say,
    sha256_file,
)
from handler.storage import read_records
from scripts.embed_run import drop_legacy, embed_with_cache, exit_status, summary
from scripts.vector_cache import VectorCache, keep_only

TUTORIAL_URL = "https://storage.googleapis.com/generall-shared-data/startups_demo.json"


def default_cache_dir() -> Path:
    return Path(env("NEURAL_SEARCH_CACHE")).expanduser()


def fetch(url: str, cache_dir: Path | None = None, timeout: float = 30) -> Path:
    """Download url into the cache once (with a progress bar); a clear UsageError when unreachable."""
    from tqdm import tqdm

    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / Path(url.split("?")[0]).name
    if target.is_file():
        say(f"using cached {target}")
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {target.name}", file=sys.stderr) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(
            f"could not download {url} ({getattr(exc, 'reason', exc)}). This machine may be offline: "
            "pass a local JSON-lines file with --input FILE (for example ../shared/data/startups_sample.jsonl)"
        ) from exc
    partial.rename(target)
    return target


def resolve_input(spec: str | None) -> Path:
    if spec is None:
        say(f"no --input: using the tutorial's full dataset {TUTORIAL_URL}")
        return fetch(TUTORIAL_URL)
    if spec.startswith(("http://", "https://")):
        return fetch(spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UsageError(f"--input '{spec}' does not exist or is not a file")
    return path


class NothingToEmbed(NeuralSearchError):
    """Not one record of the input fits the schema: nothing is written (exit status 1)."""


def nothing_to_embed(input_path: Path, rejected: list, schema: Schema) -> NothingToEmbed:
    """The refusal of an input without one good record, with the reasons counted (the commonest first)."""
    if not rejected:
        return NothingToEmbed(f"{input_path} holds no records (no non-blank line); nothing was written")
    reasons = Counter(r.reason for r in rejected)
    shown = "; ".join(f"{count} x {reason} (first: line {next(r.line for r in rejected if r.reason == reason)})" for reason, count in reasons.most_common(3))
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return NothingToEmbed(f"every one of the {len(rejected)} lines of {input_path} was rejected against {schema.source}: {shown}{more}. "
                          "Nothing was written: fix the input, or pass the --schema it follows")


def embed_file(
    input_path: Path,
    out_dir: Path,
    encoder,
    *,
    schema: Schema | None = None,
    limit: int | None = None,
    chunk_size: int = 2048,
    progress: bool = True,
) -> dict:
    """Embed every valid record of input_path into out_dir, reusing the vectors its cache holds;
    returns the report (also written, last: an --out without report.json holds no finished run).
    An input without one valid record changes nothing in out_dir (NothingToEmbed)."""
    from tqdm import tqdm

    schema = schema or load_schema()
    started = time.perf_counter()
    records, rejected = read_records(input_path, schema)
    if limit is not None:
        records = [r for r in records if r.line <= limit]
        rejected = [r for r in rejected if r.line <= limit]
    if not records:
        raise nothing_to_embed(input_path, rejected, schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").unlink(missing_ok=True)
    drop_legacy(out_dir, ("state.json", "chunks"))
    cache = VectorCache(out_dir, encoder.sha256, encoder.dim)
    texts = [schema.embed_text(r.data) for r in records]

    with tqdm(total=0, unit="text", desc="embedding", file=sys.stderr, disable=not progress or None) as bar:
        def on_start(reused: int, to_embed: int) -> None:
            if reused:
                say(f"reusing {reused} of {len(texts)} vectors from the cache ({cache.folder}); {to_embed} texts to embed")
            bar.reset(total=to_embed)

        embed_started = time.perf_counter()
        result = embed_with_cache(texts, cache, encoder, chunk_size=chunk_size, checkpoint=True, on_start=on_start, on_chunk=bar.update)
        embed_seconds = time.perf_counter() - embed_started

    atomic_save_npy(out_dir / "vectors.npy", result.vectors)
    atomic_save_npy(out_dir / "lines.npy", np.asarray([r.line for r in records], dtype=np.int64))
    distinct, first = np.unique(result.keys, return_index=True)
    keep_only(out_dir, {cache.add(distinct, result.vectors[first])})  # the cache now holds exactly this run's vectors
    report = {
        "input": str(input_path),
        "input_sha256": sha256_file(input_path),
        "limit": limit,
        "template": schema.embed,
        "schema": schema.fingerprint(),
        "schema_source": schema.source,
        "model_sha256": encoder.sha256,
        "variant": encoder.variant,
        "provider": encoder.provider,
        "dim": encoder.dim,
        "lines_read": len(records) + len(rejected),
        "embedded": result.embedded,
        "reused": result.reused,
        "rejected": len(rejected),
        "rejected_lines": [{"line": r.line, "reason": r.reason} for r in rejected],
        "texts_per_second": round(result.embedded / embed_seconds, 1) if result.embedded else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    assert report["lines_read"] == report["embedded"] + report["reused"] + report["rejected"]
    atomic_write_json(out_dir / "report.json", report)
    return report


@cli(interrupted="finished chunks are kept in the vector cache; run the same command again to resume")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.embed", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help=f"JSON-lines file or URL (default: download {TUTORIAL_URL})")
    parser.add_argument("--out", required=True, type=Path, help="output directory: vectors.npy, lines.npy, report.json and the vector cache")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")), help="export directory (default: $MODEL_DIR or ./model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"], help="auto: CUDA when onnxruntime-gpu sees a GPU, else CPU (said out loud)")
    parser.add_argument("--variant", default=None, help="model variant (default: the manifest's, int8 on CPU (int8_unsigned where the export left int8 out) and fp16 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="texts per onnxruntime call (default: the fastest measured on this CPU, handler.model.cpu.BATCH_ROWS; 32 elsewhere and on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime (default: one per core)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines of the input")
    parser.add_argument("--chunk-size", type=int, default=2048, help="records per checkpoint")
    parser.add_argument("--schema", default=env("SCHEMA_FILE"), help="the catalogue's schema, a TOML file (docs/schema.md; default: $SCHEMA_FILE, "
                        "else the built-in startups schema)")
    parser.add_argument("--text-template", default=None, help="text to embed, from record fields, overriding the schema's `embed` (e.g. '{name}. {alt}')")
    args = parser.parse_args(argv)

    from handler.model import Encoder

    for name in ("batch_size", "chunk_size", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    schema = load_schema(args.schema).with_template(args.text_template)
    input_path = resolve_input(args.input)
    encoder = Encoder.from_export(args.model_dir, args.variant, device=args.device, threads=args.threads, batch_size=args.batch_size, announce=True)
    report = embed_file(input_path, args.out, encoder, schema=schema, limit=args.limit, chunk_size=args.chunk_size)

    for item in report["rejected_lines"]:
        say(f"rejected: {input_path}: line {item['line']}: {item['reason']}")
    speed = f", {report['texts_per_second']} texts/s" if report["texts_per_second"] else ""
    print(
        f"{summary(report['lines_read'], report['embedded'], report['reused'], report['rejected'])} "
        f"({report['provider']}, variant {report['variant']}{speed}); wrote {args.out}/vectors.npy {tuple(np.load(args.out / 'vectors.npy', mmap_mode='r').shape)}"
    )
    return exit_status(report["rejected"])


if __name__ == "__main__":
    sys.exit(main())
