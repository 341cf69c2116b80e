"""The shared encoder: provider selection against the real onnxruntime API, loading checks, output contract."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime
import pytest

from handler.common import EncoderError
from handler.model import CPU, CUDA, Encoder, providers_for, resolve_device
from tests.support.helpers import cpu_variant, served_variant


def test_auto_prefers_cuda_when_present():
    # Pretend: this machine has no GPU, so the provider list below is written by hand.
    assert resolve_device("auto", [CUDA, CPU]) == "cuda"
    assert providers_for("cuda") == [CUDA, CPU]
    assert providers_for("cpu") == [CPU]


def test_cuda_without_cuda_provider_fails_loudly():
    with pytest.raises(EncoderError, match="gpu extra"):
        resolve_device("cuda", [CPU])


def test_unknown_device_is_rejected():
    with pytest.raises(EncoderError, match="auto, cuda, cpu"):
        resolve_device("tpu", [CPU])


@pytest.mark.skipif(CUDA in onnxruntime.get_available_providers(), reason="this machine has CUDA")
def test_asking_for_cuda_on_this_cpu_machine_raises_instead_of_falling_back(model_dir):
    with pytest.raises(EncoderError, match="cuda"):
        Encoder.from_export(model_dir, device="cuda")


@pytest.mark.skipif(CUDA in onnxruntime.get_available_providers(), reason="this machine really has CUDA")
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_a_cuda_onnxruntime_that_cannot_build_a_cuda_session_is_refused(model_dir, monkeypatch, device):
    """onnxruntime says CUDA is available (as onnxruntime-gpu does on a machine whose CUDA
    libraries are missing) but the session it builds cannot run there: onnxruntime quietly gives
    a CPU session, and the encoder must refuse it with the reason, never embed on CPU instead."""
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    with pytest.raises(EncoderError, match=r"CUDA asked for, but onnxruntime built the session on \['CPUExecutionProvider'\]"):
        Encoder.from_export(model_dir, device=device)


def test_every_node_of_the_encoders_own_session_runs_on_the_provider_it_reports(model_dir, tmp_path):
    """onnxruntime's profile of the encoder's own session names the provider that executed each
    node: all of them, the heavy ones included, ran where the encoder says it runs."""
    encoder = Encoder.from_export(model_dir, device="auto", profile_prefix=str(tmp_path / "profile"))
    assert encoder.variant == ("fp16" if encoder.provider == CUDA else cpu_variant())
    encoder.embed(["vegan food delivery", "a second, longer text to make a real batch"])
    events = json.loads(open(encoder.session.end_profiling()).read())
    nodes = [e["args"] for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})]
    assert any(n["op_name"] in ("MatMulIntegerToFloat", "MatMul", "MultiHeadAttention") for n in nodes)
    assert {n["provider"] for n in nodes} == {encoder.provider}, sorted({(n["op_name"], n["provider"]) for n in nodes})


AVX2_ONLY = "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512bw avx512vl\n"


def test_int8_needs_an_exact_int8_dot_product():
    from handler.model import INT8_DOT, missing

    assert missing(None) is None
    assert missing(INT8_DOT, machine="x86_64", cpuinfo=AVX2_ONLY + "").startswith("this x86 CPU has neither AVX512-VNNI nor AVX-VNNI")
    assert missing(INT8_DOT, machine="x86_64", cpuinfo=AVX2_ONLY.replace("avx512vl", "avx512vl avx512_vnni")) is None
    assert missing(INT8_DOT, machine="x86_64", cpuinfo=AVX2_ONLY.replace("avx2", "avx2 avx_vnni")) is None
    assert missing(INT8_DOT, machine="aarch64", cpuinfo="") is None
    assert "unknown CPU requirement" in missing("quantum")


# A Graviton2's /proc/cpuinfo (c6g, Linux 5.10), and a Lambda x86 host's kind: AVX2 + FMA, no AVX-512
GRAVITON2 = ("processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
             "asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n")
LAMBDA_X86 = "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor @ 2.50GHz\nflags\t\t: fpu sse sse2 ssse3 avx f16c avx2 fma bmi2\n"


def test_benchmarks_name_the_cpu_by_what_decides_its_kernels():
    from handler.model import cpu_description

    assert cpu_description(LAMBDA_X86, "x86_64") == "Intel(R) Xeon(R) Processor @ 2.50GHz: AVX2, FMA"
    assert cpu_description(LAMBDA_X86.replace("fma", "fma avx512f avx512_vnni"), "x86_64").endswith(": AVX2, FMA, AVX-512, AVX-512 VNNI")
    # arm64 kernels report no model name: the core by its part, and the int8 dot product int8 runs on
    assert cpu_description(GRAVITON2, "aarch64") == "Neoverse N1 (Graviton2's core): int8 dot product"
    assert cpu_description(GRAVITON2.replace("0xd0c", "0xd40").replace("ssbs", "ssbs sve i8mm bf16"), "aarch64") == "Neoverse V1 (Graviton3's core): int8 dot product, I8MM, SVE, BF16"
    assert cpu_description(GRAVITON2.replace("0x41", "0x61"), "aarch64").startswith("arm64 CPU (implementer 0x61, part 0xd0c)")  # not Arm's own core
    assert cpu_description(LAMBDA_X86.replace("avx2 fma", ""), "x86_64").endswith(": none of AVX2, FMA, AVX-512, AVX-512 VNNI, AVX-VNNI, AMX-INT8")
    assert cpu_description("", "aarch64") == "arm64 CPU: features unknown (no /proc/cpuinfo)"  # not "none of": nothing was read
    assert cpu_description("CPU part\t: 0xd0c\n", "aarch64") == "arm64 CPU (part 0xd0c): none of int8 dot product, I8MM, SVE, BF16"


def test_on_a_cpu_without_it_the_default_falls_back_by_name_and_says_why(model_dir, monkeypatch, capsys):
    """An x86 CPU without VNNI: the manifest's fallback default is taken and named; int8 asked for
    by name is refused. (This machine has VNNI: /proc/cpuinfo is replaced by an AVX2 one.)"""
    import handler.model.cpu

    real = handler.model.cpu.missing  # the encoder (where a variant is refused) and the manifest (where it is chosen) ask it at each call
    monkeypatch.setattr(handler.model.cpu, "missing", lambda need: real(need, machine="x86_64", cpuinfo=AVX2_ONLY))
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if "int8" not in manifest["variants"]:
        pytest.skip("this export was made on a CPU without an exact int8 dot product: it has no int8 to fall back from (test_export checks that)")
    assert manifest["variants"]["int8"]["requires"] == "int8_dot"
    encoder = Encoder.from_export(model_dir, announce=True)
    assert encoder.variant == manifest["defaults"]["cpu_without_int8_dot"] == "int8_unsigned"
    assert "neither AVX512-VNNI nor AVX-VNNI" in encoder.describe()["fallback"]
    assert "embedding with variant 'int8_unsigned'" in capsys.readouterr().err
    with pytest.raises(EncoderError, match="variant 'int8' needs int8_dot"):
        Encoder.from_export(model_dir, "int8")


def test_output_contract(model_dir):
    encoder = Encoder.from_export(model_dir, "fp32", batch_size=2)
    texts = ["a much longer text " * 30, "short", "", "medium length text here"]
    vectors = encoder.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # input order is kept although batches are length-sorted
    for i, text in enumerate(texts):
        assert np.abs(vectors[i] - encoder.embed([text])[0]).max() <= 1e-5
    assert np.abs(encoder.embed_one("short") - vectors[1]).max() <= 1e-5
    assert encoder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.embed("not a list")


def test_checksum_mismatch_is_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["variants"][served_variant(copy)[0]]["sha256"] = "0" * 64  # the file this CPU serves
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EncoderError, match="sha256"):
        Encoder.from_export(copy)


def test_missing_export_and_unknown_variant(model_dir, tmp_path):
    from handler.common import ModelFileError

    with pytest.raises(ModelFileError, match="python -m export") as caught:
        Encoder.from_export(tmp_path)
    assert caught.value.exit_code == 2
    with pytest.raises(EncoderError, match="variant 'int4'"):
        Encoder.from_export(model_dir, "int4")


# -- the known vector: the kernels that run are the ones the gate measured -----------------------
def test_the_known_vector_check_compares_directions():
    from handler.model import known_vector, known_vector_cosine

    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    entry = {"known_vector": known_vector(vector)}
    assert known_vector_cosine(entry, vector) == pytest.approx(1.0, abs=1e-7)
    assert known_vector_cosine(entry, vector + np.float32(0.05) * np.sin(np.arange(384, dtype=np.float32))) < 0.9999
    assert known_vector_cosine({}, vector) is None  # an export made before the check: nothing to compare
    from handler.model import known_vector_floor

    assert known_vector_floor({"requires": "int8_dot"}) == 0.9999 > known_vector_floor({}) == 0.999
    assert np.isnan(known_vector_cosine(entry, vector[:10]))  # another dimension never passes


def test_an_export_stores_the_known_vector_this_cpu_reproduces(model_dir):
    manifest = json.loads((model_dir / "manifest.json").read_text())
    served, entry = served_variant(model_dir)
    if "known_vector" not in entry:
        pytest.skip("TEST_MODEL_DIR is an export older than the known vector (unset it to export here)")
    encoder = Encoder.from_export(model_dir)
    assert encoder.variant == served and encoder.known_vector_cosine >= 0.9999
    assert all(len(v["known_vector"]) == 384 for v in manifest["variants"].values() if v.get("parity", {}).get("provider") == CPU)


def test_kernels_that_give_another_known_vector_are_never_served(model_dir, tmp_path):
    """What emulation shows (/proc/cpuinfo says VNNI, cpuid says AVX2): the chosen variant's vector
    of the known text is not the export's. Played here by storing another vector in a copy: the
    default falls back to the next exact variant, saying why; named explicitly, it is refused."""
    from handler.model import KNOWN_TEXT, known_vector

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    served, entry = served_variant(copy)
    vector = Encoder.from_export(model_dir, served).embed_one(KNOWN_TEXT)
    for name, variant in manifest["variants"].items():  # older exports: the vectors this CPU gives
        variant.setdefault("known_vector", known_vector(Encoder.from_export(model_dir, name).embed_one(KNOWN_TEXT)) if name != "fp16" else None)
    manifest["variants"][served]["known_vector"] = known_vector(np.roll(vector, 1))  # far off: any variant's floor catches it
    (copy / "manifest.json").write_text(json.dumps(manifest))
    encoder = Encoder.from_export(copy)
    assert encoder.variant != served and encoder.variant in ("int8_unsigned", "fp32")
    assert f"'{served}' gives another vector of the known text on this CPU" in encoder.fallback and encoder.known_vector_cosine >= 0.9999
    with pytest.raises(EncoderError, match=rf"variant '{served}' gives another vector of the known text"):
        Encoder.from_export(copy, served)
