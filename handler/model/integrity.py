"""The served model's files, checked before they serve.

- `manifest.json` that does not parse, or lacks what the service reads, is named with the fix;
- `tokenizer.json` must have the manifest's `tokenizer_sha256`, checked before the encoder reads
  it (a few hundred KB: about a millisecond): a tokenizer with another vocabulary parses, loads
  and embeds every query as other words. A manifest written before exports recorded that hash is
  accepted with a logged warning (the file is then unverified; export again to verify it);
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
import logging
import threading
from pathlib import Path

from tokenizers import Tokenizer

from handler.common import ModelFileError, cut, sha256_file
from handler.model.manifest import MANIFEST, choose_variant, fix, read_manifest

log = logging.getLogger("handler")
TOKENIZER_HASH = "tokenizer_sha256"  # the manifest's field, written by `python -m export`


def check_tokenizer(model_dir: str | Path, manifest: dict) -> dict:
    """What was verified of the tokenizer file (for /health details); ModelFileError naming the
    file and the fix when its bytes are not the export's. A manifest without the field (an export
    before it was recorded) is accepted, unverified, with a warning in the log."""
    model_dir = Path(model_dir)
    path = model_dir / manifest.get("tokenizer", "tokenizer.json")
    expected = manifest.get(TOKENIZER_HASH)
    if not expected:
        why = f"{model_dir / MANIFEST} has no {TOKENIZER_HASH} (an export older than that check): {path.name} is not verified; {fix(model_dir)} to verify it"
        log.warning(json.dumps({"event": "startup", "warning": why}))
        return {"file": path.name, "verified": f"no: {why}"}
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path} not found, but {model_dir / MANIFEST} lists it; {fix(model_dir)}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}; {fix(model_dir)}") from None
    if actual != expected:
        raise ModelFileError(f"{path} has sha256 {actual}, but {model_dir / MANIFEST} says {expected}: the file is damaged or from another "
                             f"export, and would turn every text into other tokens; {fix(model_dir)}")
    return {"file": path.name, "sha256": actual, "verified": f"sha256 of the file, computed at start, equals {MANIFEST}'s"}


class ModelCheck:
    """Starts hashing the model file the service will load (EMBED_VARIANT, or the CPU default
    the encoder chooses: `handler.model.manifest`) at once; `verify` waits for the hash and compares it."""

    def __init__(self, model_dir: str | Path, variant: str | None) -> None:
        self.model_dir = Path(model_dir)
        self.manifest = read_manifest(self.model_dir)
        self.tokenizer = check_tokenizer(self.model_dir, self.manifest)  # before the encoder reads it
        name, _ = choose_variant(self.manifest, variant, "cpu")
        entry = self.manifest["variants"].get(name)
        self.path: Path | None = None
        self.expected = None
        self._hashed: tuple[str | None, Exception | None] = (None, None)  # (sha256, why it could not be read)
        self._thread = None
        if isinstance(entry, dict) and entry.get("file") and entry.get("sha256"):
            self.path, self.expected = self.model_dir / entry["file"], str(entry["sha256"])
            if self.path.is_file():
                self._thread = threading.Thread(target=self._hash_in_background, args=(self.path,), name="model-sha256", daemon=True)
                self._thread.start()
        # else: the encoder refuses the variant or the file, with its own words

    @staticmethod
    def _hash(path: Path) -> tuple[str | None, Exception | None]:
        try:
            return sha256_file(path), None
        except OSError as exc:
            return None, exc

    def _hash_in_background(self, path: Path) -> None:
        self._hashed = self._hash(path)

    def _result(self, model_path: Path) -> tuple[str | None, Exception | None]:
        """The hash of the file the encoder loaded: the background one when it is that file."""
        if self._thread is not None:
            self._thread.join()
        if self.path is not None and self._thread is not None and Path(model_path).resolve() == self.path.resolve():
            return self._hashed
        self.path = Path(model_path)  # another file than foreseen (the encoder was given another variant): hash it now
        return self._hash(self.path)

    def verify(self, model_path: Path, expected: str | None = None) -> dict:
        """What was verified (for /health details); ModelFileError when the bytes differ."""
        actual, failed = self._result(model_path)
        expected = expected or self.expected
        if failed is not None:
            raise ModelFileError(f"cannot read {self.path}: {failed}; {fix(self.model_dir)}")
        if actual != expected:
            raise ModelFileError(f"{self.path} has sha256 {actual}, but {self.model_dir / MANIFEST} says {expected}: the file is damaged "
                                 f"or from another export, and would serve other rankings; {fix(self.model_dir)}")
        return {"file": self.path.name, "sha256": actual, "verified": f"sha256 of the file, computed at start, equals {MANIFEST}'s",
                "tokenizer": self.tokenizer}

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
            Tokenizer.from_file(str(tokenizer))
        except Exception as bad:
            return f"{tokenizer} cannot be read as a tokenizer ({cut(str(bad), 120)}): the file is damaged; {fix(self.model_dir)}"
        return f"cannot load the model in {self.model_dir}: {type(exc).__name__}: {cut(str(exc), 160)}; {fix(self.model_dir)}"
