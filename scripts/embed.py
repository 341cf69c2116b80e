"""Offline batch embedding: JSON-lines records -> DIR/vectors.npy (the tutorial's startup_vectors.npy).

    python -m scripts.embed --input FILE_OR_URL --out DIR [--model-dir DIR] [--device auto|cuda|cpu]
                            [--variant int8|int8_blocks|fp32|fp16] [--batch-size N] [--limit N]

Resumable: vectors are checkpointed in chunks under DIR/chunks; run the same command again after
a crash or Ctrl-C and it continues where it stopped, ending with the same vectors.

Exit status: 0 every line embedded; 3 done, but some lines were rejected (listed in the report);
2 bad arguments or input; 1 unexpected error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from handler.cli import cli, say
from handler.config import env
from handler.errors import UsageError
from handler.files import atomic_save_npy, atomic_write_json, sha256_file
from handler.record import DEFAULT_TEXT_TEMPLATE, record_text
from scripts.records import read_records

TUTORIAL_URL = "https://storage.googleapis.com/generall-shared-data/startups_demo.json"
EXIT_OK, EXIT_REJECTED = 0, 3


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


def embed_file(
    input_path: Path,
    out_dir: Path,
    encoder,
    *,
    template: str = DEFAULT_TEXT_TEMPLATE,
    limit: int | None = None,
    chunk_size: int = 2048,
    progress: bool = True,
) -> dict:
    """Embed every valid record of input_path into out_dir; returns the report (also written)."""
    from tqdm import tqdm

    started = time.perf_counter()
    records, rejected = read_records(input_path, template)
    if limit is not None:
        records = [r for r in records if r.line <= limit]
        rejected = [r for r in rejected if r.line <= limit]
    lines_read = len(records) + len(rejected)
    fingerprint = {
        "input": str(input_path),
        "input_sha256": sha256_file(input_path),
        "limit": limit,
        "template": template,
        "model_sha256": encoder.sha256,
        "variant": encoder.variant,
        "chunk_size": chunk_size,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    state_file, chunk_dir = out_dir / "state.json", out_dir / "chunks"
    if state_file.is_file():
        previous = json.loads(state_file.read_text())
        if previous != fingerprint:
            changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
            raise UsageError(
                f"--out '{out_dir}' holds an earlier run with other settings ({', '.join(changed)} differ); "
                "use another --out, or delete that directory to start over"
            )
    else:
        for stale in ("vectors.npy", "lines.npy", "report.json"):
            (out_dir / stale).unlink(missing_ok=True)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        atomic_write_json(state_file, fingerprint)
    chunk_dir.mkdir(exist_ok=True)

    # Chunks are fixed slices of the valid records, so a resumed run embeds exactly the same batches.
    starts = list(range(0, len(records), chunk_size))
    done = {s for s in starts if (chunk_dir / f"{s:09d}.npy").is_file()}
    if done:
        say(f"resuming: {len(done)} of {len(starts)} chunks already embedded")
    embed_started = time.perf_counter()
    embedded_now = 0
    with tqdm(total=len(records), unit="text", desc="embedding", file=sys.stderr, disable=not progress or None) as bar:
        bar.update(sum(min(chunk_size, len(records) - s) for s in done))
        for start in starts:
            if start in done:
                continue
            chunk = records[start : start + chunk_size]
            vectors = encoder.embed([record_text(r.data, template) for r in chunk])
            atomic_save_npy(chunk_dir / f"{start:09d}.npy", vectors)
            embedded_now += len(chunk)
            bar.update(len(chunk))
    embed_seconds = time.perf_counter() - embed_started

    dim = encoder.dim
    vectors = np.concatenate([np.load(chunk_dir / f"{s:09d}.npy") for s in starts]) if starts else np.empty((0, dim), np.float32)
    lines = np.asarray([r.line for r in records], dtype=np.int64)
    atomic_save_npy(out_dir / "vectors.npy", vectors.astype(np.float32, copy=False))
    atomic_save_npy(out_dir / "lines.npy", lines)
    report = {
        **fingerprint,
        "provider": encoder.provider,
        "dim": dim,
        "lines_read": lines_read,
        "embedded": int(len(records)),
        "rejected": len(rejected),
        "rejected_lines": [{"line": r.line, "reason": r.reason} for r in rejected],
        "embedded_this_run": embedded_now,
        "texts_per_second_this_run": round(embedded_now / embed_seconds, 1) if embedded_now else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    assert report["lines_read"] == report["embedded"] + report["rejected"]
    atomic_write_json(out_dir / "report.json", report)
    shutil.rmtree(chunk_dir, ignore_errors=True)  # vectors.npy now holds them all
    return report


@cli(interrupted="finished chunks are kept; run the same command again to resume")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.embed", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help=f"JSON-lines file or URL (default: download {TUTORIAL_URL})")
    parser.add_argument("--out", required=True, type=Path, help="output directory: vectors.npy, lines.npy, report.json")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")), help="export directory (default: $MODEL_DIR or ./model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"], help="auto: CUDA when onnxruntime-gpu sees a GPU, else CPU (said out loud)")
    parser.add_argument("--variant", default=None, help="model variant (default: the manifest's, int8 on CPU and fp16 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime (default: one per core)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines of the input")
    parser.add_argument("--chunk-size", type=int, default=2048, help="records per checkpoint")
    parser.add_argument("--text-template", default=DEFAULT_TEXT_TEMPLATE, help="text to embed, from record fields (default: '%(default)s')")
    args = parser.parse_args(argv)

    from handler.encoder import Encoder

    for name in ("batch_size", "chunk_size", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    input_path = resolve_input(args.input)
    encoder = Encoder.from_export(args.model_dir, args.variant, device=args.device, threads=args.threads, batch_size=args.batch_size, announce=True)
    report = embed_file(input_path, args.out, encoder, template=args.text_template, limit=args.limit, chunk_size=args.chunk_size)

    for item in report["rejected_lines"]:
        say(f"rejected: {input_path}: line {item['line']}: {item['reason']}")
    speed = f", {report['texts_per_second_this_run']} texts/s" if report["texts_per_second_this_run"] else ""
    print(
        f"read {report['lines_read']} lines = {report['embedded']} embedded + {report['rejected']} rejected "
        f"({report['provider']}, variant {report['variant']}{speed}); wrote {args.out}/vectors.npy {tuple(np.load(args.out / 'vectors.npy', mmap_mode='r').shape)}"
    )
    return EXIT_REJECTED if report["rejected"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
