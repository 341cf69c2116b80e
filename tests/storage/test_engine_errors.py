"""What the embedded engine refuses or cannot read becomes the contract's StorageError (a 503 on the API), never a 500. Real Qdrant Edge, no model."""

from __future__ import annotations

import numpy as np
import pytest

from handler.common import StorageError
from handler.storage import EdgeStorage
from tests.support.helpers import local_server


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_what_the_engine_refuses_is_a_storage_error_never_a_500(backend, tmp_path):
    storage = EdgeStorage(tmp_path, "startups") if backend == "edge" else local_server()
    storage.ensure_collection(4)
    with pytest.raises(StorageError):
        storage.search(np.ones(5, np.float32), 3)  # a vector of the wrong size
    storage.close()


def test_a_damaged_shard_config_is_a_storage_error(tmp_path):
    storage = EdgeStorage(tmp_path, "startups")
    storage.ensure_collection(4)
    storage.close()
    (tmp_path / "startups" / "edge_config.json").write_text("{not json")
    with pytest.raises(StorageError, match="damaged"):
        EdgeStorage(tmp_path, "startups").collection_info()
