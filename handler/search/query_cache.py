"""An in-process LRU of query vectors, so a popular query skips the model.

Keyed by the model variant and the query text after the web wing's text rule, so two
spellings that normalize alike share an entry, and a vector never outlives its model. Bounded in
entries (QUERY_CACHE_SIZE; 0 turns it off) and in bytes (keys and vectors together), so a flood of
long distinct queries cannot grow it past MAX_BYTES. Thread-safe: the local server embeds on its
model thread and looks up on the event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

MAX_BYTES = 16 * 1024 * 1024  # what the cache may hold at most, keys included


class QueryCache:
    def __init__(self, entries: int, max_bytes: int = MAX_BYTES) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def _size(key: tuple[str, str], vector: np.ndarray) -> int:
        return len(key[0]) + 4 * len(key[1]) + vector.nbytes  # a str holds at most 4 bytes a character

    def get(self, variant: str, text: str) -> np.ndarray | None:
        if not self.entries:
            return None
        key = (variant, text)
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, variant: str, text: str, vector: np.ndarray) -> None:
        if not self.entries:
            return
        key = (variant, text)
        vector = np.array(vector, dtype=np.float32)  # our own copy, read-only: callers share it
        vector.setflags(write=False)
        size = self._size(key, vector)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(key, old)
            self._items[key] = vector
            self._bytes += size
            while len(self._items) > self.entries or self._bytes > self.max_bytes:
                evicted_key, evicted = self._items.popitem(last=False)
                self._bytes -= self._size(evicted_key, evicted)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes
