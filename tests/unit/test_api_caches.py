"""The two per-process caches of the API: rendered LISTs (keyed by owner generations) and token principals."""

from __future__ import annotations

import time

from api.core.principals import PrincipalCache
from api.services.list_cache import ListCache
from core.db.models import User


def test_list_cache_serves_only_what_matches_the_current_generations():
    cache = ListCache(max_bytes=1024)
    cache.put("k", ((1, 5), (2, 0)), b"v5")
    assert cache.get("k", ((1, 5), (2, 0))) == b"v5"
    assert cache.get("k", ((1, 6), (2, 0))) is None  # the owner wrote something since
    assert cache.get("k", ((1, 5), (2, 1))) is None  # so did the system account (public resources)
    assert cache.get("other", ((1, 5), (2, 0))) is None
    cache.put("k", ((1, 6), (2, 0)), b"v6")  # replaced, not added
    assert len(cache) == 1 and cache.size_bytes == 2
    assert cache.get("k", ((1, 6), (2, 0))) == b"v6"


def test_list_cache_stays_within_its_byte_budget_least_recently_used_out_first():
    cache = ListCache(max_bytes=400)
    for key in "abcd":
        cache.put(key, (), key.encode() * 100)
    assert cache.size_bytes == 400 and len(cache) == 4
    assert cache.get("a", ()) is not None  # a is now the most recently used
    cache.put("e", (), b"e" * 100)
    assert cache.size_bytes <= 400
    assert cache.get("b", ()) is None  # the least recently used went first
    assert cache.get("a", ()) == b"a" * 100 and cache.get("e", ()) == b"e" * 100


def test_list_cache_skips_pages_too_large_to_share_the_budget_and_can_be_off():
    cache = ListCache(max_bytes=400)
    cache.put("big", (), b"x" * 101)
    assert cache.get("big", ()) is None and cache.size_bytes == 0
    off = ListCache(max_bytes=0)
    assert not off.enabled
    off.put("k", (), b"v")
    assert off.get("k", ()) is None


def _user(user_id: int = 7, role: str = "user") -> User:
    return User(id=user_id, username=f"u{user_id}", password_hash="h", role=role, is_active=True, created_at=None)


def test_principals_are_remembered_per_token_as_independent_copies():
    cache = PrincipalCache(ttl_seconds=60)
    cache.remember("tok", _user(), token_expires_at=time.time() + 3600)
    first, second = cache.lookup("tok"), cache.lookup("tok")
    assert first is not None and second is not None and first is not second
    assert (first.id, first.username, first.role, first.is_active) == (7, "u7", "user", True)
    first.role = "admin"  # one request changing its copy changes nothing for the next
    assert cache.lookup("tok").role == "user"  # type: ignore[union-attr]
    assert cache.lookup("another-token") is None


def test_principals_expire_with_the_ttl_and_never_outlive_the_token():
    cache = PrincipalCache(ttl_seconds=0.05)
    cache.remember("short-ttl", _user(), token_expires_at=time.time() + 3600)
    long_ttl = PrincipalCache(ttl_seconds=60)
    long_ttl.remember("expiring-token", _user(), token_expires_at=time.time() + 0.05)
    long_ttl.remember("expired-token", _user(), token_expires_at=time.time() - 1)
    assert long_ttl.lookup("expired-token") is None
    time.sleep(0.1)
    assert cache.lookup("short-ttl") is None
    assert long_ttl.lookup("expiring-token") is None


def test_forgetting_a_user_drops_all_their_tokens_and_ttl_zero_disables():
    cache = PrincipalCache(ttl_seconds=60)
    later = time.time() + 3600
    cache.remember("a1", _user(1), later)
    cache.remember("a2", _user(1), later)
    cache.remember("b1", _user(2), later)
    cache.forget(1)
    assert cache.lookup("a1") is None and cache.lookup("a2") is None
    assert cache.lookup("b1") is not None
    off = PrincipalCache(ttl_seconds=0)
    off.remember("t", _user(), later)
    assert off.lookup("t") is None
