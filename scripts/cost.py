"""What searches and cold starts cost on AWS Lambda, from this project's measured figures and AWS's
list prices: `python -m scripts.cost` prints docs/costs.md's tables (a test checks they agree).

    .venv/bin/python -m scripts.cost                         # the tables, from the figures below
    .venv/bin/python -m scripts.cost --warm-ms 3.1 --init-ms 700   # your own measurements

Model: Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB, so a
CPU-bound step measured on one core takes `ms x 1769 / memory` below that and `ms` above; billed
duration is rounded up to the millisecond. A cold start without SnapStart bills its init (on-demand
functions' init is billed); with SnapStart it bills a restore per GB of memory, and each published
version's snapshot is cached (billed per GB-second, 3 hours at least).
"""

from __future__ import annotations

import argparse
import math
import sys

from handler.common import UsageError, cli

# AWS list prices, us-east-1 / eu-west-2, as of 2026 (the figures of the issue that asked for this table).
PRICES_AS_OF = "2026"
GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # Lambda compute, $ per GB-second
REQUEST = 0.20 / 1e6  # Lambda, $ per request
HTTP_API_REQUEST = 1.00 / 1e6  # API Gateway HTTP API, $ per request (the first 300 million a month)
SNAPSTART_CACHE_GB_SECOND = 0.0000015046  # $ per GB-second a published version's snapshot is cached
SNAPSTART_CACHE_MIN_S = 3 * 3600  # each version is cached for at least 3 hours
SNAPSTART_RESTORE_GB = 0.0001397998  # $ per GB restored
SNAPSTART_RESTORE_MS = (440, 740)  # published restore times of Python functions (LambdaNER-Bench, a public Lambda benchmark, 2026-10)

FULL_VCPU_MB = 1769  # Lambda's memory size with one full vCPU
MEMORY_SIZES = (512, 1024, 1769)
ARCHITECTURES = ("x86_64", "arm64")

# This project's measured figures (docs/benchmarks.md, AMD EPYC with AVX-512 VNNI, at f31c151, 2026-11-30).
WARM_MS_INT8 = 1.98  # lambda_handler p50, sample shard, neural, 1 core (bench_search), the int8 variant
# Lambda's x86_64 hosts have AVX2 without VNNI (LambdaNER-Bench, 2026-10), where int8_unsigned is served:
# lambda_handler p50 measured on that kind of CPU (AMD EPYC, AVX2 + FMA only, bench_search, 1 core, 2026-12-03;
# the block-wise int8 served there before: 5.68 ms in the same run).
WARM_MS_X86_LAMBDA = 3.93
# Fresh process to first answer, embedded handler, sample, ONE core as Lambda at <= 1,769 MB has
# (bench_coldstart --cores 1, median of 7), on the CPU kind Lambda's x86 hosts are: 1,467 ms on an AMD
# EPYC with AVX2 only (2026-12-02, at fe7ab43). An EPYC with AVX-512 VNNI, the same day: 637-861 ms.
INIT_MS = 1467


def compute_ms(ms_one_core: float, memory_mb: int) -> float:
    """A CPU-bound step's time at `memory_mb`: a fraction of a vCPU below 1,769 MB, one vCPU from there."""
    return ms_one_core * max(1.0, FULL_VCPU_MB / memory_mb)


def billed_ms(ms: float) -> int:
    return math.ceil(round(ms, 6))  # Lambda rounds duration up to the millisecond (round: no 2.0000001 -> 3)


def gb(memory_mb: int) -> float:
    return memory_mb / 1024


def per_million_searches(arch: str, memory_mb: int, warm_ms: float) -> dict[str, float]:
    """$ per million warm searches: Lambda compute and request fee (`lambda`), and HTTP API's fee beside."""
    compute = 1e6 * billed_ms(compute_ms(warm_ms, memory_mb)) / 1000 * gb(memory_mb) * GB_SECOND[arch]
    return {"ms": compute_ms(warm_ms, memory_mb), "compute": compute, "requests": 1e6 * REQUEST, "lambda": compute + 1e6 * REQUEST,
            "http_api": 1e6 * HTTP_API_REQUEST}


