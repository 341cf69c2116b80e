"""Bulk embedding throughput: sentence-transformers (the tutorial's path) beside the real
`scripts.embed` path (reading, validating, tokenizing, length-sorting, onnxruntime, writing the
vectors) for each ONNX variant, in one run, with where the time goes.

    python -m scripts.bench_embed [--input ../shared/data/bench_corpus_40k.jsonl] [--limit 4000]
                                  [--batch-size N] [--threads N] [--model-dir model] [--skip-reference]
                                  [--baseline-model-dir DIR]

Prints texts/s per engine and the ratio to sentence-transformers, one row per CPU variant of the
manifest (named as there; the CPU default marked) at this CPU's batch size (`handler.model.cpu.batch_rows`,
or --batch-size), sentence-transformers at its own default batch size (32: the tutorial's `encode`
call) and, where the two differ, at ours too; for each variant the split between reading,
tokenizing, onnxruntime and writing, plus the padding the batches carry. On a machine whose
onnxruntime sees a GPU, the CUDA fp16 variant is timed too. --baseline-model-dir adds an older
export's CPU default, run as an older checkout ran it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from handler.common import UsageError, cli, env, load_schema, say
from handler.model import batch_rows
from handler.storage import read_records
from reference import BENCH_FILE
from scripts import benchkit

TUTORIAL_BATCH = 32  # sentence-transformers' encode() default, which the tutorial's upload uses

class Timed:
    """Wraps an encoder's onnxruntime session and tokenizer to add up the time spent in each."""

    def __init__(self, encoder) -> None:
        self.onnx_s = self.tokenize_s = 0.0
        self.real_tokens = self.padded_tokens = 0
        session, tokenizer = encoder.session, encoder.tokenizer
        timed = self

        class Session:
            def __getattr__(self, name):
                return getattr(session, name)

            def run(self, outputs, feeds, *args):
                started = time.perf_counter()
                try:
                    return session.run(outputs, feeds, *args)
                finally:
                    timed.onnx_s += time.perf_counter() - started
                    mask = feeds["attention_mask"]
                    timed.real_tokens += int(mask.sum())
                    timed.padded_tokens += int(mask.size)

        class Tokenizer:
            def __getattr__(self, name):
                return getattr(tokenizer, name)

            def encode_batch(self, texts):
                started = time.perf_counter()
                try:
                    return tokenizer.encode_batch(texts)
                finally:
                    timed.tokenize_s += time.perf_counter() - started

        encoder.session, encoder.tokenizer = Session(), Tokenizer()


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_embed", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BENCH_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--limit", type=int, default=4000, help="lines of --input to embed per engine")
    parser.add_argument("--batch-size", type=int, default=None, help="texts per call for the ONNX variants (default: this CPU's, handler.model.cpu.batch_rows)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for each engine (default: every core)")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--skip-reference", action="store_true", help="leave sentence-transformers out")
    parser.add_argument("--baseline-model-dir", type=Path, default=None, help="an older export whose CPU default is timed too")
    args = parser.parse_args(argv)
    benchkit.existing_file(args.input)

    import onnxruntime

    from handler.model import CUDA, Encoder, read_manifest
    from scripts.embed import embed_file

    with open(args.input, "rb") as handle:
        lines = [line for _, line in zip(range(args.limit), handle)]
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    slice_file = work / "slice.jsonl"
    slice_file.write_bytes(b"".join(lines))
    schema = load_schema(args.schema)
    records, _ = read_records(slice_file, schema)
    texts = [schema.embed_text(r.data) for r in records]
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    batch = args.batch_size or batch_rows()  # the CPU variants' (CUDA's is the encoder's own unless given)
    say(f"{len(texts)} texts of {args.input.name}, batch size {batch}{'' if args.batch_size else ' (this CPU’s)'}, onnxruntime {onnxruntime.__version__}, {benchkit.cpu_name()}")

    rows: list[tuple[str, float, str]] = []
    if not args.skip_reference:
        from reference import load_sentence_transformer

        model = load_sentence_transformer(threads=args.threads)
        model.encode(texts[:64])  # warm-up
        for size, label in [(TUTORIAL_BATCH, f"batch {TUTORIAL_BATCH}, its default: the tutorial's call")] + ([(batch, f"batch {batch}, ours")] if batch != TUTORIAL_BATCH else []):
            started = time.perf_counter()
            model.encode(texts, batch_size=size)
            rows.append((f"sentence-transformers (torch, CPU), encode() only, {label}", len(texts) / (time.perf_counter() - started), ""))

    manifest = read_manifest(args.model_dir)
    engines = [(args.model_dir, v, "cpu", v + (" (defaults.cpu)" if v == manifest["defaults"]["cpu"] else "")) for v in manifest["variants"] if v != "fp16"]
    if CUDA in onnxruntime.get_available_providers():
        engines.append((args.model_dir, "fp16", "cuda", "fp16"))
    if args.baseline_model_dir:
        old = read_manifest(args.baseline_model_dir)["defaults"]["cpu"]
        engines.append((args.baseline_model_dir, old, "cpu", f"before: {old}"))
    for model_dir, variant, device, label in engines:
        encoder = Encoder.from_export(model_dir, variant, device=device, threads=args.threads, batch_size=args.batch_size)
        if label.startswith("before"):
            encoder.session = benchkit.plain_session(encoder.model_path, args.threads)
        encoder.embed(texts[:64])  # warm-up
        timed = Timed(encoder)
        started = time.perf_counter()
        out = work / f"out-{len(rows)}"
        report = embed_file(slice_file, out, encoder, progress=False)
        total = time.perf_counter() - started
        assert report["embedded"] == len(texts) and report["reused"] == 0 and np.load(out / "vectors.npy").shape[0] == len(texts)
        other = total - timed.onnx_s - timed.tokenize_s
        split = (f"onnxruntime {timed.onnx_s / total:.0%}, tokenize {timed.tokenize_s / total:.0%}, read + sort + checkpoint + write {other / total:.0%}; "
                 f"padding {timed.padded_tokens / max(timed.real_tokens, 1) - 1:.1%} of {timed.real_tokens / len(texts):.0f} tokens/text; "
                 f"onnxruntime alone {len(texts) / timed.onnx_s:.0f} texts/s")
        rows.append((f"scripts.embed, {label} ({encoder.provider}{'' if encoder.batch_size == batch else f', batch {encoder.batch_size}'})", len(texts) / total, split))

    reference = next((speed for name, speed, _ in rows if name.startswith("sentence-transformers")), None)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'engine':<{width}} {'texts/s':>9} {'vs ST':>7}")
    for name, speed, _ in rows:
        print(f"{name:<{width}} {speed:>9.1f} {f'{speed / reference:.2f}x' if reference else '-':>7}")
    same = next((speed for name, speed, _ in rows if name.endswith(", ours")), None)
    default = next((speed for name, speed, _ in rows if "(defaults.cpu)" in name), None)
    if same and default:
        print(f"the CPU default against sentence-transformers at the same batch size ({batch}): {default / same:.2f}x")
    for name, _, split in rows:
        if split:
            print(f"  {name}: {split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
