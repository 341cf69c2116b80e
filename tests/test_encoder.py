"""The shared encoder: provider selection against the real onnxruntime API, loading checks, output contract."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime
import pytest

from handler.encoder import CPU, CUDA, Encoder, EncoderError, providers_for, resolve_device


def test_auto_picks_what_this_onnxruntime_really_offers():
    available = onnxruntime.get_available_providers()
    expected = "cuda" if CUDA in available else "cpu"
    assert resolve_device("auto", available) == expected


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


def test_session_really_runs_on_the_provider_reported(model_dir, tmp_path):
    """onnxruntime's own profile names the provider that executed each node: every node of a
    run must have run on the provider the encoder reports (not on one it fell back to)."""
    encoder = Encoder.from_export(model_dir, device="auto")
    assert encoder.variant == ("fp16" if encoder.provider == CUDA else "int8")
    options = onnxruntime.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    encoder.session = onnxruntime.InferenceSession(str(encoder.model_path), options, providers=encoder.providers)
    encoder.embed(["vegan food delivery", "a second, longer text to make a real batch"])
    events = json.loads(open(encoder.session.end_profiling()).read())
    nodes = [e["args"] for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})]
    heavy = {n["provider"] for n in nodes if "MatMul" in n["op_name"] or n["op_name"] in ("Attention", "MultiHeadAttention")}
    assert heavy == {encoder.provider}, sorted({(n["op_name"], n["provider"]) for n in nodes})


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
    manifest["variants"]["int8"]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EncoderError, match="sha256"):
        Encoder.from_export(copy)


def test_missing_export_and_unknown_variant(model_dir, tmp_path):
    with pytest.raises(EncoderError, match="python -m export"):
        Encoder.from_export(tmp_path)
    with pytest.raises(EncoderError, match="variant 'int4'"):
        Encoder.from_export(model_dir, "int4")
