"""The vector store: one contract (handler/storage/contract.py, base.py), two backends.

- `EdgeStorage`: Qdrant Edge, Qdrant's engine in-process (QDRANT_PATH; the default);
- `ServerStorage`: a Qdrant server through qdrant-client (QDRANT_URL).

`open_storage(settings)` picks one from the settings. Each backend imports its client library
only when built, so a Lambda artifact carries just its own.
"""

from handler.storage.base import Storage
from handler.storage.searches import fuse, ranked
from handler.storage.contract import (
    DISTANCE,
    HNSW_M,
    HYBRID_DEPTH,
    PAYLOAD_INDEXES,
    RRF_K,
    SPARSE,
    CollectionInfo,
    CollectionMismatch,
    CollectionMissing,
    CollectionOutdated,
    Hit,
    Hits,
    Layout,
    PointData,
    PointNotFound,
    ShardLocked,
    SparseMissing,
    SparseVector,
    StorageError,
    StorageUnavailable,
)
from handler.storage.edge import EdgeStorage
from handler.storage.server import ServerStorage

__all__ = [
    "DISTANCE", "HNSW_M", "HYBRID_DEPTH", "PAYLOAD_INDEXES", "RRF_K", "SPARSE", "CollectionInfo", "CollectionMismatch", "CollectionMissing",
    "CollectionOutdated", "EdgeStorage", "Hit", "Hits", "Layout", "PointData", "PointNotFound", "ServerStorage", "ShardLocked", "SparseMissing",
    "SparseVector", "Storage", "StorageError", "StorageUnavailable", "fuse", "open_storage", "ranked",
]


def open_storage(settings, *, cooldown: float | None = None) -> Storage:
    """The backend the settings select: a server when QDRANT_URL is set, else embedded Qdrant Edge
    at QDRANT_PATH, whose shard is first copied there from QDRANT_SHARD_SOURCE when it is absent
    (a Lambda artifact's baked shard, or S3). `cooldown` overrides QDRANT_COOLDOWN (the batch
    jobs retry with backoff instead: 0)."""
    if settings.qdrant_url:
        return ServerStorage(settings.qdrant_url, settings.collection_name, settings.qdrant_api_key, settings.qdrant_timeout,
                             cooldown=settings.qdrant_cooldown if cooldown is None else cooldown)
    if settings.qdrant_shard_source:
        from handler.shard import provision_shard

        provision_shard(settings.qdrant_shard_source, settings.qdrant_path, settings.collection_name)
    return EdgeStorage(settings.qdrant_path, settings.collection_name)
