"""The inline SQLite driver: statements on the loop's thread, lock waits that never block the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from signoff.agent.store.engine import create_engine, create_session_factory, read_session_factory
from signoff.agent.store.sqlite_inline import InlineSqliteConnection, connect_inline


@pytest.fixture
async def engine(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"))
        await connection.execute(text("INSERT INTO counter (id, value) VALUES (1, 0)"))
    yield engine
    await engine.dispose()


async def test_file_urls_use_the_inline_connection(engine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineSqliteConnection)
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
    assert (mode, foreign_keys) == ("wal", 1)


async def test_a_writer_waits_for_another_task_without_blocking_the_loop(engine) -> None:
    """Task A holds the write lock across an await; task B's BEGIN IMMEDIATE must wait for it on the loop.

    Were B's wait a blocking one, A could never run again to commit: both would stall until the busy
    timeout and B would fail with "database is locked".
    """
    sessions = create_session_factory(engine)
    a_has_lock = asyncio.Event()
    order: list[str] = []

    async def task_a() -> None:
        async with sessions.begin() as session:
            await session.execute(text("UPDATE counter SET value = value + 1 WHERE id = 1"))
            a_has_lock.set()
            await asyncio.sleep(0.2)  # B tries meanwhile
            order.append("a commits")

    async def task_b() -> None:
        await a_has_lock.wait()
        async with sessions.begin() as session:
            # The session begins (BEGIN IMMEDIATE) at its first statement.
            await session.execute(text("UPDATE counter SET value = value * 10 WHERE id = 1"))
            order.append("b wrote")

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while len(order) < 2:
            ticks += 1
            await asyncio.sleep(0.01)

    await asyncio.wait_for(asyncio.gather(task_a(), task_b(), ticker()), timeout=5)
    async with sessions() as session:
        value = (await session.execute(text("SELECT value FROM counter"))).scalar_one()
    assert order == ["a commits", "b wrote"]
    assert value == 10  # (0 + 1) * 10: B ran after A committed
    assert ticks >= 10  # the loop kept running while B waited


async def test_a_lock_held_elsewhere_past_the_busy_timeout_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        connection = InlineSqliteConnection(
            sqlite3.connect(path, isolation_level=None, timeout=0), database=str(path), busy_timeout_seconds=0.1
        )
        cursor = connection.cursor()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await cursor.execute("BEGIN IMMEDIATE")
        await connection.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_read_sessions_neither_wait_for_nor_hold_up_writers(engine) -> None:
    sessions = create_session_factory(engine)
    readers = read_session_factory(sessions)
    assert read_session_factory(sessions) is readers  # one per factory

    async with readers() as reader:
        before = (await reader.execute(text("SELECT value FROM counter"))).scalar_one()
        # A writer commits while the read transaction is open: no wait on either side.
        async with sessions.begin() as writer:
            await writer.execute(text("UPDATE counter SET value = 42 WHERE id = 1"))
        still = (await reader.execute(text("SELECT value FROM counter"))).scalar_one()
    async with readers() as reader:
        after = (await reader.execute(text("SELECT value FROM counter"))).scalar_one()
    assert (before, still, after) == (0, 0, 42)  # the reader kept its snapshot; a new one sees the write


async def test_writers_of_one_process_take_turns_in_arrival_order(engine) -> None:
    sessions = create_session_factory(engine)
    order: list[int] = []

    async def writer(number: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("UPDATE counter SET value = value + 1 WHERE id = 1"))
            order.append(number)
            await asyncio.sleep(0.01)  # hold the lock across an await: the others must queue, not fail

    await asyncio.wait_for(asyncio.gather(*(writer(number) for number in range(8))), timeout=20)
    async with sessions() as session:
        assert (await session.execute(text("SELECT value FROM counter"))).scalar_one() == 8
    assert order == list(range(8))


async def test_a_nested_writer_fails_after_the_busy_timeout_instead_of_hanging(tmp_path: Path) -> None:
    path = str(tmp_path / "nested.db")
    outer = await connect_inline(path, busy_timeout_seconds=0.2)
    inner = await connect_inline(path, busy_timeout_seconds=0.2)
    await outer.cursor().execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await inner.cursor().execute("BEGIN IMMEDIATE")
    await outer.rollback()
    await inner.cursor().execute("BEGIN IMMEDIATE")  # the queue is free again
    await inner.rollback()
    await outer.close()
    await inner.close()


def test_pooled_connections_serve_writers_on_another_event_loop_later(tmp_path: Path) -> None:
    """Each transaction queues on its own loop's writer queue, not on the loop its connection was made in
    (an asyncio.Lock that has been waited on belongs to that loop for good)."""
    path = str(tmp_path / "loops.db")

    async def open_two() -> tuple[InlineSqliteConnection, InlineSqliteConnection]:
        return (await connect_inline(path, busy_timeout_seconds=1), await connect_inline(path, busy_timeout_seconds=1))

    async def write_contended(pair: tuple[InlineSqliteConnection, InlineSqliteConnection]) -> None:
        async def write(conn: InlineSqliteConnection) -> None:
            await conn.cursor().execute("BEGIN IMMEDIATE")
            await asyncio.sleep(0.01)  # the second writer waits on the queue meanwhile
            await conn.commit()

        await asyncio.gather(*(write(conn) for conn in pair))

    async def open_and_write() -> tuple[InlineSqliteConnection, InlineSqliteConnection]:
        pair = await open_two()
        await write_contended(pair)
        return pair

    pair = asyncio.run(open_and_write())
    asyncio.run(write_contended(pair))  # a new loop, the same two connections

    async def close() -> None:
        for conn in pair:
            await conn.close()

    asyncio.run(close())
