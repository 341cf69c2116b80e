"""What the Lambda artifact carries of the model (no build, no export: the choice and the manifest it writes)."""

from __future__ import annotations

import json
import sys

import pytest

from handler.common import UsageError, sha256_file
from tests.support.helpers import REPO

sys.path.insert(0, str(REPO / "infra"))
from build_artifact import copy_model, shipped_variants  # noqa: E402

VNNI_EXPORT = {  # an export made on a CPU with VNNI: int8 is its CPU default
    "defaults": {"cpu": "int8", "cpu_without_int8_dot": "int8_unsigned", "cuda": "fp16"},
    "variants": {"fp32": {}, "int8": {"requires": "int8_dot"}, "int8_unsigned": {}, "fp16": {}},
}
AVX2_EXPORT = {"defaults": {"cpu": "int8_unsigned", "cpu_without_int8_dot": "int8_unsigned", "cuda": "fp16"},
               "variants": {"fp32": {}, "int8_unsigned": {}, "fp16": {}}}


def test_each_architecture_carries_what_lambdas_cpus_serve():
    """x86_64 Lambda hosts are AVX2 without VNNI: int8 would never serve there, so it is not carried;
    Graviton has the int8 dot product: int8 alone."""
    assert shipped_variants(VNNI_EXPORT, "x86_64") == ["int8_unsigned"]
    assert shipped_variants(VNNI_EXPORT, "aarch64") == ["int8"]
    assert shipped_variants(AVX2_EXPORT, "x86_64") == shipped_variants(AVX2_EXPORT, "aarch64") == ["int8_unsigned"]


def test_the_build_flag_carries_what_it_names():
    assert shipped_variants(VNNI_EXPORT, "x86_64", "int8, int8_unsigned") == ["int8", "int8_unsigned"]
    with pytest.raises(UsageError, match=r"LAMBDA_VARIANTS .* int4 not in the export \(has: fp16, fp32, int8, int8_unsigned\)"):
        shipped_variants(VNNI_EXPORT, "x86_64", "int4,int8")


def test_the_artifacts_manifest_names_only_what_it_carries(tmp_path):
    export, out = tmp_path / "export", tmp_path / "out"
    export.mkdir(), out.mkdir()
    manifest = json.loads(json.dumps(VNNI_EXPORT))
    for name in manifest["variants"]:
        (export / f"{name}.onnx").write_bytes(name.encode())
        (export / f"{name}.onnx.data").write_bytes(name.encode() * 2)  # its weights, beside the graph
        manifest["variants"][name].update(file=f"{name}.onnx", sha256=sha256_file(export / f"{name}.onnx"),
                                          weights={"file": f"{name}.onnx.data", "bytes": 2 * len(name), "sha256": sha256_file(export / f"{name}.onnx.data")})
    (export / "tokenizer.json").write_text("{}")
    manifest.update(tokenizer="tokenizer.json", tokenizer_sha256=sha256_file(export / "tokenizer.json"))
    (export / "manifest.json").write_text(json.dumps(manifest))
    assert copy_model(export, out, "x86_64") == "int8_unsigned"
    shipped = json.loads((out / "model" / "manifest.json").read_text())
    assert list(shipped["variants"]) == ["int8_unsigned"] and shipped["defaults"] == {"cpu_without_int8_dot": "int8_unsigned", "cpu": "int8_unsigned"}
    assert sorted(p.name for p in (out / "model").iterdir()) == ["int8_unsigned.onnx", "int8_unsigned.onnx.data", "manifest.json", "tokenizer.json"]
    (export / "int8_unsigned.onnx.data").write_bytes(b"other weights")  # damaged weights never ship
    with pytest.raises(UsageError, match=r"int8_unsigned\.onnx\.data has sha256 \w+, but its manifest says"):
        (tmp_path / "weights").mkdir()
        copy_model(export, tmp_path / "weights", "x86_64")
    (export / "int8_unsigned.onnx.data").write_bytes(b"int8_unsigned" * 2)
    (export / "tokenizer.json").write_text('{"other": 1}')  # a damaged tokenizer never ships
    with pytest.raises(UsageError, match=r"tokenizer\.json does not match its manifest sha256"):
        (tmp_path / "again").mkdir()
        copy_model(export, tmp_path / "again", "x86_64")
