"""Sign-in throttling: failed attempts counted per client address and per username, and a cap on how many
password hashes run at once.

Only failures count, so people and scripts that sign in correctly are never slowed down; a guesser is
stopped after ``WEGENT_LOGIN_FAILURES_PER_USER`` wrong passwords for one name, or
``WEGENT_LOGIN_FAILURES_PER_ADDRESS`` from one address, within ``WEGENT_LOGIN_WINDOW_SECONDS``; once a
counter is full every attempt it covers (even a right one) gets 429 until the window ends, so guessing
cannot continue. With ``WEGENT_REDIS_URL`` the counters live in Redis and every API process shares them;
otherwise they are per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import redis

from wegent.config import Settings, get_settings
from wegent.logging import get_logger

log = get_logger("auth.throttle")


@dataclass(frozen=True)
class Limits:
    per_address: int
    per_user: int
    window_seconds: int


class Counters(Protocol):
    def counts(self, keys: list[str]) -> list[tuple[int, float]]:
        """(failures, seconds until the window ends) for each key."""
        ...

    def add_failure(self, keys: list[str], window_seconds: int) -> None: ...

    def clear(self, key: str) -> None: ...


class MemoryCounters:
    """Fixed windows in this process: a key's window starts with its first failure."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def counts(self, keys: list[str]) -> list[tuple[int, float]]:
        now = time.monotonic()
        with self._lock:
            out = []
            for key in keys:
                count, ends = self._entries.get(key, (0, now))
                out.append((count, ends - now) if ends > now else (0, 0.0))
            return out

    def add_failure(self, keys: list[str], window_seconds: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) > 100_000:  # bounded memory under a spray of names
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            for key in keys:
                count, ends = self._entries.get(key, (0, now))
                self._entries[key] = (count + 1, ends) if ends > now else (1, now + window_seconds)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


# INCR, and start the window on the first failure only: later failures do not extend it.
_ADD = """
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""


class RedisCounters:
    """The same windows in Redis, so that every API process counts the same failures."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=5, health_check_interval=10)
        self.prefix = prefix
        self._add = self.redis.register_script(_ADD)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login:{key}"

    def counts(self, keys: list[str]) -> list[tuple[int, float]]:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.get(self._key(key))
            pipe.pttl(self._key(key))
        replies = pipe.execute()
        out = []
        for value, ttl_ms in zip(replies[::2], replies[1::2], strict=True):
            out.append((int(value or 0), max(int(ttl_ms), 0) / 1000))
        return out

    def add_failure(self, keys: list[str], window_seconds: int) -> None:
        self._add(keys=[self._key(k) for k in keys], args=[window_seconds])

    def clear(self, key: str) -> None:
        self.redis.delete(self._key(key))


class LoginGuard:
    def __init__(self, counters: Counters, limits: Limits, hashing_slots: int) -> None:
        self.counters = counters
        self.limits = limits
        self.hashing_slots = hashing_slots
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    @staticmethod
    def keys(address: str, username: str) -> list[str]:
        # Hashed: names are user input, and keys should not echo them into Redis.
        user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        return [f"addr:{address}", f"user:{user}"]

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds the caller must wait, or None when it may try now."""
        caps = (self.limits.per_address, self.limits.per_user)
        try:
            counts = self.counters.counts(self.keys(address, username))
        except redis.RedisError:
            # Redis down: sign-in keeps working (still one slow hash per attempt, still capped per process)
            # rather than locking everyone out; the outage is logged.
            log.warning("login.throttle_unavailable", exc_info=True)
            return None
        waits = [remaining for (count, remaining), cap in zip(counts, caps, strict=True) if count >= cap]
        return max(1, int(max(waits) + 0.999)) if waits else None

    def failed(self, address: str, username: str) -> None:
        try:
            self.counters.add_failure(self.keys(address, username), self.limits.window_seconds)
        except redis.RedisError:
            log.warning("login.throttle_unavailable", exc_info=True)

    def succeeded(self, address: str, username: str) -> None:
        # The name's counter starts again; the address's does not (one account of one's own must not buy
        # unlimited guesses at others').
        try:
            self.counters.clear(self.keys(address, username)[1])
        except redis.RedisError:
            log.warning("login.throttle_unavailable", exc_info=True)

    def hashing(self) -> asyncio.Semaphore:
        """At most ``hashing_slots`` Argon2 computations at once in this process (each takes tens of MB)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.hashing_slots)
        return semaphore


def build_guard(settings: Settings) -> LoginGuard:
    limits = Limits(
        per_address=settings.login_failures_per_address,
        per_user=settings.login_failures_per_user,
        window_seconds=settings.login_window_seconds,
    )
    counters: Counters = (
        RedisCounters(settings.redis_url, settings.redis_prefix) if settings.redis_url else MemoryCounters()
    )
    return LoginGuard(counters, limits, settings.login_concurrency)


@lru_cache(maxsize=1)
def login_guard() -> LoginGuard:
    return build_guard(get_settings())
