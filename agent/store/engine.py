"""Engines and sessions for SQLite (default, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from signoff.agent.store.sqlite_inline import connect_inline

__all__ = [
    "SessionFactory",
    "create_engine",
    "create_session_factory",
    "is_sqlite",
    "read_session_factory",
    "rows_affected",
]

SessionFactory = async_sessionmaker[AsyncSession]

# How long a SQLite writer waits for another one before giving up. Writes here are short
# (a few rows per tool call), so ten seconds only runs out when something is truly stuck.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option marking an engine whose transactions only read (`read_session_factory`).
_READ_ONLY_OPTION = "signoff_read_only"
_read_factories: weakref.WeakKeyDictionary[SessionFactory, SessionFactory] = weakref.WeakKeyDictionary()


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
    inline = url.get_backend_name() == "sqlite" and not url.query
    if inline:
        # Statements run on the loop's thread instead of aiosqlite's worker (see agent.store.sqlite_inline).
        # URLs with driver options (`?uri=true&mode=ro`, ...) keep plain aiosqlite, which understands them.
        database = url.database or ":memory:"
        kwargs["async_creator"] = lambda: connect_inline(database, busy_timeout_seconds=SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, in_memory=url.database in (None, "", ":memory:"), inline=inline)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, in_memory: bool, inline: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not inline:
            # Hand transaction control to SQLAlchemy (the driver's own implicit BEGIN is deferred).
            # The inline connection is opened that way already.
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only a power loss can drop
            # the last transactions, which is the documented trade-off SQLite recommends for WAL.
            cursor.execute("PRAGMA synchronous=NORMAL")
        # The inline connection waits for locks itself, without blocking the loop; aiosqlite's worker
        # thread may block, so it lets SQLite wait.
        cursor.execute(f"PRAGMA busy_timeout={0 if inline else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only sessions (see `read_session_factory`) take no lock: WAL readers see a snapshot and
        # neither wait for writers nor hold them up.
        read_only = connection.get_execution_options().get(_READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded values after commit (we hand rows to callers after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(session_factory: SessionFactory) -> SessionFactory:
    """Sessions on the same engine for code that only reads: on SQLite they begin without the write lock.

    Every other session begins with BEGIN IMMEDIATE, so a burst of reads (event streams, key lookups,
    queue pages) would queue behind each other and behind writers. A write in one of these sessions is
    a bug: it fails with "database is locked" instead of waiting its turn. PostgreSQL is unaffected.
    """
    cached = _read_factories.get(session_factory)
    if cached is None:
        bind: AsyncEngine = session_factory.kw["bind"]
        cached = async_sessionmaker(bind.execution_options(**{_READ_ONLY_OPTION: True}), expire_on_commit=False)
        _read_factories[session_factory] = cached
    return cached


def rows_affected(result: Any) -> int:
    """How many rows an UPDATE matched: the winner test of every conditional state change."""
    return int(result.rowcount)
