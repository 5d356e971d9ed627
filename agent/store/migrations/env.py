"""Alembic environment: always run through `agent.store.migrate` with a connection in the config.

The core and every tool pack share this environment; `agent.store.migrate` puts the version table and
the tables of whichever it is migrating in the config's attributes.
"""

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through agent.store.migrate.upgrade_database, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=config.attributes["target_metadata"],
    version_table=config.attributes["version_table"],
    # SQLite cannot ALTER most things; batch mode rebuilds tables so later migrations work on both databases.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
