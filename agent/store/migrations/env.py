"""Alembic environment: always run through `agent.store.migrate` with a connection in the config."""

from alembic import context

from signoff.agent.store.schema import target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through agent.store.migrate.upgrade_database, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables so later migrations work on both databases.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
