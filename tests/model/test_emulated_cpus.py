"""Lambda's CPUs, emulated: what each artifact serves there gives the gated vectors, or is never served.

Lambda's x86 hosts are AVX2 + FMA without AVX-512 or VNNI (`-cpu Haswell`); arm64 is Graviton2/3
(`-cpu neoverse-n1`, `-cpu neoverse-v1`). Under QEMU's user mode x86's /proc/cpuinfo is this machine's
while `cpuid` is the emulated CPU's (arm64's /proc/cpuinfo QEMU 10 emulates): exactly the case where `handler.model.cpu`'s decision and the
kernels disagree, which the encoder's known-vector check (`handler.model.kernels`) must catch.

Each CPU runs ONE emulated process (tests/support/emulated_embed.py), all launched at once,
embedding every shipped variant on TEXTS; the vectors are compared here with native fp32 (the gate: mean cosine >= 0.997,
min >= 0.99, worst text named) and, for variants whose arithmetic is exact on every CPU, with their
own native vectors. Needs `scripts/setup_emulation.sh` (skipped, saying so, without it). Emulation
is slow (minutes per CPU) and its timings mean nothing; its results are exact.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pytest

from export.parity import MIN_COSINE_FLOOR
from handler.model import KNOWN_VECTOR_MIN_COSINE, Encoder, cpu_flags, known_vector_floor, missing
from tests.support.emulated_embed import ROWS
from tests.support.helpers import REPO

EMULATION = REPO / os.environ.get("EMULATION_DIR", ".emulation")
QEMU = EMULATION / "qemu" / "usr" / "bin"
ARM64 = EMULATION / "arm64"
CPUS = {  # name -> (Lambda architecture, emulator, -cpu)
    "haswell": ("x86_64", "qemu-x86_64", "Haswell"),
    "neoverse-n1": ("aarch64", "qemu-aarch64", "neoverse-n1"),
    "neoverse-v1": ("aarch64", "qemu-aarch64", "neoverse-v1"),
}
# The export's gate for each variant (export/parity.py): mean >= 0.997 and the variant's own floor
# on its worst text (MIN_COSINE_FLOOR: 0.99 for both int8 variants, docs/pipeline.md#degenerate-text);
# texts under 0.99 are printed whatever the floor.
GATE = {"mean": 0.997, "min": 0.99}
# Degenerate probes (#29): repeated punctuation, one word a thousand times, emoji runs, one
# character, whitespace-heavy text.
DEGENERATE = ["?!" * 150, "word " * 1000, "🚀🤖🌕" * 20, "x", " \t\n  spaced \n\n\t out   text \t ", ""]
HELD_OUT_LINES = 10
TIMEOUT_S = 2700  # per CPU, from its launch: stops a hung run only (Haswell's 16 texts: 9 min on an Intel Xeon host)


def texts() -> list[str]:
    from export.parity import load_held_out

    held_out = load_held_out()
    lines = held_out.texts[:HELD_OUT_LINES] if held_out else []
    return lines + DEGENERATE  # 16 texts: the minimum; emulated time grows with their tokens (1,477 here)


def shipped_variants_for(manifest: dict, arch: str) -> list[str]:
    sys.path.insert(0, str(REPO / "infra"))
    from build_artifact import shipped_variants

    return shipped_variants(manifest, arch)


class Emulation:
    """One CPU's emulated process (tests/support/emulated_embed.py), started by `launch`; `result`
    waits for its vectors and report. Its output goes to files: a full pipe would stop it."""

    def __init__(self, cpu: str, command: list[str], env: dict, directory) -> None:
        self.cpu, self.out, self.log = cpu, directory / f"{cpu}.npz", directory / f"{cpu}.log"
        self.started = time.time()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def result(self) -> tuple[dict, dict]:
        try:
            self.process.wait(timeout=max(1.0, TIMEOUT_S - (time.time() - self.started)))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.cpu}: the emulated run did not end in {TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")
        finally:
            self.stop()  # timed out or interrupted: no emulated process outlives the wait
        assert self.process.returncode == 0, self.log.read_text()[-3000:]
        report = json.loads(self.out.with_suffix(".json").read_text())
        report["wall_s"] = round(report["finished_at"] - self.started, 1)  # launch to the report: interpreter start-up included
        return dict(np.load(self.out)), report

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def launch(cpu: str, model_dir, variants: list[str], directory) -> Emulation:
    """Start CPU's emulated process on texts(), embedding VARIANTS; skips without the emulators."""
    arch, emulator, model = CPUS[cpu]
    if not (QEMU / emulator).is_file() or (arch == "aarch64" and not (ARM64 / "usr" / "bin" / "python3.11").is_file()):
        pytest.skip(f"no {emulator} / arm64 root under {EMULATION}: run scripts/setup_emulation.sh")
    (directory / "texts.json").write_text(json.dumps(texts()), encoding="utf-8")
    script = [str(REPO / "tests" / "support" / "emulated_embed.py"), str(model_dir), str(directory / "texts.json"), str(directory / f"{cpu}.npz"), *variants]
    if arch == "x86_64":
        command, path = [str(QEMU / emulator), "-cpu", model, str(REPO / ".venv" / "bin" / "python"), *script], str(REPO)
    else:
        command = [str(QEMU / emulator), "-cpu", model, "-L", str(ARM64), str(ARM64 / "usr" / "bin" / "python3.11"), *script]
        path = f"{REPO}:{EMULATION / 'arm64-site'}"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "HOME": str(directory)}
    return Emulation(cpu, command, env, directory)


