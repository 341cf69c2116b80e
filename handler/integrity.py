"""The served model's files, checked before they serve.

- `manifest.json` that does not parse, or lacks what the service reads, is named with the fix;
- the model file's bytes must have the manifest's sha256: a file of the right size with other
  bytes would load and serve other rankings. The hash runs in a thread of its own while the
  session opens, the store opens and the model warms up (hashlib and file reads release the GIL),
  so start-up waits for it only when it is the slowest part; on Lambda this is init, which
  SnapStart snapshots once per version;
- a start-up failure that is not the encoder's own error (a `tokenizer.json` that does not parse,
  a model file onnxruntime refuses) is diagnosed here, naming the file and the fix.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from handler.errors import UsageError
from handler.files import sha256_file
from handler.logs import cut

MANIFEST = "manifest.json"


class ModelFileError(UsageError):
    """A file of the model directory cannot serve; the message names it and the fix."""


def _fix(model_dir: Path) -> str:
    return f"export the model again (`python -m export --out {model_dir}`) or point MODEL_DIR at an export directory"


def read_manifest(model_dir: Path) -> dict:
    path = model_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"no {MANIFEST} in '{model_dir}': {_fix(model_dir)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}; {_fix(model_dir)}") from None
    except ValueError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}): the file is damaged; {_fix(model_dir)}") from None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("variants"), dict) and isinstance(manifest.get("defaults"), dict)):
        raise ModelFileError(f"{path} has no 'variants' and 'defaults' tables: it is not an export's manifest; {_fix(model_dir)}")
    return manifest


class ModelCheck:
    """Starts hashing the model file the service will load (variant: EMBED_VARIANT, or the
    manifest's CPU default) at once; `verify` waits for the hash and compares it."""

    def __init__(self, model_dir: str | Path, variant: str | None) -> None:
        self.model_dir = Path(model_dir)
        self.manifest = read_manifest(self.model_dir)
        entry = self.manifest["variants"].get(variant or self.manifest["defaults"].get("cpu"))
        self.path: Path | None = None
        self.expected = None
        self.actual: str | None = None
        self._failed: Exception | None = None
        self._thread = None
        if isinstance(entry, dict) and entry.get("file") and entry.get("sha256"):
            self.path, self.expected = self.model_dir / entry["file"], str(entry["sha256"])
            if self.path.is_file():
                self._thread = threading.Thread(target=self._hash, name="model-sha256", daemon=True)
                self._thread.start()
        # else: the encoder refuses the variant or the file, with its own words

    def _hash(self) -> None:
        try:
            self.actual = sha256_file(self.path)
        except OSError as exc:
            self._failed = exc

    def _wait(self, model_path: Path) -> None:
        if self._thread is None or Path(model_path).resolve() != self.path.resolve():
            self.path = Path(model_path)  # the encoder chose another file: hash that one, now
            self._hash()
        else:
            self._thread.join()

    def verify(self, model_path: Path, expected: str | None = None) -> dict:
        """What was verified (for /health details); ModelFileError when the bytes differ."""
        self._wait(model_path)
        expected = expected or self.expected
        if self._failed is not None:
            raise ModelFileError(f"cannot read {self.path}: {self._failed}; {_fix(self.model_dir)}")
        if self.actual != expected:
            raise ModelFileError(f"{self.path} has sha256 {self.actual}, but {self.model_dir / MANIFEST} says {expected}: the file is damaged "
                                 f"or from another export, and would serve other rankings; {_fix(self.model_dir)}")
        return {"file": self.path.name, "sha256": self.actual, "verified": f"sha256 of the file, computed at start, equals {MANIFEST}'s"}

    def diagnose(self, exc: Exception) -> str:
        """Words for a failure to load the model that the encoder did not explain (its error
        names no file): a damaged model file, else a tokenizer file that does not parse."""
        try:
            if self.path is not None:
                self.verify(self.path)
        except ModelFileError as damaged:
            return str(damaged)
        tokenizer = self.model_dir / self.manifest.get("tokenizer", "tokenizer.json")
        try:
            from tokenizers import Tokenizer

            Tokenizer.from_file(str(tokenizer))
        except Exception as bad:
            return f"{tokenizer} cannot be read as a tokenizer ({cut(str(bad), 120)}): the file is damaged; {_fix(self.model_dir)}"
        return f"cannot load the model in {self.model_dir}: {type(exc).__name__}: {cut(str(exc), 160)}; {_fix(self.model_dir)}"
