"""The storage wing: the records, their BM25 vectors and the vector store that keeps them.

- records: reading JSON-lines files against the catalogue's schema (`read_records`: every rejected
  line with its reason); the built-in startups schema's two texts (`record_text`, `indexed_text`);
- BM25: `Bm25Encoder`, Qdrant's own BM25 numbers from two small libraries;
- the store: one contract (`Storage`, composed once on a few primitives; `Filters` of keyword values
  and numeric ranges; payload indexes from the schema), two backends:
  `EdgeStorage` (Qdrant Edge, in-process, QDRANT_PATH; the default) and `ServerStorage` (a Qdrant
  server through qdrant-client, QDRANT_URL); `open_storage(settings)` picks one. Each backend
  imports its client library only when built, so a Lambda artifact carries just its own;
- the embedded shard's archive: `pack_shard`, `provision_shard` (a Lambda's baked shard).
"""

from handler.storage.base import Conditions, Storage, point_of
from handler.storage.bm25 import Bm25Encoder, query_words
from handler.storage.contract import (
    DISTANCE,
    FLOAT,
    FULL_TEXT,
    FUSION,
    HNSW_M,
    HYBRID_DEPTH,
    INTEGER,
    KEYWORD,
    NO_FILTERS,
    RRF_K,
    SPARSE,
    TITLE_SCORE,
    CollectionInfo,
    Filters,
    Fusion,
    Hit,
    Hits,
    Layout,
    Nearest,
    PointData,
    SparseVector,
    payload_indexes,
)
from handler.storage.edge import EdgeStorage
from handler.storage.record import DEFAULT_TEXT_TEMPLATE, indexed_text, record_text
from handler.storage.records import Record, Rejected, parse_line, read_records
from handler.storage.searches import fuse, ranked
from handler.storage.server import ServerStorage, connection_dropped
from handler.storage.shard import MARKER, copy_shard_dir, pack_shard, provision_shard, unpack_shard

__all__ = [
    "Conditions", "Storage", "point_of",
    "Bm25Encoder", "query_words",
    "DISTANCE", "FLOAT", "FULL_TEXT", "FUSION", "HNSW_M", "HYBRID_DEPTH", "INTEGER", "KEYWORD", "NO_FILTERS", "RRF_K", "SPARSE", "TITLE_SCORE", "CollectionInfo",
    "Filters", "Fusion", "Hit", "Hits", "Layout", "Nearest", "PointData", "SparseVector", "payload_indexes",
    "EdgeStorage",
    "DEFAULT_TEXT_TEMPLATE", "indexed_text", "record_text",
    "Record", "Rejected", "parse_line", "read_records",
    "fuse", "ranked",
    "ServerStorage", "connection_dropped",
    "MARKER", "copy_shard_dir", "pack_shard", "provision_shard", "unpack_shard",
    "open_storage",
]


def open_storage(settings, *, cooldown: float | None = None) -> Storage:
    """The backend the settings select: a server when QDRANT_URL is set, else embedded Qdrant Edge
    at QDRANT_PATH, whose shard is first copied there from QDRANT_SHARD_SOURCE when it is absent
    (a Lambda artifact's baked shard, or S3). `cooldown` overrides QDRANT_COOLDOWN (the batch
    jobs retry with backoff instead: 0)."""
    if settings.qdrant_url:
        return ServerStorage(settings.qdrant_url, settings.collection_name, settings.qdrant_api_key, settings.qdrant_timeout,
                             cooldown=settings.qdrant_cooldown if cooldown is None else cooldown, schema=settings.schema)
    if settings.qdrant_shard_source:
        provision_shard(settings.qdrant_shard_source, settings.qdrant_path, settings.collection_name)
    return EdgeStorage(settings.qdrant_path, settings.collection_name, settings.schema)