def per_million_cold_starts(arch: str, memory_mb: int, init_ms: float) -> dict[str, float]:
    """$ per million cold starts: without SnapStart the init is billed; with it, a restore per GB."""
    return {"init_ms": compute_ms(init_ms, memory_mb),
            "without": 1e6 * billed_ms(compute_ms(init_ms, memory_mb)) / 1000 * gb(memory_mb) * GB_SECOND[arch],
            "snapstart": 1e6 * gb(memory_mb) * SNAPSTART_RESTORE_GB}


def snapstart_cache_per_month(memory_mb: int, versions: int = 1) -> float:
    """$ a month of caching `versions` published versions' snapshots (30 days each)."""
    return versions * gb(memory_mb) * max(30 * 86400, SNAPSTART_CACHE_MIN_S) * SNAPSTART_CACHE_GB_SECOND


def snapstart_pays(init_ms: float) -> bool:
    """SnapStart is worth its restore fee when even the slowest published restore starts faster
    than the init it replaces; otherwise it costs more for a cold start no faster (template.yaml's
    SnapStart default follows this: `tests.jobs.test_infra`)."""
    return max(SNAPSTART_RESTORE_MS) < init_ms


def tables(warm_ms: dict[str, float], init_ms: float) -> str:
    """docs/costs.md's tables, in markdown."""
    rows = [f"Prices: AWS list prices (us-east-1 / eu-west-2) as of {PRICES_AS_OF}. Timings: one core of this project's benchmark "
            f"machines (docs/benchmarks.md), scaled to each memory size's share of a vCPU. x86_64 rows: `int8_unsigned` on an AVX2 EPYC, what Lambda's AVX2 "
            f"hosts are served; **arm64 rows: x86 timings (`int8`) until an arm64 host has run `scripts.bench_tokens`**.", "",
            "| architecture | memory | warm search | Lambda $ / million searches (compute + requests) | API Gateway HTTP API $ / million, beside |",
            "|---|---|---|---|---|"]
    for arch in ARCHITECTURES:
        for memory in MEMORY_SIZES:
            cost = per_million_searches(arch, memory, warm_ms[arch])
            rows.append(f"| {arch} | {memory} MB | {cost['ms']:.2f} ms | {cost['lambda']:.2f} ({cost['compute']:.2f} + {cost['requests']:.2f}) "
                        f"| {cost['http_api']:.2f} |")
    rows += ["", f"| architecture | memory | init | $ / million cold starts, no SnapStart | with SnapStart (restore {SNAPSTART_RESTORE_MS[0]}-"
             f"{SNAPSTART_RESTORE_MS[1]} ms) | SnapStart cache $ / month per version |", "|---|---|---|---|---|---|"]
    for arch in ARCHITECTURES:
        for memory in MEMORY_SIZES:
            cold = per_million_cold_starts(arch, memory, init_ms)
            rows.append(f"| {arch} | {memory} MB | {cold['init_ms']:.0f} ms | {cold['without']:.2f} | {cold['snapstart']:.2f} "
                        f"| {snapstart_cache_per_month(memory):.2f} |")
    return "\n".join(rows) + "\n"


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-ms", type=float, help=f"a warm search's ms on one core, both architectures (default: x86_64 {WARM_MS_X86_LAMBDA}, "
                                                      f"arm64 {WARM_MS_INT8}: this machine's, until an arm64 host runs scripts.bench_tokens)")
    parser.add_argument("--init-ms", type=float, default=INIT_MS, help=f"fresh process to first answer, ms (default {INIT_MS})")
    args = parser.parse_args(argv)
    for name in ("warm_ms", "init_ms"):
        value = getattr(args, name)
        if value is not None and not (0 < value < 900_000):
            raise UsageError(f"--{name.replace('_', '-')} {value:g}: a duration in ms, above 0 and under Lambda's 900 s")
    warm = {"x86_64": args.warm_ms or WARM_MS_X86_LAMBDA, "arm64": args.warm_ms or WARM_MS_INT8}
    sys.stdout.write(tables(warm, args.init_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
