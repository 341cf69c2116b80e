"""An export's `manifest.json`: reading it, and choosing the variant a device runs. The one home of
both, for the encoder, the start-up check of the model file (`handler.model.integrity`) and the jobs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

from handler.common import ModelFileError
from handler.model import cpu  # cpu.missing is looked up at each call: tests and tests/support/cpu_without_int8_dot replace it

MANIFEST = "manifest.json"
WEIGHTS = "weights"  # a variant's entry: its weights file (ONNX external data beside the graph), with its own bytes and sha256


class ModelFile(NamedTuple):
    """One file of a variant, as the manifest vouches for it."""

    path: Path
    bytes: int | None
    sha256: str | None


def model_files(model_dir: str | Path, entry: dict) -> tuple[ModelFile, ...]:
    """The files a variant loads from: its graph (`file`), then its weights where the export keeps them
    apart (`weights`; an export before that has one file). A `weights` without its file name or sha256
    is a damaged manifest: ModelFileError naming the field."""
    model_dir = Path(model_dir)
    parts = [entry]
    if WEIGHTS in entry:
        weights = entry[WEIGHTS]
        lacking = [key for key in ("file", "sha256") if not (isinstance(weights, dict) and isinstance(weights.get(key), str) and weights[key])]
        if lacking:
            raise ModelFileError(f"{model_dir / MANIFEST}: the '{WEIGHTS}' of {entry.get('file')} has no {' and no '.join(lacking)}: "
                                 f"the file is damaged; {fix(model_dir)}")
        parts.append(weights)
    return tuple(ModelFile(model_dir / part["file"], part.get("bytes"), part.get("sha256")) for part in parts)


def variant_bytes(entry: dict) -> int:
    """What a variant weighs: its graph and its weights."""
    return sum(part.get("bytes") or 0 for part in [entry, entry.get(WEIGHTS) or {}])


def variant_sha256(entry: dict) -> str:
    """One digest that names a variant's bytes (its files' sha256s hashed together): what vector caches
    and embedding reports key on, so new weights under the same graph are another model."""
    if not isinstance(entry.get(WEIGHTS), dict):
        return entry["sha256"]
    return hashlib.sha256(f"{entry['sha256']}\n{entry[WEIGHTS]['sha256']}".encode()).hexdigest()


def fix(model_dir: Path) -> str:
    return f"export the model again (`python -m export --out {model_dir}`) or point MODEL_DIR (--model-dir) at an export directory"


def read_manifest(model_dir: str | Path) -> dict:
    """MODEL_DIR/manifest.json, written by `python -m export`; an error naming the file and the fix
    when it is absent, unreadable, damaged or not an export's."""
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"no {MANIFEST} in '{model_dir}': run `python -m export --out {model_dir}` first, or point MODEL_DIR "
                             "(--model-dir) at an export directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}; {fix(model_dir)}") from None
    except ValueError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}): the file is damaged; {fix(model_dir)}") from None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("variants"), dict) and isinstance(manifest.get("defaults"), dict)):
        raise ModelFileError(f"{path} has no 'variants' and 'defaults' tables: it is not an export's manifest; {fix(model_dir)}")
    return manifest


def choose_variant(manifest: dict, variant: str | None, device: str) -> tuple[str, str | None]:
    """(the variant to load, why it is not the default or None). A named variant is taken as named
    (the encoder refuses it where the CPU cannot run it); no name takes the device's default, and
    on a CPU that lacks what that default needs, `defaults["cpu_without_<need>"]`."""
    name = variant or manifest["defaults"].get(device)
    if variant is None and device == "cpu" and name in manifest["variants"]:
        need = manifest["variants"][name].get("requires")
        why = cpu.missing(need)
        if why:
            return manifest["defaults"].get(f"cpu_without_{need}", "fp32"), f"default '{name}' needs {need}: {why}"
    return name, None
