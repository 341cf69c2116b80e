"""What the CPU offers that changes results, not just speed.

onnxruntime's uint8 x int8 GEMM (the int8 variant) sums its products exactly in int32 where the CPU
has an int8 dot product: x86 with AVX512-VNNI or AVX-VNNI (onnxruntime's MLAS picks those kernels),
and ARM64. Other x86 CPUs (AVX2, AVX-512 before VNNI) add pairs of products in int16 first
(vpmaddubsw), which saturates, so the same file would give other vectors there than the ones the
export's gate measured. A variant that needs this says so in the manifest ("requires": "int8_dot").
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from handler.common import env

INT8_DOT = "int8_dot"
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")


def cpu_flags(cpuinfo: str) -> set[str]:
    """The first processor's feature flags: x86's "flags" line, arm64's "Features"."""
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


# What picks onnxruntime's kernels (a variant's speed; int8's vectors on x86), named as /proc/cpuinfo names it
_X86_FEATURES = (("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"), ("amx_int8", "AMX-INT8"))
_ARM_FEATURES = (("asimddp", "int8 dot product"), ("i8mm", "I8MM"), ("sve", "SVE"), ("bf16", "BF16"))
# Arm's own cores (implementer 0x41) by "CPU part": arm64 kernels report no model name
# (other vendors build on these cores too: Ampere Altra is an N1, NVIDIA Grace a V2; hence "Graviton2's core")
ARM_CORES = {"0xd0c": "Neoverse N1 (Graviton2's core)", "0xd40": "Neoverse V1 (Graviton3's core)", "0xd4f": "Neoverse V2 (Graviton4's core)"}


def cpu_description(cpuinfo: str | None = None, machine: str | None = None) -> str:
    """The CPU and the features that decide its kernels, for a benchmark's figures:
    "Intel(R) Xeon(R) ...: AVX2, FMA, AVX-512, AVX-512 VNNI", "Neoverse V1 (Graviton3's core): int8 dot product, I8MM, SVE, BF16"."""
    machine = (machine or platform.machine()).lower()
    cpuinfo = _read_cpuinfo() if cpuinfo is None else cpuinfo
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    flags = cpu_flags(cpuinfo)
    if machine in ("aarch64", "arm64"):
        part = fields.get("CPU part", "").lower()
        name = ARM_CORES.get(part) if fields.get("CPU implementer", "").lower() == "0x41" else None
        implementer = fields.get("CPU implementer")
        name, features = name or (f"arm64 CPU ({f'implementer {implementer}, ' if implementer else ''}part {part})" if part else "arm64 CPU"), _ARM_FEATURES
    else:
        name, features = fields.get("model name") or machine, _X86_FEATURES
    if not cpuinfo:
        return f"{name}: features unknown (no /proc/cpuinfo)"
    found = [label for flag, label in features if flag in flags]
    return f"{name}: {', '.join(found) if found else 'none of ' + ', '.join(label for _, label in features)}"


def missing(requirement: str | None, *, machine: str | None = None, cpuinfo: str | None = None) -> str | None:
    """Why this CPU cannot run a variant that needs `requirement`; None when it can."""
    if not requirement:
        return None
    if requirement != INT8_DOT:
        return f"unknown CPU requirement '{requirement}' (this code knows '{INT8_DOT}')"
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return None
    if machine not in _X86:
        return f"no exact int8 dot product known on {machine}"
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
        if not cpuinfo:
            return "cannot read /proc/cpuinfo to find AVX512-VNNI or AVX-VNNI"
    if {"avx512_vnni", "avx_vnni"} & cpu_flags(cpuinfo):
        return None
    return "this x86 CPU has neither AVX512-VNNI nor AVX-VNNI: its int8 kernel saturates sums of products in int16"


# -- threads: how many cores an onnxruntime call may use, and from which size all of them pay ---------
LAMBDA_MB_PER_VCPU = 1769  # AWS: a function has the equivalent of one vCPU at 1,769 MB (a share of one below, more above)


