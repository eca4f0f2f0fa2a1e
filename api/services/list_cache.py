"""Rendered LIST responses, reused while nothing they show has changed.

A LIST of 100 resources costs milliseconds of CPU to load, mask and serialise, and lists are read far more
often than resources change. Each API process keeps the rendered bytes keyed by what was asked (owners, kind,
namespace, page, format) together with the owners' generations (:mod:`core.db.generations`) read in the same
database snapshot as the rows. A later LIST reads the current generations (one primary-key query) and reuses
the bytes only when they are identical, so every process serves what the database holds, including changes
made by other processes. Memory is bounded by ``WEGENT_LIST_CACHE_MB`` (least recently used out first;
0 turns the cache off).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from core.db.generations import Generations


@dataclass(frozen=True)
class _Entry:
    generations: Generations
    body: bytes


class ListCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, generations: Generations) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.generations != generations:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.body

    def put(self, key: Hashable, generations: Generations, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:  # one huge page must not flush everything else
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = _Entry(generations, body)
            self._bytes += len(body)
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


_cache: ListCache | None = None


def list_cache() -> ListCache:
    global _cache
    if _cache is None:
        from wegent.config import get_settings

        _cache = ListCache(get_settings().list_cache_mb * 1024 * 1024)
    return _cache
