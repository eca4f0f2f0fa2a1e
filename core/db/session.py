"""Engines and session factories. Sync SQLAlchemy sessions run in FastAPI's threadpool (pymysql is sync).

Two pools on the same database: the default one, transactional, for everything that writes; and an
autocommit one for requests that only read. A read in autocommit mode holds no transaction, so handing its
connection back needs no ROLLBACK round trip (``skip_autocommit_rollback``): the hottest endpoints (GET and
LIST of resources) cost one statement each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy import exc as exc_module
from sqlalchemy.orm import Session, sessionmaker

from core.db import generations  # noqa: F401  (registers the flush hook that keeps owner generations)
from wegent.config import get_settings

T = TypeVar("T")


def make_engine(url: str, autocommit: bool = False) -> Engine:
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True} if autocommit else {}
    if url.startswith("sqlite"):
        db_file = make_url(url).database
        if db_file and db_file != ":memory:":
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **options)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800, **options)
    _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Survive MySQL restarts and ``wait_timeout`` disconnects without a round trip on every checkout.

    ``pool_pre_ping`` pings on every checkout; a busy API reuses connections within milliseconds, so only a
    connection that sat idle is pinged. A failed ping discards it and the pool connects afresh. A server that
    goes away while connections are in use still fails those requests; the pool then drops every connection
    older than the failure.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return
        try:
            dbapi_conn.ping(reconnect=False)
        except Exception as exc:
            raise exc_module.DisconnectionError(f"idle connection is gone: {exc}") from exc


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().resolved_database_url)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@lru_cache
def get_read_sessionmaker() -> sessionmaker[Session]:
    """Sessions for requests that only read: every statement stands alone (autocommit)."""
    engine = make_engine(get_settings().resolved_database_url, autocommit=True)
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_scope() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


async def in_session(fn: Callable[[Session], T]) -> T:
    """Run `fn` with a session of its own on a worker thread, so the event loop never waits on the database."""

    def run() -> T:
        with get_sessionmaker()() as session:
            return fn(session)

    return await asyncio.to_thread(run)