def emulate(cpu: str, model_dir, variants: list[str], tmp_path) -> tuple[dict, dict]:
    return launch(cpu, model_dir, variants, tmp_path).result()


@pytest.fixture(scope="module")
def emulations(request, model_dir, tmp_path_factory):
    """Every CPU this module's selected tests ask for, launched at once, side by side on the cores
    (16 texts: 554 s together, where each's own times add up to 782 s; Intel Xeon host, 2 cores):
    cpu -> its Emulation, or the skip that launching it raised."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    wanted = sorted({item.callspec.params["cpu"] for item in request.session.items
                     if item.module is request.module and "cpu" in getattr(getattr(item, "callspec", None), "params", {})})
    running: dict = {}
    try:  # a launch that fails stops the ones already started
        for cpu in wanted:
            try:
                running[cpu] = launch(cpu, model_dir, shipped_variants_for(manifest, CPUS[cpu][0]), tmp_path_factory.mktemp(cpu))
            except pytest.skip.Exception as skipped:
                running[cpu] = skipped
        yield running
    finally:
        for emulation in running.values():
            if isinstance(emulation, Emulation):
                emulation.stop()


def _wider_than_haswell() -> bool:
    """This host has AVX-512: its kernels are not the ones an emulated Haswell runs."""
    return platform.machine() == "x86_64" and "avx512f" in cpu_flags(open("/proc/cpuinfo").read())


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_what_an_artifact_serves_on_lambdas_cpus_gives_the_gated_vectors(cpu, model_dir, emulations):
    manifest = json.loads((model_dir / "manifest.json").read_text())
    arch = CPUS[cpu][0]
    variants = shipped_variants_for(manifest, arch)
    if isinstance(emulations[cpu], BaseException):
        raise emulations[cpu]  # its emulator is missing: the skip, named
    vectors, report = emulations[cpu].result()
    sample = texts()
    fp32 = Encoder.from_export(model_dir, "fp32", batch_size=ROWS).embed(sample)
    lines = [f"{cpu}: /proc/cpuinfo reads {report['cpu']!r}; served {report['served']} (known vector {report['known_vector_cosine']}, fallback: {report['fallback']}); "
             f"wall {report['wall_s']} s (start {report['start_s']} s, embed {report['embed_s']})"]
    holds = {}
    for variant in variants:
        to_fp32 = cosines(vectors[variant], fp32)
        worst = int(np.argmin(to_fp32))
        floor = MIN_COSINE_FLOOR.get(variant, GATE["min"])
        holds[variant] = to_fp32.mean() >= GATE["mean"] and to_fp32.min() >= floor
        below = [repr(text[:12]) for text, cosine in zip(sample, to_fp32) if cosine < GATE["min"]]
        lines.append(f"  {variant}: vs native fp32 mean {to_fp32.mean():.5f} min {to_fp32.min():.5f} (worst: {sample[worst][:40]!r}); "
                     f"{'holds' if holds[variant] else 'FAILS'} the export's gate (min {floor}){'; under 0.99: ' + ', '.join(below) if below else ''}")
        if missing(manifest["variants"][variant].get("requires")) is None:  # native arithmetic here is the exact one: compare
            own = cosines(vectors[variant], Encoder(model_dir / manifest["variants"][variant]["file"], model_dir / "tokenizer.json", batch_size=ROWS).embed(sample))
            lines.append(f"    vs its own native vectors: min {own.min():.7f}")
            if not manifest["variants"][variant].get("requires"):  # fp32, int8_unsigned: the same arithmetic on every CPU,
                # within the known-vector check's bound: kernels of another vector width or architecture
                # sum in another order (int8_blocks under Haswell against AVX-512's: 0.99972 on "x";
                # neoverse-n1's against x86's: 0.99953 on the empty text)
                same_kernels = arch == platform.machine() and not _wider_than_haswell()
                bound = KNOWN_VECTOR_MIN_COSINE if same_kernels else known_vector_floor(manifest["variants"][variant])
                assert own.min() >= bound, "\n".join(lines)
    print("\n".join(lines))
    if arch == "aarch64":  # QEMU 10 emulates arm64's /proc/cpuinfo: benchmarks name the Graviton core it is
        core = {"neoverse-n1": "Neoverse N1 (Graviton2's core)", "neoverse-v1": "Neoverse V1 (Graviton3's core)"}[cpu]
        assert report["cpu"].startswith(f"{core}: int8 dot product"), "\n".join(lines)
    assert report["served"] in holds or report["served"] == "fp32", "\n".join(lines)
    assert holds.get(report["served"], True), "served a variant that fails the gate here:\n" + "\n".join(lines)
