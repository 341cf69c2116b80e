"""Every exception of the project, in one hierarchy (as httpx keeps its own):

    NeuralSearchError                 exit status 1: something failed
    ├── UsageError (ValueError)       exit status 2: bad arguments, input or environment; the user can fix it
    │   ├── ConfigError               a setting has a value the project cannot use
    │   │   └── SchemaError           the schema file (or a template or key given beside it) cannot serve
    │   ├── EncoderError              the model cannot load or run as asked (file, checksum, provider)
    │   ├── ModelFileError            a file of the model directory cannot serve (manifest, hash)
    │   ├── StartupError              the service must not start (the message says why)
    │   ├── SourceError               the export's model source is not a sentence-transformers model
    │   └── ExportError               the export cannot write its output
    ├── ParityError                   an exported variant failed the parity gate
    ├── StorageError                  the vector store failed (503 on the API)
    │   ├── StorageUnavailable        Qdrant cannot be reached, timed out, or is cooling down
    │   ├── StorageAnswerInvalid      Qdrant (or a proxy before it) answered what qdrant-client cannot read
    │   ├── CollectionMissing         the collection does not exist yet
    │   ├── CollectionMismatch        the collection holds vectors of another size or distance
    │   ├── CollectionOutdated        the collection was uploaded with an older layout
    │   ├── SchemaMismatch            the collection was built with another schema (the fields that differ named)
    │   ├── SparseMissing             the collection has no BM25 vectors: hybrid cannot run
    │   ├── ShardLocked               another process holds the embedded shard
    │   ├── PointNotFound             no point has that id (404 on the API)
    │   └── CircuitOpen               the breaker is open: the server was not asked
    ├── ShardSourceError              QDRANT_SHARD_SOURCE cannot be read
    ├── Bm25Unavailable               BM25 vectors cannot be encoded here (a library is missing)
    └── RequestExpired                a request ran past its deadline (REQUEST_TIMEOUT)

Command-line tools turn these into one `error: ...` line and the exit status (`handler.common.cli`).
The web wing answers the ones a client can meet with a status of its own table; what the client
reads comes from here: `code` (machine-readable) and `public` (words without internals, where
`{collection}` is the collection's name). `fix` is the remedy both the operator's message and the
client's words quote, so the two never drift apart.
"""

from __future__ import annotations


class NeuralSearchError(Exception):
    """Base class. `exit_code` is the status a command-line tool exits with."""

    exit_code = 1
    code = "internal_error"
    public = "unexpected error"


class UsageError(NeuralSearchError, ValueError):
    """Bad arguments, input or environment: the user can fix it; exit status 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A setting has a value the project cannot use."""


class SchemaError(ConfigError):
    """The catalogue's schema cannot serve (the file, the key and the fix are named)."""


class EncoderError(UsageError):
    """The model cannot be loaded or cannot run as asked (missing file, checksum, provider)."""


class ModelFileError(UsageError):
    """A file of the model directory cannot serve; the message names it and the fix."""


class StartupError(UsageError):
    """The service must not start: say why (bad model directory, dimension mismatch)."""


class SourceError(UsageError):
    """The export's model source cannot be used (not found, not a sentence-transformers model)."""


class ExportError(UsageError):
    """The export cannot write its output directory."""


class ParityError(NeuralSearchError):
    """An exported variant disagrees with sentence-transformers beyond the gate."""


class StorageError(NeuralSearchError):
    """Base class: something is wrong with the vector store."""

    code = "qdrant_error"
    public = "Qdrant failed to answer"


class StorageUnavailable(StorageError):
    """Qdrant cannot be reached, did not answer in time, or is cooling down after that."""

    code = "qdrant_unavailable"
    public = "Qdrant did not answer; try again later"


class StorageAnswerInvalid(StorageError):
    """Qdrant, or a proxy in front of it, answered with a body that is not the JSON qdrant-client
    expects (an HTML page, `{}`, `"result": null`, a result of another shape). The code stays
    `qdrant_error`: it answered, but nothing it said can be used."""


class CircuitOpen(StorageUnavailable):
    """Raised instead of calling while the circuit is open; says since when and for how long."""


class CollectionMissing(StorageError):
    """The collection does not exist yet."""

    code = "collection_missing"
    fix = "load it with `python -m scripts.embed` then `python -m scripts.upload` (see README)"
    public = "collection '{collection}' does not exist yet; " + fix


class CollectionMismatch(StorageError):
    """The collection exists with another vector size or distance."""

    code = "collection_mismatch"
    public = "collection '{collection}' holds vectors of another size or distance than the model's; see the service log"


class CollectionOutdated(StorageError):
    """The collection was uploaded with an older layout: an upload into it is refused until run
    with --recreate."""

    fix = "upload it again with `python -m scripts.upload --input FILE --vectors DIR --recreate`"


class SchemaMismatch(StorageError):
    """The collection was built with another schema than the one in force."""

    code = "schema_mismatch"
    public = "collection '{collection}' was built with another schema than the service's; see the service log"


class SparseMissing(StorageError):
    """Hybrid search cannot run: the collection has no `bm25` sparse vectors."""

    code = "hybrid_unavailable"
    fix = CollectionOutdated.fix
    public = "hybrid search is not available: the collection has no BM25 vectors yet; " + fix + "; mode=neural and mode=text work"


class ShardLocked(StorageError):
    """Another process holds the embedded shard (Qdrant Edge opens a shard in one process only)."""


class PointNotFound(StorageError):
    """No point has that id."""

    code = "not_found"
    public = "no record has that id"


class ShardSourceError(NeuralSearchError):
    """QDRANT_SHARD_SOURCE cannot be read (missing, not a shard, S3 denied)."""


class Bm25Unavailable(NeuralSearchError):
    """This deployment cannot encode BM25 vectors: mmh3 or py-rust-stemmers is missing."""

    code = "hybrid_unavailable"
    public = "hybrid search is not available: this deployment cannot encode BM25 queries; mode=neural and mode=text work"


class RequestExpired(NeuralSearchError):
    """A request waited or ran past its deadline (REQUEST_TIMEOUT): its remaining work never started."""

    code = "busy"
    public = "the service is too busy to answer in time; try again in a moment"
