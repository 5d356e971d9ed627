"""Schema migrations (Alembic), run programmatically against an async engine.

The schema of every table Signoff uses is created only by migrations: the core's in
`agent/store/migrations/versions`, tracked in `alembic_version`, and each enabled tool pack's in its own
folder, tracked in its own version table (`alembic_version_<pack>`), so enabling or disabling a pack
never leaves another's history naming revisions it cannot find. `create_all` is never used outside
tests of a single pack, so SQLite and PostgreSQL get the same schema from the same steps. One upgrade
applies the core's migrations and then every enabled pack's, in one transaction.

Several processes may start at once against one database (API replicas, workers, the CLI), and each
migrates at start-up. They take turns: on PostgreSQL the migration transaction first takes a
transaction-level advisory lock (`pg_advisory_xact_lock`, released at commit or rollback), so the others
wait for it and then find the schema already at head; on SQLite the transaction begins with the write
lock (`BEGIN IMMEDIATE`, see `agent.store.sqlite_inline`), which does the same. Without this, two
processes creating the same tables fail one of them, or (in one process) deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import Base
from signoff.tools.packs import PackLoadError, ToolPack

__all__ = [
    "CORE_VERSION_TABLE",
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_KEY",
    "applied_revision",
    "current_revision",
    "head_revision",
    "pack_head_revision",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

MIGRATION_LOCK_KEY = 0x5167_0FF0_0000_0001
"""PostgreSQL advisory lock key (a bigint) held while migrating; any fixed value no other code uses."""


CORE_VERSION_TABLE = "alembic_version"


def _alembic_config(connection: Connection | None = None, *, pack: ToolPack | None = None) -> Config:
    config = Config()
    # Every pack runs through the core's env.py; only its versions folder, version table and tables differ.
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")  # folder names may hold spaces; the os separator splits
    if pack is not None:
        assert pack.migrations is not None
        config.set_main_option("version_locations", str(pack.migrations))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = CORE_VERSION_TABLE if pack is None else pack.version_table
    config.attributes["target_metadata"] = Base.metadata if pack is None else pack.metadata
    return config


def _head(config: Config, what: str) -> str:
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found for {what}")
    return head


def head_revision() -> str:
    """The newest core migration this code knows."""
    return _head(_alembic_config(), "the core")


def pack_head_revision(pack: ToolPack) -> str | None:
    """The newest migration of a pack, or None for a pack without tables (`PackLoadError` if it has none)."""
    if pack.migrations is None:
        return None
    try:
        return _head(_alembic_config(pack=pack), f"tool pack {pack.name!r}")
    except Exception as error:  # several heads, a revision file that does not import, an empty folder
        raise PackLoadError(pack.name, f"its migrations cannot be read: {error}") from error


async def upgrade_database(engine: AsyncEngine, packs: Sequence[ToolPack] = ()) -> None:
    """Bring the database to the newest schema of the core and of these packs (idempotent)."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), "head")
        for pack in packs:
            if pack.migrations is None:
                continue
            try:
                command.upgrade(_alembic_config(connection, pack=pack), "head")
            except Exception as error:  # the pack's revisions, not the database: say whose
                raise PackLoadError(pack.name, f"its migrations failed: {error!r}") from error

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Taken before alembic reads the current revision, so a process that waited reads the new one.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade)


def _revision_reader(pack: ToolPack | None) -> Callable[[Connection], str | None]:
    version_table = CORE_VERSION_TABLE if pack is None else pack.version_table

    def read(connection: Connection) -> str | None:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return context.get_current_revision()

    return read


async def applied_revision(session_factory: SessionFactory, pack: ToolPack | None = None) -> str | None:
    """`current_revision` through a session factory (what a runtime holds)."""
    async with session_factory() as session:
        connection = await session.connection()
        return await connection.run_sync(_revision_reader(pack))


async def current_revision(engine: AsyncEngine, pack: ToolPack | None = None) -> str | None:
    """The core's revision the database is at (or that pack's), or None where nothing was applied."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revision_reader(pack))
