"""The arm64 (Graviton) artifacts, both storage modes, answer a search through AWS's runtime client on an emulated Graviton2.

No aarch64 Python 3.12 (Lambda's python3.12 runtime) runs on these machines, so the checks build
the same arm64 artifact (`infra/build_artifact.py --arch arm64`: aarch64 manylinux wheels; in
embedded mode Qdrant Edge's aarch64 wheel and the sample's shard baked in, in server mode
qdrant-client) for Debian's arm64 python3.11 (`--python-version 3.11`, for these checks only)
and run it under `qemu-aarch64 -cpu neoverse-n1` with awslambdaric's aarch64 wheel, against the
Runtime API emulator of infra/local_invoke.py. It must answer the API Gateway v2 search event
with a 200 and the same hits, in the same order, as the x86_64 handler (this machine's
onnxruntime, the same model file and the same collection) gives for it.

Needs `scripts/setup_emulation.sh` (skipped, saying so, without it). Emulation is 10-50x slower
than the real CPU: its timings mean nothing (the bounds below only stop a hung run), its results are exact.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.helpers import EVENTS, REPO, run_module
from tests.support.qdrant_standin import QdrantStandin

sys.path.insert(0, str(REPO / "infra"))
from local_invoke import LocalLambda  # noqa: E402

EMULATION = REPO / os.environ.get("EMULATION_DIR", ".emulation")
QEMU_AARCH64 = EMULATION / "qemu" / "usr" / "bin" / "qemu-aarch64"
ARM64 = EMULATION / "arm64"  # Debian 12's arm64 python3.11 and its libraries (qemu's -L)
RUNTIME_CLIENT = EMULATION / "arm64-ric"  # awslambdaric and its dependencies, aarch64 wheels for 3.11
CPU = "neoverse-n1"  # Graviton2: the oldest Lambda arm64 CPU
INIT_TIMEOUT_S = 1500  # emulated init (imports, model load, shard unpack, warm-up): ~minutes on a loaded 2-core machine
INVOKE_TIMEOUT_S = 600
AARCH64 = 183  # ELF e_machine


def needs_emulation() -> None:
    missing = [str(p) for p in (QEMU_AARCH64, ARM64 / "usr" / "bin" / "python3.11", RUNTIME_CLIENT / "awslambdaric") if not p.exists()]
    if missing:
        pytest.skip(f"no arm64 emulation ({', '.join(missing)} missing): run scripts/setup_emulation.sh")


def elf_machine(path) -> int:
    with open(path, "rb") as library:
        header = library.read(20)
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_a_strip_that_misaligns_a_load_segment_is_caught(tmp_path):
    """What llvm-strip did to numpy's extension modules on aarch64 (the loader refused them):
    the build keeps such a stripped copy out (`build_artifact.loads_aligned`)."""
    from build_artifact import loads_aligned

    elf = (Path(sys.executable).resolve()).read_bytes()
    good = tmp_path / "good"
    good.write_bytes(elf)
    assert loads_aligned(good)
    table_at, = struct.unpack_from("<Q", elf, 0x20)
    entry_size, entries = struct.unpack_from("<HH", elf, 0x36)
    broken = bytearray(elf)
    for i in range(entries):
        at = table_at + i * entry_size
        if struct.unpack_from("<I", elf, at)[0] == 1:  # the first PT_LOAD: its file offset one byte off
            struct.pack_into("<Q", broken, at + 8, struct.unpack_from("<Q", elf, at + 8)[0] + 1)
            break
    (tmp_path / "broken").write_bytes(bytes(broken))
    assert not loads_aligned(tmp_path / "broken")


def build_for_emulation(mode: str, out: Path, model_dir, *extra: str) -> tuple[Path, dict]:
    """The arm64 artifact of `mode` built for the emulated Python (Debian's arm64 3.11)."""
    result = subprocess.run([sys.executable, "infra/build_artifact.py", "--mode", mode, "--arch", "arm64", "--python-version", "3.11",
                             "--out", str(out), "--model-dir", str(model_dir), *extra],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    return out, json.loads((out.parent / f"{out.name}-report.json").read_text())


@pytest.fixture(scope="module")
def arm64_embedded(model_dir, sample_file, sample_vectors, tmp_path_factory):
    needs_emulation()
    qdrant = tmp_path_factory.mktemp("bake")
    uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--model-dir", str(model_dir),
                          env={"QDRANT_PATH": str(qdrant), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    return build_for_emulation("embedded", tmp_path_factory.mktemp("artifact") / "arm64-embedded", model_dir, "--shard", str(qdrant / "startups"))


def native_answer(out, event_file, tmp_path, storage_env: dict) -> dict:
    """The x86_64 handler (this repository's code on this machine's onnxruntime) with the artifact's
    model and schema and the same storage, invoked in-process as Lambda's runtime would: the reference answer."""
    answer = tmp_path / "native.json"
    code = "import json, sys; from handler import lambda_handler; open(sys.argv[2], 'w').write(json.dumps(lambda_handler(json.load(open(sys.argv[1])), None)))"
    env = {**os.environ, "PYTHONPATH": str(REPO), "MODEL_DIR": str(out / "model"), "SCHEMA_FILE": str(out / "schema.toml"), **storage_env}
    result = subprocess.run([sys.executable, "-c", code, str(event_file), str(answer)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(answer.read_text())


def answer_under_qemu(out, report, tmp_path, storage_env: dict, native_storage_env: dict, before_emulated=lambda: None) -> None:
    """The artifact answers the API Gateway v2 search event through awslambdaric under
    qemu-aarch64 with the hits, in order, of the native handler; it served the build's variant.
    before_emulated runs between the two (a stand-in's log cleared of the native handler's requests)."""
    # awslambdaric is started as `PYTHON -m awslambdaric handler.lambda_handler`: PYTHON is the emulated interpreter
    python = tmp_path / "python3.11-aarch64"
    python.write_text(f'#!/bin/sh\nexec "{QEMU_AARCH64}" -cpu {CPU} -L "{ARM64}" "{ARM64}/usr/bin/python3.11" "$@"\n')
    python.chmod(0o755)
    event_file = EVENTS / "http_api_v2.json"
    expected = native_answer(out, event_file, tmp_path, native_storage_env)
    assert expected["statusCode"] == 200, expected
    before_emulated()

    started = time.perf_counter()
    local = LocalLambda(out, str(python), {"PYTHONPATH": f"{out}:{RUNTIME_CLIENT}", **storage_env}, timeout_s=INVOKE_TIMEOUT_S)
    try:
        init_s = local.wait_ready(timeout_s=INIT_TIMEOUT_S)
        payload, headers, invoke_s = local.invoke(json.loads(event_file.read_text()))
    finally:
        local.close()
    wall_s = time.perf_counter() - started
    log = "".join(local.log)
    print(f"{report['mode']}, qemu-aarch64 -cpu {CPU}: init {init_s:.1f} s, first invoke {invoke_s:.1f} s, wall {wall_s:.1f} s (emulated: not a timing)")
    assert "X-Amz-Function-Error" not in headers, f"{payload}\n{log[-3000:]}"
    assert payload["statusCode"] == 200, f"{payload}\n{log[-3000:]}"
    body, native = json.loads(payload["body"]), json.loads(expected["body"])
    assert [hit["id"] for hit in body["hits"]] == [hit["id"] for hit in native["hits"]] and body["hits"]
    assert body["result"][0]["name"] == "SaferCodes"
    [startup] = [json.loads(line) for line in local.log if line.startswith("{") and '"event": "startup"' in line and '"variant"' in line]
    print(f"served {startup['variant']} ({startup.get('fallback') or 'no fallback'}); hits {[hit['id'] for hit in body['hits']]}")
    assert startup["variant"] == report["variant"] and "fallback" not in startup


@pytest.mark.slow  # builds on the exported model
def test_the_arm64_build_carries_aarch64_code_and_the_cpu_default_variant(arm64_embedded, model_dir):
    out, report = arm64_embedded
    assert json.loads((out / "artifact.json").read_text())["arch"] == "aarch64"
    for library in [*out.glob("onnxruntime/capi/onnxruntime_pybind11_state*.so"), *out.glob("qdrant_edge/*.so"), *out.glob("tokenizers/*.so")]:
        assert elf_machine(library) == AARCH64, library
    assert list(out.glob("qdrant_edge/*.so")) and list(out.glob("onnxruntime/capi/onnxruntime_pybind11_state*.so"))
    # Graviton2-4 all have the int8 dot product: the export's CPU default ships, alone
    assert report["variant"] == json.loads((model_dir / "manifest.json").read_text())["defaults"]["cpu"]
    assert list(json.loads((out / "model" / "manifest.json").read_text())["variants"]) == [report["variant"]]
    print(f"arm64 embedded (CPython {report['python']}): {report['unzipped_mb']} MB unzipped, variant {report['variant']}, max glibc {report['max_glibc']}")
    assert report["unzipped_mb"] <= 250 and report["glibc_over_limit"] == []


@pytest.mark.slow
def test_the_arm64_embedded_artifact_answers_a_search_through_awslambdaric_under_qemu_aarch64(arm64_embedded, tmp_path):
    out, report = arm64_embedded
    shard = {"QDRANT_URL": "", "QDRANT_SHARD_SOURCE": str(out / "qdrant_shard.zip")}
    answer_under_qemu(out, report, tmp_path, {**shard, "QDRANT_PATH": str(tmp_path / "qdrant_storage")},
                      {**shard, "QDRANT_PATH": str(tmp_path / "native_qdrant")})


@pytest.mark.slow  # builds on the exported model
def test_the_arm64_server_artifact_answers_a_search_through_awslambdaric_under_qemu_aarch64(model_dir, sample_file, sample_vectors, tmp_path):
    """Server mode (qdrant-client's aarch64 build) against a Qdrant on this machine: the REST
    STAND-IN of tests/support/qdrant_standin.py (no Qdrant server runs here), the API key on every request."""
    needs_emulation()
    out, report = build_for_emulation("server", tmp_path / "arm64-server-3.11", model_dir)
    assert json.loads((out / "artifact.json").read_text())["mode"] == "server" and (out / "qdrant_client").is_dir()
    key = "arm64-key-7c2"
    with QdrantStandin(api_key=key) as qdrant:
        uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--model-dir", str(model_dir),
                              env={"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": key})
        assert uploaded.returncode == 0, uploaded.stderr
        server = {"QDRANT_URL": qdrant.url, "QDRANT_API_KEY": key}
        answer_under_qemu(out, report, tmp_path, server, server, before_emulated=qdrant.clear_log)
        assert qdrant.requests  # the emulated runtime's own and all(r.headers.get("api-key") == key for r in qdrant.requests)


def test_sam_build_builds_the_architecture_the_function_deploys_with():
    """SAM gives a makefile build no architecture: `make build-SearchFunction` takes template.yaml's
    Architecture default (arm64: docs/lambda.md#which-architecture) unless LAMBDA_ARCH is set."""
    import yaml

    parameters = yaml.load((REPO / "template.yaml").read_text(), Loader=yaml.BaseLoader)["Parameters"]  # BaseLoader: !Ref etc. as text
    default = parameters["Architecture"]["Default"]
    assert default == "arm64"

    def planned(**env):
        base = {k: v for k, v in os.environ.items() if k != "LAMBDA_ARCH"}
        result = subprocess.run(["make", "-n", "build-SearchFunction", "ARTIFACTS_DIR=/tmp/sam-artifacts"], cwd=REPO, env={**base, **env},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert f"--arch {default} " in planned()
    assert "--arch x86_64 " in planned(LAMBDA_ARCH="x86_64")


@pytest.mark.slow  # builds on the exported model
def test_the_arm64_server_build_is_all_aarch64_for_lambdas_python(model_dir, tmp_path):
    """The server mode's arm64 artifact as it deploys (CPython 3.12, byte-compiled; no emulation
    needed to build it): its compiled libraries are aarch64 ones, qdrant-client's included."""
    out = tmp_path / "arm64-server"
    result = subprocess.run([sys.executable, "infra/build_artifact.py", "--mode", "server", "--arch", "arm64", "--out", str(out), "--model-dir", str(model_dir)],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out.parent / f"{out.name}-report.json").read_text())
    info = json.loads((out / "artifact.json").read_text())
    assert (info["mode"], info["arch"]) == ("server", "aarch64")
    libraries = [p for p in out.rglob("*.so*") if p.is_file()]
    assert libraries and all(elf_machine(p) == AARCH64 for p in libraries), [p for p in libraries if elf_machine(p) != AARCH64][:5]
    assert (out / "qdrant_client").is_dir() and not (out / "qdrant_edge").exists()
    print(f"arm64 server (CPython {report['python']}): {report['unzipped_mb']} MB unzipped, variant {report['variant']}")
    assert report["unzipped_mb"] <= 250 and report["glibc_over_limit"] == []
