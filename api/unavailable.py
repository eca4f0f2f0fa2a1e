"""A dependency that is briefly down (the database, Temporal) is a 503 the client may retry, never a 500.

The database case: while MySQL restarts or a network blip drops the pool's connections, SQLAlchemy raises
OperationalError/InterfaceError (or a pool timeout) from whatever statement ran. The pool recovers by itself
(`pool_pre_ping`), so the right answer meanwhile is "try again shortly", with the request id for the logs.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from wegent.logging import get_logger

log = get_logger("api")

#: Seconds a client should wait before retrying (the pool re-connects on its next checkout).
RETRY_AFTER_S = 2

DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def is_database_down(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DATABASE_DOWN)


def driver_code(exc: BaseException) -> int | None:
    """The database's own error number (1213 deadlock, 1205 lock wait, 2013 lost connection...): what the log needs
    to tell a contended row from a server that is away. Never the message, which may quote the statement's values."""
    args = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def database_unavailable_body() -> dict[str, str]:
    return {"detail": "the database is unavailable; retry in a few seconds"}


def install(app: FastAPI) -> None:
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        if not is_database_down(exc):
            raise exc
        log.warning("api.database_unavailable", path=request.url.path, error=type(exc).__name__, code=driver_code(exc))
        return JSONResponse(database_unavailable_body(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    for kind in (sa_exc.DBAPIError, *DATABASE_DOWN):
        app.add_exception_handler(kind, database_down)
