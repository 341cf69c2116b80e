"""Where a query's time goes: each variant's model time per token count and thread count, fitted
to a fixed cost plus a cost per token, in one run, and from which token count all threads beat one.

    taskset -c 0 python -m scripts.bench_tokens [--model-dir model] [--baseline-model-dir DIR]
                                                [--tokens 3,6,10,18,34,66] [--rounds 20] [--threads 1]
                                                [--rows 1] [--variants int8_unsigned] [--profile 3]
    python -m scripts.bench_tokens --threads 1,2 --tokens 3,8,16,32,48,64,96,128,256   # the crossover

Times one onnxruntime call (the one the service makes, nothing else) on real token ids of each
length, on a session of each --threads count. Variants and thread counts take turns in blocks of
runs (a block warms its weights into the cache, as consecutive queries do), rounds repeat the
turns, and every figure is a median over all rounds, so other load on the machine falls on every
one alike. With more than one thread count it prints, per variant, the crossover: the fewest
tokens from which the most threads beat one at every longer count measured, beside the figure the
encoder uses on this CPU (`handler.model.cpu.CROSSOVER_TOKENS`). --profile N prints onnxruntime's
own per-operator profile of an N-token query for each variant.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from handler.common import UsageError, cli, env, say
from scripts import benchkit

TEXT = ("Neural search finds documents by meaning rather than by shared words, and a vector database returns "
        "the nearest vectors to a query, filtered by payload fields such as the city of a startup. ") * 12


def token_ids(encoder, count: int) -> np.ndarray:
    """[CLS] + count - 2 real word pieces + [SEP]."""
    ids = encoder.tokenizer.encode(TEXT).ids
    return np.asarray([ids[: count - 1] + ids[-1:]], dtype=np.int64)


def engines(model_dir: Path, baseline_dir: Path | None, threads: list[int], variants: set[str] | None = None) -> dict:
    """{(label, thread count): encoder}, the encoder's wide session with that many threads. A
    variant this CPU cannot run with the gated vectors (int8 without an exact int8 dot product) is
    left out, saying why, unless --variants names it (then the refusal is the answer)."""
    from handler.model import Encoder, missing, read_manifest

    found = {}
    for label, directory in (("", model_dir), ("before: ", baseline_dir)):
        if directory is None:
            continue
        for variant, entry in read_manifest(directory)["variants"].items():
            if variant == "fp16" or (variants and variant not in variants):
                continue  # fp16: a CUDA variant; on CPU it only measures a conversion
            if not variants and (cannot := missing(entry.get("requires"))):
                say(f"{label}{variant}: not timed: never served on this CPU (it needs {entry['requires']}, and {cannot})")
                continue
            for count in threads:
                encoder = Encoder.from_export(directory, variant, threads=count, verify="size")  # named in --variants: its refusal is the answer
                if label:
                    encoder.session = benchkit.plain_session(encoder.model_path, count)
                found[label + variant, count] = encoder
    return found


def served_here(model_dir: Path) -> str:
    """What the service serves on this CPU from this export (no variant named): its figures are the ones that count here."""
    from handler.model import Encoder

    encoder = Encoder.from_export(model_dir, verify="size", threads=1)
    return f"{encoder.variant}" + (f" ({encoder.fallback})" if encoder.fallback else " (the export's CPU default)")


def crossover(medians: list[float], few: list[float], counts: list[int]) -> int | None:
    """The fewest tokens from which `medians` (the most threads) beat `few` (one thread) at every
    longer count measured; None when they never do."""
    winning = None
    for n, many, one in zip(reversed(counts), reversed(medians), reversed(few)):
        if many >= one:
            break
        winning = n
    return winning


def profile(encoder, ids: np.ndarray, runs: int = 300, as_before: bool = False) -> list[tuple[str, float, int]]:
    """(operator, microseconds per run, nodes) from onnxruntime's profile of this encoder's model,
    in a session built as the encoder builds it (as_before: as an older checkout built it)."""
    import onnxruntime as ort

    from handler.model import CPU_DISABLED_OPTIMIZERS

    options = ort.SessionOptions()
    options.intra_op_num_threads = encoder.session.get_session_options().intra_op_num_threads
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "profile")
    disabled = [] if as_before else list(CPU_DISABLED_OPTIMIZERS)
    session = ort.InferenceSession(str(encoder.model_path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    for _ in range(runs):
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    kept = runs // 2  # the second half: warm
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")[-kept:]
    per_op, count = collections.defaultdict(float), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= starts[0]:
            per_op[event["args"]["op_name"]] += event["dur"]
            count[event["args"]["op_name"]] += 1
    return sorted(((op, total / kept, count[op] // kept) for op, total in per_op.items()), key=lambda row: -row[1])


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_tokens", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--baseline-model-dir", type=Path, default=None, help="an older export, timed in the same run")
    parser.add_argument("--tokens", default="3,6,8,10,18,34,66")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=10, help="consecutive runs of one variant and length per turn")
    parser.add_argument("--threads", default="1", help="comma-separated thread counts, each timed (for example 1,2)")
    parser.add_argument("--rows", type=int, default=1, help="texts per call (a batch: its tokens are rows x the count)")
    parser.add_argument("--variants", default="", help="comma-separated variants to time (default: every CPU variant)")
    parser.add_argument("--profile", type=int, default=0, help="token count to profile per operator (0: none)")
    args = parser.parse_args(argv)
    try:
        counts = sorted({int(t) for t in args.tokens.split(",")})  # rising: the crossover walks them from the longest down
        threads = sorted({int(t) for t in args.threads.split(",")})
    except ValueError:
        raise UsageError("--tokens and --threads are comma-separated numbers (for example --threads 1,2)") from None
    if min(counts) < 2 or min(threads) < 1:
        raise UsageError("each --tokens count is at least 2 ([CLS] and [SEP]) and each --threads count at least 1")
    if args.rows < 1:
        raise UsageError("--rows must be at least 1")
    found = engines(args.model_dir, args.baseline_model_dir, threads, {v for v in args.variants.split(",") if v})
    if not found:
        raise UsageError(f"--variants {args.variants!r}: none of them is in {args.model_dir / 'manifest.json'}")
    say(f"{', '.join(sorted({name for name, _ in found}))} on {'/'.join(map(str, threads))} thread(s), {benchkit.cpu_name()}; "
        f"the service serves {served_here(args.model_dir)} here")
    feeds = {(key, n): np.repeat(token_ids(encoder, n), args.rows, axis=0) for key, encoder in found.items() for n in counts}
    times = {key: [] for key in feeds}
    for _ in range(args.rounds):
        for key, encoder in found.items():
            for n in counts:
                ids = feeds[key, n]
                mask = np.ones_like(ids)
                for i in range(args.block + 2):
                    started = time.perf_counter()
                    encoder._run(ids, mask, session=encoder.session)
                    if i >= 2:  # the first two of a block warm the cache
                        times[key, n].append((time.perf_counter() - started) * 1000)
    if args.rows > 1:
        say(f"{args.rows} texts per call: a call's tokens are {args.rows} x each count")
    print(f"{'variant':<16}{'threads':>8}" + "".join(f"{n:>10}" for n in counts) + f"{'ms/token':>10}{'fixed ms':>10}")
    medians = {key: [statistics.median(times[key, n]) for n in counts] for key in found}
    for (name, count), row in medians.items():
        per_token, fixed = np.polyfit(counts, row, 1)
        print(f"{name:<16}{count:>8}" + "".join(f"{m:>10.3f}" for m in row) + f"{per_token:>10.4f}{fixed:>10.3f}")
    if len(threads) > 1:
        from handler.model import cpu_kind, crossover_tokens

        for name in sorted({name for name, _ in found}):
            at = crossover(medians[name, threads[-1]], medians[name, threads[0]], counts)
            table = "" if name.startswith("before") else f"; the encoder's table for {cpu_kind()}: {crossover_tokens(name)}"
            where = (f"from {at * args.rows} tokens in a call" + (f" ({args.rows} x {at})" if args.rows > 1 else "")) if at else "at no count measured"
            print(f"{name}: {threads[-1]} threads beat {threads[0]} {where}{table}")
    if args.profile:
        for (name, count), encoder in found.items():
            if count != threads[0]:
                continue
            rows = profile(encoder, token_ids(encoder, args.profile), as_before=name.startswith("before"))
            print(f"\n{name}, {args.profile} tokens, onnxruntime profile (its own timer adds ~2-3 us per node): "
                  f"{sum(r[2] for r in rows)} nodes, {sum(r[1] for r in rows):.0f} us in kernels")
            for op, micros, nodes in rows:
                print(f"  {op:<28}{micros:>9.1f} us {nodes:>4} nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
