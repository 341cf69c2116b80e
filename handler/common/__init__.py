"""The common wing: what every other wing, the batch jobs and the build use. Stdlib only at
import (`infra/toolchain.py` runs before any virtual environment exists).

- configuration: `ENV` (every environment variable, one table), `env`, `Settings`, `redact_url`;
- errors: the project's one exception hierarchy (drawn in `handler.common.errors`);
- command lines: `cli` (one way to fail), `say`;
- files: `sha256_file`, atomic writes;
- the Lambda artifact's contract: what lies where in it, `check_artifact_arch`, `check_artifact_mode`;
- the log: JSON lines (`configure_logging`, `server_logging`, `JsonLines`, `bounded`);
- a request's deadline: `until`, `check_deadline`, `overdue`, `remaining`;
- `cut`: the one way to shorten a client's value for a log line or an error body;
- text: `normalize`, the one rule for the text users send (and for a keyword's folded copy);
- the catalogue's schema: `Schema`, `load_schema`, `fold` (docs/schema.md).
"""

from handler.common.artifact import SCHEMA_FILE as ARTIFACT_SCHEMA_FILE
from handler.common.artifact import (
    ARTIFACT_ROOT,
    INFO_FILE,
    MODEL_FOLDER,
    SHARD_ARCHIVE,
    STORAGE_MODES,
    built_mode,
    check_artifact_arch,
    check_artifact_mode,
    missing_collection_fix,
    write_info,
)
from handler.common.cli import EXIT_INTERRUPTED, cli, say
from handler.common.config import ENV, SECRET_PARAMETERS, Settings, env, redact_url
from handler.common.deadline import check_deadline, overdue, remaining, until
from handler.common.errors import (
    Bm25Unavailable,
    CircuitOpen,
    CollectionMismatch,
    CollectionMissing,
    CollectionOutdated,
    ConfigError,
    EncoderError,
    ExportError,
    ModelFileError,
    NeuralSearchError,
    ParityError,
    PointNotFound,
    RequestExpired,
    ShardLocked,
    SchemaError,
    SchemaMismatch,
    ShardSourceError,
    SourceError,
    SparseMissing,
    StartupError,
    StorageAnswerInvalid,
    StorageError,
    StorageUnavailable,
    UsageError,
)
from handler.common.files import atomic_save_npy, atomic_write, atomic_write_json, sha256_file
from handler.common.logs import MAX_LINE, JsonLines, bounded, configure_logging, server_logging
from handler.common.schema import BUILT_IN, FOLDED, TITLE_KEY, Field, Schema, fold, load_schema, parse_schema, title_key
from handler.common.shorten import cut
from handler.common.spelling import slips
from handler.common.text import NOT_BLANK_PATTERN, normalize

__all__ = [
    "ARTIFACT_ROOT", "ARTIFACT_SCHEMA_FILE", "INFO_FILE", "MODEL_FOLDER", "SHARD_ARCHIVE", "STORAGE_MODES", "built_mode", "check_artifact_arch", "check_artifact_mode",
    "missing_collection_fix", "write_info",
    "EXIT_INTERRUPTED", "cli", "say",
    "ENV", "SECRET_PARAMETERS", "Settings", "env", "redact_url",
    "check_deadline", "overdue", "remaining", "until",
    "Bm25Unavailable", "CircuitOpen", "CollectionMismatch", "CollectionMissing", "CollectionOutdated", "ConfigError", "EncoderError",
    "ExportError", "ModelFileError", "NeuralSearchError", "ParityError", "PointNotFound", "RequestExpired", "ShardLocked",
    "SchemaError", "SchemaMismatch", "ShardSourceError", "SourceError", "SparseMissing", "StartupError", "StorageAnswerInvalid", "StorageError", "StorageUnavailable", "UsageError",
    "atomic_save_npy", "atomic_write", "atomic_write_json", "sha256_file",
    "MAX_LINE", "JsonLines", "bounded", "configure_logging", "server_logging",
    "cut",
    "slips",
    "BUILT_IN", "FOLDED", "TITLE_KEY", "Field", "Schema", "fold", "load_schema", "parse_schema", "title_key",
    "NOT_BLANK_PATTERN", "normalize",
]
