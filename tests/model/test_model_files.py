"""The model directory's files are checked before they serve: a missing directory, a model or tokenizer file with other bytes, a damaged file, each named with the fix; what was verified is shown only when asked for."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from handler.common import ModelFileError, StartupError, sha256_file
from handler.model import Encoder, model_files
from handler.search import SearchService
from handler.web import create_app
from tests.support.helpers import REPO, make_settings, served_variant
from tests.support.servers import free_port


def test_a_missing_model_directory_names_the_file_and_the_fix(tmp_path):
    """`python -m handler` with a model directory that does not exist: it fails (exit 2, naming
    the file), and said "serving" nowhere, although the socket was bound first."""
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "handler"], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "PORT": str(port), "MODEL_DIR": str(tmp_path / "none"), "QDRANT_PATH": str(tmp_path)})
    assert result.returncode == 2 and "no manifest.json in" in result.stderr and "python -m export" in result.stderr
    assert "serving" not in result.stderr + result.stdout


def served_file(model_dir) -> str:
    """The model file this CPU serves (int8's, or int8_unsigned' where int8 is not exact here)."""
    return served_variant(model_dir)[1]["file"]


def served_files(model_dir) -> list[str]:
    """The names of the files the served variant loads: its graph, then its weights (an export before they were apart: the graph alone)."""
    return [file.path.name for file in model_files(model_dir, served_variant(model_dir)[1])]


def flip_bytes(path) -> None:
    """Same size, other bytes: what the size check lets through."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 1 for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def model_copy(model_dir, tmp_path, damage: str | None = None):
    """The served files of the export (manifest, tokenizer, the CPU default's graph and weights) in tmp_path/model, one of them damaged."""
    out = tmp_path / "model"
    out.mkdir()
    for name in ("manifest.json", "tokenizer.json", *served_files(model_dir)):
        shutil.copy(model_dir / name, out / name)
    if damage == "model":
        flip_bytes(out / served_file(model_dir))
    elif damage in ("weights", "no weights"):
        weights = out / served_files(model_dir)[-1]
        flip_bytes(weights) if damage == "weights" else weights.unlink()
    elif damage in ("tokenizer", "manifest"):
        path = out / f"{damage}.json"
        path.write_bytes(path.read_bytes()[: 300 if damage == "manifest" else 5000])  # cut short, as a failed copy leaves it
    return out


def run_handler(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handler"], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HOST": "127.0.0.1", "PORT": str(free_port()), "QDRANT_URL": "", **env})


