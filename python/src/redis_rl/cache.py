"""A small least-recently-used cache for the limits a declaration resolves to per scope.

Scopes can come from the request (`per_path`, `per_method`: any path or method a client
sends), so the cache holds at most `size` of them: a client sending new ones makes the oldest
be resolved again, not memory grow.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_SIZE", "BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_SIZE = 1024


class BoundedCache(Generic[K, V]):
    """Values by key, the least recently used dropped beyond `size`. Thread-safe."""

    def __init__(self, size: int | None = None) -> None:
        size = DEFAULT_SIZE if size is None else size
        if size < 1:
            raise ValueError(f"a cache holds at least 1 entry, not {size}")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value of `key`, made (outside the lock) and kept when missing."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
