"""The Lambda artifact's contract between its build (`infra/build_artifact.py`) and the runtime:
where things lie in the artifact and what its `artifact.json` says.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

ARTIFACT_ROOT = Path(__file__).resolve().parents[2]  # /var/task in a Lambda artifact (handler/common/ is two below)
INFO_FILE = "artifact.json"  # {"mode": "server"|"embedded", "arch": ..., "variant": ..., "schema": its fingerprint}
SCHEMA_FILE = "schema.toml"  # the catalogue's schema the artifact was built with (template.yaml: SCHEMA_FILE=/var/task/schema.toml)
SHARD_ARCHIVE = "qdrant_shard.zip"  # the baked shard (template.yaml: QDRANT_SHARD_SOURCE=/var/task/qdrant_shard.zip)
MODEL_FOLDER = "model"  # the served variant and its manifest (template.yaml: MODEL_DIR=/var/task/model)
STORAGE_MODES = ("embedded", "server")  # LAMBDA_MODE: which storage backend the artifact carries


def write_info(out: Path, mode: str, arch: str, variant: str, schema: dict | None = None) -> None:
    (out / INFO_FILE).write_text(json.dumps({"mode": mode, "arch": arch, "variant": variant, **({"schema": schema} if schema else {})}) + "\n")


def built_mode(root: Path | None = None) -> str | None:
    """The storage mode of the Lambda artifact this code runs from; None in a checkout."""
    info = (root or ARTIFACT_ROOT) / INFO_FILE
    return json.loads(info.read_text()).get("mode") if info.is_file() else None


def missing_collection_fix(settings, root: Path | None = None) -> str | None:
    """What to do about a missing collection in an embedded Lambda artifact, where loading it with
    the scripts is not the answer (its collection comes from a shard); None elsewhere. No path:
    these words go to clients."""
    root = root or ARTIFACT_ROOT
    if built_mode(root) != "embedded":
        return None
    if settings.qdrant_shard_source:
        return ("the shard QDRANT_SHARD_SOURCE names holds no such collection: set COLLECTION_NAME to the one it holds, "
                "or build the artifact again with that collection's shard (--shard QDRANT_PATH/<collection>)")
    if (root / SHARD_ARCHIVE).is_file():
        return (f"this artifact carries its shard ({SHARD_ARCHIVE}) but QDRANT_SHARD_SOURCE is empty: set it to the artifact's "
                f"{SHARD_ARCHIVE} as template.yaml does (make invoke and make serve-lambda do)")
    return ("this artifact carries no shard: build it with --shard QDRANT_PATH/<collection> (make artifact LAMBDA_SHARD=...), "
            "or set QDRANT_SHARD_SOURCE to a shard archive (template parameter QdrantShardS3Uri)")


def check_artifact_arch(error: type[Exception], root: Path = ARTIFACT_ROOT, machine: str | None = None) -> None:
    """A Lambda artifact runs on the architecture it was built for. Checked first in
    `handler.lambda_entry`, before any compiled library is imported: an aarch64 zip in an x86_64
    function (sam builds the template's default, arm64, unless LAMBDA_ARCH says otherwise) would
    otherwise fail in init on numpy's or pydantic's "invalid ELF header". Not an artifact: nothing to check."""
    info = root / INFO_FILE
    if not info.is_file():
        return
    built = json.loads(info.read_text()).get("arch")
    machine = (machine or platform.machine()).lower()
    here = {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)
    if built and built != here:
        wanted = "arm64" if built == "aarch64" else built
        raise error(f"this Lambda artifact was built for {built} but runs on {here}: deploy it with Architecture={wanted}, or build it "
                    f"again for {here} (LAMBDA_ARCH={'arm64' if here == 'aarch64' else here} make build-SearchFunction; sam build reads "
                    "the template's default Architecture otherwise)")


def check_artifact_mode(settings, error: type[Exception], root: Path = ARTIFACT_ROOT) -> None:
    """A Lambda artifact serves the storage mode it was built for; say so at start otherwise.
    Not an artifact (a checkout): any mode."""
    info = root / INFO_FILE
    if not info.is_file():
        return
    built = json.loads(info.read_text())
    mode = built.get("mode")
    if mode == "server" and not settings.qdrant_url:
        raise error("this Lambda artifact was built with --mode server and needs QDRANT_URL; build it with --mode embedded for Qdrant Edge")
    if mode == "embedded" and settings.qdrant_url:
        raise error("this Lambda artifact was built with --mode embedded and needs QDRANT_URL empty; build it with --mode server for a Qdrant server")
    differences = settings.schema.differences(built["schema"]) if built.get("schema") else []
    if differences:
        raise error(f"this Lambda artifact was built with another schema than {settings.schema.source} ({'; '.join(differences)}): "
                    f"leave SCHEMA_FILE at its {SCHEMA_FILE}, or build the artifact again with --schema")
