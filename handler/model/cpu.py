"""What the CPU offers that changes results, not just speed.

onnxruntime's uint8 x int8 GEMM (the int8 variant) sums its products exactly in int32 where the CPU
has an int8 dot product: x86 with AVX512-VNNI or AVX-VNNI (onnxruntime's MLAS picks those kernels),
and ARM64. Other x86 CPUs (AVX2, AVX-512 before VNNI) add pairs of products in int16 first
(vpmaddubsw), which saturates, so the same file would give other vectors there than the ones the
export's gate measured. A variant that needs this says so in the manifest ("requires": "int8_dot").
"""

from __future__ import annotations

import platform
from pathlib import Path

INT8_DOT = "int8_dot"
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")


def cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


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
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "cannot read /proc/cpuinfo to find AVX512-VNNI or AVX-VNNI"
    if {"avx512_vnni", "avx_vnni"} & cpu_flags(cpuinfo):
        return None
    return "this x86 CPU has neither AVX512-VNNI nor AVX-VNNI: its int8 kernel saturates sums of products in int16"
