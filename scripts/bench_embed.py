"""Embedding throughput: sentence-transformers (the reference) vs our ONNX variants, in one run.

    python -m scripts.bench_embed [--input ../shared/data/bench_corpus_40k.jsonl] [--limit 2000]
                                  [--batch-size 32] [--threads N] [--model-dir model]

Prints texts/s per engine and the ratio to sentence-transformers, plus where the ONNX time goes
(tokenization vs onnxruntime). Needs the export extra for the reference.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from handler.config import env
from scripts.records import BENCH_FILE, read_records, record_text


def _timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_embed", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BENCH_FILE)
    parser.add_argument("--limit", type=int, default=2000, help="texts to embed per engine")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--skip-reference", action="store_true", help="leave sentence-transformers out")
    args = parser.parse_args(argv)

    import onnxruntime

    from handler.encoder import CUDA, Encoder

    records, _ = read_records(args.input)
    texts = [record_text(r.data) for r in records[: args.limit]]
    print(f"{len(texts)} texts from {args.input.name}, batch size {args.batch_size}, {args.threads} threads, onnxruntime {onnxruntime.__version__}")

    results: dict[str, float] = {}
    if not args.skip_reference:
        from scripts.reference import load_sentence_transformer

        model = load_sentence_transformer(threads=args.threads)
        model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
        results["sentence-transformers (torch, CPU)"] = len(texts) / _timed(lambda: model.encode(texts, batch_size=args.batch_size))

    engines = [("fp32", "cpu"), ("int8", "cpu")]
    if CUDA in onnxruntime.get_available_providers():
        engines.append(("fp16", "cuda"))
    breakdown = {}
    for variant, device in engines:
        encoder = Encoder.from_export(args.model_dir, variant, device=device, threads=args.threads, batch_size=args.batch_size)
        encoder.embed(texts[:64])
        results[f"onnxruntime {variant} ({encoder.provider})"] = len(texts) / _timed(lambda: encoder.embed(texts))
        if variant == "int8":
            tokenize = _timed(lambda: encoder.tokenizer.encode_batch(texts))
            breakdown = {"tokenize_s": tokenize, "total_s": len(texts) / results[f"onnxruntime {variant} ({encoder.provider})"]}

    reference = next((v for k, v in results.items() if k.startswith("sentence-transformers")), None)
    print(f"{'engine':<44} {'texts/s':>9} {'vs ST':>7}")
    for name, speed in results.items():
        ratio = f"{speed / reference:.2f}x" if reference else "-"
        print(f"{name:<44} {speed:>9.1f} {ratio:>7}")
    if breakdown:
        share = breakdown["tokenize_s"] / breakdown["total_s"]
        print(f"int8 time split: tokenization {breakdown['tokenize_s']:.2f} s ({share:.0%}), onnxruntime + padding {breakdown['total_s'] - breakdown['tokenize_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
