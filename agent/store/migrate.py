"""Schema migrations (Alembic), run programmatically against an async engine.

The schema of every table Signoff uses (its own and the offline sales providers') is created only by
the migrations in `agent/store/migrations/versions`; `create_all` is never used outside tests of a
single pack, so SQLite and PostgreSQL get the same schema from the same steps.

Several processes may start at once against one database (API replicas, workers, the CLI), and each
migrates at start-up. They take turns: on PostgreSQL the migration transaction first takes a
transaction-level advisory lock (`pg_advisory_xact_lock`, released at commit or rollback), so the others
wait for it and then find the schema already at head; on SQLite the transaction begins with the write
lock (`BEGIN IMMEDIATE`, see `agent.store.sqlite_inline`), which does the same. Without this, two
processes creating the same tables fail one of them, or (in one process) deadlock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MIGRATIONS_DIR", "MIGRATION_LOCK_KEY", "current_revision", "head_revision", "upgrade_database"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

MIGRATION_LOCK_KEY = 0x5167_0FF0_0000_0001
"""PostgreSQL advisory lock key (a bigint) held while migrating; any fixed value no other code uses."""


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def upgrade_database(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema (idempotent)."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), "head")

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Taken before alembic reads the current revision, so a process that waited reads the new one.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""

    def _current(connection: Connection) -> Any:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_current)