def usable_cores(*, lambda_memory_mb: str | None = None, affinity: int | None = None) -> int:
    """The cores this process may run on: its CPU affinity (taskset, a container's cpuset), and on
    Lambda no more than its memory buys (one vCPU per 1,769 MB, at least one): Lambda lists two CPUs
    however little it gives, and two onnxruntime threads on a share of one core wait on each other."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            affinity = os.cpu_count() or 1
    memory = env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") if lambda_memory_mb is None else lambda_memory_mb
    if memory.isdigit():
        return max(1, min(affinity, int(memory) // LAMBDA_MB_PER_VCPU))
    return max(1, affinity)


# Tokens in one onnxruntime call (rows x padded width) from which all cores beat one thread, per CPU
# and variant, measured by `python -m scripts.bench_tokens --threads 1,2` (it prints the crossover;
# `--rows 32` for batches). Below it a call runs on one thread: the pool's hand-off costs more than
# the second core gives. Where all cores won at no size measured, the figure is twice the largest.
CROSSOVER_TOKENS = {
    # AMD EPYC (AVX2+FMA, no AVX-512, no VNNI), 2 cores, quiet, 2026-12-03: two threads won from the
    # shortest call measured, 3 tokens (int8_unsigned 1.61 vs 2.12 ms; 8 tokens 2.60 vs 3.34; 130: 24.7
    # vs 37.5; fp32 3.44 vs 4.67), as on 2026-12-02 for the block-wise int8 then served (batches of 32 x 8:
    # 68 vs 120 ms), so every call runs on both cores. (The same machine shared with other jobs, load 5-9,
    # had one thread win at every size: a second thread without a free core only waits.)
    ("AuthenticAMD", "avx2"): {"int8_unsigned": 1, "int8_blocks": 1, "int8": 1, "fp32": 1},  # int8_blocks: exports before 2026-12-03
    # AMD EPYC (AVX-512 VNNI), 2 cores, quiet (load 0-1.5), 2026-12-02, two runs at 981d98f: int8's
    # second thread won by 5% or lost below 34 tokens (3 tokens: 0.69-0.80 vs 0.82-0.83 ms; 8: 0.85-0.93
    # vs 0.95-1.06) and clearly from 34 (2.27-2.53 vs 2.66-2.85 ms; 130: 7.0 vs 9.3), so a short query
    # leaves the other core to the next request; fp32's won from 3 tokens in both (2.14 vs 2.79-2.85).
    ("AuthenticAMD", "avx512_vnni"): {"int8": 34, "fp32": 3},
    # Intel Xeon (Sapphire Rapids class, AVX-512 VNNI), 2 cores, quiet (load ~1), 2026-12-02, at 5cdba32:
    # int8's second thread won by 3-10% below 34 tokens (3: 0.77 vs 0.86 ms; 8: 1.05 vs 1.08), by 6% at
    # 34 (2.37 vs 2.52) and clearly from 66 (3.55 vs 4.42; 130: 6.6 vs 9.1): as on AMD, a short query
    # leaves the other core to the next request. fp32's won from 3 tokens (1.39 vs 2.06).
    ("GenuineIntel", "avx512_vnni"): {"int8": 34, "fp32": 3},
}
# A CPU not measured yet: no figure of its own, so a guess: a query of up to 64 tokens on one thread
# (a few-token query gained little or nothing from a second thread on every CPU measured), longer
# texts and batches on all cores. Measure it and add its row.
DEFAULT_CROSSOVER = 64

# Texts per onnxruntime call in bulk (`scripts.embed`, uploads, Ray) on the CPU provider, per CPU,
# measured by `python -m scripts.bench_embed --batch-size N` (2,000 bench texts, sorted by length).
BATCH_ROWS = {
    # Intel Xeon (Sapphire Rapids class, AVX-512 VNNI), 2 cores, 2026-12-02, at 5cdba32: int8 texts/s at
    # 4 / 8 / 16 / 32 / 64 / 128 rows: 246 / 276 / 248-265 / 229-233 / 192 / 153 (fp32 120 / 131 / 116 /
    # 105 at 4-32): a call's activations outgrow the core's caches past 8 rows of ~92 tokens.
    ("GenuineIntel", "avx512_vnni"): 8,
}
DEFAULT_BATCH_ROWS = 32  # a CPU not measured (and CUDA): sentence-transformers' own default


def cpu_kind(cpuinfo: str | None = None) -> tuple[str, str]:
    """(vendor, widest vector ISA) as CROSSOVER_TOKENS keys them: ("AuthenticAMD", "avx2")."""
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
    vendor = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("vendor_id")), platform.machine())
    flags = cpu_flags(cpuinfo)
    isa = "avx512_vnni" if "avx512_vnni" in flags else "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return vendor, isa


def batch_rows(cpuinfo: str | None = None) -> int:
    """Texts per call in bulk on this CPU (see BATCH_ROWS)."""
    return BATCH_ROWS.get(cpu_kind(cpuinfo), DEFAULT_BATCH_ROWS)


def crossover_tokens(variant: str, cpuinfo: str | None = None) -> int:
    """Tokens in one call from which the encoder runs it on all cores (see CROSSOVER_TOKENS)."""
    return CROSSOVER_TOKENS.get(cpu_kind(cpuinfo), {}).get(variant, DEFAULT_CROSSOVER)
