"""The live view of a task: a capped, expiring, replayable log of its chat events.

Redis Streams in production (shared by every API replica and worker); an in-memory log for the embedded
single-process default. Appends are de-duplicated by (message, run, sequence), so an activity retry that
re-relays events it already sent never makes a client show text twice.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from typing import Any, Protocol

import redis.asyncio as aioredis

MAX_ENTRIES = 5000
TTL_SECONDS = 24 * 3600

# KEYS[1] stream, KEYS[2] dedup hash; ARGV: field, seq, event, data, maxlen, ttl.
# Appends only when seq is beyond what this (message, run) already published.
_APPEND = """
if ARGV[1] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if tonumber(ARGV[2]) <= last then return false end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return id
"""


class LiveStore(Protocol):
    async def append(
        self, task_id: int, event: str, data: dict[str, Any], dedup: tuple[str, int] | None = None
    ) -> str | None:
        """Append; returns the entry id, or None when it was a duplicate."""

    async def read(self, task_id: int, after: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """Entries (id, event, data) after `after` (all when None), oldest first."""

    async def close(self) -> None: ...


def stream_key(prefix: str, task_id: int) -> str:
    return f"{prefix}:task:{task_id}:live"


class RedisLiveStore:
    def __init__(self, url: str, prefix: str = "wegent") -> None:
        self.prefix = prefix
        self.redis = aioredis.from_url(url, decode_responses=True, health_check_interval=10)
        self._append = self.redis.register_script(_APPEND)

    async def append(
        self, task_id: int, event: str, data: dict[str, Any], dedup: tuple[str, int] | None = None
    ) -> str | None:
        field, seq = dedup if dedup else ("", 0)
        key = stream_key(self.prefix, task_id)
        result = await self._append(
            keys=[key, key + ":seen"],
            args=[field, seq, event, json.dumps(data), MAX_ENTRIES, TTL_SECONDS],
        )
        return result or None

    async def read(self, task_id: int, after: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        start = f"({after}" if after else "-"
        entries = await self.redis.xrange(stream_key(self.prefix, task_id), min=start, max="+")
        return [(entry_id, fields["event"], json.loads(fields["data"])) for entry_id, fields in entries]

    async def close(self) -> None:
        await self.redis.aclose()


class MemoryLiveStore:
    """Single-process stand-in with the same semantics (capped, de-duplicated, replayable)."""

    def __init__(self) -> None:
        self._entries: dict[int, deque[tuple[str, str, dict[str, Any]]]] = defaultdict(
            lambda: deque(maxlen=MAX_ENTRIES)
        )
        self._seen: dict[tuple[int, str], int] = {}
        self._counter = 0

    async def append(
        self, task_id: int, event: str, data: dict[str, Any], dedup: tuple[str, int] | None = None
    ) -> str | None:
        if dedup:
            key = (task_id, dedup[0])
            if dedup[1] <= self._seen.get(key, 0):
                return None
            self._seen[key] = dedup[1]
        self._counter += 1
        entry_id = f"{int(time.time() * 1000)}-{self._counter}"
        self._entries[task_id].append((entry_id, event, data))
        return entry_id

    async def read(self, task_id: int, after: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        entries = list(self._entries.get(task_id, ()))
        if after is None:
            return entries
        for index, (entry_id, _, _) in enumerate(entries):
            if entry_id == after:
                return entries[index + 1 :]
        return entries

    async def close(self) -> None:
        return None
