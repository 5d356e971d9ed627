"""The ORM models and the schema the migrations create match, on every backend, for the core and each pack."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, DateTime, MetaData, String, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.store.engine import create_engine
from signoff.agent.store.migrate import (
    CORE_VERSION_TABLE,
    current_revision,
    head_revision,
    pack_head_revision,
    upgrade_database,
)
from signoff.agent.store.tables import Base
from signoff.tools.sales import sales_metadata, sales_pack


def _diff(connection: Connection, metadata: MetaData, *, own_prefix: str | None) -> list[object]:
    # Each metadata is compared with its own tables only: the core's and every pack's share one database.
    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        if type_ != "table" or not reflected or compare_to is not None:
            return True
        if name is None or name.startswith("alembic_version"):
            return False
        is_own = name.startswith(own_prefix) if own_prefix else not name.startswith("sales_")
        return is_own

    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include})
    return list(compare_metadata(context, metadata))


async def test_models_match_migrated_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        core = await connection.run_sync(lambda c: _diff(c, Base.metadata, own_prefix=None))
        sales = await connection.run_sync(lambda c: _diff(c, sales_metadata, own_prefix="sales_"))
    assert core == []
    assert sales == []


async def test_migrations_are_at_head_and_idempotent(engine: AsyncEngine) -> None:
    pack = sales_pack()
    assert await current_revision(engine) == head_revision()
    assert await current_revision(engine, pack) == pack_head_revision(pack) == "sales_0002"
    await upgrade_database(engine, [pack])  # a second run changes nothing and does not fail
    assert await current_revision(engine) == head_revision()
    assert await current_revision(engine, pack) == "sales_0002"


async def test_each_pack_keeps_its_own_version_table(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)  # the core alone: no pack's tables, no pack's history
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert CORE_VERSION_TABLE in tables
        assert not any(name.startswith("sales_") for name in tables)
        assert "alembic_version_sales" not in tables
        await upgrade_database(engine, [sales_pack()])  # enabling the pack later creates its tables
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"sales_crm_contacts", "sales_replies", "alembic_version_sales"} <= tables
        await upgrade_database(engine)  # and disabling it again leaves both histories readable
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


_OLD_SHAPE = MetaData()
Table(
    "sales_crm_contacts",
    _OLD_SHAPE,
    Column("crm_contact_id", String(40), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("company", String(200)),
    Column("title", String(100)),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
)


async def test_sales_tables_from_before_the_pack_contract_are_adopted(database_url: str) -> None:
    """Signoff created the sales tables in its core revisions once; the pack's first revision keeps their rows."""
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)
        async with engine.begin() as connection:
            # The shape the core's revision 0001 created: no notes, no owner, no replies table.
            await connection.run_sync(_OLD_SHAPE.create_all)
            await connection.execute(
                text(
                    "INSERT INTO sales_crm_contacts VALUES ('crm_1', 'ana@acme.io', 'Ana', 'Ng', 'Acme', NULL, "
                    "'2026-11-27 10:00:00', '2026-11-27 10:00:00')"
                )
            )
        await upgrade_database(engine, [sales_pack()])
        async with engine.connect() as connection:
            emails = (await connection.execute(text("SELECT email, notes, owner FROM sales_crm_contacts"))).all()
            sales = await connection.run_sync(lambda c: _diff(c, sales_metadata, own_prefix="sales_"))
        assert [tuple(row) for row in emails] == [("ana@acme.io", None, None)]
        assert sales == []
    finally:
        await engine.dispose()