def test_a_model_file_with_other_bytes_never_serves(model_dir, loaded_qdrant, tmp_path):
    damaged, model = model_copy(model_dir, tmp_path, "model"), served_file(model_dir)
    assert (damaged / model).stat().st_size == (model_dir / model).stat().st_size
    with pytest.raises(StartupError, match=rf"{re.escape(model)} has sha256 .* but .*manifest.json says"):
        SearchService.start(make_settings(damaged, tmp_path / "store"))
    result = run_handler({"MODEL_DIR": str(damaged), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and model in result.stderr and "python -m export" in result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


def test_weights_with_other_bytes_never_serve(model_dir, loaded_qdrant, tmp_path):
    """The graph is intact and the weights beside it are not: the weights file is named, nothing serves."""
    weights = served_files(model_dir)[-1]
    if len(served_files(model_dir)) == 1:
        pytest.skip("TEST_MODEL_DIR is an export from before the weights were kept apart (unset it to export here)")
    damaged = model_copy(model_dir, tmp_path, "weights")
    with pytest.raises(StartupError, match=rf"{re.escape(weights)} has sha256 .* but .*manifest.json says"):
        SearchService.start(make_settings(damaged, tmp_path / "store"))


def test_weights_left_behind_by_a_copy_are_named(model_dir, loaded_qdrant, tmp_path):
    """A copy of the export without the weights file: the start names the missing file and the fix, no onnxruntime words."""
    weights = served_files(model_dir)[-1]
    if len(served_files(model_dir)) == 1:
        pytest.skip("TEST_MODEL_DIR is an export from before the weights were kept apart (unset it to export here)")
    result = run_handler({"MODEL_DIR": str(model_copy(model_dir, tmp_path, "no weights")), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and f"model/{weights} not found" in result.stderr and "copy it with the rest of the export" in result.stderr, result.stderr
    assert "python -m export" in result.stderr
    assert "Traceback" not in result.stderr and "onnxruntime" not in result.stderr.lower()


@pytest.mark.parametrize("copied", ["the whole export", "the served files only"])
def test_damaged_weights_are_named_where_another_variant_could_serve(model_dir, loaded_qdrant, tmp_path, copied):
    """The default's weights damaged: they load, their vector of the known text is off, and the
    encoder falls back to the next exact variant (the whole export) or finds none (the served files
    only, as in a Lambda artifact). Either way the start names the damaged file, instead of serving
    the next variant and blaming this CPU's kernels, or saying no variant fits this CPU."""
    if len(served_files(model_dir)) == 1:
        pytest.skip("TEST_MODEL_DIR is an export from before the weights were kept apart (unset it to export here)")
    copy = tmp_path / "model"
    if copied == "the whole export":
        shutil.copytree(model_dir, copy)
    else:
        model_copy(model_dir, tmp_path)
    weights = copy / served_files(model_dir)[-1]
    data = bytearray(weights.read_bytes())
    data[::1024] = bytes(b ^ 0x5A for b in data[::1024])  # a byte in every KB: every tensor, enough to move its vectors
    weights.write_bytes(bytes(data))
    if copied == "the whole export":
        assert Encoder.from_export(copy, verify="size").variant != served_variant(model_dir)[0]  # what the size check alone lets happen
    with pytest.raises(StartupError, match=rf"{re.escape(served_files(model_dir)[-1])} has sha256 .* but .*manifest.json says"):
        SearchService.start(make_settings(copy, tmp_path / "store"))


def test_a_manifest_whose_weights_lack_their_hash_is_named(model_dir, tmp_path):
    if len(served_files(model_dir)) == 1:
        pytest.skip("TEST_MODEL_DIR is an export from before the weights were kept apart (unset it to export here)")
    copy = model_copy(model_dir, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["variants"][served_variant(model_dir)[0]]["weights"]["sha256"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = run_handler({"MODEL_DIR": str(copy), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and "the 'weights' of" in result.stderr and "has no sha256" in result.stderr and "python -m export" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "KeyError" not in result.stderr


@pytest.mark.parametrize("damage, file", [("tokenizer", "tokenizer.json"), ("manifest", "manifest.json")])
def test_a_damaged_file_is_named_with_the_fix(model_dir, tmp_path, damage, file):
    result = run_handler({"MODEL_DIR": str(model_copy(model_dir, tmp_path, damage)), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2, result.stderr
    assert f"model/{file}" in result.stderr and "python -m export" in result.stderr, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


def test_health_details_name_what_was_verified(service):
    client = TestClient(create_app(make_settings(service.settings.model_dir, service.settings.qdrant_path, health_details=True), service))
    model = client.get("/health").json()["details"]["model"]
    served = service.encoder.model_path
    assert model["file"] == served.name and model["sha256"] == sha256_file(served)
    _, *weights = model_files(service.settings.model_dir, served_variant(service.settings.model_dir)[1])
    if weights:  # the weights beside the graph are verified too
        assert model["weights"] == weights[0].path.name and model["weights_sha256"] == sha256_file(weights[0].path)
    assert "computed at start" in model["verified"]


# -- the tokenizer: verified like the model ----------------------------------------------------
def other_vocabulary(path) -> None:
    """tokenizer.json with every token moved to another id: valid JSON, a tokenizer that loads,
    and every text turned into other ids (what a vocabulary of another model would do)."""
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    size = len(vocab)
    tokenizer["model"]["vocab"] = {token: (index + 1000) % size for token, index in vocab.items()}
    path.write_text(json.dumps(tokenizer), encoding="utf-8")


def with_tokenizer_hash(model_copy_dir) -> None:
    """The copy's manifest records its tokenizer's sha256 (as exports write it; TEST_MODEL_DIR may be an older one)."""
    path = model_copy_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tokenizer_sha256"] = sha256_file(model_copy_dir / manifest["tokenizer"])
    path.write_text(json.dumps(manifest))


def test_an_export_records_its_tokenizers_sha256(export_run):
    model_dir, ran = export_run
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if ran is None and "tokenizer_sha256" not in manifest:
        pytest.skip("TEST_MODEL_DIR is an export older than the tokenizer's hash (unset it to export here)")
    assert manifest["tokenizer_sha256"] == sha256_file(model_dir / manifest["tokenizer"])


def test_a_tokenizer_with_another_vocabulary_never_serves(model_dir, loaded_qdrant, tmp_path):
    damaged = model_copy(model_dir, tmp_path)
    with_tokenizer_hash(damaged)
    other_vocabulary(damaged / "tokenizer.json")
    Tokenizer.from_file(str(damaged / "tokenizer.json"))  # it still loads: only the hash tells
    with pytest.raises(StartupError, match=r"tokenizer\.json has sha256 .* but .*manifest\.json says"):
        SearchService.start(make_settings(damaged, tmp_path / "store"))
    with pytest.raises(ModelFileError, match=r"tokenizer\.json has sha256"):  # the batch jobs' path
        Encoder.from_export(damaged)
    result = run_handler({"MODEL_DIR": str(damaged), "QDRANT_PATH": str(tmp_path / "store")})
    assert result.returncode == 2 and "model/tokenizer.json has sha256" in result.stderr and "python -m export" in result.stderr, result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


def test_an_export_without_the_tokenizers_hash_starts_and_says_it_is_unverified(model_dir, tmp_path, logged):
    old = model_copy(model_dir, tmp_path)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest.pop("tokenizer_sha256", None)
    (old / "manifest.json").write_text(json.dumps(manifest))
    service = SearchService.start(make_settings(old, tmp_path / "store"))  # an empty store: the session's service holds the loaded shard
    try:
        assert service.verified["tokenizer"]["verified"].startswith("no: ")
        assert any("tokenizer.json is not verified" in line and "python -m export" in line for line in logged)
    finally:
        service.storage.close()


def test_the_tokenizer_check_names_the_file_the_hash_and_the_fix(tmp_path, logged):
    """No export needed: the check reads the manifest's field and the file's bytes."""
    from handler.model.integrity import check_tokenizer

    (tmp_path / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    good = {"tokenizer": "tokenizer.json", "tokenizer_sha256": sha256_file(tmp_path / "tokenizer.json")}
    assert check_tokenizer(tmp_path, good)["sha256"] == good["tokenizer_sha256"]
    (tmp_path / "tokenizer.json").write_text('{"model": {"vocab": {"b": 0}}}')
    with pytest.raises(ModelFileError, match=rf"{re.escape(str(tmp_path / 'tokenizer.json'))} has sha256 .* says {good['tokenizer_sha256']}.*python -m export"):
        check_tokenizer(tmp_path, good)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match=r"tokenizer\.json not found, but .*manifest\.json lists it"):
        check_tokenizer(tmp_path, good)
    assert check_tokenizer(tmp_path, {"tokenizer": "tokenizer.json"})["verified"].startswith("no: ")  # an older export: accepted, said so
    assert any("is not verified" in line for line in logged)
