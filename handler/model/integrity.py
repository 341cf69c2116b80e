"""The served model's files, checked before they serve.

- `manifest.json` that does not parse, or lacks what the service reads, is named with the fix;
- `tokenizer.json` must have the manifest's `tokenizer_sha256`, checked before the encoder reads
  it (a few hundred KB: about a millisecond): a tokenizer with another vocabulary parses, loads
  and embeds every query as other words. A manifest written before exports recorded that hash is
  accepted with a logged warning (the file is then unverified; export again to verify it);
- the model's files (its graph and the weights beside it) must have the manifest's sha256s: a file
  of the right size with other bytes would load and serve other rankings. The hash runs in a thread of its own while the
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
from handler.model.manifest import MANIFEST, ModelFile, choose_variant, fix, model_files, read_manifest

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
    """Starts hashing the files of the variant the service will load (EMBED_VARIANT, or the CPU
    default the encoder chooses: `handler.model.manifest`), graph and weights, at once; `verify`
    waits for the hashes and compares them."""

    def __init__(self, model_dir: str | Path, variant: str | None) -> None:
        self.model_dir = Path(model_dir)
        self.manifest = read_manifest(self.model_dir)
        self.tokenizer = check_tokenizer(self.model_dir, self.manifest)  # before the encoder reads it
        self.variant, _ = choose_variant(self.manifest, variant, "cpu")
        self.files = self._files(self.variant)
        self._hashed: list[tuple[str | None, Exception | None]] = []  # per file: (sha256, why it could not be read)
        self._thread = None
        if self.files and all(f.path.is_file() for f in self.files):
            self._thread = threading.Thread(target=self._hash_in_background, name="model-sha256", daemon=True)
            self._thread.start()
        # else: the encoder refuses the variant or the file, with its own words

    def _files(self, variant: str) -> tuple[ModelFile, ...]:
        entry = self.manifest["variants"].get(variant)
        if not (isinstance(entry, dict) and entry.get("file")):
            return ()
        files = model_files(self.model_dir, entry)
        return files if all(f.sha256 for f in files) else ()

    @staticmethod
    def _hash(path: Path) -> tuple[str | None, Exception | None]:
        try:
            return sha256_file(path), None
        except OSError as exc:
            return None, exc

    def _hash_in_background(self) -> None:
        self._hashed = [self._hash(f.path) for f in self.files]

    def _results(self, variant: str) -> tuple[tuple[ModelFile, ...], list[tuple[str | None, Exception | None]]]:
        """The files of the variant the encoder loaded and their hashes: the background ones when it is the foreseen variant."""
        if self._thread is not None:
            self._thread.join()
        if variant == self.variant and self._thread is not None:
            return self.files, self._hashed
        files = self._files(variant)  # another variant than foreseen (the encoder fell back to the next exact one): hash it now
        return files, [self._hash(f.path) for f in files]

    def _check(self, files, hashed) -> None:
        for file, (actual, failed) in zip(files, hashed):
            if failed is not None:
                raise ModelFileError(f"cannot read {file.path}: {failed}; {fix(self.model_dir)}")
            if actual != file.sha256:
                raise ModelFileError(f"{file.path} has sha256 {actual}, but {self.model_dir / MANIFEST} says {file.sha256}: the file is damaged "
                                     f"or from another export, and would serve other rankings; {fix(self.model_dir)}")

    def damage(self) -> str | None:
        """Why the foreseen variant's files are not the export's (its hashes, waited for), or None: a
        damaged file can also fail to load, or make its vector of the known text differ, and
        then this is the cause to name."""
        if self._thread is None:
            return None
        self._thread.join()
        try:
            self._check(self.files, self._hashed)
        except ModelFileError as damaged:
            return str(damaged)
        return None

    def verify(self, variant: str) -> dict:
        """What was verified of the variant's files (for /health details); ModelFileError naming the
        first file whose bytes differ from the manifest's. Where the encoder fell back from the
        foreseen variant, that one's files must be intact too: a damaged one is why its vectors were off."""
        if variant != self.variant and (why := self.damage()):
            raise ModelFileError(why)
        files, hashed = self._results(variant)
        if not files:
            return {"verified": f"nothing: {MANIFEST} lists no sha256 for '{variant}'", "tokenizer": self.tokenizer}
        self._check(files, hashed)
        graph, *weights = files
        return {"file": graph.path.name, "sha256": hashed[0][0], **({"weights": weights[0].path.name, "weights_sha256": hashed[1][0]} if weights else {}),
                "verified": f"sha256 of each file, computed at start, equals {MANIFEST}'s", "tokenizer": self.tokenizer}

    def diagnose(self, exc: Exception) -> str:
        """Words for a failure to load the model that the encoder did not explain (its error
        names no file): a damaged model file, else a tokenizer file that does not parse."""
        damaged = self.damage()
        if damaged:
            return damaged
        tokenizer = self.model_dir / self.manifest.get("tokenizer", "tokenizer.json")
        try:
            Tokenizer.from_file(str(tokenizer))
        except Exception as bad:
            return f"{tokenizer} cannot be read as a tokenizer ({cut(str(bad), 120)}): the file is damaged; {fix(self.model_dir)}"
        return f"cannot load the model in {self.model_dir}: {type(exc).__name__}: {cut(str(exc), 160)}; {fix(self.model_dir)}"
