"""An aiosqlite-shaped SQLite connection that runs each statement on the event loop's own thread.

Why: aiosqlite hands every call (open a cursor, execute, fetch, close the cursor, commit) to a worker
thread and waits for the answer, about 0.1 ms per round trip on a busy machine and four of them per
statement. The guard writes a few small transactions per tool call, so those round trips were most of
its overhead (bench/README.md). The statements themselves (indexed reads and single-row writes on a
local file) take microseconds, so running them inline costs less than handing them over.

What must not happen is the loop blocking while it waits for a lock, because the holder may be another
task on this same loop. Two layers make waiting cheap and fair:

- Writers of this process queue on an `asyncio.Lock` per database file (FIFO, no polling): a
  `BEGIN IMMEDIATE` first takes it, and the COMMIT or ROLLBACK that ends the transaction gives it back.
- Writers of other processes are met with SQLite's own lock: its busy handler is off (`busy_timeout=0`)
  and a statement that fails with SQLITE_BUSY is retried after an `asyncio.sleep`, with backoff. A
  statement that failed with SQLITE_BUSY changed nothing (and a COMMIT that did keeps its transaction
  open), so repeating it is safe.

Both waits end after the busy timeout with SQLite's own "database is locked" error.

SQLAlchemy's aiosqlite dialect drives this through its `async_creator` hook (`agent.store.engine`), so
everything above the driver (dialect, pool, sessions) is the stock aiosqlite path.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self, TypeVar

__all__ = ["InlineSqliteConnection", "connect_inline"]

T = TypeVar("T")

SQLITE_BUSY = 5
# First and longest pause between attempts at a busy statement: short at first, because the holder is
# usually another task of this process that needs one more turn of the loop to commit.
_FIRST_BACKOFF_SECONDS = 0.0005
_MAX_BACKOFF_SECONDS = 0.02


# One writer queue per database file and event loop (an asyncio.Lock belongs to one loop).
_writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer_lock(database: str) -> asyncio.Lock:
    locks = _writer_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(database, asyncio.Lock())


def _takes_write_lock(sql: str) -> bool:
    head = sql.lstrip()[:16].upper()
    return head.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"))


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # Extended codes (SQLITE_BUSY_RECOVERY, ...) keep the primary code in the low byte.
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_BUSY


async def _retrying_busy(operation: Callable[[], T], busy_timeout_seconds: float) -> T:
    deadline = time.monotonic() + busy_timeout_seconds
    backoff = _FIRST_BACKOFF_SECONDS
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)


class _InlineCursor:
    """The subset of `aiosqlite.Cursor` SQLAlchemy's adapter uses."""

    def __init__(self, cursor: sqlite3.Cursor, connection: InlineSqliteConnection) -> None:
        self._cursor = cursor
        self._connection = connection
        self._busy_timeout_seconds = connection.busy_timeout_seconds

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Self:
        if _takes_write_lock(sql):
            await self._connection.begin_writing(lambda: self._cursor.execute(sql, parameters))
        else:
            await _retrying_busy(lambda: self._cursor.execute(sql, parameters), self._busy_timeout_seconds)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Self:
        # Materialised first: a retry must see the same parameters again, not an exhausted iterator.
        rows = list(seq_of_parameters)
        await _retrying_busy(lambda: self._cursor.executemany(sql, rows), self._busy_timeout_seconds)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None


class InlineSqliteConnection:
    """The subset of `aiosqlite.Connection` SQLAlchemy's adapter uses, running SQLite inline.

    `_connection` carries aiosqlite's name because the adapter tests it to see whether the
    connection is still open before a commit or rollback.
    """

    def __init__(self, connection: sqlite3.Connection, *, database: str, busy_timeout_seconds: float) -> None:
        self._connection: sqlite3.Connection | None = connection
        self.busy_timeout_seconds = busy_timeout_seconds
        # In-memory databases are private to their connection: nothing to queue for.
        self._queue_key = None if database == ":memory:" else os.path.realpath(database)
        # The queue this connection holds while its write transaction lasts. Looked up per transaction,
        # on the loop running it: a pooled connection may serve more than one loop over its life.
        self._held_lock: asyncio.Lock | None = None

    async def begin_writing(self, begin: Callable[[], object]) -> None:
        """Run `begin` (a BEGIN IMMEDIATE) after this process's earlier writers, then SQLite's lock."""
        deadline = time.monotonic() + self.busy_timeout_seconds
        if self._queue_key is not None and self._held_lock is None:
            lock = _writer_lock(self._queue_key)
            try:
                await asyncio.wait_for(lock.acquire(), self.busy_timeout_seconds)
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
            self._held_lock = lock
        try:
            await _retrying_busy(begin, max(0.0, deadline - time.monotonic()))
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        lock, self._held_lock = self._held_lock, None
        if lock is not None:
            lock.release()

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("Connection closed")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> _InlineCursor:
        return _InlineCursor(self._open().cursor(), self)

    async def commit(self) -> None:
        # SQLAlchemy ends transactions through these two methods, never with COMMIT statements.
        await _retrying_busy(self._open().commit, self.busy_timeout_seconds)
        self._release_writer_lock()

    async def rollback(self) -> None:
        try:
            self._open().rollback()
        finally:
            self._release_writer_lock()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate); closing twice is harmless."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._release_writer_lock()


async def connect_inline(database: str, *, busy_timeout_seconds: float) -> InlineSqliteConnection:
    """Open `database` (a file path or ":memory:") in autocommit mode with SQLite's busy handler off.

    Autocommit (`isolation_level=None`) leaves BEGIN to SQLAlchemy (`agent.store.engine` issues BEGIN
    IMMEDIATE); `timeout=0` turns SQLite's blocking busy handler off in favour of the async retry above.
    `check_same_thread=False` because the pool may close a connection from another thread at shutdown;
    SQLite's default serialized mode makes that safe.
    """
    connection = sqlite3.connect(database, isolation_level=None, timeout=0, check_same_thread=False)
    return InlineSqliteConnection(connection, database=database, busy_timeout_seconds=busy_timeout_seconds)
