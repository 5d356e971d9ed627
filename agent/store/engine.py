"""Engines and sessions for SQLite (default, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["SessionFactory", "create_engine", "create_session_factory", "is_sqlite", "rows_affected"]

SessionFactory = async_sessionmaker[AsyncSession]

# How long a SQLite writer waits for another one before giving up. Writes here are short
# (a few rows per tool call), so ten seconds only runs out when something is truly stuck.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether this engine talks to SQLite (which needs its own transaction handling)."""
    return engine.dialect.name == "sqlite"


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `database_url`; SQLite files get WAL, a busy timeout and foreign keys.

    SQLite transactions start with BEGIN IMMEDIATE: a deferred transaction that reads and then writes
    can fail with "database is locked" when another writer got there first, which the busy timeout
    does not help with. Taking the write lock up front makes concurrent conditional updates (the
    exactly-once state changes) queue instead of fail.
    """
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo}
    if url.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, in_memory=url.database in (None, "", ":memory:"))
    return engine


def _configure_sqlite(engine: AsyncEngine, *, in_memory: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the driver's own implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only a power loss can drop
            # the last transactions, which is the documented trade-off SQLite recommends for WAL.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded values after commit (we hand rows to callers after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def rows_affected(result: Any) -> int:
    """How many rows an UPDATE matched: the winner test of every conditional state change."""
    return int(result.rowcount)
